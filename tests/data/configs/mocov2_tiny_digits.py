# A seconds-long MoCo v2 run on 64 embedded digits: used by the tool tests.
_base_ = ['../../../configs/mocov2/mocov2_resnet18-w16_1xb64-coslr-12e_digits.py']
model = dict(queue_len=64, feat_dim=16,
             neck=dict(hid_channels=32, out_channels=16))
train_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    dataset=dict(indices=64))
train_cfg = dict(max_epochs=2)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=3, by_epoch=True, begin=0, end=3)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=5))
custom_hooks = []
randomness = dict(seed=1, deterministic=False)
knn_cfg = dict(
    train_dataloader=dict(batch_size=64, dataset=dict(indices=128)),
    val_dataloader=dict(batch_size=64, dataset=dict(indices=64)))
