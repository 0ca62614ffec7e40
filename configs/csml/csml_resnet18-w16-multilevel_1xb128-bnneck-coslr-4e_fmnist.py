# Multi-level CsMl (HSA's hierarchy: contrastive losses after stages 3 and 4, one queue each)
# on Fashion-MNIST; otherwise as ./csml_resnet18-w16_1xb128-bnneck-coslr-4e_fmnist.py
# (BN1d projection heads, no CutMix, 4 epochs). The second level adds a projection head and
# a loss per query set, so it runs over the 10-minute budget on 2 cores; it is in the
# `csml` comparison to show what the extra level buys at an equal number of epochs.
# `tools/train.py --epochs 6` runs the `csml-6e` comparison's multi-level row.
_base_ = ['./csml_resnet18-w16_1xb128-bnneck-coslr-4e_fmnist.py']
model = dict(
    backbone=dict(out_indices=(2, 3)),
    neck=dict(in_channels=[64, 128], hid_channels=512, out_channels=128),
    level_weights=(1.0, 1.0),
)
