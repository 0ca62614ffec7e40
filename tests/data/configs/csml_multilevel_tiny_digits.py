# A seconds-long multi-level CsMl run (res4 + res5) on 64 embedded digits, mining every 2 epochs.
_base_ = ['../../../configs/csml/csml_resnet18-w16-multilevel_1xb64-coslr-12e_digits.py']
model = dict(queue_len=64, feat_dim=16, cross_warmup_epochs=2,
             neck=dict(hid_channels=32, out_channels=16))
train_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    dataset=dict(dataset=dict(indices=64)))
mining_dataloader = dict(
    batch_size=32, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='DigitsComposite', split='train', indices=64,
                 pipeline=[dict(type='PackInputs')]))
train_cfg = dict(max_epochs=2)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=3, by_epoch=True, begin=0, end=3)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=5))
custom_hooks = [
    dict(type='NeighbourMiningHook', interval=2, dataloader=mining_dataloader),
]
randomness = dict(seed=1, deterministic=False)
