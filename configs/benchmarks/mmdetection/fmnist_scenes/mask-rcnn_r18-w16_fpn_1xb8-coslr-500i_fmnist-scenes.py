# Mask R-CNN with FPN on the Fashion-MNIST scenes (tools/dataset_converters/fmnist_scenes.py):
# the detection transfer of the quarter-width ResNet-18 that the Fashion-MNIST recipes pretrain,
# sized for 2 CPU cores (docs/detection.md, "Try it here"; docs/results/transfer.md).
# An ordinary mmdet config over COCO-format files: point FMNIST_SCENES_ROOT at the set (default
# data/fmnist_scenes) and pass the checkpoint as the COCO configs take it:
#
#   python tools/dataset_converters/fmnist_scenes.py --out data/fmnist_scenes
#   bash tools/benchmarks/mmdetection/train_fpn.sh THIS_CONFIG PRETRAIN.pth 1
#
# [DESIGN] choices, fixed before any method was compared:
# - the backbone exactly as pretrained (ResNet-18, stem and base width 16, 32 px pretraining),
#   every stage trained (frozen_stages=-1) with trainable BN whose statistics update
#   (norm_eval=False): the MoCo/CsMl detection protocol, with plain BN since one process
#   trains; inputs normalised by the pretraining mean/std of Fashion-MNIST;
# - FPN and heads narrowed to the backbone (64 channels, 256-d box FC, a mask head of two
#   64-channel convs), one anchor scale of 4 on strides 4-64 (anchors 16-256 px for 24-56 px
#   garments), fewer proposals and RoI samples (scenes hold 2-4 objects: 64 RoIs an image, 50
#   proposals and at most 10 detections at test time);
# - SGD lr 0.02, momentum 0.9, weight decay 1e-4, batch 8, 50 warm-up iterations then cosine
#   to 0 over 500 iterations on the first 1,000 training scenes (4,000 images seen: a short,
#   label-scarce budget, where transfer matters; the gate in docs/results/transfer.md);
# - box and mask AP (COCO's AP@[.5:.95]) by mmdet's CocoMetric on the 1,000 validation scenes,
#   after 250 and 500 iterations.
# On 2 CPU cores a step takes about 1 s (mmcv's CPU RoIAlign backward is a third of it) and an
# evaluation about 70 s: about 11 minutes a run.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['csml_mm'], allow_failed_imports=False)

data_root = '{{$FMNIST_SCENES_ROOT:data/fmnist_scenes}}/'
classes = (
    'T-shirt/top',
    'Trouser',
    'Pullover',
    'Dress',
    'Coat',
    'Sandal',
    'Shirt',
    'Sneaker',
    'Bag',
    'Ankle boot',
)
metainfo = dict(classes=classes)
num_train_scenes = 1000
max_iters = 500
val_interval = 250
warmup_iters = 50
norm_cfg = dict(type='BN', requires_grad=True)
small_nms = dict(type='nms', iou_threshold=0.7)

model = dict(
    data_preprocessor=dict(
        mean=[55.8, 55.8, 55.8],
        std=[84.6, 84.6, 84.6],
        bgr_to_rgb=True,
        pad_mask=True,
        pad_size_divisor=32,
    ),
    backbone=dict(
        depth=18,
        base_channels=16,
        stem_channels=16,
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(type='PretrainedBackbone', checkpoint=None),
    ),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=64, num_outs=5),
    rpn_head=dict(
        in_channels=64,
        feat_channels=64,
        anchor_generator=dict(scales=[4], strides=[4, 8, 16, 32, 64]),
    ),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=256, num_classes=len(classes)),
        mask_roi_extractor=dict(out_channels=64),
        mask_head=dict(num_convs=2, in_channels=64, conv_out_channels=64, num_classes=len(classes)),
    ),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=200, nms=small_nms, min_bbox_size=0),
        rcnn=dict(sampler=dict(num=64)),
    ),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=50, nms=small_nms, min_bbox_size=0),
        rcnn=dict(max_per_img=10),
    ),
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
    ),
]
# collate_fn is spelled out because csml_mm's tools/train.py defaults to default_collate.
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    batch_sampler=None,
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='CocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        indices=num_train_scenes,
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='CocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/instances_val.json',
    metric=['bbox', 'segm'],
    format_only=False,
)
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4))
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(
        type='CosineAnnealingLR',
        T_max=max_iters - warmup_iters,
        by_epoch=False,
        begin=warmup_iters,
        end=max_iters,
    ),
]
# log_metric_by_epoch=False: the metrics are logged at their iteration (the AP curves).
# csml_mm's checkpoint hook deletes the previous checkpoint only after the new one is written,
# and RNGStateHook makes a resumed run continue the same random stream (docs/reliability.md).
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(
        type='mmpretrain.SafeCheckpointHook',
        by_epoch=False,
        interval=val_interval,
        max_keep_ckpts=1,
    ),
    rng_state=dict(type='mmpretrain.RNGStateHook'),
)
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(enable=False, base_batch_size=8)
randomness = dict(seed=0)
