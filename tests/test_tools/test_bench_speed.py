"""tools/benchmarks/bench_speed.py: ``--quick`` rows in the JSON record and the report, runner /
plain ratios that are positive finite numbers, and ``--report-only`` rebuilding the same report.

No timing threshold: the machines running the tests are shared and noisy.
"""

import json
import math
import os
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
SCRIPT = os.path.join(REPO, 'tools', 'benchmarks', 'bench_speed.py')


def _run(env: dict, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, SCRIPT, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout


def test_quick_run_writes_rows_ratios_and_a_regenerable_report(tmp_path, subprocess_env):
    out = tmp_path / 'results'
    stdout = _run(
        subprocess_env,
        '--quick',
        '--methods',
        'mocov2',
        'csml',
        '--channels-last',
        'off',
        '--device',
        'cpu',
        '--out-dir',
        str(out),
        '--note',
        'test run',
    )
    records = sorted((out / 'speed_runs').glob('*.json'))
    assert len(records) == 1 and records[0].name.startswith('cpu-')
    record = json.loads(records[0].read_text())
    rows = record['rows']
    # 2 methods x 2 sizes x (fp32, mixed precision), channels-last off
    assert {(r['size'], r['method'], r['precision']) for r in rows} == {
        (s, m, p)
        for s in ('fmnist', 'imagenet')
        for m in ('mocov2', 'csml')
        for p in ('fp32', 'bf16')
    }
    for r in rows:
        for key in ('ratio', 'runner_s', 'plain_s', 'img_per_s_runner', 'img_per_s_plain'):
            assert isinstance(r[key], float) and math.isfinite(r[key]) and r[key] > 0, (key, r)
        assert all(math.isfinite(x) and x > 0 for x in r['ratio_rounds'])
        assert len(r['ratio_rounds']) == r['rounds'] == 2
        assert r['channels_last'] is False
    assert record['machine']['cores'] >= 1 and record['machine']['torch']
    assert record['runs'][-1]['note'] == 'test run'
    assert 'CsMl / MoCo v2' in stdout

    report = (out / 'speed.md').read_text()
    assert '### fmnist' in report and '### imagenet' in report
    assert record['machine']['cpu'] in report and 'NOTE: test run' in report
    for size in ('fmnist', 'imagenet'):
        section = report.split(f'### {size}')[1].split('###')[0]
        assert section.count('| MoCo v2 |') == 2 and section.count('| CsMl |') == 2
        assert 'CsMl step over MoCo v2 step' in section
        assert section.count('- CsMl, ') == 2  # fp32 and bf16
    # the ratios printed in the table are the record's
    assert f'{rows[0]["ratio"]:.3f}' in report

    # rebuilt from the JSON alone: the same text
    (out / 'speed.md').unlink()
    _run(subprocess_env, '--report-only', '--out-dir', str(out))
    assert (out / 'speed.md').read_text() == report
