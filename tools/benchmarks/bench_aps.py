"""APS vs the full-view two-view baseline, side by side in one process.

* Step time: one APS optimiser step (one sampling round: view 1 and view 2 each
  encode ``ratio`` of the patches) against one step of the same model encoding
  all tokens of both views (the full-view two-view baseline). Same ViT,
  projector, predictor, loss, AdamW, batch and images; the two are timed
  alternately and the medians compared. Target: ratio <= 0.40.
* Peak memory of one step. CUDA: ``max_memory_allocated`` during a step after
  warm-up, in this process (total, i.e. with weights, gradients and AdamW state,
  and the part above what was allocated before the step). CPU: each case runs its
  first step in a fresh Python process (``subprocess.run``, no fork); the figure
  is the increase of the process's peak resident memory during that step (the
  peak counter is reset just before it through ``/proc/self/clear_refs``), so it
  includes gradients and the AdamW state created in that step. Target: ratio <= 0.5.
* Sampler: SparsePatchSampling + SelectivePatchSampling transforms per image pair
  (random crop boxes and flips, CIFAR's 16 x 16 grid and ImageNet's 14 x 14).
  Target: <= 0.5 ms.

The last line of output is one JSON object with all figures.

Examples:
    python tools/benchmarks/bench_aps.py                          # ViT-T/2, 32 px, CPU sizes
    python tools/benchmarks/bench_aps.py --batch 256 --amp        # on a GPU
    python tools/benchmarks/bench_aps.py --arch deit-small --img 224 --patch 16 --batch 64
"""

import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.optim import AmpOptimWrapper, OptimWrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402

import csml_mm  # noqa: E402,F401
from csml_mm.datasets.transforms import (
    SelectivePatchSampling,  # noqa: E402
    SparsePatchSampling,
    sparse_patch_ids,
)

DIMS = {'deit-tiny': 192, 'deit-small': 384, 'deit-base': 768}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', default='deit-tiny', choices=sorted(DIMS))
    p.add_argument('--img', type=int, default=32)
    p.add_argument('--patch', type=int, default=2)
    p.add_argument(
        '--batch', type=int, default=None, help='per-step batch (default: 256 on CUDA, 8 on CPU)'
    )
    p.add_argument('--ratio', type=float, default=0.25)
    p.add_argument('--steps', type=int, default=None, help='timed steps per case')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--amp', action='store_true', help='AmpOptimWrapper (CUDA only)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--sampler-pairs', type=int, default=2000)
    p.add_argument('--skip-memory', action='store_true')
    p.add_argument('--memory-case', choices=['aps', 'full'], help=argparse.SUPPRESS)
    return p.parse_args(argv)


def build_model(args, device):
    dim = DIMS[args.arch]
    mlp = dict(
        type='NonLinearNeck',
        hid_channels=512,
        out_channels=128,
        num_layers=3,
        with_bias=False,
        with_last_bn=True,
        with_last_bn_affine=False,
        with_avg_pool=False,
        norm_cfg=dict(type='BN1d'),
    )
    cfg = dict(
        type='APS',
        backbone=dict(
            type='TokenSubsetViT',
            arch=args.arch,
            img_size=args.img,
            patch_size=args.patch,
            qkv_bias=False,
            norm_cfg=dict(type='LN', eps=1e-5),
        ),
        neck=dict(mlp, in_channels=dim),
        predictor=dict(mlp, in_channels=128),
        head=dict(type='MultiPositiveContrastiveHead', temperature=0.1),
        data_preprocessor=dict(
            type='SelfSupDataPreprocessor', mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0], to_rgb=False
        ),
    )
    model = MODELS.build(cfg)
    model.init_weights()
    model.to(device)
    model.train()
    return model


def make_batch(args, case, seed=0):
    """Two views of random images; per sample one round of ids (all ids for 'full')."""
    rng = np.random.default_rng(seed)
    g = (args.img // args.patch) ** 2
    views = [
        torch.from_numpy(rng.integers(0, 255, (args.batch, 3, args.img, args.img), dtype=np.uint8))
        for _ in range(2)
    ]
    samples = []
    for _ in range(args.batch):
        ds = DataSample()
        if case == 'full':
            ids = [np.arange(g)[None]] * 2
        else:
            ids = [sparse_patch_ids(g, args.ratio, 1, rng) for _ in range(2)]
        ds.set_field(ids, 'patch_ids')
        samples.append(ds)
    return dict(inputs=views, data_samples=samples)


def make_optim(model, args):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
    return AmpOptimWrapper(optimizer=opt) if args.amp else OptimWrapper(optimizer=opt)


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


def timed_step(model, optim, data, device):
    sync(device)
    start = time.perf_counter()
    model.train_step(data, optim)
    sync(device)
    return time.perf_counter() - start


def _hwm_kib():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM'):
            return int(line.split()[1])
    raise RuntimeError('no VmHWM in /proc/self/status')


def memory_case_child(args):
    """Fresh process: peak resident-memory increase of one first step (KiB)."""
    device = torch.device('cpu')
    model = build_model(args, device)
    optim = make_optim(model, args)
    data = make_batch(args, args.memory_case)
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # reset the peak RSS counter to the current RSS
        before = _hwm_kib()
        model.train_step(data, optim)
        peak = _hwm_kib() - before
        method = 'VmHWM after clear_refs'
    except OSError:
        import resource

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        model.train_step(data, optim)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        method = 'ru_maxrss'
    print(json.dumps(dict(peak_kib=peak, method=method)))


def cpu_memory(args, case):
    cmd = [
        sys.executable,
        osp.abspath(__file__),
        '--memory-case',
        case,
        '--arch',
        args.arch,
        '--img',
        str(args.img),
        '--patch',
        str(args.patch),
        '--batch',
        str(args.batch),
        '--ratio',
        str(args.ratio),
        '--device',
        'cpu',
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT)
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cuda_memory(model, optim, data, device):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    model.train_step(data, optim)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated(device)
    return peak, peak - before


def bench_sampler(pairs, grid_px, patch, seed=0):
    """Both sampling transforms on one image pair, per pair (ms)."""
    rs = np.random.RandomState(seed)
    img = np.zeros((grid_px, grid_px, 3), np.uint8)
    sparse = SparsePatchSampling(patch_size=patch, ratio=0.25, rounds=4)
    selective = SelectivePatchSampling(patch_size=patch, power=3.0)
    items = []
    for _ in range(pairs):
        boxes = []
        for _ in range(2):
            h, w = rs.uniform(0.39, 1.0, size=2) * grid_px
            boxes.append(np.array([rs.uniform(0, grid_px - h), rs.uniform(0, grid_px - w), h, w]))
        flips = [bool(f) for f in rs.randint(0, 2, size=2)]
        items.append(
            dict(
                img=[img, img],
                crop_box=boxes,
                flip=flips,
                flip_direction=['horizontal' if f else None for f in flips],
            )
        )
    start = time.perf_counter()
    for res in items:
        selective(sparse(res))
    return (time.perf_counter() - start) / pairs * 1e3


def main():
    args = parse_args()
    init_default_scope('mmpretrain')
    device = torch.device(args.device)
    if args.batch is None:
        args.batch = 256 if device.type == 'cuda' else 8
    if args.amp and device.type != 'cuda':
        raise SystemExit('--amp needs CUDA (mmengine AmpOptimWrapper).')
    if args.memory_case:
        memory_case_child(args)
        return
    steps = args.steps or (20 if device.type == 'cuda' else 2)
    g = (args.img // args.patch) ** 2
    n = int(g * args.ratio + 1e-9)
    print(
        f'device={device} arch={args.arch} img={args.img} patch={args.patch} batch={args.batch} '
        f'amp={args.amp} tokens per view: APS {n} + cls vs full {g} + cls'
    )

    model = build_model(args, device)
    optim = make_optim(model, args)
    data = {case: make_batch(args, case) for case in ('aps', 'full')}
    for _ in range(args.warmup):
        for case in ('aps', 'full'):
            timed_step(model, optim, data[case], device)
    times = {'aps': [], 'full': []}
    for _ in range(steps):
        for case in ('aps', 'full'):
            times[case].append(timed_step(model, optim, data[case], device))
    t_aps, t_full = float(np.median(times['aps'])), float(np.median(times['full']))
    result = dict(
        device=str(device),
        arch=args.arch,
        img=args.img,
        patch=args.patch,
        batch=args.batch,
        ratio=args.ratio,
        amp=args.amp,
        steps=steps,
        step_s_aps=t_aps,
        step_s_full=t_full,
        step_time_ratio=t_aps / t_full,
    )
    print(
        f'step time: APS {t_aps * 1e3:.1f} ms, full view {t_full * 1e3:.1f} ms, '
        f'ratio {t_aps / t_full:.3f} (target <= 0.40)'
    )

    if not args.skip_memory:
        if device.type == 'cuda':
            mem = {case: cuda_memory(model, optim, data[case], device) for case in data}
            result.update(
                memory_kind='cuda max_memory_allocated during a step',
                peak_mib_aps=mem['aps'][0] / 2**20,
                peak_mib_full=mem['full'][0] / 2**20,
                peak_above_start_mib_aps=mem['aps'][1] / 2**20,
                peak_above_start_mib_full=mem['full'][1] / 2**20,
                memory_ratio=mem['aps'][0] / mem['full'][0],
                memory_ratio_above_start=mem['aps'][1] / mem['full'][1],
            )
        else:
            mem = {case: cpu_memory(args, case) for case in data}
            result.update(
                memory_kind=f'CPU peak RSS increase of a first step in a fresh '
                f'process ({mem["aps"]["method"]})',
                peak_mib_aps=mem['aps']['peak_kib'] / 1024,
                peak_mib_full=mem['full']['peak_kib'] / 1024,
                memory_ratio=mem['aps']['peak_kib'] / mem['full']['peak_kib'],
            )
        print(
            f'peak memory: APS {result["peak_mib_aps"]:.1f} MiB, full view '
            f'{result["peak_mib_full"]:.1f} MiB, ratio {result["memory_ratio"]:.3f} '
            f'(target <= 0.5; {result["memory_kind"]})'
        )

    ms16 = bench_sampler(args.sampler_pairs, 32, 2)
    ms14 = bench_sampler(args.sampler_pairs // 2, 224, 16)
    result.update(sampler_ms_per_pair_16x16=ms16, sampler_ms_per_pair_14x14=ms14)
    print(
        f'sampler (sparse + selective, 4 rounds of 25%): {ms16:.3f} ms per image pair '
        f'(16x16 grid), {ms14:.3f} ms (14x14 grid) (target <= 0.5 ms)'
    )
    print(json.dumps(result))


if __name__ == '__main__':
    main()
