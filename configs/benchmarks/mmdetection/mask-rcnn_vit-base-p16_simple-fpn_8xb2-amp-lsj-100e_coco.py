# COCO Mask R-CNN with a plain ViT-B/16 backbone and ViTDet's simple feature pyramid,
# for APS (and other csml_mm ViT) checkpoints. The recipe follows ViTDet (Li et al.,
# ECCV 2022) for Mask R-CNN: large-scale jitter at 1024x1024 (scale 0.1-2.0), 100 COCO
# epochs (mmdet's lsj-100e: 25 epochs over a 4x repeated train set), AdamW with
# layer-wise lr decay 0.7, weight decay 0.1, drop path 0.1, channel LayerNorm in the
# pyramid and the RoI heads, two convs in the RPN head, mixed precision.
# Differences from ViTDet (see docs/detection.md): global attention in every block and
# the pretraining-size absolute position embedding resized to each input's patch grid
# (no window attention or relative positions: they would change the parameter names),
# and 8 GPUs x 2 images instead of 64 images per batch, with ViTDet's lr 1e-4.
#
#   COCO_ROOT=/data/coco bash tools/benchmarks/mmdetection/train_vit.sh \
#       configs/benchmarks/mmdetection/mask-rcnn_vit-base-p16_simple-fpn_8xb2-amp-lsj-100e_coco.py \
#       PRETRAIN.pth 8
# Shorter run (25 COCO epochs): add --cfg-options train_dataloader.dataset.times=1.
# Set backbone.img_size/patch_size/arch to those of the pretraining config.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::common/lsj-100e_coco-instance.py',
]
custom_imports = dict(imports=['csml_mm'], allow_failed_imports=False)

data_root = '{{$COCO_ROOT:data/coco}}/'
image_size = (1024, 1024)
# ViTDet's LayerNorm over channels (mmpretrain registers it as LN2d).
norm_cfg = dict(type='mmpretrain.LN2d', eps=1e-6)

model = dict(
    data_preprocessor=dict(
        batch_augments=[dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)]
    ),
    backbone=dict(
        _delete_=True,
        type='DetVisionTransformer',
        arch='base',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        out_indices=-1,
        init_cfg=dict(type='PretrainedBackbone', checkpoint=None),
    ),
    neck=dict(
        _delete_=True,
        type='SimpleFeaturePyramid',
        in_channels=768,
        out_channels=256,
        scale_factors=(4.0, 2.0, 1.0, 0.5),
        num_outs=5,
        norm_cfg=norm_cfg,
    ),
    rpn_head=dict(num_convs=2),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', conv_out_channels=256, norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg),
    ),
)

test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
    ),
]
# collate_fn is spelled out because csml_mm's tools/train.py defaults to default_collate.
train_dataloader = dict(
    collate_fn=dict(type='pseudo_collate'), dataset=dict(dataset=dict(data_root=data_root))
)
val_dataloader = dict(
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(data_root=data_root, pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    constructor='ViTLayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(
        layer_decay_rate=0.7,
        norm_decay_mult=0.0,
        custom_keys={
            '.pos_embed': dict(decay_mult=0.0),
            '.cls_token': dict(decay_mult=0.0),
        },
    ),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=250),
    dict(type='MultiStepLR', begin=0, end=25, by_epoch=True, milestones=[22, 24], gamma=0.1),
]
# 8 GPUs x 2 images; --auto-scale-lr rescales the lr linearly for other batch sizes.
auto_scale_lr = dict(enable=False, base_batch_size=16)
