# Copyright (c) csml_mm contributors. All rights reserved.
"""The quality table: every method beside its baseline on Fashion-MNIST, at equal budget.

Each run pretrains one ``_fmnist`` config with ``tools/train.py`` (one seed), then evaluates
the final checkpoint with ``tools/analysis_tools/knn_eval.py`` under one protocol fixed for
every row: kNN top-1 (k = 20, T = 0.07, weighted vote) with the 60,000 train images as the bank
and the 10,000 test images as the queries, and the quick linear probe on the same frozen
features (``csml_mm.evaluation.linear_probe_accuracy``). Raw pixels and each backbone at random
initialisation are the floors, a supervised encoder with the same backbone and budget the
ceiling. Each run's result lands in ``OUT_DIR/runs/<method>/seed<k>.json`` (written atomically
and kept in the repository; a run with a result is skipped, so a partial table resumes where it
stopped, in a later sitting too), its checkpoints and logs in ``WORK_DIR``; the report
(``docs/results/quality.md``) and one plot per comparison (kNN top-1 against iteration, from
the ``KNNEvalHook`` logs) are rebuilt from every result found.

Examples::

    python tools/benchmarks/bench_quality.py                       # everything, 3 seeds
    python tools/benchmarks/bench_quality.py --pairs csml --seeds 0
    python tools/benchmarks/bench_quality.py --report-only         # rebuild the report
    python tools/benchmarks/bench_quality.py --quick --work-dir /tmp/q --out-dir /tmp/q/report
"""

import argparse
import json
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))

RESNET_CFG = 'configs/simclr/simclr_resnet18-w16_1xb128-coslr-7e_fmnist.py'
VIT_CFG = 'configs/aps/aps_vit-d4w64-p4_1xb128-coslr-2e_fmnist.py'
#: one config per recipe; the comparisons that run a recipe longer or shorter than its config
#: give the number of epochs (``tools/train.py --epochs``, schedule stretched with it)
MOCO_BN_CFG = 'configs/mocov2/mocov2_resnet18-w16_1xb128-bnneck-coslr-7e_fmnist.py'
CSML_BN_CFG = 'configs/csml/csml_resnet18-w16_1xb128-bnneck-coslr-4e_fmnist.py'
CSML_ML_CFG = 'configs/csml/csml_resnet18-w16-multilevel_1xb128-bnneck-coslr-4e_fmnist.py'


class Method(NamedTuple):
    """One row of the quality table: what it is called and how it is trained."""

    label: str
    config: str
    #: extra ``--cfg-options`` of every run of the row
    options: Sequence[str] = ()
    #: ``tools/train.py --epochs`` (``None``: the config's own ``max_epochs``)
    epochs: Optional[int] = None


METHODS: Dict[str, Method] = {
    'mocov2': Method('MoCo v2 (SplitBN)', MOCO_BN_CFG, epochs=4),
    'mocov2-bn': Method(
        'MoCo v2, plain BN (no shuffle-BN remedy)',
        MOCO_BN_CFG,
        ['model.backbone.norm_cfg.num_splits=1'],
        epochs=4,
    ),
    'csml': Method('CsMl', CSML_BN_CFG),
    'csml-ml': Method('CsMl multi-level (HSA-style)', CSML_ML_CFG),
    'mocov2-5e': Method('MoCo v2 (SplitBN), 5 epochs', MOCO_BN_CFG, epochs=5),
    'csml-5e': Method('CsMl, 5 epochs', CSML_BN_CFG, epochs=5),
    'mocov2-6e': Method('MoCo v2 (SplitBN), 6 epochs', MOCO_BN_CFG, epochs=6),
    'csml-6e': Method('CsMl, 6 epochs', CSML_BN_CFG, epochs=6),
    'csml-ml-6e': Method('CsMl multi-level (HSA-style), 6 epochs', CSML_ML_CFG, epochs=6),
    'mocov2-7e': Method('MoCo v2, BN in the projection MLP', MOCO_BN_CFG),
    'mocov2-8e': Method('MoCo v2, BN in the projection MLP, 8 epochs', MOCO_BN_CFG, epochs=8),
    'simclr': Method('SimCLR', RESNET_CFG),
    'wcl': Method('WCL', 'configs/wcl/wcl_resnet18-w16_1xb128-coslr-7e_fmnist.py'),
    'aps': Method('APS (selective view 2)', VIT_CFG),
    'aps-uniform': Method(
        'APS with uniform view 2', VIT_CFG, ['train_dataloader.dataset.pipeline.2.power=0.0']
    ),
    'aps-full': Method(
        'ViT with full views',
        VIT_CFG,
        [
            'train_dataloader.dataset.pipeline.1.ratio=1.0',
            'train_dataloader.dataset.pipeline.1.rounds=1',
        ],
    ),
    'supervised': Method(
        'Supervised (ceiling)', 'configs/supervised/resnet18-w16_1xb128-coslr-7e_fmnist.py'
    ),
}
#: comparison -> (baseline, methods...), the first entry is the baseline
PAIRS: Dict[str, List[str]] = {
    'csml': ['mocov2', 'mocov2-bn', 'csml', 'csml-ml'],
    # the same two recipes one epoch longer
    'csml-5e': ['mocov2-5e', 'csml-5e'],
    # ... and two epochs longer: the CsMl recipe that clears +5
    'csml-6e': ['mocov2-6e', 'csml-6e', 'csml-ml-6e'],
    'wcl': ['simclr', 'wcl'],
    'mocov2': ['simclr', 'mocov2-7e'],
    # MoCo v2 on its own, one epoch longer than SimCLR's budget: the recipe that clears +5
    'mocov2-8e': ['mocov2-8e'],
    'aps': ['aps-full', 'aps-uniform', 'aps'],
    'supervised': ['supervised'],
}
#: floors: key -> (label, config, knn_eval mode)
FLOORS = {
    'raw': ('Raw pixels', RESNET_CFG, '--raw-pixels'),
    'random-resnet': ('ResNet-18 w16, random init', RESNET_CFG, '--random-init'),
    'random-vit': ('ViT d4 w64 p4, random init', VIT_CFG, '--random-init'),
}
FLOOR_OF = {
    'csml': 'random-resnet',
    'csml-5e': 'random-resnet',
    'csml-6e': 'random-resnet',
    'wcl': 'random-resnet',
    'mocov2': 'random-resnet',
    'mocov2-8e': 'random-resnet',
    'aps': 'random-vit',
    'supervised': 'random-resnet',
}
#: comparison -> (method, reference) differences the report lists with their per-seed values,
#: beside the Δ columns (which are against random init and the pair's baseline)
PAIRED_DIFFERENCES: Dict[str, List[tuple]] = {
    'csml': [
        ('mocov2', 'mocov2-bn'),
        ('csml', 'mocov2'),
        ('csml-ml', 'mocov2'),
        ('csml-ml', 'csml'),
    ],
    'csml-5e': [('csml-5e', 'mocov2-5e'), ('csml-5e', 'csml'), ('mocov2-5e', 'mocov2')],
    'csml-6e': [
        ('csml-6e', 'mocov2-6e'),
        ('csml-6e', 'csml'),
        ('mocov2-6e', 'mocov2'),
        ('csml-ml-6e', 'mocov2-6e'),
        ('csml-ml-6e', 'csml-6e'),
        ('csml-ml-6e', 'csml-ml'),
    ],
    'aps': [('aps', 'aps-uniform')],
}
KNN_ARGS = ['--topk', '20', '--temperature', '0.07']
#: --quick: one epoch over a small data root; for tests of the harness itself
QUICK_EPOCHS = 1
QUICK_OPTIONS = ['default_hooks.logger.interval=1']


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--pairs', nargs='+', default=list(PAIRS), choices=list(PAIRS))
    p.add_argument(
        '--methods',
        nargs='+',
        default=None,
        choices=list(METHODS),
        help='only these methods of the chosen pairs',
    )
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'quality'))
    p.add_argument(
        '--out-dir',
        default=osp.join(ROOT, 'docs', 'results'),
        help='where quality.md, the plots and the per-run results (runs/) go',
    )
    p.add_argument(
        '--epochs',
        type=int,
        default=None,
        help="override every config's max_epochs (e.g. 200 on a GPU); results "
        'go to WORK_DIR/e<epochs>/ and the report says so',
    )
    p.add_argument(
        '--cfg-options', nargs='+', default=[], help='extra overrides for every pretraining run'
    )
    p.add_argument(
        '--quick',
        action='store_true',
        help='smoke run: 1 epoch per config (point FASHION_MNIST_ROOT at a small '
        'copy to make it seconds long)',
    )
    p.add_argument('--report-only', action='store_true', help='only rebuild the report')
    p.add_argument('--no-floors', action='store_true', help='skip raw pixels / random init')
    return p.parse_args(argv)


def _env() -> dict:
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env['PYTHONUNBUFFERED'] = '1'
    return env


def _write_json(path: str, obj: dict) -> None:
    tmp = path + '.part'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def _run(cmd: List[str], log: str, env: Optional[dict] = None) -> None:
    with open(log, 'a') as f:
        f.write('$ ' + ' '.join(cmd) + '\n')
        f.flush()
        proc = subprocess.run(
            cmd, cwd=ROOT, env=dict(_env(), **(env or {})), stdout=f, stderr=subprocess.STDOUT
        )
    if proc.returncode != 0:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(
            f'command failed ({proc.returncode}): {" ".join(cmd)}\nlast lines of {log}:\n{tail}'
        )


def _knn_eval(
    config: str,
    mode: List[str],
    out: str,
    log: str,
    seed: int,
    options: List[str],
    linear: bool = True,
) -> dict:
    cmd = [
        sys.executable,
        'tools/analysis_tools/knn_eval.py',
        config,
        *mode,
        *KNN_ARGS,
        '--seed',
        str(seed),
        '--out',
        out,
    ] + (['--linear-probe'] if linear else [])
    if options:
        cmd += ['--cfg-options', *options]
    _run(cmd, log)
    with open(out) as f:
        return json.load(f)['results']


def knn_curve(run_dir: str) -> List[List[float]]:
    """``[[iteration, kNN top-1], ...]`` from the KNNEvalHook scalars of a training run.

    The hook logs at epoch boundaries (``step`` = finished epochs); iterations per epoch
    come from the training log's ``Epoch(train) [e][i/N]`` lines. A run resumed after an
    interruption has one log folder per segment (named by its start time); their points are
    merged, the later segment's value winning where two give the same epoch.
    """
    scalars, logs = [], []
    for dirpath, _, files in os.walk(run_dir):
        scalars += [osp.join(dirpath, f) for f in files if f == 'scalars.json']
        logs += [osp.join(dirpath, f) for f in files if f.endswith('.log') and f[0].isdigit()]
    if not scalars or not logs:
        return []
    per_epoch = None
    for log in sorted(logs, key=osp.basename, reverse=True):
        with open(log) as f:
            found = re.findall(r'Epoch\(train\)\s*\[\d+\]\[\s*\d+/(\d+)\]', f.read())
        if found:
            per_epoch = int(found[-1])
            break
    if per_epoch is None:
        return []
    points: Dict[int, float] = {}
    for path in sorted(scalars, key=lambda p: osp.basename(osp.dirname(osp.dirname(p)))):
        with open(path) as f:
            for line in f:
                row = json.loads(line) if line.strip() else {}
                if 'knn/top1_k20' in row:
                    points[int(row['step'])] = row['knn/top1_k20']
    return [[step * per_epoch, points[step]] for step in sorted(points)]


def train_command(key: str, epochs: Optional[int] = None, extra: Sequence[str] = ()) -> str:
    """The ``tools/train.py`` command line that pretrains ``key`` (``epochs`` overrides the
    row's own, ``extra`` are the harness's ``--cfg-options`` for every run; each run adds
    ``randomness.seed=<seed>``)."""
    method = METHODS[key]
    epochs = epochs or method.epochs
    cmd = f'python tools/train.py {method.config}'
    if epochs:
        cmd += f' --epochs {epochs}'
    options = [*method.options, *extra]
    if options:
        cmd += ' --cfg-options ' + ' '.join(options)
    return cmd


def epoch_override_options(config: str, epochs: int) -> List[str]:
    """``--cfg-options`` that run ``config`` for ``epochs`` epochs with its schedule stretched
    (:func:`csml_mm.utils.run_size.epoch_options`, what ``tools/train.py --epochs`` does)."""
    from mmengine.config import Config

    from csml_mm.utils.run_size import epoch_options

    return epoch_options(Config.fromfile(osp.join(ROOT, config)), epochs)


def kept_log_texts(texts: List[str]) -> List[str]:
    """The training logs of a run's segments (in time order) without the work a resume threw
    away: a segment that says ``resumed epoch: E, iter: I`` continues from the checkpoint an
    earlier segment logged as ``Saving checkpoint at E epochs`` (or ``at I iterations``);
    what that segment logged after it, and any segment between the two, did not count."""
    kept = list(texts)
    for i, text in enumerate(texts):
        resumed = re.search(r'resumed epoch: (\d+), iter: (\d+)', text)
        if not resumed:
            continue
        epoch, it = resumed.groups()
        saved = re.compile(rf'Saving checkpoint at ({epoch} epochs|{it} iterations)\b')
        for j in range(i - 1, -1, -1):
            hit = saved.search(kept[j])
            if hit:
                end = kept[j].find('\n', hit.end())
                kept[j] = kept[j][: end if end >= 0 else len(kept[j])]
                for k in range(j + 1, i):
                    kept[k] = ''
                break
    return kept


def positive_purity(run_dir: str) -> Optional[dict]:
    """Label purity of what a method treated as positives, read from its training logs.

    CsMl: the share of mined neighbours with the anchor's class at each mining round
    (``NeighbourMiningHook``); WCL: the share of each anchor's graph-component mates with
    its class, averaged over the log windows of each epoch (``graph_purity``). A monitor
    only: the labels never reach a loss. For a resumed run, the rounds and windows that the
    resume threw away (logged after the checkpoint it continued from) are left out.
    """
    logs, graph = [], {}
    for dirpath, dirnames, files in os.walk(run_dir):
        dirnames.sort()  # the segments of a resumed run in time order (timestamped folders)
        for name in sorted(files):
            path = osp.join(dirpath, name)
            if name.endswith('.log') and name[0].isdigit():
                with open(path) as f:
                    logs.append(f.read())
            elif name == 'scalars.json':
                with open(path) as f:
                    for n, line in enumerate(f):
                        row = json.loads(line) if line.strip() else {}
                        if 'graph_purity' in row and 'epoch' in row:
                            # a window logged again after a resume replaces the first one
                            where = row.get('iter', f'{path}:{n}')
                            graph.setdefault(int(row['epoch']), {})[where] = row['graph_purity']
    rounds = [
        float(v)
        for text in kept_log_texts(logs)
        for v in re.findall(r'label purity ([\d.]+)%', text)
    ]
    out = {}
    if rounds:
        out['mined_neighbours'] = rounds
    if graph:
        out['graph_components'] = [
            round(statistics.mean(graph[e].values()), 2) for e in sorted(graph)
        ]
    return out or None


def purity_text(pre: List[dict]) -> str:
    """The purity records of one method's runs as one line, seed by seed."""
    parts = []
    for rec in sorted(pre, key=lambda r: r['seed']):
        pur = rec.get('purity') or {}
        if 'mined_neighbours' in pur:
            parts.append(
                f'seed {rec["seed"]}: mined neighbours '
                + ' / '.join(f'{v:.1f}' for v in pur['mined_neighbours'])
                + '%'
            )
        if 'graph_components' in pur:
            parts.append(
                f'seed {rec["seed"]}: graph components '
                + ' / '.join(f'{v:.1f}' for v in pur['graph_components'])
                + '%'
            )
    return '; '.join(parts)


#: the hardware of results written before runs recorded their own
DEFAULT_HARDWARE = 'one process on 2 CPU cores'


def hardware() -> str:
    """Where this machine trains: the GPU's name, or the CPU core count."""
    import torch

    if torch.cuda.is_available():
        return f'one process on one {torch.cuda.get_device_name(0)}'
    return f'one process on {os.cpu_count()} CPU cores'


def _prepare(results_dir: str, work_dir: str, key: str, seed: int):
    """``(result_file, run_dir, stored result or None)`` of one run; makes the folders."""
    result_file = osp.join(results_dir, key, f'seed{seed}.json')
    if osp.isfile(result_file):
        with open(result_file) as f:
            return result_file, None, json.load(f)
    run_dir = osp.join(work_dir, key, f'seed{seed}')
    os.makedirs(run_dir, exist_ok=True)
    os.makedirs(osp.dirname(result_file), exist_ok=True)
    return result_file, run_dir, None


def _interrupted(
    run_dir: str, warn: Optional[Callable[[str], None]] = None
) -> Optional[Tuple[str, int]]:
    """``(checkpoint, count)`` of the checkpoint a run left that ``tools/train.py --resume``
    would continue from (``epoch_N.pth`` or ``iter_N.pth``: N epochs or iterations done), or
    None when there is no complete one.

    The choice is :func:`csml_mm.utils.checkpoint_discovery.newest_complete_checkpoint`'s:
    ``last_checkpoint``'s file when it is complete, else the newest complete checkpoint of
    ``run_dir``. So when ``last_checkpoint`` names the file by its path on another machine (a
    work dir carried from the GPU machine), the newest complete checkpoint in ``run_dir`` is
    taken. ``warn`` receives what was skipped and why.
    """
    from csml_mm.utils.checkpoint_discovery import checkpoint_step, newest_complete_checkpoint

    ckpt = newest_complete_checkpoint(run_dir, **({'warn': warn} if warn else {}))
    count = checkpoint_step(ckpt) if ckpt is not None else None
    if count is None:
        return None
    return ckpt, count


_EPOCH_OPTION = re.compile(r'^(train_cfg\.max_epochs|param_scheduler\.\d+\.(end|T_max))=')


def _recipe_options(opts: List[str]) -> List[str]:
    """``opts`` without the epoch overrides (:func:`epoch_override_options`). A run folder
    belongs to one row and budget (``<key>/seed<k>``, ``e<N>/`` under a global ``--epochs``),
    which fix the epochs; a run started from a per-epoch config before those configs were
    folded into ``--epochs`` (no override options) resumes under the override options."""
    return [o for o in opts if not _EPOCH_OPTION.match(o)]


def _segments(run_dir: str, opts: List[str], resume_from: Optional[str], start: bool) -> dict:
    """The training segments of one run (``segments.json``), a new one opened if ``start``.

    The file lists ``{start, end}`` (wall-clock seconds) of each training process of the run,
    with the options it ran with. A segment that was killed has no end; it is closed at the
    write time of the checkpoint resumed from, the work it kept (0 s if it kept none). A
    stored run with other options (epoch overrides aside, :func:`_recipe_options`) is not
    resumed: that would mix two recipes.
    """
    path = osp.join(run_dir, 'segments.json')
    state = {'options': opts, 'segments': []}
    if resume_from is not None and osp.isfile(path):
        with open(path) as f:
            state = json.load(f)
        if _recipe_options(state['options']) != _recipe_options(opts):
            raise RuntimeError(
                f'{run_dir} holds an interrupted run with other options ({state["options"]}), '
                f'not {opts}; delete that folder or give another --work-dir.'
            )
        kept = osp.getmtime(resume_from)
        for seg in state['segments']:
            if seg['end'] is None:
                seg['end'] = max(seg['start'], min(kept, time.time()))
    if start:
        state['segments'].append({'start': time.time(), 'end': None})
    _write_json(path, state)
    return state


def _clear_stale(run_dir: str) -> None:
    """Remove what an earlier, unresumable training left in ``run_dir`` (checkpoints and
    timestamped log folders), so that a run trained from the start reads only its own logs."""
    import shutil

    for name in os.listdir(run_dir):
        path = osp.join(run_dir, name)
        if re.fullmatch(r'\d{8}_\d{6}', name) and osp.isdir(path):
            shutil.rmtree(path)
        elif re.fullmatch(r'(?:epoch|iter)_\d+\.pth|last_checkpoint', name):
            os.remove(path)


def train_resumable(
    config: str, run_dir: str, opts: List[str], target: int, tag: str, env: Optional[dict] = None
) -> Tuple[str, float, int]:
    """Trains ``config`` into ``run_dir`` until its ``target``-th epoch (or iteration)
    checkpoint exists; returns ``(checkpoint, train seconds, segments)``.

    A run whose work dir holds a checkpoint but no result (a session or a device call that
    ended mid-run) continues from that checkpoint (``tools/train.py --resume``), or is
    taken as it is when the checkpoint is the last one. Its train time is the sum of its
    segments' (``_segments``). Shared by this harness and ``bench_transfer.py``.
    """
    log = osp.join(run_dir, 'bench.log')
    # only a run that recorded its segments (and so its options) is resumed; an older
    # folder is trained over from the start
    recorded = osp.isfile(osp.join(run_dir, 'segments.json'))
    partial = (
        _interrupted(run_dir, warn=lambda m: print(f'{tag}: {m}', flush=True)) if recorded else None
    )
    resume_from = partial[0] if partial else None
    trained = partial is not None and partial[1] >= target
    if resume_from is None:
        _clear_stale(run_dir)
    state = _segments(run_dir, opts, resume_from, start=not trained)
    if trained:
        print(f'{tag}: training had finished ({osp.basename(resume_from)})', flush=True)
    else:
        how = f'resuming from {osp.basename(resume_from)}' if resume_from else 'training'
        print(f'{tag}: {how} {config}', flush=True)
        resume = ['--resume', resume_from] if resume_from else []
        _run(
            [
                sys.executable,
                'tools/train.py',
                config,
                '--work-dir',
                run_dir,
                *resume,
                '--cfg-options',
                *opts,
            ],
            log,
            env,
        )
        state['segments'][-1]['end'] = time.time()
        _write_json(osp.join(run_dir, 'segments.json'), state)
    segments = state['segments']
    train_s = sum(seg['end'] - seg['start'] for seg in segments)
    found = _interrupted(run_dir)
    if found is None or found[1] < target:
        raise RuntimeError(
            f'{tag}: training ended without the checkpoint of epoch or '
            f'iteration {target} in {run_dir} (see {log})'
        )
    return found[0], train_s, len(segments)


def run_method(
    key: str,
    seed: int,
    work_dir: str,
    results_dir: str,
    extra: List[str],
    epochs: Optional[int] = None,
    evaluate: bool = True,
) -> dict:
    """Pretrains one config for one seed (``train_resumable``) and evaluates it.

    ``evaluate=False`` (the transfer harness, which only needs the checkpoint) skips the
    kNN and linear evaluation; the result then has no ``knn_top1``.
    """
    label, config, options, own_epochs = METHODS[key]
    result_file, run_dir, done = _prepare(results_dir, work_dir, key, seed)
    if done is not None:
        return done
    opts = [f'randomness.seed={seed}', *options, *extra]
    epochs = epochs or own_epochs
    if epochs:
        opts += epoch_override_options(config, epochs)
    target = epochs or _config_epochs(config)
    ckpt, train_s, segments = train_resumable(
        config, run_dir, opts, target, f'[quality] {key} seed {seed}'
    )
    result = dict(
        method=key,
        label=label,
        config=config,
        options=opts,
        seed=seed,
        train_seconds=round(train_s, 1),
        hardware=hardware(),
        curve=knn_curve(run_dir),
        checkpoint=osp.relpath(ckpt, ROOT) if ckpt.startswith(ROOT) else ckpt,
    )
    purity = positive_purity(run_dir)
    if purity:
        result['purity'] = purity
    if evaluate:
        res = _knn_eval(
            config, [ckpt], osp.join(run_dir, 'knn.json'), osp.join(run_dir, 'bench.log'), seed, []
        )
        result.update(knn_top1=res['top1_k20'], linear_top1=res['linear_top1'])
    if segments > 1:
        result['segments'] = segments
    _write_json(result_file, result)
    if evaluate:
        print(
            f'[quality] {key} seed {seed}: kNN {result["knn_top1"]:.2f} linear '
            f'{result["linear_top1"]:.2f} ({train_s:.0f} s)',
            flush=True,
        )
    return result


def _config_epochs(config: str) -> int:
    from mmengine.config import Config

    return int(Config.fromfile(osp.join(ROOT, config)).train_cfg['max_epochs'])


def run_floor(key: str, seed: int, work_dir: str, results_dir: str) -> dict:
    label, config, mode = FLOORS[key]
    result_file, run_dir, done = _prepare(results_dir, work_dir, key, seed)
    if done is not None:
        return done
    # no linear probe on raw pixels: 3,072-d L-BFGS on 60,000 images takes many minutes
    res = _knn_eval(
        config,
        [mode],
        osp.join(run_dir, 'knn.json'),
        osp.join(run_dir, 'bench.log'),
        seed,
        [],
        linear=key != 'raw',
    )
    result = dict(
        method=key,
        label=label,
        config=config,
        seed=seed,
        knn_top1=res['top1_k20'],
        linear_top1=res.get('linear_top1'),
        hardware=hardware(),
    )
    _write_json(result_file, result)
    print(
        f'[quality] {key} seed {seed}: kNN {result["knn_top1"]:.2f} linear {result["linear_top1"]}',
        flush=True,
    )
    return result


# ----------------------------------------------------------------------------- report
def load_results(results_dir: str) -> Dict[str, List[dict]]:
    out: Dict[str, List[dict]] = {}
    if not osp.isdir(results_dir):
        return out
    for key in sorted(os.listdir(results_dir)):
        folder = osp.join(results_dir, key)
        for name in sorted(os.listdir(folder)) if osp.isdir(folder) else []:
            if name.startswith('seed') and name.endswith('.json'):
                with open(osp.join(folder, name)) as f:
                    out.setdefault(key, []).append(json.load(f))
    return out


def _stat(rows: List[dict], field: str) -> str:
    vals = [r[field] for r in rows if r.get(field) is not None]
    if not vals:
        return '–'
    if len(vals) == 1:
        return f'{vals[0]:.2f} (1 seed)'
    return f'{statistics.mean(vals):.2f} ± {statistics.stdev(vals):.2f} ({len(vals)} seeds)'


def _mean(rows: List[dict], field: str) -> Optional[float]:
    return statistics.mean(r[field] for r in rows) if rows else None


def _delta(rows: List[dict], ref: List[dict], field: str = 'knn_top1') -> str:
    """Mean difference over the seeds both have (paired by seed)."""
    by_seed = {r['seed']: r[field] for r in ref}
    diffs = [r[field] - by_seed[r['seed']] for r in rows if r['seed'] in by_seed]
    if not diffs:
        return '–'
    if len(diffs) == 1:
        return f'{diffs[0]:+.2f}'
    return f'{statistics.mean(diffs):+.2f} ± {statistics.stdev(diffs):.2f}'


def _by_seed(rows: List[dict], ref: List[dict], field: str = 'knn_top1') -> str:
    """The paired differences seed by seed: ``+2.35 (seed 0), +0.18 (seed 1)``."""
    by_seed = {r['seed']: r[field] for r in ref}
    return ', '.join(
        f'{r[field] - by_seed[r["seed"]]:+.2f} (seed {r["seed"]})'
        for r in sorted(rows, key=lambda r: r['seed'])
        if r['seed'] in by_seed
    )


def plot_pair(pair: str, results: Dict[str, List[dict]], out_dir: str) -> Optional[str]:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    drawn = False
    for key in PAIRS[pair]:
        for i, r in enumerate(sorted(results.get(key, []), key=lambda r: r['seed'])):
            if not r.get('curve'):
                continue
            xs, ys = zip(*r['curve'])
            ax.plot(
                xs,
                ys,
                marker='o',
                ms=3,
                color=f'C{PAIRS[pair].index(key)}',
                alpha=0.8,
                label=METHODS[key][0] if i == 0 else None,
            )
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel('iteration')
    ax.set_ylabel('kNN top-1 (%), monitor (10k bank)')
    ax.set_title(f'Fashion-MNIST: {pair} (iteration 0 = random init)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = osp.join(out_dir, f'quality_{pair}.png')
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(results_dir: str, out_dir: str, args) -> str:
    results = load_results(results_dir)
    os.makedirs(out_dir, exist_ok=True)
    shown = osp.relpath(results_dir, ROOT) if results_dir.startswith(ROOT) else results_dir
    machines = sorted(
        {
            r.get('hardware', DEFAULT_HARDWARE)
            for rows in results.values()
            for r in rows
            if 'train_seconds' in r or 'hardware' in r
        }
    )
    on_gpu = any('CPU' not in m for m in machines)
    title = f'at {args.epochs} epochs' if args.epochs else 'at a CPU budget'
    if on_gpu:
        title += ' on a GPU'
    lines = [
        f'# Quality table: Fashion-MNIST {title}',
        '',
        'Generated by `tools/benchmarks/bench_quality.py` (`make bench-quality`) from the '
        f'per-run results in `{shown}/` (one JSON per method and seed, kept in the repository '
        'so a partial table resumes in a later sitting); do not edit by hand.',
        '',
        '**Protocol, fixed before the runs.** Pretraining on the 60,000 Fashion-MNIST train '
        'images (labels unused, 32 px); evaluation of the final backbone (last stage, '
        'globally pooled; the class token for the ViT) by kNN top-1 (k = 20, T = 0.07, '
        'weighted vote; train split as the bank, the 10,000 test images as queries) and a '
        'quick linear probe (L2-regularised logistic regression by L-BFGS on the frozen, '
        'standardised features, λ = 1e-4). Mean ± standard deviation over seeds; Δ columns are '
        'paired by seed.',
        '',
        'One config per recipe: a comparison that runs a recipe for another number of epochs '
        'says so with `tools/train.py --epochs N`, which stretches the cosine schedule with '
        'it. (Records written before the per-epoch configs were folded into `--epochs` name '
        'the per-epoch file they ran; each resolved to the same config as its command.)',
        '',
    ]
    if args.quick:
        lines += ['**This is a `--quick` smoke run (1 epoch), not a measurement.**', '']
    if args.epochs:
        lines += [f'Budget override: every config at {args.epochs} epochs.', '']
    lines += ['## Floors', '', '| representation | kNN top-1 | linear probe |', '|---|---|---|']
    for key, (label, _, _) in FLOORS.items():
        rows = results.get(key, [])
        lines.append(f'| {label} | {_stat(rows, "knn_top1")} | {_stat(rows, "linear_top1")} |')
    for pair, keys in PAIRS.items():
        if not any(results.get(k) for k in keys):
            continue
        floor = results.get(FLOOR_OF[pair], [])
        base = results.get(keys[0], [])
        done = [r for k in keys for r in results.get(k, []) if r.get('curve')]
        budget = ''
        if done:
            iters = done[0]['curve'][-1][0]
            where = sorted({r.get('hardware', DEFAULT_HARDWARE) for r in done})
            budget = (
                f'Budget of every row: {iters:,} iterations at batch 128 '
                f'({iters * 128:,} images seen), {" / ".join(where)}.'
            )
        lines += [
            '',
            f'## {pair}',
            '',
            budget,
            '',
            '| method | kNN top-1 | Δ vs random init | Δ vs '
            + METHODS[keys[0]][0]
            + ' | linear probe | train time (s) | pretraining command (add the seed) |',
            '|---|---|---|---|---|---|---|',
        ]
        for key in keys:
            rows = results.get(key, [])
            if not rows:
                lines.append(f'| {METHODS[key][0]} | not run yet | | | | | |')
                continue
            # the fastest seed is the budget a quiet machine gives; slower seeds ran
            # beside other jobs, so the whole range is shown
            times = sorted(r['train_seconds'] for r in rows)
            t = f'{times[0]:.0f}' + (f' (–{times[-1]:.0f})' if len(times) > 1 else '')
            quick = QUICK_EPOCHS if getattr(args, 'quick', False) else None
            cfg = f'`{train_command(key, args.epochs or quick, getattr(args, "cfg_options", ()))}`'
            lines.append(
                f'| {METHODS[key][0]} | {_stat(rows, "knn_top1")} | {_delta(rows, floor)} | '
                f'{_delta(rows, base) if key != keys[0] else "–"} | '
                f'{_stat(rows, "linear_top1")} | {t} | {cfg} |'
            )
        diffs = [
            (a, b) for a, b in PAIRED_DIFFERENCES.get(pair, []) if results.get(a) and results.get(b)
        ]
        if diffs:
            lines += ['', 'Paired kNN differences (mean ± std over seeds, then seed by seed):', '']
            for a, b in diffs:
                ra, rb = results[a], results[b]
                lines.append(
                    f'- {METHODS[a][0]} − {METHODS[b][0]}: {_delta(ra, rb)} ({_by_seed(ra, rb)})'
                )
        purity = [(k, purity_text(results.get(k, []))) for k in keys]
        purity = [(k, text) for k, text in purity if text]
        if purity:
            lines += [
                '',
                'Label purity of the positives (a monitor: labels never reach a loss; '
                'random pairs share a class 10% of the time):',
                '',
            ]
            lines += [f'- {METHODS[k][0]}: {text}' for k, text in purity]
        png = plot_pair(pair, results, out_dir)
        if png:
            lines += [
                '',
                f'![kNN top-1 against iteration, {pair}]({osp.basename(png)})',
                '',
                'Train time: the fastest seed (the range in brackets; runs that shared '
                'the machine with other jobs took longer). '
                'The curves come from the online monitor (`KNNEvalHook`: the first '
                '10,000 train images as the bank, the test split as queries), so their '
                "levels sit below the table's 60,000-image protocol; iteration 0 is "
                "each run's own random initialisation.",
            ]
    budget_arg = f' --epochs {args.epochs}' if args.epochs else ''
    lines += ['', '## Reproduce', '', '```']
    if not args.epochs:
        lines += ['make bench-quality            # all pairs, seeds 0 1 2']
    if on_gpu:
        lines += [
            'bash tools/device/prepare_wheels.sh   # here, once; then on the GPU machine:',
            f'bash tools/device/gpu_quality.sh{budget_arg} --pairs wcl --seeds 0',
        ]
    lines += [
        f'python tools/benchmarks/bench_quality.py{budget_arg} --pairs csml --seeds 0   '
        '# one pair, one seed',
        '```',
        '',
    ]
    return write_text_atomic(osp.join(out_dir, 'quality.md'), lines)


def write_text_atomic(path: str, lines: List[str]) -> str:
    """Write a report atomically, through a file name of this process's own: processes
    sharing the out-dir (gpu_quality.sh --and) may write the report at the same time."""
    part = f'{path}.{os.getpid()}.part'
    with open(part, 'w') as f:
        f.write('\n'.join(lines))
    os.replace(part, path)
    return path


def require_fashion_mnist(tool: str) -> None:
    """Exit with the install hint when Fashion-MNIST is not installed."""
    from csml_mm.datasets.fashion_mnist import fashion_mnist_available, missing_message

    if not fashion_mnist_available():
        sys.exit(
            f'{tool}: '
            + missing_message(
                '(the four IDX .gz files under $FASHION_MNIST_ROOT or '
                '/usr/share/datasets/fashion-mnist)'
            )
        )


def main(argv=None) -> None:
    args = parse_args(argv)
    work_dir = osp.abspath(args.work_dir)
    if args.epochs:
        work_dir = osp.join(work_dir, f'e{args.epochs}')
    out_dir = osp.abspath(args.out_dir)
    results_dir = osp.join(out_dir, f'runs_e{args.epochs}' if args.epochs else 'runs')
    extra = list(args.cfg_options)
    epochs = args.epochs
    if args.quick:
        extra += QUICK_OPTIONS
        epochs = epochs or QUICK_EPOCHS
    if not args.report_only:
        require_fashion_mnist('bench_quality')
        for seed in args.seeds:
            if not args.no_floors:
                if seed == args.seeds[0]:
                    run_floor('raw', 0, work_dir, results_dir)
                for floor in dict.fromkeys(FLOOR_OF[p] for p in args.pairs):
                    run_floor(floor, seed, work_dir, results_dir)
            for pair in args.pairs:
                for key in PAIRS[pair]:
                    if args.methods is None or key in args.methods:
                        run_method(key, seed, work_dir, results_dir, extra, epochs)
                write_report(results_dir, out_dir, args)
    path = write_report(results_dir, out_dir, args)
    print(f'[quality] report: {path}')


if __name__ == '__main__':
    main()
