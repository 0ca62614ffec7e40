# Copyright (c) csml_mm contributors. All rights reserved.
"""The transfer table: detection, instance segmentation and few-label fine-tuning.

Each row is a backbone: random initialisation, the supervised ceiling, or a method pretrained
on Fashion-MNIST with the quality table's config and seed (``bench_quality.py``'s recipes,
pretrained here by its own ``run_method`` into a cache outside the repository). Every row is
fine-tuned per pretraining seed on three tasks, each with one fixed protocol:

- ``det``: Mask R-CNN on the Fashion-MNIST scenes (``tools/dataset_converters/fmnist_scenes.py``),
  box and mask AP (COCO's AP@[.5:.95] and AP50) on the 1,000 validation scenes;
- ``semi1`` / ``semi10``: the whole network fine-tuned with a linear classifier on 1% / 10% of
  the Fashion-MNIST train labels, top-1 on the 10,000 test images.

Results land in ``OUT_DIR/transfer_runs/<task>/<row>/seed<k>.json`` (small JSON records, kept
in git; a run with a record is skipped, so a partial table resumes in a later sitting), the
checkpoints and logs in ``WORK_DIR`` (default ``$CSML_MM_CACHE/transfer`` or
``~/.cache/csml_mm/transfer``; an interrupted fine-tune resumes from its last checkpoint, a
missing pretraining checkpoint is trained again). ``OUT_DIR/transfer.md`` and its plots (box AP
against fine-tuning iteration) are rebuilt from every record found.

Examples::

    python tools/benchmarks/bench_transfer.py --rows random-resnet supervised --seeds 0
    python tools/benchmarks/bench_transfer.py --tasks det --rows csml mocov2
    python tools/benchmarks/bench_transfer.py --report-only
    python tools/benchmarks/bench_transfer.py --quick --work-dir /tmp/t --out-dir /tmp/t/report
"""

import argparse
import json
import os
import os.path as osp
import statistics
import sys
import time
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import bench_quality as bq  # noqa: E402

ROOT = bq.ROOT

DET_CFG = {
    'resnet': 'configs/benchmarks/mmdetection/fmnist_scenes/'
    'mask-rcnn_r18-w16_fpn_1xb8-coslr-500i_fmnist-scenes.py',
    'vit': 'configs/benchmarks/mmdetection/fmnist_scenes/'
    'mask-rcnn_vit-d4w64-p4_simple-fpn_1xb8-coslr-500i_fmnist-scenes.py',
}
_FT = 'configs/benchmarks/classification/fmnist/'
SEMI_CFG = {
    'semi1': {
        'resnet': _FT + 'resnet18-w16_finetune-1xb64-coslr-500i_fmnist-1pct.py',
        'vit': _FT + 'vit-d4w64-p4_finetune-1xb64-coslr-500i_fmnist-1pct.py',
    },
    'semi10': {
        'resnet': _FT + 'resnet18-w16_finetune-1xb128-coslr-600i_fmnist-10pct.py',
        'vit': _FT + 'vit-d4w64-p4_finetune-1xb128-coslr-600i_fmnist-10pct.py',
    },
}
TASKS = ('det', 'semi1', 'semi10')
TASK_LABEL = {'det': 'detection (scenes)', 'semi1': '1% labels', 'semi10': '10% labels'}

#: row -> (label, family, bench_quality method key or None for random init, baseline row)
ROWS: Dict[str, tuple] = {
    'random-resnet': ('ResNet-18 w16, random init', 'resnet', None, None),
    'supervised': ('Supervised (labels; ceiling)', 'resnet', 'supervised', None),
    'mocov2': ('MoCo v2, 6 epochs', 'resnet', 'mocov2-6e', None),
    'csml': ('CsMl, 6 epochs', 'resnet', 'csml-6e', 'mocov2'),
    'csml-ml': ('CsMl multi-level, 6 epochs', 'resnet', 'csml-ml-6e', 'mocov2'),
    'simclr': ('SimCLR, 7 epochs', 'resnet', 'simclr', None),
    'wcl': ('WCL, 7 epochs', 'resnet', 'wcl', 'simclr'),
    'random-vit': ('ViT d4 w64 p4, random init', 'vit', None, None),
    'aps-full': ('ViT with full views, 2 epochs', 'vit', 'aps-full', None),
    'aps-uniform': ('APS, uniform view 2', 'vit', 'aps-uniform', 'aps-full'),
    'aps': ('APS, selective view 2', 'vit', 'aps', 'aps-full'),
}
RANDOM_OF = {'resnet': 'random-resnet', 'vit': 'random-vit'}
FAMILY_LABEL = {'resnet': 'ResNet-18 w16', 'vit': 'ViT d4 w64 p4'}
#: the gate of the design: the supervised backbone must beat random init by this box AP
GATE_BOX_AP = 5.0
SCENES = dict(num_train=3000, num_val=1000, seed=0)
#: --quick: tiny scenes, a few iterations; for tests of the harness itself
QUICK_SCENES = dict(num_train=16, num_val=8, seed=0)
QUICK_ITERS = 4
DET_METRICS = {
    'box_ap': 'coco/bbox_mAP',
    'box_ap50': 'coco/bbox_mAP_50',
    'mask_ap': 'coco/segm_mAP',
    'mask_ap50': 'coco/segm_mAP_50',
}


def default_work_dir() -> str:
    cache = os.environ.get('CSML_MM_CACHE') or osp.join(osp.expanduser('~'), '.cache', 'csml_mm')
    return osp.join(cache, 'transfer')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--rows', nargs='+', default=list(ROWS), choices=list(ROWS))
    p.add_argument('--tasks', nargs='+', default=list(TASKS), choices=list(TASKS))
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument(
        '--work-dir',
        default=None,
        help='checkpoints, logs and the scenes (default: $CSML_MM_CACHE/transfer; '
        'with --quick $CSML_MM_CACHE/transfer-quick, so a smoke run never mixes '
        'with the real table)',
    )
    p.add_argument(
        '--out-dir',
        default=None,
        help='where transfer.md, its plots and the records (transfer_runs/) go '
        '(default: docs/results; with --quick WORK_DIR/report)',
    )
    p.add_argument(
        '--quick',
        action='store_true',
        help='smoke run: 1 pretraining epoch, tiny scenes, a few iterations (point '
        'FASHION_MNIST_ROOT at a small copy to make it a minute long)',
    )
    p.add_argument('--report-only', action='store_true', help='only rebuild the report')
    p.add_argument(
        '--readme-table',
        action='store_true',
        help="print the README's short table (means over the recorded seeds) and stop",
    )
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- runs
def scenes_root(work_dir: str, quick: bool) -> str:
    """The scenes of the detection task, generated once into the cache."""
    from csml_mm.datasets.fmnist_scenes import default_scenes_dir, make_scenes

    spec = QUICK_SCENES if quick else SCENES
    out = (
        osp.join(work_dir, 'scenes-quick')
        if quick
        else default_scenes_dir(spec['num_train'], spec['num_val'], spec['seed'])
    )
    make_scenes(out, spec['num_train'], spec['num_val'], spec['seed'])
    return out


def pretrain(row: str, seed: int, work_dir: str, out_dir: str, quick: bool) -> Optional[dict]:
    """The row's pretraining run (the quality table's config and seed), trained if missing.

    Its record (``transfer_runs/pretrain/<method>/seed<k>.json``) keeps what the transfer rows
    were fine-tuned from, with the label purity of the method's positives where it has one.
    """
    key = ROWS[row][2]
    if key is None:
        return None
    pre_dir = osp.join(work_dir, 'pretrain')
    cache_records = osp.join(pre_dir, 'runs')
    rec_file = osp.join(cache_records, key, f'seed{seed}.json')
    rec = None
    if osp.isfile(rec_file):
        with open(rec_file) as f:
            rec = json.load(f)
        if not osp.isfile(_abs(rec['checkpoint'])):
            print(
                f'[transfer] {key} seed {seed}: checkpoint {rec["checkpoint"]} is gone; '
                'pretraining again',
                flush=True,
            )
            os.remove(rec_file)
            rec = None
    if rec is None:
        extra = list(bq.QUICK_OPTIONS) if quick else []
        rec = bq.run_method(
            key,
            seed,
            pre_dir,
            cache_records,
            extra,
            epochs=bq.QUICK_EPOCHS if quick else None,
            evaluate=False,
        )
        bq._write_json(rec_file, rec)
    public = {k: v for k, v in rec.items() if k != 'checkpoint'}
    out = osp.join(out_dir, 'transfer_runs', 'pretrain', key, f'seed{seed}.json')
    os.makedirs(osp.dirname(out), exist_ok=True)
    bq._write_json(out, public)
    return rec


def _abs(path: str) -> str:
    return path if osp.isabs(path) else osp.join(ROOT, path)


def _scalars(run_dir: str) -> List[dict]:
    rows = []
    for dirpath, dirnames, files in os.walk(run_dir):
        dirnames.sort()  # segments in time order: a later evaluation of a step wins
        if 'scalars.json' in files:
            with open(osp.join(dirpath, 'scalars.json')) as f:
                rows += [json.loads(line) for line in f if line.strip()]
    return rows


class MissingEvaluation(RuntimeError):
    """The run's final evaluation is not in its logs (e.g. killed while evaluating)."""


def det_metrics(run_dir: str, target: int) -> dict:
    """Box/mask AP (x100) at iteration ``target`` and the box-AP curve ``[[iteration, AP]]``."""
    evals = [r for r in _scalars(run_dir) if DET_METRICS['box_ap'] in r]
    by_step = {int(r['step']): r for r in evals}
    if target not in by_step:
        raise MissingEvaluation(
            f'{run_dir}: no CocoMetric result at iteration {target} in the logs (the run was '
            'stopped while evaluating, or the detector returned no box above its score '
            'threshold, for which CocoMetric logs nothing)'
        )
    last = by_step[target]
    out = {k: round(100 * last[v], 2) for k, v in DET_METRICS.items()}
    out['curve'] = [[s, round(100 * by_step[s][DET_METRICS['box_ap']], 2)] for s in sorted(by_step)]
    return out


def cls_metrics(run_dir: str, target: int) -> dict:
    """Top-1 on the test split at iteration ``target``."""
    evals = {int(r['step']): r for r in _scalars(run_dir) if 'accuracy/top1' in r}
    if target not in evals:
        raise MissingEvaluation(
            f'{run_dir}: no accuracy at iteration {target} in the logs (the '
            'run was stopped while evaluating?)'
        )
    return {'top1': round(evals[target]['accuracy/top1'], 2)}


def _config_iters(config: str) -> int:
    from mmengine.config import Config

    return int(Config.fromfile(osp.join(ROOT, config)).train_cfg['max_iters'])


def task_config(task: str, family: str) -> str:
    return DET_CFG[family] if task == 'det' else SEMI_CFG[task][family]


def quick_options(task: str, work_dir: str) -> List[str]:
    """Overrides of ``--quick``: a few iterations, evaluation at the end only."""
    n = QUICK_ITERS
    opts = [
        f'train_cfg.max_iters={n}',
        f'train_cfg.val_interval={n}',
        f'default_hooks.checkpoint.interval={n}',
        'default_hooks.logger.interval=1',
    ]
    if task == 'det':
        # every detection kept (threshold below 0: a few-step model's scores round to 0),
        # since CocoMetric reports nothing for an empty result
        opts += [
            f'train_dataloader.dataset.indices={QUICK_SCENES["num_train"]}',
            'train_dataloader.batch_size=2',
            'model.test_cfg.rcnn.score_thr=-1.0',
        ]
    else:
        opts += [f'train_dataloader.dataset.subset_file={quick_subset(work_dir)}']
    return opts


def quick_subset(work_dir: str) -> str:
    """A 2-per-class subset of the (small) installed train split, by the label-subset tool."""
    out = osp.join(work_dir, 'quick_subset.txt')
    if not osp.isfile(out):
        bq._run(
            [
                sys.executable,
                'tools/dataset_converters/make_label_subset.py',
                'fashion-mnist:train',
                out,
                '--per-class',
                '2',
            ],
            osp.join(work_dir, 'quick_subset.log'),
        )
    return out


#: mmpretrain's ResNet initialises itself this way only while ``init_cfg`` is left at its
#: default; the random-init rows of the classification tasks restore it (mmdet's ResNet does
#: the same by itself when ``init_cfg`` is None), so that every random row starts from the
#: initialisation of the quality table's random-init floor.
RESNET_DEFAULT_INIT = [
    dict(type='Kaiming', layer=['Conv2d']),
    dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
]


def random_init_config(config: str, family: str, task: str, run_dir: str) -> str:
    """The config a random-init row trains: ``config`` itself, or for a classification
    ResNet a child config in ``run_dir`` that restores mmpretrain's default initialisation
    (``--cfg-options`` cannot set a list of dicts)."""
    if task == 'det' or family != 'resnet':
        return config
    child = osp.join(run_dir, 'random_init.py')
    with open(child, 'w') as f:
        f.write(
            f'_base_ = [{osp.join(ROOT, config)!r}]\n'
            f'model = dict(backbone=dict(init_cfg={RESNET_DEFAULT_INIT!r}))\n'
        )
    return child


def run_task(
    task: str, row: str, seed: int, work_dir: str, out_dir: str, quick: bool, scenes: Optional[str]
) -> dict:
    """Fine-tunes one row's backbone of one seed on one task; returns its record."""
    label, family, key, _ = ROWS[row]
    record_file = osp.join(out_dir, 'transfer_runs', task, row, f'seed{seed}.json')
    if osp.isfile(record_file):
        with open(record_file) as f:
            return json.load(f)
    pre = pretrain(row, seed, work_dir, out_dir, quick)
    config = task_config(task, family)
    run_dir = osp.join(work_dir, task, row, f'seed{seed}')
    os.makedirs(run_dir, exist_ok=True)
    train_config = config
    if pre is None:
        train_config = random_init_config(config, family, task, run_dir)
        init = ['model.backbone.init_cfg=None'] if train_config == config else []
    else:
        ckpt = _abs(pre['checkpoint'])
        if ',' in ckpt:
            raise ValueError(
                f'the checkpoint path {ckpt} holds a comma, which --cfg-options '
                'splits; use a --work-dir without commas.'
            )
        init = [f'model.backbone.init_cfg.checkpoint={ckpt}']
    opts = [f'randomness.seed={seed}', *init]
    if quick:
        opts += quick_options(task, work_dir)
    target = QUICK_ITERS if quick else _config_iters(config)
    env = {'FMNIST_SCENES_ROOT': scenes} if task == 'det' else None
    tag = f'[transfer] {task} {row} seed {seed}'
    measure = det_metrics if task == 'det' else cls_metrics
    _, train_s, segments = bq.train_resumable(train_config, run_dir, opts, target, tag, env)
    try:
        metrics = measure(run_dir, target)
    except MissingEvaluation as e:
        # the last checkpoint is written before the last evaluation: a run stopped while
        # evaluating looks finished; train it again from the start, keeping the old folder
        aside = f'{run_dir}.unevaluated-{int(time.time())}'
        print(f'{tag}: {e}; training again (the old run is kept in {aside})', flush=True)
        os.replace(run_dir, aside)
        os.makedirs(run_dir)
        if train_config != config:
            train_config = random_init_config(config, family, task, run_dir)
        _, train_s, segments = bq.train_resumable(train_config, run_dir, opts, target, tag, env)
        metrics = measure(run_dir, target)
    shown_opts = [
        o
        if 'init_cfg.checkpoint=' not in o
        else 'model.backbone.init_cfg.checkpoint=<pretraining checkpoint>'
        for o in opts
    ]
    record = dict(
        task=task,
        row=row,
        label=label,
        seed=seed,
        config=config,
        options=shown_opts,
        init='pretrained'
        if pre
        else (
            'random: mmpretrain ResNet default (Kaiming conv, BN weight 1)'
            if train_config != config
            else "random: the backbone's default"
        ),
        pretrain=None
        if pre is None
        else dict(
            method=key,
            config=pre['config'],
            options=pre['options'],
            train_seconds=pre.get('train_seconds'),
        ),
        train_seconds=round(train_s, 1),
        hardware=bq.hardware(),
        **metrics,
    )
    if segments > 1:
        record['segments'] = segments
    os.makedirs(osp.dirname(record_file), exist_ok=True)
    bq._write_json(record_file, record)
    shown = ', '.join(f'{k} {v}' for k, v in metrics.items() if k != 'curve')
    print(f'[transfer] {task} {row} seed {seed}: {shown} ({train_s:.0f} s)', flush=True)
    return record


# ----------------------------------------------------------------------------- report
def load_records(out_dir: str) -> Dict[str, Dict[str, List[dict]]]:
    """``{task: {row: [record, ...]}}`` of every record under ``transfer_runs/``."""
    found: Dict[str, Dict[str, List[dict]]] = {}
    base = osp.join(out_dir, 'transfer_runs')
    for task in (*TASKS, 'pretrain'):
        for row, records in bq.load_results(osp.join(base, task)).items():
            found.setdefault(task, {})[row] = records
    return found


def _mean_std(vals: List[float]) -> str:
    if not vals:
        return '–'
    if len(vals) == 1:
        return f'{vals[0]:.2f}'
    return f'{statistics.mean(vals):.2f} ± {statistics.stdev(vals):.2f}'


def _cell(rows: List[dict], field: str) -> str:
    return _mean_std([r[field] for r in rows if r.get(field) is not None])


def paired(rows: List[dict], ref: List[dict], field: str) -> List[float]:
    by_seed = {r['seed']: r[field] for r in ref}
    return [
        r[field] - by_seed[r['seed']]
        for r in sorted(rows, key=lambda r: r['seed'])
        if r['seed'] in by_seed
    ]


def _delta(rows: List[dict], ref: List[dict], field: str) -> str:
    d = paired(rows, ref, field)
    if not d:
        return '–'
    return (
        f'{d[0]:+.2f}' if len(d) == 1 else f'{statistics.mean(d):+.2f} ± {statistics.stdev(d):.2f}'
    )


def gate(records: dict) -> Optional[dict]:
    """The design check: supervised minus random init, box AP, paired by seed."""
    det = records.get('det', {})
    d = paired(det.get('supervised', []), det.get('random-resnet', []), 'box_ap')
    if not d:
        return None
    return dict(diffs=d, mean=statistics.mean(d), met=statistics.mean(d) >= GATE_BOX_AP)


def _short(rows: List[dict], ref: List[dict], field: str, is_ref: bool, n_seeds: int) -> str:
    """``mean`` of a field over seeds, with the paired mean difference to ``ref``; the
    number of seeds when it is fewer than the row's."""
    vals = [r[field] for r in rows if r.get(field) is not None]
    if not vals:
        return '–'
    d = paired(rows, ref, field)
    fewer = f', {len(vals)} seed{"s" if len(vals) > 1 else ""}' if len(vals) < n_seeds else ''
    return (
        f'{statistics.mean(vals):.1f}'
        + ('' if is_ref or not d else f' ({statistics.mean(d):+.1f})')
        + fewer
    )


def readme_table(records: dict) -> str:
    """The README's short table: the rows that have runs (the ResNet rows, then the ViT rows),
    means over their seeds and, in brackets, the mean difference to the random initialisation
    of the same backbone, paired by seed."""
    out = [
        '| backbone | seeds | box AP | mask AP | 1% labels top-1 | 10% labels top-1 |',
        '|---|---|---|---|---|---|',
    ]
    for row, (label, family, _, _) in ROWS.items():  # ROWS lists the ResNet rows first
        rand = RANDOM_OF[family]
        got = {t: records.get(t, {}).get(row, []) for t in TASKS}
        if not any(got.values()):
            continue
        seeds = sorted({r['seed'] for rows in got.values() for r in rows})
        ref = {t: records.get(t, {}).get(rand, []) for t in TASKS}
        n, r = len(seeds), row == rand
        cells = [
            _short(got['det'], ref['det'], 'box_ap', r, n),
            _short(got['det'], ref['det'], 'mask_ap', r, n),
            _short(got['semi1'], ref['semi1'], 'top1', r, n),
            _short(got['semi10'], ref['semi10'], 'top1', r, n),
        ]
        out.append(f'| {label} | {", ".join(map(str, seeds))} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(out)


def plot_det(family: str, records: dict, out_dir: str) -> Optional[str]:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    rows = [r for r in ROWS if ROWS[r][1] == family and records.get('det', {}).get(r)]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, row in enumerate(rows):
        for j, rec in enumerate(sorted(records['det'][row], key=lambda r: r['seed'])):
            xs, ys = zip(*rec['curve'])
            ax.plot(
                xs,
                ys,
                marker='o',
                ms=3,
                color=f'C{i}',
                alpha=0.8,
                label=ROWS[row][0] if j == 0 else None,
            )
    ax.set_xlabel('fine-tuning iteration')
    ax.set_ylabel('box AP (COCO AP@[.5:.95], val scenes)')
    ax.set_title(f'Mask R-CNN on Fashion-MNIST scenes: {FAMILY_LABEL[family]} rows')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = osp.join(out_dir, f'transfer_det_{family}.png')
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(out_dir: str, args) -> str:
    records = load_records(out_dir)
    det = records.get('det', {})
    lines = [
        '# Transfer table: detection, instance segmentation and few-label fine-tuning',
        '',
        'Generated by `tools/benchmarks/bench_transfer.py` (`make bench-transfer`) from the '
        'records in `transfer_runs/` (one JSON per task, row and seed); do not edit by hand.',
        '',
        '**Protocol, fixed before the runs.** Each row is a backbone: random initialisation, '
        'the supervised ceiling, or a method pretrained on the 60,000 Fashion-MNIST train '
        'images with its quality-table config and seed ([quality.md](quality.md)). Every row '
        'is fine-tuned from each pretraining seed (random init: one random initialisation per '
        'seed) with the same recipe:',
        '',
        f'- **Detection / instance segmentation**: `{DET_CFG["resnet"]}` — Mask R-CNN with FPN '
        'on the Fashion-MNIST scenes (grey 128 px canvases, 2-4 garments of 24-56 px over '
        'faint garment clutter; train scenes from the train split, validation scenes from the '
        'test split: `tools/dataset_converters/fmnist_scenes.py`), 1,000 labelled training '
        "scenes, 500 iterations at batch 8, evaluated by mmdet's `CocoMetric` on the 1,000 "
        'validation scenes: box and mask AP (COCO AP@[.5:.95]) and AP50.',
        '- **Few-label classification**: the whole network fine-tuned with a linear '
        'classifier on 1% (600) or 10% (6,000) of the train labels (fixed class-balanced '
        'subsets), top-1 on the 10,000 test images '
        f'(`{SEMI_CFG["semi1"]["resnet"]}`, `{SEMI_CFG["semi10"]["resnet"]}`).',
        '',
        'Mean ± standard deviation over seeds; Δ columns are paired by seed.',
        '',
    ]
    if args.quick:
        lines += [
            '**This is a `--quick` smoke run (tiny data, a few iterations), not a measurement.**',
            '',
        ]
    g = gate(records)
    lines += ['## The design check', '']
    if g is None:
        lines += [
            'Supervised and random-init detection runs with a common seed are not recorded yet.',
            '',
        ]
    else:
        verdict = 'met' if g['met'] else '**not met**'
        lines += [
            f'The supervised backbone must beat random initialisation by at least '
            f'{GATE_BOX_AP:.0f} box AP at this budget before methods are compared: '
            f'{g["mean"]:+.2f} box AP over {len(g["diffs"])} seed(s) '
            f'({", ".join(f"{d:+.2f}" for d in g["diffs"])}): {verdict}.',
            '',
        ]
    for family in ('resnet', 'vit'):
        rows = [r for r in ROWS if ROWS[r][1] == family]
        if not any(records.get(t, {}).get(r) for t in TASKS for r in rows):
            continue
        rand = RANDOM_OF[family]
        lines += [
            f'## {FAMILY_LABEL[family]} rows',
            '',
            '| row | box AP | Δ box vs random | Δ box vs baseline | box AP50 | mask AP | '
            'Δ mask vs random | mask AP50 | 1% top-1 | Δ vs random | 10% top-1 | '
            'Δ vs random | seeds |',
            '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
        ]
        for row in rows:
            label, _, _, base = ROWS[row]
            d = det.get(row, [])
            s1 = records.get('semi1', {}).get(row, [])
            s10 = records.get('semi10', {}).get(row, [])
            if not (d or s1 or s10):
                lines.append(f'| {label} | not run yet |' + ' |' * 11)
                continue
            r_det = det.get(rand, [])
            r_s1 = records.get('semi1', {}).get(rand, [])
            r_s10 = records.get('semi10', {}).get(rand, [])
            seeds = sorted({r['seed'] for r in d + s1 + s10})
            lines.append(
                f'| {label} | {_cell(d, "box_ap")} | '
                f'{_delta(d, r_det, "box_ap") if row != rand else "–"} | '
                f'{_delta(d, det.get(base, []), "box_ap") if base else "–"} | '
                f'{_cell(d, "box_ap50")} | {_cell(d, "mask_ap")} | '
                f'{_delta(d, r_det, "mask_ap") if row != rand else "–"} | '
                f'{_cell(d, "mask_ap50")} | {_cell(s1, "top1")} | '
                f'{_delta(s1, r_s1, "top1") if row != rand else "–"} | '
                f'{_cell(s10, "top1")} | '
                f'{_delta(s10, r_s10, "top1") if row != rand else "–"} | '
                f'{", ".join(map(str, seeds))} |'
            )
        png = plot_det(family, records, out_dir)
        if png:
            lines += ['', f'![box AP against fine-tuning iteration]({osp.basename(png)})']
        lines += [
            '',
            'Baselines: '
            + ', '.join(f'{ROWS[r][0]} against {ROWS[ROWS[r][3]][0]}' for r in rows if ROWS[r][3])
            + '.',
            '',
        ]
    pre = records.get('pretrain', {})
    purity = [(k, bq.purity_text(v)) for k, v in sorted(pre.items()) if bq.purity_text(v)]
    if purity:
        lines += [
            '## Label purity of the positives (a monitor; labels never reach a loss)',
            '',
            "CsMl: share of the mined neighbours with the anchor's class, at each mining "
            "round. WCL: share of each anchor's 1-NN-graph component mates with its "
            'class, mean per epoch. Random pairs of Fashion-MNIST images share a class '
            '10% of the time.',
            '',
        ]
        lines += [f'- {bq.METHODS[k][0]}: {text}' for k, text in purity]
        lines.append('')
    times = {
        t: sorted(r['train_seconds'] for rows in records.get(t, {}).values() for r in rows)
        for t in TASKS
    }
    hw = sorted(
        {
            r.get('hardware', bq.DEFAULT_HARDWARE)
            for t in TASKS
            for rows in records.get(t, {}).values()
            for r in rows
        }
    )
    if any(times.values()):
        lines += [
            '## Cost',
            '',
            'Fine-tuning time per run (fastest – slowest), '
            f'{" / ".join(hw)}: '
            + '; '.join(f'{TASK_LABEL[t]} {v[0]:.0f}–{v[-1]:.0f} s' for t, v in times.items() if v)
            + '. Pretraining times are in [quality.md](quality.md).',
            '',
        ]
    lines += [
        '## Reproduce',
        '',
        '```',
        'make bench-transfer                      # every row, task and seed; resumable',
        'python tools/benchmarks/bench_transfer.py --rows random-resnet supervised '
        '--tasks det --seeds 0',
        'python tools/benchmarks/bench_transfer.py --report-only',
        '```',
        '',
        'The pretraining each row is fine-tuned from (the harness runs it, or reuses its '
        'cached checkpoint; add `--cfg-options randomness.seed=<seed>`):',
        '',
    ]
    lines += [
        f'- {label}: `{bq.train_command(key)}`'
        for label, _, key, _ in ROWS.values()
        if key is not None
    ]
    lines += ['']
    return bq.write_text_atomic(osp.join(out_dir, 'transfer.md'), lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    work_dir = osp.abspath(args.work_dir or (default_work_dir() + ('-quick' if args.quick else '')))
    out_dir = osp.abspath(
        args.out_dir
        or (osp.join(work_dir, 'report') if args.quick else osp.join(ROOT, 'docs', 'results'))
    )
    os.makedirs(out_dir, exist_ok=True)
    if args.readme_table:
        print(readme_table(load_records(out_dir)))
        return
    if not args.report_only:
        bq.require_fashion_mnist('bench_transfer')
        if 'det' in args.tasks:
            from csml_mm.utils.stack import detection_stack_message, missing_detection_parts

            missing = missing_detection_parts()
            if missing:
                raise SystemExit(
                    'error: ' + detection_stack_message('bench_transfer.py --tasks det', missing)
                )
        os.makedirs(work_dir, exist_ok=True)
        scenes = scenes_root(work_dir, args.quick) if 'det' in args.tasks else None
        for seed in args.seeds:
            for row in args.rows:
                for task in args.tasks:
                    run_task(task, row, seed, work_dir, out_dir, args.quick, scenes)
                    write_report(out_dir, args)
    path = write_report(out_dir, args)
    print(f'[transfer] report: {path}')


if __name__ == '__main__':
    main()
