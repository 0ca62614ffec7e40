"""mmengine's CheckpointHook, with the outdated checkpoint removed only after the new one exists."""

import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.fileio import put_text
from mmengine.hooks import CheckpointHook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that never leaves a work dir without a complete checkpoint.

    mmengine 0.10's hook, once ``max_keep_ckpts`` checkpoints exist, deletes the oldest one
    *before* writing the new one and then rewrites ``last_checkpoint`` in place. A kill
    during the write therefore loses the deleted checkpoint, and with ``max_keep_ckpts=1``
    leaves no checkpoint at all, with ``last_checkpoint`` naming the deleted file. This hook
    writes the new checkpoint first (atomically: ``csml_mm`` installs a temp-file + fsync +
    rename backend), then ``last_checkpoint`` (also atomically), and only then deletes the
    outdated checkpoint. The bookkeeping (``keep_ckpt_ids`` in the message hub, which the
    new checkpoint stores) is unchanged. Same arguments as ``CheckpointHook``.
    """

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        outdated: Optional[int] = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args,
        )
        if not is_main_process():
            return
        put_text(self.last_ckpt, osp.join(runner.work_dir, 'last_checkpoint'))
        if outdated is not None and outdated != step:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(outdated))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # deepspeed checkpoints are directories
                self.file_backend.rmtree(path)
