"""Mixed precision for every algorithm (MixedPrecisionOptimWrapper, `tools/train.py --amp`):
bf16 training steps on a CPU, the heads in fp32, and an exact resume of an fp16 run with
its loss-scaler state."""

import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import csml_mm  # noqa: F401
from csml_mm.engine.optimizers import MixedPrecisionOptimWrapper, resolve_amp_dtype
from csml_mm.utils import safe_torch_load

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'test_reliability'))
from reliability_helpers import ALGORITHMS, child_env  # noqa: E402


def test_dtype_choice_and_scaler():
    assert resolve_amp_dtype('auto', 'cpu') == torch.bfloat16
    assert resolve_amp_dtype('float16', 'cpu') == torch.float16
    with pytest.raises(ValueError, match="'auto', 'bfloat16' or 'float16'"):
        resolve_amp_dtype('float8', 'cpu')
    lin = torch.nn.Linear(4, 2)
    bf16 = MixedPrecisionOptimWrapper(optimizer=torch.optim.SGD(lin.parameters(), lr=0.1))
    assert bf16.cast_dtype == torch.bfloat16 and not bf16.loss_scaler.is_enabled()
    fp16 = MixedPrecisionOptimWrapper(
        optimizer=torch.optim.SGD(lin.parameters(), lr=0.1), dtype='float16'
    )
    assert fp16.loss_scaler.is_enabled()  # fp16 gradients underflow without scaling
    with fp16.optim_context(lin):
        assert lin(torch.ones(1, 4)).dtype == torch.float16


@pytest.mark.slow
@pytest.mark.parametrize('algorithm', sorted(ALGORITHMS))
def test_bf16_steps_of_every_algorithm(algorithm, repo_root, tmp_path):
    """Two bf16 iterations through the Runner: the backbone's layers compute in bf16, the losses
    are fp32, finite and within 15% of the fp32 run's first loss (same weights and batch)."""
    cfg = Config.fromfile(osp.join(repo_root, 'tests', 'data', 'configs', ALGORITHMS[algorithm]))
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='SafeCheckpointHook', interval=100)
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', []) if h['type'] != 'KNNEvalHook']
    first = {}
    for precision in ('fp32', 'bf16'):
        run = cfg.copy()
        run.work_dir = str(tmp_path / precision)
        run.experiment_name = f'amp_{algorithm}_{precision}'
        if precision == 'bf16':
            run.optim_wrapper = dict(run.optim_wrapper, type='MixedPrecisionOptimWrapper')
        runner = Runner.from_cfg(run)
        seen, losses = [], []
        # the backbone's first convolution or linear layer (a LayerNorm or BatchNorm output is
        # fp32 under autocast)
        layer = next(
            m
            for m in runner.model.backbone.modules()
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
        )
        layer.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
        step = runner.model.train_step

        def recording(*args, **kwargs):
            out = step(*args, **kwargs)
            losses.append(out['loss'].detach())
            return out

        runner.model.train_step = recording
        runner.train()
        assert len(losses) == 2 and all(torch.isfinite(x) for x in losses)
        assert all(x.dtype == torch.float32 for x in losses)
        expected = torch.bfloat16 if precision == 'bf16' else torch.float32
        assert seen and all(d == expected for d in seen), (precision, set(seen))
        first[precision] = float(losses[0])
    # bf16 keeps 8 bits of mantissa, and some steps are discrete in the features (WCL's 1-NN
    # graph, CsMl's mined neighbours) or chain optimizer steps (APS's rounds): close, not equal
    assert first['bf16'] == pytest.approx(first['fp32'], rel=0.15)


@pytest.mark.slow
def test_fp16_resume_restores_the_loss_scaler_exactly(repo_root, tmp_path):
    """`--amp` with fp16 on a CPU (a real, enabled GradScaler whose scale grows every 2 steps):
    1 epoch + --resume gives the same weights and scaler state as 2 epochs in one go."""
    cfg = osp.join(repo_root, 'tests', 'data', 'configs', ALGORITHMS['mocov2'])
    opts = [
        '--cfg-options',
        'optim_wrapper.dtype=float16',
        'optim_wrapper.loss_scale.growth_interval=2',
        'optim_wrapper.loss_scale.init_scale=1024.0',
        'train_cfg.max_epochs=2',
        'default_hooks.checkpoint.interval=1',
    ]

    def train(work, *extra):
        proc = subprocess.run(
            [
                sys.executable,
                'tools/train.py',
                cfg,
                '--amp',
                '--work-dir',
                str(work),
                *opts,
                *extra,
            ],
            cwd=repo_root,
            env=child_env(repo_root),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]

    train(tmp_path / 'whole')
    train(tmp_path / 'split', 'train_cfg.max_epochs=1')
    train(tmp_path / 'split', '--resume', str(tmp_path / 'split' / 'epoch_1.pth'))
    whole = safe_torch_load(str(tmp_path / 'whole' / 'epoch_2.pth'))
    split = safe_torch_load(str(tmp_path / 'split' / 'epoch_2.pth'))
    scaler = whole['optimizer']['loss_scaler']
    assert scaler['scale'] != 1024.0  # it moved (halved on overflows, grew): a state to restore
    assert split['optimizer']['loss_scaler'] == scaler
    for key, value in whole['state_dict'].items():
        torch.testing.assert_close(split['state_dict'][key], value, rtol=0, atol=0, msg=key)
