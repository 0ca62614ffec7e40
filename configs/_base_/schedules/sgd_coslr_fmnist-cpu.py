# The optimiser of the Fashion-MNIST quality table (docs/results/quality.md): SGD with momentum
# 0.9, weight decay 5e-4, lr 0.5 at batch 128. Each config sets `max_epochs` (the same for a
# method and its baseline: the same iterations and images seen) and a cosine decay per
# iteration over them.
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='SGD', lr=0.5, weight_decay=5e-4, momentum=0.9)
)
auto_scale_lr = dict(base_batch_size=128)
