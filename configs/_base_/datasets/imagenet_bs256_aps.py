# ImageNet-1k for APS pre-training with ViT/16 at 224 px: a 14 x 14 patch grid, 49
# patches (ratio 0.25) per view and round. The authors released no ImageNet recipe;
# the augmentations are MoCo v3's asymmetric ViT views (blur always on view 1;
# weak blur and solarisation on view 2) with crop scale 0.08-1 [DESIGN].
# mmpretrain layout: data/imagenet/{train,val,meta/train.txt,meta/val.txt}.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

_color = [
    dict(
        type='RandomApply',
        transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)
        ],
        prob=0.8,
    ),
    dict(
        type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)
    ),
]
view_pipeline1 = [
    dict(
        type='RandomResizedCropWithBox', scale=224, crop_ratio_range=(0.08, 1.0), backend='pillow'
    ),
    dict(type='RandomFlip', prob=0.5),
    *_color,
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=1.0),
]
view_pipeline2 = [
    dict(
        type='RandomResizedCropWithBox', scale=224, crop_ratio_range=(0.08, 1.0), backend='pillow'
    ),
    dict(type='RandomFlip', prob=0.5),
    *_color,
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.1),
    dict(type='Solarize', thr=128, prob=0.2),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiViewWithKeys',
        num_views=[1, 1],
        transforms=[view_pipeline1, view_pipeline2],
        keys=('crop_box', 'flip', 'flip_direction'),
    ),
    dict(type='SparsePatchSampling', patch_size=16, ratio=0.25, rounds=4),
    dict(type='SelectivePatchSampling', patch_size=16, power=3.0, flip_aware=True),
    dict(
        type='PackInputs',
        algorithm_keys=['patch_ids'],
        meta_keys=['sample_idx', 'img_path', 'crop_box', 'flip', 'flip_direction'],
    ),
]
train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline),
)
