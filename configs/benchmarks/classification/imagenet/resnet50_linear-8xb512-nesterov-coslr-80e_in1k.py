# Linear probe, WCL protocol (WCL linear_eval.py): frozen ResNet-50 in eval mode, linear
# layer N(0, 0.01), SGD with Nesterov momentum 0.9, lr 0.2 x 4096/256 = 3.2, wd 0,
# batch 4096 (8 GPUs x 512), 80 epochs, cosine decay per iteration; WCL reports the
# best epoch's top-1 (kept here as best_accuracy_top1_epoch_N.pth).
#   bash tools/dist_train.sh THIS_CONFIG 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/wcl/epoch_100.pth
_base_ = [
    '../../../_base_/models/resnet50_linear.py',
    '../../../_base_/datasets/imagenet_bs32_linear.py',
    '../../../_base_/default_runtime.py',
]
train_dataloader = dict(batch_size=512, num_workers=16)
val_dataloader = dict(batch_size=256)
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=3.2, momentum=0.9, weight_decay=0.0, nesterov=True),
)
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=80,
        by_epoch=True,
        begin=0,
        end=80,
        eta_min=0.0,
        convert_to_iter_based=True,
    )
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=80, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=4096)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3, save_best='auto'))
