# Copyright (c) csml_mm contributors. All rights reserved.
"""A transform that applies one of several sub-pipelines, chosen per training stage.

WCL (Zheng et al., ICCV 2021; the released ``wcl.py``) trains its first 10 epochs
with the MoCo v2 augmentations and switches to the SimCLR ones afterwards. The
stage lives in a one-element tensor in shared memory, created when the dataset
is built in the main process. Dataloader workers (forked, or spawned: torch
pickles shared tensors as handles) read the same memory, so persistent workers
see a switch made later by :class:`~csml_mm.engine.hooks.PipelineSwitchHook`
without being restarted.
"""

from typing import Iterator, List, Optional, Sequence, Union

import torch
from mmcv.transforms import BaseTransform, Compose
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PipelineSwitch(BaseTransform):
    """Apply ``pipelines[stage]`` to the results.

    The stage starts unset; :class:`~csml_mm.engine.hooks.PipelineSwitchHook`
    sets it before every training epoch from the epoch number (so ``--resume``
    lands in the right stage by itself). Outside training call
    :meth:`set_stage` or pass ``initial_stage``.

    Example (WCL: MoCo v2 views for epochs 0-9, SimCLR views from epoch 10)::

        train_pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='PipelineSwitch', pipelines=[
                [dict(type='MultiView', num_views=2, transforms=[mocov2_view])],
                [dict(type='MultiView', num_views=2, transforms=[simclr_view])]]),
            dict(type='PackInputs')]
        custom_hooks = [dict(type='PipelineSwitchHook', switch_epochs=[10])]

    Args:
        pipelines: Two or more lists of transform configs (or callables).
        initial_stage: Stage before any hook sets one; ``None`` (default) makes
            an un-set switch an error, so a config that forgets the hook fails
            loudly instead of silently training on stage 0.
    """

    def __init__(
        self,
        pipelines: Sequence[Sequence[Union[dict, callable]]],
        initial_stage: Optional[int] = None,
    ) -> None:
        if not isinstance(pipelines, (list, tuple)) or len(pipelines) < 2:
            raise ValueError(
                'PipelineSwitch: pipelines must be a list of at least two '
                'transform lists (one per stage).'
            )
        self.pipelines: List[Compose] = [Compose(list(p)) for p in pipelines]
        self._stage = torch.full((1,), -1, dtype=torch.int64).share_memory_()
        if initial_stage is not None:
            self.set_stage(initial_stage)

    @property
    def num_stages(self) -> int:
        return len(self.pipelines)

    @property
    def stage(self) -> int:
        """The current stage (-1: not set yet)."""
        return int(self._stage[0])

    def set_stage(self, stage: int) -> None:
        """Select ``pipelines[stage]`` in this process and in every dataloader worker."""
        if not 0 <= int(stage) < self.num_stages:
            raise ValueError(
                f'PipelineSwitch: stage {stage} out of range: there are '
                f'{self.num_stages} pipelines.'
            )
        self._stage[0] = int(stage)

    def transform(self, results: dict) -> Optional[dict]:
        stage = self.stage
        if stage < 0:
            raise RuntimeError(
                'PipelineSwitch: no stage selected. Add '
                "custom_hooks=[dict(type='PipelineSwitchHook', switch_epochs=[...])] to the "
                'config (it selects the pipeline at every epoch), or pass initial_stage / call '
                'set_stage() when using the dataset outside training.'
            )
        return self.pipelines[stage](results)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_stages={self.num_stages}, stage={self.stage})'


def find_pipeline_switches(obj, _seen: Optional[set] = None) -> Iterator[PipelineSwitch]:
    """Every :class:`PipelineSwitch` reachable from a dataloader or dataset.

    Walks dataloaders (``.dataset``), dataset wrappers (``.dataset``,
    ``.datasets``), pipelines (``.pipeline``) and transform containers
    (``.transforms``, ``.pipelines``: ``Compose``, ``MultiView``, ``RandomApply``,
    nested switches).
    """
    _seen = set() if _seen is None else _seen
    if obj is None or id(obj) in _seen or isinstance(obj, (str, bytes, dict, torch.Tensor)):
        return
    _seen.add(id(obj))
    if isinstance(obj, PipelineSwitch):
        yield obj
    if isinstance(obj, (list, tuple)):
        for item in obj:
            yield from find_pipeline_switches(item, _seen)
        return
    for attr in ('dataset', 'datasets', 'pipeline', 'transforms', 'pipelines'):
        child = getattr(obj, attr, None)
        if child is not None and not callable(getattr(type(obj), attr, None)):
            yield from find_pipeline_switches(child, _seen)
