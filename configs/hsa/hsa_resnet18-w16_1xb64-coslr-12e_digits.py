# HSA on the embedded digits data: losses at res3, res4 and res5 of ResNet-18.
_base_ = ['../csml/csml_resnet18-w16_1xb64-coslr-12e_digits.py']
model = dict(
    backbone=dict(out_indices=(1, 2, 3)),
    neck=dict(in_channels=[32, 64, 128], hid_channels=512, out_channels=128),
    level_weights=(1.0, 1.0, 1.0),
)
