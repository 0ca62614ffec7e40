# The plain variant of the embedded data: scikit-learn's digits as 32x32 RGB.
# Raw-pixel kNN is already ~98% here (docs/data.md); use it for smoke tests.
_base_ = ['./digits_bs64_mocov2.py']
dataset_type = 'Digits'
train_dataloader = dict(
    dataset=dict(
        _delete_=True, type=dataset_type, split='train', pipeline={{_base_.train_pipeline}}
    )
)
knn_cfg = dict(
    train_dataloader=dict(
        dataset=dict(
            _delete_=True, type=dataset_type, split='train', pipeline={{_base_.knn_pipeline}}
        )
    ),
    val_dataloader=dict(
        dataset=dict(
            _delete_=True, type=dataset_type, split='val', pipeline={{_base_.knn_pipeline}}
        )
    ),
)
