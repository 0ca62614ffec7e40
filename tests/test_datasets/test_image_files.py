"""csml_mm.datasets.image_files: the one definition of an image file, as the datasets judge it."""

import inspect

import pytest
from mmpretrain.datasets import CustomDataset

from csml_mm.datasets.image_files import FOLDER_IMG_EXTENSIONS, IMG_EXTENSIONS, is_image_file


def test_folder_extensions_are_custom_datasets_default():
    default = inspect.signature(CustomDataset.__init__).parameters['extensions'].default
    assert FOLDER_IMG_EXTENSIONS == tuple(default)
    assert IMG_EXTENSIONS[: len(FOLDER_IMG_EXTENSIONS)] == FOLDER_IMG_EXTENSIONS
    assert set(IMG_EXTENSIONS) - set(FOLDER_IMG_EXTENSIONS) == {'.tiff', '.webp', '.gif'}
    assert all(e == e.lower() and e.startswith('.') for e in IMG_EXTENSIONS)


@pytest.mark.parametrize(
    'name, folder, loader',
    [
        ('a.jpg', True, True),
        ('b.JPEG', True, True),
        ('sub/c.Png', True, True),
        ('d.tif', True, True),
        ('e.tiff', False, True),
        ('f.webp', False, True),
        ('g.GIF', False, True),
        ('notes.txt', False, False),
        ('.hidden.png', False, False),
        ('dir/._resource.jpg', False, False),
        ('png', False, False),
    ],
)
def test_is_image_file(name, folder, loader):
    assert is_image_file(name) is loader
    assert is_image_file(name, FOLDER_IMG_EXTENSIONS) is folder


def test_folder_dataset_lists_exactly_the_folder_extensions(tmp_path):
    """What CustomDataset reads from a folder is what is_image_file(.., FOLDER_...) says."""
    names = ['a.jpg', 'b.PNG', 'c.tif', 'd.tiff', 'e.webp', 'f.gif', 'g.txt', '.h.png']
    for name in names:
        (tmp_path / name).write_bytes(b'')
    ds = CustomDataset(data_root=str(tmp_path), with_label=False)
    got = sorted(ds.get_data_info(i)['img_path'].rsplit('/', 1)[-1] for i in range(len(ds)))
    assert got == sorted(n for n in names if is_image_file(n, FOLDER_IMG_EXTENSIONS))
