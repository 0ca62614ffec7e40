# APS, ViT-B/2, CIFAR10: the released recipe (visresearch/aps,
# config/pretrain/vit_base_pretrain.py): batch 512, AdamW lr 0.001 (= 0.0005 x 512 / 256),
# wd 0.05, 20 warm-up epochs, 1600 epochs, AMP, 4 sampling rounds of 25% per batch.
# The README's number for this setting: see configs/aps/README.md.
_base_ = [
    '../_base_/datasets/cifar10_bs512_aps.py',
    '../_base_/models/aps_vit-tiny-p2.py',
    '../_base_/schedules/adamw_aps_coslr_1600e.py',
    '../_base_/default_runtime.py',
]
model = dict(backbone=dict(arch='deit-base'), neck=dict(in_channels=768))
train_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(lr=0.001))
# Hands the whole step (one optimiser step per sampling round) to APS.train_step under DDP.
model_wrapper_cfg = dict(type='MultiStepDistributedDataParallel')
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=50, max_keep_ckpts=3))
custom_hooks = [
    dict(
        type='KNNEvalHook',
        interval=50,
        topk=(20, 200),
        temperature=0.1,
        train_dataloader={{_base_.knn_cfg.train_dataloader}},
        val_dataloader={{_base_.knn_cfg.val_dataloader}},
    )
]
