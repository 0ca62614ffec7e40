"""tools/visualization/vis_tsne.py on a few embedded digits."""

import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch

import csml_mm  # noqa: F401

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CFG = osp.join(
    ROOT,
    'configs/benchmarks/classification/digits/resnet18-w16_linear-1xb64-steplr-20e_digits-plain.py',
)
_spec = importlib.util.spec_from_file_location(
    '_vis_tsne', osp.join(ROOT, 'tools', 'visualization', 'vis_tsne.py')
)
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


@pytest.mark.slow
def test_png_from_checkpoint_and_random_init(tmp_path, capsys):
    from mmpretrain.models import ResNet

    backbone = ResNet(depth=18, base_channels=16, stem_channels=16)
    ckpt = tmp_path / 'bb.pth'
    torch.save({'state_dict': backbone.state_dict(), 'meta': {}}, ckpt)
    out = tmp_path / 'tsne.png'
    points, labels = tool.main(
        [
            CFG,
            '--checkpoint',
            str(ckpt),
            '--max-samples',
            '40',
            '--perplexity',
            '5',
            '--out',
            str(out),
        ]
    )
    assert 'matched 120/120 backbone keys' in capsys.readouterr().out
    assert points.shape == (40, 2) and np.isfinite(points).all()
    assert labels.shape == (40,) and len(set(labels.tolist())) > 1
    data = out.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 1000
    # Same seed and inputs: the same subset and the same map.
    points2, labels2 = tool.main(
        [
            CFG,
            '--checkpoint',
            str(ckpt),
            '--max-samples',
            '40',
            '--perplexity',
            '5',
            '--out',
            str(tmp_path / 'b.png'),
        ]
    )
    assert np.array_equal(labels, labels2) and np.allclose(points, points2)
    out_r = tmp_path / 'random.png'
    tool.main(
        [CFG, '--random-init', '--max-samples', '30', '--perplexity', '5', '--out', str(out_r)]
    )
    assert out_r.read_bytes()[:4] == b'\x89PNG'


def test_umap_without_package_is_explained(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, 'umap', None)  # import umap -> ImportError
    with pytest.raises(ImportError, match='umap-learn'):
        tool.embed(np.zeros((5, 3)), 'umap', 5.0, 0)
