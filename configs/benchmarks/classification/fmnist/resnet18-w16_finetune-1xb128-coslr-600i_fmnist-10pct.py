# Few-label fine-tuning on Fashion-MNIST, 10% of the train labels (6,000 images, 600 per class,
# the fixed subset subsets/train_10pct_seed0.txt): the 1% protocol
# (./resnet18-w16_finetune-1xb64-coslr-500i_fmnist-1pct.py) with batch 128 for 600 iterations
# (12.8 epochs of the 6,000 images), about three minutes on 2 CPU cores. [DESIGN] as there.
_base_ = ['./resnet18-w16_finetune-1xb64-coslr-500i_fmnist-1pct.py']
subset_file = 'configs/benchmarks/classification/fmnist/subsets/train_10pct_seed0.txt'
max_iters = 600
train_dataloader = dict(batch_size=128, dataset=dict(subset_file=subset_file))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_iters, by_epoch=False, begin=0, end=max_iters)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
auto_scale_lr = dict(base_batch_size=128)
default_hooks = dict(checkpoint=dict(interval=max_iters))
