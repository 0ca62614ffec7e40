"""Which files are images: the one definition that the datasets and the data tools share.

Two sets, because mmpretrain's datasets read image files in two ways:

- a folder read by listing it (``CustomDataset`` without ``ann_file``, the ``_folder``
  configs) keeps only the files ending in :data:`FOLDER_IMG_EXTENSIONS`, mmpretrain's
  default ``extensions`` (any case; hidden files are never listed);
- an annotation file names its images itself, and the loader
  (:class:`~csml_mm.datasets.transforms.CheckedLoadImageFromFile`) decodes every file in
  :data:`IMG_EXTENSIONS`: those of a folder plus ``.tiff``, ``.webp`` and ``.gif``.

The tools under ``tools/dataset_converters`` take :data:`IMG_EXTENSIONS`:
``prepare_folder.py`` turns each such file into a PNG/JPEG copy that a folder dataset lists,
``make_label_subset.py`` writes annotation files, and ``split_folder.py`` says how many of
the files it placed a folder dataset would skip until they are converted.
"""

import os.path as osp
from typing import Sequence

__all__ = ['FOLDER_IMG_EXTENSIONS', 'IMG_EXTENSIONS', 'is_image_file']

#: The endings a folder dataset lists: the default ``extensions`` of mmpretrain's
#: ``CustomDataset`` (a test keeps the two equal).
FOLDER_IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif')

#: The endings of the files the image loader decodes (an annotation file may name them).
IMG_EXTENSIONS = FOLDER_IMG_EXTENSIONS + ('.tiff', '.webp', '.gif')


def is_image_file(name: str, extensions: Sequence[str] = IMG_EXTENSIONS) -> bool:
    """Whether a file name is an image, by its ending (any case), as the datasets judge it.

    Args:
        name (str): The file's name (a path works too: only its ending is read, and a
            hidden file is one whose name starts with ``.``).
        extensions (Sequence[str]): Lower-case endings with the dot. Defaults to
            :data:`IMG_EXTENSIONS`; :data:`FOLDER_IMG_EXTENSIONS` for what a folder
            dataset lists.

    Returns:
        bool: True for a file that is not hidden and ends in one of ``extensions``.
    """
    base = osp.basename(name)
    return not base.startswith('.') and base.lower().endswith(tuple(extensions))
