# Few-label fine-tuning on Fashion-MNIST, 1% of the train labels (600 images, 60 per class, the
# fixed subset subsets/train_1pct_seed0.txt made by tools/dataset_converters/make_label_subset.py):
# the semi-supervised protocol of the CsMl and WCL papers (whole network fine-tuned with a linear
# classifier; cf. the in1k-1pct configs) scaled to the quarter-width ResNet-18 of the `_fmnist`
# recipes. Evaluated by top-1 on the 10,000 test images. docs/results/transfer.md.
#
#   python tools/train.py THIS_CONFIG \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/demo/epoch_7.pth
#
# [DESIGN], fixed before any method was compared and the same for every row (random init
# included: there `model.backbone.init_cfg=None`): every layer trained, BN statistics updated;
# SGD momentum 0.9, weight decay 5e-4, backbone lr 0.02 and the new classifier 10x that (the
# head-lr multiplier of the semi-supervised benchmarks), cosine to 0 per iteration; crops of
# scale 0.5-1 + flip; batch 64 for 500 iterations (about 53 epochs of the 600 images), about
# a minute on 2 CPU cores.
_base_ = [
    '../../../_base_/datasets/fmnist_bs128_linear.py',
    '../../../_base_/default_runtime.py',
]
subset_file = 'configs/benchmarks/classification/fmnist/subsets/train_1pct_seed0.txt'
max_iters = 500
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=16,
        stem_channels=16,
        out_indices=(3,),
        norm_cfg=dict(type='BN'),
        zero_init_residual=False,
        init_cfg=dict(type='PretrainedBackbone', checkpoint=None),
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
        init_cfg=dict(type='Normal', std=0.01, layer='Linear'),
    ),
)
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(subset_file=subset_file),
)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}),
)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_iters, by_epoch=False, begin=0, end=max_iters)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
default_hooks = dict(
    logger=dict(interval=50, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1),
)
log_processor = dict(by_epoch=False)
