"""CsMl mines with the network being trained: the key encoder is synchronised before the first
mining, and the table is re-mined at the first cross-sample epoch."""

import subprocess
import sys
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub, MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import DATASETS, HOOKS, MODELS

import csml_mm  # noqa: F401
from csml_mm.utils import safe_torch_load

init_default_scope('mmpretrain')

MODEL = dict(
    type='CsMl',
    queue_len=16,
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[100.0, 110.0, 120.0],
        std=[50.0, 60.0, 70.0],
        to_rgb=True,
    ),
    feat_dim=8,
    momentum=0.01,
    cross_warmup_epochs=1,
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=8,
        stem_channels=8,
        norm_cfg=dict(type='BN'),
        zero_init_residual=False,
    ),
    neck=dict(type='MultiLevelProjectionNeck', in_channels=[64], hid_channels=16, out_channels=8),
    head=dict(type='MultiPositiveContrastiveHead', temperature=0.2, mode='per_positive'),
)
LOADER = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='DigitsComposite', split='train', indices=32, pipeline=[dict(type='PackInputs')]
    ),
)


def _online_and_key(model):
    online = torch.nn.Sequential(model.backbone, model.neck)
    return online, model.encoder_k.module


def test_init_weights_copies_the_online_encoder_into_the_key_encoder():
    torch.manual_seed(0)
    model = MODELS.build(MODEL)
    model.init_weights()  # re-initialises the online weights after the construction-time copy
    online, key = _online_and_key(model)
    for (name, a), b in zip(online.state_dict().items(), key.state_dict().values()):
        assert torch.equal(a, b), name
    assert int(model.encoder_k.steps) == 0  # the EMA schedule is not advanced


def test_first_mining_uses_the_online_weights():
    torch.manual_seed(0)
    model = MODELS.build(MODEL)
    with torch.no_grad():  # as after a Pretrained init: online weights differ from the copy
        for p in model.backbone.parameters():
            p.add_(torch.randn_like(p))
    ds = DATASETS.build(
        dict(
            type='NeighbourViewsDataset',
            num_neighbours=3,
            dataset=dict(type='DigitsComposite', split='train', indices=32),
            pipeline=[
                dict(
                    type='MultiView', num_views=2, transforms=[[dict(type='RandomFlip', prob=0.5)]]
                )
            ],
        )
    )
    hook = HOOKS.build(dict(type='NeighbourMiningHook', interval=5, dataloader=LOADER))
    hook._loader = Runner.build_dataloader(LOADER)
    runner = SimpleNamespace(
        model=model,
        train_dataloader=SimpleNamespace(dataset=ds),
        message_hub=MessageHub.get_current_instance(),
        logger=MMLogger.get_current_instance(),
        epoch=0,
    )
    table = hook.mine(runner)
    # reference: the online backbone's pooled, normalised features, brute-force top-3
    model.eval()
    with torch.no_grad():
        x = torch.stack(
            [
                torch.from_numpy(ds.dataset[i]['img'][..., ::-1].copy()).permute(2, 0, 1)
                for i in range(32)
            ]
        ).float()
        x = (x - torch.tensor([100.0, 110.0, 120.0]).view(3, 1, 1)) / torch.tensor(
            [50.0, 60.0, 70.0]
        ).view(3, 1, 1)
        f = F.normalize(model.backbone(x)[-1].mean(dim=(2, 3)), dim=1)
    sim = f @ f.T
    sim.fill_diagonal_(-2)
    assert torch.equal(table, sim.topk(3, dim=1).indices)
    # once training has stepped the EMA, mining uses the key encoder as it is
    model.encoder_k.steps += 1
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.mul_(-1)
    assert torch.equal(hook.mine(runner), table)


def test_mining_due_at_interval_and_at_the_first_cross_sample_epoch():
    model = MODELS.build(MODEL)
    hook = HOOKS.build(dict(type='NeighbourMiningHook', interval=3, dataloader=LOADER))
    due = [hook.mining_due(SimpleNamespace(model=model, epoch=e)) for e in range(7)]
    assert due == [True, True, False, True, False, False, True]
    model.use_neighbour = False
    assert [hook.mining_due(SimpleNamespace(model=model, epoch=e)) for e in range(3)] == [
        True,
        False,
        False,
    ]
    hook.remine_at_cross_warmup = False
    model.use_neighbour = True
    assert not hook.mining_due(SimpleNamespace(model=model, epoch=1))


def test_training_remines_at_cross_warmup(repo_root, subprocess_env, tmp_path):
    cfg = 'tests/data/configs/csml_tiny_digits.py'  # mining interval 2
    proc = subprocess.run(
        [
            sys.executable,
            'tools/train.py',
            cfg,
            '--work-dir',
            str(tmp_path),
            '--cfg-options',
            'train_cfg.max_epochs=2',
            'model.cross_warmup_epochs=1',
        ],
        cwd=repo_root,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert out.count('NeighbourMiningHook: mined 5 neighbours for 64 images') == 2
    t1 = safe_torch_load(tmp_path / 'epoch_1.pth', map_location='cpu')['neighbour_table']
    t2 = safe_torch_load(tmp_path / 'epoch_2.pth', map_location='cpu')['neighbour_table']
    assert not torch.equal(t1, t2)  # epoch 1 (the first cross-sample epoch) used a new table
