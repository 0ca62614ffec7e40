"""Safe checkpoint loading (allow-list, refusal of code) and atomic writes."""

import os
import os.path as osp
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

import csml_mm  # noqa: F401
from csml_mm.utils import (
    AtomicLocalBackend,
    UnsafeCheckpointError,
    checkpoint_safe_globals,
    safe_torch_load,
)


class _Evil:
    """Pickles to a call of os.system: what a malicious checkpoint looks like."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def _mmengine_like_checkpoint() -> dict:
    buf = HistoryBuffer()
    for v in (1.0, 2.5, 3.0):
        buf.update(v)
    return dict(
        meta=dict(
            epoch=2,
            iter=10,
            seed=0,
            cfg='model = dict()',
            mmengine_version='0.10.7',
            dataset_meta=dict(classes=('0', '1')),
        ),
        state_dict=OrderedDict(w=torch.randn(3, 2), queue_ptr=torch.zeros(1, dtype=torch.long)),
        message_hub=dict(
            log_scalars={'train/loss': buf},
            runtime_info=dict(
                epoch=2,
                iter=10,
                max_iters=100,
                arr=np.arange(4, dtype=np.int64),
                scalar=np.float64(0.5),
            ),
            resumed_keys={'epoch': True},
        ),
        optimizer=dict(state={}, param_groups=[dict(lr=0.1, params=[0])]),
        rng_state=[
            dict(
                python=__import__('random').getstate(),
                numpy=np.random.get_state(),
                torch=torch.get_rng_state(),
            )
        ],
    )


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
    path = tmp_path / 'ok.pth'
    ckpt = _mmengine_like_checkpoint()
    torch.save(ckpt, path)
    # Plain torch.load (weights_only=True is the default) refuses it ...
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    # ... our loader and mmengine's loading path accept it.
    for loaded in (safe_torch_load(path), _load_checkpoint(str(path), map_location='cpu')):
        assert torch.equal(loaded['state_dict']['w'], ckpt['state_dict']['w'])
        buf = loaded['message_hub']['log_scalars']['train/loss']
        assert isinstance(buf, HistoryBuffer) and buf.mean() == pytest.approx(6.5 / 3)
        assert np.array_equal(loaded['message_hub']['runtime_info']['arr'], np.arange(4))
        assert loaded['rng_state'][0]['numpy'][0] == 'MT19937'


def test_malicious_checkpoint_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _Evil(str(marker))}, path)
    with pytest.raises(UnsafeCheckpointError, match='Refused to load checkpoint'):
        safe_torch_load(path)
    # mmengine's own loading path (used by resume and load_from) goes through it too.
    with pytest.raises(UnsafeCheckpointError, match='arbitrary code'):
        _load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()


def test_allow_list_is_scoped_not_global(tmp_path):
    path = tmp_path / 'ok.pth'
    torch.save(_mmengine_like_checkpoint(), path)
    safe_torch_load(path)
    # torch's process-wide allow-list was not extended.
    assert HistoryBuffer not in torch.serialization.get_safe_globals()
    assert HistoryBuffer in checkpoint_safe_globals()
    # The local scheme of mmengine's CheckpointLoader is ours.
    loader = CheckpointLoader._get_checkpoint_loader('/some/file.pth')
    assert loader.__module__ == 'csml_mm.utils.checkpoint'


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    backend = AtomicLocalBackend()
    target = tmp_path / 'sub' / 'ckpt.pth'
    backend.put(b'old', target)
    assert target.read_bytes() == b'old'

    def broken_replace(src, dst):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'replace', broken_replace)
    with pytest.raises(OSError, match='disk full'):
        backend.put(b'new-but-interrupted', target)
    monkeypatch.undo()
    assert target.read_bytes() == b'old'
    assert sorted(p.name for p in target.parent.iterdir()) == ['ckpt.pth']
    backend.put_text('text', target)
    assert target.read_text() == 'text'


def test_mmengine_save_checkpoint_uses_atomic_backend(tmp_path, monkeypatch):
    from mmengine.runner.checkpoint import save_checkpoint

    calls = []
    orig = AtomicLocalBackend._atomic_write

    def spy(self, data, filepath):
        calls.append(osp.basename(str(filepath)))
        return orig(self, data, filepath)

    monkeypatch.setattr(AtomicLocalBackend, '_atomic_write', spy)
    save_checkpoint({'state_dict': {'w': torch.ones(1)}}, str(tmp_path / 'a.pth'))
    assert calls == ['a.pth']
    assert torch.equal(safe_torch_load(tmp_path / 'a.pth')['state_dict']['w'], torch.ones(1))
