"""Evaluate a checkpoint with a config's test loop (linear probes, fine-tuned models).

Same flags as mmpretrain's ``tools/test.py``; for kNN of a pretrained encoder use
``tools/analysis_tools/knn_eval.py``.
"""

import argparse
import os
import os.path as osp
import sys

# From a source checkout, use the checkout's csml_mm. An installed copy of this script
# (csml_mm/.mim/tools/) has no package next to it and imports the installed csml_mm.
_CHECKOUT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
if osp.isfile(osp.join(_CHECKOUT, 'csml_mm', '__init__.py')):
    sys.path.insert(0, _CHECKOUT)

from mmengine.config import DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import csml_mm  # noqa: E402,F401
from csml_mm.utils import (
    check_config,
    exit_after_distributed_run,  # noqa: E402
    init_dist_for_launcher,
)
from csml_mm.utils.dist_timeout import dist_timeout_from_cfg  # noqa: E402
from csml_mm.utils.stack import load_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a model with csml_mm')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation results')
    parser.add_argument('--out', help='dump the metrics to this file (json/yaml/pkl)')
    parser.add_argument('--amp', action='store_true', help='mixed-precision inference')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override settings in the config'
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


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config)  # a detection config on mmcv-lite: says `make setup-det`
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist.')
    cfg.load_from = args.checkpoint
    if args.amp:
        cfg.test_cfg = cfg.get('test_cfg') or dict()
        cfg.test_cfg.fp16 = True
    if cfg.get('test_dataloader') is None:
        raise KeyError(
            f'{args.config} has no test_dataloader/test_evaluator: tools/test.py '
            'evaluates classification configs (configs/benchmarks/...). For a '
            'pretraining config use tools/analysis_tools/knn_eval.py.'
        )
    cfg.test_dataloader.setdefault('collate_fn', dict(type='default_collate'))
    check_config(cfg)
    from csml_mm.utils.config_check import check_data_roots

    check_data_roots(cfg, keys=('test_dataloader',))  # missing data: name the keys
    if args.launcher != 'none':
        backend = init_dist_for_launcher(args.launcher, timeout=dist_timeout_from_cfg(cfg))
        cfg.setdefault('env_cfg', dict()).setdefault('dist_cfg', dict())['backend'] = backend
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.out and runner.rank == 0:
        import mmengine

        mmengine.dump(metrics, args.out)
    return metrics


if __name__ == '__main__':
    from csml_mm.utils.cli import cli_errors

    with cli_errors():  # a bad checkpoint or data: one `error: ...` line, exit status 1
        main()
    # a finished multi-process run leaves without the native teardown, which aborts now and
    # then under gloo (csml_mm/utils/dist.py)
    exit_after_distributed_run(0)
