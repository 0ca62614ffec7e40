# CIFAR-100 (cifar-100-python/ under data_root), same WCL recipe as CIFAR-10.
_base_ = ['./cifar10_bs256_wcl.py']
dataset_type = 'CIFAR100'
data_root = 'data/cifar100/'
data_preprocessor = dict(mean=[129.304, 124.070, 112.434], std=[68.170, 65.392, 70.418])
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
knn_cfg = dict(
    train_dataloader=dict(dataset=dict(type=dataset_type, data_root=data_root)),
    val_dataloader=dict(dataset=dict(type=dataset_type, data_root=data_root)),
)
