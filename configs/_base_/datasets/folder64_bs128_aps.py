# APS data on your own unlabelled images at 64 px (docs/own_data.md, the small recipes): each
# image loaded at 64 x 64 (./folder64_bs128_mocov2.py's loading), two views with their crop
# boxes (random resized crop 0.2-1 with flip, colour jitter, grey), then the asymmetric patch
# subsets on the 8 x 8 grid of 8-px patches: the sparse one keeps a quarter of the patches,
# the selective one the patches least overlapping it. Follows CSML_DATA_ROOT/CSML_EVAL_ROOT.
_base_ = ['./folder64_bs128_mocov2.py']
patch_size = 8
view_pipeline = [
    dict(
        type='RandomResizedCropWithBox',
        scale={{_base_.image_size}},
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
    ),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomApply',
        transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4)],
        prob=0.8,
    ),
    dict(
        type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)
    ),
]
train_pipeline = _base_.load_pipeline + [
    dict(
        type='MultiViewWithKeys',
        num_views=2,
        transforms=[view_pipeline],
        keys=('crop_box', 'flip', 'flip_direction'),
    ),
    dict(type='SparsePatchSampling', patch_size=patch_size, ratio=0.25, rounds=4),
    dict(type='SelectivePatchSampling', patch_size=patch_size, power=3.0, flip_aware=True),
    dict(
        type='PackInputs',
        algorithm_keys=['patch_ids'],
        meta_keys=['sample_idx', 'img_path', 'crop_box', 'flip', 'flip_direction'],
    ),
]
data_preprocessor = dict(
    _delete_=True,
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
