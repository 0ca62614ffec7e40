# CsMl on the embedded DigitsComposite data (the demo). ResNet-18 at quarter width
# (16 base channels) with the standard stem keeps 32 px images cheap on a CPU; the cross-sample warm-up is
# scaled from the code's 11/200 epochs; neighbours are re-mined every 5 epochs. The model:
# ../_base_/models/csml_resnet18-w16.py with CutMix on.
_base_ = [
    '../_base_/models/csml_resnet18-w16.py',
    '../_base_/datasets/digits_bs64_csml.py',
    '../_base_/schedules/sgd_coslr-12e_digits.py',
    '../_base_/default_runtime.py',
]
model = dict(
    queue_len=512,  # well below the 2,876 training images (see configs/csml/README.md)
    use_cutmix=True,
    cutmix_alpha=2.0,
    cross_warmup_epochs=2,
)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=4, max_keep_ckpts=2))
custom_hooks = [
    dict(type='NeighbourMiningHook', interval=5, dataloader={{_base_.mining_dataloader}}),
    dict(
        type='KNNEvalHook',
        interval=4,
        topk=(20, 200),
        train_dataloader={{_base_.knn_cfg.train_dataloader}},
        val_dataloader={{_base_.knn_cfg.val_dataloader}},
    ),
]
