# CsMl data on Fashion-MNIST: each item holds 2 views of the anchor and 2 of one of its mined
# neighbours (NeighbourViewsDataset); the mining loader passes over the same 60,000 train
# images in the same order, without augmentation.
_base_ = ['./fmnist_bs128_mocov2.py']
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='NeighbourViewsDataset',
        dataset=dict(type={{_base_.dataset_type}}, split='train', data_root={{_base_.data_root}}),
        pipeline=[dict(type='MultiView', num_views=2, transforms=[{{_base_.view_pipeline}}])],
        num_neighbours=5))
mining_dataloader = dict(
    batch_size=512, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type={{_base_.dataset_type}}, split='train', data_root={{_base_.data_root}},
                 pipeline=[dict(type='PackInputs')]))
