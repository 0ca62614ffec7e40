# Multi-level CsMl (HSA's hierarchy: contrastive losses after stages 3 and 4, one queue each)
# on Fashion-MNIST at the CPU budget; otherwise as csml_resnet18-w16_1xb128-coslr-2e_fmnist.py.
_base_ = ['./csml_resnet18-w16_1xb128-coslr-2e_fmnist.py']
model = dict(
    backbone=dict(out_indices=(2, 3)),
    neck=dict(in_channels=[64, 128], hid_channels=512, out_channels=128),
    level_weights=(1.0, 1.0),
)
