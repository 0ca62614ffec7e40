"""``LoadImageFromFile`` that names a corrupt image, or skips it and records it.

mmcv's ``LoadImageFromFile`` fails on a broken file with ``failed to load image: PATH`` (an
``AssertionError``) or a decoder error, and ``ignore_empty=True`` drops the file silently.
:class:`CheckedLoadImageFromFile` detects empty, truncated (PNG without ``IEND``, JPEG without
its end-of-image marker) and undecodable files and either raises
:class:`~csml_mm.utils.errors.CorruptImageError` naming the file, or, with
``on_corrupt='skip'``, returns ``None`` (mmengine's ``BaseDataset`` then serves another,
random index, up to its ``max_refetch`` times), logs the path and appends it to ``skip_log``
(the ``SkippedImagesHook`` counts that file into the training log).

``tools/train.py`` puts it in place of every ``LoadImageFromFile`` of an mmpretrain config;
the top-level config key ``corrupt_images = 'raise' | 'skip'`` chooses the mode of the
training loader (other loaders always raise: an evaluation must see every image).

Real folders hold more than photographs, so colour images are also made safe to learn from:

- **Transparency** (RGBA, grey + alpha, palette with a transparent index) is composited onto
  ``alpha_background`` (white by default): ``out = alpha * rgb + (1 - alpha) * background``.
  Dropping alpha, as a plain decode does, shows whatever colour the transparent pixels happen to
  store (often black, or garbage in clip art). Grey, palette and 16-bit images without
  transparency decode exactly as mmcv decodes them (three 8-bit channels).
- **Size** is read from the file header before decoding. A JPEG above ``max_pixels`` is
  decoded at 1/2, 1/4 or 1/8 scale (libjpeg's reduced decoding: the full image never exists in
  memory); any other image above ``max_pixels``, or a JPEG still above it at 1/8, is
  *oversized* (a decompression-bomb guard): it is skipped or raises as ``on_oversized`` says,
  naming ``tools/dataset_converters/prepare_folder.py``, which writes a resized copy of a
  folder once. Memory per decode is therefore bounded by about ``4 * max_pixels`` bytes (the
  BGRA buffer; 200 MB at the default 50 Mpx) plus a 3-channel copy.
- Tiny images need nothing here: the crops and resizes of the pipelines upscale them.
"""

import io
import logging
import os
import os.path as osp
import warnings
from typing import Optional, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmengine.logging import print_log
from mmpretrain.registry import TRANSFORMS

from csml_mm.utils.errors import CorruptImageError

__all__ = ['CheckedLoadImageFromFile', 'image_bytes_problem', 'composite_alpha', 'image_header']

#: modes (PIL's names) whose pixels carry an alpha channel
_ALPHA_MODES = ('RGBA', 'LA', 'PA', 'RGBa', 'La')
#: libjpeg's reduced decodes, by scale denominator
_REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}
#: more pixels than this (Pillow's own hard limit) and the header reader refuses the file
_PIL_HARD_LIMIT = 2 * 89_478_485


def image_header(data: bytes) -> Tuple[Optional[Tuple[int, int]], bool]:
    """``((width, height), has_alpha)`` from the file header alone (no pixel is decoded);
    ``(None, False)`` when Pillow cannot read the header (the decoder will say why). A header
    above Pillow's hard limit gives a size of ``(-1, -1)``."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                alpha = im.mode in _ALPHA_MODES or 'transparency' in im.info
                return im.size, alpha
    except Image.DecompressionBombError:
        return (-1, -1), False
    except Exception:  # not an image Pillow knows: leave the verdict to the decoder
        return None, False


def composite_alpha(img: np.ndarray, background: Sequence[int]) -> np.ndarray:
    """A BGRA (or grey + alpha) uint8 image over an RGB ``background``, as 8-bit BGR:
    ``alpha / 255 * colour + (1 - alpha / 255) * background``, rounded to nearest."""
    if img.ndim == 3 and img.shape[2] == 2:  # grey + alpha
        img = np.concatenate([np.repeat(img[..., :1], 3, axis=2), img[..., 1:]], axis=2)
    colour = img[..., :3].astype(np.float32)
    alpha = img[..., 3:4].astype(np.float32) / 255.0
    bgr_background = np.asarray(background, np.float32)[::-1]
    out = colour * alpha + bgr_background * (1.0 - alpha)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8)  # as OpenCV's own colour decode does
    img = img.astype(np.float32)
    scale = 255.0 if img.size and float(img.max()) <= 1.0 else 1.0
    return np.clip(np.rint(img * scale), 0, 255).astype(np.uint8)


def image_bytes_problem(data: bytes) -> Optional[str]:
    """Why ``data`` cannot be a complete image, from its bytes alone; ``None`` if it may be."""
    if not data:
        return 'the file is empty'
    # Search the whole buffer: some cameras append data after the end marker.
    if data.startswith(b'\x89PNG\r\n\x1a\n') and data.rfind(b'IEND') < 0:
        return 'it is a truncated PNG (no IEND chunk)'
    if data.startswith(b'\xff\xd8') and data.rfind(b'\xff\xd9') < 0:
        return 'it is a truncated JPEG (no end-of-image marker)'
    return None


@TRANSFORMS.register_module()
class CheckedLoadImageFromFile(LoadImageFromFile):
    """Load an image; a corrupt file raises with its path, or is skipped and recorded.

    Args:
        on_corrupt: ``'raise'`` (default) or ``'skip'``.
        skip_log: In ``'skip'`` mode, a text file to which ``path<TAB>reason`` lines are
            appended (one per skip, from any dataloader worker). Optional.
        alpha_background: The RGB colour (or one grey level) that transparent pixels
            become. Default 255 (white).
        max_pixels: The decompression-bomb guard: images with more pixels than this (after
            a JPEG's reduced decoding) are oversized. Default 50 million. ``None``: no guard.
        on_oversized: ``'skip'`` or ``'raise'`` for an oversized image; default: as
            ``on_corrupt``. ``tools/train.py`` skips them in the training loader wherever a
            skip is possible, so a run is never stopped by one.
        **kwargs: The arguments of mmcv's ``LoadImageFromFile`` (``ignore_empty`` is
            ignored: ``on_corrupt`` decides).
    """

    def __init__(
        self,
        on_corrupt: str = 'raise',
        skip_log: Optional[str] = None,
        alpha_background: Union[int, Sequence[int]] = 255,
        max_pixels: Optional[int] = 50_000_000,
        on_oversized: Optional[str] = None,
        **kwargs,
    ) -> None:
        for name, value in (('on_corrupt', on_corrupt), ('on_oversized', on_oversized)):
            if value not in ('raise', 'skip') and not (name == 'on_oversized' and value is None):
                raise ValueError(
                    f"CheckedLoadImageFromFile: {name} must be 'raise' or 'skip', got {value!r}."
                )
        background = (
            (alpha_background,) * 3
            if isinstance(alpha_background, (int, np.integer))
            else tuple(alpha_background)
        )
        if len(background) != 3 or not all(0 <= int(v) <= 255 for v in background):
            raise ValueError(
                'CheckedLoadImageFromFile: alpha_background must be one grey level '
                f'or an (R, G, B) triple in 0-255, got {alpha_background!r}.'
            )
        if max_pixels is not None and max_pixels <= 0:
            raise ValueError(
                f'CheckedLoadImageFromFile: max_pixels must be positive or None, '
                f'got {max_pixels!r}.'
            )
        kwargs.pop('ignore_empty', None)
        super().__init__(**kwargs)
        self.on_corrupt = on_corrupt
        self.on_oversized = on_oversized or on_corrupt
        self.skip_log = skip_log
        self.alpha_background = tuple(int(v) for v in background)
        self.max_pixels = max_pixels
        self.skipped = 0  # in this process (each dataloader worker counts its own)

    def _read(self, filename: str) -> bytes:
        if self.file_client_args is not None:
            client = fileio.FileClient.infer_client(self.file_client_args, filename)
            return client.get(filename)
        return fileio.get(filename, backend_args=self.backend_args)

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        img = None
        try:
            data = self._read(filename)
        except FileNotFoundError:
            problem = 'the file does not exist'
        except OSError as e:
            problem = f'it cannot be read ({e})'
        else:
            problem = image_bytes_problem(data)
            if problem is None:
                try:
                    img = self._decode(data)
                except _Oversized as e:
                    return self._skip_or_raise(str(filename), str(e), self.on_oversized)
                except Exception as e:  # decoders raise many types on garbage
                    problem = f'the decoder failed ({type(e).__name__}: {e})'
                else:
                    if img is None:
                        problem = (
                            f'it cannot be decoded as an image ({len(data):,} bytes '
                            f'starting with {data[:8]!r})'
                        )
        if problem is not None:
            return self._corrupt(str(filename), problem)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _decode(self, data: bytes) -> Optional[np.ndarray]:
        """mmcv's decode, with transparency composited and the size guarded (colour, cv2)."""
        if self.color_type != 'color' or self.imdecode_backend != 'cv2':
            return mmcv.imfrombytes(data, flag=self.color_type, backend=self.imdecode_backend)
        size, alpha = image_header(data)
        reduce = 1
        if size is not None and self.max_pixels is not None:
            w, h = size
            pixels = w * h if w >= 0 else None
            is_jpeg = data.startswith(b'\xff\xd8')
            if pixels is None or pixels > self.max_pixels:
                fits = [
                    f
                    for f in (2, 4, 8)
                    if pixels is not None and is_jpeg and pixels / f**2 <= self.max_pixels
                ]
                if not fits:
                    shown = (
                        f'{w} x {h} = {pixels / 1e6:.0f} Mpx'
                        if pixels is not None
                        else f'more than {_PIL_HARD_LIMIT / 1e6:.0f} Mpx'
                    )
                    raise _Oversized(
                        f'it is {shown}, above max_pixels={self.max_pixels:,} (the '
                        'decompression-bomb guard of CheckedLoadImageFromFile). Make a resized '
                        'copy of the folder with tools/dataset_converters/prepare_folder.py, or '
                        'raise max_pixels in the loader if the memory allows'
                    )
                reduce = fits[0]
        buf = np.frombuffer(data, np.uint8)
        if alpha and reduce == 1:
            img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
            if img is None:
                return None
            img = _to_uint8(img)
            if img.ndim == 3 and img.shape[2] in (2, 4):
                img = composite_alpha(img, self.alpha_background)
            elif img.ndim == 2:
                img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        else:
            img = cv2.imdecode(buf, _REDUCED[reduce])
        return img

    def _corrupt(self, filename: str, problem: str) -> None:
        if self.on_corrupt == 'raise':
            raise CorruptImageError(
                f'Corrupt image {filename}: {problem}. Replace or delete the file (and its line '
                'in the annotation file, if any), or let training skip such images with '
                '`corrupt_images = "skip"` in the config (--cfg-options corrupt_images=skip).',
                path=filename,
            )
        return self._skip(filename, problem, 'corrupt')

    def _skip_or_raise(self, filename: str, problem: str, mode: str) -> None:
        if mode == 'raise':
            raise CorruptImageError(f'Oversized image {filename}: {problem}.', path=filename)
        return self._skip(filename, problem, 'oversized')

    def _skip(self, filename: str, problem: str, kind: str) -> None:
        self.skipped += 1
        if self.skip_log:
            os.makedirs(osp.dirname(osp.abspath(self.skip_log)), exist_ok=True)
            with open(self.skip_log, 'a') as fh:  # one short append per line: no interleaving
                fh.write(f'{filename}\t{problem}\n')
        print_log(
            f'CheckedLoadImageFromFile: skipped {kind} image {filename} ({problem}); '
            'another image is used in its place.',
            logger='current',
            level=logging.WARNING,
        )
        return None

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(on_corrupt={self.on_corrupt!r}, '
            f'on_oversized={self.on_oversized!r}, '
            f'alpha_background={self.alpha_background}, max_pixels={self.max_pixels}, '
            f'to_float32={self.to_float32}, color_type={self.color_type!r}, '
            f'imdecode_backend={self.imdecode_backend!r})'
        )


class _Oversized(Exception):
    """The header says the image is larger than ``max_pixels``."""
