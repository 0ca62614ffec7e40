"""Count the device-to-host reads of a piece of training code, on any device, CPU included.

On a GPU every read of a device tensor's value by the host (``.item()``, ``bool(t)``,
``.tolist()``, ``.cpu()``, ``.numpy()``, ``float(t)``, ``torch.equal``) and every op whose
output shape depends on the values (``nonzero``, ``unique``, ``masked_select``, boolean
indexing) waits for the device to finish its queued work: the step's kernels can no longer
run ahead of Python. :class:`HostReadCounter` finds these reads on a CPU as well, by
following which tensors *would* live on the accelerator:

- the model's parameters and buffers, the optimizer's state tensors (except the ``step``
  counters that PyTorch keeps on the host on purpose), and anything created with an explicit
  ``device=`` or moved by ``.to(...)`` / ``.cuda()`` (the batch, after the data preprocessor);
- every output of an op that reads one of them.

Tensors made on the host without a device (``torch.tensor([...])`` of Python numbers, labels
in ``DataSample``) and the reads of them are not counted: on a GPU they cost no sync.
Each counted read is recorded with the first stack frame outside PyTorch, so a test can say
where a new sync came from.
"""

import traceback
from collections import Counter
from typing import Any, Iterable, Optional

import torch
from torch.overrides import TorchFunctionMode

__all__ = ['HostReadCounter']

_READS = {
    torch.Tensor.item,
    torch.Tensor.tolist,
    torch.Tensor.__bool__,
    torch.Tensor.cpu,
    torch.Tensor.numpy,
    torch.Tensor.__float__,
    torch.Tensor.__int__,
    torch.Tensor.__index__,
    torch.equal,
    torch.Tensor.equal,
    torch.Tensor.nonzero,
    torch.nonzero,
    torch.unique,
    torch.Tensor.unique,
    torch.masked_select,
    torch.Tensor.masked_select,
    torch.Tensor.__format__,
    torch.Tensor.__repr__,
}


def _tensors(obj: Any) -> Iterable[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _tensors(x)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _tensors(x)


def _site() -> str:
    for frame in reversed(traceback.extract_stack()[:-1]):
        name = frame.filename.replace('\\', '/')
        if '/torch/' not in name and not name.endswith('host_sync.py'):
            short = name.split('site-packages/')[-1]
            for marker in ('/csml_mm/', '/tools/', '/tests/'):
                if marker in short:
                    short = marker[1:] + short.split(marker, 1)[1]
                    break
            return f'{short}:{frame.lineno}'
    return '?'


class HostReadCounter(TorchFunctionMode):
    """``with HostReadCounter(model, optimizer) as c: ...``; then ``c.count`` and ``c.sites``.

    Args:
        *roots: Modules (their parameters and buffers), optimizers (their state) or tensors
            that live on the device.
    """

    def __init__(self, *roots: Any) -> None:
        super().__init__()
        # id -> tensor: holding the tensors keeps their ids unique while counting (a test
        # tool: it keeps a step's intermediate tensors alive until the counter is dropped)
        self._device = {}
        self.sites: Counter = Counter()
        for root in roots:
            self.mark(root)

    def mark(self, root: Any) -> None:
        if isinstance(root, torch.nn.Module):
            for t in list(root.parameters()) + list(root.buffers()):
                self._add(t)
        elif isinstance(root, torch.optim.Optimizer):
            for state in root.state.values():
                for key, t in state.items():
                    if torch.is_tensor(t) and key != 'step':
                        self._add(t)
            for group in root.param_groups:
                for p in group['params']:
                    self._add(p)
        else:
            for t in _tensors(root):
                self._add(t)

    def _add(self, t: torch.Tensor) -> None:
        self._device[id(t)] = t

    @property
    def count(self) -> int:
        return sum(self.sites.values())

    def _on_device(self, t: torch.Tensor) -> bool:
        return self._device.get(id(t)) is t

    def _is_read(self, func, args, kwargs) -> bool:
        if func in _READS:
            return any(self._on_device(t) for t in _tensors(args[:1]))
        if func is torch.Tensor.__getitem__ and len(args) > 1:
            index = args[1] if isinstance(args[1], tuple) else (args[1],)
            return any(
                isinstance(i, torch.Tensor)
                and i.dtype == torch.bool
                and (self._on_device(i) or self._on_device(args[0]))
                for i in index
            )
        return False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self._is_read(func, args, kwargs):
            self.sites[f'{getattr(func, "__name__", str(func))} {_site()}'] += 1
        out = func(*args, **kwargs)
        if func in _READS:
            return out
        inputs_on_device = any(self._on_device(t) for t in _tensors(args)) or any(
            self._on_device(t) for t in _tensors(kwargs)
        )
        placed = (
            kwargs.get('device') is not None
            or func is torch.Tensor.cuda
            or (
                func is torch.Tensor.to
                and any(isinstance(a, (torch.device, str, torch.Tensor)) for a in args[1:])
            )
        )
        if inputs_on_device or placed:
            for t in _tensors(out):
                self._add(t)
        return out

    def report(self, top: Optional[int] = None) -> str:
        return '\n'.join(f'{n:4d}  {site}' for site, n in self.sites.most_common(top))
