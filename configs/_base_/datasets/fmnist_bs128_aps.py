# APS views on Fashion-MNIST (32 px): the crops of fmnist_bs128_mocov2.py with their boxes
# recorded, an 8 x 8 grid of 4 px patches, 16 patches (ratio 0.25) per view and round,
# 4 rounds per batch, view 2 sampled away from view 1's covered cells.
_base_ = ['./fmnist_bs128_mocov2.py']
view_pipeline = [
    dict(type='RandomResizedCropWithBox', scale=32, crop_ratio_range=(0.2, 1.0), backend='pillow'),
    dict(
        type='RandomApply',
        transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4)],
        prob=0.8,
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
data_preprocessor = dict(
    _delete_=True,
    type='SelfSupDataPreprocessor',
    mean=[55.8, 55.8, 55.8],
    std=[84.6, 84.6, 84.6],
    to_rgb=True,
)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
