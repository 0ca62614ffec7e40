# Semi-supervised fine-tuning with 1% of the ImageNet labels (the mmselfsup 1.x recipe):
# the whole ResNet-50 trains (nothing frozen, SyncBN), SGD lr 0.1, momentum 0.9,
# wd 5e-4, batch 256 (4 GPUs x 64), 20 epochs, lr x0.2 at 12 and 16; the head's lr
# multiplier is 1 here, 10 or 100 in the head10/head100 variants (lr sweep 1e-1..1e-3).
# The subset list meta/train_1percent.txt comes from
#   python tools/dataset_converters/make_label_subset.py data/imagenet/meta/train.txt \
#       data/imagenet/meta/train_1percent.txt --percent 1 [--simclr-list 1percent.txt]
#   bash tools/dist_train.sh THIS_CONFIG 4 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/csml/epoch_200.pth
_base_ = [
    '../../../../_base_/datasets/imagenet_bs32_linear.py',
    '../../../../_base_/default_runtime.py',
]
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        out_indices=(3,),
        style='pytorch',
        frozen_stages=-1,
        norm_eval=False,
        norm_cfg=dict(type='SyncBN'),
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
train_dataloader = dict(batch_size=64, dataset=dict(ann_file='meta/train_1percent.txt'))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=1.0)}),
)
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[12, 16], gamma=0.2)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=2, save_best='auto'))
