# The supervised ceiling of the Fashion-MNIST quality table: the same ResNet-18 at quarter
# width, 32 px, batch 128, SGD with cosine decay and epochs as the self-supervised runs, with
# labels (cross-entropy on a linear head; crop scale 0.5-1 + flip). Its backbone is evaluated by
# the same kNN protocol as the others. 7 epochs: the longest budget in the table (the wcl pair).
_base_ = [
    '../_base_/datasets/fmnist_bs128_linear.py',
    '../_base_/schedules/sgd_coslr_fmnist-cpu.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=16,
        stem_channels=16,
        norm_cfg=dict(type='BN'),
        zero_init_residual=False,
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead', num_classes=10, in_channels=128, loss=dict(type='CrossEntropyLoss')
    ),
)
optim_wrapper = dict(optimizer=dict(lr=0.1))
val_cfg = dict()  # top-1 on the test split after every epoch
max_epochs = 7
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True,
    )
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=1, max_keep_ckpts=1))
custom_hooks = [
    dict(
        type='KNNEvalHook',
        interval=1,
        topk=(20,),
        before_train=True,
        train_dataloader={{_base_.monitor_knn_cfg.train_dataloader}},
        val_dataloader={{_base_.monitor_knn_cfg.val_dataloader}},
    ),
]
test_cfg = dict()
