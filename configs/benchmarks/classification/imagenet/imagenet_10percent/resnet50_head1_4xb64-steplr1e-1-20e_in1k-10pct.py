# Semi-supervised fine-tuning with 10% of the ImageNet labels (the mmselfsup 1.x recipe):
# the 1% recipe (../imagenet_1percent/resnet50_head1_4xb64-steplr1e-1-20e_in1k-1pct.py)
# with the 10% subset and wd 1e-4; head lr multiplier 1 here, 10 or 100 in the
# head10/head100 variants (lr sweep 1e-1..1e-3). The subset list comes from
#   python tools/dataset_converters/make_label_subset.py data/imagenet/meta/train.txt \
#       data/imagenet/meta/train_10percent.txt --percent 10 [--simclr-list 10percent.txt]
#   bash tools/dist_train.sh THIS_CONFIG 4 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/csml/epoch_200.pth
_base_ = ['../imagenet_1percent/resnet50_head1_4xb64-steplr1e-1-20e_in1k-1pct.py']
train_dataloader = dict(dataset=dict(ann_file='meta/train_10percent.txt'))
optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))
