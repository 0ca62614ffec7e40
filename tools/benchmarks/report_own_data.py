"""Write docs/results/own_data.md from a run of tools/benchmarks/own_data_walkthrough.sh.

Usage::

    python tools/benchmarks/report_own_data.py [OUT] [--records docs/results/own_data_runs]
        [--report docs/results/own_data.md]

Reads ``OUT/steps.tsv`` (each step's wall time and command), ``OUT/knn-*.json`` (each
evaluation's kNN and quick linear-probe accuracies) and the data preparation's
``split.json`` / ``prepare_folder_skipped.txt``; copies them to ``--records`` (so the report
can be regenerated from the repository) and writes the report.
"""

import argparse
import csv
import json
import os
import os.path as osp
import platform
import shutil
import sys
from typing import Dict, List, Optional

#: evaluation name -> (row label, the floor it is compared with)
ROWS = [
    ('raw-pixels', 'raw pixels (64 x 64 x 3, flattened)', None),
    ('random-resnet', 'ResNet-18 w16, random init', None),
    ('mocov2', 'MoCo v2, 60 epochs', 'random-resnet'),
    ('csml', 'CsMl, 60 epochs', 'random-resnet'),
    ('wcl', 'WCL, 60 epochs', 'random-resnet'),
    ('random-vit', 'ViT d4 w64 p8, random init', None),
    ('aps', 'APS, 60 epochs', 'random-vit'),
]
CONFIGS = {
    'mocov2': 'configs/mocov2/mocov2_resnet18-w16_1xb128-bnneck-64px-coslr-60e_folder.py',
    'csml': 'configs/csml/csml_resnet18-w16_1xb128-bnneck-64px-coslr-60e_folder.py',
    'wcl': 'configs/wcl/wcl_resnet18-w16_1xb128-64px-coslr-60e_folder.py',
    'aps': 'configs/aps/aps_vit-d4w64-p8_1xb128-64px-coslr-60e_folder.py',
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        'out',
        nargs='?',
        default=osp.expanduser('~/.cache/csml_mm/own_data'),
        help="the walk-through's output folder, or the records folder to "
        'regenerate the report from the repository',
    )
    p.add_argument('--records', default='docs/results/own_data_runs')
    p.add_argument('--report', default='docs/results/own_data.md')
    return p.parse_args(argv)


def read_steps(path: str) -> Dict[str, dict]:
    with open(path) as f:
        return {
            row['step']: dict(seconds=float(row['seconds']), command=row['command'])
            for row in csv.DictReader(f, delimiter='\t')
        }


def iteration_times(out: str) -> Dict[str, dict]:
    """Per method, from its training log: iterations run and the 10th percentile / median of
    the logged per-iteration time (``time:`` of mmengine's log lines, a 10-iteration mean)."""
    import glob
    import re
    import statistics

    found = {}
    for name in CONFIGS:
        logs = sorted(glob.glob(osp.join(out, 'work', name, '*', '*.log')))
        times, iters = [], 0
        for log in logs:
            with open(log) as f:
                for line in f:
                    m = re.search(
                        r'Epoch\(train\)\s+\[(\d+)\]\[(\d+)/(\d+)\].*?\btime: ([\d.]+)', line
                    )
                    if m:
                        times.append(float(m.group(4)))
                        iters = max(
                            iters, (int(m.group(1)) - 1) * int(m.group(3)) + int(m.group(3))
                        )
        if times:
            times.sort()
            found[name] = dict(
                iterations=iters, p10=times[len(times) // 10], median=statistics.median(times)
            )
    return found


def read_evals(folder: str) -> Dict[str, dict]:
    out = {}
    for name, _, _ in ROWS:
        path = osp.join(folder, f'knn-{name}.json')
        if osp.isfile(path):
            with open(path) as f:
                out[name] = json.load(f)['results']
    return out


def _fmt_s(seconds: Optional[float]) -> str:
    if seconds is None:
        return ''
    return f'{seconds:.0f} s' if seconds < 120 else f'{seconds / 60:.1f} min'


def results_table(
    evals: Dict[str, dict], steps: Dict[str, dict], iters: Optional[Dict[str, dict]] = None
) -> List[str]:
    iters = iters or {}
    lines = [
        '| encoder | kNN top-1, k=10 | kNN top-1, k=20 | linear probe top-1 | '
        'k=20 gain over its random init | over raw pixels | pretraining wall time | '
        'quiet-machine estimate |',
        '|---|---:|---:|---:|---:|---:|---:|---:|',
    ]
    raw = evals.get('raw-pixels', {}).get('top1_k20')
    for name, label, floor in ROWS:
        if name not in evals:
            continue
        r = evals[name]
        gain = gain_raw = ''
        if floor is not None and floor in evals:
            gain = f'{r["top1_k20"] - evals[floor]["top1_k20"]:+.2f}'
        if name != 'raw-pixels' and raw is not None:
            gain_raw = f'{r["top1_k20"] - raw:+.2f}'
        linear = f'{r["linear_top1"]:.2f}' if 'linear_top1' in r else ''
        pre = _fmt_s(steps.get(f'pretrain-{name}', {}).get('seconds'))
        it = iters.get(name)
        quiet = _fmt_s(it['p10'] * it['iterations']) if it else ''
        lines.append(
            f'| {label} | {r["top1_k10"]:.2f} | {r["top1_k20"]:.2f} | {linear} | '
            f'{gain} | {gain_raw} | {pre} | {quiet} |'
        )
    return lines


def steps_table(steps: Dict[str, dict], out: str) -> List[str]:
    lines = ['| step | wall time | command |', '|---|---:|---|']
    home = osp.expanduser('~')
    for name, step in steps.items():
        cmd = (
            step['command']
            .replace(out, 'OUT')
            .replace(home, '~')
            .replace('.venv/bin/python', 'python')
        )
        lines.append(f'| {name} | {_fmt_s(step["seconds"])} | `{cmd}` |')
    return lines


def _first(*paths: str) -> Optional[str]:
    return next((p for p in paths if osp.isfile(p)), None)


def data_lines(out: str) -> List[str]:
    split = _first(osp.join(out, 'data', 'split', 'split.json'), osp.join(out, 'split.json'))
    if split is None:
        return []
    with open(split) as f:
        s = json.load(f)
    skipped_file = _first(
        osp.join(out, 'data', 'clipart_96', 'prepare_folder_skipped.txt'),
        osp.join(out, 'prepare_folder_skipped.txt'),
    )
    skipped = []
    if skipped_file:
        with open(skipped_file) as f:
            skipped = [line for line in f if line.strip()]
    bombs = sum('max_pixels' in line for line in skipped)
    skipped_train = sum('/train/' in line.split('\t')[0] for line in skipped)
    per_class = ', '.join(f'{c} {n["train"]}/{n["val"]}' for c, n in s['classes'].items())
    return [
        f'- {len(s["classes"])} classes, {s["train"]} train and {s["val"]} val images after '
        f'the split ({per_class}, train/val); {s["duplicates_dropped"]} byte-identical copies '
        f'within a class and {s["ambiguous_dropped"]} files whose content sits in several '
        'classes were left out.',
        f'- `prepare_folder.py` did not copy {len(skipped)} of them ({bombs} above the '
        f'decompression-bomb limit of 50 Mpx, {len(skipped) - bombs} unreadable; each listed '
        f'with its reason), so {s["train"] - skipped_train} train and '
        f'{s["val"] - (len(skipped) - skipped_train)} val images were used, copied at most '
        '96 px on the longer side, transparency composited onto white.',
    ]


def render(
    out: str,
    steps: Dict[str, dict],
    evals: Dict[str, dict],
    iters: Optional[Dict[str, dict]] = None,
) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        '# Your own folder on one machine: the small recipes, measured',
        '',
        'Generated by `tools/benchmarks/report_own_data.py` from a run of',
        '`tools/benchmarks/own_data_walkthrough.sh` (the records are in `own_data_runs/`).',
        f'Machine: {os.cpu_count()} cores ({cpu}), no GPU; one step at a time.',
        '',
        '## The folder',
        '',
        "Clip art from Debian's `openclipart-png` package (`/usr/share/openclipart/png`): RGBA, "
        'palette and grey + alpha PNGs from 32 px to 16,000 px on a side, in category folders. '
        'Eleven categories with at least 90 distinct images are the labels (at most 400 drawn '
        'per category); training uses the train split only.',
        '',
        *data_lines(out),
        '',
        '## Results (seed 0)',
        '',
        *results_table(evals, steps, iters),
        '',
        'Wall time is what the step took on this machine, other jobs included. The estimate is '
        'the iterations run times the 10th percentile of the logged iteration time (each a '
        "mean over 10 iterations), the pace of the run's quiet stretches; it leaves out the "
        'kNN monitor and, for CsMl, the mining passes (a few seconds each).',
        '',
        'kNN: weighted vote of the k nearest train images (cosine, T = 0.07) over the pooled '
        'last-stage features; linear probe: `knn_eval.py --linear-probe` (L-BFGS logistic '
        'regression on the same frozen features). One seed each: differences of a point or two '
        'between methods are within what a second seed may move.',
        '',
        '## Every step, timed',
        '',
        *steps_table(steps, out),
        '',
        'The configs: '
        + ', '.join(f'[`{osp.basename(c)}`](../../{c})' for c in CONFIGS.values())
        + '.',
        '',
    ]
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    tsv = osp.join(args.out, 'steps.tsv')
    if not osp.isfile(tsv):
        raise SystemExit(
            f'error: {tsv} is missing; run tools/benchmarks/own_data_walkthrough.sh '
            f'{args.out} first'
        )
    steps, evals = read_steps(tsv), read_evals(args.out)
    os.makedirs(args.records, exist_ok=True)
    iters_file = osp.join(args.records, 'iteration_times.json')
    if osp.samefile(args.records, args.out):  # regenerating from the records
        iters = {}
        if osp.isfile(iters_file):
            with open(iters_file) as f:
                iters = json.load(f)
        with open(args.report, 'w') as f:
            f.write(render(args.out, steps, evals, iters))
        print(f'wrote {args.report} from the records in {args.out}')
        return 0
    with open(tsv) as f:  # the commands name the output folder as OUT
        text = f.read().replace(osp.abspath(args.out), 'OUT')
    with open(osp.join(args.records, 'steps.tsv'), 'w') as f:
        f.write(text)
    for name in evals:
        shutil.copy(osp.join(args.out, f'knn-{name}.json'), args.records)
    for rel in ('data/split/split.json', 'data/clipart_96/prepare_folder_skipped.txt'):
        if osp.isfile(osp.join(args.out, rel)):
            shutil.copy(osp.join(args.out, rel), args.records)
    iters = iteration_times(args.out)
    with open(iters_file, 'w') as f:
        json.dump(iters, f, indent=1)
    with open(args.report, 'w') as f:
        f.write(render(args.out, steps, evals, iters))
    print(f'wrote {args.report} ({len(evals)} evaluations, {len(steps)} steps)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
