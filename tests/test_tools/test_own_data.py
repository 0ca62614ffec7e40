"""Your own images (docs/own_data.md): the ``_folder`` configs of every method take the image
folder from ONE setting (CSML_DATA_ROOT; the optional labelled CSML_EVAL_ROOT for kNN and the
linear probe) into every loader that reads it, and the documented path (pretrain, kNN,
export, linear probe) runs end to end on a folder of small PNG files."""

import copy
import glob
import importlib.util
import os
import os.path as osp
import subprocess
import sys
from types import ModuleType
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

import csml_mm  # noqa: F401  (registers the datasets and transforms)
from csml_mm.engine.hooks.knn_eval_hook import check_same_classes
from csml_mm.utils import safe_torch_load
from csml_mm.utils.config_check import check_cfg_options, check_folder_roots

PRETRAIN = {
    'mocov2': 'configs/mocov2/mocov2_resnet50_8xb32-coslr-200e_folder.py',
    'csml': 'configs/csml/csml_resnet50_8xb32-coslr-200e_folder.py',
    'wcl': 'configs/wcl/wcl_resnet50_32xb128-lars-coslr-200e_folder.py',
    'aps': 'configs/aps/aps_vit-small-p16_16xb256-amp-coslr-300e_folder.py',
}
#: The small recipes: 64 px, quarter-width ResNet-18 or the CPU ViT, for one machine.
SMALL = {
    'mocov2-small': 'configs/mocov2/mocov2_resnet18-w16_1xb128-bnneck-64px-coslr-60e_folder.py',
    'csml-small': 'configs/csml/csml_resnet18-w16_1xb128-bnneck-64px-coslr-60e_folder.py',
    'wcl-small': 'configs/wcl/wcl_resnet18-w16_1xb128-64px-coslr-60e_folder.py',
    'aps-small': 'configs/aps/aps_vit-d4w64-p8_1xb128-64px-coslr-60e_folder.py',
}
EVERY_RECIPE = dict(PRETRAIN, **SMALL)
LINEAR = [
    'configs/benchmarks/classification/folder/resnet50_linear-8xb32-steplr-100e_folder.py',
    'configs/benchmarks/classification/folder/vit-small-p16_linear-8xb128-coslr-90e_folder.py',
]
#: The ImageNet config each folder config takes its recipe from (model, optimisation).
RECIPE_OF = {
    PRETRAIN['mocov2']: 'configs/mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py',
    PRETRAIN['csml']: 'configs/csml/csml_resnet50_8xb32-coslr-200e_in1k.py',
    PRETRAIN['wcl']: 'configs/wcl/wcl_resnet50_32xb128-lars-coslr-200e_in1k.py',
    PRETRAIN['aps']: 'configs/aps/aps_vit-small-p16_16xb256-amp-coslr-300e_in1k.py',
    LINEAR[0]: 'configs/benchmarks/classification/imagenet/'
    'resnet50_linear-8xb32-steplr-100e_in1k.py',
    LINEAR[1]: 'configs/benchmarks/classification/imagenet/'
    'vit-small-p16_linear-8xb128-coslr-90e_in1k.py',
}
TINY_CSML = 'tests/data/configs/csml_tiny_folder.py'  # the CsMl folder config, test-sized
DEFAULT_ROOT = 'data/my_images'
NUM_PAIRS = 16  # 32 unlabelled images: 16 pairs of near-copies
CLASSES = ('blue', 'red')
PER_CLASS = {'train': 12, 'val': 6}  # kNN bank 24, queries 12


def _write_unlabelled(root: str, pairs: int = NUM_PAIRS, seed: int = 0) -> List[str]:
    """Write ``pairs`` pairs of 32 px PNGs that differ in one pixel (``pNN_a``/``pNN_b``),
    a quarter of them in a sub-folder; return the relative paths in the dataset's order."""
    rng = np.random.default_rng(seed)
    for i in range(pairs):
        coarse = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(coarse).resize((32, 32), Image.BILINEAR)).astype(int)
        img = np.clip(img + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
        twin = img.copy()
        twin[0, 0] = 255 - twin[0, 0]
        folder = osp.join(root, 'more') if i >= 3 * pairs // 4 else root
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(img).save(osp.join(folder, f'p{i:02d}_a.png'))
        Image.fromarray(twin).save(osp.join(folder, f'p{i:02d}_b.png'))
    # mmpretrain's CustomDataset lists the tree recursively and sorts the relative paths
    return sorted(
        osp.relpath(p, root) for p in glob.glob(osp.join(root, '**', '*.png'), recursive=True)
    )


def _write_labelled(root: str, seed: int = 1) -> None:
    """train/ and val/ with one sub-folder per class: blue- or red-dominated noise."""
    rng = np.random.default_rng(seed)
    for split, num in PER_CLASS.items():
        for channel, name in ((2, 'blue'), (0, 'red')):  # RGB channel of the class colour
            folder = osp.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            for j in range(num):
                img = rng.integers(0, 80, (32, 32, 3)).astype(np.uint8)
                img[..., channel] = rng.integers(150, 256, (32, 32))
                Image.fromarray(img).save(osp.join(folder, f'{j:02d}.png'))


def _data_roots(node: Any, where: str = '') -> List[Tuple[str, Any]]:
    """Every ``data_root`` anywhere in a config tree, with its dotted path."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f'{where}.{key}' if where else key
            if key == 'data_root':
                found.append((path, value))
            else:
                found.extend(_data_roots(value, path))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            found.extend(_data_roots(value, f'{where}.{i}'))
    return found


def _hooks(cfg: Config) -> Dict[str, dict]:
    return {hook['type']: hook for hook in cfg.get('custom_hooks', [])}


def _import_tool(repo_root: str, rel: str) -> ModuleType:
    """Import a script under tools/ as a module (its ``main(argv)`` is the command line)."""
    name = '_own_data_' + osp.splitext(osp.basename(rel))[0]
    spec = importlib.util.spec_from_file_location(name, osp.join(repo_root, rel))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build(dataset_cfg: dict):
    from mmpretrain.registry import DATASETS

    init_default_scope('mmpretrain')
    return DATASETS.build(copy.deepcopy(dataset_cfg))


@pytest.fixture(scope='module')
def folders(tmp_path_factory) -> Tuple[str, str]:
    """An unlabelled image folder and a labelled train/val folder, shared by this module."""
    root = tmp_path_factory.mktemp('own_data')
    images, labelled = str(root / 'images'), str(root / 'labelled')
    _write_unlabelled(images)
    _write_labelled(labelled)
    return images, labelled


@pytest.fixture
def no_data_env(monkeypatch):
    monkeypatch.delenv('CSML_DATA_ROOT', raising=False)
    monkeypatch.delenv('CSML_EVAL_ROOT', raising=False)
    return monkeypatch


@pytest.mark.slow
@pytest.mark.parametrize('method', sorted(EVERY_RECIPE))
def test_one_setting_moves_every_loader(method, repo_root, folders, no_data_env):
    images, labelled = folders
    no_data_env.setenv('CSML_DATA_ROOT', images)
    no_data_env.setenv('CSML_EVAL_ROOT', labelled)
    cfg = Config.fromfile(osp.join(repo_root, EVERY_RECIPE[method]))
    roots = _data_roots(cfg.to_dict())
    assert {value for _, value in roots} == {images, labelled}, roots  # no default left

    train = cfg.train_dataloader.dataset
    inner = train.dataset if train.type == 'NeighbourViewsDataset' else train
    assert method.startswith('csml') == (train.type == 'NeighbourViewsDataset')
    assert inner.type == 'CustomDataset' and inner.with_label is False
    assert inner.data_root == images
    hooks = _hooks(cfg)
    for loaders in (hooks['KNNEvalHook'], cfg.knn_cfg):  # monitor and knn_eval.py
        for key, prefix in (('train_dataloader', 'train'), ('val_dataloader', 'val')):
            assert loaders[key].dataset.data_root == labelled
            assert loaders[key].dataset.data_prefix == prefix
    if method.startswith('csml'):
        assert hooks['NeighbourMiningHook'].dataloader.dataset.data_root == images

    # The loaders really read the folders: every image once, in one order.
    num_images = 2 * NUM_PAIRS
    if method.startswith('csml'):
        assert len(_build(train.to_dict())) == num_images
        mining = _build(hooks['NeighbourMiningHook'].dataloader.dataset.to_dict())
        assert len(mining) == num_images
        item = mining[0]
    else:
        dataset_cfg = train.to_dict()
        for transform in dataset_cfg['pipeline']:
            if transform['type'] == 'PipelineSwitch':  # WCL: stage 0 outside training
                transform['initial_stage'] = 0
        dataset = _build(dataset_cfg)
        assert len(dataset) == num_images
        item = dataset[0]
    assert item['data_samples'].img_path.startswith(images)
    bank = _build(cfg.knn_cfg.train_dataloader.dataset.to_dict())
    assert len(bank) == len(CLASSES) * PER_CLASS['train']
    assert tuple(bank.metainfo['classes']) == CLASSES


@pytest.mark.parametrize('method', sorted(EVERY_RECIPE))
def test_without_the_variables_no_knn_and_one_default(method, repo_root, no_data_env):
    cfg = Config.fromfile(osp.join(repo_root, EVERY_RECIPE[method]))
    assert {value for _, value in _data_roots(cfg.to_dict())} == {DEFAULT_ROOT}
    assert cfg.knn_cfg is None
    assert 'KNNEvalHook' not in _hooks(cfg)


@pytest.mark.parametrize('path', sorted(RECIPE_OF))
def test_folder_configs_keep_the_imagenet_recipe(path, repo_root, no_data_env):
    """Only the data differs from the ImageNet config, so the pretraining -> benchmark
    checks of the ImageNet pairs (test_pretrain_to_benchmark.py) hold for these too."""
    folder = Config.fromfile(osp.join(repo_root, path))
    imagenet = Config.fromfile(osp.join(repo_root, RECIPE_OF[path]))
    for key in (
        'model',
        'data_preprocessor',
        'optim_wrapper',
        'param_scheduler',
        'train_cfg',
        'auto_scale_lr',
        'model_wrapper_cfg',
        'default_hooks',
    ):
        assert folder.get(key) == imagenet.get(key), key
    assert folder.train_dataloader.batch_size == imagenet.train_dataloader.batch_size
    assert folder.train_dataloader.dataset != imagenet.train_dataloader.dataset


@pytest.mark.parametrize('path', LINEAR)
def test_linear_probe_configs_read_the_labelled_folder(path, repo_root, folders, no_data_env):
    images, labelled = folders
    no_data_env.setenv('CSML_EVAL_ROOT', labelled)
    cfg = Config.fromfile(osp.join(repo_root, path))
    assert {value for _, value in _data_roots(cfg.to_dict())} == {labelled}
    assert cfg.train_dataloader.dataset.data_prefix == 'train'
    assert cfg.val_dataloader.dataset.data_prefix == 'val'
    assert cfg.test_dataloader.dataset.data_prefix == 'val'
    train = _build(cfg.train_dataloader.dataset.to_dict())
    assert len(train) == len(CLASSES) * PER_CLASS['train']
    assert tuple(train.metainfo['classes']) == CLASSES


def test_cfg_options_data_root_is_refused(repo_root, no_data_env):
    path = osp.join(repo_root, PRETRAIN['csml'])
    # Why: mmengine resolved the variable while reading the file, the loaders keep copies.
    cfg = Config.fromfile(path)
    cfg.merge_from_dict({'data_root': '/elsewhere'})
    assert cfg.data_root == '/elsewhere'
    assert cfg.train_dataloader.dataset.dataset.data_root == DEFAULT_ROOT
    assert _hooks(cfg)['NeighbourMiningHook'].dataloader.dataset.data_root == DEFAULT_ROOT
    with pytest.raises(ValueError, match='CSML_DATA_ROOT'):
        check_cfg_options({'data_root': '/elsewhere'})
    with pytest.raises(ValueError, match='CSML_EVAL_ROOT'):
        check_cfg_options({'eval_root': '/elsewhere'})
    check_cfg_options({'train_dataloader.dataset.data_root': '/elsewhere'})  # a loader's own
    no_data_env.setenv('LOCAL_RANK', '0')  # parse_args sets it otherwise
    train = _import_tool(repo_root, 'tools/train.py')
    with pytest.raises(ValueError, match='CSML_DATA_ROOT'):
        train.main([path, '--cfg-options', 'data_root=/elsewhere'])


#: docs/data.md ("Other datasets"): the keys that move each ImageNet pretraining config.
IMAGENET_KEYS = {
    'configs/csml/csml_resnet50_8xb32-coslr-200e_in1k.py': [
        'train_dataloader.dataset.dataset.data_root',
        'custom_hooks.0.dataloader.dataset.data_root',
        'knn_cfg.train_dataloader.dataset.data_root',
        'knn_cfg.val_dataloader.dataset.data_root',
    ],
    'configs/mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py': [
        'train_dataloader.dataset.data_root',
        'knn_cfg.train_dataloader.dataset.data_root',
        'knn_cfg.val_dataloader.dataset.data_root',
    ],
    'configs/wcl/wcl_resnet50_32xb128-lars-coslr-200e_in1k.py': [
        'train_dataloader.dataset.data_root',
        'knn_cfg.train_dataloader.dataset.data_root',
        'knn_cfg.val_dataloader.dataset.data_root',
    ],
    'configs/aps/aps_vit-small-p16_16xb256-amp-coslr-300e_in1k.py': [
        'train_dataloader.dataset.data_root'
    ],
}


@pytest.mark.parametrize('path', sorted(IMAGENET_KEYS))
def test_documented_imagenet_override_keys_move_every_loader(path, repo_root):
    cfg = Config.fromfile(osp.join(repo_root, path))
    cfg.merge_from_dict({key: '/elsewhere' for key in IMAGENET_KEYS[path]})
    # the top-level variables are copies that no loader reads
    left = [
        (where, root)
        for where, root in _data_roots(cfg.to_dict())
        if root != '/elsewhere'
        and where != 'data_root'
        and not where.startswith('mining_dataloader.')
    ]
    assert not left


def test_missing_folder_names_the_variable(repo_root, folders, tmp_path, no_data_env):
    images, labelled = folders
    path = osp.join(repo_root, PRETRAIN['mocov2'])
    no_data_env.setenv('CSML_DATA_ROOT', str(tmp_path / 'typo'))
    with pytest.raises(FileNotFoundError, match='CSML_DATA_ROOT') as err:
        check_folder_roots(Config.fromfile(path))
    assert 'typo' in str(err.value)
    no_data_env.setenv('CSML_DATA_ROOT', images)
    no_data_env.setenv('CSML_EVAL_ROOT', str(tmp_path / 'nolabels'))
    with pytest.raises(FileNotFoundError, match=r'nolabels[/\\]train'):
        check_folder_roots(Config.fromfile(path))
    no_data_env.setenv('CSML_EVAL_ROOT', labelled)
    check_folder_roots(Config.fromfile(path))  # both exist: no error


def test_knn_bank_and_queries_must_list_the_same_classes(tmp_path):
    for split, names in (('train', ('a', 'b', 'c')), ('val', ('a', 'c'))):
        for name in names:
            os.makedirs(tmp_path / split / name)
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / split / name / '0.png')
    bank = _build(dict(type='CustomDataset', data_root=str(tmp_path), data_prefix='train'))
    queries = _build(dict(type='CustomDataset', data_root=str(tmp_path), data_prefix='val'))
    # without the check, val's 'c' (index 1 there) would be scored as the bank's 'b'
    with pytest.raises(ValueError, match=r"only in the bank: \['b'\]"):
        check_same_classes(bank, queries)
    check_same_classes(bank, bank)


def test_csml_on_an_image_folder_end_to_end(repo_root, subprocess_env, tmp_path, no_data_env):
    images, labelled = str(tmp_path / 'images'), str(tmp_path / 'labelled')
    rel = _write_unlabelled(images)
    _write_labelled(labelled)
    env = dict(subprocess_env, CSML_DATA_ROOT=images, CSML_EVAL_ROOT=labelled)
    config = osp.join(repo_root, TINY_CSML)
    # 1. Pretrain, from another directory and without --work-dir: the documented default
    #    work_dirs/<config name>/ relative to where the command runs.
    proc = subprocess.run(
        [
            sys.executable,
            osp.join(repo_root, 'tools/train.py'),
            config,
            '--cfg-options',
            'custom_hooks.0.dataloader.num_workers=0',  # mining loader
            'custom_hooks.1.train_dataloader.num_workers=0',  # kNN monitor
            'custom_hooks.1.val_dataloader.num_workers=0',
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    work = tmp_path / 'work_dirs' / 'csml_tiny_folder'
    ckpt = work / 'epoch_2.pth'
    assert (work / 'epoch_1.pth').is_file() and ckpt.is_file()
    assert osp.samefile((work / 'last_checkpoint').read_text().strip(), ckpt)
    logs = glob.glob(str(work / '*' / '*.log'))
    assert len(logs) == 1
    assert osp.basename(logs[0]) == osp.basename(osp.dirname(logs[0])) + '.log'

    # 2. The run's own copy of the config holds the resolved folders, readable without the
    #    variables: every loader read them.
    dumped = Config.fromfile(str(work / 'csml_tiny_folder.py'))
    assert {value for _, value in _data_roots(dumped.to_dict())} == {images, labelled}
    assert dumped.train_dataloader.dataset.dataset.data_root == images
    hooks = _hooks(dumped)
    assert hooks['NeighbourMiningHook'].dataloader.dataset.data_root == images
    assert hooks['KNNEvalHook'].train_dataloader.dataset.data_root == labelled

    # 3. Mining read these very files: at epoch 0 and again at the cross-sample warm-up
    #    (epoch 1), and each image's nearest neighbour is its one-pixel copy.
    num_images = 2 * NUM_PAIRS
    assert out.count(f'NeighbourMiningHook: mined 5 neighbours for {num_images} images') == 2
    table = safe_torch_load(str(ckpt), map_location='cpu')['neighbour_table']
    assert table.shape == (num_images, 5)
    twin = torch.tensor([rel.index(p[:-5] + {'a': 'b', 'b': 'a'}[p[-5]] + '.png') for p in rel])
    assert (table[:, 0] == twin).float().mean() >= 0.9
    # ... and the kNN monitor read the labelled folder.
    n_bank, n_query = (len(CLASSES) * PER_CLASS[s] for s in ('train', 'val'))
    assert f'kNN eval (epoch 2, N={n_bank}, M={n_query},' in out

    # 4. kNN evaluation of the checkpoint (knn_eval.py's command line, in this process).
    knn_eval = _import_tool(repo_root, 'tools/analysis_tools/knn_eval.py')
    no_data_env.setenv('LOCAL_RANK', '0')
    knn_args = [
        config,
        str(ckpt),
        '--cfg-options',
        'knn_cfg.train_dataloader.num_workers=0',
        'knn_cfg.val_dataloader.num_workers=0',
    ]
    with pytest.raises(SystemExit, match='set CSML_EVAL_ROOT'):  # no labelled folder
        knn_eval.main([config, str(ckpt)])
    no_data_env.setenv('CSML_EVAL_ROOT', labelled)
    summary = knn_eval.main(knn_args + ['--out', str(tmp_path / 'knn.json')])
    assert (summary['num_train'], summary['num_val']) == (n_bank, n_query)
    assert summary['num_classes'] == len(CLASSES)
    # colour classes: a label mix-up between bank and queries would give <= 50%
    assert summary['results']['top1_k10'] >= 75.0
    assert (tmp_path / 'knn.json').is_file()

    # 5. Export the backbone.
    extract = _import_tool(repo_root, 'tools/model_converters/extract_backbone.py')
    exported = tmp_path / 'backbone.pth'
    extract.main([str(ckpt), str(exported)])
    state = torch.load(str(exported), map_location='cpu', weights_only=True)['state_dict']
    full = safe_torch_load(str(ckpt), map_location='cpu')['state_dict']
    expected = {k[len('backbone.') :]: v for k, v in full.items() if k.startswith('backbone.')}
    assert state.keys() == expected.keys() and len(state) > 0
    assert all(torch.equal(state[k], v) for k, v in expected.items())

    # 6. Linear probe of the exported backbone on the labelled folder (1 epoch, the ResNet-50
    #    probe shrunk to the test backbone).
    proc = subprocess.run(
        [
            sys.executable,
            'tools/train.py',
            LINEAR[0],
            '--work-dir',
            str(tmp_path / 'linear'),
            '--cfg-options',
            f'model.backbone.init_cfg.checkpoint={exported}',
            'model.head.num_classes=2',
            'val_evaluator.topk=1',
            'model.backbone.depth=18',
            'model.backbone.base_channels=16',
            'model.backbone.stem_channels=16',
            'model.head.in_channels=128',
            'train_cfg.max_epochs=1',
            'train_dataloader.batch_size=8',
            'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False',
            'val_dataloader.num_workers=0',
            'val_dataloader.persistent_workers=False',
        ],
        cwd=repo_root,
        env=dict(subprocess_env, CSML_EVAL_ROOT=labelled),
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert (
        f'PretrainedBackbone: matched {len(state)}/{len(state)} backbone keys from '
        f'{exported} (missing: none, unexpected: none)'
    ) in out
    assert 'Epoch(val) [1][' in out and 'accuracy/top1:' in out
    assert (tmp_path / 'linear' / 'epoch_1.pth').is_file()


@pytest.mark.parametrize('method', sorted(SMALL))
def test_small_recipe_trains_on_a_folder_and_evaluates(
    method, repo_root, subprocess_env, tmp_path, no_data_env
):
    """Each small recipe runs through tools/train.py on a folder of PNG files (batch 8 here),
    with the queue sized by the data; kNN evaluation then rebuilds the model without the
    training data and loads the checkpoint, queue included."""
    images, labelled = str(tmp_path / 'images'), str(tmp_path / 'labelled')
    _write_unlabelled(images)
    _write_labelled(labelled)
    env = dict(subprocess_env, CSML_DATA_ROOT=images, CSML_EVAL_ROOT=labelled)
    work = tmp_path / 'work'
    proc = subprocess.run(
        [
            sys.executable,
            'tools/train.py',
            SMALL[method],
            '--work-dir',
            str(work),
            '--epochs',
            '1',
            '--cfg-options',
            'train_dataloader.batch_size=8',
        ],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    if method in ('mocov2-small', 'csml-small'):
        # 32 images // 16 = 2 keys, less than the batch of 8: one batch
        assert 'model.queue_len=auto -> 8:' in out
    assert 'Epoch(train) [1][4/4]' in out or '[first steps] iteration 1/4' in out, out[-3000:]
    n_bank, n_query = (len(CLASSES) * PER_CLASS[s] for s in ('train', 'val'))
    assert f'kNN eval (epoch 1, N={n_bank}, M={n_query},' in out  # the monitor
    ckpt = work / 'epoch_1.pth'
    state = safe_torch_load(str(ckpt), map_location='cpu')['state_dict']
    if 'queue' in state:
        assert state['queue'].shape[-1] == 8  # MoCo (feat, len), CsMl (levels, feat, len)

    knn_eval = _import_tool(repo_root, 'tools/analysis_tools/knn_eval.py')
    no_data_env.setenv('LOCAL_RANK', '0')
    no_data_env.setenv('CSML_EVAL_ROOT', labelled)  # no CSML_DATA_ROOT: not needed
    summary = knn_eval.main(
        [
            osp.join(repo_root, SMALL[method]),
            str(ckpt),
            '--cfg-options',
            'knn_cfg.train_dataloader.num_workers=0',
            'knn_cfg.val_dataloader.num_workers=0',
        ]
    )
    assert (summary['num_train'], summary['num_val']) == (n_bank, n_query)
    assert 0.0 <= summary['results']['top1_k10'] <= 100.0
