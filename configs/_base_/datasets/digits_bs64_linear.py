# Labelled DigitsComposite (the embedded data, docs/data.md) for linear probes: the
# same renderings and train/val split as the digits pretraining configs. Images are
# in-memory BGR arrays, so no LoadImageFromFile. No flip: a mirrored digit is another glyph.
dataset_type = 'DigitsComposite'
samples_per_digit = 2
data_preprocessor = dict(
    type='ClsDataPreprocessor',
    num_classes=10,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

train_pipeline = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.5, 1.0), backend='pillow'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        split='train',
        samples_per_digit=samples_per_digit,
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=256,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type, split='val', samples_per_digit=samples_per_digit, pipeline=test_pipeline
    ),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
