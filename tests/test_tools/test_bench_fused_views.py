"""tools/benchmarks/bench_fused_views.py: both forms run side by side and give the same loss."""

import os
import re
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def test_benchmark_prints_both_forms_their_ratio_and_agreement(capsys):
    sys.path.insert(0, os.path.join(REPO, 'tools', 'benchmarks'))
    try:
        import bench_fused_views
    finally:
        sys.path.pop(0)
    r = bench_fused_views.main(['--batch', '16', '--steps', '1', '--warmup', '0'])
    out = capsys.readouterr().out
    assert 'one pass per image set' in out and 'stacked sets' in out
    assert float(re.search(r'stacked / separate: ([0-9.]+)', out).group(1)) > 0
    diff = float(re.search(r'\|first-step loss diff\| ([0-9.e+-]+)', out).group(1))
    # the same first step: same weights, key shuffles and CutMix box in both forms
    assert diff < 1e-4 and r['stacked_loss'] > 0
