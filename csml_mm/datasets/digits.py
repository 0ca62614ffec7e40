# Copyright (c) csml_mm contributors. All rights reserved.
"""Embedded, download-free default datasets built from scikit-learn digits.

Two datasets are provided:

- :class:`Digits`: the 1,797 8x8 handwritten digits shipped with
  scikit-learn, upsampled to 32x32 RGB.
- :class:`DigitsComposite`: every source digit rendered several times as a
  coloured stroke, at random scale and position, over a random patch of one
  of the natural photographs bundled with scikit-image. This is the
  project's default dataset: it is small enough for CPU tests, but raw pixels
  are a poor representation of it, so a learned encoder has something to do.

Both datasets hold their images in memory as ``HxWx3`` ``uint8`` arrays in
BGR channel order (the order ``LoadImageFromFile`` of mmcv produces), so a
pipeline for them must *not* start with ``LoadImageFromFile``.

Pixel values are computed with exact integer sums and element-wise
``float64`` numpy operations (correctly rounded under IEEE 754; no BLAS, no
transcendental functions), the backgrounds are lossless PNGs, and all
randomness comes from :func:`numpy.random.default_rng`, so the generated
arrays are bit-identical across runs and machines.
"""

import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

#: Side length of every rendered image.
IMG_SIZE = 32

#: Number of source digits in ``sklearn.datasets.load_digits``.
NUM_SOURCES = 1797

_VALID_SPLITS = ('train', 'val', 'all')

#: Side of a composite digit, as a fraction of the image side.
MIN_DIGIT_SCALE = 0.45
MAX_DIGIT_SCALE = 0.90
#: Minimum luma difference (0..255) between the digit colour and the mean of
#: the background it covers; keeps every digit readable to a human.
MIN_LUMA_CONTRAST = 96.0
#: Largest background crop, in multiples of the 32 px output side.
MAX_BG_ZOOM = 6

#: Photographs bundled with scikit-image that are used as backgrounds, given
#: as ``(loader name, file name in the package data directory)``. Only PNG
#: files that ship inside the scikit-image wheel are listed: nothing is
#: downloaded, and PNG decoding is lossless, hence identical on every machine
#: (JPEG decoders may differ in the last bit).
BACKGROUND_IMAGES: Tuple[Tuple[str, str], ...] = (
    ('astronaut', 'astronaut.png'),
    ('coffee', 'coffee.png'),
    ('chelsea', 'chelsea.png'),
    ('camera', 'camera.png'),
    ('coins', 'coins.png'),
    ('immunohistochemistry', 'ihc.png'),
    ('brick', 'brick.png'),
    ('grass', 'grass.png'),
    ('gravel', 'gravel.png'),
    ('moon', 'moon.png'),
    ('page', 'page.png'),
    ('text', 'text.png'),
)

# Module-level caches. Keys are the arguments that determine the content, so
# building the train and val datasets (or forked dataloader workers) reuses
# the arrays instead of regenerating them. Cached arrays are read-only.
_CACHE: Dict[tuple, object] = {}


def _check_split(split: str) -> None:
    if split not in _VALID_SPLITS:
        raise ValueError(
            f'Invalid split {split!r}; valid values are '
            f'{", ".join(repr(s) for s in _VALID_SPLITS)}.'
        )


def _read_only(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def load_source_digits() -> Tuple[np.ndarray, np.ndarray]:
    """Load the scikit-learn handwritten digits (no download).

    Returns:
        Tuple[np.ndarray, np.ndarray]: ``images`` of shape ``(1797, 8, 8)``
        and dtype ``uint8`` with values in ``0..16``, and ``labels`` of shape
        ``(1797, )`` and dtype ``int64``.
    """
    key = ('source_digits',)
    if key not in _CACHE:
        try:
            from sklearn.datasets import load_digits
        except ImportError as e:  # pragma: no cover - depends on the env
            raise ImportError(
                'The embedded digits datasets need scikit-learn, which ships '
                'the 8x8 digits: `pip install scikit-learn`.'
            ) from e
        bunch = load_digits()
        images = np.rint(bunch.images).astype(np.uint8)
        labels = np.asarray(bunch.target, dtype=np.int64)
        assert images.shape == (NUM_SOURCES, 8, 8), images.shape
        _CACHE[key] = (_read_only(images), _read_only(labels))
    return _CACHE[key]


def split_sources(
    labels: np.ndarray, split: str, split_seed: int, val_fraction: float
) -> np.ndarray:
    """Choose the source digits of a split, stratified by class.

    For every class ``c`` with ``n_c`` sources, ``round(val_fraction * n_c)``
    sources, drawn with ``numpy.random.default_rng(split_seed)``, go to
    ``'val'`` and the rest to ``'train'``. The split is over *source* digits:
    every rendering of a source falls on the same side as its source.

    Args:
        labels (np.ndarray): Class of every source digit.
        split (str): ``'train'``, ``'val'`` or ``'all'``.
        split_seed (int): Seed of the split.
        val_fraction (float): Fraction of each class that goes to ``'val'``.

    Returns:
        np.ndarray: Sorted indices of the chosen source digits.
    """
    _check_split(split)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f'val_fraction must be in (0, 1), got {val_fraction}.')
    if split == 'all':
        return np.arange(len(labels))
    rng = np.random.default_rng(split_seed)
    is_val = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        n_val = int(round(val_fraction * len(members)))
        is_val[rng.permutation(members)[:n_val]] = True
    keep = is_val if split == 'val' else ~is_val
    return np.flatnonzero(keep)


def _bilinear_taps(src: int, dst: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample positions of a bilinear ``src -> dst`` resize along one axis.

    Pixel centres are aligned (the ``align_corners=False`` convention).

    Returns:
        Tuple[np.ndarray, np.ndarray, np.ndarray]: lower tap, upper tap and
        the weight of the upper tap for every output position.
    """
    pos = (np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5
    pos = np.clip(pos, 0.0, src - 1.0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, src - 1)
    return lo, hi, pos - lo


def bilinear_resize(img: np.ndarray, size: int) -> np.ndarray:
    """Resize the leading two axes of a square array with bilinear weights.

    The computation is element-wise (separable, rows then columns), so it is
    bit-reproducible. Trailing axes (channels, or a batch) are carried along.

    Args:
        img (np.ndarray): Array of shape ``(n, n, ...)``.
        size (int): Output side length.

    Returns:
        np.ndarray: ``float64`` array of shape ``(size, size, ...)``.
    """
    img = np.asarray(img, dtype=np.float64)
    lo, hi, w = _bilinear_taps(img.shape[0], size)
    w = w.reshape((-1,) + (1,) * (img.ndim - 1))
    rows = img[lo] * (1.0 - w) + img[hi] * w
    lo, hi, w = _bilinear_taps(img.shape[1], size)
    w = w.reshape((1, -1) + (1,) * (img.ndim - 2))
    return rows[:, lo] * (1.0 - w) + rows[:, hi] * w


def render_plain_digits() -> Tuple[np.ndarray, np.ndarray]:
    """Render all source digits as 32x32 white-on-black BGR images.

    Returns:
        Tuple[np.ndarray, np.ndarray]: ``imgs`` ``(1797, 32, 32, 3)`` uint8
        and ``labels`` ``(1797, )`` int64.
    """
    key = ('plain',)
    if key not in _CACHE:
        digits, labels = load_source_digits()
        # (8, 8, N) so that the resize runs over all digits at once.
        up = bilinear_resize(digits.transpose(1, 2, 0), IMG_SIZE)
        gray = np.rint(up * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
        imgs = np.repeat(gray.transpose(2, 0, 1)[..., None], 3, axis=-1)
        _CACHE[key] = (_read_only(np.ascontiguousarray(imgs)), labels)
    return _CACHE[key]


def load_backgrounds() -> List[np.ndarray]:
    """Load the background photographs bundled with scikit-image.

    Returns:
        List[np.ndarray]: ``HxWx3`` uint8 RGB images, in the order of
        :data:`BACKGROUND_IMAGES`.
    """
    key = ('backgrounds',)
    if key not in _CACHE:
        try:
            import skimage
            import skimage.data
        except ImportError as e:
            raise ImportError(
                'DigitsComposite needs scikit-image, whose bundled '
                'photographs are used as backgrounds: '
                '`pip install scikit-image` (or use the `Digits` dataset, '
                'which only needs scikit-learn).'
            ) from e
        data_dir = osp.join(osp.dirname(skimage.__file__), 'data')
        images = []
        for name, fname in BACKGROUND_IMAGES:
            # Refuse anything that would have to be fetched from the network.
            if not osp.isfile(osp.join(data_dir, fname)):
                raise RuntimeError(
                    f'scikit-image {skimage.__version__} does not bundle '
                    f'{fname!r} (needed by DigitsComposite) in {data_dir}; '
                    'it would have to be downloaded, which this dataset '
                    'never does.'
                )
            img = np.asarray(getattr(skimage.data, name)())
            if img.dtype == bool:
                img = img.astype(np.uint8) * 255
            if img.ndim == 2:
                img = np.repeat(img[..., None], 3, axis=-1)
            img = np.ascontiguousarray(img[..., :3], dtype=np.uint8)
            images.append(_read_only(img))
        _CACHE[key] = images
    return _CACHE[key]


def _summed_area_table(img: np.ndarray) -> np.ndarray:
    """Integer summed-area table of an ``HxWx3`` uint8 image, zero-padded.

    Returns:
        np.ndarray: ``(H + 1, W + 1, 3)`` table, int32 when that cannot
        overflow, int64 otherwise.
    """
    h, w = img.shape[:2]
    dtype = np.int32 if h * w * 255 < 2**31 else np.int64
    table = np.zeros((h + 1, w + 1, 3), dtype=dtype)
    table[1:, 1:] = img.astype(dtype).cumsum(0, dtype=dtype).cumsum(1, dtype=dtype)
    return table


def _box_patches(table: np.ndarray, k: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Cut squares of side ``32 * k`` at ``(y, x)`` and average them to 32x32.

    Block sums are read from an integer summed-area table, so they are exact
    and the only rounding is the final division.

    Args:
        table (np.ndarray): Summed-area table of the background image.
        k (np.ndarray): ``(m, )`` integer downsampling factors.
        y (np.ndarray): ``(m, )`` top rows of the crops.
        x (np.ndarray): ``(m, )`` left columns of the crops.

    Returns:
        np.ndarray: ``(m, 32, 32, 3)`` float64 patches.
    """
    steps = np.arange(IMG_SIZE + 1)
    ys = y[:, None] + k[:, None] * steps  # (m, 33)
    xs = x[:, None] + k[:, None] * steps
    corners = table[ys[:, :, None], xs[:, None, :]]  # (m, 33, 33, 3)
    sums = corners[:, 1:, 1:] - corners[:, :-1, 1:] - corners[:, 1:, :-1] + corners[:, :-1, :-1]
    return sums / (k * k).astype(np.float64)[:, None, None, None]


def _luma(rgb: np.ndarray) -> np.ndarray:
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


_CHUNK = 1024


def _compose(
    tables: List[np.ndarray],
    ink: np.ndarray,
    bg_idx: np.ndarray,
    k: np.ndarray,
    crop_y: np.ndarray,
    crop_x: np.ndarray,
    flip: np.ndarray,
    side: np.ndarray,
    pos_y: np.ndarray,
    pos_x: np.ndarray,
    candidates: np.ndarray,
    opacity: np.ndarray,
) -> np.ndarray:
    """Compose a batch of renderings from their drawn parameters.

    See :func:`render_composite_digits` for the meaning of the parameters.

    Returns:
        np.ndarray: ``(m, 32, 32, 3)`` uint8 BGR images.
    """
    m = len(ink)
    # backgrounds
    canvas = np.empty((m, IMG_SIZE, IMG_SIZE, 3), dtype=np.float64)
    for b, table in enumerate(tables):
        sel = np.flatnonzero(bg_idx == b)
        if len(sel):
            canvas[sel] = _box_patches(table, k[sel], crop_y[sel], crop_x[sel])
    canvas[flip] = canvas[flip][:, :, ::-1]

    # alpha masks
    alpha = np.zeros((m, IMG_SIZE, IMG_SIZE), dtype=np.float64)
    for s in np.unique(side):
        sel = np.flatnonzero(side == s)
        resized = bilinear_resize(ink[sel].transpose(1, 2, 0), int(s))
        resized = resized.transpose(2, 0, 1)
        for j, r in enumerate(sel):
            alpha[r, pos_y[r] : pos_y[r] + s, pos_x[r] : pos_x[r] + s] = resized[j]

    # colours: the first candidate that contrasts enough with the background
    # it covers, or the most contrasting one if none does
    covered = (alpha * _luma(canvas)).sum(axis=(1, 2)) / alpha.sum(axis=(1, 2))
    contrast = np.abs(_luma(candidates) - covered[:, None])
    ok = contrast >= MIN_LUMA_CONTRAST
    choice = np.where(ok.any(axis=1), ok.argmax(axis=1), contrast.argmax(axis=1))
    colour = candidates[np.arange(m), choice]

    # blend
    a = (alpha * opacity[:, None, None])[..., None]
    out = canvas * (1.0 - a) + colour[:, None, None, :] * a
    out = np.rint(out, out=out)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)[..., ::-1]  # RGB -> BGR


def _check_background_pool(background_pool: Optional[int]) -> Optional[int]:
    """Validate ``background_pool`` (``None`` or a positive int)."""
    if background_pool is None:
        return None
    if (
        isinstance(background_pool, bool)
        or not isinstance(background_pool, (int, np.integer))
        or background_pool < 1
    ):
        raise ValueError(
            'background_pool must be None (a fresh background patch per '
            'rendering) or a positive int (the number of shared patches), '
            f'got {background_pool!r}.'
        )
    return int(background_pool)


def render_composite_digits(
    samples_per_digit: int = 4, seed: int = 0, background_pool: Optional[int] = None
) -> Tuple[np.ndarray, np.ndarray]:
    """Render every source digit ``samples_per_digit`` times over photos.

    Rendering ``j`` of source ``i`` is at row ``i * samples_per_digit + j``.
    For each rendering:

    1. a background patch is cut at a random place and scale (side
       ``32 * k`` px with ``k`` in ``1..6``, box-averaged down to 32 px,
       mirrored with probability 1/2) from a random bundled photograph;
    2. the digit, bilinearly upsampled to a random side of
       :data:`MIN_DIGIT_SCALE` - :data:`MAX_DIGIT_SCALE` of 32 px, becomes
       an alpha mask (ink 0..16 -> 0..1) placed at a random position fully
       inside the image;
    3. a random colour is blended in through the mask with a random opacity
       in ``[0.75, 1]``. The colour is the first of 16 random candidates
       whose luma differs by at least :data:`MIN_LUMA_CONTRAST` from the
       alpha-weighted mean luma of the background under the digit (the most
       contrasting candidate if none does), so that the digit stays
       readable.

    All random parameters are drawn up front, in a fixed order, from
    ``numpy.random.default_rng(seed)``.

    With ``background_pool=N`` (opt-in), step 1 changes: ``N`` background
    patches (photograph, scale, place and mirroring each) are drawn once
    from ``numpy.random.default_rng([seed, N])``, and every rendering takes
    one of them, chosen uniformly from the same generator, independently of
    its digit and class. A background then no longer identifies a rendering
    (each patch is shared by about ``1797 * samples_per_digit / N`` of
    them), which removes the per-instance shortcut that instance
    discrimination can otherwise learn. The main generator draws exactly
    the same numbers as without a pool, so digit shape, side, position,
    colour candidates and opacity are those of the default rendering with
    the same ``seed`` (the chosen colour can differ, since it depends on the
    background).

    Args:
        samples_per_digit (int): Renderings per source digit.
        seed (int): Seed of the rendering.
        background_pool (int, optional): Number of background patches shared
            by all renderings; ``None`` (default) cuts a fresh patch for
            every rendering.

    Returns:
        Tuple[np.ndarray, np.ndarray]: ``imgs`` of shape
        ``(1797 * samples_per_digit, 32, 32, 3)`` uint8 BGR and ``labels``
        of shape ``(1797 * samples_per_digit, )`` int64.
    """
    if int(samples_per_digit) < 1:
        raise ValueError(f'samples_per_digit must be >= 1, got {samples_per_digit}.')
    samples_per_digit = int(samples_per_digit)
    background_pool = _check_background_pool(background_pool)
    key = ('composite', samples_per_digit, int(seed))
    if background_pool is not None:
        key += (('background_pool', background_pool),)
    if key in _CACHE:
        return _CACHE[key]

    digits, labels = load_source_digits()
    backgrounds = load_backgrounds()
    n = len(digits) * samples_per_digit
    source = np.repeat(np.arange(len(digits)), samples_per_digit)

    # ---- random parameters, drawn in a fixed order ----
    rng = np.random.default_rng(int(seed))
    heights = np.array([b.shape[0] for b in backgrounds])
    widths = np.array([b.shape[1] for b in backgrounds])
    max_k = np.minimum(np.minimum(heights, widths) // IMG_SIZE, MAX_BG_ZOOM)
    bg_idx = rng.integers(0, len(backgrounds), size=n)
    k = rng.integers(1, max_k[bg_idx] + 1)
    crop_y = rng.integers(0, heights[bg_idx] - IMG_SIZE * k + 1)
    crop_x = rng.integers(0, widths[bg_idx] - IMG_SIZE * k + 1)
    flip = rng.random(n) < 0.5
    min_side = int(round(MIN_DIGIT_SCALE * IMG_SIZE))
    max_side = int(round(MAX_DIGIT_SCALE * IMG_SIZE))
    side = rng.integers(min_side, max_side + 1, size=n)
    pos_y = rng.integers(0, IMG_SIZE - side + 1)
    pos_x = rng.integers(0, IMG_SIZE - side + 1)
    candidates = rng.integers(0, 256, size=(n, 16, 3)).astype(np.float64)
    opacity = 0.75 + 0.25 * rng.random(n)

    if background_pool is not None:
        # A separate generator, so that everything above is unchanged.
        pool_rng = np.random.default_rng([int(seed), background_pool])
        pool_bg = pool_rng.integers(0, len(backgrounds), size=background_pool)
        pool_k = pool_rng.integers(1, max_k[pool_bg] + 1)
        pool_y = pool_rng.integers(0, heights[pool_bg] - IMG_SIZE * pool_k + 1)
        pool_x = pool_rng.integers(0, widths[pool_bg] - IMG_SIZE * pool_k + 1)
        pool_flip = pool_rng.random(background_pool) < 0.5
        pick = pool_rng.integers(0, background_pool, size=n)
        bg_idx, k, crop_y, crop_x, flip = (
            pool_bg[pick],
            pool_k[pick],
            pool_y[pick],
            pool_x[pick],
            pool_flip[pick],
        )

    # ---- images, in chunks to bound the memory of the float64 buffers ----
    tables = [_summed_area_table(bg) for bg in backgrounds]
    ink = digits.astype(np.float64) / 16.0
    imgs = np.empty((n, IMG_SIZE, IMG_SIZE, 3), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        rows = np.arange(start, min(start + _CHUNK, n))
        imgs[rows] = _compose(
            tables,
            ink[source[rows]],
            bg_idx[rows],
            k[rows],
            crop_y[rows],
            crop_x[rows],
            flip[rows],
            side[rows],
            pos_y[rows],
            pos_x[rows],
            candidates[rows],
            opacity[rows],
        )
    all_labels = labels[source]
    _CACHE[key] = (_read_only(imgs), _read_only(all_labels))
    return _CACHE[key]


class _DigitsBase(BaseDataset):
    """Shared logic of the embedded digits datasets.

    Subclasses implement :meth:`_render`, which returns all renderings of all
    source digits in source order (``samples_per_digit`` consecutive rows per
    source) together with their labels.
    """

    METAINFO = dict(classes=tuple(str(i) for i in range(10)))

    samples_per_digit: int = 1

    def __init__(
        self,
        split: str = 'train',
        pipeline: Sequence = (),
        split_seed: int = 0,
        val_fraction: float = 0.2,
        test_mode: bool = False,
        **kwargs,
    ) -> None:
        _check_split(split)
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f'val_fraction must be in (0, 1), got {val_fraction}.')
        for name in ('ann_file', 'data_root', 'data_prefix'):
            if kwargs.pop(name, None):
                raise TypeError(
                    f'{self.__class__.__name__} is generated in memory and takes no {name!r}.'
                )
        self.split = split
        self.split_seed = int(split_seed)
        self.val_fraction = float(val_fraction)
        super().__init__(ann_file='', pipeline=pipeline, test_mode=test_mode, **kwargs)

    def _render(self) -> Tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        """Generate (or fetch from the cache) the images of this split.

        Returns:
            List[dict]: One dict per image with keys ``img`` (32x32x3 uint8
            BGR), ``gt_label``, ``source_index``, ``img_shape`` and
            ``ori_shape``.
        """
        imgs, labels = self._render()
        _, source_labels = load_source_digits()
        sources = split_sources(source_labels, self.split, self.split_seed, self.val_fraction)
        spd = self.samples_per_digit
        data_list = []
        for src in sources:
            for row in range(src * spd, (src + 1) * spd):
                data_list.append(
                    dict(
                        img=np.array(imgs[row]),  # writable copy
                        gt_label=int(labels[row]),
                        source_index=int(src),
                        img_shape=(IMG_SIZE, IMG_SIZE),
                        ori_shape=(IMG_SIZE, IMG_SIZE),
                    )
                )
        return data_list

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        return [
            f'Split: \t{self.split} (val_fraction={self.val_fraction}, '
            f'split_seed={self.split_seed})',
            'Images: \tgenerated in memory (BGR uint8, no LoadImageFromFile)',
        ]


@DATASETS.register_module()
class Digits(_DigitsBase):
    """The scikit-learn handwritten digits as 32x32 RGB images.

    The 1,797 8x8 digits (ink values 0..16) of
    :func:`sklearn.datasets.load_digits` are upsampled bilinearly to 32x32,
    scaled to 0..255 and replicated over 3 channels (white digit on black).
    Nothing is downloaded.

    The train/val split is drawn over source digits, stratified by class:
    ``round(val_fraction * n_c)`` digits of each class ``c`` go to val.

    Images are held in memory as ``HxWx3`` uint8 BGR arrays in the ``img``
    key, so the pipeline must not contain ``LoadImageFromFile``.

    Args:
        split (str): ``'train'``, ``'val'`` or ``'all'``. Defaults to
            ``'train'``.
        pipeline (Sequence): Processing pipeline. Defaults to ``()``.
        split_seed (int): Seed of the train/val split. Defaults to 0.
        val_fraction (float): Fraction of each class in val. Defaults to 0.2.
        test_mode (bool): ``test_mode=True`` means in test phase.
            Defaults to False.
        **kwargs: Other keyword arguments of
            :class:`mmpretrain.datasets.BaseDataset` (``indices``,
            ``serialize_data``, ``lazy_init``, ...).

    Examples:
        >>> from csml_mm.datasets import Digits
        >>> len(Digits(split='all'))
        1797
    """

    def _render(self) -> Tuple[np.ndarray, np.ndarray]:
        return render_plain_digits()


@DATASETS.register_module()
class DigitsComposite(_DigitsBase):
    """Digits composited over natural photographs (the default dataset).

    Each of the 1,797 scikit-learn digits is rendered ``samples_per_digit``
    times: the digit, used as an alpha mask at a random scale (45%-90% of the
    32 px side) and position, is blended in a random, contrasting colour over
    a 32x32 patch cut at a random place and scale from one of the
    photographs bundled with scikit-image (see :data:`BACKGROUND_IMAGES`).
    The digit stays readable to a human, but raw pixels are dominated by the
    background, so raw-pixel kNN does badly.

    Generation is fully determined by ``seed`` (bit-identical across runs and
    machines) and is cached per ``(samples_per_digit, seed,
    background_pool)`` in the process, so building train and val does not
    generate twice.

    The train/val split is drawn over source digits (see :class:`Digits`):
    all renderings of one source digit are on the same side.

    Args:
        split (str): ``'train'``, ``'val'`` or ``'all'``. Defaults to
            ``'train'``.
        pipeline (Sequence): Processing pipeline. Defaults to ``()``.
        samples_per_digit (int): Renderings per source digit. Defaults to 4.
        seed (int): Seed of the rendering. Defaults to 0.
        split_seed (int): Seed of the train/val split. Defaults to 0.
        val_fraction (float): Fraction of each class in val. Defaults to 0.2.
        test_mode (bool): ``test_mode=True`` means in test phase.
            Defaults to False.
        background_pool (int, optional): Opt-in. Draw the backgrounds from a
            pool of this many patches shared by all renderings (and classes)
            instead of cutting a fresh patch per rendering, so that a
            background does not identify an instance (see
            :func:`render_composite_digits`). Defaults to None (fresh
            patches, the default dataset).
        **kwargs: Other keyword arguments of
            :class:`mmpretrain.datasets.BaseDataset`.

    Examples:
        >>> from csml_mm.datasets import DigitsComposite
        >>> len(DigitsComposite(split='all'))
        7188
    """

    def __init__(
        self,
        split: str = 'train',
        pipeline: Sequence = (),
        samples_per_digit: int = 4,
        seed: int = 0,
        split_seed: int = 0,
        val_fraction: float = 0.2,
        test_mode: bool = False,
        background_pool: Optional[int] = None,
        **kwargs,
    ) -> None:
        if int(samples_per_digit) < 1:
            raise ValueError(f'samples_per_digit must be >= 1, got {samples_per_digit}.')
        self.samples_per_digit = int(samples_per_digit)
        self.seed = int(seed)
        self.background_pool = _check_background_pool(background_pool)
        super().__init__(
            split=split,
            pipeline=pipeline,
            split_seed=split_seed,
            val_fraction=val_fraction,
            test_mode=test_mode,
            **kwargs,
        )

    def _render(self) -> Tuple[np.ndarray, np.ndarray]:
        return render_composite_digits(self.samples_per_digit, self.seed, self.background_pool)

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        return super().extra_repr() + [
            f'Renderings: \t{self.samples_per_digit} per source digit (seed={self.seed})',
            'Backgrounds: \t'
            + (
                'a fresh patch per rendering'
                if self.background_pool is None
                else f'pool of {self.background_pool} shared patches'
            ),
        ]
