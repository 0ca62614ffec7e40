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
"""
import logging
import os
import os.path as osp
from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmengine.logging import print_log
from mmpretrain.registry import TRANSFORMS

from csml_mm.utils.errors import CorruptImageError

__all__ = ['CheckedLoadImageFromFile', 'image_bytes_problem']


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
        **kwargs: The arguments of mmcv's ``LoadImageFromFile`` (``ignore_empty`` is
            ignored: ``on_corrupt`` decides).
    """

    def __init__(self, on_corrupt: str = 'raise', skip_log: Optional[str] = None,
                 **kwargs) -> None:
        if on_corrupt not in ('raise', 'skip'):
            raise ValueError("CheckedLoadImageFromFile: on_corrupt must be 'raise' or 'skip', "
                             f'got {on_corrupt!r}.')
        kwargs.pop('ignore_empty', None)
        super().__init__(**kwargs)
        self.on_corrupt = on_corrupt
        self.skip_log = skip_log
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
                    img = mmcv.imfrombytes(data, flag=self.color_type,
                                           backend=self.imdecode_backend)
                except Exception as e:  # decoders raise many types on garbage
                    problem = f'the decoder failed ({type(e).__name__}: {e})'
                else:
                    if img is None:
                        problem = (f'it cannot be decoded as an image ({len(data):,} bytes '
                                   f'starting with {data[:8]!r})')
        if problem is not None:
            return self._corrupt(str(filename), problem)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _corrupt(self, filename: str, problem: str) -> None:
        if self.on_corrupt == 'raise':
            raise CorruptImageError(
                f'Corrupt image {filename}: {problem}. Replace or delete the file (and its line '
                'in the annotation file, if any), or let training skip such images with '
                '`corrupt_images = "skip"` in the config (--cfg-options corrupt_images=skip).',
                path=filename)
        self.skipped += 1
        if self.skip_log:
            os.makedirs(osp.dirname(osp.abspath(self.skip_log)), exist_ok=True)
            with open(self.skip_log, 'a') as fh:  # one short append per line: no interleaving
                fh.write(f'{filename}\t{problem}\n')
        print_log(f'CheckedLoadImageFromFile: skipped corrupt image {filename} ({problem}); '
                  'another image is used in its place.', logger='current',
                  level=logging.WARNING)
        return None

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(on_corrupt={self.on_corrupt!r}, '
                f'to_float32={self.to_float32}, color_type={self.color_type!r}, '
                f'imdecode_backend={self.imdecode_backend!r})')
