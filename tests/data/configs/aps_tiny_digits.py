# A seconds-long APS run on 64 embedded digits: a 2-block 32-d ViT, batch 16, 4 sampling rounds
# (4 optimiser steps per batch), stop-gradient targets from the online network.
_base_ = ['../../../configs/aps/aps_vit-d4w64-p4_1xb64-coslr-12e_digits.py']
model = dict(
    backbone=dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)),
    neck=dict(in_channels=32, hid_channels=32, out_channels=16),
    predictor=dict(in_channels=16, hid_channels=32, out_channels=16))
train_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False,
                        dataset=dict(indices=64))
train_cfg = dict(max_epochs=2)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=3, by_epoch=True, begin=0, end=3)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=5))
custom_hooks = []
randomness = dict(seed=1, deterministic=False)
