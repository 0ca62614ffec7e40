"""CsMl vs MoCo v2, side by side in one process.

Prints the training step-time ratio CsMl / MoCo v2 (same backbone, batch and image
size; CsMl does 3 query passes with backward and 2 key passes, about 2.75x the
FLOPs of MoCo v2's 1 + 1), peak memory (CUDA), and the cost of neighbour mining
(feature extraction over the training set + exact chunked kNN search) as a
fraction of one training epoch, raw and amortised over the mining interval.
Peak memory is CUDA's max allocated memory; on CPU it is not measured (null).
The last line of output is one JSON object with all figures.

Examples:
    python tools/benchmarks/bench_csml.py                       # CPU-sized defaults
    python tools/benchmarks/bench_csml.py --depth 50 --img 224 --batch 32 --dataset-size 1281167
"""
import argparse
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from mmengine.logging import MessageHub  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402

import csml_mm  # noqa: E402,F401
from _timing import sync, time_steps  # noqa: E402
from csml_mm.models.utils import knn_search  # noqa: E402


def build(kind, depth, feat, queue, device):
    chans = 2048 if depth >= 50 else 512
    backbone = dict(type='ResNet', depth=depth, norm_cfg=dict(type='BN'),
                    zero_init_residual=False)
    if kind == 'moco':
        cfg = dict(type='MoCo', queue_len=queue, feat_dim=feat, momentum=0.001,
                   backbone=backbone,
                   neck=dict(type='MoCoV2Neck', in_channels=chans, hid_channels=chans,
                             out_channels=feat),
                   head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
                             temperature=0.2))
    else:
        cfg = dict(type='CsMl', queue_len=queue, feat_dim=feat, momentum=0.001,
                   cross_warmup_epochs=0, backbone=dict(backbone, out_indices=(3, )),
                   neck=dict(type='MultiLevelProjectionNeck', in_channels=[chans],
                             hid_channels=chans, out_channels=feat),
                   head=dict(type='MultiPositiveContrastiveHead', temperature=0.2))
    return MODELS.build(cfg).to(device).train()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--depth', type=int, default=18)
    p.add_argument('--img', type=int, default=64)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--steps', type=int, default=6)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--queue', type=int, default=4096)
    p.add_argument('--dataset-size', type=int, default=10000,
                   help='N for the mining estimate (ImageNet: 1281167)')
    p.add_argument('--mining-interval', type=int, default=5)
    p.add_argument('--amp', action='store_true')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = p.parse_args()
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
    backbone = csml.encoder_k.module[0]
    backbone.eval()  # mmpretrain ResNet.train() returns None: no chaining
    bs = max(args.batch * 4, 64)
    xb = torch.randn(bs, 3, args.img, args.img, device=device)
    with torch.no_grad():
        for _ in range(2):
            backbone(xb)
        sync(device)
        t0 = time.perf_counter()
        reps = 3
        for _ in range(reps):
            feat = backbone(xb)[-1]
        sync(device)
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
        device=str(device), depth=args.depth, img=args.img, batch=args.batch, amp=args.amp,
        step_moco_s=step_moco, step_csml_s=step_csml, step_ratio=step_csml / step_moco,
        peak_mem_moco_mib=peak_moco, peak_mem_csml_mib=peak_csml,
        peak_mem_ratio=(peak_csml / peak_moco) if peak_moco else None,
        dataset_size=n, mining_extract_s=extract_per_img * n, mining_search_s=t_search,
        epoch_s_est=epoch_time, mining_fraction_of_epoch=mining_time / epoch_time,
        mining_fraction_amortised=mining_time / (epoch_time * args.mining_interval),
        mining_interval=args.mining_interval)
    mem_kind = 'CUDA max allocated' if device.type == 'cuda' else 'not measured on CPU'
    res['peak_mem_kind'] = mem_kind
    print(f'device {device}, ResNet-{args.depth}, {args.img}px, batch {args.batch}')
    print(f'step time   MoCo v2 {step_moco * 1e3:8.1f} ms   CsMl {step_csml * 1e3:8.1f} ms   '
          f'ratio {res["step_ratio"]:.2f} (target <= 2.9)')
    if peak_moco:
        print(f'peak memory MoCo v2 {peak_moco:8.0f} MiB  CsMl {peak_csml:8.0f} MiB  '
              f'ratio {res["peak_mem_ratio"]:.2f} ({mem_kind})')
    print(f'mining {n} images: extraction {res["mining_extract_s"]:.1f} s + search '
          f'{t_search:.1f} s = {res["mining_fraction_of_epoch"] * 100:.1f}% of one epoch, '
          f'{res["mining_fraction_amortised"] * 100:.1f}% per epoch when mined every '
          f'{args.mining_interval} epochs (target <= 5%)')
    print(json.dumps(res))


if __name__ == '__main__':
    main()
