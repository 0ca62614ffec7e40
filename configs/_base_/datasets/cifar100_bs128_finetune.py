# CIFAR-100 (cifar-100-python/ under data_root) for ViT fine-tuning, as for CIFAR-10.
_base_ = ['./cifar10_bs128_finetune.py']
dataset_type = 'CIFAR100'
data_root = 'data/cifar100/'
num_classes = 100
data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
