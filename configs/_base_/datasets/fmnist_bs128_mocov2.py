# Fashion-MNIST (Xiao et al. 2017) from Debian's dataset-fashion-mnist package (docs/data.md):
# 60,000 train / 10,000 test grey 28 px images, zero-padded to 32 px, held in memory as BGR
# arrays (no LoadImageFromFile). Pretraining reads the train split without labels; the kNN
# protocol uses the train split as the bank and the test split as the queries.
dataset_type = 'FashionMNISTGz'
data_root = None  # None: $FASHION_MNIST_ROOT or /usr/share/datasets/fashion-mnist
# SimCLR-style views on grey images (the plain-PyTorch SimCLR recipe we planned with): crop scale
# 0.2-1, horizontal flip (a mirrored garment is the same class), brightness/contrast jitter
# 0.4 with p = 0.8. Saturation, hue and grey-scale do nothing on grey images and are left out.
# The views are made batch-wise in the data preprocessor (BatchAugDataPreprocessor); the
# dataset pipeline only packs each image once. On 2 CPU cores the data path is about 5x cheaper
# than per-image transforms (tools/benchmarks/bench_batch_augment.py).
data_preprocessor = dict(
    type='BatchAugDataPreprocessor',
    views_per_input=2,
    crop_scale=(0.2, 1.0),
    flip_prob=0.5,
    jitter_prob=0.8,
    brightness=0.4,
    contrast=0.4,
    saturation=0.0,
    gray_prob=0.0,
    mean=[55.8, 55.8, 55.8],  # of the padded train split
    std=[84.6, 84.6, 84.6],
    to_rgb=True,
)

# The same views as per-image transforms (for the APS samplers, which need each crop's box,
# or to swap the preprocessor for SelfSupDataPreprocessor).
view_pipeline = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomApply',
        transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4)],
        prob=0.8,
    ),
]
train_pipeline = [
    dict(type='MultiView', num_views=1, transforms=[[]]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=128,
    num_workers=1,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, split='train', data_root=data_root, pipeline=train_pipeline),
)

knn_pipeline = [dict(type='PackInputs')]
# The evaluation protocol (tools/analysis_tools/knn_eval.py, the quality table): all 60,000
# train images as the bank, the 10,000 test images as queries.
knn_cfg = dict(
    train_dataloader=dict(
        batch_size=512,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        dataset=dict(type=dataset_type, split='train', data_root=data_root, pipeline=knn_pipeline),
    ),
    val_dataloader=dict(
        batch_size=512,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        dataset=dict(type=dataset_type, split='test', data_root=data_root, pipeline=knn_pipeline),
    ),
    topk=(20, 200),
    temperature=0.07,
)
# The online monitor (KNNEvalHook, the learning curves) uses the first 10,000 train images as
# its bank to keep each evaluation short on a CPU; the final numbers use knn_cfg above.
monitor_knn_cfg = dict(
    train_dataloader=dict(
        batch_size=512,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        dataset=dict(
            type=dataset_type,
            split='train',
            data_root=data_root,
            num_samples=10000,
            pipeline=knn_pipeline,
        ),
    ),
    val_dataloader=knn_cfg['val_dataloader'],
)
