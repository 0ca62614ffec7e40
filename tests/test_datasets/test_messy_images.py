"""Real folders: transparency composited (not dropped), palette / grey+alpha / 16-bit / grey
files converted, the decompression-bomb guard (header size, JPEG reduced decoding, skip or
raise naming the fix), tiny images through the folder pipelines, and a training run on a
folder of such files that skips the bomb and finishes."""

import io
import os.path as osp
import re
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

import csml_mm  # noqa: F401
from csml_mm.datasets.data_check import apply_corrupt_image_policy
from csml_mm.datasets.transforms import CheckedLoadImageFromFile
from csml_mm.utils.errors import CorruptImageError

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def _load(path, **kwargs):
    out = CheckedLoadImageFromFile(**kwargs)(dict(img_path=str(path)))
    return None if out is None else out['img']


def _reference_composite(rgba: np.ndarray, background_rgb) -> np.ndarray:
    """Plain per-pixel loop: alpha-weighted colour over the background, as BGR uint8."""
    h, w = rgba.shape[:2]
    out = np.zeros((h, w, 3), np.uint8)
    for y in range(h):
        for x in range(w):
            r, g, b, a = (float(v) for v in rgba[y, x])
            t = a / 255.0
            rgb = [c * t + bg * (1 - t) for c, bg in zip((r, g, b), background_rgb)]
            out[y, x] = [int(np.floor(v + 0.5)) for v in rgb[::-1]]
    return out


@pytest.fixture
def rgba_with_garbage():
    """Clip art: an opaque square, a half-transparent band and a transparent rest whose RGB
    is random garbage (what a plain decode shows)."""
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (12, 10, 4), dtype=np.uint8)
    rgba[..., 3] = 0
    rgba[3:8, 2:7] = [200, 30, 90, 255]
    rgba[9:11, :, 3] = 128
    return rgba


@pytest.mark.parametrize('background', [255, 0, (10, 200, 30)])
def test_rgba_is_composited_onto_the_background(tmp_path, rgba_with_garbage, background):
    path = tmp_path / 'clip.png'
    Image.fromarray(rgba_with_garbage, 'RGBA').save(path)
    bg = (background,) * 3 if isinstance(background, int) else background
    img = _load(path, alpha_background=background)
    assert img.shape == (12, 10, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img, _reference_composite(rgba_with_garbage, bg))
    # the transparent pixels are the background, not the garbage under them
    assert (img[0, 0] == np.array(bg[::-1])).all()


def test_grey_with_alpha_and_palette_transparency(tmp_path):
    grey = np.full((6, 6), 40, np.uint8)
    alpha = np.zeros((6, 6), np.uint8)
    alpha[:3] = 255
    Image.fromarray(np.stack([grey, alpha], -1), 'LA').save(tmp_path / 'la.png')
    img = _load(tmp_path / 'la.png')
    assert (img[:3] == 40).all() and (img[3:] == 255).all()

    index = np.zeros((6, 6), np.uint8)
    index[2:4, 2:4] = 1
    pal = Image.fromarray(index, 'P')
    pal.putpalette([0, 0, 0, 0, 180, 60] + [0] * 762)  # index 0 black, 1 green
    pal.save(tmp_path / 'pal.png', transparency=0)  # index 0 transparent
    img = _load(tmp_path / 'pal.png', alpha_background=(255, 0, 0))
    assert (img[2:4, 2:4] == [60, 180, 0]).all()  # BGR of the opaque green
    assert (img[0, 0] == [0, 0, 255]).all()  # transparent: the (red) background, not black


@pytest.mark.parametrize('mode', ['L', 'P', 'I;16', 'RGB', '1'])
def test_files_without_transparency_load_as_mmcv_loads_them(tmp_path, mode):
    from mmcv.transforms import LoadImageFromFile

    rng = np.random.default_rng(1)
    if mode == 'I;16':
        im = Image.fromarray(rng.integers(0, 65536, (9, 7), dtype=np.uint16))
    elif mode == 'P':
        im = Image.fromarray(rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)).convert(
            'P', palette=Image.ADAPTIVE
        )
    elif mode == '1':
        im = Image.fromarray(rng.integers(0, 2, (9, 7)).astype(bool))
    else:
        im = Image.fromarray(
            rng.integers(0, 256, (9, 7, 3) if mode == 'RGB' else (9, 7), dtype=np.uint8), mode
        )
    path = str(tmp_path / 'x.png')
    im.save(path)
    ours = _load(path)
    theirs = LoadImageFromFile()(dict(img_path=path))['img']
    assert ours.shape == (9, 7, 3)
    np.testing.assert_array_equal(ours, theirs)


def _png_header_only(path, width, height):
    """A PNG whose header claims ``width x height`` (a decompression bomb's header) with a
    tiny image stream: the guard must decide from the header, before any decode."""

    def chunk(kind, body):
        return (
            struct.pack('>I', len(body))
            + kind
            + body
            + struct.pack('>I', zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    with open(path, 'wb') as f:
        f.write(
            b'\x89PNG\r\n\x1a\n'
            + chunk(b'IHDR', ihdr)
            + chunk(b'IDAT', zlib.compress(b'\x00' * 64))
            + chunk(b'IEND', b'')
        )


def test_a_bomb_header_is_skipped_or_raises_naming_the_fix(tmp_path):
    bomb = str(tmp_path / 'bomb.png')
    _png_header_only(bomb, 30000, 30000)  # 900 Mpx: above Pillow's own hard limit too
    with pytest.raises(CorruptImageError) as err:
        _load(bomb)
    msg = str(err.value)
    assert msg.startswith(f'Oversized image {bomb}: ') and 'prepare_folder.py' in msg
    assert 'max_pixels' in msg
    log = str(tmp_path / 'skipped.txt')
    assert _load(bomb, on_oversized='skip', skip_log=log) is None
    assert open(log).read().startswith(f'{bomb}\t')
    # under the limit of the header reader but above max_pixels
    big = str(tmp_path / 'big.png')
    _png_header_only(big, 9000, 8000)
    with pytest.raises(CorruptImageError, match=r'9000 x 8000 = 72 Mpx, above max_pixels'):
        _load(big)
    # a corrupt file still follows on_corrupt, an oversized one on_oversized
    assert CheckedLoadImageFromFile(on_corrupt='skip').on_oversized == 'skip'
    assert CheckedLoadImageFromFile(on_oversized='skip').on_corrupt == 'raise'


def test_large_images_decode_within_max_pixels(tmp_path):
    yy, xx = np.mgrid[0:120, 0:160]
    arr = (
        np.stack([xx * 1.5, yy * 2.0, 128 + 100 * np.sin(xx / 9.0) * np.cos(yy / 7.0)], -1)
        .clip(0, 255)
        .astype(np.uint8)
    )  # smooth: what JPEG keeps
    jpg, png = str(tmp_path / 'x.jpg'), str(tmp_path / 'x.png')
    Image.fromarray(arr).save(jpg, quality=95)
    Image.fromarray(arr).save(png)
    # a JPEG is decoded at the largest reduced scale that fits: 19,200 px / 4 = 4,800 <= 5,000
    img = _load(jpg, max_pixels=5000)
    assert img.shape == (60, 80, 3)
    assert _load(jpg, max_pixels=1200).shape == (30, 40, 3)  # 1/4
    assert _load(jpg, max_pixels=19200).shape == (120, 160, 3)  # fits: full size
    # the reduced decode is the image, smaller: close to an area-downscale of the full decode
    import cv2

    full = _load(jpg, max_pixels=None)
    small = cv2.resize(full, (80, 60), interpolation=cv2.INTER_AREA)
    err = np.abs(small.astype(int) - img.astype(int)).mean()
    assert err < 3, err
    assert np.abs(small[::-1].astype(int) - img.astype(int)).mean() > 10 * err  # not any image
    with pytest.raises(CorruptImageError, match='above max_pixels=200'):
        _load(jpg, max_pixels=200)  # 19,200 / 64 = 300 > 200 even at 1/8
    with pytest.raises(CorruptImageError, match='above max_pixels=5,000'):
        _load(png, max_pixels=5000)  # no reduced decode for PNG
    with pytest.raises(ValueError, match='alpha_background'):
        CheckedLoadImageFromFile(alpha_background=(1, 2))
    with pytest.raises(ValueError, match='on_oversized'):
        CheckedLoadImageFromFile(on_oversized='ignore')


def _folder_pipeline_cfgs():
    return sorted(
        osp.relpath(p, ROOT)
        for d in ('mocov2', 'csml', 'wcl', 'aps')
        for p in __import__('glob').glob(osp.join(ROOT, 'configs', d, '*_folder.py'))
    )


def _pipelines(cfg):
    """(name, pipeline) of every image-file pipeline of the config."""
    found = []

    def walk(node, name):
        if isinstance(node, dict):
            if isinstance(node.get('pipeline'), list) and any(
                isinstance(t, dict) and 'LoadImage' in str(t.get('type')) for t in node['pipeline']
            ):
                found.append((name, node['pipeline']))
            for k, v in node.items():
                walk(v, f'{name}.{k}')
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(v, f'{name}[{i}]')

    for key in cfg.keys():
        walk(cfg[key], key)
    return found


@pytest.mark.parametrize('config', _folder_pipeline_cfgs())
def test_tiny_and_transparent_images_pass_every_folder_pipeline(config, tmp_path):
    from mmcv.transforms import Compose
    from mmengine.registry import init_default_scope

    init_default_scope('mmpretrain')
    tiny = str(tmp_path / 'tiny.png')  # 5 x 4: 20 pixels, with transparency
    Image.fromarray(
        np.random.default_rng(3).integers(0, 256, (4, 5, 4), dtype=np.uint8), 'RGBA'
    ).save(tiny)
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.work_dir = str(tmp_path)
    apply_corrupt_image_policy(cfg)
    pipes = _pipelines(cfg.to_dict())
    assert pipes, config
    for name, pipe in pipes:
        steps = [t for t in pipe if t['type'] != 'PackInputs']
        switch = [len(t['pipelines']) for t in steps if t['type'] == 'PipelineSwitch']
        for stage in range(max(switch, default=1)):  # every stage of a PipelineSwitch
            staged = [
                dict(t, initial_stage=stage) if t['type'] == 'PipelineSwitch' else t for t in steps
            ]
            out = Compose(staged)(dict(img_path=tiny, sample_idx=0, gt_label=0))
            assert out is not None, name
            imgs = out['img'] if isinstance(out['img'], list) else [out['img']]
            for img in imgs:
                assert img.ndim == 3 and img.shape[2] == 3 and min(img.shape[:2]) >= 16, (
                    name,
                    stage,
                    img.shape,
                )


def test_the_training_loader_skips_oversized_images_where_it_can(tmp_path):
    moco = Config.fromfile(
        osp.join(ROOT, 'configs/mocov2/mocov2_resnet50_8xb32-coslr-200e_folder.py')
    )
    moco.work_dir = str(tmp_path)
    log = apply_corrupt_image_policy(moco)  # corrupt_images='raise' (the default)
    text = repr(moco.train_dataloader.to_dict())
    assert "'on_corrupt': 'raise'" in text and "'on_oversized': 'skip'" in text
    assert log and moco.custom_hooks[-1] == dict(type='SkippedImagesHook', skip_log=log)
    csml = Config.fromfile(osp.join(ROOT, 'configs/csml/csml_resnet50_8xb32-coslr-200e_folder.py'))
    csml.work_dir = str(tmp_path)
    # CsMl's neighbour table is tied to indices: its training loader cannot swap an image
    assert apply_corrupt_image_policy(csml) is None and not csml.get('custom_hooks', [])[-1:] == [
        dict(type='SkippedImagesHook', skip_log=log)
    ]
    assert "'on_oversized': 'skip'" not in repr(csml.train_dataloader.to_dict())


def test_training_on_a_messy_folder_skips_the_bomb_and_finishes(
    tmp_path, repo_root, subprocess_env, tiny_moco_folder_config
):
    data = tmp_path / 'folder'
    data.mkdir()
    rng = np.random.default_rng(4)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 48, 4), dtype=np.uint8), 'RGBA').save(
            data / f'rgba{i}.png'
        )
        Image.fromarray(rng.integers(0, 256, (36, 30), dtype=np.uint8), 'L').save(
            data / f'grey{i}.png'
        )
    Image.fromarray(rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)).convert(
        'P', palette=Image.ADAPTIVE
    ).save(data / 'palette.png')
    Image.fromarray(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)).save(data / 'tiny.png')
    bomb = str(data / 'zz_bomb.png')
    _png_header_only(bomb, 30000, 30000)
    cfg = tiny_moco_folder_config(tmp_path / 'tiny.py', num_workers=1)
    work = tmp_path / 'work'
    env = dict(subprocess_env, CSML_DATA_ROOT=str(data))
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', str(cfg), '--work-dir', str(work)],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert f'skipped oversized image {bomb}' in out
    skipped = open(work / 'skipped_images.txt').read().splitlines()
    assert skipped and {ln.split('\t')[0] for ln in skipped} == {bomb}
    assert re.search(r'SkippedImagesHook: [1-9]\d* corrupt or oversized image', out)
    assert osp.isfile(work / 'epoch_1.pth')
    assert "Only use 'alpha' for pillow backend" not in out


def test_prepare_folder_writes_a_clean_resized_copy_and_resumes(
    tmp_path, repo_root, subprocess_env
):
    src = tmp_path / 'src'
    (src / 'cats').mkdir(parents=True)
    (src / 'dogs' / 'deep').mkdir(parents=True)
    rng = np.random.default_rng(5)
    rgba = rng.integers(0, 256, (300, 200, 4), dtype=np.uint8)
    rgba[..., 3] = 0
    rgba[100:200, 50:150] = [10, 20, 30, 255]
    Image.fromarray(rgba, 'RGBA').save(src / 'cats' / 'clip.png')
    Image.fromarray(rng.integers(0, 256, (4, 5), dtype=np.uint8), 'L').save(
        src / 'cats' / 'tiny.png'
    )
    Image.fromarray(rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)).save(
        src / 'dogs' / 'deep' / 'photo.jpg'
    )
    _png_header_only(str(src / 'dogs' / 'bomb.png'), 30000, 30000)
    full = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(full, format='PNG')
    (src / 'dogs' / 'half.png').write_bytes(full.getvalue()[:40])
    (src / 'notes.txt').write_text('not an image')
    dst = tmp_path / 'dst'

    def run(*extra):
        return subprocess.run(
            [
                sys.executable,
                'tools/dataset_converters/prepare_folder.py',
                str(src),
                str(dst),
                '--max-side',
                '100',
                '--workers',
                '2',
                *extra,
            ],
            cwd=repo_root,
            env=subprocess_env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    proc = run()
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = sorted(str(p.relative_to(dst)) for p in dst.rglob('*.png'))
    assert written == ['cats/clip.png', 'cats/tiny.png', 'dogs/deep/photo.png']
    clip = np.asarray(Image.open(dst / 'cats' / 'clip.png'))
    assert clip.shape == (100, 67, 3)  # longer side 300 -> 100, three channels
    assert (clip[5, 5] == 255).all()  # transparent garbage became the white background
    assert (np.abs(clip[50, 33].astype(int) - [10, 20, 30]) <= 1).all()  # the opaque square
    assert np.asarray(Image.open(dst / 'cats' / 'tiny.png')).shape == (4, 5, 3)  # kept small
    skipped = dict(
        ln.split('\t') for ln in (dst / 'prepare_folder_skipped.txt').read_text().splitlines()
    )
    assert set(skipped) == {str(src / 'dogs' / 'bomb.png'), str(src / 'dogs' / 'half.png')}
    assert 'max_pixels' in skipped[str(src / 'dogs' / 'bomb.png')]
    assert 'truncated PNG' in skipped[str(src / 'dogs' / 'half.png')]
    assert re.search(r'\[prepare_folder\] 5/5 images, [\d.]+/s', proc.stdout)
    assert 'wrote 3 images' in proc.stdout and 'skipped 2' in proc.stdout
    # a second run redoes nothing that is there
    before = {p: p.stat().st_mtime_ns for p in dst.rglob('*.png')}
    assert run().returncode == 0
    assert {p: p.stat().st_mtime_ns for p in dst.rglob('*.png')} == before
    # a copy inside the source is refused (it would be read back as images)
    bad = subprocess.run(
        [sys.executable, 'tools/dataset_converters/prepare_folder.py', str(src), str(src / 'copy')],
        cwd=repo_root,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0 and 'inside the source folder' in bad.stderr
