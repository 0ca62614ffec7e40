# Multi-level CsMl on the embedded digits data: res4 and res5 of ResNet-18.
_base_ = ['./csml_resnet18-w16_1xb64-coslr-12e_digits.py']
model = dict(
    backbone=dict(out_indices=(2, 3)),
    neck=dict(in_channels=[64, 128], hid_channels=512, out_channels=128),
    level_weights=(1.0, 1.0),
)
