# A seconds-long linear probe on 64 embedded digits (tests/test_tools/test_linear_probe.py);
# same backbone as mocov2_tiny_digits.py / csml_tiny_digits.py (ResNet-18, width 16).
_base_ = ['../../../configs/benchmarks/classification/digits/'
          'resnet18-w16_linear-1xb64-steplr-20e_digits.py']
train_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False,
                        dataset=dict(indices=64))
val_dataloader = dict(batch_size=32, num_workers=0, persistent_workers=False,
                      dataset=dict(indices=64))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=2)
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[1], gamma=0.1)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=2))
randomness = dict(seed=1, deterministic=False)
