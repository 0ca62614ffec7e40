"""tools/benchmarks/report_own_data.py: the own-data report is computed from the walk-through's
records (gains are differences of the recorded accuracies), and can be regenerated from the
records alone; the walk-through script names the package when its data is missing."""

import importlib.util
import json
import os.path as osp
import subprocess

import pytest


@pytest.fixture(scope='module')
def report(repo_root):
    spec = importlib.util.spec_from_file_location(
        '_report_own_data', osp.join(repo_root, 'tools/benchmarks/report_own_data.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_run(out):
    (out / 'data' / 'split').mkdir(parents=True)
    (out / 'data' / 'clipart_96').mkdir(parents=True)
    (out / 'steps.tsv').write_text(
        'step\tseconds\tcommand\n'
        f'pretrain-csml\t1234.5\tpython tools/train.py X --work-dir {out}/work/csml\n'
        f'knn-csml\t20.0\tpython knn_eval.py --out {out}/knn-csml.json\n'
    )
    results = {'raw-pixels': (50.0, 45.0), 'random-resnet': (40.0, 41.5), 'csml': (60.0, 58.25)}
    for name, (k10, k20) in results.items():
        (out / f'knn-{name}.json').write_text(
            json.dumps({'results': {'top1_k10': k10, 'top1_k20': k20, 'linear_top1': k10 + 1}})
        )
    (out / 'data' / 'split' / 'split.json').write_text(
        json.dumps(
            {
                'classes': {'a': {'train': 8, 'val': 2}, 'b': {'train': 4, 'val': 1}},
                'train': 12,
                'val': 3,
                'duplicates_dropped': 5,
                'ambiguous_dropped': 2,
            }
        )
    )
    log = out / 'work' / 'csml' / '20261207_000000' / '20261207_000000.log'
    log.parent.mkdir(parents=True)
    times = [2.0, 1.0, 4.0, 3.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]  # 10th percentile: 2.0
    log.write_text(
        ''.join(
            f'2026/12/07 - mmengine - INFO - Epoch(train)  [{1 + k // 5}][{2 * (k % 5) + 2}/10]  '
            f'lr: 1e-2  eta: 0:01:00  time: {t:.4f}  data_time: 0.01  loss: 3.0\n'
            for k, t in enumerate(times)
        )
    )  # 2 epochs of 10 iterations
    (out / 'data' / 'clipart_96' / 'prepare_folder_skipped.txt').write_text(
        '/x/train/a/big.png\tit is 1 x 2 = 99 Mpx, above max_pixels=50\n'
        '/x/val/b/bad.png\tunreadable\n'
    )


def test_report_from_a_run_and_again_from_its_records(report, tmp_path):
    out, records = tmp_path / 'out', tmp_path / 'records'
    _fake_run(out)
    md = tmp_path / 'report.md'
    report.main([str(out), '--records', str(records), '--report', str(md)])
    text = md.read_text()
    # CsMl's k=20 gain over random init 58.25 - 41.5, over raw pixels 58.25 - 45
    # the quiet-machine estimate: 20 iterations x 2.0 s, the 10th percentile of the logged times
    assert '| CsMl, 60 epochs | 60.00 | 58.25 | 61.00 | +16.75 | +13.25 | 20.6 min | 40 s |' in text
    assert '| ResNet-18 w16, random init | 40.00 | 41.50 | 41.00 |  | -3.50 |  |  |' in text
    assert '1 above the decompression-bomb limit of 50 Mpx, 1 unreadable' in text
    assert '11 train and 2 val images were used' in text
    assert str(out) not in text and 'OUT/work/csml' in text
    # the records alone give the same report
    md2 = tmp_path / 'again.md'
    report.main([str(records), '--records', str(records), '--report', str(md2)])
    assert md2.read_text() == text


def test_missing_run_and_missing_package_are_named(report, repo_root, tmp_path):
    with pytest.raises(SystemExit, match='own_data_walkthrough.sh'):
        report.main(
            [str(tmp_path), '--records', str(tmp_path / 'r'), '--report', str(tmp_path / 'r.md')]
        )
    proc = subprocess.run(
        ['bash', 'tools/benchmarks/own_data_walkthrough.sh', str(tmp_path)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        env={'PATH': '/usr/bin:/bin', 'OPENCLIPART_ROOT': str(tmp_path / 'no')},
    )
    assert proc.returncode == 2
    assert 'apt-get install openclipart-png' in proc.stderr
