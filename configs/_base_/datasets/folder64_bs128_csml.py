# CsMl data on your own unlabelled images at 64 px (docs/own_data.md, the small recipes):
# anchor and one mined neighbour per item (NeighbourViewsDataset), each loaded at 64 x 64;
# the data preprocessor makes two views of each, in CsMl's order
# [anchor_q, anchor_k, neighbour_q, neighbour_k]. The mining pass reads the same images in
# the same order without augmentation. Both follow CSML_DATA_ROOT.
_base_ = ['./folder64_bs128_mocov2.py']
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='NeighbourViewsDataset',
        dataset=dict(type='CustomDataset', data_root={{_base_.data_root}}, with_label=False),
        pipeline=_base_.load_pipeline + [dict(type='MultiView', num_views=1, transforms=[[]])],
        num_neighbours=5,
    )
)
mining_dataloader = dict(
    batch_size=256,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root={{_base_.data_root}},
        with_label=False,
        pipeline={{_base_.knn_pipeline}},
    ),
)
