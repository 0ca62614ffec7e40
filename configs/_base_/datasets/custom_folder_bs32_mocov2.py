# An unlabelled folder of images (any depth) for pretraining on your own data:
#   --cfg-options train_dataloader.dataset.data_root=/path/to/images
# Has no knn_cfg: kNN needs labels (add a labelled CustomDataset to evaluate).
_base_ = ['./imagenet_bs32_mocov2.py']
dataset_type = 'CustomDataset'
data_root = 'data/custom/'
train_dataloader = dict(
    dataset=dict(_delete_=True, type=dataset_type, data_root=data_root, ann_file='',
                 data_prefix='', with_label=False,
                 pipeline={{_base_.train_pipeline}}))
knn_cfg = None
