# The CsMl image-folder config at test size: its loaders, pipelines and hooks unchanged
# (configs/csml/csml_resnet50_8xb32-coslr-200e_folder.py), with a quarter-width ResNet-18,
# a tiny projection and queue, batch 8 and 2 epochs. The data roots are not set here: they
# come from CSML_DATA_ROOT / CSML_EVAL_ROOT only (tests/test_tools/test_own_data.py).
_base_ = ['../../../configs/csml/csml_resnet50_8xb32-coslr-200e_folder.py']
model = dict(
    queue_len=16, feat_dim=16,
    cross_warmup_epochs=1,  # neighbours in the loss from epoch 1, re-mined there
    backbone=dict(depth=18, base_channels=16, stem_channels=16, norm_cfg=dict(num_splits=2)),
    neck=dict(in_channels=[128], hid_channels=32, out_channels=16))
train_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False)
train_cfg = dict(max_epochs=2)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=2))
