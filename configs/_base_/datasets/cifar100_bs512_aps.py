# CIFAR-100 for APS pre-training (cifar-100-python/ under data_root; nothing is
# downloaded): the recipe of cifar10_bs512_aps.py, whose normalisation the released code
# also uses for CIFAR-100.
_base_ = ['./cifar10_bs512_aps.py']
dataset_type = 'CIFAR100'
data_root = 'data/cifar100/'
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
knn_cfg = dict(
    train_dataloader=dict(dataset=dict(type=dataset_type, data_root=data_root)),
    val_dataloader=dict(dataset=dict(type=dataset_type, data_root=data_root)),
)
