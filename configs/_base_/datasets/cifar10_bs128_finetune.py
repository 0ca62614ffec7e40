# CIFAR-10 for full fine-tuning of ViTs, APS's protocol (main_finetune.py): timm's train
# transform with its first op replaced by RandomCrop(32, padding 4): flip, RandAugment
# rand-m9-mstd0.5-inc1 (bicubic), random erasing 0.25 (per-pixel noise); ImageNet
# mean/std at fine-tuning time (pretraining used CIFAR statistics); test: the image.
# Mixup 0.8 / CutMix 1.0 are batch augments set in the model (train_cfg.augments).
dataset_type = 'CIFAR10'
data_root = 'data/cifar10/'
num_classes = 10
data_preprocessor = dict(
    type='ClsDataPreprocessor',
    num_classes=num_classes,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=False,
)  # mmpretrain's CIFAR datasets yield RGB arrays

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[124, 116, 104], interpolation='bicubic'),
    ),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=[123.675, 116.28, 103.53],
        fill_std=[58.395, 57.12, 57.375],
    ),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=256,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', pipeline=test_pipeline),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
