# APS with a ViT shrunk for the CPU [DESIGN]: 4 blocks, 64-d, 4 heads, MLP 256, patch 4 on
# 32 px (an 8 x 8 grid); otherwise the released model's layout (./aps_vit-tiny-p2.py).
# Projector and predictor keep the APS pattern (3 layers, affine-free last BN) at 256 hidden /
# 64 out, with BN1d (one process). The model of the digits, Fashion-MNIST and small own-folder
# recipes (configs/aps/aps_vit-d4w64-*.py).
_base_ = ['./aps_vit-tiny-p2.py']
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True, embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256
        ),
        patch_size=4,
    ),
    neck=dict(in_channels=64, hid_channels=256, out_channels=64, norm_cfg=dict(type='BN1d')),
    predictor=dict(in_channels=64, hid_channels=256, out_channels=64, norm_cfg=dict(type='BN1d')),
)
