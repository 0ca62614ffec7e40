"""WCL vs mmpretrain's SimCLR side by side in one process; device connected components vs scipy.

1. Training step time (forward + backward + SGD step) of WCL and of mmpretrain's SimCLR with
   the same backbone, the same projection head architecture (3-layer MLP with bias), batch and
   image size; WCL adds the second head, the 1-NN graph and the SupCon term. Prints the ratio
   WCL / SimCLR (target <= 1.15) and peak memory: on CUDA the max allocated memory; on the
   CPU the rise of peak resident memory during one first training step, each model in a
   fresh Python process (``subprocess.run``; the in-process RSS peak is monotone).
2. ``connected_component_labels`` (neighbour search + components, all on the device) against
   the released code's route (the same similarity/argmax on the device, copy of the neighbour
   indices to the host, ``scipy.sparse.csgraph.connected_components``) for B = 1024, 4096, 8192
   (128-d features); also the component step alone (ours on the given edges vs scipy on them).

The last line of output is one JSON object with all figures.

Examples:
    python tools/benchmarks/bench_wcl.py                                  # CPU-sized defaults
    python tools/benchmarks/bench_wcl.py --depth 50 --img 224 --batch 128 --amp   # one GPU
"""

import argparse
import json
import os.path as osp
import subprocess
import sys
import time

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from _timing import peak_rss_increase_mib, sync, time_steps  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402
from scipy.sparse import coo_matrix  # noqa: E402
from scipy.sparse.csgraph import connected_components  # noqa: E402

import csml_mm  # noqa: E402,F401
from csml_mm.models.utils.connected_components import (  # noqa: E402
    connected_component_labels,
    connected_components_from_edges,
    knn_graph_neighbours,
)


def build(kind, depth, hid, out, device):
    chans = 2048 if depth >= 50 else 512
    backbone = dict(type='ResNet', depth=depth, norm_cfg=dict(type='BN'), zero_init_residual=False)
    neck = dict(
        type='NonLinearNeck',
        in_channels=chans,
        hid_channels=hid,
        out_channels=out,
        num_layers=3,
        with_bias=True,
        with_last_bias=True,
        with_last_bn=False,
        norm_cfg=dict(type='BN1d'),
    )
    if kind == 'simclr':
        cfg = dict(
            type='SimCLR',
            backbone=backbone,
            neck=neck,
            head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.1),
        )
    else:
        cfg = dict(
            type='WCL',
            backbone=backbone,
            neck=neck,
            head=dict(type='MultiPositiveContrastiveHead', temperature=0.1, mode='supcon'),
            graph_head=dict(type='KNNWeakLabelHead', temperature=0.1),
        )
    return MODELS.build(cfg).to(device).train()


def _median_time(fn, reps, device):
    times = []
    for _ in range(reps):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def bench_components(n, dim, reps, device):
    g = torch.Generator().manual_seed(n)
    z = F.normalize(torch.randn(n, dim, generator=g), dim=1).to(device)

    def released_route():  # device similarity + argmax, then host scipy
        nb = knn_graph_neighbours(z, 1)[:, 0].cpu().numpy()
        graph = coo_matrix((np.ones(n), (np.arange(n), nb)), shape=(n, n))
        return connected_components(graph, directed=False)[1]

    ours_full = _median_time(lambda: connected_component_labels(z), reps, device)
    scipy_full = _median_time(released_route, reps, device)
    nb = knn_graph_neighbours(z, 1)[:, 0]
    src = torch.arange(n, device=device)
    nb_np = nb.cpu().numpy()
    ours_cc = _median_time(lambda: connected_components_from_edges(src, nb, n), reps, device)
    scipy_cc = _median_time(
        lambda: connected_components(
            coo_matrix((np.ones(n), (np.arange(n), nb_np)), shape=(n, n)), directed=False
        ),
        reps,
        device,
    )
    labels, rounds = connected_components_from_edges(src, nb, n, return_rounds=True)
    ref = connected_components(
        coo_matrix((np.ones(n), (np.arange(n), nb_np)), shape=(n, n)), directed=False
    )[1]
    same = (
        len(set(zip(labels.cpu().tolist(), ref.tolist())))
        == len(set(ref.tolist()))
        == labels.unique().numel()
    )
    return dict(
        B=n,
        ours_s=ours_full,
        released_route_s=scipy_full,
        ratio=ours_full / scipy_full,
        ours_components_s=ours_cc,
        scipy_components_s=scipy_cc,
        components_ratio=ours_cc / scipy_cc,
        rounds=rounds,
        same_partition=bool(same),
        num_components=int(labels.unique().numel()),
    )


def memory_case_child(args) -> None:
    """In a fresh process: peak-RSS rise of one SGD step of one model, as a JSON line."""
    model = build(args.memory_case, args.depth, args.hid, args.out, torch.device('cpu'))
    views = [torch.randn(args.batch, 3, args.img, args.img) for _ in range(2)]
    samples = [DataSample() for _ in range(args.batch)]
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        losses = model.loss(views, samples)
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        opt.step()

    peak, method = peak_rss_increase_mib(step)
    print(json.dumps(dict(peak_mib=peak, method=method)))


def cpu_memory(args, case: str) -> dict:
    cmd = [
        sys.executable,
        osp.abspath(__file__),
        '--memory-case',
        case,
        '--device',
        'cpu',
        '--depth',
        str(args.depth),
        '--img',
        str(args.img),
        '--batch',
        str(args.batch),
        '--hid',
        str(args.hid),
        '--out',
        str(args.out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f'memory probe {case} failed:\n{proc.stderr[-2000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--depth', type=int, default=18)
    p.add_argument('--img', type=int, default=64)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--hid', type=int, default=2048)
    p.add_argument('--out', type=int, default=128)
    p.add_argument('--steps', type=int, default=6)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--cc-sizes', type=int, nargs='+', default=[1024, 4096, 8192])
    p.add_argument('--cc-dim', type=int, default=128)
    p.add_argument('--cc-reps', type=int, default=5)
    p.add_argument('--amp', action='store_true')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--memory-case', choices=['simclr', 'wcl'], help=argparse.SUPPRESS)
    args = p.parse_args()
    device = torch.device(args.device)
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    if args.memory_case:
        return memory_case_child(args)

    x = [torch.randn(args.batch, 3, args.img, args.img, device=device) for _ in range(2)]
    simclr = build('simclr', args.depth, args.hid, args.out, device)
    wcl = build('wcl', args.depth, args.hid, args.out, device)
    wcl.backbone.load_state_dict(simclr.backbone.state_dict())
    wcl.neck.load_state_dict(simclr.neck.state_dict())
    # Interleave the measurements so that machine noise hits both alike.
    t_simclr, t_wcl, peak_simclr, peak_wcl = [], [], None, None
    for _ in range(args.rounds):
        t, peak_simclr = time_steps(simclr, x, args.steps, args.warmup, device, args.amp)
        t_simclr.append(t)
        t, peak_wcl = time_steps(wcl, x, args.steps, args.warmup, device, args.amp)
        t_wcl.append(t)
    step_simclr, step_wcl = min(t_simclr), min(t_wcl)
    if device.type == 'cpu':
        peak_simclr, peak_wcl = (cpu_memory(args, case)['peak_mib'] for case in ('simclr', 'wcl'))

    cc = [bench_components(n, args.cc_dim, args.cc_reps, device) for n in args.cc_sizes]
    res = dict(
        device=str(device),
        depth=args.depth,
        img=args.img,
        batch=args.batch,
        amp=args.amp,
        head=f'{args.hid}/{args.out}',
        step_simclr_s=step_simclr,
        step_wcl_s=step_wcl,
        step_ratio=step_wcl / step_simclr,
        step_ratio_target=1.15,
        peak_mem_simclr_mib=peak_simclr,
        peak_mem_wcl_mib=peak_wcl,
        peak_mem_ratio=(peak_wcl / peak_simclr) if peak_simclr else None,
        peak_mem_kind=(
            'CUDA max allocated'
            if device.type == 'cuda'
            else 'CPU peak-RSS rise of a first step in a fresh process'
        ),
        components=cc,
    )
    print(
        f'device {device}, ResNet-{args.depth}, {args.img}px, batch {args.batch}, '
        f'heads {args.hid}/{args.out}, amp {args.amp}'
    )
    print(
        f'step time   SimCLR {step_simclr * 1e3:8.1f} ms   WCL {step_wcl * 1e3:8.1f} ms   '
        f'ratio {res["step_ratio"]:.3f} (target <= 1.15)'
    )
    if peak_simclr:
        print(
            f'peak memory SimCLR {peak_simclr:8.1f} MiB  WCL {peak_wcl:8.1f} MiB   '
            f'ratio {res["peak_mem_ratio"]:.3f} ({res["peak_mem_kind"]})'
        )
    for r in cc:
        print(
            f'components B={r["B"]:5d}: ours {r["ours_s"] * 1e3:8.2f} ms, released route '
            f'(device argmax + host scipy) {r["released_route_s"] * 1e3:8.2f} ms, ratio '
            f'{r["ratio"]:.2f}; components only: ours {r["ours_components_s"] * 1e3:7.2f} ms, '
            f'scipy {r["scipy_components_s"] * 1e3:7.2f} ms, ratio {r["components_ratio"]:.2f}; '
            f'{r["rounds"]} rounds, {r["num_components"]} components, same partition '
            f'{r["same_partition"]}'
        )
    print(json.dumps(res))


if __name__ == '__main__':
    main()
