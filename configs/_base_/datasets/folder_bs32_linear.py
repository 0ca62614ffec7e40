# Your own LABELLED images for linear probes (docs/own_data.md): the folder named by the
# environment variable CSML_EVAL_ROOT, with train/<class>/* and val/<class>/* (the same class
# folders in both; class indices follow the sorted folder names). mmengine substitutes the
# variable when the config is read, so it moves the train, val and test loaders together.
# Pipelines of imagenet_bs32_linear.py: RandomResizedCrop(224) + flip; val 256 -> crop 224.
_base_ = ['./imagenet_bs32_linear.py']
dataset_type = 'CustomDataset'
data_root = '{{$CSML_EVAL_ROOT:data/my_labelled}}'
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        pipeline={{_base_.train_pipeline}},
    )
)
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        data_prefix='val',
        pipeline={{_base_.test_pipeline}},
    )
)
test_dataloader = val_dataloader
