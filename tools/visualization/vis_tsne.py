"""Plot a 2-D t-SNE (or UMAP) map of backbone features of a labelled set, coloured by class.

Usage::

    CFG=configs/benchmarks/classification/digits/resnet18-w16_linear-1xb64-steplr-20e_digits-plain.py
    python tools/visualization/vis_tsne.py "$CFG" \
        --checkpoint work_dirs/demo/epoch_12.pth --out docs/_static/tsne_digits.png

The config supplies the model (its ``backbone`` and ``data_preprocessor``) and a
labelled dataloader: ``val_dataloader`` by default, else ``knn_cfg.val_dataloader`` (the
pretraining configs), or the one named by ``--dataloader``. The checkpoint may be a
training checkpoint or an ``extract_backbone.py`` file; ``--random-init`` plots an
untrained encoder for comparison. Features are the globally pooled last backbone output,
L2-normalised (``csml_mm.evaluation.extract_features``), embedded with scikit-learn's
``TSNE`` (``--method umap`` needs the ``umap-learn`` package).
"""

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

import csml_mm  # noqa: E402,F401


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='t-SNE / UMAP of backbone features')
    parser.add_argument('config', help='a config with the model and a labelled dataloader')
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument('--checkpoint', help='training checkpoint or extract_backbone.py output')
    src.add_argument('--random-init', action='store_true', help='plot an untrained encoder')
    parser.add_argument(
        '--dataloader',
        default=None,
        help='config key of the dataloader, e.g. val_dataloader or '
        'knn_cfg.train_dataloader (default: val_dataloader, else '
        'knn_cfg.val_dataloader)',
    )
    parser.add_argument(
        '--max-samples', type=int, default=1000, help='seeded random subset of the set (0: all)'
    )
    parser.add_argument('--method', choices=['tsne', 'umap'], default='tsne')
    parser.add_argument('--perplexity', type=float, default=30.0)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--out', default=None, help='output PNG (default: work_dirs/vis_tsne/<config name>.png)'
    )
    parser.add_argument('--title', default=None)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def _loader_cfg(cfg: Config, key):
    keys = [key] if key else ['val_dataloader', 'knn_cfg.val_dataloader']
    for k in keys:
        node = cfg
        for part in k.split('.'):
            node = node.get(part) if node is not None and hasattr(node, 'get') else None
        if node is not None:
            return k, node.copy()
    raise KeyError(
        f'{cfg.filename} has no labelled dataloader under {keys}; pass '
        '--dataloader with the config key of one.'
    )


def build_model(cfg: Config, checkpoint=None):
    """Build ``cfg.model`` and load the backbone of ``checkpoint`` (or init randomly)."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    from csml_mm.models.utils.pretrained_init import load_backbone_checkpoint

    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model.copy()
    model_cfg['backbone'] = model_cfg['backbone'].copy()
    model_cfg['backbone'].pop('init_cfg', None)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    model.init_weights()
    if checkpoint is not None:
        state, used = load_backbone_checkpoint(checkpoint)
        own = model.backbone.state_dict()
        res = model.backbone.load_state_dict(state, strict=False)
        matched = len([k for k in own if k in state and k not in res.missing_keys])
        print(
            f'vis_tsne: matched {matched}/{len(own)} backbone keys from "{used}*" of {checkpoint}'
        )
        if matched == 0:
            raise RuntimeError(f'No key of {checkpoint} matches the backbone of {cfg.filename}.')
    return model


def embed(feats: np.ndarray, method: str, perplexity: float, seed: int) -> np.ndarray:
    """2-D embedding of ``feats`` ``[N, D]``."""
    if method == 'umap':
        try:
            import umap
        except ImportError as e:
            raise ImportError(
                '--method umap needs umap-learn (pip install umap-learn); '
                't-SNE (the default) needs only scikit-learn.'
            ) from e
        return umap.UMAP(n_components=2, random_state=seed).fit_transform(feats)
    from sklearn.manifold import TSNE

    perplexity = min(perplexity, max(1.0, (len(feats) - 1) / 3))
    return TSNE(
        n_components=2, perplexity=perplexity, init='pca', random_state=seed, metric='euclidean'
    ).fit_transform(feats)


def plot(points: np.ndarray, labels: np.ndarray, classes, out: str, title: str) -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    uniq = np.unique(labels)
    cmap = plt.get_cmap('tab10' if len(uniq) <= 10 else 'tab20')
    for i, c in enumerate(uniq):
        sel = labels == c
        name = classes[c] if classes is not None and c < len(classes) else str(c)
        ax.scatter(points[sel, 0], points[sel, 1], s=6, color=cmap(i % cmap.N), label=name)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    if len(uniq) <= 20:
        ax.legend(markerscale=2, fontsize=7, loc='best', frameon=False)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    key, loader_cfg = _loader_cfg(cfg, args.dataloader)
    from csml_mm.utils.config_check import check_data_roots

    check_data_roots(cfg, keys=(key,))  # missing data: name the keys, never download
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from mmpretrain.registry import DATASETS

    from csml_mm.evaluation import extract_features

    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    dataset_cfg = loader_cfg['dataset'].copy()
    n = len(DATASETS.build(dataset_cfg))
    if args.max_samples and n > args.max_samples:
        rng = np.random.default_rng(args.seed)
        dataset_cfg['indices'] = sorted(rng.choice(n, args.max_samples, replace=False).tolist())
    loader_cfg.update(
        dataset=dataset_cfg,
        num_workers=0,
        persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=False),
    )
    loader_cfg.setdefault('collate_fn', dict(type='default_collate'))
    dataloader = Runner.build_dataloader(loader_cfg, seed=args.seed)

    from mmengine.logging import MMLogger

    if not MMLogger.check_instance_created('vis_tsne'):  # no per-parameter init dump
        MMLogger.get_instance('vis_tsne', log_level='WARNING')
    torch.manual_seed(args.seed)
    model = build_model(cfg, None if args.random_init else args.checkpoint)
    feats, labels = extract_features(model, dataloader)
    points = embed(feats.numpy(), args.method, args.perplexity, args.seed)
    classes = dataloader.dataset.metainfo.get('classes')
    name = osp.splitext(osp.basename(args.config))[0]
    out = args.out or osp.join('work_dirs', 'vis_tsne', f'{name}.png')
    weights = 'random init' if args.random_init else osp.basename(args.checkpoint)
    title = args.title or f'{args.method.upper()} of {name}\n({weights}, {len(labels)} images)'
    plot(points, labels.numpy(), classes, out, title)
    print(
        f'vis_tsne: {len(labels)} images from {key}, {feats.shape[1]}-d features, '
        f'{args.method} -> {out}'
    )
    return points, labels.numpy()


if __name__ == '__main__':
    from csml_mm.utils.cli import cli_errors

    with cli_errors():  # a bad checkpoint or data: one `error: ...` line, exit status 1
        main()
