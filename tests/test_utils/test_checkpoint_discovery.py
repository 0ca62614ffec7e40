"""One rule for "the newest complete checkpoint" (``csml_mm.utils.checkpoint_discovery``): the
non-finite hook's "last good checkpoint" names the file ``--resume`` picks, and the safe loader
and ``--resume`` share one zip check (with its CRC-32 test)."""

import os
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

import csml_mm  # noqa: F401
from csml_mm.engine.hooks import NonFiniteLossHook
from csml_mm.engine.hooks.nonfinite_loss_hook import last_good_checkpoint
from csml_mm.engine.resume import NoCompleteCheckpointError, find_resume_checkpoint
from csml_mm.utils import UnreadableCheckpointError, safe_torch_load
from csml_mm.utils.checkpoint import describe_unreadable
from csml_mm.utils.checkpoint_discovery import (
    checkpoint_candidates,
    checkpoint_problem,
    checkpoint_step,
    newest_complete_checkpoint,
)
from csml_mm.utils.errors import NonFiniteTrainingError


def _save(path, mtime: int) -> str:
    """A complete checkpoint with a known payload and modification time."""
    torch.save({'meta': {'iter': mtime}, 'w': torch.full((512,), 7, dtype=torch.uint8)}, path)
    os.utime(path, (1_000_000 + mtime, 1_000_000 + mtime))
    return str(path)


def _flip_a_byte(path) -> None:
    """Damage one byte of the tensor data, keeping the size, the zip directory and mtime."""
    stat = os.stat(path)
    data = open(path, 'rb').read()
    at = data.index(b'\x07' * 512)
    with open(path, 'wb') as fh:
        fh.write(data[:at] + b'\x08' + data[at + 1 :])
    os.utime(path, (stat.st_atime, stat.st_mtime))


def _truncate(path) -> None:
    stat = os.stat(path)
    data = open(path, 'rb').read()
    with open(path, 'wb') as fh:
        fh.write(data[: len(data) // 2])
    os.utime(path, (stat.st_atime, stat.st_mtime))


def _pointer(work, name: str) -> None:
    (work / 'last_checkpoint').write_text(str(work / name))


def _pointer_to_older(work):
    """last_checkpoint names the complete epoch_1.pth; epoch_2.pth is newer and complete."""
    _save(work / 'epoch_1.pth', 1)
    _save(work / 'epoch_2.pth', 2)
    _pointer(work, 'epoch_1.pth')
    return 'epoch_1.pth'


def _newest_fails_crc(work):
    """The newest file, which last_checkpoint names, has one damaged byte: its zip directory
    is intact, only the CRC-32 check finds it."""
    _save(work / 'epoch_1.pth', 1)
    _save(work / 'epoch_2.pth', 2)
    _flip_a_byte(work / 'epoch_2.pth')
    _pointer(work, 'epoch_2.pth')
    return 'epoch_1.pth'


def _newest_legacy_format(work):
    """No last_checkpoint; the newest file is in torch's legacy (non-zip) format, which
    mmengine never writes and --resume does not take."""
    _save(work / 'iter_4.pth', 4)
    torch.save({'w': torch.ones(3)}, work / 'iter_8.pth', _use_new_zipfile_serialization=False)
    os.utime(work / 'iter_8.pth', (1_000_008, 1_000_008))
    return 'iter_4.pth'


def _equal_times(work):
    """Same modification time (a copy that set it coarsely): the larger N wins."""
    _save(work / 'epoch_2.pth', 5)
    _save(work / 'iter_10.pth', 5)
    return 'iter_10.pth'


SCENARIOS = [_pointer_to_older, _newest_fails_crc, _newest_legacy_format, _equal_times]


def _mtime_newest(work) -> str:
    """What the hook used to name: the newest epoch_*/iter_* by mtime the loader accepts
    (epoch files first among equal times)."""
    names = sorted(os.listdir(work))
    names = [n for n in names if n.startswith('epoch_')] + [
        n for n in names if n.startswith('iter_')
    ]
    names = sorted(names, key=lambda n: osp.getmtime(work / n), reverse=True)
    return next(n for n in names if describe_unreadable_old(work / n) is None)


def describe_unreadable_old(path):
    """The loader's check before it shared the CRC-32 test: legacy files pass, zip files need
    their directory and a data.pkl."""
    import zipfile

    if open(path, 'rb').read(2) == b'\x80\x02':
        return None
    if not zipfile.is_zipfile(path):
        return 'truncated'
    with zipfile.ZipFile(path) as archive:
        return None if any(n.endswith('data.pkl') for n in archive.namelist()) else 'no pkl'


def _hook_runner(work_dir: str):
    model = nn.Linear(4, 2)
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    logger = SimpleNamespace(info=lambda m: None, warning=lambda m: None, error=lambda m: None)
    hub = SimpleNamespace(get_info=lambda k, d=None: d, update_info=lambda k, v: None)
    runner = SimpleNamespace(
        model=model,
        optim_wrapper=wrapper,
        logger=logger,
        epoch=1,
        iter=7,
        work_dir=work_dir,
        hooks=[],
        message_hub=hub,
    )
    hook = NonFiniteLossHook()
    hook.before_train(runner)
    return runner, hook, model, wrapper


@pytest.mark.parametrize('scenario', SCENARIOS, ids=lambda f: f.__name__.strip('_'))
def test_nan_hook_names_the_checkpoint_resume_picks(tmp_path, scenario):
    """In each work dir the modification-time rule the hook used names another file than
    --resume; now the hook's message names --resume's file."""
    expected = str(tmp_path / scenario(tmp_path))
    assert _mtime_newest(tmp_path) != osp.basename(expected)  # the scenario discriminates
    picked = find_resume_checkpoint(str(tmp_path), warn=lambda m: None)
    assert picked == expected
    runner, _, model, wrapper = _hook_runner(str(tmp_path))
    assert last_good_checkpoint(runner) == expected
    with pytest.raises(NonFiniteTrainingError) as err:
        with wrapper.optim_context(model):
            raise FloatingPointError('WCL: the global projections contain NaN or Inf.')
    assert f'Last good checkpoint: {expected} (' in str(err.value)
    assert f'--resume {expected})' in str(err.value)


def test_nan_hook_without_a_complete_checkpoint(tmp_path):
    """Only broken checkpoints: --resume refuses to start, the hook says there is none."""
    _save(tmp_path / 'epoch_1.pth', 1)
    _truncate(tmp_path / 'epoch_1.pth')
    _pointer(tmp_path, 'epoch_1.pth')
    with pytest.raises(NoCompleteCheckpointError):
        find_resume_checkpoint(str(tmp_path), warn=lambda m: None)
    assert newest_complete_checkpoint(str(tmp_path)) is None
    runner, hook, _, _ = _hook_runner(str(tmp_path))
    assert last_good_checkpoint(runner) is None
    assert 'Last good checkpoint: none yet' in hook._last_checkpoint_text(runner)
    runner.work_dir = None  # a runner without a work dir (unit tests)
    assert last_good_checkpoint(runner) is None


def test_newest_complete_checkpoint_warns_like_resume_without_the_prefix(tmp_path):
    _newest_fails_crc(tmp_path)
    plain, resume = [], []
    assert newest_complete_checkpoint(str(tmp_path), warn=plain.append) == str(
        tmp_path / 'epoch_1.pth'
    )
    find_resume_checkpoint(str(tmp_path), warn=resume.append)
    assert resume == [f'--resume: {m}' for m in plain] and len(plain) == 2
    assert 'fails the CRC-32 check' in plain[0] and 'resuming from' in plain[1]


def test_candidates_order_and_step(tmp_path):
    _save(tmp_path / 'epoch_3.pth', 1)
    _save(tmp_path / 'iter_20.pth', 2)
    _save(tmp_path / 'iter_9.pth', 2)
    (tmp_path / 'best_acc.pth').write_bytes(b'')
    (tmp_path / '.epoch_4.pth.abc.tmp').write_bytes(b'')
    assert [osp.basename(p) for p in checkpoint_candidates(str(tmp_path))] == [
        'iter_20.pth',
        'iter_9.pth',
        'epoch_3.pth',
    ]
    assert checkpoint_candidates(str(tmp_path / 'missing')) == []
    assert checkpoint_step('/a/b/epoch_12.pth') == 12 and checkpoint_step('iter_3.pth') == 3
    assert checkpoint_step('best_acc.pth') is None


def test_loader_and_resume_share_the_zip_check(tmp_path):
    """One zip check: for zip files the loader's reason is --resume's, CRC-32 included; only
    torch's legacy (non-zip) format is left to torch.load by the loader."""
    good = _save(tmp_path / 'good.pth', 1)
    _save(tmp_path / 'flipped.pth', 1)
    _flip_a_byte(tmp_path / 'flipped.pth')
    _save(tmp_path / 'half.pth', 1)
    _truncate(tmp_path / 'half.pth')
    import zipfile

    with zipfile.ZipFile(tmp_path / 'other.pth', 'w') as zf:
        zf.writestr('readme.txt', 'not a checkpoint')
    for name in ('good', 'flipped', 'half', 'other'):
        path = str(tmp_path / f'{name}.pth')
        assert describe_unreadable(path) == checkpoint_problem(path), name
    assert checkpoint_problem(good) is None
    assert 'fails the CRC-32 check' in checkpoint_problem(str(tmp_path / 'flipped.pth'))
    assert 'truncated zip archive' in describe_unreadable(str(tmp_path / 'half.pth'))
    with pytest.raises(UnreadableCheckpointError, match='fails the CRC-32 check'):
        safe_torch_load(str(tmp_path / 'flipped.pth'))
    torch.save({'w': torch.ones(3)}, tmp_path / 'legacy.pth', _use_new_zipfile_serialization=False)
    assert describe_unreadable(str(tmp_path / 'legacy.pth')) is None
    assert 'not a zip-format' in checkpoint_problem(str(tmp_path / 'legacy.pth'))
