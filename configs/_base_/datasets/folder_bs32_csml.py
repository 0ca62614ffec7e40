# CsMl data on your own unlabelled images (docs/own_data.md): anchor and neighbour views
# (NeighbourViewsDataset around an unlabelled CustomDataset) and the mining pass over the same
# images in the same order. Both read CSML_DATA_ROOT through the base's `data_root`.
_base_ = ['./folder_bs32_mocov2.py']
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='NeighbourViewsDataset',
        dataset=dict(type='CustomDataset', data_root={{_base_.data_root}}, with_label=False),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='MultiView', num_views=2, transforms=[{{_base_.view_pipeline}}]),
        ],
        num_neighbours=5,
    )
)
# The code's mining pass: Resize(256) + CenterCrop(224) over the training images.
mining_dataloader = dict(
    batch_size=256,
    num_workers=8,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root={{_base_.data_root}},
        with_label=False,
        pipeline={{_base_.knn_pipeline}},
    ),
)
