# Copyright (c) csml_mm contributors. All rights reserved.
"""Tests of feature extraction and of KNNEvalHook in a real Runner."""

import glob
import json
import os.path as osp
import re
import uuid

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.dataset import BaseDataset
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import DATASETS, HOOKS, MODELS

import csml_mm  # noqa: F401  (registers KNNEvalHook)
from csml_mm.engine.hooks.knn_eval_hook import KNNEvalHook
from csml_mm.evaluation import extract_features
from csml_mm.evaluation.features import _merge_shards

IMG_SIZE = 16
CLASSES = ('red', 'green', 'blue')


@DATASETS.register_module(name='CsmlKNNTinyDataset', force=True)
class CsmlKNNTinyDataset(BaseDataset):
    """In-memory labelled images: a noisy colour per class."""

    METAINFO = dict(classes=CLASSES)

    def __init__(self, num_per_class: int = 4, seed: int = 0, **kwargs):
        self.num_per_class = num_per_class
        self.seed = seed
        super().__init__(**kwargs)

    def load_data_list(self):
        rng = np.random.RandomState(self.seed)
        data_list = []
        for i in range(self.num_per_class * len(CLASSES)):
            label = i % len(CLASSES)
            img = rng.randint(0, 80, (IMG_SIZE, IMG_SIZE, 3))
            img[..., label] += 150
            data_list.append(dict(img=img.astype(np.uint8), gt_label=label))
        return data_list


MODEL_CFG = dict(
    type='MoCo',
    queue_len=32,
    feat_dim=2,
    momentum=0.01,
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor', mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]
    ),
    backbone=dict(
        type='ResNet', depth=18, in_channels=3, out_indices=[3], norm_cfg=dict(type='BN')
    ),
    neck=dict(
        type='MoCoV2Neck', in_channels=512, hid_channels=2, out_channels=2, with_avg_pool=True
    ),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2),
)


def _loader_cfg(num_per_class, seed, batch_size, shuffle=False, collate=None, pipeline=None):
    cfg = dict(
        batch_size=batch_size,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=shuffle),
        dataset=dict(
            type='CsmlKNNTinyDataset',
            num_per_class=num_per_class,
            seed=seed,
            pipeline=pipeline or [dict(type='PackInputs')],
        ),
    )
    if collate is not None:
        cfg['collate_fn'] = dict(type=collate)
    return cfg


def _build_model():
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(MODEL_CFG)
    model.init_weights()
    return model


def test_extract_features_order_modes_and_values():
    model = _build_model()
    model.train()
    model.neck.eval()  # a mixed state that must come back unchanged
    modes = {name: m.training for name, m in model.named_modules()}

    # Shuffled sampler, a partial last batch and pseudo_collate (list of
    # images): rows must still come back in dataset order.
    loader = Runner.build_dataloader(_loader_cfg(3, seed=1, batch_size=4, shuffle=True), seed=0)
    feats, labels = extract_features(model, loader)

    assert {n: m.training for n, m in model.named_modules()} == modes
    dataset = loader.dataset
    assert feats.shape == (len(dataset), 512)
    assert feats.dtype == torch.float32 and labels.dtype == torch.long
    assert labels.tolist() == [i % 3 for i in range(len(dataset))]
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(len(dataset)))

    # Reference: the same images through the backbone one by one, in order.
    model.eval()
    with torch.no_grad():
        ref = []
        for i in range(len(dataset)):
            img = torch.from_numpy(dataset.get_data_info(i)['img'])
            x = img.permute(2, 0, 1)[None].float()
            x = (x - 127.5) / 127.5
            out = model.backbone(x)[-1].mean(dim=(2, 3))
            ref.append(F.normalize(out, dim=1))
    torch.testing.assert_close(feats, torch.cat(ref), rtol=1e-4, atol=1e-5)

    # default_collate batches give the same result.
    loader2 = Runner.build_dataloader(
        _loader_cfg(3, seed=1, batch_size=5, collate='default_collate'), seed=0
    )
    model.train()
    feats2, labels2 = extract_features(model, loader2)
    assert model.training and model.backbone.training
    torch.testing.assert_close(feats2, feats, rtol=1e-4, atol=1e-5)
    assert torch.equal(labels2, labels)


def test_extract_features_restores_modes_on_error():
    model = _build_model()
    model.train()

    def broken(model, inputs):
        assert not model.training
        raise RuntimeError('boom')

    loader = Runner.build_dataloader(_loader_cfg(1, 0, 3), seed=0)
    with pytest.raises(RuntimeError, match='boom'):
        extract_features(model, loader, feature_fn=broken)
    assert all(m.training for m in model.modules())


def test_merge_shards_dedup_and_check():
    # Two "ranks" with DefaultSampler-style padding (sample 0 twice).
    idx = torch.tensor([0, 2, 4, 1, 3, 0])
    feats = torch.arange(6, dtype=torch.float32)[:, None].repeat(1, 2)
    labels = torch.tensor([10, 12, 14, 11, 13, 10])
    out_feats, out_labels = _merge_shards(idx, feats, labels, 5)
    assert out_labels.tolist() == [10, 11, 12, 13, 14]
    assert out_feats[:, 0].tolist() == [0, 3, 1, 4, 2]
    with pytest.raises(RuntimeError, match='dataset has 6'):
        _merge_shards(idx, feats, labels, 6)
    with pytest.raises(RuntimeError, match='dataset has 5'):
        _merge_shards(idx[1:5], feats[1:5], labels[1:5], 5)


def test_hook_arguments():
    assert HOOKS.get('KNNEvalHook') is KNNEvalHook
    cfg = _loader_cfg(2, 0, 2)
    with pytest.raises(ValueError, match='interval'):
        KNNEvalHook(cfg, cfg, interval=0)
    with pytest.raises(ValueError, match='temperature'):
        KNNEvalHook(cfg, cfg, temperature=0.0)
    hook = KNNEvalHook(cfg, cfg, before_train=True)
    # The flag must not shadow the before_train() hook method.
    assert callable(hook.before_train) and hook.eval_before_train


@pytest.mark.slow
def test_hook_in_runner(tmp_path):
    train_pipeline = [
        dict(type='MultiView', num_views=2, transforms=[[dict(type='RandomFlip', prob=0.5)]]),
        dict(type='PackInputs'),
    ]
    train_loader = _loader_cfg(
        4, seed=0, batch_size=4, shuffle=True, collate='default_collate', pipeline=train_pipeline
    )
    hook_cfg = dict(
        type='KNNEvalHook',
        # memory bank: default_collate; queries: pseudo_collate and a
        # partial last batch.
        train_dataloader=_loader_cfg(4, seed=0, batch_size=5, collate='default_collate'),
        val_dataloader=_loader_cfg(2, seed=3, batch_size=4),
        interval=2,
        topk=(1, 5),
        temperature=0.1,
        before_train=True,
    )
    runner = Runner(
        model=MODEL_CFG,
        work_dir=str(tmp_path),
        experiment_name=f'knn_hook_{uuid.uuid4().hex[:8]}',
        train_dataloader=train_loader,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        train_cfg=dict(by_epoch=True, max_epochs=3),
        default_hooks=dict(checkpoint=None),
        custom_hooks=[hook_cfg],
        default_scope='mmpretrain',
        randomness=dict(seed=0),
        log_level='WARNING',
    )
    hook = next(h for h in runner.hooks if isinstance(h, KNNEvalHook))
    assert hook.last_results is None
    runner.train()

    results = hook.last_results
    assert set(results) == {'top1_k1', 'top5_k1', 'top1_k5', 'top5_k5'}
    for val in results.values():
        assert 0.0 <= val <= 100.0
    # 3 classes < 5: every query whose class got a vote counts for top5.
    assert results['top5_k5'] >= results['top1_k5']
    assert hook.num_classes == 3

    # Message hub
    for key, val in results.items():
        assert runner.message_hub.get_scalar(f'knn/{key}').current() == pytest.approx(val)

    # Visualizer (LocalVisBackend): before training (step 0), after epoch 2
    # (interval) and after the last epoch 3, not after epoch 1.
    files = glob.glob(osp.join(str(tmp_path), '**', 'vis_data', 'scalars.json'), recursive=True)
    assert len(files) == 1
    with open(files[0]) as f:
        records = [json.loads(line) for line in f if line.strip()]
    knn_records = [r for r in records if 'knn/top1_k1' in r]
    assert [r['step'] for r in knn_records] == [0, 2, 3]
    for r in knn_records:
        assert set(k for k in r if k.startswith('knn/')) == {
            'knn/top1_k1',
            'knn/top5_k1',
            'knn/top1_k5',
            'knn/top5_k5',
        }
    assert knn_records[-1]['knn/top1_k5'] == pytest.approx(results['top1_k5'])

    # The model is back in train mode after the last evaluation.
    assert runner.model.training and runner.model.backbone.training


def test_extraction_reports_progress(monkeypatch):
    """A line per batch once the interval has passed: images done of the total, rate and
    time left, under the pass's name; none while the interval has not passed."""
    import mmengine.logging

    import csml_mm.evaluation.features as features

    lines = []
    monkeypatch.setattr(
        mmengine.logging,
        'print_log',
        lambda msg, **kw: lines.append(msg) if msg.startswith('[kNN') else None,
    )
    model = _build_model()
    loader = Runner.build_dataloader(_loader_cfg(3, seed=1, batch_size=4), seed=0)
    n = len(loader.dataset)
    assert features.PROGRESS_EVERY == 10.0  # the default interval
    # no line while the interval has not passed (an infinite one, so a slow machine cannot
    # make it pass: no wall-clock assumption in the test)
    monkeypatch.setattr(features, 'PROGRESS_EVERY', float('inf'))
    extract_features(model, loader, desc='kNN: bank')
    assert lines == []
    monkeypatch.setattr(features, 'PROGRESS_EVERY', 0.0)
    extract_features(model, loader, desc='kNN: bank')
    batches = -(-n // 4)
    assert len(lines) == batches, lines
    done = [min(4 * (i + 1), n) for i in range(batches)]
    for line, d in zip(lines, done):
        assert re.fullmatch(rf'\[kNN: bank\] {d}/{n} images, \d+ images/s, \d+ s left', line), line
