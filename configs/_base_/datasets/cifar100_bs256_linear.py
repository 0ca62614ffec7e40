# CIFAR-100 classification data (cifar-100-python/ under data_root), as for CIFAR-10.
_base_ = ['./cifar10_bs256_linear.py']
dataset_type = 'CIFAR100'
data_root = 'data/cifar100/'
num_classes = 100
data_preprocessor = dict(
    num_classes=num_classes, mean=[129.304, 124.070, 112.434], std=[68.170, 65.392, 70.418]
)
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
