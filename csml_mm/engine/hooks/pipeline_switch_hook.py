# Copyright (c) csml_mm contributors. All rights reserved.
"""Select the training augmentation pipeline by epoch (WCL's MoCo v2 -> SimCLR switch)."""

from typing import List, Sequence

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from csml_mm.datasets.pipeline_switch import PipelineSwitch, find_pipeline_switches


@HOOKS.register_module()
class PipelineSwitchHook(Hook):
    """Set every :class:`~csml_mm.datasets.PipelineSwitch` of the training data.

    Before each training epoch ``e`` (0-based) the stage becomes the number of
    entries of ``switch_epochs`` that are ``<= e``: with ``switch_epochs=[10]``
    epochs 0-9 use ``pipelines[0]`` and epochs 10+ ``pipelines[1]`` (WCL). The
    stage is a function of ``runner.epoch`` only, so a resumed run selects the
    right pipeline by itself, and the switch lives in shared memory, so
    persistent dataloader workers see it (see :class:`PipelineSwitch`).

    Args:
        switch_epochs: Increasing epochs at which the next pipeline starts; one
            fewer than the number of pipelines of each switch.
    """

    priority = 'ABOVE_NORMAL'  # before hooks that iterate the training data

    def __init__(self, switch_epochs: Sequence[int]) -> None:
        epochs = [int(e) for e in switch_epochs]
        if not epochs or any(b <= a for a, b in zip(epochs, epochs[1:])) or epochs[0] < 0:
            raise ValueError(
                f'PipelineSwitchHook: switch_epochs must be non-negative and '
                f'strictly increasing, got {list(switch_epochs)}.'
            )
        self.switch_epochs = epochs
        self._switches: List[PipelineSwitch] = []
        self._last_stage = None

    def stage_for_epoch(self, epoch: int) -> int:
        return sum(epoch >= e for e in self.switch_epochs)

    def _find(self, runner) -> List[PipelineSwitch]:
        switches = list(find_pipeline_switches(runner.train_dataloader))
        if not switches:
            raise ValueError(
                'PipelineSwitchHook: the training dataset has no PipelineSwitch transform. '
                "Wrap the per-stage pipelines in dict(type='PipelineSwitch', pipelines=[...]) "
                'or remove the hook.'
            )
        for sw in switches:
            if sw.num_stages != len(self.switch_epochs) + 1:
                raise ValueError(
                    f'PipelineSwitchHook: switch_epochs={self.switch_epochs} gives '
                    f'{len(self.switch_epochs) + 1} stages but a PipelineSwitch has '
                    f'{sw.num_stages} pipelines.'
                )
        return switches

    def before_train(self, runner) -> None:
        self._switches = self._find(runner)

    def before_train_epoch(self, runner) -> None:
        if not self._switches:
            self._switches = self._find(runner)
        stage = self.stage_for_epoch(runner.epoch)
        for sw in self._switches:
            sw.set_stage(stage)
        if stage != self._last_stage:
            runner.logger.info(
                f'PipelineSwitchHook: epoch {runner.epoch} uses training pipeline stage {stage}.'
            )
            self._last_stage = stage
