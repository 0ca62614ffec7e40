"""Unsafe and unreadable checkpoints: every tool that takes a checkpoint refuses a
pickle that would run code (the payload never runs) and reports a file that is no checkpoint
at all (random bytes, text, empty, a truncated download) as unreadable, with its path, in one
``error: ...`` line and a non-zero exit status."""

import importlib.util
import os
import os.path as osp
import pickle
import subprocess
import sys
import textwrap
import zipfile
from collections import OrderedDict

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

import csml_mm  # noqa: F401  (installs the safe loader)
from csml_mm.utils import (
    CheckpointLoadError,
    UnreadableCheckpointError,
    UnsafeCheckpointError,
    safe_torch_load,
)

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
MOCO_TINY = 'tests/data/configs/mocov2_tiny_digits.py'
LINEAR_TINY = 'tests/data/configs/linear_tiny_digits.py'
DET_CFG = 'configs/benchmarks/mmdetection/mask-rcnn_r50_fpn_ms-1x_coco.py'


class _System:
    """Pickles to ``os.system(command)``: what a malicious checkpoint looks like."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Subprocess:
    """Pickles to ``subprocess.call([...])``: a module torch does not block by name."""

    def __init__(self, argv) -> None:
        self.argv = argv

    def __reduce__(self):
        return (subprocess.call, (self.argv,))


class _GetattrEscape:
    """Pickles to ``getattr(HistoryBuffer, '__subclasses__')``: the start of a sandbox escape
    through the ``getattr`` that the allow-list admits for HistoryBuffer's statistics."""

    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__subclasses__'))


_STATE_CACHE: dict = {}


def _cached_state() -> 'OrderedDict[str, torch.Tensor]':
    """The state dict of the tiny MoCo v2 model: a checkpoint every tool accepts."""
    if 'state' not in _STATE_CACHE:
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmpretrain.registry import MODELS

        init_default_scope('mmpretrain')
        cfg = Config.fromfile(osp.join(ROOT, MOCO_TINY))
        torch.manual_seed(0)
        _STATE_CACHE['state'] = MODELS.build(cfg.model).state_dict()
    return _STATE_CACHE['state']


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """A real checkpoint and its broken or malicious variants (paths by name)."""
    tmp = tmp_path_factory.mktemp('ckpts')
    state = _cached_state()
    buf = HistoryBuffer()
    buf.update(1.0)
    good = tmp / 'epoch_1.pth'
    torch.save(
        dict(
            state_dict=state,
            meta=dict(epoch=1, iter=4),
            message_hub=dict(log_scalars={'train/loss': buf}),
        ),
        good,
    )
    data = good.read_bytes()
    out = dict(tmp=tmp, good=str(good), state=state)
    (tmp / 'truncated.pth').write_bytes(data[: len(data) // 2])  # half of a real download
    (tmp / 'random.pth').write_bytes(os.urandom(1000))
    (tmp / 'text.pth').write_text('config = dict(lr=0.1)\nnot a checkpoint\n')
    (tmp / 'html.pth').write_text('<!DOCTYPE html><html><body>404 Not Found</body></html>')
    (tmp / 'empty.pth').write_bytes(b'')
    torch.save({'w': torch.ones(3)}, tmp / 'legacy.pth', _use_new_zipfile_serialization=False)
    legacy = (tmp / 'legacy.pth').read_bytes()
    (tmp / 'legacy_truncated.pth').write_bytes(legacy[: len(legacy) // 2])
    with zipfile.ZipFile(tmp / 'other.zip.pth', 'w') as zf:  # a zip, but no torch archive
        zf.writestr('readme.txt', 'hello')
    for name in ('truncated', 'random', 'text', 'html', 'empty', 'legacy_truncated', 'other.zip'):
        out[name] = str(tmp / f'{name}.pth')
    return out


def _malicious(path: str, marker: str, payload=None) -> str:
    """A checkpoint with real weights plus a payload that would create ``marker``."""
    payload = payload if payload is not None else _System(f'touch {marker}')
    torch.save(dict(state_dict=_cached_state(), meta=dict(epoch=1), payload=payload), path)
    return path


# ------------------------------------------------------------------ the loader itself
def test_the_malicious_file_really_runs_code_without_the_guard(tmp_path):
    """Control: the payload used below does create the marker when unpickled unsafely."""
    marker = tmp_path / 'ran'
    path = _malicious(str(tmp_path / 'evil.pth'), str(marker))
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize('kind', ['os.system', 'subprocess.call', 'getattr escape'])
def test_unsafe_payloads_are_refused_and_never_run(tmp_path, kind):
    marker = tmp_path / 'ran'
    payload = {
        'os.system': _System(f'touch {marker}'),
        'subprocess.call': _Subprocess(['touch', str(marker)]),
        'getattr escape': _GetattrEscape(),
    }[kind]
    path = _malicious(str(tmp_path / 'evil.pth'), str(marker), payload)
    for load in (safe_torch_load, lambda p: _load_checkpoint(p, map_location='cpu')):
        with pytest.raises(UnsafeCheckpointError) as err:
            load(path)
        msg = str(err.value)
        assert path in msg and 'unsafe' in msg and 'arbitrary code' in msg
        assert err.value.path == path
        assert isinstance(err.value, CheckpointLoadError)
    assert not marker.exists()


@pytest.mark.parametrize(
    'name, what',
    [
        ('truncated', 'truncated zip archive'),
        ('random', 'neither a zip archive nor a pickle'),
        ('text', 'a text file'),
        ('html', 'HTML'),
        ('empty', 'empty'),
        ('legacy_truncated', 'ends early'),
        ('other.zip', 'zip archive but not a torch checkpoint'),
    ],
)
def test_broken_files_are_unreadable_not_unsafe(files, name, what):
    path = files[name]
    for load in (safe_torch_load, lambda p: _load_checkpoint(p, map_location='cpu')):
        with pytest.raises(UnreadableCheckpointError) as err:
            load(path)
        msg = str(err.value)
        assert not isinstance(err.value, (UnsafeCheckpointError, pickle.UnpicklingError))
        assert isinstance(err.value, (CheckpointLoadError, ValueError))
        assert path in msg and what in msg, msg
        assert f'({osp.getsize(path):,} bytes)' in msg
        assert 'Re-download' in msg and 'epoch_N.pth' in msg
        assert 'weights_only=False' not in msg and 'unsafe' not in msg.lower()


def test_good_checkpoints_still_load(files):
    ckpt = safe_torch_load(files['good'])
    assert torch.equal(
        ckpt['state_dict']['backbone.conv1.weight'], files['state']['backbone.conv1.weight']
    )
    torch.save(
        {'w': torch.ones(2)}, files['tmp'] / 'legacy_ok.pth', _use_new_zipfile_serialization=False
    )
    assert torch.equal(safe_torch_load(files['tmp'] / 'legacy_ok.pth')['w'], torch.ones(2))


# ---------------------------------------------------------------- every tool, subprocess
_MMDET_SCRIPT = textwrap.dedent("""
    # mmdet's paths: the benchmark config (whose custom_imports installs csml_mm's loader)
    # builds the detector; its PretrainedBackbone init_cfg, mmengine's `Pretrained` init and
    # load_checkpoint (load_from / resume) each get the checkpoint.
    import sys
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    ckpt = sys.argv[2]
    cfg = Config.fromfile(sys.argv[1])  # imports csml_mm through custom_imports
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    cfg.model.backbone.init_cfg.checkpoint = ckpt
    model = MODELS.build(cfg.model)
    failures = 0
    for how in ('init_cfg', 'Pretrained', 'load_checkpoint'):
        try:
            if how == 'init_cfg':
                model.backbone.init_weights()
            elif how == 'Pretrained':
                model.backbone.init_cfg = dict(type='Pretrained', checkpoint=ckpt)
                model.backbone.init_weights()
            else:
                load_checkpoint(model, ckpt, map_location='cpu')
        except Exception as e:
            print(f'{how}: {type(e).__name__}: {e}', file=sys.stderr)
            failures += 1
    sys.exit(1 if failures == 3 else 0)
""")


def _tool_commands(ckpt: str, work: str) -> dict:
    py = sys.executable
    return {
        'train --resume': [py, 'tools/train.py', MOCO_TINY, '--work-dir', work, '--resume', ckpt],
        'train load_from': [
            py,
            'tools/train.py',
            MOCO_TINY,
            '--work-dir',
            work,
            '--cfg-options',
            f'load_from={ckpt}',
        ],
        'train PretrainedBackbone': [
            py,
            'tools/train.py',
            LINEAR_TINY,
            '--work-dir',
            work,
            '--cfg-options',
            f'model.backbone.init_cfg.checkpoint={ckpt}',
        ],
        'test.py': [py, 'tools/test.py', LINEAR_TINY, ckpt, '--work-dir', work],
        'knn_eval': [py, 'tools/analysis_tools/knn_eval.py', MOCO_TINY, ckpt],
        'vis_tsne': [
            py,
            'tools/visualization/vis_tsne.py',
            MOCO_TINY,
            '--checkpoint',
            ckpt,
            '--max-samples',
            '16',
            '--out',
            osp.join(work, 'tsne.png'),
        ],
        'extract_backbone': [
            py,
            'tools/model_converters/extract_backbone.py',
            ckpt,
            osp.join(work, 'out.pth'),
        ],
        'to_torchvision': [
            py,
            'tools/model_converters/to_torchvision.py',
            ckpt,
            osp.join(work, 'out.pth'),
        ],
        'to_timm': [py, 'tools/model_converters/to_timm.py', ckpt, osp.join(work, 'out.pth')],
        'to_detectron2': [
            py,
            'tools/model_converters/to_detectron2.py',
            ckpt,
            osp.join(work, 'out.pkl'),
        ],
        'mmdet config': [py, '-c', _MMDET_SCRIPT, DET_CFG, ckpt],
    }


TOOLS = list(_tool_commands('x', 'y'))
#: (tool, broken file, what the message must say): 1,000 random bytes, and
#: the first half of a real checkpoint (a truncated download). The other broken kinds go
#: through the same loader: see test_broken_files_are_unreadable_not_unsafe.
UNREADABLE = [
    ('knn_eval', 'random', 'neither a zip archive nor a pickle'),
    ('train --resume', 'truncated', 'truncated zip archive'),
]


def _run_all(jobs: dict, env: dict) -> dict:
    """Run the commands of ``jobs`` two at a time; ``{name: (rc, stdout, stderr)}``."""
    from concurrent.futures import ThreadPoolExecutor

    def one(cmd):
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        return proc.returncode, proc.stdout, proc.stderr

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(one, cmd) for name, cmd in jobs.items()}
        return {name: f.result() for name, f in futures.items()}


@pytest.fixture(scope='module')
def tool_runs(files, tmp_path_factory):
    """Every tool once with its own malicious checkpoint (and marker), plus the unreadable
    cases; run as subprocesses, two at a time, to keep the module at about a minute."""
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env.setdefault('OMP_NUM_THREADS', '1')
    jobs, info = {}, {}
    for tool in TOOLS:
        if tool == 'mmdet config' and importlib.util.find_spec('mmdet') is None:
            continue
        tmp = tmp_path_factory.mktemp('tool')
        marker = str(tmp / 'pwned')
        ckpt = _malicious(str(tmp / 'epoch_1.pth'), marker)
        jobs[('unsafe', tool)] = _tool_commands(ckpt, str(tmp / 'work'))[tool]
        info[('unsafe', tool)] = dict(ckpt=ckpt, marker=marker)
    for tool, name, _ in UNREADABLE:
        tmp = tmp_path_factory.mktemp('tool')
        jobs[('unreadable', tool)] = _tool_commands(files[name], str(tmp / 'work'))[tool]
        info[('unreadable', tool)] = dict(ckpt=files[name])
    results = _run_all(jobs, env)
    return {
        key: dict(info[key], rc=rc, out=out, err=err) for key, (rc, out, err) in results.items()
    }


def _error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith('error: ')]
    assert lines, stderr[-3000:]
    return lines[-1]


@pytest.mark.slow
@pytest.mark.parametrize('tool', TOOLS)
def test_every_tool_refuses_a_malicious_checkpoint(tool, tool_runs):
    if ('unsafe', tool) not in tool_runs:
        pytest.skip('mmdet is not installed')
    run = tool_runs[('unsafe', tool)]
    ckpt, err = run['ckpt'], run['err']
    assert run['rc'] != 0, (run['out'] + err)[-3000:]
    assert not osp.exists(run['marker']), f'{tool} ran the payload of {ckpt}'
    if tool == 'mmdet config':  # no CLI of ours: the message is in mmdet/mmengine's output
        assert err.count('UnsafeCheckpointError') == 3 and ckpt in err, err[-3000:]
        return
    line = _error_line(err)
    assert ckpt in line and 'unsafe' in line, line
    assert 'Traceback' not in err, err[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize('tool, name, what', UNREADABLE)
def test_tools_report_unreadable_files_with_their_path(tool, name, what, tool_runs):
    run = tool_runs[('unreadable', tool)]
    ckpt, err = run['ckpt'], run['err']
    assert run['rc'] != 0, (run['out'] + err)[-3000:]
    line = _error_line(err)
    assert line.startswith(f'error: Cannot read checkpoint {ckpt} ({osp.getsize(ckpt):,} bytes)')
    assert what in line and 'Re-download' in line, line
    assert 'unsafe' not in line.lower() and 'weights_only=False' not in line, line
    assert 'Traceback' not in err, err[-3000:]


@pytest.mark.parametrize(
    'name, what',
    [('text', 'a text file'), ('empty', 'empty'), ('truncated', 'truncated zip archive')],
)
def test_backbone_loading_reports_unreadable_files(files, name, what):
    """The loader of PretrainedBackbone, vis_tsne and the converters (in-process)."""
    from csml_mm.models.utils.pretrained_init import load_backbone_checkpoint

    with pytest.raises(UnreadableCheckpointError, match=what) as err:
        load_backbone_checkpoint(files[name])
    assert files[name] in str(err.value)
