"""Test-only faults for tools/train.py runs (imported through a config's ``custom_imports``).

``NonFiniteInjectionHook(iters=[i], kind=...)`` acts during the iterations ``i`` (0-based
``runner.iter``) only and undoes itself afterwards:

- ``'loss'``: multiplies one loss term by NaN (the forward pass, the buffers and the momentum
  encoder are untouched; the gradient of that term becomes NaN);
- ``'grad'``: makes the gradient of the first backbone weight matrix Inf (the loss stays finite);
- ``'noop'``: the reference run: no backward pass and no optimizer step in that iteration.
"""

from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class NonFiniteInjectionHook(Hook):
    priority = 'VERY_LOW'

    def __init__(
        self, iters: Sequence[int], kind: str = 'loss', term: Optional[str] = None
    ) -> None:
        assert kind in ('loss', 'grad', 'noop'), kind
        self.iters = set(int(i) for i in iters)
        self.kind = kind
        self.term = term
        self._undo = None

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if runner.iter not in self.iters:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if self.kind == 'loss':
            original = model.parse_losses

            def parse_losses(losses):
                key = self.term or next(k for k in losses if 'loss' in k)
                losses = dict(losses)
                losses[key] = losses[key] * float('nan')
                return original(losses)

            model.parse_losses = parse_losses
            self._undo = lambda: delattr(model, 'parse_losses')
        elif self.kind == 'grad':
            param = next(
                p
                for n, p in model.backbone.named_parameters()
                if n.endswith('weight') and p.dim() > 1
            )
            handle = param.register_hook(lambda g: g * float('inf'))
            self._undo = handle.remove
        else:
            wrapper = runner.optim_wrapper
            wrapper.update_params = lambda *args, **kwargs: None
            self._undo = lambda: delattr(wrapper, 'update_params')
        runner.logger.info(
            f'NonFiniteInjectionHook: {self.kind} fault at iteration {runner.iter + 1}'
        )

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._undo is not None:
            self._undo()
            self._undo = None
