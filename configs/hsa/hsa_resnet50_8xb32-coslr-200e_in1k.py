# HSA (arXiv 2012.02733 v1, "Hierarchical Semantic Aggregation"): our reading of
# the paper -- image-level (mined neighbour) and patch-level (CutMix) positives,
# with the multi-positive loss at res3, res4 and res5. The released code has no
# intermediate-level loss; see configs/hsa/README.md for what is assumed.
_base_ = ['../csml/csml_resnet50_8xb32-coslr-200e_in1k.py']
model = dict(
    backbone=dict(out_indices=(1, 2, 3)),
    neck=dict(in_channels=[512, 1024, 2048], hid_channels=2048, out_channels=128),
    level_weights=(1.0, 1.0, 1.0),
)
