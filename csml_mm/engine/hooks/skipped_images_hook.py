"""Count the corrupt and oversized images that ``CheckedLoadImageFromFile`` skipped."""

import os.path as osp
from typing import Optional

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class SkippedImagesHook(Hook):
    """Log how many corrupt images were skipped, read from the transforms' ``skip_log``.

    The dataloader workers append ``path<TAB>reason`` lines to ``skip_log``; this hook, in
    the main process, logs the running count whenever it grows, keeps it in the message
    hub's runtime info (``corrupt_images_skipped``) and gives the total after training.
    ``tools/train.py`` adds it when the config sets ``corrupt_images = 'skip'``.
    """

    priority = 'LOW'

    def __init__(self, skip_log: str) -> None:
        self.skip_log = skip_log
        self._size = -1
        self.count = 0

    def _lines(self) -> Optional[list]:
        if not osp.isfile(self.skip_log):
            return None
        size = osp.getsize(self.skip_log)
        if size == self._size:
            return None
        self._size = size
        with open(self.skip_log) as fh:
            return [ln for ln in fh.read().splitlines() if ln.strip()]

    def before_train(self, runner) -> None:
        lines = self._lines()
        self._base = len(lines) if lines else 0  # skips of an earlier run (resume)
        self.count = 0

    def _update(self, runner) -> None:
        lines = self._lines()
        if lines is None:
            return
        count = len(lines) - self._base
        if count != self.count:
            self.count = count
            files = len({ln.split('\t', 1)[0] for ln in lines})
            runner.message_hub.update_info('corrupt_images_skipped', count)
            runner.logger.warning(
                f'SkippedImagesHook: {count} corrupt or oversized image read(s) skipped so far in '
                f'this run '
                f'({files} distinct file(s) listed in {self.skip_log}).'
            )

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._update(runner)

    def after_train(self, runner) -> None:
        self._update(runner)
        runner.logger.info(
            f'SkippedImagesHook: {self.count} corrupt or oversized image read(s) skipped in '
            f'this run (list: {self.skip_log}).'
        )
