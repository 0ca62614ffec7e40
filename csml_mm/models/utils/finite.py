"""The forward-pass check for NaN/Inf projections that WCL and its graph head share.

The global guard (:class:`~csml_mm.engine.hooks.NonFiniteLossHook` with
:mod:`csml_mm.engine.optim_guard`) keeps every non-finite loss or gradient out of the weights,
whatever the algorithm. This check is not a second guard but an earlier, clearer stop where
the projections themselves are NaN/Inf: it names the projection head, and its
``FloatingPointError`` reaches the guard's ``optim_context``, which adds the iteration and the
last good checkpoint and stops the run also in skip mode (a diverged network cannot be
skipped past). It reads the values on the host, so it follows ``CSML_MM_HOST_CHECKS``
(:mod:`csml_mm.utils.host_checks`): on by default on CPU tensors, off on accelerators, where
the non-finite loss that follows is the guard's business.
"""

import torch

from csml_mm.utils.host_checks import host_checks_enabled

__all__ = ['check_finite_projections']

_DIVERGED = (
    'Training has diverged: lower optim_wrapper.optimizer.lr, lengthen the warm-up, '
    'or add optim_wrapper.clip_grad.'
)


def check_finite_projections(
    owner: str, what: str, *tensors: torch.Tensor, consequence: str = ''
) -> None:
    """Raise a ``FloatingPointError`` when a projection holds NaN or Inf.

    Args:
        owner (str): Who checks, the start of the message (``'WCL'``).
        what (str): Which projections, e.g. ``'instance-head (neck)'``.
        *tensors (torch.Tensor): The projections; the first one decides, by its device,
            whether the check runs (:func:`~csml_mm.utils.host_checks.host_checks_enabled`).
        consequence (str): Text after "contain NaN or Inf", e.g.
            ``', so no graph can be built'``.

    Raises:
        FloatingPointError: ``'<owner>: the <what> projections contain NaN or
            Inf<consequence>. Training has diverged: ...'`` with the usual fixes.
    """
    if not tensors or not host_checks_enabled(tensors[0]):
        return
    finite = torch.stack([torch.isfinite(t).all() for t in tensors]).all()
    if not bool(finite):  # one host read for all tensors
        raise FloatingPointError(
            f'{owner}: the {what} projections contain NaN or Inf{consequence}. {_DIVERGED}'
        )
