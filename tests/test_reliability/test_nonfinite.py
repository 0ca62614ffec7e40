"""Numerical faults: a NaN/Inf loss or gradient never reaches the weights. In every
algorithm (MoCo v2, CsMl, HSA, WCL, APS) tools/train.py stops naming the iteration, the loss
terms and the last good checkpoint, and no checkpoint on disk holds a NaN; with
``default_hooks.check_loss.mode=skip`` the step is skipped and counted, and the final weights
equal those of a run in which that step simply did not happen."""

import glob
import math
import os
import os.path as osp
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

import csml_mm  # noqa: F401
from csml_mm.engine.hooks import NonFiniteLossHook
from csml_mm.engine.optim_guard import install_nonfinite_guard
from csml_mm.utils import safe_torch_load
from csml_mm.utils.errors import NonFiniteTrainingError

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
HERE = osp.dirname(osp.abspath(__file__))

#: name -> (config text without the fault, iterations per epoch)
_TINY = {
    'mocov2': (f"_base_ = ['{ROOT}/tests/data/configs/mocov2_tiny_digits.py']\n", 4),
    'csml': (f"_base_ = ['{ROOT}/tests/data/configs/csml_tiny_digits.py']\n", 4),
    'hsa': (
        f"""_base_ = ['{ROOT}/tests/data/configs/csml_tiny_digits.py']
# configs/hsa/hsa_resnet18-w16_1xb64-coslr-12e_digits.py at test size: losses at res3-res5
model = dict(backbone=dict(out_indices=(1, 2, 3)),
             neck=dict(in_channels=[32, 64, 128]), level_weights=(1.0, 1.0, 1.0))
""",
        4,
    ),
    'wcl': (f"_base_ = ['{ROOT}/tests/data/configs/wcl_tiny_digits.py']\n", 4),
    'aps': (
        f"""_base_ = ['{ROOT}/configs/aps/aps_vit-d4w64-p4_1xb64-coslr-12e_digits.py']
model = dict(
    backbone=dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)),
    neck=dict(in_channels=32, hid_channels=32, out_channels=16),
    predictor=dict(in_channels=16, hid_channels=32, out_channels=16))
train_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False,
                        dataset=dict(indices=32))
train_cfg = dict(max_epochs=2)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=3, by_epoch=True, begin=0, end=3)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=5))
custom_hooks = []
randomness = dict(seed=1, deterministic=False)
""",
        2,
    ),
}


def _config(tmp, name: str, kind: str, iters) -> str:
    """The tiny config of ``name`` plus the test-only fault ``kind`` at ``iters``."""
    text, _ = _TINY[name]
    text += (
        "custom_imports = dict(imports=['csml_mm', '_nonfinite_injection'], "
        'allow_failed_imports=False)\n'
        f"custom_hooks = list(_base_.custom_hooks) + [dict(type='NonFiniteInjectionHook', "
        f"iters={list(iters)}, kind='{kind}')]\n"
    )
    if name == 'aps':
        text = text.replace('custom_hooks = []\n', '')
        text = text.replace('list(_base_.custom_hooks)', '[]')
    path = osp.join(tmp, f'{name}_{kind}.py')
    with open(path, 'w') as f:
        f.write(text)
    return path


def _env() -> dict:
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([ROOT, HERE, env.get('PYTHONPATH', '')])
    env.setdefault('OMP_NUM_THREADS', '1')
    return env


def _train(cfg: str, work_dir: str, *extra: str):
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', cfg, '--work-dir', work_dir, *extra],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return proc.returncode, proc.stdout + proc.stderr, proc.stderr


def _finite_checkpoints(work_dir: str) -> list:
    """Names of the checkpoints in ``work_dir``; asserts every tensor in them is finite."""
    names = []
    for path in sorted(glob.glob(osp.join(work_dir, '*.pth'))):
        state = safe_torch_load(path)['state_dict']
        bad = [k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all()]
        assert not bad, f'{path} holds non-finite tensors: {bad[:5]}'
        names.append(osp.basename(path))
    return names


ALGOS = list(_TINY)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """All tools/train.py runs of this module, two at a time.

    raise/<algo>: a NaN loss term in the 2nd batch of epoch 2;
    raise/grad: an Inf gradient (finite loss) in WCL;
    skip/<algo>, ref/<algo>: MoCo v2 with a NaN loss, APS with an Inf gradient, in skip mode,
    and the reference runs in which that iteration makes no optimizer step at all.
    """
    tmp = str(tmp_path_factory.mktemp('nonfinite'))
    jobs = {}
    for name in ALGOS:
        bad = _TINY[name][1] + 1  # 0-based runner.iter: batch 2 of epoch 2
        jobs[('raise', name)] = (_config(tmp, name, 'loss', [bad]), [])
    jobs[('raise', 'grad')] = (_config(tmp, 'wcl', 'grad', [5]), [])
    for name, kind, bad in (('mocov2', 'loss', 5), ('aps', 'grad', 2)):
        jobs[('skip', name)] = (
            _config(tmp, name, kind, [bad]),
            ['--cfg-options', 'default_hooks.check_loss.mode=skip'],
        )
        jobs[('ref', name)] = (_config(tmp, name, 'noop', [bad]), [])

    def one(key):
        cfg, extra = jobs[key]
        work_dir = osp.join(tmp, '_'.join(key))
        rc, out, err = _train(cfg, work_dir, *extra)
        return dict(rc=rc, out=out, err=err, work_dir=work_dir)

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(one, key) for key in jobs}
        return {key: f.result() for key, f in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize('algo', ALGOS)
def test_nan_loss_stops_every_algorithm_naming_iteration_terms_checkpoint(runs, algo):
    run = runs[('raise', algo)]
    assert run['rc'] != 0, run['out'][-3000:]
    line = [ln for ln in run['err'].splitlines() if ln.startswith('error: ')]
    assert line, run['err'][-3000:]
    msg = line[-1]
    it = _TINY[algo][1] + 2  # 1-based
    assert f'Non-finite loss at epoch 2, iteration {it} ' in msg, msg
    terms = re.search(r'loss terms \{([^}]*)\}', msg)
    assert terms and '=nan' in terms.group(1), msg
    last = osp.join(run['work_dir'], 'epoch_1.pth')
    assert f'Last good checkpoint: {last}' in msg and f'--resume {last}' in msg, msg
    assert 'was not applied' in msg, msg
    assert 'Traceback' not in run['err'], run['err'][-3000:]
    # the message is in the log file too, and no checkpoint holds a NaN
    logs = glob.glob(osp.join(run['work_dir'], '*', '*.log'))
    assert logs and any(f'iteration {it}' in open(p).read() for p in logs)
    assert _finite_checkpoints(run['work_dir']) == ['epoch_1.pth']


@pytest.mark.slow
def test_inf_gradient_with_finite_loss_stops_too(runs):
    run = runs[('raise', 'grad')]
    assert run['rc'] != 0, run['out'][-3000:]
    msg = [ln for ln in run['err'].splitlines() if ln.startswith('error: ')][-1]
    assert 'Non-finite gradient at epoch 2, iteration 6' in msg, msg
    assert 'loss terms {' in msg and '=nan' not in msg, msg  # the loss itself was finite
    assert 'epoch_1.pth' in msg
    assert _finite_checkpoints(run['work_dir']) == ['epoch_1.pth']


@pytest.mark.slow
@pytest.mark.parametrize('algo, skipped', [('mocov2', 1), ('aps', 4)])
def test_skip_mode_skips_counts_and_equals_the_run_without_that_step(runs, algo, skipped):
    """APS makes one optimizer step per sampling round (4 per iteration): all 4 skipped."""
    run, ref = runs[('skip', algo)], runs[('ref', algo)]
    assert run['rc'] == 0, run['out'][-3000:]
    assert ref['rc'] == 0, ref['out'][-3000:]
    assert f'skipped {skipped} optimizer step(s)' in run['out'], run['out'][-3000:]
    assert f'Skipped steps so far: {skipped} (1 iteration(s) in a row)' in run['out']
    assert f'NonFiniteLossHook: {skipped} optimizer step(s) skipped' in run['out']
    assert _finite_checkpoints(run['work_dir']) == ['epoch_1.pth', 'epoch_2.pth']
    final = safe_torch_load(osp.join(run['work_dir'], 'epoch_2.pth'))
    expected = safe_torch_load(osp.join(ref['work_dir'], 'epoch_2.pth'))
    assert final['message_hub']['runtime_info']['nonfinite_skipped_steps'] == skipped
    assert set(final['state_dict']) == set(expected['state_dict'])
    for key, value in expected['state_dict'].items():
        assert torch.equal(final['state_dict'][key], value), key


# ------------------------------------------------------------------- in-process units
class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.bn = nn.BatchNorm1d(2)

    def forward(self, x):
        return self.bn(self.fc(x)).pow(2).mean()


def _runner(model, wrapper, mode='skip', work_dir=None, **kwargs):
    logs = []
    logger = SimpleNamespace(info=logs.append, warning=logs.append, error=logs.append)
    hub = SimpleNamespace(
        info={},
        get_info=lambda k, d=None: hub.info.get(k, d),
        update_info=lambda k, v: hub.info.__setitem__(k, v),
    )
    runner = SimpleNamespace(
        model=model,
        optim_wrapper=wrapper,
        logger=logger,
        epoch=0,
        iter=0,
        work_dir=work_dir,
        hooks=[],
        message_hub=hub,
        logs=logs,
    )
    hook = NonFiniteLossHook(mode=mode, **kwargs)
    hook.before_train(runner)
    return runner, hook


def _iteration(runner, hook, x, inject=None):
    """One training iteration: forward, guarded update, the hook's check."""
    handle = runner.model.fc.weight.register_hook(inject) if inject else None
    loss = runner.model(x)
    runner.optim_wrapper.update_params(loss)
    if handle:
        handle.remove()
    hook.after_train_iter(runner, runner.iter, outputs={'loss': loss.detach()})
    runner.iter += 1


def _inf(grad):
    return grad * float('inf')


def test_consecutive_skips_stop_the_run(tmp_path):
    torch.manual_seed(0)
    model = _Net()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'iter_1.pth')
    runner, hook = _runner(model, wrapper, work_dir=str(tmp_path), max_consecutive_skips=3)
    x = torch.randn(8, 4)
    _iteration(runner, hook, x)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _iteration(runner, hook, x, _inf)
    _iteration(runner, hook, x, _inf)
    assert hook.skipped_steps == 2 and hook.consecutive == 2
    assert runner.message_hub.info['nonfinite_skipped_steps'] == 2
    with pytest.raises(NonFiniteTrainingError, match='3 iterations in a row') as err:
        _iteration(runner, hook, x, _inf)
    assert 'Non-finite gradient at epoch 1, iteration 4' in str(err.value)
    assert str(tmp_path / 'iter_1.pth') in str(err.value)
    assert torch.equal(model.fc.weight, before['fc.weight'])  # never touched
    assert all(math.isfinite(float(v.float().sum())) for v in model.state_dict().values())


def test_a_nan_left_in_a_buffer_stops_even_in_skip_mode():
    model = _Net()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    runner, hook = _runner(model, wrapper)
    x = torch.randn(8, 4)
    x[0, 0] = float('nan')  # the forward pass puts NaN into BatchNorm's running mean
    with pytest.raises(NonFiniteTrainingError, match="buffer 'bn.running_mean'"):
        _iteration(runner, hook, x)


def test_nan_found_inside_the_forward_pass_names_iteration_and_checkpoint(tmp_path):
    """WCL raises FloatingPointError from its forward pass when its projections hold NaN;
    the guarded wrapper's optim_context (around every forward of BaseModel.train_step)
    adds the iteration and the last good checkpoint."""
    model = _Net()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'epoch_3.pth')
    runner, hook = _runner(model, wrapper, work_dir=str(tmp_path))
    runner.epoch, runner.iter = 3, 41
    with pytest.raises(NonFiniteTrainingError, match='WCL: the global projections') as err:
        with wrapper.optim_context(model):
            raise FloatingPointError('WCL: the global projections contain NaN or Inf.')
    assert 'at epoch 4, iteration 42' in str(err.value)
    assert f'Last good checkpoint: {tmp_path / "epoch_3.pth"}' in str(err.value)
    assert any('WCL: the global projections' in line for line in runner.logs)


def test_no_checkpoint_with_nan_is_written():
    hook = NonFiniteLossHook()
    runner = SimpleNamespace(epoch=1, iter=9, logger=None, work_dir=None, hooks=[])
    hook.before_save_checkpoint(runner, {'state_dict': {'w': torch.ones(2)}})
    with pytest.raises(NonFiniteTrainingError, match='Refusing to write a checkpoint.*w2'):
        hook.before_save_checkpoint(
            runner, {'state_dict': {'w': torch.ones(2), 'w2': torch.tensor([math.inf])}}
        )


def _amp_wrapper(monkeypatch, model, **kwargs):
    """mmengine's AmpOptimWrapper on a machine without CUDA (it asserts a GPU)."""
    from mmengine.optim.optimizer import amp_optimizer_wrapper

    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available', lambda: True)
    return amp_optimizer_wrapper.AmpOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **kwargs
    )


def test_amp_without_loss_scaler_checks_gradients(monkeypatch):
    """bf16 autocast on CPU: the CUDA GradScaler is disabled, nothing else checks the
    gradients, so the guard does: an Inf gradient is never applied."""
    torch.manual_seed(0)
    model = _Net()
    with pytest.warns(UserWarning):
        wrapper = _amp_wrapper(monkeypatch, model, dtype='bfloat16')
    assert not wrapper.loss_scaler.is_enabled()
    runner, hook = _runner(model, wrapper, mode='raise')
    x = torch.randn(8, 4)
    before = model.fc.weight.detach().clone()
    with wrapper.optim_context(model):
        loss = model(x)
    handle = model.fc.weight.register_hook(_inf)
    wrapper.update_params(loss)
    handle.remove()
    assert torch.equal(model.fc.weight, before)
    with pytest.raises(NonFiniteTrainingError, match='Non-finite gradient'):
        hook.after_train_iter(runner, 0, outputs={'loss': loss.detach()})
    with wrapper.optim_context(model):
        wrapper.update_params(model(x))  # a finite step still trains
    assert not torch.equal(model.fc.weight, before)


def test_amp_with_active_loss_scaler_leaves_inf_gradients_to_the_scaler(monkeypatch):
    """fp16 AMP on CUDA: the GradScaler skips a step with inf/NaN gradients and lowers the
    scale (normal while the scale settles). The guard counts these skips and stops after
    max_consecutive_skips of them in a row. CPU's GradScaler behaves as CUDA's here."""
    torch.manual_seed(0)
    model = _Net()
    with pytest.warns(UserWarning):
        wrapper = _amp_wrapper(monkeypatch, model)
    wrapper.loss_scaler = torch.amp.GradScaler('cpu', init_scale=2.0**8)
    runner, hook = _runner(model, wrapper, mode='raise', max_consecutive_skips=2)
    x = torch.randn(8, 4)
    before = model.fc.weight.detach().clone()
    _iteration(runner, hook, x, _inf)  # skipped by the scaler, not an error
    assert torch.equal(model.fc.weight, before)
    assert wrapper.loss_scaler.get_scale() == 2.0**7
    assert hook.scaler_skips == 1 and runner.message_hub.info['amp_scaler_skipped_steps'] == 1
    _iteration(runner, hook, x)  # a good step resets the streak
    assert not torch.equal(model.fc.weight, before)
    _iteration(runner, hook, x, _inf)
    with pytest.raises(NonFiniteTrainingError, match='loss scaler skipped the optimizer step'):
        _iteration(runner, hook, x, _inf)
    with pytest.raises(NonFiniteTrainingError, match='Non-finite loss'):  # loss: always ours
        _iteration(runner, hook, torch.full((8, 4), float('nan')))


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(nn.Linear(4, 2))
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    install_nonfinite_guard(wrapper)
    x = torch.randn(8, 4) + rank
    before = model.module.weight.detach().clone()
    loss = model(x).pow(2).mean()
    if rank == 1:
        loss = loss * float('nan')  # only rank 1 sees the NaN
    wrapper.update_params(loss)
    events = list(wrapper.guard_events)
    skipped = torch.equal(model.module.weight, before)
    wrapper.update_params(model(x).pow(2).mean())  # both ranks step again, in sync
    torch.save(
        dict(events=events, skipped=skipped, weight=model.module.weight.detach()),
        osp.join(out, f'rank{rank}.pth'),
    )
    dist.destroy_process_group()


def test_ddp_ranks_skip_together(tmp_path):
    """A NaN on one rank makes every rank skip the step (one all-reduce of the verdict), so
    the replicas stay equal and the next collective does not hang."""
    import socket

    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    torch.multiprocessing.start_processes(
        _ddp_worker, args=(2, port, str(tmp_path)), nprocs=2, start_method='fork'
    )
    r0, r1 = (torch.load(tmp_path / f'rank{r}.pth') for r in (0, 1))
    assert r0['events'] == ['loss on another process'] and r1['events'] == ['loss']
    assert r0['skipped'] and r1['skipped']
    assert torch.equal(r0['weight'], r1['weight'])


def test_every_config_has_the_hook(repo_root):
    """Every algorithm's config (all of configs/ but the mmdet detectors, which train with
    mmdet's runtime) gets the NonFiniteLossHook from configs/_base_/default_runtime.py."""
    from mmengine.config import Config

    paths = [
        p
        for p in glob.glob(osp.join(repo_root, 'configs', '**', '*.py'), recursive=True)
        if '_base_' not in p and 'mmdetection' not in p
    ]
    assert len(paths) > 50
    missing = [
        p
        for p in paths
        if Config.fromfile(p).get('default_hooks', {}).get('check_loss', {}).get('type')
        != 'NonFiniteLossHook'
    ]
    assert not missing, missing
