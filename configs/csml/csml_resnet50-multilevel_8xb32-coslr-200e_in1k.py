# CsMl with the papers' multi-level losses (our reconstruction, absent from the
# released code): the same three terms at res4 (C4, 1024-ch) and res5 (C5,
# 2048-ch), each level with its own projection MLP, EMA key projection and queue.
_base_ = ['./csml_resnet50_8xb32-coslr-200e_in1k.py']
model = dict(
    backbone=dict(out_indices=(2, 3)),
    neck=dict(in_channels=[1024, 2048], hid_channels=2048, out_channels=128),
    level_weights=(1.0, 1.0),
)
