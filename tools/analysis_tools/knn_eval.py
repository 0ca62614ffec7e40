# Copyright (c) csml_mm contributors. All rights reserved.
"""Weighted kNN evaluation of a self-supervised checkpoint.

Examples::

    # one process
    python tools/analysis_tools/knn_eval.py CONFIG CHECKPOINT
    # the randomly initialised model (reproducible with --seed)
    python tools/analysis_tools/knn_eval.py CONFIG --random-init
    # N processes
    python -m torch.distributed.run --nproc_per_node=N \\
        tools/analysis_tools/knn_eval.py CONFIG CHECKPOINT --launcher pytorch

The config needs a ``knn_cfg`` dict with the arguments of ``KNNEvalHook``
(``train_dataloader``, ``val_dataloader`` and optionally ``topk``,
``temperature``, ``chunk_size``, ``num_classes``); see ``docs/knn.md``.
"""

import argparse
import json
import logging
import os
import os.path as osp
import time
from typing import Optional

import torch

_KNN_CFG_HINT = """\
add a `knn_cfg` dict to the config, for example:

knn_cfg = dict(
    train_dataloader=dict(
        batch_size=256, num_workers=8,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        dataset=dict(type='ImageNet', data_root='data/imagenet', split='train',
                     pipeline=test_pipeline)),
    val_dataloader=dict(... same with split='val' ...),
    topk=(10, 20, 100, 200),
    temperature=0.07)"""


def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(
        description='Weighted kNN evaluation (Wu et al. 2018) of the last '
        'backbone stage of a self-supervised model'
    )
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', nargs='?', default=None, help='checkpoint file')
    parser.add_argument(
        '--random-init',
        action='store_true',
        help='evaluate the randomly initialised model instead of a checkpoint (seeded by --seed)',
    )
    parser.add_argument(
        '--topk',
        type=int,
        nargs='+',
        default=None,
        help='numbers of neighbours k (default: knn_cfg.topk or 10 20 100 200)',
    )
    parser.add_argument(
        '--temperature',
        type=float,
        default=None,
        help='vote temperature (default: knn_cfg.temperature or 0.07)',
    )
    parser.add_argument(
        '--chunk-size',
        type=int,
        default=None,
        help='query rows per similarity block (default: knn_cfg.chunk_size or 1024)',
    )
    parser.add_argument(
        '--work-dir', help='directory for the log file and a JSON copy of the results'
    )
    parser.add_argument('--out', help='write the results as JSON to this file (rank 0)')
    parser.add_argument(
        '--raw-pixels',
        action='store_true',
        help='evaluate the normalised input pixels (flattened) instead of '
        'an encoder: the floor any representation should clear',
    )
    parser.add_argument(
        '--linear-probe',
        action='store_true',
        help='also fit the quick linear probe (csml_mm.evaluation.'
        'linear_probe_accuracy: L2-regularised logistic regression by '
        'L-BFGS) on the train features and report its top-1 on the val '
        'split as results["linear_top1"]',
    )
    parser.add_argument('--seed', type=int, default=0, help='random seed (default: 0)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs in xxx=yyy '
        'format, e.g. knn_cfg.val_dataloader.batch_size=64',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    # torch.distributed.launch passes --local_rank, torchrun sets LOCAL_RANK.
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    modes = sum([bool(args.checkpoint), args.random_init, args.raw_pixels])
    if modes > 1:
        parser.error('give one of CHECKPOINT, --random-init or --raw-pixels')
    if modes == 0:
        parser.error(
            'a CHECKPOINT is required (or pass --random-init to '
            'evaluate the randomly initialised model, or --raw-pixels)'
        )
    return args


def init_distributed(launcher: str) -> None:
    """Initialise the default process group for ``launcher``."""
    from mmengine.dist import init_dist

    if torch.cuda.is_available():
        init_dist(launcher, backend='nccl')
        return
    if launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {launcher} needs CUDA (mmengine binds a GPU per '
            'process); on CPU use --launcher pytorch with '
            'torch.distributed.run.'
        )
    # mmengine's pytorch launcher calls torch.cuda.set_device, which fails
    # without a GPU; torchrun provides the env:// variables.
    torch.distributed.init_process_group(backend='gloo')


def main(argv=None) -> Optional[dict]:
    args = parse_args(argv)

    from mmengine.config import Config
    from mmengine.dist import get_rank, get_world_size
    from mmengine.logging import MMLogger, print_log
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner, load_checkpoint, set_random_seed
    from mmpretrain.registry import MODELS

    import csml_mm  # noqa: F401  (registers modules, safe checkpoint IO)
    from csml_mm.engine.hooks.knn_eval_hook import check_same_classes
    from csml_mm.evaluation import extract_features, knn_accuracy, linear_probe_accuracy
    from csml_mm.utils.config_check import check_cfg_options
    from csml_mm.utils.run_size import resolve_auto_queue_for_eval

    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        check_cfg_options(args.cfg_options)
        cfg.merge_from_dict(args.cfg_options)
    knn_cfg = cfg.get('knn_cfg', None)
    if knn_cfg is None:
        if cfg.get('eval_root') == 'none':  # a *_folder.py config without labels
            raise SystemExit(
                f'error: {args.config} has no labelled images for kNN: set CSML_EVAL_ROOT '
                'to a folder with train/<class>/* (the bank) and val/<class>/* (the '
                'queries), e.g. CSML_EVAL_ROOT=/path/to/labelled python '
                'tools/analysis_tools/knn_eval.py CONFIG CHECKPOINT (docs/own_data.md).'
            )
        raise SystemExit(f'error: {args.config} has no `knn_cfg`; {_KNN_CFG_HINT}')
    for key in ('train_dataloader', 'val_dataloader'):
        if key not in knn_cfg:
            raise SystemExit(f'error: knn_cfg has no `{key}`; {_KNN_CFG_HINT}')
    from csml_mm.utils.config_check import check_data_roots

    check_data_roots(cfg, keys=('knn_cfg',))  # missing data: name the keys, never download
    topk = tuple(args.topk or knn_cfg.get('topk', (10, 20, 100, 200)))
    temperature = (
        args.temperature if args.temperature is not None else knn_cfg.get('temperature', 0.07)
    )
    chunk_size = args.chunk_size if args.chunk_size is not None else knn_cfg.get('chunk_size', 1024)

    if args.launcher != 'none':
        init_distributed(args.launcher)
    rank, world_size = get_rank(), get_world_size()

    timestamp = time.strftime('%Y%m%d_%H%M%S', time.localtime())
    log_file = None
    if args.work_dir:
        os.makedirs(args.work_dir, exist_ok=True)
        log_file = osp.join(args.work_dir, f'knn_eval_{timestamp}.log')
    logger = MMLogger.get_instance(f'knn_eval_{timestamp}', log_file=log_file, log_level='INFO')

    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    seed = set_random_seed(args.seed)

    # As mmengine's Runner does: the top-level data_preprocessor is the model's default.
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    why = resolve_auto_queue_for_eval(cfg, args.checkpoint)
    if why:
        logger.info(f'[csml_mm] {why}')
    model = MODELS.build(cfg.model)
    # mmengine prints one line per parameter from init_weights when the logger has
    # no file handler; keep the console readable.
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu', logger=logger)
    if torch.cuda.is_available():
        model = model.cuda()
    device = next(model.parameters()).device

    train_loader = Runner.build_dataloader(copy_cfg(knn_cfg['train_dataloader']), seed=seed)
    val_loader = Runner.build_dataloader(copy_cfg(knn_cfg['val_dataloader']), seed=seed)
    try:
        check_same_classes(train_loader.dataset, val_loader.dataset)
    except ValueError as exc:
        raise SystemExit(f'error: {exc}') from None
    num_classes = knn_cfg.get('num_classes', None)
    if num_classes is None:
        classes = getattr(train_loader.dataset, 'metainfo', {}).get('classes')
        if not classes:
            raise SystemExit(
                "error: the kNN train dataset has no metainfo['classes']; set knn_cfg.num_classes"
            )
        num_classes = len(classes)

    num_train = len(train_loader.dataset)
    if max(topk) > num_train:
        raise SystemExit(
            f'error: k={max(topk)} is larger than the number of '
            f'kNN train samples N={num_train}; lower --topk.'
        )

    start = time.time()
    feature_fn = _pixels if args.raw_pixels else None
    train_feats, train_labels = extract_features(
        model, train_loader, feature_fn=feature_fn, desc='kNN: bank (train split)'
    )
    val_feats, val_labels = extract_features(
        model, val_loader, feature_fn=feature_fn, desc='kNN: queries (val split)'
    )
    print_log(
        f'extracted {len(train_labels)} train and {len(val_labels)} val '
        f'features of dim {train_feats.shape[1]} on {world_size} '
        f'process(es) in {time.time() - start:.1f}s',
        logger=logger,
    )
    if rank != 0:
        _finish_distributed(args.launcher)
        return None

    results = knn_accuracy(
        train_feats.to(device),
        train_labels,
        val_feats,
        val_labels,
        num_classes=num_classes,
        topk=topk,
        temperature=temperature,
        chunk_size=chunk_size,
    )
    if args.linear_probe:
        results['linear_top1'] = linear_probe_accuracy(
            train_feats.cpu(), train_labels, val_feats.cpu(), val_labels, num_classes
        )
        print(f'linear probe top-1 (%): {results["linear_top1"]:.2f}', flush=True)

    lines = [f'{"k":>6} {"top1":>8} {"top5":>8}']
    for k in dict.fromkeys(topk):
        lines.append(f'{k:>6} {results[f"top1_k{k}"]:>8.2f} {results[f"top5_k{k}"]:>8.2f}')
    table = '\n'.join(lines)
    print(
        f'kNN accuracy (%), T={temperature}, N={len(train_labels)}, '
        f'M={len(val_labels)}, C={num_classes}:\n{table}',
        flush=True,
    )
    summary = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        random_init=bool(args.random_init),
        raw_pixels=bool(args.raw_pixels),
        seed=seed,
        topk=list(dict.fromkeys(topk)),
        temperature=temperature,
        num_classes=num_classes,
        num_train=int(len(train_labels)),
        num_val=int(len(val_labels)),
        feat_dim=int(train_feats.shape[1]),
        world_size=world_size,
        results=results,
    )
    out_files = [args.out] if args.out else []
    if args.work_dir:
        out_files.append(osp.join(args.work_dir, f'knn_eval_{timestamp}.json'))
    for path in out_files:
        if osp.dirname(path):
            os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            json.dump(summary, f, indent=2)
    # The last line of stdout is one JSON object, for scripts.
    print(json.dumps(summary), flush=True)
    _finish_distributed(args.launcher)
    return summary


def _pixels(model, inputs: torch.Tensor) -> torch.Tensor:
    """The normalised input itself, flattened: the raw-pixel baseline."""
    return inputs.flatten(1).float()


def _finish_distributed(launcher: str) -> None:
    """Tear down the process group this script created."""
    if (
        launcher != 'none'
        and torch.distributed.is_available()
        and torch.distributed.is_initialized()
    ):
        torch.distributed.destroy_process_group()


def copy_cfg(cfg) -> dict:
    """A plain deep copy of a (Config)Dict, safe to hand to the builders."""
    import copy

    return copy.deepcopy(cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg)


if __name__ == '__main__':
    from csml_mm.utils.cli import cli_errors

    with cli_errors():  # a bad checkpoint or data: one `error: ...` line, exit status 1
        main()
