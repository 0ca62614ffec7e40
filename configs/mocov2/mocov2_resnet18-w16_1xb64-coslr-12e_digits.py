# MoCo v2 on the embedded DigitsComposite data (the demo until CsMl lands).
# ResNet-18 at quarter width (16 base channels) with the standard stem keeps an
# epoch short on 2 CPU cores (the model: ../_base_/models/mocov2_resnet18-w16.py).
_base_ = [
    '../_base_/models/mocov2_resnet18-w16.py',
    '../_base_/datasets/digits_bs64_mocov2.py',
    '../_base_/schedules/sgd_coslr-12e_digits.py',
    '../_base_/default_runtime.py',
]
model = dict(queue_len=512)  # well below the 2,876 training images (see configs/csml/README.md)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=4, max_keep_ckpts=2))
# Online kNN monitor on the embedded labelled split (see docs/knn.md).
custom_hooks = [
    dict(
        type='KNNEvalHook',
        interval=4,
        topk=(20, 200),
        train_dataloader={{_base_.knn_cfg.train_dataloader}},
        val_dataloader={{_base_.knn_cfg.val_dataloader}},
    )
]
