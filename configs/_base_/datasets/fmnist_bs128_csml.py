# CsMl data on Fashion-MNIST: each item holds the anchor and one of its mined neighbours
# (NeighbourViewsDataset); the mining loader passes over the same 60,000 train
# images in the same order, without augmentation.
_base_ = ['./fmnist_bs128_mocov2.py']
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='NeighbourViewsDataset',
        dataset=dict(type={{_base_.dataset_type}}, split='train', data_root={{_base_.data_root}}),
        # anchor and neighbour are packed once each; the data preprocessor makes 2 views of
        # each, in CsMl's order [anchor_q, anchor_k, neighbour_q, neighbour_k]
        pipeline=[dict(type='MultiView', num_views=1, transforms=[[]])],
        num_neighbours=5,
    )
)
mining_dataloader = dict(
    batch_size=512,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type={{_base_.dataset_type}},
        split='train',
        data_root={{_base_.data_root}},
        pipeline=[dict(type='PackInputs')],
    ),
)
