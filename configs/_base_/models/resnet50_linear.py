# Linear probe of a frozen ResNet-50: all four stages frozen and BN statistics fixed
# (frozen_stages=4 puts the stem and stages in eval mode; norm_eval keeps them there),
# global average pooling, one linear layer initialised N(0, 0.01) (MoCo main_lincls.py).
# The pretrained weights come from the command line:
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3,),
        style='pytorch',
        frozen_stages=4,
        norm_eval=True,
        norm_cfg=dict(type='BN'),
        zero_init_residual=False,
        init_cfg=dict(type='PretrainedBackbone', checkpoint=None),
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
        init_cfg=dict(type='Normal', std=0.01, layer='Linear'),
    ),
)
