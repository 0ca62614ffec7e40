"""Gather tensors over all ranks: rows of equal count (with or without gradient) or of any
count (:func:`all_gather_varlen`)."""

from typing import List, Tuple

import torch
from mmengine.dist import all_gather, get_rank, get_world_size


def gather_keep_local_grad(x: torch.Tensor, name: str = 'tensor') -> Tuple[torch.Tensor, int]:
    """Concatenate ``x`` from every rank (rank order) along dim 0.

    The other ranks' rows enter without gradient (``all_gather`` is not
    differentiable); this rank's rows are the autograd-tracked ``x`` itself, put
    back at their position. That is how WCL's released code gathers features:
    gradients flow through the local anchors and local candidates only. With no
    process group (or one process) ``x`` is returned unchanged.

    All ranks must pass the same number of rows (``drop_last=True`` in the
    dataloader); a mismatch raises a clear error instead of a collective failure.

    Args:
        x: [b, ...] local rows.
        name: What ``x`` is, for error messages.

    Returns:
        ``(X, offset)``: [world_size * b, ...] and the row offset of this rank.
    """
    world = get_world_size()
    if world == 1:
        return x, 0
    sizes = all_gather(torch.tensor([x.shape[0]], device=x.device))
    sizes = [int(s) for s in sizes]
    if len(set(sizes)) != 1:
        raise ValueError(
            f'{name}: every process must hold the same number of samples, got '
            f'{sizes}. Use drop_last=True in train_dataloader.'
        )
    parts = all_gather(x.detach().contiguous())
    rank = get_rank()
    parts[rank] = x
    return torch.cat(parts, dim=0), rank * x.shape[0]


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward sums every rank's gradient for each rank's rows."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.rank, ctx.rows = get_rank(), x.shape[0]
        return torch.cat(all_gather(x.contiguous()), dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        torch.distributed.all_reduce(grad)  # sum over ranks: d(sum_r L_r) / d rows
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_rows(
    x: torch.Tensor, name: str = 'tensor', with_grad: bool = False
) -> Tuple[torch.Tensor, int]:
    """:func:`gather_keep_local_grad`, or with ``with_grad`` a fully differentiable gather.

    With ``with_grad`` every rank's loss sends its gradient back to the rank that
    owns the rows (all-reduce in backward). Each rank's gradient is then that of the
    *sum* of all ranks' losses w.r.t. its rows; DDP's average over ranks makes the
    parameter gradient equal to the one-process gradient of the mean loss over the
    global batch. Every rank must call it in the same order (as for any collective).

    Returns:
        ``(X, offset)`` as :func:`gather_keep_local_grad`.
    """
    if not with_grad or get_world_size() == 1:
        return gather_keep_local_grad(x, name)
    sizes = [int(s) for s in all_gather(torch.tensor([x.shape[0]], device=x.device))]
    if len(set(sizes)) != 1:
        raise ValueError(
            f'{name}: every process must hold the same number of samples, got '
            f'{sizes}. Use drop_last=True in train_dataloader.'
        )
    return _GatherWithGrad.apply(x), get_rank() * x.shape[0]


def all_gather_varlen(t: torch.Tensor) -> List[torch.Tensor]:
    """All-gather tensors whose first dimension may differ between ranks.

    Each rank's tensor is padded to the longest one for the collective and trimmed
    again. Every rank must call it (in the same order as its other collectives).

    Args:
        t: ``[n, ...]`` this rank's rows (the trailing shape and dtype must agree
            across ranks).

    Returns:
        One tensor per rank, in rank order, on the CPU; ``[t]`` with one process.
    """
    if get_world_size() == 1:
        return [t.cpu()]
    sizes = [int(x) for x in all_gather(torch.tensor([t.shape[0]]))]
    top = max(sizes)
    pad = t.new_zeros((top - t.shape[0],) + tuple(t.shape[1:]))
    parts = all_gather(torch.cat([t, pad]).contiguous())
    return [p.cpu()[:n] for p, n in zip(parts, sizes)]
