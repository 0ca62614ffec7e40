"""Training step speed of every method: the mmengine runner path against a plain PyTorch loop.

For each method (MoCo v2, CsMl, multi-level CsMl, SimCLR, WCL, APS) and two sizes:

- ``fmnist``: the Fashion-MNIST recipe's model and batch (128 images of 32 px);
- ``imagenet``: the ImageNet config's model and per-GPU batch on synthetic 224 px images.
  SimCLR has no ImageNet config in this repository: its row is *built* here, the
  Fashion-MNIST SimCLR model with mmpretrain's SimCLR ImageNet backbone and head (ResNet-50,
  NonLinearNeck 2048-2048-128, per-GPU batch 256 of ``simclr_resnet50_16xb256``) and WCL's
  ImageNet optimiser (LARS) [DESIGN].

it measures, in one process, interleaving the two paths round by round (ABBA order):

- **runner**: ``model.train_step(data, optim_wrapper)`` with the config's optim wrapper built by
  mmengine (``build_optim_wrapper``): what ``Runner.train`` executes per iteration, the data
  preprocessor (and its batch augmentation) included, hooks left out (the logger's and
  runtime-info hooks' per-iteration work is not counted);
- **plain**: the same modules and the same optimiser object driven directly: the data
  preprocessor called as a module, ``model.loss(...)``, ``loss.backward()``,
  ``optimizer.step()`` (a ``GradScaler`` for fp16), no wrapper, no hooks;

and reports the median step time of each, the ratio runner / plain (median over the rounds of
the per-round ratio), images (samples) per second, and the peak memory of one step (CUDA
``max_memory_allocated``; on a CPU the rise of the process's resident high-water mark during
one step after ``malloc_trim``, ``_timing.peak_rss_increase_mib``), in fp32 and in mixed
precision (``MixedPrecisionOptimWrapper`` with ``dtype='auto'``: bf16 where the device supports
it, fp16 with a loss scaler otherwise), channels-last on and off for the ResNets; and CsMl's
step over MoCo v2's at each size.

Every run writes a JSON record per device (``OUT_DIR/speed_runs/<device>.json``; a later run on
the same device replaces the rows it measured and keeps the others) and rebuilds the report
``OUT_DIR/speed.md`` from all records, rows grouped by device, so CPU rows and GPU rows from
another machine live in one file; ``--report-only`` rebuilds the report alone.

Examples::

    python tools/benchmarks/bench_speed.py                      # CPU defaults (see below)
    python tools/benchmarks/bench_speed.py --sizes fmnist --methods mocov2 csml
    python tools/benchmarks/bench_speed.py --batch 32           # ImageNet at batch 32
    python tools/benchmarks/bench_speed.py --report-only        # rebuild docs/results/speed.md
    python tools/benchmarks/bench_speed.py --quick --out-dir /tmp/speed   # seconds

CPU defaults: the ImageNet size at batch 4 (``--batch``), 2 timed steps x 2 rounds per path:
estimated at about 10 minutes on an idle 2-core x86 CPU for fp32 (not verified: the machine it
was written on was shared). bf16 is emulated on CPUs without avx512_bf16/AMX (about 14x slower
than fp32 on an AMD EPYC with AVX2 only): there measure mixed precision at a small batch, e.g.
``--precisions amp --fmnist-batch 16``; runs on one device merge into its record.
"""

import argparse
import contextlib
import copy
import ctypes
import datetime
import json
import math
import os
import os.path as osp
import platform
import re
import shlex
import statistics
import sys
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

SIZES = ('fmnist', 'imagenet')
PRECISIONS = ('fp32', 'amp')

#: method key -> label and config per size (``None``: built, see ``build_cfg``)
METHODS: Dict[str, Dict[str, Optional[str]]] = {
    'mocov2': dict(
        label='MoCo v2',
        fmnist='configs/mocov2/mocov2_resnet18-w16_1xb128-bnneck-coslr-7e_fmnist.py',
        imagenet='configs/mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py',
    ),
    'csml': dict(
        label='CsMl',
        fmnist='configs/csml/csml_resnet18-w16_1xb128-bnneck-coslr-4e_fmnist.py',
        imagenet='configs/csml/csml_resnet50_8xb32-coslr-200e_in1k.py',
    ),
    'csml_multilevel': dict(
        label='CsMl multi-level',
        fmnist='configs/csml/csml_resnet18-w16-multilevel_1xb128-bnneck-coslr-4e_fmnist.py',
        imagenet='configs/csml/csml_resnet50-multilevel_8xb32-coslr-200e_in1k.py',
    ),
    'simclr': dict(
        label='SimCLR',
        fmnist='configs/simclr/simclr_resnet18-w16_1xb128-coslr-7e_fmnist.py',
        imagenet=None,
    ),
    'wcl': dict(
        label='WCL',
        fmnist='configs/wcl/wcl_resnet18-w16_1xb128-coslr-7e_fmnist.py',
        imagenet='configs/wcl/wcl_resnet50_32xb128-lars-coslr-200e_in1k.py',
    ),
    'aps': dict(
        label='APS',
        fmnist='configs/aps/aps_vit-d4w64-p4_1xb128-coslr-2e_fmnist.py',
        imagenet='configs/aps/aps_vit-small-p16_16xb256-amp-coslr-300e_in1k.py',
    ),
}
SIMCLR_IN1K_NOTE = (
    'built: no SimCLR ImageNet config here; ResNet-50 + mmpretrain SimCLR head '
    '2048-2048-128, per-GPU batch 256 (16xb256), WCL ImageNet LARS optimiser'
)
SIMCLR_IN1K_BATCH = 256
WCL_IN1K_CFG = 'configs/wcl/wcl_resnet50_32xb128-lars-coslr-200e_in1k.py'
IMG = dict(fmnist=32, imagenet=224)
#: CPU defaults: ImageNet at a small batch so that the whole run stays near 10 minutes
CPU_IMAGENET_BATCH = 4


# --------------------------------------------------------------------------- machine
def machine_info(device: torch.device) -> Dict[str, Any]:
    """The machine as the report names it: CPU model, cores, torch version, device.

    Args:
        device: The measured device.

    Returns:
        A dict with ``cpu``, ``cores``, ``torch``, ``python``, ``device`` and ``gpu``.
    """
    cpu = platform.processor() or 'unknown CPU'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(device) if device.type == 'cuda' else None
    if device.type == 'cuda':
        bf16 = 'native' if torch.cuda.is_bf16_supported() else 'not supported (fp16 used)'
    else:
        flags = ''
        try:
            with open('/proc/cpuinfo') as f:
                flags = next((ln for ln in f if ln.startswith('flags')), '')
        except OSError:
            pass
        bf16 = (
            'native'
            if re.search(r'\b(avx512_bf16|amx_bf16)\b', flags)
            else 'emulated (no avx512_bf16/AMX)'
        )
    return dict(
        cpu=cpu,
        cores=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        torch=torch.__version__,
        python=platform.python_version(),
        device=device.type,
        gpu=gpu,
        bf16=bf16,
    )


def device_key(info: Dict[str, Any]) -> str:
    """File-name key of a device record, e.g. ``cpu-amd-epyc-2c`` or ``cuda-nvidia-h100``."""
    name = info['gpu'] if info['device'] == 'cuda' else f'{info["cpu"]}-{info["cores"]}c'
    slug = re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')
    return f'{info["device"]}-{slug}'


def _malloc_trim() -> None:
    """Give freed heap memory back to the OS so that a resident-memory rise is real."""
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


# --------------------------------------------------------------------------- building
@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """mmengine's logger at WARNING for the duration (model and optimiser building)."""
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')
    try:
        yield
    finally:
        logger.setLevel(level)


def _largest_divisor(n: int, at_most: int) -> int:
    """The most splits (<= ``at_most``) of ``n`` samples with at least 2 samples in each."""
    return max([d for d in range(1, min(n // 2, at_most) + 1) if n % d == 0] or [1])


def _fit_split_bn(node: Any, batch: int, changed: List[str]) -> None:
    """Lower every ``SplitBN*`` ``num_splits`` to a divisor of ``batch`` that leaves 2 or
    more samples per split (in place)."""
    if isinstance(node, dict):
        if str(node.get('type', '')).startswith('SplitBN') and 'num_splits' in node:
            fit = _largest_divisor(batch, int(node['num_splits']))
            if fit != node['num_splits']:
                changed.append(f'SplitBN num_splits {node["num_splits"]} -> {fit}')
                node['num_splits'] = fit
        for value in node.values():
            _fit_split_bn(value, batch, changed)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _fit_split_bn(value, batch, changed)


def build_cfg(method: str, size: str):
    """The config of ``method`` at ``size`` (SimCLR at ImageNet size is built, see above).

    Args:
        method: A key of :data:`METHODS`.
        size: ``'fmnist'`` or ``'imagenet'``.

    Returns:
        ``(cfg, config_name, note)``: an mmengine ``Config``, the file it came from (or a
        description) and a note for the report ('' when none).
    """
    from csml_mm.utils.stack import load_config

    path = METHODS[method][size]
    if path is not None:
        cfg = load_config(osp.join(ROOT, path))
        if cfg.get('data_preprocessor') is not None:  # as the Runner merges it
            cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
        return cfg, path, ''
    cfg = load_config(osp.join(ROOT, METHODS['simclr']['fmnist']))
    wcl = load_config(osp.join(ROOT, WCL_IN1K_CFG))
    cfg.model.backbone = dict(
        type='ResNet', depth=50, norm_cfg=dict(type='BN'), zero_init_residual=True
    )
    cfg.model.neck = dict(
        type='NonLinearNeck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=128,
        num_layers=2,
        with_avg_pool=True,
    )
    cfg.model.data_preprocessor = copy.deepcopy(
        wcl.model.get('data_preprocessor', wcl.get('data_preprocessor'))
    )
    cfg.optim_wrapper = copy.deepcopy(wcl.optim_wrapper)
    cfg.train_dataloader.batch_size = SIMCLR_IN1K_BATCH
    return cfg, 'SimCLR ResNet-50 (built)', SIMCLR_IN1K_NOTE


def _views_needed(model: torch.nn.Module) -> int:
    """Views per sample that the model's ``loss`` takes."""
    if type(model).__name__ == 'CsMl' and getattr(model, 'use_neighbour', False):
        return 4
    return 2


def make_batch(
    cfg, model: torch.nn.Module, batch: int, img: int, channels_last: bool, seed: int = 0
) -> dict:
    """A collated synthetic batch in the form the config's dataloader gives ``train_step``.

    The ResNet methods get uint8 images, one tensor per packed input (with a
    ``BatchAugDataPreprocessor`` the views are made in the preprocessor, so each packed input
    is one image); APS runs its own view pipeline (crops, sparse and selective patch
    sampling, ``PackInputs``) on synthetic images, which gives its ``patch_ids``.

    Args:
        cfg: The config.
        model: The built model.
        batch: Samples per batch.
        img: Image side in pixels.
        channels_last: Put the image tensors in channels-last memory format.
        seed: Seed of the synthetic pixels.

    Returns:
        ``dict(inputs=[tensor [B, 3, H, W], ...], data_samples=[DataSample, ...])`` on the CPU.
    """
    from mmengine.dataset import default_collate
    from mmpretrain.registry import TRANSFORMS
    from mmpretrain.structures import DataSample

    rng = np.random.default_rng(seed)
    if type(model).__name__ == 'APS':
        pipeline = [
            TRANSFORMS.build(t)
            for t in cfg.train_dataloader.dataset.pipeline
            if t['type'] != 'LoadImageFromFile'
        ]
        items = []
        for i in range(batch):
            res = dict(
                img=rng.integers(0, 256, (img, img, 3), dtype=np.uint8),
                img_shape=(img, img),
                ori_shape=(img, img),
                sample_idx=i,
            )
            for t in pipeline:
                res = t(res)
            items.append(res)
        data = default_collate(items)
    else:
        dp = cfg.model.get('data_preprocessor') or {}
        per_input = (
            int(dp.get('views_per_input', 1)) if dp.get('type') == 'BatchAugDataPreprocessor' else 1
        )
        packed = _views_needed(model) // per_input
        inputs = [
            torch.from_numpy(rng.integers(0, 256, (batch, 3, img, img), dtype=np.uint8))
            for _ in range(packed)
        ]
        data = dict(inputs=inputs, data_samples=[DataSample() for _ in range(batch)])
    if channels_last:
        data['inputs'] = [x.contiguous(memory_format=torch.channels_last) for x in data['inputs']]
    return data


def build_model(
    cfg, batch: int, device: torch.device, channels_last: bool, img: int
) -> Tuple[torch.nn.Module, List[str]]:
    """The config's model on ``device``, as the Runner prepares it outside DDP.

    SyncBN is reverted to BN (mmengine's Runner does the same in one process); a ``SplitBN``
    whose splits do not divide ``batch`` gets the largest divisor that does; a ViT's
    ``img_size`` follows ``img``.

    Args:
        cfg: The config (its ``model`` is changed in place where noted).
        batch: Samples per batch.
        device: Where the model lives.
        channels_last: Convert the model to channels-last memory format.
        img: Image side in pixels.

    Returns:
        The model in training mode and the list of changes made to fit the batch.
    """
    from mmengine.model import revert_sync_batchnorm
    from mmpretrain.registry import MODELS

    changes: List[str] = []
    _fit_split_bn(cfg.model, batch, changes)
    backbone = cfg.model.backbone
    if 'img_size' in backbone and backbone['img_size'] != img:
        changes.append(f'img_size {backbone["img_size"]} -> {img}')
        backbone['img_size'] = img
    if cfg.model.get('queue_len') == 'auto':
        cfg.model.queue_len = 65536
        changes.append('queue_len auto -> 65536')
    if 'SyncBN' in str(cfg.model):
        changes.append('SyncBN -> BN (one process, as the Runner does)')
    model = MODELS.build(cfg.model)
    with _quiet():  # init_weights logs every parameter
        model.init_weights()
    model = revert_sync_batchnorm(model).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    return model, sorted(set(changes))


def build_wrapper(cfg, model: torch.nn.Module, precision: str):
    """The config's optim wrapper built by mmengine, in fp32 or mixed precision.

    Args:
        cfg: The config.
        model: The model whose parameters it optimises.
        precision: ``'fp32'`` (``OptimWrapper``) or ``'amp'`` (``MixedPrecisionOptimWrapper``,
            ``dtype='auto'``).

    Returns:
        The wrapper, its count status initialised as the train loop does.
    """
    from mmengine.optim import build_optim_wrapper

    ow = copy.deepcopy(cfg.optim_wrapper)
    for key in ('dtype', 'loss_scale'):
        ow.pop(key, None)
    ow['type'] = 'OptimWrapper' if precision == 'fp32' else 'MixedPrecisionOptimWrapper'
    if precision == 'amp':
        ow['dtype'] = 'auto'
    with _quiet():  # paramwise_cfg logs every parameter
        wrapper = build_optim_wrapper(model, ow)
    wrapper.initialize_count_status(model, 0, 10**9)
    return wrapper


# --------------------------------------------------------------------------- steps
def _sync(device: torch.device) -> None:
    from _timing import sync

    sync(device)


def runner_step_fn(model, data: dict, wrapper, device: torch.device) -> Callable[[], None]:
    """One iteration as ``Runner.train`` runs it, without hooks."""

    def step() -> None:
        model.train_step(data, optim_wrapper=wrapper)
        _sync(device)

    return step


def plain_step_fn(
    model, data: dict, optimizer, device: torch.device, dtype: Optional[torch.dtype]
) -> Callable[[], None]:
    """One iteration in plain PyTorch: preprocessor, ``loss``, backward, ``optimizer.step()``.

    Args:
        model: The model.
        data: The collated batch.
        optimizer: The optimiser (the wrapper's own object, so both paths share its state).
        device: The device.
        dtype: The autocast dtype, ``None`` for fp32.
    """
    aps = type(model).__name__ == 'APS'
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    def autocast():
        return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)

    def step() -> None:
        with autocast():
            batch = model.data_preprocessor(data, True)
        rounds = model.num_rounds(batch['data_samples']) if aps else 1
        for j in range(rounds):
            with autocast():
                extra = dict(round_idx=j) if aps else {}
                losses = model.loss(batch['inputs'], batch['data_samples'], **extra)
            loss = sum(v for k, v in losses.items() if 'loss' in k)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        _sync(device)

    return step


def peak_memory_mib(step: Callable[[], None], device: torch.device) -> Tuple[float, str]:
    """Peak memory of one ``step()`` (MiB) and how it was measured."""
    if device.type == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        step()
        return torch.cuda.max_memory_allocated() / 2**20, 'CUDA max_memory_allocated'
    from _timing import peak_rss_increase_mib

    _malloc_trim()
    peak, method = peak_rss_increase_mib(step)
    return peak, f'CPU peak-RSS rise during one step ({method}, after malloc_trim)'


def measure_case(
    model, data: dict, wrapper, device: torch.device, steps: int, warmup: int, rounds: int
) -> Dict[str, Any]:
    """Interleaved medians of the runner and plain paths on one model and optimiser.

    Args:
        model: The model.
        data: The collated batch.
        wrapper: The optim wrapper (its optimiser drives the plain path too).
        device: The device.
        steps: Timed steps per path and round.
        warmup: Untimed steps per path before the first round (at least 1: the first step
            of each path measures its peak memory).
        rounds: Rounds; the order alternates runner-plain, plain-runner.

    Returns:
        Median step seconds of both paths, the per-round ratios and their median, peak memory.
    """
    from _timing import median_seconds

    dtype = getattr(wrapper, 'cast_dtype', None)
    runner = runner_step_fn(model, data, wrapper, device)
    plain = plain_step_fn(model, data, wrapper.optimizer, device, dtype)
    # the first step of each path is the memory probe (and a warm-up step)
    peak_runner, kind = peak_memory_mib(runner, device)
    peak_plain, _ = peak_memory_mib(plain, device)
    for _ in range(warmup - 1):
        runner()
        plain()
    t_runner, t_plain = [], []
    for r in range(rounds):
        order = [('runner', runner), ('plain', plain)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            (t_runner if name == 'runner' else t_plain).append(median_seconds(fn, steps, 0))
    ratios = [a / b for a, b in zip(t_runner, t_plain)]
    return dict(
        runner_s=statistics.median(t_runner),
        plain_s=statistics.median(t_plain),
        ratio=statistics.median(ratios),
        ratio_rounds=ratios,
        runner_rounds_s=t_runner,
        plain_rounds_s=t_plain,
        peak_runner_mib=peak_runner,
        peak_plain_mib=peak_plain,
        peak_kind=kind,
    )


def bench_method(
    method: str, size: str, args, device: torch.device, log: Callable[[str], None]
) -> List[Dict[str, Any]]:
    """Every precision and memory format of one method at one size.

    Args:
        method: A key of :data:`METHODS`.
        size: ``'fmnist'`` or ``'imagenet'``.
        args: The parsed command line.
        device: The device.
        log: Where progress lines go.

    Returns:
        One row per (precision, channels-last).
    """
    from mmengine.logging import MessageHub

    rows = []
    cfg0, cfg_name, note = build_cfg(method, size)
    full_batch = int(cfg0.train_dataloader.batch_size)
    batch = {'fmnist': args.fmnist_batch, 'imagenet': args.batch}[size] or full_batch
    img = args.imagenet_img if size == 'imagenet' else IMG['fmnist']
    vit = 'ViT' in cfg0.model.backbone['type']
    formats = [None] if vit else [f == 'on' for f in args.channels_last]
    for cl in formats:
        cfg = copy.deepcopy(cfg0)
        torch.manual_seed(0)
        MessageHub.get_current_instance().update_info('epoch', 100)
        model, changes = build_model(cfg, batch, device, bool(cl), img)
        data = make_batch(cfg, model, batch, img, bool(cl))
        for precision in args.precisions:
            wrapper = build_wrapper(cfg, model, precision)
            dtype = getattr(wrapper, 'cast_dtype', None) if precision == 'amp' else None
            prec = {None: 'fp32', torch.bfloat16: 'bf16', torch.float16: 'fp16'}[dtype]
            t0 = time.perf_counter()
            res = measure_case(model, data, wrapper, device, args.steps, args.warmup, args.rounds)
            notes = [n for n in [note] + changes if n]
            if batch != full_batch:
                notes.append(f'batch {batch} instead of the per-GPU {full_batch}')
            if img != IMG[size]:
                notes.append(f'{img} px instead of {IMG[size]}')
            row = dict(
                size=size,
                method=method,
                label=METHODS[method]['label'],
                config=cfg_name,
                batch=batch,
                full_batch=full_batch,
                img=img,
                precision=prec,
                channels_last=cl,
                steps=args.steps,
                rounds=args.rounds,
                warmup=args.warmup,
                img_per_s_runner=batch / res['runner_s'],
                img_per_s_plain=batch / res['plain_s'],
                notes=notes,
                **res,
            )
            rows.append(row)
            log(
                f'{size:8s} {method:16s} {prec:4s} cl={str(cl):5s} batch {batch:3d}: runner '
                f'{res["runner_s"] * 1e3:8.1f} ms, plain {res["plain_s"] * 1e3:8.1f} ms, '
                f'ratio {res["ratio"]:.3f}, {row["img_per_s_runner"]:7.1f} img/s, peak '
                f'{res["peak_runner_mib"]:.0f} MiB ({time.perf_counter() - t0:.0f} s)'
            )
            del wrapper
        del model, data
    return rows


# --------------------------------------------------------------------------- records
def _row_key(row: Dict[str, Any]) -> Tuple:
    return (
        row['size'],
        row['method'],
        row['precision'] if row['precision'] == 'fp32' else 'amp',
        str(row['channels_last']),
    )


def write_record(
    out_dir: str, info: Dict[str, Any], run: Dict[str, Any], rows: List[Dict[str, Any]]
) -> str:
    """Merge ``rows`` into the device's JSON record (rows of the same key are replaced).

    Args:
        out_dir: The report directory; records live in ``out_dir/speed_runs``.
        info: :func:`machine_info` of the device.
        run: The run's date, command and note.
        rows: The measured rows.

    Returns:
        The record's path.
    """
    os.makedirs(osp.join(out_dir, 'speed_runs'), exist_ok=True)
    path = osp.join(out_dir, 'speed_runs', f'{device_key(info)}.json')
    record = dict(device_key=device_key(info), machine=info, runs=[], rows=[])
    if osp.exists(path):
        with open(path) as f:
            record = json.load(f)
        record['machine'] = info
    run_id = max([r['id'] for r in record['runs']] + [0]) + 1
    run = dict(run, id=run_id)
    new_keys = {_row_key(r) for r in rows}
    record['rows'] = [r for r in record['rows'] if _row_key(r) not in new_keys]
    record['rows'] += [dict(r, run=run_id) for r in rows]
    used = {r['run'] for r in record['rows']}
    record['runs'] = [r for r in record['runs'] if r['id'] in used] + [run]
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(record, f, indent=1, sort_keys=True)
        f.write('\n')
    os.replace(tmp, path)
    return path


def load_records(out_dir: str) -> List[Dict[str, Any]]:
    """Every device record under ``out_dir/speed_runs``, sorted by device key."""
    folder = osp.join(out_dir, 'speed_runs')
    if not osp.isdir(folder):
        return []
    records = []
    for name in sorted(os.listdir(folder)):
        if name.endswith('.json'):
            with open(osp.join(folder, name)) as f:
                records.append(json.load(f))
    return records


# --------------------------------------------------------------------------- report
def _fmt(x: Optional[float], spec: str) -> str:
    return '-' if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def _order(row: Dict[str, Any]) -> Tuple:
    return (
        list(METHODS).index(row['method']) if row['method'] in METHODS else 99,
        row['precision'] != 'fp32',
        str(row['channels_last']),
    )


def csml_over_moco(rows: List[Dict[str, Any]]) -> List[Tuple[str, str, float, float]]:
    """CsMl's (and multi-level CsMl's) runner step over MoCo v2's, per precision and format.

    Returns:
        ``(method label, variant, ratio, plain-path ratio)`` tuples.
    """
    out = []
    moco = {(r['precision'], str(r['channels_last'])): r for r in rows if r['method'] == 'mocov2'}
    for method in ('csml', 'csml_multilevel'):
        for r in sorted((r for r in rows if r['method'] == method), key=_order):
            m = moco.get((r['precision'], str(r['channels_last'])))
            if m is not None and m['batch'] == r['batch'] and m['img'] == r['img']:
                variant = f'{r["precision"]}, channels-last {"on" if r["channels_last"] else "off"}'
                out.append(
                    (
                        r['label'],
                        variant,
                        r['runner_s'] / m['runner_s'],
                        r['plain_s'] / m['plain_s'],
                    )
                )
    return out


def render_report(records: List[Dict[str, Any]]) -> str:
    """The markdown report of all device records (deterministic: only the records' content).

    Args:
        records: :func:`load_records` output.

    Returns:
        The markdown text.
    """
    lines = [
        '# Training step speed: the runner path against a plain PyTorch loop',
        '',
        'Generated by `tools/benchmarks/bench_speed.py` (`make bench-speed`) from the JSON '
        'records in `speed_runs/` (one per device; `--report-only` rebuilds this file). Per '
        'method and size, on one model and one optimiser in one process, two paths are timed '
        'round by round, interleaved (ABBA):',
        '',
        "- **runner**: `model.train_step(data, optim_wrapper)` with the config's optim "
        'wrapper built by mmengine: what `Runner.train` runs per iteration, data preprocessor '
        '(batch augmentation) included, **hooks left out**;',
        '- **plain**: the same data preprocessor called as a module, `model.loss(...)`, '
        '`backward()`, `optimizer.step()` on the same optimiser object (a `GradScaler` for '
        'fp16), no wrapper, no hooks.',
        '',
        'Times are medians (ms per step); *runner/plain* is the median over rounds of the '
        'per-round ratio, so machine noise hits both paths alike; img/s counts samples (a '
        "sample's 2 or 4 views are one image); *amp* is `MixedPrecisionOptimWrapper` with "
        "`dtype='auto'` (bf16 where the device supports it, fp16 with a loss scaler "
        'otherwise); *cl* is channels-last (ResNets only). Sizes: **fmnist** is the '
        "Fashion-MNIST recipe (32 px, batch 128), **imagenet** the ImageNet config's model "
        'and per-GPU batch on synthetic 224 px images (rows note a smaller batch).',
        '',
    ]
    if not records:
        lines += ['No records yet: run `make bench-speed`.', '']
    for rec in records:
        m = rec['machine']
        name = m['gpu'] if m['device'] == 'cuda' else f'{m["cpu"]} ({m["cores"]} cores)'
        lines += [
            f'## {m["device"].upper()}: {name}',
            '',
            f'- machine: CPU {m["cpu"]}, {m["cores"]} cores (torch threads '
            f'{m["torch_threads"]}), device {m["device"]}'
            + (f' ({m["gpu"]})' if m['gpu'] else '')
            + f', torch {m["torch"]}, Python {m["python"]}, bf16 {m["bf16"]}',
        ]
        for run in rec['runs']:
            command = run['command']
            if run.get('note'):
                command = command.replace(shlex.quote(run['note']), '"$NOTE"')
            lines.append(
                f'- run {run["id"]}: {run["date"]}, `{command}`'
                + (f'; NOTE: {run["note"]}' if run.get('note') else '')
            )
        lines.append('')
        for size in SIZES:
            rows = sorted((r for r in rec['rows'] if r['size'] == size), key=_order)
            if not rows:
                continue
            kinds = sorted({r['peak_kind'] for r in rows})
            lines += [
                f'### {size}',
                '',
                '| method | config | batch | px | precision | cl | runner ms | plain ms '
                '| runner/plain | per round (min-max) | img/s runner | img/s plain '
                '| peak MiB | notes |',
                '|---|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
            ]
            for r in rows:
                cl = '-' if r['channels_last'] is None else ('on' if r['channels_last'] else 'off')
                cfg = osp.basename(r['config'])
                lines.append(
                    f'| {r["label"]} | `{cfg}` | {r["batch"]} | {r["img"]} | {r["precision"]} '
                    f'| {cl} | {_fmt(r["runner_s"] * 1e3, ".1f")} '
                    f'| {_fmt(r["plain_s"] * 1e3, ".1f")} | {_fmt(r["ratio"], ".3f")} '
                    f'| {min(r["ratio_rounds"]):.2f}-{max(r["ratio_rounds"]):.2f} '
                    f'| {_fmt(r["img_per_s_runner"], ".1f")} | {_fmt(r["img_per_s_plain"], ".1f")} '
                    f'| {_fmt(r["peak_runner_mib"], ".0f")} | {"; ".join(r["notes"])} |'
                )
            lines += ['', f'Peak memory: {", ".join(kinds)} (runner path).']
            lines += [
                '',
                'Median runner/plain over these rows: '
                f'{statistics.median(r["ratio"] for r in rows):.3f} '
                f'({len(rows)} rows; per row from {min(r["ratio"] for r in rows):.3f} to '
                f'{max(r["ratio"] for r in rows):.3f}).',
            ]
            ratios = csml_over_moco(rows)
            if ratios:
                lines += [
                    '',
                    'CsMl step over MoCo v2 step (same batch and size; runner path, '
                    'plain path in brackets; measured in separate blocks, not '
                    'interleaved):',
                    '',
                ]
                lines += [
                    f'- {label}, {variant}: {ratio:.2f} ({plain:.2f})'
                    for label, variant, ratio, plain in ratios
                ]
            lines.append('')
    return '\n'.join(lines).rstrip('\n') + '\n'


def write_report(out_dir: str) -> str:
    """Rebuild ``out_dir/speed.md`` from the records; returns its path."""
    path = osp.join(out_dir, 'speed.md')
    text = render_report(load_records(out_dir))
    os.makedirs(out_dir, exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    return path


# --------------------------------------------------------------------------- main
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--methods', nargs='+', choices=list(METHODS), default=list(METHODS))
    p.add_argument('--sizes', nargs='+', choices=SIZES, default=list(SIZES))
    p.add_argument('--precisions', nargs='+', choices=PRECISIONS, default=list(PRECISIONS))
    p.add_argument(
        '--channels-last',
        nargs='+',
        choices=('off', 'on'),
        default=['off', 'on'],
        help='memory formats of the ResNets (ViTs: contiguous only)',
    )
    p.add_argument(
        '--batch',
        type=int,
        default=None,
        help='ImageNet-size batch (default: the per-GPU batch of the config on a '
        f'GPU, {CPU_IMAGENET_BATCH} on a CPU)',
    )
    p.add_argument(
        '--fmnist-batch',
        type=int,
        default=None,
        help="fmnist-size batch (default: the recipe's 128)",
    )
    p.add_argument(
        '--imagenet-img',
        type=int,
        default=IMG['imagenet'],
        help='image side of the ImageNet size (224)',
    )
    p.add_argument(
        '--steps',
        type=int,
        default=None,
        help='timed steps per path and round (default 2 on a CPU, 10 on a GPU)',
    )
    p.add_argument(
        '--rounds',
        type=int,
        default=None,
        help='interleaved rounds (default 2 on a CPU, 4 on a GPU)',
    )
    p.add_argument(
        '--warmup',
        type=int,
        default=None,
        help='untimed steps per path first (default 1 on a CPU, 3 on a GPU)',
    )
    p.add_argument(
        '--threads',
        type=int,
        default=None,
        help="torch.set_num_threads (default: torch's own choice); 1 steadies the "
        'ratios on a CPU shared with other jobs',
    )
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--out-dir', default=osp.join(ROOT, 'docs', 'results'))
    p.add_argument('--note', default='', help='a note kept with the run (e.g. machine load)')
    p.add_argument(
        '--quick',
        action='store_true',
        help='tiny batch, image and step counts, both sizes: seconds (for tests)',
    )
    p.add_argument(
        '--report-only',
        action='store_true',
        help='rebuild OUT_DIR/speed.md from the JSON records, measure nothing',
    )
    args = p.parse_args(argv)
    gpu = args.device.startswith('cuda')
    if args.quick:
        args.batch = args.batch or 4
        args.fmnist_batch = args.fmnist_batch or 8
        args.imagenet_img = 64 if args.imagenet_img == IMG['imagenet'] else args.imagenet_img
        args.steps, args.rounds, args.warmup = args.steps or 1, args.rounds or 2, 1
    if args.batch is None and not gpu:
        args.batch = CPU_IMAGENET_BATCH
    args.steps = args.steps or (10 if gpu else 2)
    args.rounds = args.rounds or (4 if gpu else 2)
    args.warmup = args.warmup if args.warmup is not None else (3 if gpu else 1)
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Measure (unless ``--report-only``), write the record and the report.

    Args:
        argv: The command line without the program name (``sys.argv[1:]`` when ``None``).

    Returns:
        ``dict(report=path, record=path or None, rows=[...])``.
    """
    args = parse_args(argv)
    if args.report_only:
        path = write_report(args.out_dir)
        print(f'report: {path}')
        return dict(report=path, record=None, rows=[])
    from mmengine.registry import init_default_scope

    import csml_mm  # noqa: F401

    init_default_scope('mmpretrain')
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    info = machine_info(device)
    command = 'python tools/benchmarks/bench_speed.py ' + ' '.join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    print(
        f'device {device} ({info["gpu"] or info["cpu"]}), {info["cores"]} cores, torch '
        f'{info["torch"]}; sizes {args.sizes}, ImageNet batch '
        f'{args.batch or "per-GPU"}, steps {args.steps} x rounds {args.rounds}',
        flush=True,
    )
    rows: List[Dict[str, Any]] = []
    t0 = time.perf_counter()
    for size in args.sizes:
        for method in args.methods:
            rows += bench_method(method, size, args, device, lambda s: print(s, flush=True))
    for size in args.sizes:
        for label, variant, ratio, plain in csml_over_moco([r for r in rows if r['size'] == size]):
            print(f'{size}: {label} / MoCo v2 ({variant}): {ratio:.2f} (plain {plain:.2f})')
    run = dict(
        date=datetime.datetime.now().strftime('%Y-%m-%d %H:%M'),
        command=command,
        note=args.note,
        seconds=round(time.perf_counter() - t0, 1),
    )
    record = write_record(args.out_dir, info, run, rows)
    report = write_report(args.out_dir)
    print(f'record: {record}\nreport: {report}')
    return dict(report=report, record=record, rows=rows)


if __name__ == '__main__':
    main()
