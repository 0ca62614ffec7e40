_base_ = ['./cifar100_bs256_mocov2.py']
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='NeighbourViewsDataset',
        dataset=dict(
            type={{_base_.dataset_type}},
            data_root={{_base_.data_root}},
            split='train',
            download=False,
        ),
        pipeline=[dict(type='MultiView', num_views=2, transforms=[{{_base_.view_pipeline}}])],
        num_neighbours=5,
    )
)
mining_dataloader = dict(
    batch_size=512,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type={{_base_.dataset_type}},
        data_root={{_base_.data_root}},
        split='train',
        download=False,
        pipeline=[dict(type='PackInputs')],
    ),
)
