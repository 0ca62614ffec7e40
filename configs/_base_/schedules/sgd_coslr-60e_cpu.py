# The schedule of the small own-folder recipes (configs/*/*-64px-coslr-60e_folder.py): the
# optimiser of the Fashion-MNIST quality table (./sgd_coslr_fmnist-cpu.py: SGD, momentum 0.9,
# weight decay 5e-4, lr 0.5 at batch 128) over 60 epochs, with a cosine decay per iteration.
# 60 epochs of a few thousand 64 px images take about 20 minutes on 2 cores
# (docs/results/own_data.md); `tools/train.py --epochs N` shortens or lengthens the whole schedule.
_base_ = ['./sgd_coslr_fmnist-cpu.py']
max_epochs = 60
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True,
    )
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
