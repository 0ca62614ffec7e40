"""csml_mm.models.utils.finite: the NaN/Inf projection check shared by WCL and its graph
head, which raises the FloatingPointError that the non-finite guard turns into a stop."""

import pytest
import torch

from csml_mm.models.utils.finite import check_finite_projections
from csml_mm.utils.host_checks import HOST_CHECKS_ENV


def test_finite_projections_pass():
    check_finite_projections('WCL', 'instance-head (neck)', torch.randn(4, 3))
    check_finite_projections('KNNWeakLabelHead', 'graph-head', torch.randn(4, 3), torch.randn(4, 3))
    check_finite_projections('WCL', 'nothing')  # no tensor: nothing to check


@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf')])
def test_non_finite_projection_names_owner_head_and_fixes(bad):
    z = torch.randn(4, 3)
    z[1, 2] = bad
    with pytest.raises(FloatingPointError) as err:
        check_finite_projections('WCL', 'instance-head (neck)', z)
    assert str(err.value) == (
        'WCL: the instance-head (neck) projections contain NaN or Inf. Training has diverged: '
        'lower optim_wrapper.optimizer.lr, lengthen the warm-up, or add '
        'optim_wrapper.clip_grad.'
    )
    # any of several tensors; the consequence follows "NaN or Inf"
    with pytest.raises(
        FloatingPointError,
        match=r'^KNNWeakLabelHead: the graph-head projections contain NaN or '
        r'Inf, so no graph can be built\. Training has diverged',
    ):
        check_finite_projections(
            'KNNWeakLabelHead',
            'graph-head',
            torch.randn(4, 3),
            z,
            consequence=', so no graph can be built',
        )


def test_follows_host_checks_setting(monkeypatch):
    z = torch.full((2, 2), float('nan'))
    monkeypatch.setenv(HOST_CHECKS_ENV, '0')
    check_finite_projections('WCL', 'instance-head (neck)', z)  # skipped: the guard's business
    monkeypatch.setenv(HOST_CHECKS_ENV, '1')
    with pytest.raises(FloatingPointError):
        check_finite_projections('WCL', 'instance-head (neck)', z)
