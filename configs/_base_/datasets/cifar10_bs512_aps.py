# CIFAR-10 for APS pre-training: the released recipe (augmentation.py of visresearch/aps).
# Two views from the same pipeline; each records its crop box and flip; view 1 gets
# 4 disjoint rounds of 25% of the 16x16 patch grid (patch 2), view 2 per round the
# patches least covered by view 1's (power 3). Nothing is downloaded: put the
# extracted cifar-10-batches-py/ under data_root.
dataset_type = 'CIFAR10'
data_root = 'data/cifar10/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[125.307, 122.961, 113.8575],  # (0.4914, 0.4822, 0.4465) x 255
    std=[51.5865, 50.847, 51.255],  # (0.2023, 0.1994, 0.2010) x 255
    to_rgb=False,
)  # mmpretrain's CIFAR datasets yield RGB arrays

view_pipeline = [
    dict(
        type='RandomResizedCropWithBox',
        scale=32,
        crop_ratio_range=(0.15, 1.0),
        interpolation='bilinear',
        backend='pillow',
    ),
    dict(type='RandomFlip', prob=0.5),
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
    dict(type='SparsePatchSampling', patch_size=2, ratio=0.25, rounds=4),
    # flip_aware=False reproduces the released code (it ignores flips).
    dict(type='SelectivePatchSampling', patch_size=2, power=3.0, flip_aware=True),
    dict(
        type='PackInputs',
        algorithm_keys=['patch_ids'],
        meta_keys=['sample_idx', 'crop_box', 'flip', 'flip_direction'],
    ),
]
train_dataloader = dict(
    batch_size=512,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
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

# Labelled splits for the kNN monitor (KNNEvalHook / tools/analysis_tools/knn_eval.py).
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
    temperature=0.1,
)
