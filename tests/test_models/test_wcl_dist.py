"""WCL under 2 gloo CPU processes: the losses equal the single-process losses on the
same global batch, and gradients flow through the local rows only."""

import os
import os.path as osp
import socket
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

pytestmark = pytest.mark.slow  # every test here trains or spawns processes

HERE = osp.dirname(osp.abspath(__file__))
N, B_LOCAL = 2, 6  # processes, images per process


def _cfg(num_small_crops=0):
    neck = dict(
        type='NonLinearNeck',
        in_channels=32,
        hid_channels=16,
        out_channels=8,
        num_layers=3,
        with_bias=True,
        with_last_bias=True,
        with_last_bn=False,
        norm_cfg=dict(type='BN1d'),
    )
    return dict(
        type='WCL',
        num_small_crops=num_small_crops,
        knn_k=1,
        backbone=dict(
            type='ResNet',
            depth=18,
            base_channels=4,
            stem_channels=4,
            norm_cfg=dict(type='BN'),
            zero_init_residual=False,
        ),
        neck=neck,
    )


def _data():
    g = torch.Generator().manual_seed(0)
    x = [torch.randn(N * B_LOCAL, 3, 16, 16, generator=g) for _ in range(2)]
    x += [torch.randn(N * B_LOCAL, 3, 8, 8, generator=g) for _ in range(2)]
    z = [torch.randn(N * B_LOCAL, 5, generator=g, dtype=torch.float64) for _ in range(2)]
    return x, z


def _run_model(model, x, num_small):
    from mmpretrain.structures import DataSample

    model.eval()  # BN from running statistics: per-sample features on every rank
    views = x[: 2 + num_small]
    out = model.loss(views, [DataSample() for _ in range(views[0].shape[0])])
    return {k: v.item() for k, v in out.items()}


def _worker(rank, port, state_file, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=N)
    sys.path.insert(0, HERE)
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import csml_mm  # noqa: F401
    from csml_mm.models.heads import KNNWeakLabelHead

    init_default_scope('mmpretrain')
    states = torch.load(state_file, weights_only=True)
    x, z = _data()
    local = slice(rank * B_LOCAL, (rank + 1) * B_LOCAL)
    res = {}
    models = {}
    for s in (0, 2):
        model = models[s] = MODELS.build(_cfg(s))
        model.load_state_dict(states[s])
        res[f'model{s}'] = _run_model(model, [v[local] for v in x], s)
    # the instance term on fixed projections: loss and gradient w.r.t. the local rows
    y1 = z[0][local].clone().float().requires_grad_()
    y2 = z[1][local].clone().float().requires_grad_()
    u = torch.nn.functional.normalize(torch.cat([y1, y2]), dim=1)
    loss = models[0].instance_loss(u, torch.arange(B_LOCAL).repeat(2), B_LOCAL)
    g1, g2 = torch.autograd.grad(loss, (y1, y2))
    res['ins'] = dict(loss=loss.item(), g1=g1, g2=g2)
    # the graph head on fixed projections: loss and gradient w.r.t. the local rows
    z1 = z[0][local].clone().float().requires_grad_()
    z2 = z[1][local].clone().float().requires_grad_()
    loss = KNNWeakLabelHead(0.1).loss(z1, z2)
    g1, g2 = torch.autograd.grad(loss, (z1, z2))
    res['head'] = dict(loss=loss.item(), g1=g1, g2=g2)
    torch.save(res, osp.join(out_dir, f'rank{rank}.pth'))
    dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_processes_equal_one_process_on_the_global_batch(tmp_path):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import csml_mm  # noqa: F401
    from csml_mm.models.heads import KNNWeakLabelHead

    sys.path.insert(0, HERE)
    import wcl_reference as ref

    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    models = {s: MODELS.build(_cfg(s)) for s in (0, 2)}
    state_file = str(tmp_path / 'state.pth')
    torch.save({s: m.state_dict() for s, m in models.items()}, state_file)
    mp.spawn(_worker, args=(_free_port(), state_file, str(tmp_path)), nprocs=N, join=True)
    ranks = [torch.load(tmp_path / f'rank{r}.pth', weights_only=True) for r in range(N)]

    x, z = _data()
    for s, model in models.items():
        single = _run_model(model, x, s)
        for key in ('loss_ins', 'loss_graph'):
            # each process averages over its own anchors: the mean over processes is
            # the mean over the global batch
            mean = sum(r[f'model{s}'][key] for r in ranks) / N
            assert mean == pytest.approx(single[key], rel=1e-5), (s, key)
        assert ranks[0][f'model{s}']['graph_mean_size'] == pytest.approx(single['graph_mean_size'])

    one = KNNWeakLabelHead(0.1).loss(z[0].float(), z[1].float()).item()
    assert sum(r['head']['loss'] for r in ranks) / N == pytest.approx(one, rel=1e-5)
    # Gradients: each process differentiates its anchors' loss w.r.t. its own rows,
    # the other process's rows entering as constants (reference: detached rows).
    for rank, r in enumerate(ranks):
        rows = set(range(rank * B_LOCAL, (rank + 1) * B_LOCAL))
        z1 = z[0].clone().requires_grad_()
        z2 = z[1].clone().requires_grad_()
        expect, _ = ref.graph_loss(z1, z2, anchors=sorted(rows), grad_rows=rows)
        g1, g2 = torch.autograd.grad(expect, (z1, z2))
        local = slice(rank * B_LOCAL, (rank + 1) * B_LOCAL)
        assert r['head']['loss'] == pytest.approx(expect.item(), rel=1e-5)
        assert torch.allclose(r['head']['g1'].double(), g1[local], atol=1e-5)
        assert torch.allclose(r['head']['g2'].double(), g2[local], atol=1e-5)
        # A gradient-carrying gather would give each process the gradient of the
        # global loss (N x the mean over all anchors) w.r.t. its rows instead.
        full, _ = ref.graph_loss(z1, z2)
        gf = torch.autograd.grad(N * full, z1)[0]
        assert not torch.allclose(gf[local], g1[local], atol=1e-4)

    # Instance term (NT-Xent over the 2 * N * B_LOCAL views) on the same projections.
    nb = N * B_LOCAL
    one = ref.nt_xent(z[0], z[1]).item()
    assert sum(r['ins']['loss'] for r in ranks) / N == pytest.approx(one, rel=1e-5)
    for rank, r in enumerate(ranks):
        local = slice(rank * B_LOCAL, (rank + 1) * B_LOCAL)
        # this process's anchors in the reference's [view 1 | view 2] row order
        mine = list(range(nb))[local] + list(range(nb, 2 * nb))[local]
        z1 = z[0].clone().requires_grad_()
        z2 = z[1].clone().requires_grad_()
        expect = ref.nt_xent(z1, z2, anchors=mine, grad_rows=set(mine))
        g1, g2 = torch.autograd.grad(expect, (z1, z2))
        assert r['ins']['loss'] == pytest.approx(expect.item(), rel=1e-5)
        assert float(g1[local].abs().max()) > 1e-3  # not a vacuous comparison
        assert torch.allclose(r['ins']['g1'].double(), g1[local], atol=1e-5)
        assert torch.allclose(r['ins']['g2'].double(), g2[local], atol=1e-5)
        # A gradient-carrying gather: the gradient of the global loss, N x the mean
        # over all anchors, w.r.t. this process's rows.
        gf1, gf2 = torch.autograd.grad(N * ref.nt_xent(z1, z2), (z1, z2))
        assert not torch.allclose(gf1[local], g1[local], atol=1e-4)
        assert not torch.allclose(gf2[local], g2[local], atol=1e-4)
