# APS with ViT-Tiny/2 on 32 px images (the released model, module/model.py of
# visresearch/aps): 12 blocks, 192-d, 3 heads, MLP ratio 4, qkv without bias,
# LayerNorm eps 1e-5, learned position embedding added before the token subset is
# gathered, class token without position. Projector and predictor: 3 bias-free
# Linear layers with BN, ReLU between, affine-free BN at the end (512 hidden, 128 out).
model = dict(
    type='APS',
    backbone=dict(
        type='TokenSubsetViT',
        arch='deit-tiny',
        img_size=32,
        patch_size=2,
        qkv_bias=False,
        norm_cfg=dict(type='LN', eps=1e-5),
        pos_embed_type='learned',
        cls_pos_embed=False,
        out_type='cls_token',
    ),
    neck=dict(
        type='NonLinearNeck',
        in_channels=192,
        hid_channels=512,
        out_channels=128,
        num_layers=3,
        with_bias=False,
        with_last_bn=True,
        with_last_bn_affine=False,
        with_last_bias=False,
        with_avg_pool=False,
        norm_cfg=dict(type='SyncBN'),
    ),
    predictor=dict(
        type='NonLinearNeck',
        in_channels=128,
        hid_channels=512,
        out_channels=128,
        num_layers=3,
        with_bias=False,
        with_last_bn=True,
        with_last_bn_affine=False,
        with_last_bias=False,
        with_avg_pool=False,
        norm_cfg=dict(type='SyncBN'),
    ),
    head=dict(type='MultiPositiveContrastiveHead', temperature=0.1),
    ema_momentum=None,
)  # the released code has no momentum encoder
