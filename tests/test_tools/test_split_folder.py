"""tools/dataset_converters/split_folder.py: a labelled folder becomes the train/ + val/
layout of kNN and the linear probe, stratified, seeded, with byte-identical files never on
both sides of the split."""

import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope='module')
def tool(repo_root):
    spec = importlib.util.spec_from_file_location(
        '_split_folder', osp.join(repo_root, 'tools/dataset_converters/split_folder.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png(path: str, seed: int) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path)


@pytest.fixture
def labelled(tmp_path):
    """cats: 10 distinct images (3 in a sub-folder) + 2 byte copies of cat 0;
    dogs: 5 distinct; birds: 1 image; one file in both cats and dogs (no single label)."""
    src = tmp_path / 'src'
    for i in range(10):
        _png(str(src / 'cats' / ('deep/more' if i < 3 else '') / f'c{i}.png'), i)
    for name in ('copy1.png', 'copy2.png'):
        (src / 'cats' / name).write_bytes((src / 'cats' / 'deep/more/c0.png').read_bytes())
    for i in range(5):
        _png(str(src / 'dogs' / f'd{i}.png'), 100 + i)
    _png(str(src / 'birds' / 'b0.png'), 200)
    _png(str(src / 'cats' / 'shared.png'), 300)
    _png(str(src / 'dogs' / 'shared.png'), 300)
    (src / 'notes.txt').write_text('not a class')
    return src


def _listing(root):
    return {
        split: {c: sorted(os.listdir(root / split / c)) for c in sorted(os.listdir(root / split))}
        for split in ('train', 'val')
    }


def test_split_is_stratified_deduplicated_and_flat(tool, labelled, tmp_path):
    dst = tmp_path / 'dst'
    assert tool.main([str(labelled), str(dst), '--val-fraction', '0.2']) == 0
    got = _listing(dst)
    # birds (1 image) cannot fill both splits; cats keep 10 of their 13 files
    assert sorted(got['train']) == sorted(got['val']) == ['cats', 'dogs']
    assert {c: len(f) for c, f in got['val'].items()} == {'cats': 2, 'dogs': 1}
    assert {c: len(f) for c, f in got['train'].items()} == {'cats': 8, 'dogs': 4}
    every = [f for split in got.values() for files in split.values() for f in files]
    assert len(every) == len(set(every)) == 15  # no file on both sides
    assert not any('shared' in f for f in every)
    # of three identical files the first path in sorted order is kept
    assert 'copy1.png' in every and 'copy2.png' not in every
    assert 'deep__more__c0.png' not in every
    assert 'deep__more__c1.png' in every  # sub-folders are flattened into the name
    # links point at the source files
    some = dst / 'train' / 'dogs' / got['train']['dogs'][0]
    assert osp.islink(some) and osp.samefile(some, labelled / 'dogs' / some.name)
    manifest = json.loads((dst / 'split.json').read_text())
    assert manifest['duplicates_dropped'] == 2 and manifest['ambiguous_dropped'] == 2
    assert manifest['classes_left_out'] == {'birds': 1}
    assert manifest['train'] == 12 and manifest['val'] == 3


def test_same_seed_same_split_other_seed_other_split(tool, labelled, tmp_path):
    tool.main([str(labelled), str(tmp_path / 'a'), '--seed', '3'])
    tool.main([str(labelled), str(tmp_path / 'b'), '--seed', '3'])
    tool.main([str(labelled), str(tmp_path / 'c'), '--seed', '4', '--link', 'copy'])
    assert _listing(tmp_path / 'a') == _listing(tmp_path / 'b')
    assert _listing(tmp_path / 'a') != _listing(tmp_path / 'c')
    copied = tmp_path / 'c' / 'val' / 'cats'
    assert not any(osp.islink(copied / f) for f in os.listdir(copied))


def test_class_cap_and_selection(tool, labelled, tmp_path):
    dst = tmp_path / 'dst'
    tool.main(
        [
            str(labelled),
            str(dst),
            '--max-per-class',
            '5',
            '--classes',
            'cats',
            'dogs',
            '--val-fraction',
            '0.4',
        ]
    )
    got = _listing(dst)
    assert {c: len(got['train'][c]) + len(got['val'][c]) for c in ('cats', 'dogs')} == {
        'cats': 5,
        'dogs': 5,
    }
    assert {c: len(f) for c, f in got['val'].items()} == {'cats': 2, 'dogs': 2}


def test_files_a_folder_dataset_skips_are_split_and_counted(tool, tmp_path, capsys):
    """Every file the loader decodes is split; a note counts those a folder dataset does not
    list (.tiff, .webp, .gif), which prepare_folder.py converts."""
    src = tmp_path / 'src'
    for cls, seed in (('cats', 0), ('dogs', 10)):
        for i, ext in enumerate(['png', 'webp', 'GIF', 'jpg']):
            path = src / cls / f'{i}.{ext}'
            os.makedirs(path.parent, exist_ok=True)
            rng = np.random.default_rng(seed + i)
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
                path, format={'png': 'PNG', 'webp': 'WEBP', 'GIF': 'GIF', 'jpg': 'JPEG'}[ext]
            )
        (src / cls / '.hidden.png').write_bytes(b'')
    assert tool.main([str(src), str(tmp_path / 'dst'), '--val-fraction', '0.25']) == 0
    got = _listing(tmp_path / 'dst')
    every = sorted(f for split in got.values() for files in split.values() for f in files)
    assert every == sorted(['0.png', '1.webp', '2.GIF', '3.jpg'] * 2)
    out = capsys.readouterr().out
    assert 'note: 4 of the placed files end in .gif, .tiff, .webp' in out
    assert 'prepare_folder.py' in out


@pytest.mark.parametrize(
    'case, match',
    [
        ('inside', 'lies inside'),
        ('not-empty', 'not empty'),
        ('unknown-class', "does not have: \\['fish'\\]"),
        ('too-few', 'fewer than 2 classes'),
        ('empty', 'no class sub-folder'),
    ],
)
def test_clear_errors(tool, labelled, tmp_path, case, match):
    dst, extra, src = tmp_path / 'dst', [], labelled
    if case == 'inside':
        dst = labelled / 'split'
    elif case == 'not-empty':
        dst.mkdir()
        (dst / 'old.txt').write_text('x')
    elif case == 'unknown-class':
        extra = ['--classes', 'cats', 'fish']
    elif case == 'too-few':
        extra = ['--min-per-class', '9']
    else:
        src = tmp_path / 'empty'
        (src / 'cats').mkdir(parents=True)
    with pytest.raises(SystemExit, match=match):
        tool.main([str(src), str(dst)] + extra)
