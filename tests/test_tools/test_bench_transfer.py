"""The transfer harness end to end in --quick mode on a small Fashion-MNIST copy: pretraining
through the quality harness, detection and few-label fine-tuning, records, report, gate line,
plot, resume without re-training, and the missing-data message."""

import json
import os
import subprocess
import sys

import numpy as np

BENCH = 'tools/benchmarks/bench_transfer.py'


def _small_fmnist(root, write_idx, n_train=256, n_test=64):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:28, 0:28]
    for prefix, n in (('train', n_train), ('t10k', n_test)):
        labels = np.arange(n) % 10
        imgs = np.zeros((n, 28, 28), np.uint8)
        for i, c in enumerate(labels):  # class-dependent garment-like blobs
            inside = ((yy - 14) / (5 + c)) ** 2 + ((xx - 14) / (12 - c // 2)) ** 2 <= 1
            imgs[i][inside] = rng.integers(120, 256, inside.sum())
        write_idx(root / f'{prefix}-images-idx3-ubyte.gz', imgs, 0x803)
        write_idx(root / f'{prefix}-labels-idx1-ubyte.gz', labels, 0x801)


def _bench(repo_root, env, *args):
    return subprocess.run(
        [sys.executable, BENCH, *args],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )


def test_quick_run_writes_records_report_and_resumes(
    repo_root, subprocess_env, tmp_path, write_idx
):
    data = tmp_path / 'fmnist'
    data.mkdir()
    _small_fmnist(data, write_idx)
    env = dict(subprocess_env, FASHION_MNIST_ROOT=str(data))
    work, out = tmp_path / 'work', tmp_path / 'report'
    args = (
        '--quick',
        '--rows',
        'random-resnet',
        'wcl',
        '--tasks',
        'det',
        'semi1',
        '--seeds',
        '0',
        '--work-dir',
        str(work),
        '--out-dir',
        str(out),
    )
    proc = _bench(repo_root, env, *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = out / 'transfer_runs'
    for row in ('random-resnet', 'wcl'):
        det = json.load(open(runs / 'det' / row / 'seed0.json'))
        for key in ('box_ap', 'box_ap50', 'mask_ap', 'mask_ap50'):
            assert 0 <= det[key] <= 100, det
        assert det['curve'][-1][0] == 4 and det['hardware'].startswith('one process on')
        rec = json.load(open(runs / 'semi1' / row / 'seed0.json'))
        assert 0 <= rec['top1'] <= 100 and rec['config'].endswith('1pct.py')
        assert rec['options'][-1].startswith('train_dataloader.dataset.subset_file=')
    assert not (runs / 'semi10').exists()  # only the tasks asked for
    rand = json.load(open(runs / 'det' / 'random-resnet' / 'seed0.json'))
    assert rand['pretrain'] is None and 'model.backbone.init_cfg=None' in rand['options']
    wcl = json.load(open(runs / 'det' / 'wcl' / 'seed0.json'))
    assert wcl['pretrain']['method'] == 'wcl'
    assert 'train_cfg.max_epochs=1' in wcl['pretrain']['options']  # the quality recipe, 1 epoch
    # the pretraining record is public too, with the label purity of WCL's graph positives
    pre = json.load(open(runs / 'pretrain' / 'wcl' / 'seed0.json'))
    assert 'checkpoint' not in pre
    purity = pre['purity']['graph_components']
    assert len(purity) == 1 and 0 <= purity[0] <= 100
    report = (out / 'transfer.md').read_text()
    assert '`--quick` smoke run' in report
    assert '## The design check' in report and 'not recorded yet' in report
    assert f'| {wcl["label"]} | {wcl["box_ap"]:.2f} |' in report
    assert 'WCL, 7 epochs against SimCLR, 7 epochs' in report  # the baseline is named
    assert 'graph components' in report
    assert (out / 'transfer_det_resnet.png').stat().st_size > 1000
    # resume: nothing is trained again
    stamp = os.path.getmtime(runs / 'det' / 'wcl' / 'seed0.json')
    proc = _bench(repo_root, env, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'training' not in proc.stdout, proc.stdout
    assert os.path.getmtime(runs / 'det' / 'wcl' / 'seed0.json') == stamp


def test_missing_dataset_stops_with_the_install_hint(repo_root, subprocess_env, tmp_path):
    env = dict(subprocess_env, FASHION_MNIST_ROOT=str(tmp_path / 'nowhere'))
    proc = _bench(
        repo_root,
        env,
        '--quick',
        '--rows',
        'random-resnet',
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


def _bench_transfer(repo_root):
    sys.path.insert(0, os.path.join(repo_root, 'tools', 'benchmarks'))
    import bench_transfer

    return bench_transfer


def test_final_evaluation_is_required(repo_root, tmp_path):
    """A run stopped while evaluating has its last checkpoint but not its last metrics: the
    metrics readers refuse it instead of reporting the previous evaluation as final."""
    import pytest

    bt = _bench_transfer(repo_root)
    logs = tmp_path / '20261207_000000' / 'vis_data'
    logs.mkdir(parents=True)
    rows = [
        {
            'step': 250,
            'coco/bbox_mAP': 0.1,
            'coco/bbox_mAP_50': 0.2,
            'coco/segm_mAP': 0.1,
            'coco/segm_mAP_50': 0.2,
        },
        {'step': 300, 'loss': 1.0},
        {'step': 500, 'accuracy/top1': 70.0},
    ]
    (logs / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in rows))
    with pytest.raises(bt.MissingEvaluation, match='iteration 500'):
        bt.det_metrics(str(tmp_path), 500)
    assert bt.det_metrics(str(tmp_path), 250)['box_ap'] == 10.0
    assert bt.cls_metrics(str(tmp_path), 500) == {'top1': 70.0}
    with pytest.raises(bt.MissingEvaluation):
        bt.cls_metrics(str(tmp_path), 600)


def test_random_classification_rows_keep_the_resnet_default_init(repo_root, tmp_path):
    """`init_cfg=None` would drop mmpretrain ResNet's own initialisation; the random rows of
    the classification tasks restore exactly the class's default instead."""
    import inspect

    from mmengine.config import Config
    from mmpretrain.models.backbones import ResNet

    bt = _bench_transfer(repo_root)
    config = bt.SEMI_CFG['semi1']['resnet']
    child = bt.random_init_config(config, 'resnet', 'semi1', str(tmp_path))
    cfg = Config.fromfile(child)
    default = inspect.signature(ResNet.__init__).parameters['init_cfg'].default
    assert cfg.model.backbone.init_cfg == default
    assert cfg.model.backbone.depth == 18 and cfg.model.head.num_classes == 10
    # detection (mmdet's ResNet fills in its default itself) and the ViT use the config as is
    assert bt.random_init_config(config, 'resnet', 'det', str(tmp_path)) == config
    assert bt.random_init_config(config, 'vit', 'semi1', str(tmp_path)) == config


def test_readme_table_means_paired_differences_and_seed_counts(repo_root):
    bt = _bench_transfer(repo_root)

    def det(seed, box, mask):
        return dict(seed=seed, box_ap=box, mask_ap=mask)

    records = {
        'det': {
            'random-resnet': [det(0, 20.0, 19.0), det(1, 22.0, 21.0)],
            'csml': [det(0, 25.0, 23.0), det(1, 28.0, 26.5)],
        },
        'semi1': {
            'random-resnet': [dict(seed=0, top1=70.0), dict(seed=1, top1=72.0)],
            'csml': [dict(seed=1, top1=75.5)],
        },
    }
    lines = bt.readme_table(records).splitlines()
    assert lines[0].startswith('| backbone | seeds | box AP |')
    assert lines[2] == '| ResNet-18 w16, random init | 0, 1 | 21.0 | 20.0 | 71.0 | – |'
    # box: (25 + 28) / 2 = 26.5, paired (5 + 6) / 2 = +5.5; mask 24.8 (+4.8 = (4 + 5.5) / 2 ->
    # +4.75, shown +4.8); 1%: one seed (seed 1), paired against random's seed 1: +3.5
    assert lines[3] == (
        '| CsMl, 6 epochs | 0, 1 | 26.5 (+5.5) | 24.8 (+4.8) | 75.5 (+3.5), 1 seed | – |'
    )
    assert len(lines) == 4  # rows without runs are left out

    # the ViT rows follow the ResNet rows and are paired against the random ViT, not the ResNet
    records['det']['aps'] = [det(0, 17.0, 16.0)]
    records['det']['random-vit'] = [det(0, 14.0, 15.5)]
    lines = bt.readme_table(records).splitlines()
    assert lines[4] == '| ViT d4 w64 p4, random init | 0 | 14.0 | 15.5 | – | – |'
    assert lines[5] == '| APS, selective view 2 | 0 | 17.0 (+3.0) | 16.0 (+0.5) | – | – |'
    assert len(lines) == 6
