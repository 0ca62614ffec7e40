"""Keep non-finite losses and gradients away from the weights.

:func:`install_nonfinite_guard` (called by ``NonFiniteLossHook.before_train``) swaps the
class of the runner's optimizer wrapper(s) for a subclass with :class:`NonFiniteGuardMixin`,
so it works for ``OptimWrapper``, ``AmpOptimWrapper`` and any other subclass a config names,
and for every algorithm (those that call ``update_params`` several times per iteration, such
as APS, included). Per optimizer step:

- ``backward`` records whether the loss was finite (a tensor flag, no device sync) and then
  runs the backward pass as usual: under DDP every rank must join the gradient all-reduce;
- ``step`` decides, once per step and on every rank alike (one small all-reduce when
  distributed), whether the loss of this step (of any micro-batch with gradient accumulation)
  or, without an active loss scaler, any gradient is NaN/Inf. If so the optimizer step is not
  taken, the gradients are dropped and the event is recorded for the hook, which stops the run
  or counts the skip. With an active ``GradScaler`` (fp16 AMP on CUDA) a non-finite gradient is
  the scaler's business: it skips the step and lowers the scale, as mmengine's
  ``AmpOptimWrapper`` always did; the guard counts these skips.
"""

from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Type

import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict

__all__ = ['NonFiniteGuardMixin', 'install_nonfinite_guard', 'grads_are_finite']


def grads_are_finite(params: List[torch.Tensor]) -> torch.Tensor:
    """A 0-dim bool tensor: every gradient of ``params`` is finite (no device sync)."""
    by_device: Dict[torch.device, List[torch.Tensor]] = {}
    for p in params:
        if p.grad is not None and not p.grad.is_sparse:
            by_device.setdefault(p.grad.device, []).append(p.grad.detach())
    ok = torch.ones((), dtype=torch.bool)
    for device, grads in by_device.items():
        found = torch.zeros(1, device=device)
        try:  # GradScaler's fused check; with inv_scale 1 the gradients stay as they are
            torch._amp_foreach_non_finite_check_and_unscale_(
                grads, found, torch.ones(1, device=device)
            )
        except (RuntimeError, AttributeError):  # pragma: no cover - exotic dtypes/devices
            found = torch.stack([~torch.isfinite(g).all() for g in grads]).any().float()
        ok = ok & (found.reshape(()).to(ok.device) == 0)
    return ok


class NonFiniteGuardMixin:
    """Mixed in front of an ``OptimWrapper`` class: a step with a NaN/Inf loss or gradient is
    never applied. ``guard_events`` lists the skipped steps since the hook last read them."""

    guard_check_grads: bool = True

    def guard_reset(
        self, check_grads: bool = True, describe: Optional[Callable[[str], str]] = None
    ) -> None:
        """(Re)initialise the guard's state; ``describe`` turns the message of a
        ``FloatingPointError`` raised inside the forward pass into the full one."""
        self.guard_check_grads = check_grads
        self.guard_describe = describe
        self._guard_bad_loss: Optional[torch.Tensor] = None
        self.guard_events: List[str] = []
        self.guard_scaler_skips = 0

    @contextmanager
    def optim_context(self, model) -> Iterator[None]:
        """The wrapper's context, plus: a ``FloatingPointError`` that the model raises in
        its forward pass (WCL checks its projections) becomes a
        :class:`~csml_mm.utils.errors.NonFiniteTrainingError` naming the iteration and the
        last good checkpoint. No step was taken; there is no loss to skip, so it also stops
        a run in skip mode."""
        from csml_mm.utils.errors import NonFiniteTrainingError

        try:
            with super().optim_context(model):  # type: ignore[misc]
                yield
        except FloatingPointError as e:
            if isinstance(e, NonFiniteTrainingError):
                raise
            describe = getattr(self, 'guard_describe', None)
            raise NonFiniteTrainingError(describe(str(e)) if describe else str(e)) from e

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        bad = ~torch.isfinite(loss.detach()).all()
        prev = getattr(self, '_guard_bad_loss', None)
        self._guard_bad_loss = bad if prev is None else (prev | bad.to(prev.device))
        super().backward(loss, **kwargs)  # type: ignore[misc]

    def _scaler_active(self) -> bool:
        scaler = getattr(self, 'loss_scaler', None)
        if scaler is None:
            return False
        is_enabled = getattr(scaler, 'is_enabled', None)
        return bool(is_enabled()) if callable(is_enabled) else True

    def step(self, **kwargs) -> None:
        params = [
            p
            for group in self.optimizer.param_groups  # type: ignore[attr-defined]
            for p in group['params']
        ]
        device = next((p.device for p in params), torch.device('cpu'))
        bad_loss = getattr(self, '_guard_bad_loss', None)
        self._guard_bad_loss = None
        scaling = self._scaler_active()
        flags = torch.zeros(2, device=device)
        if bad_loss is not None:
            flags[0] = bad_loss.to(device).float()
        local_bad_loss = flags[0].clone()
        if self.guard_check_grads and not scaling:
            flags[1] = (~grads_are_finite(params)).to(device).float()
        if (
            torch.distributed.is_available()
            and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1
        ):
            from mmengine.dist import all_reduce

            all_reduce(flags, op='max')  # the same decision on every rank
        bad = torch.cat([flags, local_bad_loss.view(1)]).tolist()  # the one device sync
        if bad[0] or bad[1]:
            if bad[0]:
                self.guard_events.append('loss' if bad[2] else 'loss on another process')
            else:
                self.guard_events.append('gradient')
            self.optimizer.zero_grad(set_to_none=True)  # type: ignore[attr-defined]
            return
        if scaling:
            scaler = self.loss_scaler  # type: ignore[attr-defined]
            before = float(scaler.get_scale())
            super().step(**kwargs)  # type: ignore[misc]
            if float(scaler.get_scale()) < before:  # the scaler found inf/NaN and skipped
                self.guard_scaler_skips += 1
            return
        super().step(**kwargs)  # type: ignore[misc]


_GUARDED: Dict[type, type] = {}


def _guarded_class(cls: Type[OptimWrapper]) -> type:
    if issubclass(cls, NonFiniteGuardMixin):
        return cls
    if cls not in _GUARDED:
        _GUARDED[cls] = type(
            f'NonFiniteGuarded{cls.__name__}', (NonFiniteGuardMixin, cls), {'__module__': __name__}
        )
    return _GUARDED[cls]


def install_nonfinite_guard(
    optim_wrapper, check_grads: bool = True, describe: Optional[Callable[[str], str]] = None
) -> List[OptimWrapper]:
    """Guard ``optim_wrapper`` (or each wrapper of an ``OptimWrapperDict``) in place and
    return the guarded wrappers."""
    wrappers = (
        list(optim_wrapper.values())
        if isinstance(optim_wrapper, OptimWrapperDict)
        else [optim_wrapper]
    )
    guarded = []
    for wrapper in wrappers:
        if not isinstance(wrapper, OptimWrapper):
            continue
        wrapper.__class__ = _guarded_class(type(wrapper))
        wrapper.guard_reset(check_grads, describe)
        _rebind_counted_step(wrapper)
        guarded.append(wrapper)
    return guarded


def _rebind_counted_step(wrapper: OptimWrapper) -> None:
    """mmengine's parameter schedulers replace ``optim_wrapper.step`` on the instance by a
    counting wrapper around the method as it was then (``with_counter``), which would bypass
    the guarded class; put a counting wrapper around the guarded ``step`` in its place."""
    old = wrapper.__dict__.get('step')
    if old is None:
        return
    cls = type(wrapper)

    def step(*args, **kwargs):
        if hasattr(wrapper, '_global_step'):
            wrapper._global_step += 1
        return cls.step(wrapper, *args, **kwargs)

    step._with_counter = getattr(old, '_with_counter', False)  # type: ignore[attr-defined]
    wrapper.step = step
