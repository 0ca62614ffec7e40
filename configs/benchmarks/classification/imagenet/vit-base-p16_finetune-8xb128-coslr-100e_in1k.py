# ViT-B/16 variant of vit-small-p16_finetune-8xb128-coslr-100e_in1k.py (100-epoch
# protocol; APS reports 84.2 top-1 for ViT-B/16): 768 dims, 12 heads; as in MAE's ViT-B
# recipe, layer decay 0.65 and lr 2e-3 at batch 1024 (MAE: base 5e-4 x 1024/256).
#   bash tools/dist_train.sh THIS_CONFIG 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/aps_vit-b/epoch_300.pth
_base_ = ['./vit-small-p16_finetune-8xb128-coslr-100e_in1k.py']
model = dict(backbone=dict(arch='deit-base'), head=dict(in_channels=768))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.65))
