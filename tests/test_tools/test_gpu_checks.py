"""The verdicts of tools/device/gpu_checks.py (the device machine's AMP / resume / NaN-fault
check) on made-up checkpoints and run results: a failure of any kind must read as one."""

import importlib.util
import os.path as osp

import pytest
import torch

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


@pytest.fixture(scope='module')
def gpu_checks():
    spec = importlib.util.spec_from_file_location(
        '_gpu_checks', osp.join(ROOT, 'tools', 'device', 'gpu_checks.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ckpt(path, weight, scale=8.0, it=8):
    torch.save(
        {
            'meta': {'epoch': 2, 'iter': it},
            'state_dict': {'w': weight, 'n': torch.tensor(3)},
            'optimizer': {'loss_scaler': {'scale': scale, '_growth_tracker': 1}},
        },
        str(path),
    )
    return str(path)


def test_resume_comparison(gpu_checks, tmp_path):
    w = torch.linspace(-1, 1, 6)
    whole = _ckpt(tmp_path / 'whole.pth', w)
    same = gpu_checks.compare_resume(whole, _ckpt(tmp_path / 'same.pth', w.clone()))
    assert same['exact'] and same['scaler_equal'] and same['max_abs_weight_diff'] == 0.0
    off = w.clone()
    off[2] += 0.25
    moved = gpu_checks.compare_resume(whole, _ckpt(tmp_path / 'off.pth', off, scale=16.0))
    assert not moved['exact'] and not moved['scaler_equal']
    assert moved['max_abs_weight_diff'] == pytest.approx(0.25)
    nan = w.clone()
    nan[0] = float('nan')
    bad = gpu_checks.compare_resume(whole, _ckpt(tmp_path / 'nan.pth', nan, it=4))
    assert bad['nonfinite'] == ['w'] and bad['iter_split'] == 4


def test_fault_verdict(gpu_checks, tmp_path):
    good_msg = (
        'error: Non-finite loss at epoch 2, iteration 6 (batch 2 of the epoch): loss terms '
        '{loss=nan}.'
    )
    _ckpt(tmp_path / 'epoch_1.pth', torch.ones(3))
    ok = gpu_checks.check_fault(dict(rc=1, err='noise\n' + good_msg + '\n'), str(tmp_path))
    assert ok['stopped'] and ok['checkpoints_ok']
    # the run went on (the guard missed it), or stopped elsewhere, or for another reason
    assert not gpu_checks.check_fault(dict(rc=0, err=good_msg), str(tmp_path))['stopped']
    other = good_msg.replace('iteration 6', 'iteration 7')
    assert not gpu_checks.check_fault(dict(rc=1, err=other), str(tmp_path))['stopped']
    assert not gpu_checks.check_fault(dict(rc=1, err='Traceback ...'), str(tmp_path))['stopped']
    # a checkpoint written after the fault, or one holding a NaN, fails the check
    _ckpt(tmp_path / 'epoch_2.pth', torch.ones(3))
    assert not gpu_checks.check_fault(dict(rc=1, err=good_msg), str(tmp_path))['checkpoints_ok']
    (tmp_path / 'epoch_2.pth').unlink()
    _ckpt(tmp_path / 'epoch_1.pth', torch.tensor([1.0, float('inf')]))
    assert not gpu_checks.check_fault(dict(rc=1, err=good_msg), str(tmp_path))['checkpoints_ok']


def test_amp_options_give_fp16_a_moving_scaler(gpu_checks):
    assert gpu_checks.amp_options('bfloat16') == ['optim_wrapper.dtype=bfloat16']
    fp16 = gpu_checks.amp_options('float16')
    assert 'optim_wrapper.dtype=float16' in fp16
    assert 'optim_wrapper.loss_scale.growth_interval=2' in fp16
    assert 'optim_wrapper.loss_scale.init_scale=1024.0' in fp16


def test_fault_config_adds_the_injection_to_the_familys_hooks(gpu_checks, tmp_path):
    from mmengine.config import Config

    for family in ('wcl', 'aps'):
        path = gpu_checks.fault_config(family, str(tmp_path / f'{family}.py'))
        cfg = Config.fromfile(path, import_custom_modules=False)
        own = Config.fromfile(osp.join(ROOT, gpu_checks.FAMILIES[family])).get('custom_hooks')
        assert cfg.custom_hooks[: len(own or [])] == list(own or [])
        assert cfg.custom_hooks[-1] == dict(
            type='NonFiniteInjectionHook', iters=[gpu_checks.FAULT_ITER], kind='loss'
        )
        assert '_nonfinite_injection' in cfg.custom_imports['imports']


def test_resume_verdict(gpu_checks):
    """Resumed at iteration 4, ended at 8, finite, and an fp16 scaler state: passed; the
    weight difference and scaler equality are reported, not judged (GPU kernels differ)."""
    good = dict(
        resumed=True,
        same_keys=True,
        iter_whole=8,
        iter_split=8,
        nonfinite=[],
        max_abs_weight_diff=3e-4,
        scaler={'scale': 64.0},
        scaler_equal=False,
    )
    assert gpu_checks.resume_ok(good, 'float16')
    for change in (
        dict(resumed=False),  # trained from the start: the log has no resume line
        dict(iter_split=4),
        dict(nonfinite=['w']),
        dict(max_abs_weight_diff=float('nan')),
        dict(scaler=None),  # fp16 without a saved scaler
        dict(same_keys=False),
    ):
        assert not gpu_checks.resume_ok(dict(good, **change), 'float16'), change
    assert gpu_checks.resume_ok(dict(good, scaler=None), 'bfloat16')


def test_an_unexpected_error_is_that_familys_failure(gpu_checks, monkeypatch):
    def broken(family, work, dtype):
        raise FileNotFoundError('no such folder')

    monkeypatch.setattr(gpu_checks, 'check_family', broken)
    result = gpu_checks.safe_check_family('wcl', '/nowhere', 'float16')
    assert result['family'] == 'wcl' and result['passed'] is False
    assert 'FileNotFoundError: no such folder' in result['error']
    assert '| wcl | float16 | run failed |' in '\n'.join(gpu_checks.table([result]))
