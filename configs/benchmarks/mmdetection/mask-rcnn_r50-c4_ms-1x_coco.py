# COCO Mask R-CNN R50-C4, multi-scale training, 1x schedule (12 epochs), transferring a
# csml_mm ResNet-50. The MoCo detectron2 protocol (Base-RCNN-C4-BN): SyncBN everywhere
# and trained (no frozen stage, norm_eval off), a pytorch-style ResNet fed with RGB
# images normalised by the ImageNet mean/std, and the res5 shared head followed by an
# extra norm (Res5ROIHeadsExtraNorm == mmpretrain's ResLayerExtraNorm in mmdet's registry).
# Train: shorter side in {640, 672, ..., 800}, longer side <= 1333; test: 800.
#
# COCO path: COCO_ROOT=/path/to/coco (holding annotations/, train2017/, val2017/).
# Pretrained backbone (a csml_mm training checkpoint or the output of
# tools/model_converters/extract_backbone.py), e.g. with 8 GPUs:
#   COCO_ROOT=/data/coco bash tools/benchmarks/mmdetection/train_c4.sh \
#       configs/benchmarks/mmdetection/mask-rcnn_r50-c4_ms-1x_coco.py PRETRAIN.pth 8
# The script sets model.backbone.init_cfg.checkpoint and
# model.roi_head.shared_head.init_cfg.checkpoint (res5 = the backbone's layer4.*).
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py'
custom_imports = dict(imports=['csml_mm'], allow_failed_imports=False)

data_root = '{{$COCO_ROOT:data/coco}}/'
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True
    ),
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=dict(type='PretrainedBackbone', checkpoint=None),
    ),
    roi_head=dict(
        shared_head=dict(
            type='ResLayerExtraNorm',
            norm_cfg=norm_cfg,
            norm_eval=False,
            style='pytorch',
            init_cfg=dict(
                type='PretrainedBackbone',
                checkpoint=None,
                cfg_key='model.roi_head.shared_head.init_cfg.checkpoint',
            ),
        )
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
