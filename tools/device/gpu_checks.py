# Copyright (c) csml_mm contributors. All rights reserved.
"""Mixed precision, resume and a non-finite fault for every algorithm family, on the device.

The CPU suite proves these on a CPU (``tests/test_engine/test_mixed_precision.py``,
``tests/test_reliability``); this script repeats them where the GPU path differs (CUDA
autocast, a live ``GradScaler``, cuDNN kernels) in one short call of the device machine. For
each family (MoCo v2, CsMl, multi-level CsMl, WCL, APS) the tiny digits config of the test
suite (``tests/data/configs``: 64 images, batch 16, 4 iterations an epoch, 2 epochs) is
trained through ``tools/train.py --amp`` three ways:

- **whole**: 2 epochs in one go;
- **split**: 1 epoch, then ``--resume epoch_1.pth`` to the end of epoch 2. Verdict: the
  second process resumed at epoch 1, iteration 4 (mmengine's log line), ended at iteration 8
  with finite weights, and (fp16) saved a loss-scaler state. Reported beside it, not part of
  the verdict: whether the scaler state and the weights equal *whole*'s (exactly so on a CPU,
  which the test suite asserts; on a GPU cuDNN's non-deterministic kernels make the weights
  differ slightly, and ``randomness.deterministic=True`` would stop ResNet runs there, whose
  pooling backward has no deterministic CUDA kernel);
- **fault**: a NaN loss term injected in batch 2 of epoch 2 (the test suite's
  ``NonFiniteInjectionHook``): the run must stop with the guard's message naming iteration 6,
  and the only checkpoint on disk must be the finite ``epoch_1.pth``.

``--dtype float16`` (default) runs fp16 autocast with a dynamic loss scaler that starts at
1024 and grows every 2 steps, so its state changes during the run and resume has something
to restore; ``bfloat16`` and ``auto`` are the other choices. Writes one JSON record (``--out``)
and prints a table, both updated as each family finishes (a time limit keeps what is done).
Exit status 1 when a check fails.

Examples::

    python tools/device/gpu_checks.py --out /tmp/gpu_checks.json            # every family
    python tools/device/gpu_checks.py --families mocov2 wcl --jobs 1
"""

import argparse
import glob
import json
import math
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Dict, List

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
#: the test suite's fault-injection hook (imported by the fault run's config)
FAULT_HOOK_DIR = osp.join(ROOT, 'tests', 'test_reliability')

#: family -> its tiny digits config (the crash/resume suite's configs)
FAMILIES: Dict[str, str] = {
    'mocov2': 'tests/data/configs/mocov2_tiny_digits.py',
    'csml': 'tests/data/configs/csml_tiny_digits.py',
    'csml_multilevel': 'tests/data/configs/csml_multilevel_tiny_digits.py',
    'wcl': 'tests/data/configs/wcl_tiny_digits.py',
    'aps': 'tests/data/configs/aps_tiny_digits.py',
}
ITERS_PER_EPOCH = 4
#: 0-based runner.iter of the injected fault: batch 2 of epoch 2
FAULT_ITER = ITERS_PER_EPOCH + 1
RUN_TIMEOUT_S = 600
#: what mmengine logs once it has loaded a checkpoint to resume from (end of epoch 1)
RESUMED_LINE = f'resumed epoch: 1, iter: {ITERS_PER_EPOCH}'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--families', nargs='+', default=list(FAMILIES), choices=list(FAMILIES))
    p.add_argument(
        '--dtype',
        default='float16',
        choices=['float16', 'bfloat16', 'auto'],
        help='autocast dtype (float16: with a live loss scaler)',
    )
    p.add_argument(
        '--jobs',
        type=int,
        default=max(1, min(len(FAMILIES), (os.cpu_count() or 2) // 2)),
        help='families trained at the same time (default: half the cores, at most one a family)',
    )
    p.add_argument('--work-dir', default=None, help='default: a temporary folder, removed')
    p.add_argument('--out', default=None, help='the JSON record (default: print only)')
    return p.parse_args(argv)


def _env() -> dict:
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([ROOT, FAULT_HOOK_DIR, env.get('PYTHONPATH', '')])
    env.setdefault('OMP_NUM_THREADS', '1')
    env['PYTHONUNBUFFERED'] = '1'
    return env


def amp_options(dtype: str) -> List[str]:
    """``--cfg-options`` of every run: the autocast dtype and, for fp16, a scaler whose state
    moves within 8 steps (halved on an overflow, doubled after 2 good steps)."""
    opts = [f'optim_wrapper.dtype={dtype}']
    if dtype == 'float16':
        opts += [
            'optim_wrapper.loss_scale.init_scale=1024.0',
            'optim_wrapper.loss_scale.growth_interval=2',
        ]
    return opts


def fault_config(family: str, out: str) -> str:
    """The family's tiny config plus the injected NaN loss term at :data:`FAULT_ITER`."""
    from mmengine.config import Config

    cfg = Config.fromfile(osp.join(ROOT, FAMILIES[family]))
    cfg.custom_imports = dict(
        imports=['csml_mm', '_nonfinite_injection'], allow_failed_imports=False
    )
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
        dict(type='NonFiniteInjectionHook', iters=[FAULT_ITER], kind='loss')
    ]
    cfg.dump(out)
    return out


def train(config: str, work_dir: str, opts: List[str], *extra: str) -> dict:
    """One ``tools/train.py --amp`` run; its exit status, output and wall time."""
    cmd = [sys.executable, 'tools/train.py', config, '--amp', '--work-dir', work_dir, *extra]
    cmd += ['--cfg-options', *opts]
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    return dict(
        cmd=' '.join(cmd),
        rc=proc.returncode,
        out=proc.stdout,
        err=proc.stderr,
        seconds=round(time.perf_counter() - start, 1),
    )


def _load(path: str) -> dict:
    from csml_mm.utils import safe_torch_load

    return safe_torch_load(path)


def nonfinite_tensors(state: dict) -> List[str]:
    """Names of the floating tensors of a state dict that hold a NaN or an Inf."""
    return [k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all()]


def compare_resume(whole_ckpt: str, split_ckpt: str) -> dict:
    """The resumed run's final checkpoint against the uninterrupted run's (``scaler``: the
    resumed run's loss-scaler state, None when it saved none)."""
    whole, split = _load(whole_ckpt), _load(split_ckpt)
    ws, ss = whole['state_dict'], split['state_dict']
    diff = 0.0
    for key, value in ws.items():
        if key in ss and value.is_floating_point():
            diff = max(diff, float((ss[key].double() - value.double()).abs().max()))
    scaler_w = whole.get('optimizer', {}).get('loss_scaler')
    scaler_s = split.get('optimizer', {}).get('loss_scaler')
    return dict(
        same_keys=set(ws) == set(ss),
        iter_whole=whole['meta'].get('iter'),
        iter_split=split['meta'].get('iter'),
        scaler=scaler_s,
        scaler_equal=scaler_w == scaler_s,
        nonfinite=nonfinite_tensors(ss) + nonfinite_tensors(ws),
        max_abs_weight_diff=diff,
        exact=diff == 0.0,
    )


def check_fault(run: dict, work_dir: str) -> dict:
    """Did the fault run stop at the injected iteration, leaving only finite checkpoints?"""
    errors = [ln for ln in run['err'].splitlines() if ln.startswith('error: ')]
    message = errors[-1] if errors else ''
    want = f'Non-finite loss at epoch 2, iteration {FAULT_ITER + 1} '
    ckpts = sorted(osp.basename(p) for p in glob.glob(osp.join(work_dir, '*.pth')))
    finite = all(not nonfinite_tensors(_load(osp.join(work_dir, c))['state_dict']) for c in ckpts)
    return dict(
        stopped=run['rc'] != 0 and want in message,
        message=message[:400],
        checkpoints=ckpts,
        checkpoints_ok=finite and ckpts == ['epoch_1.pth'],
    )


def check_family(family: str, work: str, dtype: str) -> dict:
    """whole, split + resume and fault runs of one family; the verdict and its evidence."""
    opts = amp_options(dtype)
    cfg = osp.join(ROOT, FAMILIES[family])
    base = osp.join(work, family)
    os.makedirs(base, exist_ok=True)
    runs = {}
    runs['whole'] = train(cfg, osp.join(base, 'whole'), opts)
    runs['split_1'] = train(cfg, osp.join(base, 'split'), opts + ['train_cfg.max_epochs=1'])
    first = osp.join(base, 'split', 'epoch_1.pth')
    runs['split_2'] = train(cfg, osp.join(base, 'split'), opts, '--resume', first)
    fault_cfg = fault_config(family, osp.join(base, 'fault.py'))
    runs['fault'] = train(fault_cfg, osp.join(base, 'fault'), opts)
    result = dict(
        family=family,
        config=FAMILIES[family],
        dtype=dtype,
        seconds={k: r['seconds'] for k, r in runs.items()},
    )
    failed = [k for k in ('whole', 'split_1', 'split_2') if runs[k]['rc'] != 0]
    if failed:
        result['error'] = {k: (runs[k]['out'] + runs[k]['err'])[-2000:] for k in failed}
        result['passed'] = False
        return result
    resume = compare_resume(
        osp.join(base, 'whole', 'epoch_2.pth'), osp.join(base, 'split', 'epoch_2.pth')
    )
    resume['resumed'] = RESUMED_LINE in runs['split_2']['out'] + runs['split_2']['err']
    fault = check_fault(runs['fault'], osp.join(base, 'fault'))
    if not fault['stopped']:
        fault['output_tail'] = (runs['fault']['out'] + runs['fault']['err'])[-2000:]
    result.update(resume=resume, fault=fault)
    result['passed'] = resume_ok(resume, dtype) and fault['stopped'] and fault['checkpoints_ok']
    return result


def resume_ok(resume: dict, dtype: str) -> bool:
    """The verdict on a resume (see the module docstring): resumed where it stopped, ended
    where the whole run did, finite, and with an fp16 scaler state to carry on."""
    return bool(
        resume['resumed']
        and resume['same_keys']
        and resume['iter_whole'] == resume['iter_split'] == 2 * ITERS_PER_EPOCH
        and not resume['nonfinite']
        and math.isfinite(resume['max_abs_weight_diff'])
        and (dtype != 'float16' or resume['scaler'] is not None)
    )


def safe_check_family(family: str, work: str, dtype: str) -> dict:
    """:func:`check_family`, an unexpected error recorded as that family's failure."""
    try:
        return check_family(family, work, dtype)
    except Exception as e:  # noqa: BLE001  (a record for every family, whatever happened)
        return dict(family=family, dtype=dtype, passed=False, error=f'{type(e).__name__}: {e}')


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f'CPU ({os.cpu_count()} cores)'


def table(results: List[dict]) -> List[str]:
    lines = [
        '| family | dtype | resumed at iteration 4 | scaler as the whole run | '
        'max abs weight diff to the whole run | NaN fault stopped at iteration 6 | '
        'checkpoints | passed | seconds (4 runs) |',
        '|---|---|---|---|---|---|---|---|---|',
    ]
    yes = {True: 'yes', False: '**no**'}
    for r in results:
        if 'resume' not in r:
            lines.append(f'| {r["family"]} | {r["dtype"]} | run failed | | | | | **no** | |')
            continue
        res, fault = r['resume'], r['fault']
        lines.append(
            f'| {r["family"]} | {r["dtype"]} | {yes[res["resumed"]]} | '
            f'{yes[res["scaler_equal"]]} | {res["max_abs_weight_diff"]:.3g} | '
            f'{yes[fault["stopped"]]} | '
            f'{", ".join(fault["checkpoints"]) or "none"} | '
            f'{yes[r["passed"]]} | {sum(r["seconds"].values()):.0f} |'
        )
    return lines


def write_record(path: str, record: dict) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    part = path + '.part'
    with open(part, 'w') as f:
        json.dump(record, f, indent=1)
    os.replace(part, path)


def main(argv=None) -> int:
    args = parse_args(argv)
    record = dict(device=device_name(), dtype=args.dtype, results=[])
    print(f'Device: {record["device"]}; families: {" ".join(args.families)}', flush=True)
    with tempfile.TemporaryDirectory(prefix='csml_gpu_checks_') as tmp:
        work = args.work_dir or tmp
        os.makedirs(work, exist_ok=True)
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            jobs = [pool.submit(safe_check_family, f, work, args.dtype) for f in args.families]
            for job in as_completed(jobs):
                result = job.result()
                record['results'].append(result)
                # each family as it finishes: a time limit keeps the rows already done
                print('\n'.join(table([result])[2 if len(record['results']) > 1 else 0 :]))
                sys.stdout.flush()
                if args.out:
                    write_record(args.out, record)
    for result in record['results']:
        if not result['passed']:
            print(f'\n{result["family"]}: FAILED\n' + json.dumps(result, indent=1)[:4000])
    return 0 if all(r['passed'] for r in record['results']) else 1


if __name__ == '__main__':
    sys.exit(main())
