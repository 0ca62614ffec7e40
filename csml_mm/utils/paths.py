# Copyright (c) csml_mm contributors. All rights reserved.
"""Find the configs and tools that come with csml_mm.

A regular (non-editable) install ships the repository's ``configs/`` and
``tools/`` inside the package, under ``csml_mm/.mim/`` (``setup.py`` copies
them there at build time, the layout ``mim`` expects). A source checkout,
used through an editable install or ``PYTHONPATH``, has them next to the
package instead. :func:`package_path` looks in that order.
"""

import os.path as osp
from typing import List

#: Folder, inside the installed package, that holds the shipped configs and tools.
MIM_DIR = '.mim'

_PKG_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _candidate_roots() -> List[str]:
    """Roots that may hold ``configs/`` and ``tools/``, in search order."""
    roots = []
    installed = osp.join(_PKG_DIR, MIM_DIR)
    if osp.isdir(installed):
        roots.append(installed)
    checkout = osp.dirname(_PKG_DIR)
    if osp.isfile(osp.join(checkout, 'setup.py')) and osp.isdir(osp.join(checkout, 'configs')):
        roots.append(checkout)
    return roots


def package_path(*parts: str) -> str:
    """Absolute path of a file or folder shipped with csml_mm.

    Args:
        *parts: Path components relative to the root that holds ``configs/``
            and ``tools/``, e.g. ``package_path('tools', 'train.py')`` or
            ``package_path('configs/mocov2')``. No parts: the root itself.

    Returns:
        str: The absolute path (``.../csml_mm/.mim/...`` for an installed
        package, the source checkout for an editable install).

    Raises:
        ValueError: If the path is absolute.
        FileNotFoundError: If no root holds the path.
    """
    rel = osp.join(*parts) if parts else ''
    if osp.isabs(rel):
        raise ValueError(f'package_path takes a path relative to the package root, got {rel!r}.')
    roots = _candidate_roots()
    for root in roots:
        path = osp.normpath(osp.join(root, rel))
        if osp.exists(path):
            return path
    where = (
        ', '.join(roots)
        if roots
        else (
            f'none: neither {osp.join(_PKG_DIR, MIM_DIR)} nor a source checkout around {_PKG_DIR} '
            'exists (was csml_mm installed from a wheel built without configs/ and tools/?)'
        )
    )
    raise FileNotFoundError(
        f'{rel or "the package root"!r} is not shipped with csml_mm (searched: {where}).'
    )


def get_config_path(name: str) -> str:
    """Absolute path of a shipped config.

    Args:
        name: Path relative to ``configs/``, e.g.
            ``'mocov2/mocov2_resnet18-w16_1xb64-coslr-12e_digits.py'``; a
            leading ``configs/`` is accepted too.

    Returns:
        str: The absolute path of the config file.
    """
    rel = name[len('configs/') :] if name.startswith('configs/') else name
    path = package_path('configs', rel)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} is not a config file.')
    return path
