"""Sizes that follow the run: the schedule's length, the data-loader workers, MoCo's queue.

Three things a user of a small folder otherwise edits by hand, each done by
``tools/train.py`` and logged with its reason:

- :func:`epoch_options`: ``--epochs N`` shortens (or lengthens) a run *and its schedule*:
  every epoch-based scheduler that ends at the config's ``max_epochs`` is made to end at
  ``N`` (a cosine's ``T_max`` follows), because mmengine leaves the learning rate where a
  scheduler ended and a bare ``train_cfg.max_epochs`` would cut the cosine short (or train
  past its end at a learning rate near 0). Warm-ups that end earlier keep their length.
- :func:`cap_workers`: no data loader gets more worker processes than the cores this process
  may use (8 workers on 2 cores cost memory and time, and gain nothing).
- :func:`auto_queue_len`: ``model.queue_len='auto'`` (the small ``_folder`` recipes) becomes
  ``min(65536, N // 16)`` rounded down to a multiple of the total batch (at least one batch),
  the ratio of MoCo's ImageNet setting (65,536 keys for 1.28 M images, about 1/20) and of our
  Fashion-MNIST recipes (4,096 for 60,000, about 1/15): a queue much longer than that holds
  stale keys of the same images.
"""

import copy
import os
from typing import List, Optional, Tuple

from mmengine.config import Config

from .config_check import find_in_config

__all__ = [
    'epoch_options',
    'epoch_warnings',
    'cap_workers',
    'auto_queue_len',
    'resolve_auto_queue_for_eval',
    'available_cores',
]

#: MoCo's queue on ImageNet; the largest ``'auto'`` gives
MAX_QUEUE = 65536
#: images per queued key that ``'auto'`` aims at
IMAGES_PER_KEY = 16


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def epoch_options(cfg: Config, epochs: int) -> List[str]:
    """``--cfg-options`` strings that run ``cfg`` for ``epochs`` epochs, schedule stretched."""
    if epochs < 1:
        raise ValueError(f'--epochs must be at least 1, got {epochs}.')
    old = cfg.get('train_cfg', {}).get('max_epochs')
    if old is None:
        raise ValueError(
            '--epochs needs an epoch-based config (train_cfg.max_epochs); this '
            'config counts iterations: set train_cfg.max_iters instead.'
        )
    opts = [f'train_cfg.max_epochs={epochs}']
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    for i, sched in enumerate(schedulers):
        if not sched.get('by_epoch', True) or sched.get('end') != old:
            continue
        # a scheduler that would start at or after the new end never runs; it keeps a valid
        # one-epoch span (mmengine refuses end <= begin)
        end = max(epochs, sched.get('begin', 0) + 1)
        opts.append(f'param_scheduler.{i}.end={end}')
        if 'T_max' in sched:
            opts.append(f'param_scheduler.{i}.T_max={end - sched.get("begin", 0)}')
    return opts


def epoch_warnings(cfg: Config, epochs: int) -> List[str]:
    """Epoch-valued settings that keep their length under ``--epochs`` and would now never
    take effect: CsMl's cross-sample warm-up, a ``PipelineSwitchHook``'s switch epochs."""
    out = []
    warmup = (cfg.get('model') or {}).get('cross_warmup_epochs')
    if isinstance(warmup, int) and warmup >= epochs:
        out.append(
            f'model.cross_warmup_epochs={warmup} is not below --epochs {epochs}: the '
            'cross-sample (neighbour and CutMix) losses would never start; set '
            '--cfg-options model.cross_warmup_epochs=<fewer epochs>.'
        )
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        if str(hook.get('type', '')).endswith('PipelineSwitchHook'):
            late = [e for e in hook.get('switch_epochs', []) if e >= epochs]
            if late:
                out.append(
                    f'custom_hooks.{i} (PipelineSwitchHook) switches at epoch(s) {late}, '
                    f'not before the end of the {epochs}-epoch run: set its '
                    'switch_epochs.'
                )
    return out


def cap_workers(cfg: Config, cores: Optional[int] = None) -> List[str]:
    """Lower every loader's ``num_workers`` to ``cores`` (default: :func:`available_cores`);
    returns one message per change. Loaders in hooks (kNN monitor, mining) count too."""
    cores = available_cores() if cores is None else cores
    changes = []
    for key in list(cfg.keys()):
        if key.startswith('_'):
            continue
        value = cfg[key]
        if not isinstance(value, (dict, list, tuple)):
            continue
        for path, loader in find_in_config(
            value, lambda d: 'dataset' in d and 'num_workers' in d, key
        ):
            workers = loader.get('num_workers')
            if isinstance(workers, int) and workers > cores:
                loader['num_workers'] = cores
                changes.append(f'{path}.num_workers {workers} -> {cores}')
    return changes


def auto_queue_len(num_images: int, total_batch: int) -> Tuple[int, str]:
    """The ``'auto'`` queue length for ``num_images`` training images, and why."""
    if num_images < 1 or total_batch < 1:
        raise ValueError(
            f'auto queue length: need images and a batch, got {num_images} '
            f'images and a total batch of {total_batch}.'
        )
    target = min(MAX_QUEUE, num_images // IMAGES_PER_KEY)
    queue = max(total_batch, target // total_batch * total_batch)
    why = (
        f'model.queue_len=auto -> {queue}: min({MAX_QUEUE}, {num_images} images // '
        f'{IMAGES_PER_KEY}) rounded down to a multiple of the total batch {total_batch}'
        + (' (at least one batch)' if queue > target else '')
    )
    return queue, why


def uses_auto_queue(cfg: Config) -> bool:
    model = cfg.get('model', {})
    return isinstance(model, dict) and model.get('queue_len') == 'auto'


def resolve_auto_queue(cfg: Config, world_size: int = 1) -> Optional[str]:
    """Replace ``model.queue_len='auto'`` by its value for the training set; the reason, or
    ``None`` when the config sets a number. Builds the training dataset once to count it."""
    if not uses_auto_queue(cfg):
        return None
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS

    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    dataset = DATASETS.build(copy.deepcopy(cfg.train_dataloader.dataset))
    total = int(cfg.train_dataloader.batch_size) * world_size
    queue, why = auto_queue_len(len(dataset), total)
    cfg.model.queue_len = queue
    return why


def resolve_auto_queue_for_eval(cfg: Config, checkpoint: Optional[str] = None) -> Optional[str]:
    """``model.queue_len='auto'`` for a tool that builds the model only to evaluate it.

    The queue takes no part in evaluation, but its buffer must have the shape of the
    checkpoint's to load it: the length is read from the checkpoint's ``queue`` buffer
    (``(feat_dim, queue_len)``); without a checkpoint (random initialisation) any length
    serves and one batch is used. Needs no training data. Returns the reason, or ``None``.
    """
    if not uses_auto_queue(cfg):
        return None
    queue = None
    if checkpoint is not None:
        from .checkpoint import safe_torch_load

        ckpt = safe_torch_load(checkpoint, map_location='cpu')
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else {}
        for key, value in state.items():
            # MoCo: (feat_dim, queue_len); CsMl: (levels, feat_dim, queue_len)
            if (key == 'queue' or key.endswith('.queue')) and getattr(value, 'ndim', 0) >= 2:
                queue = int(value.shape[-1])
                break
        if queue is None:
            raise ValueError(
                f'model.queue_len is "auto" and {checkpoint} holds no queue '
                'buffer to take its length from; set model.queue_len to the '
                'length the model was trained with (--cfg-options '
                'model.queue_len=N).'
            )
        why = f"model.queue_len=auto -> {queue}: the length of the checkpoint's queue"
    else:
        queue = int(cfg.train_dataloader.batch_size)
        why = (
            f'model.queue_len=auto -> {queue} (one batch): no checkpoint, and the queue '
            'takes no part in evaluation'
        )
    cfg.model.queue_len = queue
    return why
