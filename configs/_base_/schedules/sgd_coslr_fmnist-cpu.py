# The CPU budget of the Fashion-MNIST quality table (docs/results/quality.md): SGD with
# momentum, cosine decay per iteration, a fixed number of epochs over the 60,000 train
# images at batch 128 (468 iterations per epoch). Every method of one comparison runs the
# same epochs, so the same iterations and images seen.
max_epochs = 4
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.5, weight_decay=5e-4, momentum=0.9))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0,
                        end=max_epochs, convert_to_iter_based=True)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=128)
