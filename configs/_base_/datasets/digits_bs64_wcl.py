# WCL's two-stage augmentation on the embedded DigitsComposite data (docs/data.md), 32 px.
# Stage 0 (the first PipelineSwitchHook.switch_epochs epochs): MoCo v2 views; stage 1: SimCLR
# views (crop scale 0.08-1, colour jitter 0.8/0.8/0.8/0.2). As in the other digits recipes: no
# horizontal flip (a mirrored digit is a different glyph) and no blur at 32 px.
dataset_type = 'DigitsComposite'
samples_per_digit = 2
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

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
]
simclr_view = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.08, 1.0), backend='pillow'),
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
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        split='train',
        samples_per_digit=samples_per_digit,
        pipeline=train_pipeline,
    ),
)

knn_pipeline = [dict(type='PackInputs')]
knn_cfg = dict(
    train_dataloader=dict(
        batch_size=256,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        dataset=dict(
            type=dataset_type,
            split='train',
            samples_per_digit=samples_per_digit,
            pipeline=knn_pipeline,
        ),
    ),
    val_dataloader=dict(
        batch_size=256,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        dataset=dict(
            type=dataset_type,
            split='val',
            samples_per_digit=samples_per_digit,
            pipeline=knn_pipeline,
        ),
    ),
    topk=(10, 20, 100, 200),
    temperature=0.07,
)
