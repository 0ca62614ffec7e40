# CsMl data on ImageNet: anchor and neighbour views with the MoCo v2 augmentation.
_base_ = ['./imagenet_bs32_mocov2.py']
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='NeighbourViewsDataset',
        dataset=dict(type={{_base_.dataset_type}}, data_root={{_base_.data_root}}, split='train'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='MultiView', num_views=2, transforms=[{{_base_.view_pipeline}}]),
        ],
        num_neighbours=5,
    )
)
# The code's mining pass: Resize(256) + CenterCrop(224) over the training set.
mining_dataloader = dict(
    batch_size=256,
    num_workers=8,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type={{_base_.dataset_type}},
        data_root={{_base_.data_root}},
        split='train',
        pipeline={{_base_.knn_pipeline}},
    ),
)
