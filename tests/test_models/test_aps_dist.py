"""APS under 2 gloo CPU processes against a plain InfoNCE formula on the global batch.

Each process holds the same weights and half of a global batch and computes the loss
of one sampling round. Checked:

* per process, the loss equals the formula with this process's predictions as
  queries, the targets of the whole global batch as keys and the positive of local
  row ``i`` at global column ``i + rank * N_local`` (rank label offset + gather);
* the mean over processes equals the single-process loss on the global batch;
* per process, the gradient w.r.t. its local images and the parameters equals the
  formula's gradient with *every* target detached (gathered targets, also this
  process's own, carry no gradient), and differs from the gradient obtained when
  the local targets keep their gradient (a gradient-keeping gather);
* the mean of the processes' parameter gradients (what DDP's all-reduce gives)
  equals the single-process gradient.

BatchNorm: the projector and predictor hold BN1d. In train mode each process would
normalise with the statistics of its own half batch (no SyncBN), so 1 and 2
processes could not agree. The comparison therefore runs in eval mode (BN from its
running statistics, i.e. per sample); APS.loss does not depend on the mode
otherwise (no dropout, drop-path 0, no EMA target here).
"""

import os
import os.path as osp
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

pytestmark = pytest.mark.slow  # every test here trains or spawns processes

N, B_LOCAL, ROUNDS, ROUND = 2, 4, 2, 1  # processes, images per process, rounds, round used
T = 0.1
ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def _model():
    import csml_mm  # noqa: F401
    from csml_mm.models.algorithms.aps import APS

    def mlp(cin):
        return dict(
            type='NonLinearNeck',
            in_channels=cin,
            hid_channels=16,
            out_channels=8,
            num_layers=3,
            with_bias=False,
            with_last_bn=True,
            with_last_bn_affine=False,
            with_avg_pool=False,
            norm_cfg=dict(type='BN1d'),
        )

    model = APS(
        backbone=dict(type='TokenSubsetViT', arch=ARCH, img_size=16, patch_size=4, qkv_bias=False),
        neck=mlp(32),
        predictor=mlp(8),
        head=dict(type='MultiPositiveContrastiveHead', temperature=T),
    )
    return model


def _batch():
    from mmpretrain.structures import DataSample

    rng = np.random.default_rng(0)
    b, n = N * B_LOCAL, 4
    inputs = [
        torch.from_numpy(rng.normal(size=(b, 3, 16, 16)).astype(np.float32)) for _ in range(2)
    ]
    samples = []
    for _ in range(b):
        ds = DataSample()
        ds.set_field(
            [
                rng.permutation(16)[: ROUNDS * n].reshape(ROUNDS, n),
                np.stack([rng.permutation(16)[:n] for _ in range(ROUNDS)]),
            ],
            'patch_ids',
        )
        samples.append(ds)
    return inputs, samples


def _grads(loss, inputs, model):
    names = [k for k, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    out = torch.autograd.grad(loss, list(inputs) + params, allow_unused=True)
    pg = {k: g for k, g in zip(names, out[len(inputs) :]) if g is not None}
    return list(out[: len(inputs)]), pg


def _worker(rank, port, state_file, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=N)
    model = _model()
    model.load_state_dict(torch.load(state_file, weights_only=True))
    model.eval()  # see the module docstring (BN statistics)
    inputs, samples = _batch()
    local = slice(rank * B_LOCAL, (rank + 1) * B_LOCAL)
    x = [v[local].clone().requires_grad_() for v in inputs]
    loss = model.loss(x, samples[local], round_idx=ROUND)['loss']
    gx, gp = _grads(loss, x, model)
    torch.save(dict(loss=loss.item(), gx=gx, gp=gp), osp.join(out_dir, f'rank{rank}.pth'))
    dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _formula(model, x, samples, rows, local_target_grad=False):
    """Symmetric InfoNCE written out, predictions of ``rows`` as queries.

    L = mean_{i in rows} [lse_k(n(p1_i).n(z2_k)/t) - n(p1_i).n(z2_i)/t] + (1 <-> 2),
    k over the whole batch, targets z detached (``local_target_grad``: the targets of
    ``rows`` keep their gradient, as a gradient-keeping gather would do).
    """
    ids = [
        torch.from_numpy(np.stack([s.patch_ids[v][ROUND] for s in samples])).long() for v in (0, 1)
    ]
    z = [model.neck(model.backbone(x[v], ids[v]))[0] for v in (0, 1)]
    p = [model.predictor((zv,))[0] for zv in z]
    rows = torch.as_tensor(rows)
    keep = torch.zeros(z[0].shape[0], 1, dtype=torch.bool)
    keep[rows] = local_target_grad
    total = 0
    for q, k in ((p[0], z[1]), (p[1], z[0])):
        qn = q[rows] / q[rows].norm(dim=1, keepdim=True)
        kn = k / k.norm(dim=1, keepdim=True)
        kn = torch.where(keep, kn, kn.detach())
        logits = qn @ kn.t() / T
        total = (
            total + (torch.logsumexp(logits, dim=1) - logits[torch.arange(len(rows)), rows]).mean()
        )
    return total


def _assert_grads_close(got, expect, msg):
    assert got.keys() == expect.keys(), msg
    for k, g in expect.items():
        scale = max(float(g.abs().max()), 1.0)
        torch.testing.assert_close(
            got[k], g, rtol=1e-4, atol=1e-5 * scale + 1e-7, msg=f'{msg}: {k}'
        )


def test_two_processes_equal_formula_and_one_process(tmp_path):
    from mmengine.registry import init_default_scope

    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = _model()
    model.init_weights()
    model.eval()
    state_file = str(tmp_path / 'state.pth')
    torch.save(model.state_dict(), state_file)
    mp.spawn(_worker, args=(_free_port(), state_file, str(tmp_path)), nprocs=N, join=True)
    ranks = [torch.load(tmp_path / f'rank{r}.pth', weights_only=True) for r in range(N)]

    inputs, samples = _batch()
    # single process on the global batch (what 2 processes with DDP should reproduce)
    xs = [v.clone().requires_grad_() for v in inputs]
    single = model.loss(xs, samples, round_idx=ROUND)['loss']
    _, single_gp = _grads(single, xs, model)
    assert sum(r['loss'] for r in ranks) / N == pytest.approx(single.item(), rel=1e-5)
    mean_gp = {k: sum(r['gp'][k] for r in ranks) / N for k in ranks[0]['gp']}
    _assert_grads_close(mean_gp, single_gp, 'DDP-averaged gradient vs one process')

    for rank, r in enumerate(ranks):
        rows = list(range(rank * B_LOCAL, (rank + 1) * B_LOCAL))
        x = [v.clone().requires_grad_() for v in inputs]
        expect = _formula(model, x, samples, rows)
        assert r['loss'] == pytest.approx(expect.item(), rel=1e-5), rank
        gx, gp = _grads(expect, x, model)
        for v in (0, 1):
            torch.testing.assert_close(r['gx'][v], gx[v][rows], rtol=1e-4, atol=1e-7)
            assert float(gx[v][rows].abs().max()) > 1e-4  # the check is not vacuous
        _assert_grads_close(r['gp'], gp, f'rank {rank} vs detached-target formula')
        # If the local targets kept their gradient, the gradient would differ.
        x = [v.clone().requires_grad_() for v in inputs]
        keep = _formula(model, x, samples, rows, local_target_grad=True)
        assert keep.item() == pytest.approx(expect.item(), rel=1e-6)
        kx, kp = _grads(keep, x, model)
        assert not torch.allclose(kx[0][rows], r['gx'][0], rtol=1e-3, atol=1e-6)
        name = 'backbone.patch_embed.projection.weight'
        assert not torch.allclose(kp[name], r['gp'][name], rtol=1e-3, atol=1e-6)
