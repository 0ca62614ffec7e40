# 10% labels, head lr x10, base lr 1e-1 (see the head1 lr 1e-1 config for the recipe).
_base_ = ['./resnet50_head1_4xb64-steplr1e-1-20e_in1k-10pct.py']
optim_wrapper = dict(
    optimizer=dict(lr=1e-1), paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)})
)
