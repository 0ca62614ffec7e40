"""tools/benchmarks/bench_contrastive_head.py: both loss forms run side by side and agree."""

import os
import re
import sys

import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def _import_bench():
    sys.path.insert(0, os.path.join(REPO, 'tools', 'benchmarks'))
    try:
        import bench_contrastive_head
    finally:
        sys.path.pop(0)
    return bench_contrastive_head


def test_head_benchmark_prints_both_forms_their_ratio_and_agreement(capsys):
    bench = _import_bench()
    bench.main(
        [
            '--only',
            'head',
            '--batch',
            '16',
            '--queue',
            '64',
            '--dim',
            '8',
            '--steps',
            '1',
            '--warmup',
            '0',
        ]
    )
    out = capsys.readouterr().out
    assert 'masked full matrix' in out and 'shared negatives' in out
    ratio = float(re.search(r'shared / full: ([0-9.]+)', out).group(1))
    assert ratio > 0
    loss_diff = float(re.search(r'\|loss diff\| ([0-9.e+-]+)', out).group(1))
    grad_diff = float(re.search(r'max \|grad diff\| ([0-9.e+-]+)', out).group(1))
    assert loss_diff < 1e-5 and grad_diff < 1e-5


def test_the_old_form_kept_for_comparison_is_the_masked_matrix():
    """The benchmark's 'before' term must equal loss() on [positives | queue] built by hand,
    with a zero-weight positive dropped rather than turned into a negative."""
    from csml_mm.models.heads import MultiPositiveContrastiveHead

    bench = _import_bench()
    g = torch.Generator().manual_seed(1)
    q, k1, k2 = (
        torch.nn.functional.normalize(torch.randn(6, 5, generator=g), dim=1) for _ in range(3)
    )
    queue = torch.nn.functional.normalize(torch.randn(5, 9, generator=g), dim=0)
    holder = type('Holder', (), {})()
    holder.head = MultiPositiveContrastiveHead(0.2, 'per_positive')
    got = bench.masked_full_matrix_term(holder, q, [k1, k2], [1.0, 0.0], queue)
    logits = torch.cat([(q * k1).sum(1, keepdim=True), q @ queue], dim=1) / 0.2
    expected = torch.nn.functional.cross_entropy(logits, torch.zeros(6, dtype=torch.long))
    assert torch.allclose(got, expected, atol=1e-6)
