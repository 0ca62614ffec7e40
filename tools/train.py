"""Train a csml_mm (or any mmpretrain) config.

Same flags as mmpretrain's ``tools/train.py``. Differences: ``csml_mm`` is imported
first (registration, safe checkpoint loading, atomic checkpoint writes) and
``--launcher pytorch|slurm|mpi`` also works on machines without a GPU (gloo).
"""

import argparse
import logging
import os
import os.path as osp
import sys

# From a source checkout, use the checkout's csml_mm. An installed copy of this script
# (csml_mm/.mim/tools/) has no package next to it and imports the installed csml_mm.
_CHECKOUT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
if osp.isfile(osp.join(_CHECKOUT, 'csml_mm', '__init__.py')):
    sys.path.insert(0, _CHECKOUT)

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import csml_mm  # noqa: E402,F401  (registers modules, installs the safe loader)
from csml_mm.datasets.data_check import (
    apply_corrupt_image_policy,  # noqa: E402
    check_train_data,
)
from csml_mm.engine.resume import find_resume_checkpoint, resume_epochs_problem  # noqa: E402
from csml_mm.utils import (
    check_config,
    exit_after_distributed_run,  # noqa: E402
    init_dist_for_launcher,
)
from csml_mm.utils.config_check import (  # noqa: E402
    check_cfg_options,
    check_data_roots,  # noqa: E402
    check_folder_roots,
)
from csml_mm.utils.dist_timeout import (
    dist_timeout_from_cfg,  # noqa: E402
    explain_collective_timeout,
)
from csml_mm.utils.run_size import (
    cap_workers,
    epoch_options,  # noqa: E402
    epoch_warnings,
    resolve_auto_queue,
)
from csml_mm.utils.stack import load_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model with csml_mm')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest checkpoint in the '
        'work dir when no path is given',
    )
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed-precision training (MixedPrecisionOptimWrapper: bf16 where '
        'the device supports it, else fp16 with a loss scaler; '
        'optim_wrapper.dtype chooses)',
    )
    parser.add_argument(
        '--epochs',
        type=int,
        default=None,
        help='train this many epochs, the learning-rate schedule stretched or shortened with '
        "them (every scheduler that ends at the config's max_epochs ends at EPOCHS)",
    )
    parser.add_argument(
        '--no-validate', action='store_true', help='do not evaluate checkpoints during training'
    )
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr linearly with the global batch size '
        '(auto_scale_lr.base_batch_size in the config)',
    )
    parser.add_argument('--no-pin-memory', action='store_true')
    parser.add_argument('--no-persistent-workers', action='store_true')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings, e.g. model.queue_len=4096 train_dataloader.batch_size=64',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg: Config, args) -> Config:
    """Fold the command-line flags into the config."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper not in ('OptimWrapper', 'AmpOptimWrapper', 'MixedPrecisionOptimWrapper'):
            raise ValueError(
                f'--amp needs optim_wrapper.type OptimWrapper or AmpOptimWrapper, got {wrapper!r}.'
            )
        # mmengine's AmpOptimWrapper without its GPU-only assertion: bf16 where the device
        # has it (CPU too), fp16 with a dynamic loss scaler otherwise
        cfg.optim_wrapper.type = 'MixedPrecisionOptimWrapper'  # loss_scale: 'dynamic'

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume {args.resume}: no such checkpoint file.')
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise KeyError(
                '--auto-scale-lr needs `auto_scale_lr = dict(base_batch_size=...)` in the config.'
            )
        cfg.auto_scale_lr.enable = True

    def set_loader_defaults(cfg, key):
        loader = cfg.get(key, None)
        if loader is None:
            return
        loader.setdefault('collate_fn', dict(type='default_collate'))
        if args.no_pin_memory:
            loader['pin_memory'] = False
        if args.no_persistent_workers:
            loader['persistent_workers'] = False

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        set_loader_defaults(cfg, key)

    if args.cfg_options is not None:
        check_cfg_options(args.cfg_options)  # e.g. data_root=...: see docs/own_data.md
        cfg.merge_from_dict(args.cfg_options)
    if args.resume == 'auto':  # the newest complete checkpoint, not just last_checkpoint's
        cfg.load_from = find_resume_checkpoint(cfg.work_dir)
    return cfg


def _say(message: str) -> None:
    print_log(f'[csml_mm] {message}', logger='current')


def fit_run_size(cfg: Config, args) -> None:
    """``--epochs`` with its schedule, and the workers capped by the cores (logged)."""
    if args.epochs is not None:
        opts = epoch_options(cfg, args.epochs)
        cfg.merge_from_dict({k: int(v) for k, v in (o.split('=', 1) for o in opts)})
        _say(f'--epochs {args.epochs}: ' + ', '.join(opts))
        for warning in epoch_warnings(cfg, args.epochs):
            print_log(f'[csml_mm] {warning}', logger='current', level=logging.WARNING)
    for change in cap_workers(cfg):
        _say(f'{change} (no more workers than the cores this process may use)')
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(str(h.get('type', '')).endswith('FirstStepsLogHook') for h in hooks):
        # a line after the first iteration and every 10 s until the logger's first line
        scope = 'mmpretrain.' if cfg.get('default_scope', 'mmpretrain') != 'mmpretrain' else ''
        cfg.custom_hooks = hooks + [dict(type=f'{scope}FirstStepsLogHook')]


def resolve_queue(cfg: Config) -> None:
    """``model.queue_len='auto'``: sized from the training set and the total batch."""
    from mmengine.dist import get_world_size

    why = resolve_auto_queue(cfg, get_world_size())
    if why:
        _say(why)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config)  # a detection config on mmcv-lite: says `make setup-det`
    cfg = merge_args(cfg, args)
    fit_run_size(cfg, args)
    if cfg.get('resume') and cfg.get('load_from'):
        # resumed without the --epochs it started with: the run would end on the wrong length
        problem = resume_epochs_problem(cfg.load_from, cfg.get('param_scheduler'), args.epochs)
        if problem:
            raise ValueError(problem)
    check_config(cfg)
    check_folder_roots(cfg)  # a missing image folder: name CSML_DATA_ROOT / CSML_EVAL_ROOT
    check_data_roots(cfg)  # any other missing data_root/ann_file: before the model is built
    apply_corrupt_image_policy(cfg)  # corrupt_images='raise'|'skip' (docs/reliability.md)
    timeout = None
    if args.launcher != 'none':
        # env_cfg.dist_cfg.timeout (s): how long a collective waits for a silent rank
        timeout = dist_timeout_from_cfg(cfg)
        backend = init_dist_for_launcher(args.launcher, timeout=timeout)
        cfg.setdefault('env_cfg', dict()).setdefault('dist_cfg', dict())['backend'] = backend
    resolve_queue(cfg)
    # a collective timeout is re-raised naming the collective, the silent ranks and the setting
    with explain_collective_timeout(timeout):
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else None
        if runner is None:
            from mmengine.registry import RUNNERS

            runner = RUNNERS.build(cfg)
        check_train_data(runner)  # empty set, no full batch, listed images missing
        runner.train()


if __name__ == '__main__':
    from csml_mm.utils.cli import cli_errors

    with cli_errors():  # a bad checkpoint or data, a diverged run: one `error: ...` line
        main()
    # a finished multi-process run leaves without the native teardown, which aborts now and
    # then under gloo (csml_mm/utils/dist.py)
    exit_after_distributed_run(0)
