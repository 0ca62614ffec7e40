"""The two stacks: the main job's (mmcv-lite) and the detection one (compiled mmcv, mmdet).

A detection config on the main job's stack stops with one line that names ``make setup-det``;
every other config loads there. The Makefile routes ``make test`` and ``make bench-transfer``
through the detection stack and ``make demo`` through the main job's."""

import glob
import importlib.util
import os.path as osp
import re
import subprocess
import sys

import pytest

from csml_mm.utils import stack
from csml_mm.utils.errors import StackError

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True))


def _is_detection(path: str) -> bool:
    return f'{osp.sep}mmdetection{osp.sep}' in path


def test_every_detection_config_is_recognised_and_no_other():
    det = [c for c in CONFIGS if _is_detection(c)]
    assert len(det) >= 6 and len(CONFIGS) > len(det) + 50
    wrong = [osp.relpath(c, ROOT) for c in CONFIGS if stack._mentions_mmdet(c) != _is_detection(c)]
    assert not wrong, wrong


def test_a_child_of_a_detection_config_is_recognised_through_its_base(tmp_path):
    base = tmp_path / 'base.py'
    base.write_text("default_scope = 'mmdet'\nmodel = dict(type='MaskRCNN')\n")
    child = tmp_path / 'child.py'
    child.write_text("_base_ = ['./base.py']\nmodel = dict(backbone=dict(depth=18))\n")
    plain = tmp_path / 'plain.py'
    # a comment or a word naming mmdet is not a use of it
    plain.write_text("# compare with the mmdet configs\nmodel = dict(type='MoCo')\n")
    assert stack._mentions_mmdet(str(child))
    assert not stack._mentions_mmdet(str(plain))


def _hide(monkeypatch, *modules):
    """Make ``importlib.util.find_spec`` report ``modules`` as not installed."""
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name in modules else real(name, *args, **kwargs)

    monkeypatch.setattr(stack.importlib.util, 'find_spec', find_spec)


@pytest.mark.parametrize(
    'hidden,named',
    [
        (('mmcv._ext',), ["mmcv's compiled ops"]),
        (('mmcv._ext', 'mmdet'), ['mmdet', "mmcv's compiled ops"]),
        (('mmdet',), ['mmdet']),
    ],
)
def test_the_lite_stack_refuses_a_detection_config_naming_the_fix(monkeypatch, hidden, named):
    _hide(monkeypatch, *hidden)
    assert stack.missing_detection_parts() == named
    cfg = osp.join(ROOT, 'configs', 'benchmarks', 'mmdetection', 'mask-rcnn_r50_fpn_ms-1x_coco.py')
    with pytest.raises(StackError) as err:
        stack.load_config(cfg)
    msg = str(err.value)
    assert 'make setup-det' in msg and 'detection config' in msg
    assert all(n in msg for n in named), msg
    assert '\n' not in msg
    # a pretraining config loads on the same stack
    cfg = stack.load_config(
        osp.join(ROOT, 'configs', 'csml', 'csml_resnet18-w16_1xb64-coslr-12e_digits.py')
    )
    assert cfg.model.type


def test_the_detection_stack_loads_detection_configs():
    if stack.missing_detection_parts():  # pragma: no cover - make test installs it
        pytest.fail(
            'the test suite runs on the detection stack (make setup-det): '
            f'missing {stack.missing_detection_parts()}'
        )
    cfg = stack.load_config(
        osp.join(ROOT, 'configs', 'benchmarks', 'mmdetection', 'mask-rcnn_r50_fpn_ms-1x_coco.py')
    )
    assert cfg.default_scope == 'mmdet'


def _lite_env(subprocess_env, tmp_path):
    """A child interpreter where mmcv's compiled ops are hidden, as on mmcv-lite."""
    hide = tmp_path / 'hide'
    hide.mkdir()
    (hide / 'sitecustomize.py').write_text(
        'import importlib.util as u\n'
        '_real = u.find_spec\n'
        'u.find_spec = lambda name, *a, **k: (None if name == "mmcv._ext"\n'
        '                                     else _real(name, *a, **k))\n'
    )
    return dict(subprocess_env, PYTHONPATH=str(hide) + ':' + subprocess_env['PYTHONPATH'])


@pytest.mark.parametrize('tool', ['train', 'bench_transfer'])
def test_detection_tools_print_one_error_line_on_the_lite_stack(
    tool, repo_root, subprocess_env, tmp_path, write_idx
):
    env = _lite_env(subprocess_env, tmp_path)
    if tool == 'train':
        cmd = [
            sys.executable,
            'tools/train.py',
            'configs/benchmarks/mmdetection/fmnist_scenes/'
            'mask-rcnn_r18-w16_fpn_1xb8-coslr-500i_fmnist-scenes.py',
            '--work-dir',
            str(tmp_path / 'w'),
        ]
    else:
        # the tool checks for the data first: a small copy of Fashion-MNIST's files
        data = tmp_path / 'fmnist'
        data.mkdir()
        import numpy as np

        for prefix, n in (('train', 20), ('t10k', 10)):
            write_idx(data / f'{prefix}-images-idx3-ubyte.gz', np.zeros((n, 28, 28)), 0x803)
            write_idx(data / f'{prefix}-labels-idx1-ubyte.gz', np.arange(n) % 10, 0x801)
        env['FASHION_MNIST_ROOT'] = str(data)
        cmd = [
            sys.executable,
            'tools/benchmarks/bench_transfer.py',
            '--rows',
            'random-resnet',
            '--tasks',
            'det',
            '--seeds',
            '0',
            '--work-dir',
            str(tmp_path / 'w'),
            '--out-dir',
            str(tmp_path / 'w'),
        ]
    proc = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith('error: ')]
    assert len(errors) == 1 and 'make setup-det' in errors[0], proc.stderr[-2000:]
    assert "mmcv's compiled ops" in errors[0] and 'Traceback' not in proc.stderr
    assert (
        not list((tmp_path / 'w').glob('det/**/*.json'))
        if tool != 'train'
        else not (tmp_path / 'w').exists()
    )


def _make_dry_run(target: str) -> str:
    return subprocess.run(
        ['make', '-n', target], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize(
    'target,mode',
    [
        ('test', 'det'),
        ('test-fast', 'det'),
        ('bench-transfer', 'det'),
        ('demo', ''),
        ('bench-quality', ''),
        ('setup-lite', 'lite'),
    ],
)
def test_make_targets_pick_their_stack(target, mode):
    out = _make_dry_run(target)
    calls = re.findall(r'bash tools/setup_env\.sh ?(\w*)', out)
    assert calls == [mode], out


def test_setup_script_knows_its_three_stacks():
    bad = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'setup_env.sh'), 'full'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "unknown stack 'full'" in bad.stderr
