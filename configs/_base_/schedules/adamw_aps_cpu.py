# The optimiser of the CPU-sized APS recipes (digits, Fashion-MNIST, small own folder): AdamW
# lr 1e-3, betas 0.9/0.999, weight decay 0.05, no AMP (a CPU), at a batch of 128 (--auto-scale-lr
# rescales from it). Each config sets its epochs, warm-up and cosine decay over them.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
)
auto_scale_lr = dict(base_batch_size=128)
