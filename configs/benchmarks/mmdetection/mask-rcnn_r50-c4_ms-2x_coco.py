# COCO Mask R-CNN R50-C4, multi-scale, 2x schedule (24 epochs, lr x0.1 at 16 and 22):
# the schedule of MoCo's / CsMl's shipped detectron2 config (180k iterations at 16
# images per batch ~= 24 COCO epochs). Everything else as the 1x config.
_base_ = './mask-rcnn_r50-c4_ms-1x_coco.py'

train_cfg = dict(max_epochs=24)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=24, by_epoch=True, milestones=[16, 22], gamma=0.1),
]
