# "WCL-MC (reconstructed)": WCL + KNN multi-crop. The paper's multi-crop is not in the released
# code; this is our reconstruction (configs/wcl/README.md, "KNN multi-crop"): 2 x 224 + 6 x 96
# crops; for each image the knn_k=2 small crops closest to its global views (head g, no
# gradient through the ranking) join the instance term as positives; the graph term sees the
# global views only. Otherwise the 200-epoch recipe with the paper's heads.
_base_ = [
    '../_base_/models/wcl_resnet50.py',
    '../_base_/datasets/imagenet_bs128_wcl-mcrop.py',
    '../_base_/schedules/lars_wcl_coslr-200e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    num_small_crops=6,  # must equal the pipeline's small views
    knn_k=2,
)
custom_hooks = [
    # epochs 0-9: MoCo v2 views, epochs 10+: SimCLR views (the released wcl.py)
    dict(type='PipelineSwitchHook', switch_epochs=[10]),
]
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
