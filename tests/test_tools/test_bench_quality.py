"""The quality harness end to end in --quick mode on a small Fashion-MNIST copy: runs, results,
report, plot, resume without re-training, and the missing-data message."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

BENCH = 'tools/benchmarks/bench_quality.py'


def _small_fmnist(root, write_idx, n_train=256, n_test=64):
    rng = np.random.default_rng(0)
    for prefix, n in (('train', n_train), ('t10k', n_test)):
        labels = np.arange(n) % 10
        # class-dependent blobs, so that features carry label information
        imgs = rng.integers(0, 60, (n, 28, 28))
        for i, c in enumerate(labels):
            imgs[i, 2 * c : 2 * c + 8, 4:24] += 150
        write_idx(root / f'{prefix}-images-idx3-ubyte.gz', imgs, 0x803)
        write_idx(root / f'{prefix}-labels-idx1-ubyte.gz', labels, 0x801)


def _bench(repo_root, env, *args):
    proc = subprocess.run(
        [sys.executable, BENCH, *args],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return proc


def test_quick_run_writes_results_report_and_plot_then_resumes(
    repo_root, subprocess_env, tmp_path, write_idx
):
    data = tmp_path / 'fmnist'
    data.mkdir()
    _small_fmnist(data, write_idx)
    env = dict(subprocess_env, FASHION_MNIST_ROOT=str(data))
    work, out = tmp_path / 'work', tmp_path / 'report'
    args = (
        '--quick',
        '--pairs',
        'wcl',
        '--seeds',
        '0',
        '--work-dir',
        str(work),
        '--out-dir',
        str(out),
    )
    proc = _bench(repo_root, env, *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for key in ('random-resnet', 'simclr', 'wcl'):
        with open(out / 'runs' / key / 'seed0.json') as f:
            res = json.load(f)
        assert 0 <= res['knn_top1'] <= 100 and 0 <= res['linear_top1'] <= 100
    wcl = json.load(open(out / 'runs' / 'wcl' / 'seed0.json'))
    assert wcl['config'].endswith('_fmnist.py') and 'train_cfg.max_epochs=1' in wcl['options']
    # the 6-epoch cosine is squeezed into the one epoch, not cut off after it
    assert 'param_scheduler.0.end=1' in wcl['options']
    assert wcl['hardware'] == f'one process on {os.cpu_count()} CPU cores'
    # the curve: before training (iteration 0) and after the single epoch (2 iterations)
    assert [p[0] for p in wcl['curve']] == [0, 2]
    # the raw-pixel floor separates the synthetic classes well
    raw = json.load(open(out / 'runs' / 'raw' / 'seed0.json'))
    assert raw['knn_top1'] > 80 and raw['linear_top1'] is None
    report = (out / 'quality.md').read_text()
    assert '`--quick` smoke run' in report
    assert f'images seen), {wcl["hardware"]}.' in report
    assert f'| WCL | {wcl["knn_top1"]:.2f} (1 seed) |' in report
    assert 'quality_wcl.png' in report and (out / 'quality_wcl.png').stat().st_size > 1000
    # resume: nothing is trained again, the report is rebuilt from the stored results
    stamp = os.path.getmtime(out / 'runs' / 'wcl' / 'seed0.json')
    proc = _bench(repo_root, env, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'training' not in proc.stdout
    assert os.path.getmtime(out / 'runs' / 'wcl' / 'seed0.json') == stamp
    assert (work / 'wcl' / 'seed0' / 'last_checkpoint').is_file()  # checkpoints stay in work


def test_missing_dataset_stops_with_the_install_hint(repo_root, subprocess_env, tmp_path):
    env = dict(subprocess_env, FASHION_MNIST_ROOT=str(tmp_path / 'nowhere'))
    proc = _bench(
        repo_root,
        env,
        '--quick',
        '--pairs',
        'wcl',
        '--seeds',
        '0',
        '--work-dir',
        str(tmp_path / 'w'),
        '--out-dir',
        str(tmp_path / 'o'),
    )
    assert proc.returncode != 0
    assert 'apt-get install dataset-fashion-mnist' in proc.stderr
    assert not (tmp_path / 'w').exists()


def _lr_by_epoch(cfg, epochs):
    """The learning rate at the start of every epoch, stepping mmengine's own schedulers."""
    import torch
    from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR

    classes = {'CosineAnnealingLR': CosineAnnealingLR, 'LinearLR': LinearLR}
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.optim_wrapper.optimizer.lr)
    scheds = []
    for s in cfg.param_scheduler:
        kw = {k: v for k, v in s.items() if k not in ('type', 'convert_to_iter_based')}
        scheds.append(classes[s['type']](opt, **kw))
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]['lr'])
        opt.step()
        for sch in scheds:
            sch.step()
    return lrs


def test_epoch_override_stretches_the_schedule(repo_root):
    """--epochs N must move every scheduler that ends at the config's max_epochs to N: the
    cosine then follows lr0 (1 + cos(pi e / N)) / 2 (a formula, not the code), where setting
    train_cfg.max_epochs alone leaves the learning rate near 0 after the config's own epochs."""
    import math

    sys.path.insert(0, os.path.join(repo_root, 'tools', 'benchmarks'))
    import bench_quality
    from mmengine.config import Config

    n = 20
    simclr = bench_quality.METHODS['simclr'][1]
    opts = bench_quality.epoch_override_options(simclr, n)
    assert opts[0] == f'train_cfg.max_epochs={n}'
    cfg = Config.fromfile(os.path.join(repo_root, simclr))
    naive = Config.fromfile(os.path.join(repo_root, simclr))
    naive.merge_from_dict({'train_cfg.max_epochs': n})
    cfg.merge_from_dict(dict(o.split('=') for o in opts), allow_list_keys=True)
    for k in ('end', 'T_max'):
        cfg.param_scheduler[0][k] = int(cfg.param_scheduler[0][k])
    lr0 = cfg.optim_wrapper.optimizer.lr
    lrs = _lr_by_epoch(cfg, n)
    want = [lr0 * (1 + math.cos(math.pi * e / n)) / 2 for e in range(n)]
    assert np.allclose(lrs, want, rtol=1e-6), (lrs, want)
    # without the fix the lr freezes where the 6-epoch cosine stopped (here per epoch; per
    # iteration, as the configs run, it is 0.07% of lr0): half-way it is far below the cosine
    assert _lr_by_epoch(naive, n)[n // 2] < 0.1 * lr0 < want[n // 2]

    # APS: the one-epoch linear warm-up keeps its length, the cosine after it is stretched
    aps = bench_quality.METHODS['aps'][1]
    opts = bench_quality.epoch_override_options(aps, n)
    assert f'param_scheduler.1.end={n}' in opts and f'param_scheduler.1.T_max={n - 1}' in opts
    assert not any(o.startswith('param_scheduler.0.') for o in opts)
    # a budget shorter than the warm-up leaves a valid (never reached) cosine
    assert 'param_scheduler.1.end=2' in bench_quality.epoch_override_options(aps, 1)


def test_report_lists_paired_differences_seed_by_seed(repo_root, tmp_path):
    """The report's paired differences: seeds matched by number (a seed only one side has
    is left out), mean ± std of the differences and each seed's value."""
    import argparse
    import statistics

    sys.path.insert(0, os.path.join(repo_root, 'tools', 'benchmarks'))
    import bench_quality

    runs = tmp_path / 'runs'
    knn = {'aps': {0: 81.0, 1: 82.5, 2: 80.0}, 'aps-uniform': {0: 80.0, 1: 81.0}}
    for key, seeds in knn.items():
        (runs / key).mkdir(parents=True)
        for seed, top1 in seeds.items():
            (runs / key / f'seed{seed}.json').write_text(
                json.dumps(
                    dict(
                        method=key,
                        label=key,
                        config='c.py',
                        options=[],
                        seed=seed,
                        knn_top1=top1,
                        linear_top1=top1,
                        train_seconds=1.0,
                        curve=[],
                    )
                )
            )
    args = argparse.Namespace(quick=False, epochs=None)
    report = open(bench_quality.write_report(str(runs), str(tmp_path), args)).read()
    diffs = [81.0 - 80.0, 82.5 - 81.0]
    want = (
        f'- APS (selective view 2) − APS with uniform view 2: '
        f'+{statistics.mean(diffs):.2f} ± {statistics.stdev(diffs):.2f} '
        '(+1.00 (seed 0), +1.50 (seed 1))'
    )
    assert want in report.splitlines(), report


def test_every_comparison_has_a_floor_and_configs_that_exist(repo_root):
    """Each comparison names known runs with config files in the repository (a renamed config
    would otherwise only fail hours into `make bench-quality`), a floor, and one budget: its
    runs train the same number of epochs (a row's own `--epochs`, else its config's
    max_epochs), so the Δ columns compare equal iterations."""
    sys.path.insert(0, os.path.join(repo_root, 'tools', 'benchmarks'))
    import bench_quality
    from mmengine.config import Config

    for pair, keys in bench_quality.PAIRS.items():
        assert bench_quality.FLOOR_OF[pair] in bench_quality.FLOORS, pair
        epochs = set()
        for key in keys:
            method = bench_quality.METHODS[key]
            path = os.path.join(repo_root, method.config)
            assert os.path.isfile(path), (pair, key, method.config)
            n = method.epochs or Config.fromfile(path).train_cfg.max_epochs
            epochs.add(n)
            # a key that names its epochs trains that many
            named = re.search(r'-(\d+)e$', key)
            assert named is None or int(named.group(1)) == n, (key, n)
        assert len(epochs) == 1, (pair, epochs)


def _train_py_config(repo_root, argv):
    """The config tools/train.py would run for ``argv`` (its own parsing and merging), with
    the keys that say what is trained."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        '_bq_train_tool', os.path.join(repo_root, 'tools', 'train.py')
    )
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    args = train.parse_args(argv)
    cfg = train.merge_args(train.load_config(args.config), args)
    train.fit_run_size(cfg, args)
    return {
        k: cfg.get(k)
        for k in ('model', 'train_cfg', 'param_scheduler', 'optim_wrapper', 'train_dataloader')
    }


def test_report_command_trains_what_the_harness_trains(repo_root, monkeypatch):
    """One config per recipe: a row that runs a recipe for another number of epochs carries
    `--epochs`. The report's command for each row (``train_command``) must give tools/train.py
    the same config as the harness's own call (config + `--cfg-options` with the stretched
    schedule), and that config must train the row's epochs with the cosine ending there."""
    sys.path.insert(0, os.path.join(repo_root, 'tools', 'benchmarks'))
    import bench_quality

    monkeypatch.chdir(repo_root)
    monkeypatch.setenv('LOCAL_RANK', '0')  # tools/train.py's parse_args sets it otherwise
    longer = [k for k, m in bench_quality.METHODS.items() if m.epochs]
    # the per-epoch rows of the csml, csml-5e, csml-6e and mocov2-8e comparisons
    assert {'mocov2', 'csml-5e', 'mocov2-6e', 'csml-6e', 'csml-ml-6e', 'mocov2-8e'} <= set(longer)
    for key, method in bench_quality.METHODS.items():
        cmd = bench_quality.train_command(key).split()
        assert cmd[:3] == ['python', 'tools/train.py', method.config], cmd
        if not (method.epochs or method.options):
            assert len(cmd) == 3, cmd  # the config as it is
            continue
        opts = list(method.options)
        if method.epochs:
            opts += bench_quality.epoch_override_options(method.config, method.epochs)
        harness = [method.config] + (['--cfg-options', *opts] if opts else [])
        got = _train_py_config(repo_root, cmd[2:])
        want = _train_py_config(repo_root, harness)
        assert got == want, key
        if method.epochs:
            assert got['train_cfg']['max_epochs'] == method.epochs, key
            cosine = [s for s in got['param_scheduler'] if s['type'] == 'CosineAnnealingLR']
            assert cosine and all(s['end'] == method.epochs for s in cosine), (key, cosine)
            assert all(s['T_max'] == method.epochs - s.get('begin', 0) for s in cosine), key


def _checkpoint(path) -> None:
    """A small but complete checkpoint (the harness only resumes from complete ones)."""
    import torch

    torch.save({'meta': {'epoch': 1}, 'state_dict': {'w': torch.ones(4)}}, str(path))


def _fake_training(monkeypatch, bench_quality, calls, final_epoch):
    """Replaces the training and evaluation processes of the harness: 'training' writes
    the final epoch's checkpoint the way mmengine does (the file and last_checkpoint)."""

    def fake_run(cmd, log, env=None):
        calls.append(cmd)
        run_dir = cmd[cmd.index('--work-dir') + 1]
        ckpt = os.path.join(run_dir, f'epoch_{final_epoch}.pth')
        _checkpoint(ckpt)
        with open(os.path.join(run_dir, 'last_checkpoint'), 'w') as f:
            f.write(ckpt)

    monkeypatch.setattr(bench_quality, '_run', fake_run)
    monkeypatch.setattr(
        bench_quality, '_knn_eval', lambda *a, **k: {'top1_k20': 80.0, 'linear_top1': 81.0}
    )


def test_interrupted_run_resumes_from_its_checkpoint(repo_root, tmp_path, monkeypatch):
    """A run that a session or a device call left at epoch 1 of 2 continues with --resume
    from that checkpoint under the same options; its train time adds the kept part of the
    killed segment (up to its checkpoint's write time) to the new segment; a run with other
    options is refused; a run whose last epoch is saved is only evaluated."""
    import time

    sys.path.insert(0, os.path.join(repo_root, 'tools', 'benchmarks'))
    import bench_quality

    work, results = tmp_path / 'work', tmp_path / 'runs'
    run_dir = work / 'simclr' / 'seed0'
    run_dir.mkdir(parents=True)
    opts = ['randomness.seed=0'] + bench_quality.epoch_override_options(
        bench_quality.METHODS['simclr'][1], 2
    )
    # the killed segment: started 100 s before its epoch-1 checkpoint, which a machine that
    # is gone wrote (last_checkpoint names its path there)
    ckpt = run_dir / 'epoch_1.pth'
    _checkpoint(ckpt)
    now = time.time()
    os.utime(ckpt, (now - 50, now - 50))
    (run_dir / 'last_checkpoint').write_text('/elsewhere/work/simclr/seed0/epoch_1.pth')
    (run_dir / 'segments.json').write_text(
        json.dumps({'options': opts, 'segments': [{'start': now - 150, 'end': None}]})
    )
    calls = []
    _fake_training(monkeypatch, bench_quality, calls, final_epoch=2)
    res = bench_quality.run_method('simclr', 0, str(work), str(results), [], epochs=2)
    assert len(calls) == 1
    cmd = calls[0]
    assert cmd[cmd.index('--resume') + 1] == str(ckpt)
    assert cmd[cmd.index('--cfg-options') + 1 :] == opts
    assert res['segments'] == 2 and res['knn_top1'] == 80.0
    state = json.loads((run_dir / 'segments.json').read_text())
    first, second = state['segments']
    assert first['end'] == pytest.approx(now - 50, abs=1e-3)
    assert res['train_seconds'] == pytest.approx(100 + second['end'] - second['start'], abs=0.1)
    assert json.loads((results / 'simclr' / 'seed0.json').read_text()) == res

    # training had finished (epoch 2 saved) but the evaluation was cut off: evaluate only
    os.remove(results / 'simclr' / 'seed0.json')
    calls.clear()
    res2 = bench_quality.run_method('simclr', 0, str(work), str(results), [], epochs=2)
    assert calls == [] and res2['train_seconds'] == res['train_seconds']

    # other options than the interrupted run's: refused, naming the folder
    os.remove(results / 'simclr' / 'seed0.json')
    (run_dir / 'last_checkpoint').write_text(str(ckpt))
    with pytest.raises(RuntimeError, match='other options'):
        bench_quality.run_method('simclr', 0, str(work), str(results), ['model.x=1'], epochs=2)
    assert calls == []

    # a run begun from a per-epoch config file (no epoch overrides in its options; the file
    # resolved to the config plus the overrides) resumes under the override options
    (run_dir / 'segments.json').write_text(
        json.dumps({'options': ['randomness.seed=0'], 'segments': [{'start': now, 'end': None}]})
    )
    res_old = bench_quality.run_method('simclr', 0, str(work), str(results), [], epochs=2)
    assert len(calls) == 1 and '--resume' in calls[0] and res_old['segments'] == 2
    calls.clear()
    os.remove(results / 'simclr' / 'seed0.json')

    # a folder from before segments were recorded (options unknown) is trained over
    os.remove(run_dir / 'segments.json')
    res3 = bench_quality.run_method('simclr', 0, str(work), str(results), [], epochs=2)
    assert len(calls) == 1 and '--resume' not in calls[0]
    assert 'segments' not in res3 and res3['train_seconds'] >= 0


def test_interrupted_run_resumes_from_the_checkpoint_resume_picks(
    repo_root, tmp_path, monkeypatch, capsys
):
    """The harness continues from the file ``tools/train.py --resume`` would pick, not the one
    last_checkpoint names: here epoch_2.pth, the newest and named by last_checkpoint, is
    truncated (the harness used to pass it to --resume PATH, which then failed), so epoch_1.pth
    is taken and the skipped file is reported."""
    sys.path.insert(0, os.path.join(repo_root, 'tools', 'benchmarks'))
    import bench_quality

    from csml_mm.engine.resume import find_resume_checkpoint

    work, results = tmp_path / 'work', tmp_path / 'runs'
    run_dir = work / 'simclr' / 'seed0'
    run_dir.mkdir(parents=True)
    opts = ['randomness.seed=0'] + bench_quality.epoch_override_options(
        bench_quality.METHODS['simclr'][1], 3
    )
    _checkpoint(run_dir / 'epoch_1.pth')
    _checkpoint(run_dir / 'epoch_2.pth')
    torn = run_dir / 'epoch_2.pth'
    torn.write_bytes(torn.read_bytes()[: torn.stat().st_size // 2])
    os.utime(run_dir / 'epoch_1.pth', (1_000_000, 1_000_000))
    (run_dir / 'last_checkpoint').write_text(str(torn))
    (run_dir / 'segments.json').write_text(
        json.dumps({'options': opts, 'segments': [{'start': 999_000.0, 'end': None}]})
    )
    expected = str(run_dir / 'epoch_1.pth')
    assert find_resume_checkpoint(str(run_dir), warn=lambda m: None) == expected
    assert bench_quality._interrupted(str(run_dir)) == (expected, 1)

    calls = []
    _fake_training(monkeypatch, bench_quality, calls, final_epoch=3)
    bench_quality.run_method('simclr', 0, str(work), str(results), [], epochs=3)
    assert len(calls) == 1
    assert calls[0][calls[0].index('--resume') + 1] == expected
    out = capsys.readouterr().out
    assert f'names {torn}, but it is truncated or damaged' in out, out


def test_knn_curve_merges_the_segments_of_a_resumed_run(tmp_path):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'tools', 'benchmarks'))
    import bench_quality

    def segment(stamp, steps, per_epoch=5):
        d = tmp_path / stamp / 'vis_data'
        d.mkdir(parents=True)
        (d / 'scalars.json').write_text(
            ''.join(json.dumps({'knn/top1_k20': v, 'step': s}) + '\n' for s, v in steps)
        )
        (tmp_path / stamp / f'{stamp}.log').write_text(
            f'Epoch(train)  [1][ 5/{per_epoch}]  lr: 0.1\n'
        )

    segment('20261204_100000', [(0, 70.0), (1, 72.0), (2, 73.0)])
    segment('20261204_110000', [(2, 73.5), (3, 75.0)])  # resumed after epoch 2
    assert bench_quality.knn_curve(str(tmp_path)) == [[0, 70.0], [5, 72.0], [10, 73.5], [15, 75.0]]


def test_positive_purity_reads_mining_rounds_and_graph_purity(tmp_path):
    """The purity monitor of a run, from its logs: CsMl's mining rounds in order, WCL's
    graph purity averaged per epoch (over the log windows of that epoch)."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'tools', 'benchmarks'))
    import bench_quality

    seg = tmp_path / '20261207_010101'
    (seg / 'vis_data').mkdir(parents=True)
    (seg / '20261207_010101.log').write_text(
        'NeighbourMiningHook: mined 1 neighbours for 9 images in 1.0s (extraction 0.5s), '
        'label purity 61.5%\nother line\n'
        'NeighbourMiningHook: mined 1 neighbours ... label purity 70.25%\n'
    )
    rows = [
        {'epoch': 1, 'iter': 1, 'graph_purity': 40.0},
        {'epoch': 1, 'graph_purity': 50.0},
        {'epoch': 2, 'graph_purity': 70.0},
        {'epoch': 2, 'loss': 1.0},
        {'step': 1, 'knn/top1_k20': 50.0},
    ]
    (seg / 'vis_data' / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in rows))
    got = bench_quality.positive_purity(str(tmp_path))
    assert got == {'mined_neighbours': [61.5, 70.25], 'graph_components': [45.0, 70.0]}
    assert bench_quality.positive_purity(str(tmp_path / 'nothing')) is None
    text = bench_quality.purity_text([{'seed': 1, 'purity': got}, {'seed': 0}])
    assert text == ('seed 1: mined neighbours 61.5 / 70.2%; seed 1: graph components 45.0 / 70.0%')


def test_positive_purity_leaves_out_what_a_resume_threw_away(tmp_path):
    """A run killed in epoch 3 and resumed from epoch_2.pth: the killed segment's mining
    round of epoch 3 (after its 'Saving checkpoint at 2 epochs') and its graph windows of
    epoch 3 are replaced by the resumed segment's."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'tools', 'benchmarks'))
    import bench_quality

    def mined(p):
        return f'NeighbourMiningHook: mined 5 neighbours ..., label purity {p}%'

    first, second = tmp_path / '20261207_010101', tmp_path / '20261207_020202'
    for seg in (first, second):
        (seg / 'vis_data').mkdir(parents=True)
    (first / '20261207_010101.log').write_text(
        '\n'.join(
            [
                mined(60.0),
                'Epoch(train) [1][50/468]',
                'Saving checkpoint at 1 epochs',
                mined(70.0),
                'Saving checkpoint at 2 epochs',
                mined(75.0),  # epoch 3, killed: thrown away
                'Epoch(train) [3][50/468]',
            ]
        )
    )
    (second / '20261207_020202.log').write_text(
        '\n'.join(['resumed epoch: 2, iter: 936', mined(75.5), 'Saving checkpoint at 3 epochs'])
    )
    (first / 'vis_data' / 'scalars.json').write_text(
        '\n'.join(
            json.dumps(r)
            for r in [
                {'epoch': 3, 'iter': 950, 'graph_purity': 10.0},
                {'epoch': 3, 'iter': 1000, 'graph_purity': 20.0},
            ]
        )
    )
    (second / 'vis_data' / 'scalars.json').write_text(
        json.dumps({'epoch': 3, 'iter': 950, 'graph_purity': 30.0})
    )
    got = bench_quality.positive_purity(str(tmp_path))
    assert got['mined_neighbours'] == [60.0, 70.0, 75.5]
    assert got['graph_components'] == [25.0]  # iter 950 from the resumed run, 1000 kept
    # by iterations too, and a log that never saved the checkpoint keeps all it logged
    texts = ['a\nSaving checkpoint at 400 iterations\nb', 'resumed epoch: 0, iter: 400\nc']
    assert bench_quality.kept_log_texts(texts) == [
        'a\nSaving checkpoint at 400 iterations',
        texts[1],
    ]
    assert bench_quality.kept_log_texts(['x', 'resumed epoch: 2, iter: 9']) == [
        'x',
        'resumed epoch: 2, iter: 9',
    ]
