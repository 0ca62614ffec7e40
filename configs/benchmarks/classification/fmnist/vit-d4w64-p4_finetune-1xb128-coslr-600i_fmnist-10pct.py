# Few-label fine-tuning on 10% of the Fashion-MNIST train labels for the APS ViT: the model and
# optimiser of ./vit-d4w64-p4_finetune-1xb64-coslr-500i_fmnist-1pct.py with the data, batch and
# iterations of ./resnet18-w16_finetune-1xb128-coslr-600i_fmnist-10pct.py. [DESIGN] as there.
_base_ = ['./vit-d4w64-p4_finetune-1xb64-coslr-500i_fmnist-1pct.py']
subset_file = 'configs/benchmarks/classification/fmnist/subsets/train_10pct_seed0.txt'
max_iters = 600
train_dataloader = dict(batch_size=128, dataset=dict(subset_file=subset_file))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_iters, by_epoch=False, begin=0, end=max_iters)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
auto_scale_lr = dict(base_batch_size=128)
default_hooks = dict(checkpoint=dict(interval=max_iters))
