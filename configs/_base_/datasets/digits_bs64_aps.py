# APS views on the embedded DigitsComposite data (32 px, see docs/data.md), for CPU
# runs. The backbone uses patch 4 here: an 8 x 8 grid, 16 patches (ratio 0.25) per
# view and round, 4 rounds. No flip: a mirrored digit is a different glyph.
dataset_type = 'DigitsComposite'
samples_per_digit = 2  # 2,876 train / 718 val images
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

view_pipeline = [
    dict(type='RandomResizedCropWithBox', scale=32, crop_ratio_range=(0.15, 1.0), backend='pillow'),
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
train_pipeline = [
    dict(
        type='MultiViewWithKeys',
        num_views=2,
        transforms=[view_pipeline],
        keys=('crop_box', 'flip', 'flip_direction'),
    ),
    dict(type='SparsePatchSampling', patch_size=4, ratio=0.25, rounds=4),
    dict(type='SelectivePatchSampling', patch_size=4, power=3.0),
    dict(
        type='PackInputs',
        algorithm_keys=['patch_ids'],
        meta_keys=['sample_idx', 'crop_box', 'flip'],
    ),
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
    temperature=0.1,
)
