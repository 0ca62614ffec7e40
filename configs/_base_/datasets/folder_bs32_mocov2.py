# Your own UNLABELLED images (docs/own_data.md) with the MoCo v2 views at 224 px.
# ONE setting moves every loader that reads them: the environment variable CSML_DATA_ROOT.
# mmengine substitutes `{{$VAR:default}}` into the text when the config is read, before any
# loader copies `data_root`; `--cfg-options data_root=...` cannot do this (it would change
# the top-level variable only, so tools/train.py refuses it).
#   CSML_DATA_ROOT=/path/to/images python tools/train.py CONFIG
# kNN needs labels, so it is off unless CSML_EVAL_ROOT names a labelled folder
# (train/<class>/* = the kNN bank, val/<class>/* = the queries, the same class folders in both):
# that sets knn_cfg (tools/analysis_tools/knn_eval.py) and the KNNEvalHook of
# knn_monitor_hooks, which the method configs append to their custom_hooks.
_base_ = ['./imagenet_bs32_mocov2.py']  # views, data preprocessor, kNN pipeline
dataset_type = 'CustomDataset'
data_root = '{{$CSML_DATA_ROOT:data/my_images}}'  # any tree of .jpg/.jpeg/.png/... files
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

if eval_root == 'none':
    knn_cfg = None
    knn_monitor_hooks = []
else:
    knn_cfg = dict(
        _delete_=True,
        train_dataloader=dict(
            batch_size=256,
            num_workers=8,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            dataset=dict(
                type='CustomDataset',
                data_root=eval_root,
                data_prefix='train',
                pipeline=_base_.knn_pipeline,
            ),
        ),
        val_dataloader=dict(
            batch_size=256,
            num_workers=8,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            dataset=dict(
                type='CustomDataset',
                data_root=eval_root,
                data_prefix='val',
                pipeline=_base_.knn_pipeline,
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
            train_dataloader=knn_cfg['train_dataloader'],
            val_dataloader=knn_cfg['val_dataloader'],
        )
    ]
