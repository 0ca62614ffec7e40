"""The quality harness end to end in --quick mode on a small Fashion-MNIST copy: runs, results,
report, plot, resume without re-training, and the missing-data message."""
import json
import os
import subprocess
import sys

import numpy as np

BENCH = 'tools/benchmarks/bench_quality.py'


def _small_fmnist(root, write_idx, n_train=256, n_test=64):
    rng = np.random.default_rng(0)
    for prefix, n in (('train', n_train), ('t10k', n_test)):
        labels = np.arange(n) % 10
        # class-dependent blobs, so that features carry label information
        imgs = rng.integers(0, 60, (n, 28, 28))
        for i, c in enumerate(labels):
            imgs[i, 2 * c:2 * c + 8, 4:24] += 150
        write_idx(root / f'{prefix}-images-idx3-ubyte.gz', imgs, 0x803)
        write_idx(root / f'{prefix}-labels-idx1-ubyte.gz', labels, 0x801)


def _bench(repo_root, env, *args):
    proc = subprocess.run([sys.executable, BENCH, *args], cwd=repo_root, env=env,
                          capture_output=True, text=True, timeout=900)
    return proc


def test_quick_run_writes_results_report_and_plot_then_resumes(repo_root, subprocess_env,
                                                               tmp_path, write_idx):
    data = tmp_path / 'fmnist'
    data.mkdir()
    _small_fmnist(data, write_idx)
    env = dict(subprocess_env, FASHION_MNIST_ROOT=str(data))
    work, out = tmp_path / 'work', tmp_path / 'report'
    args = ('--quick', '--pairs', 'wcl', '--seeds', '0', '--work-dir', str(work),
            '--out-dir', str(out))
    proc = _bench(repo_root, env, *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for key in ('random-resnet', 'simclr', 'wcl'):
        with open(out / 'runs' / key / 'seed0.json') as f:
            res = json.load(f)
        assert 0 <= res['knn_top1'] <= 100 and 0 <= res['linear_top1'] <= 100
    wcl = json.load(open(out / 'runs' / 'wcl' / 'seed0.json'))
    assert wcl['config'].endswith('_fmnist.py') and 'train_cfg.max_epochs=1' in wcl['options']
    # the curve: before training (iteration 0) and after the single epoch (2 iterations)
    assert [p[0] for p in wcl['curve']] == [0, 2]
    # the raw-pixel floor separates the synthetic classes well
    raw = json.load(open(out / 'runs' / 'raw' / 'seed0.json'))
    assert raw['knn_top1'] > 80 and raw['linear_top1'] is None
    report = (out / 'quality.md').read_text()
    assert '`--quick` smoke run' in report
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
    proc = _bench(repo_root, env, '--quick', '--pairs', 'wcl', '--seeds', '0',
                  '--work-dir', str(tmp_path / 'w'), '--out-dir', str(tmp_path / 'o'))
    assert proc.returncode != 0
    assert 'apt-get install dataset-fashion-mnist' in proc.stderr
    assert not (tmp_path / 'w').exists()
