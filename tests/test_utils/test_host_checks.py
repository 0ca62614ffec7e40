"""CSML_MM_HOST_CHECKS: the heads' data-dependent checks run on CPU tensors by default, can
be forced on or off, and a bad value is named."""

import pytest
import torch

from csml_mm.models.heads.multi_positive_contrastive_head import _normalised_weight
from csml_mm.utils.host_checks import host_checks_enabled


def test_modes(monkeypatch):
    t = torch.zeros(2)
    monkeypatch.delenv('CSML_MM_HOST_CHECKS', raising=False)
    assert host_checks_enabled(t)  # auto: a CPU tensor is checked (free)
    assert not host_checks_enabled(torch.zeros(2, device='meta'))  # auto: not a CPU tensor
    monkeypatch.setenv('CSML_MM_HOST_CHECKS', '0')
    assert not host_checks_enabled(t)
    monkeypatch.setenv('CSML_MM_HOST_CHECKS', '1')
    assert host_checks_enabled(torch.zeros(2, device='meta'))
    monkeypatch.setenv('CSML_MM_HOST_CHECKS', 'sometimes')
    with pytest.raises(ValueError, match='auto, 1 or 0'):
        host_checks_enabled(t)


def test_a_head_check_follows_the_switch(monkeypatch):
    bad = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # row 1 has no positive
    monkeypatch.delenv('CSML_MM_HOST_CHECKS', raising=False)
    with pytest.raises(ValueError, match=r'Rows \[1\] have no positive'):
        _normalised_weight(bad)
    monkeypatch.setenv('CSML_MM_HOST_CHECKS', '0')
    out = _normalised_weight(bad)  # unchecked: the row divides by 0, a NaN the guard stops
    assert torch.isnan(out[1]).all() and torch.equal(out[0], torch.tensor([1.0, 0.0]))
