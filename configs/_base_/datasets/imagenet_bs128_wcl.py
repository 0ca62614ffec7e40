# ImageNet-1k (mmpretrain layout: data/imagenet/{train,val,meta/*.txt}) with WCL's augmentations
# (mingkai-zheng/WCL, data/augmentation.py): MoCo v2 views for the first epochs, SimCLR views
# afterwards, switched by PipelineSwitchHook (configs/wcl/README.md). Both views of an image use
# the same distribution. 128 images per GPU x 32 GPUs = the released batch of 4096.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

# MoCo v2 "aug+": crop scale 0.2-1, jitter 0.4/0.4/0.4/0.1 p=0.8, grey 0.2, blur p=0.5, flip.
mocov2_view = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.0), backend='pillow'),
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
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
    dict(type='RandomFlip', prob=0.5),
]
# SimCLR: crop scale 0.08-1, flip, jitter 0.8/0.8/0.8/0.2 p=0.8, grey 0.2, blur p=0.5 (WCL's
# blur is a PIL Gaussian of radius sigma ~ U[0.1, 2], as in the MoCo v2 stage). No solarisation.
simclr_view = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0), backend='pillow'),
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
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
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
    batch_size=128,
    num_workers=16,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline),
)

knn_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
knn_cfg = dict(
    train_dataloader=dict(
        batch_size=256,
        num_workers=8,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=knn_pipeline),
    ),
    val_dataloader=dict(
        batch_size=256,
        num_workers=8,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=knn_pipeline),
    ),
    topk=(10, 20, 100, 200),
    temperature=0.07,
)
