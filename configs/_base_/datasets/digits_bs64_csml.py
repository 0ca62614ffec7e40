# CsMl data on the embedded DigitsComposite set: each item holds 2 views of the
# anchor and 2 of one of its mined neighbours (NeighbourViewsDataset).
_base_ = ['./digits_bs64_mocov2.py']
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='NeighbourViewsDataset',
        dataset=dict(
            type={{_base_.dataset_type}},
            split='train',
            samples_per_digit={{_base_.samples_per_digit}},
        ),
        pipeline=[dict(type='MultiView', num_views=2, transforms=[{{_base_.view_pipeline}}])],
        num_neighbours=5,
    )
)
# Deterministic pass over the same images, in the same order, for NeighbourMiningHook.
mining_dataloader = dict(
    batch_size=256,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type={{_base_.dataset_type}},
        split='train',
        samples_per_digit={{_base_.samples_per_digit}},
        pipeline=[dict(type='PackInputs')],
    ),
)
