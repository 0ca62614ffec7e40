"""NeighbourMiningHook needs only the model's mining interface (MiningModel): a stand-in model
that implements those methods and nothing of CsMl's insides is mined for, in one process and
under 2 gloo processes, and the hook asks it for no other attribute."""

import os
import socket
from types import SimpleNamespace
from typing import List, Optional

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MessageHub, MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import DATASETS, HOOKS, MODELS

import csml_mm  # noqa: F401
from csml_mm.engine.hooks.neighbour_mining_hook import MiningModel, mining_model
from csml_mm.evaluation import extract_features

init_default_scope('mmpretrain')

K = 3
LOADER = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='DigitsComposite', split='train', indices=33, pipeline=[dict(type='PackInputs')]
    ),
)  # 33: the sampler pads


class StandIn(nn.Module):
    """The mining interface and a data pre-processor, nothing else (no encoder_k, queue_len,
    cross_warmup_epochs, use_neighbour, sync_momentum_encoder)."""

    def __init__(self, ask_at: int = 1) -> None:
        super().__init__()
        self.data_preprocessor = MODELS.build(
            dict(
                type='SelfSupDataPreprocessor',
                mean=[100.0, 110.0, 120.0],
                std=[50.0, 60.0, 70.0],
                to_rgb=True,
            )
        )
        g = torch.Generator().manual_seed(0)
        self.proj = nn.Parameter(torch.randn(48, 16, generator=g), requires_grad=False)
        self.ask_at = ask_at
        self.prepared = 0
        self.asked: List[str] = []  # attributes the hook looked for and did not find

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name != 'asked':
                self.asked.append(name)
            raise

    # the interface
    def wants_mining(self, epoch: int) -> bool:
        return epoch == self.ask_at

    def prepare_mining(self) -> None:
        self.prepared += 1

    def mining_features(self, inputs: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(inputs, 4).flatten(1)  # [B, 3 * 16]
        return F.normalize(pooled @ self.proj, dim=1)

    def training_set_warning(self, num_images: int) -> Optional[str]:
        return f'stand-in warning for {num_images} images'


def _runner(model, epoch: int = 0):
    ds = DATASETS.build(
        dict(
            type='NeighbourViewsDataset',
            num_neighbours=K,
            dataset=dict(type='DigitsComposite', split='train', indices=33),
            pipeline=[
                dict(
                    type='MultiView', num_views=2, transforms=[[dict(type='RandomFlip', prob=0.5)]]
                )
            ],
        )
    )
    return SimpleNamespace(
        model=model,
        train_dataloader=SimpleNamespace(dataset=ds),
        message_hub=MessageHub.get_current_instance(),
        logger=MMLogger.get_current_instance(),
        epoch=epoch,
        seed=0,
        build_dataloader=lambda cfg, seed=None: Runner.build_dataloader(cfg, seed=seed),
    )


def _brute_force(model) -> torch.Tensor:
    feats, _ = extract_features(
        model,
        Runner.build_dataloader(LOADER),
        feature_fn=lambda m, x: m.mining_features(x),
        require_labels=False,
    )
    sim = feats @ feats.T
    sim.fill_diagonal_(-2)
    return sim.topk(K, dim=1).indices


def test_the_hook_mines_for_a_model_with_only_the_interface(caplog):
    model = StandIn(ask_at=4)
    assert all(
        callable(getattr(model, m)) for m in MiningModel.__dict__ if not m.startswith('_')
    )  # the stand-in implements the whole interface
    runner = _runner(model)
    hook = HOOKS.build(dict(type='NeighbourMiningHook', interval=3, dataloader=LOADER))
    hook.before_train(runner)
    mined = []
    for epoch in range(7):
        runner.epoch = epoch
        before = model.prepared
        hook.before_train_epoch(runner)
        if model.prepared > before:
            mined.append(epoch)
    # every 3 epochs, and at the epoch the model asks for
    assert mined == [0, 3, 4, 6]
    table = runner.train_dataloader.dataset.neighbours
    assert torch.equal(table, _brute_force(model))
    assert 'purity' in hook.last_stats
    assert model.asked == []  # the hook looked for nothing outside the interface
    hook.remine_at_cross_warmup = False
    assert not hook.mining_due(SimpleNamespace(model=model, epoch=4))


def test_the_hook_logs_the_models_training_set_warning():
    model = StandIn()
    runner = _runner(model)
    warnings = []
    runner.logger = SimpleNamespace(warning=warnings.append, info=lambda msg: None)
    HOOKS.build(dict(type='NeighbourMiningHook', dataloader=LOADER)).before_train(runner)
    assert warnings == ['stand-in warning for 33 images']


def test_a_model_without_the_interface_is_named():
    class Plain(nn.Module):
        def wants_mining(self, epoch: int) -> bool:
            return False

    hook = HOOKS.build(dict(type='NeighbourMiningHook', dataloader=LOADER))
    with pytest.raises(TypeError, match=r"Plain lacks \['prepare_mining'"):
        hook.before_train(_runner(Plain()))
    with pytest.raises(TypeError, match='MiningModel'):
        mining_model(SimpleNamespace(model=Plain()))


def test_bad_settings_fail_at_construction():
    with pytest.raises(ValueError, match='memory budget'):
        HOOKS.build(dict(type='NeighbourMiningHook', dataloader=LOADER, memory_budget='4 GB!'))
    with pytest.raises(ValueError, match='backend'):
        HOOKS.build(dict(type='NeighbourMiningHook', dataloader=LOADER, backend='annoy'))
    hook = HOOKS.build(dict(type='NeighbourMiningHook', dataloader=LOADER, memory_budget='1MiB'))
    assert hook.memory_budget == 1024**2  # parsed once, here


def _worker(rank: int, port: int, out: str, budget) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    init_default_scope('mmpretrain')
    model = StandIn()
    runner = _runner(model)
    hook = HOOKS.build(
        dict(
            type='NeighbourMiningHook',
            interval=1,
            dataloader=LOADER,
            memory_budget=budget,
            chunk_size=5,
        )
    )
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    torch.save(
        dict(
            table=runner.train_dataloader.dataset.neighbours,
            asked=model.asked,
            prepared=model.prepared,
        ),
        f'{out}.{rank}',
    )
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_hook_with_the_interface_matches_one_process(tmp_path):
    out = str(tmp_path / 'r')
    # 3000 bytes: sharded search blocks of a few rows
    mp.spawn(_worker, args=(_free_port(), out, 3000), nprocs=2, join=True)
    parts = [torch.load(f'{out}.{r}', weights_only=True) for r in range(2)]
    expected = _brute_force(StandIn())
    for part in parts:  # every rank holds the whole table, the one-process one
        assert torch.equal(part['table'], expected)
        assert part['asked'] == [] and part['prepared'] == 1
