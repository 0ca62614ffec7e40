# The embedded default data (docs/data.md): DigitsComposite, 32x32 renderings of
# scikit-learn's digits on natural-image backgrounds. Images are in-memory BGR
# arrays, so the pipeline starts without LoadImageFromFile.
dataset_type = 'DigitsComposite'
# 2 renderings per source digit (2,876 train / 718 val images) keep a CPU epoch short.
samples_per_digit = 2
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

# MoCo v2 augmentations scaled to 32 px. No horizontal flip: a mirrored digit
# is a different glyph. No blur at this resolution (as in CIFAR recipes).
view_pipeline = [
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
train_pipeline = [
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
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

# Labelled train/val sets for kNN (tools/analysis_tools/knn_eval.py and KNNEvalHook).
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
