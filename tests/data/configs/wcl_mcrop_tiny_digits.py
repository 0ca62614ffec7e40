# A seconds-long WCL run with KNN multi-crop (2 global 32 px + 4 small 16 px views, 2 kept per
# image) on 64 embedded digits; the global views switch from MoCo v2 to SimCLR at epoch 1 (the
# small crops keep the MoCo v2 jitter in both stages: a test config).
_base_ = ['./wcl_tiny_digits.py']
small_crop = dict(type='RandomResizedCrop', scale=16, crop_ratio_range=(0.05, 0.14),
                  backend='pillow')
small_jitter = [
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                          saturation=0.4, hue=0.1)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
]
model = dict(num_small_crops=4, knn_k=2)
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='PipelineSwitch', pipelines=[
        [dict(type='MultiView', num_views=[2, 4],
              transforms=[{{_base_.mocov2_view}}, [small_crop] + small_jitter])],
        [dict(type='MultiView', num_views=[2, 4],
              transforms=[{{_base_.simclr_view}}, [small_crop] + small_jitter])],
    ]),
    dict(type='PackInputs'),
]))
