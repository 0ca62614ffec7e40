# Your own UNLABELLED images at 64 px for one machine (docs/own_data.md, the small recipes):
# every image is resized once per read to 64 x 64 (shorter side to 64, centre crop) and the
# two MoCo v2-style views are made on the whole batch by BatchAugDataPreprocessor (random
# resized crop of scale 0.2-1 with flip, colour jitter 0.4/0.4/0.4 with p = 0.8, grey with
# p = 0.2; no blur), the Fashion-MNIST recipes' way of keeping 2 CPU cores on the network.
# ONE setting moves every loader: CSML_DATA_ROOT (and CSML_EVAL_ROOT for the kNN monitor),
# as in ./folder_bs32_mocov2.py.
dataset_type = 'CustomDataset'
data_root = '{{$CSML_DATA_ROOT:data/my_images}}'  # any tree of .jpg/.jpeg/.png/... files
eval_root = '{{$CSML_EVAL_ROOT:none}}'  # 'none': no kNN
image_size = 64
data_preprocessor = dict(
    type='BatchAugDataPreprocessor',
    views_per_input=2,
    crop_scale=(0.2, 1.0),
    flip_prob=0.5,
    jitter_prob=0.8,
    brightness=0.4,
    contrast=0.4,
    saturation=0.4,
    gray_prob=0.2,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

load_pipeline = [
    dict(type='LoadImageFromFile'),  # tools/train.py makes it CheckedLoadImageFromFile
    dict(type='ResizeEdge', scale=image_size, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=image_size),
]
# the views come from the data preprocessor: the pipeline only loads and packs
train_pipeline = load_pipeline + [
    dict(type='MultiView', num_views=1, transforms=[[]]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=128,
    num_workers=2,  # tools/train.py lowers it to the cores available
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, with_label=False, pipeline=train_pipeline),
)

knn_pipeline = load_pipeline + [dict(type='PackInputs')]
if eval_root == 'none':
    knn_cfg = None
    knn_monitor_hooks = []
else:
    knn_cfg = dict(
        train_dataloader=dict(
            batch_size=256,
            num_workers=2,
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
            num_workers=2,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            dataset=dict(
                type='CustomDataset', data_root=eval_root, data_prefix='val', pipeline=knn_pipeline
            ),
        ),
        topk=(10, 20),  # k must not exceed the number of bank images
        temperature=0.07,
    )
    knn_monitor_hooks = [
        dict(
            type='KNNEvalHook',
            interval=10,
            topk=(20,),
            before_train=True,
            train_dataloader=knn_cfg['train_dataloader'],
            val_dataloader=knn_cfg['val_dataloader'],
        )
    ]
