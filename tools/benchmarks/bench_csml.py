"""CsMl vs MoCo v2, side by side in one process.

Prints the training step-time ratio CsMl / MoCo v2 (same backbone, batch and image
size; CsMl does 3 query passes with backward and 2 key passes, about 2.75x the
FLOPs of MoCo v2's 1 + 1), peak memory (CUDA), and the cost of neighbour mining
(feature extraction over the training set + exact chunked kNN search) as a
fraction of one training epoch, raw and amortised over the mining interval.
Peak memory is CUDA's max allocated memory; on CPU it is not measured (null).
The last line of output is one JSON object with all figures.

With ``--search N [N ...]`` it instead measures the neighbour search of mining alone
(``csml_mm.utils.topk_search``) on N synthetic features: time and real peak memory
(each search in a fresh process; on CPU the peak resident memory above the bank,
from ``/proc/self/status`` VmHWM after a reset; on CUDA max allocated memory),
beside the fixed 4096-row chunking that mining used before (``--no-old`` skips it),
checks that both give the same neighbours, and projects device memory, host memory and
search time to ImageNet (1.28M x 2048, 8 ranks) from the memory plan and the measured
throughput.

Examples:
    python tools/benchmarks/bench_csml.py                       # CPU-sized defaults
    python tools/benchmarks/bench_csml.py --depth 50 --img 224 --batch 32 --dataset-size 1281167
    python tools/benchmarks/bench_csml.py --search 100000 200000 --dim 256 --budget 256MiB
"""

import argparse
import json
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from _timing import sync, time_steps  # noqa: E402
from mmengine.logging import MessageHub  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402

import csml_mm  # noqa: E402,F401
from csml_mm.models.utils import knn_search  # noqa: E402
from csml_mm.utils.topk_search import human_bytes, parse_bytes, plan_search  # noqa: E402

_SEARCH_CHILD = r"""
import json, sys, time, torch
from csml_mm.utils.topk_search import exact_topk
n, d, mode, budget, device = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4],
                              torch.device(sys.argv[5]))
torch.manual_seed(0)
bank = torch.nn.functional.normalize(torch.randn(n, d), dim=1)
ids = torch.arange(n)
exact_topk(bank[:64], bank[:512], 5, device=device)  # warm up lazily loaded code

def rss(field):
    for line in open('/proc/self/status'):
        if line.startswith(field):
            return int(line.split()[1]) * 1024

if device.type == 'cuda':
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
else:
    open('/proc/self/clear_refs', 'w').write('5')
    base = rss('VmRSS')
t0 = time.perf_counter()
if mode == 'old':  # the fixed 4096-row blocks against the whole bank, as mining did before
    b = bank.to(device)
    out = torch.empty(n, 5, dtype=torch.long)
    for s in range(0, n, 4096):
        e = min(s + 4096, n)
        sim = b[s:e] @ b.T
        sim[torch.arange(e - s), torch.arange(s, e)] = float('-inf')
        out[s:e] = sim.topk(5, dim=1).indices.cpu()
        del sim
else:
    out = exact_topk(bank, bank, 5, query_ids=ids, memory_budget=budget, device=device)[1].cpu()
if device.type == 'cuda':
    torch.cuda.synchronize(); peak = torch.cuda.max_memory_allocated() - base
else:
    peak = rss('VmHWM') - base
secs = time.perf_counter() - t0
torch.save(out, sys.argv[6])
print(json.dumps(dict(seconds=secs, peak=peak)))
"""


def _search_child(n, dim, mode, budget, device, out_path):
    import subprocess

    proc = subprocess.run(
        [
            sys.executable,
            '-c',
            _SEARCH_CHILD,
            str(n),
            str(dim),
            mode,
            str(budget),
            str(device),
            out_path,
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))),
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_search(args) -> None:
    """Mining's exact search at N synthetic features: budgeted vs the old fixed chunking."""
    import tempfile

    budget = parse_bytes(args.budget)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.search:
            new = _search_child(n, args.dim, 'new', budget, args.device, f'{tmp}/new.pt')
            row = dict(
                n=n,
                dim=args.dim,
                budget=budget,
                new_s=new['seconds'],
                new_peak=new['peak'],
                plan=plan_search(n, n, args.dim, 5, memory_budget=budget).bytes_total,
            )
            if not args.no_old:
                old = _search_child(n, args.dim, 'old', budget, args.device, f'{tmp}/old.pt')
                same = torch.equal(torch.load(f'{tmp}/new.pt'), torch.load(f'{tmp}/old.pt'))
                row.update(old_s=old['seconds'], old_peak=old['peak'], same_neighbours=same)
            rows.append(row)
            print(
                f'N={n:>8} D={args.dim}: budgeted ({human_bytes(budget)}) '
                f'{row["new_s"]:.1f} s, peak {human_bytes(row["new_peak"])} '
                f'(plan {human_bytes(row["plan"])})'
                + (
                    ''
                    if args.no_old
                    else f' | old 4096-row blocks {row["old_s"]:.1f} s, peak '
                    f'{human_bytes(row["old_peak"])} | time ratio budgeted/old '
                    f'{row["new_s"] / row["old_s"]:.2f}, peak ratio '
                    f'{row["new_peak"] / max(row["old_peak"], 1):.3f}, same neighbours: '
                    f'{row["same_neighbours"]}'
                ),
                flush=True,
            )
    # Projection to ImageNet: 1.28M x 2048, 8 ranks, default 4 GiB budget, fp16 on CUDA.
    big_n, big_d, ranks = 1281167, 2048, 8
    shard = -(-big_n // ranks)
    plan = plan_search(shard, shard, big_d, 5, memory_budget='4GiB', storage_bytes=2, extra=8)
    last = rows[-1]
    flops = 2.0 * last['n'] ** 2 * last['dim']
    rate = flops / last['new_s']
    big_flops = 2.0 * big_n**2 * big_d
    proj = dict(
        imagenet_n=big_n,
        dim=big_d,
        ranks=ranks,
        old_device_bytes=big_n * big_d * 4 + 2 * 4096 * big_n * 4,
        old_host_bytes_per_machine=ranks * big_n * big_d * 4,
        new_device_bytes_per_rank=plan.bytes_total,
        new_host_bytes_per_machine=big_n * big_d * 4,
        measured_gflops=rate / 1e9,
        projected_search_hours_at_measured_rate=big_flops / rate / ranks / 3600,
    )
    print(
        f'ImageNet projection (1.28M x 2048, {ranks} ranks): device memory per search '
        f'{human_bytes(proj["old_device_bytes"])} before (whole fp32 bank on rank 0 + a '
        f'4096 x 1.28M block and its topk copy) -> {human_bytes(plan.bytes_total)} per '
        f'rank now (fp16 shard {human_bytes(plan.bytes_bank)} + blocks of '
        f'{plan.query_chunk} x {plan.bank_chunk}); host memory per machine '
        f'{human_bytes(proj["old_host_bytes_per_machine"])} before (the bank gathered '
        f'on every rank) -> {human_bytes(proj["new_host_bytes_per_machine"])} (each rank '
        f'its shard); search time at the rate measured here '
        f'({proj["measured_gflops"]:.1f} GFLOP/s per rank): '
        f'{proj["projected_search_hours_at_measured_rate"]:.1f} h (a GPU does this at '
        f'tens of TFLOP/s: seconds to minutes)'
    )
    print(json.dumps(dict(rows=rows, projection=proj)))


def build(kind, depth, feat, queue, device):
    chans = 2048 if depth >= 50 else 512
    backbone = dict(type='ResNet', depth=depth, norm_cfg=dict(type='BN'), zero_init_residual=False)
    if kind == 'moco':
        cfg = dict(
            type='MoCo',
            queue_len=queue,
            feat_dim=feat,
            momentum=0.001,
            backbone=backbone,
            neck=dict(type='MoCoV2Neck', in_channels=chans, hid_channels=chans, out_channels=feat),
            head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2),
        )
    else:
        cfg = dict(
            type='CsMl',
            queue_len=queue,
            feat_dim=feat,
            momentum=0.001,
            cross_warmup_epochs=0,
            backbone=dict(backbone, out_indices=(3,)),
            neck=dict(
                type='MultiLevelProjectionNeck',
                in_channels=[chans],
                hid_channels=chans,
                out_channels=feat,
            ),
            head=dict(type='MultiPositiveContrastiveHead', temperature=0.2),
        )
    return MODELS.build(cfg).to(device).train()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--depth', type=int, default=18)
    p.add_argument('--img', type=int, default=64)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--steps', type=int, default=6)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--queue', type=int, default=4096)
    p.add_argument(
        '--dataset-size',
        type=int,
        default=10000,
        help='N for the mining estimate (ImageNet: 1281167)',
    )
    p.add_argument('--mining-interval', type=int, default=5)
    p.add_argument('--amp', action='store_true')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument(
        '--search',
        type=int,
        nargs='+',
        default=None,
        metavar='N',
        help='measure only the mining search at these bank sizes',
    )
    p.add_argument('--dim', type=int, default=256, help='feature dimension for --search')
    p.add_argument('--budget', default='256MiB', help='memory budget for --search')
    p.add_argument(
        '--no-old',
        action='store_true',
        help='--search: skip the old fixed-chunk search (it needs GBs at 200k)',
    )
    args = p.parse_args()
    if args.search:
        return bench_search(args)
    device = torch.device(args.device)
    init_default_scope('mmpretrain')
    MessageHub.get_current_instance().update_info('epoch', 100)
    torch.manual_seed(0)

    x = [torch.randn(args.batch, 3, args.img, args.img, device=device) for _ in range(4)]
    moco, csml = (build(k, args.depth, 128, args.queue, device) for k in ('moco', 'csml'))
    # Interleave the measurements so that machine noise hits both alike.
    t_moco, t_csml, peak_moco, peak_csml = [], [], None, None
    for _ in range(2):
        t, peak_moco = time_steps(moco, x[:2], args.steps, args.warmup, device, args.amp)
        t_moco.append(t)
        t, peak_csml = time_steps(csml, x, args.steps, args.warmup, device, args.amp)
        t_csml.append(t)
    step_moco, step_csml = min(t_moco), min(t_csml)

    # Mining: one no-grad eval pass of the momentum backbone per image + kNN search.
    # (what NeighbourMiningHook runs: the model's mining interface, in eval mode)
    csml.eval()
    csml.prepare_mining()
    bs = max(args.batch * 4, 64)
    xb = torch.randn(bs, 3, args.img, args.img, device=device)
    with torch.no_grad():
        for _ in range(2):
            csml.mining_features(xb)
        sync(device)
        t0 = time.perf_counter()
        reps = 3
        for _ in range(reps):
            feat = csml.mining_features(xb)
        sync(device)
    csml.train()
    extract_per_img = (time.perf_counter() - t0) / (reps * bs)
    feats = F.normalize(torch.randn(args.dataset_size, feat.shape[1], device=device), dim=1)
    sync(device)
    t0 = time.perf_counter()
    knn_search(feats, 5, chunk_size=4096, device=device)
    sync(device)
    t_search = time.perf_counter() - t0
    n = args.dataset_size
    epoch_time = step_csml * n / args.batch
    mining_time = extract_per_img * n + t_search
    res = dict(
        device=str(device),
        depth=args.depth,
        img=args.img,
        batch=args.batch,
        amp=args.amp,
        step_moco_s=step_moco,
        step_csml_s=step_csml,
        step_ratio=step_csml / step_moco,
        peak_mem_moco_mib=peak_moco,
        peak_mem_csml_mib=peak_csml,
        peak_mem_ratio=(peak_csml / peak_moco) if peak_moco else None,
        dataset_size=n,
        mining_extract_s=extract_per_img * n,
        mining_search_s=t_search,
        epoch_s_est=epoch_time,
        mining_fraction_of_epoch=mining_time / epoch_time,
        mining_fraction_amortised=mining_time / (epoch_time * args.mining_interval),
        mining_interval=args.mining_interval,
    )
    mem_kind = 'CUDA max allocated' if device.type == 'cuda' else 'not measured on CPU'
    res['peak_mem_kind'] = mem_kind
    print(f'device {device}, ResNet-{args.depth}, {args.img}px, batch {args.batch}')
    print(
        f'step time   MoCo v2 {step_moco * 1e3:8.1f} ms   CsMl {step_csml * 1e3:8.1f} ms   '
        f'ratio {res["step_ratio"]:.2f} (target <= 2.9)'
    )
    if peak_moco:
        print(
            f'peak memory MoCo v2 {peak_moco:8.0f} MiB  CsMl {peak_csml:8.0f} MiB  '
            f'ratio {res["peak_mem_ratio"]:.2f} ({mem_kind})'
        )
    print(
        f'mining {n} images: extraction {res["mining_extract_s"]:.1f} s + search '
        f'{t_search:.1f} s = {res["mining_fraction_of_epoch"] * 100:.1f}% of one epoch, '
        f'{res["mining_fraction_amortised"] * 100:.1f}% per epoch when mined every '
        f'{args.mining_interval} epochs (target <= 5%)'
    )
    print(json.dumps(res))


if __name__ == '__main__':
    main()
