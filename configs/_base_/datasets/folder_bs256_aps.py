# Your own UNLABELLED images (docs/own_data.md) for APS with ViT/16 at 224 px (the views and
# patch samplers of imagenet_bs256_aps.py). The same two settings as folder_bs32_mocov2.py:
# CSML_DATA_ROOT (the images; substituted when the config is read, so it moves every loader)
# and the optional labelled CSML_EVAL_ROOT (train/<class>/*, val/<class>/*) for kNN.
_base_ = ['./imagenet_bs256_aps.py']  # views, patch samplers, data preprocessor
dataset_type = 'CustomDataset'
data_root = '{{$CSML_DATA_ROOT:data/my_images}}'
eval_root = '{{$CSML_EVAL_ROOT:none}}'  # 'none': no kNN
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        with_label=False,
        pipeline={{_base_.train_pipeline}},
    )
)

knn_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
if eval_root == 'none':
    knn_cfg = None
    knn_monitor_hooks = []
else:
    knn_cfg = dict(
        train_dataloader=dict(
            batch_size=256,
            num_workers=8,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            dataset=dict(
                type='CustomDataset',
                data_root=eval_root,
                data_prefix='train',
                pipeline=knn_pipeline,
            ),
        ),
        val_dataloader=dict(
            batch_size=256,
            num_workers=8,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            dataset=dict(
                type='CustomDataset', data_root=eval_root, data_prefix='val', pipeline=knn_pipeline
            ),
        ),
        topk=(10, 20),  # k must not exceed the number of bank images
        temperature=0.1,
    )  # APS's CIFAR kNN temperature
    knn_monitor_hooks = [
        dict(
            type='KNNEvalHook',
            interval=10,
            topk=(20,),
            temperature=0.1,
            train_dataloader=knn_cfg['train_dataloader'],
            val_dataloader=knn_cfg['val_dataloader'],
        )
    ]
