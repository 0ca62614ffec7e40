# COCO Mask R-CNN R50-FPN, multi-scale training, 1x schedule (12 epochs), transferring a
# csml_mm ResNet-50: SyncBN in the backbone (all stages trained, norm_eval off), the FPN,
# the 4conv-1fc box head and the mask head; pytorch-style ResNet on RGB images
# normalised by the ImageNet mean/std (mmdet's base already does this).
# Train: shorter side in {640, 672, ..., 800}, longer side <= 1333; test: 800.
#
#   COCO_ROOT=/data/coco bash tools/benchmarks/mmdetection/train_fpn.sh \
#       configs/benchmarks/mmdetection/mask-rcnn_r50_fpn_ms-1x_coco.py PRETRAIN.pth 8
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['csml_mm'], allow_failed_imports=False)

data_root = '{{$COCO_ROOT:data/coco}}/'
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(type='PretrainedBackbone', checkpoint=None),
    ),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', conv_out_channels=256, norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg),
    ),
)

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736), (1333, 768), (1333, 800)],
        keep_ratio=True,
    ),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
# collate_fn is spelled out because csml_mm's tools/train.py defaults to default_collate.
train_dataloader = dict(
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(data_root=data_root, pipeline=train_pipeline),
)
val_dataloader = dict(collate_fn=dict(type='pseudo_collate'), dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
