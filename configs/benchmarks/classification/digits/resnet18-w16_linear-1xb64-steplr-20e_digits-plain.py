# The digits linear probe on the plain embedded Digits (scikit-learn's 8x8 digits at
# 32 px, no background photo; docs/data.md): an easy sanity check of a pretrained
# encoder next to the harder DigitsComposite probe.
_base_ = ['./resnet18-w16_linear-1xb64-steplr-20e_digits.py']
dataset_type = 'Digits'
train_dataloader = dict(
    dataset=dict(
        _delete_=True, type=dataset_type, split='train', pipeline={{_base_.train_pipeline}}
    )
)
val_dataloader = dict(
    dataset=dict(_delete_=True, type=dataset_type, split='val', pipeline={{_base_.test_pipeline}})
)
test_dataloader = val_dataloader
