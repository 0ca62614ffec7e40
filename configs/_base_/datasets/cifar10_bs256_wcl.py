# CIFAR-10 (cifar-10-batches-py/ under data_root; nothing is downloaded) with WCL's two-stage
# augmentation at 32 px: MoCo v2 views, then SimCLR views (PipelineSwitchHook). No blur at 32 px
# (as in the usual CIFAR recipes); the WCL paper's CIFAR augmentations are not in the released
# code, so this is our choice (configs/wcl/README.md).
dataset_type = 'CIFAR10'
data_root = 'data/cifar10/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[125.307, 122.961, 113.8575],
    std=[51.5865, 50.847, 51.255],
    to_rgb=False,
)  # mmpretrain's CIFAR datasets yield RGB arrays

mocov2_view = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.0), backend='pillow'),
    dict(
        type='RandomApply',
        transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
        ],
        prob=0.8,
    ),
    dict(
        type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)
    ),
    dict(type='RandomFlip', prob=0.5),
]
simclr_view = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.08, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomApply',
        transforms=[
            dict(type='ColorJitter', brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2)
        ],
        prob=0.8,
    ),
    dict(
        type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)
    ),
]
train_pipeline = [
    dict(
        type='PipelineSwitch',
        pipelines=[
            [dict(type='MultiView', num_views=2, transforms=[mocov2_view])],
            [dict(type='MultiView', num_views=2, transforms=[simclr_view])],
        ],
    ),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=256,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        download=False,
        pipeline=train_pipeline,
    ),
)

knn_pipeline = [dict(type='PackInputs')]
knn_cfg = dict(
    train_dataloader=dict(
        batch_size=512,
        num_workers=4,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            split='train',
            download=False,
            pipeline=knn_pipeline,
        ),
    ),
    val_dataloader=dict(
        batch_size=512,
        num_workers=4,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            split='test',
            download=False,
            pipeline=knn_pipeline,
        ),
    ),
    topk=(10, 20, 100, 200),
    temperature=0.07,
)
