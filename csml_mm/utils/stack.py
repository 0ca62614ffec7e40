"""Which OpenMMLab stack this environment has: the main job's, or the detection one.

``make setup`` installs the stack the main job needs (pretraining, kNN, linear probes, every
mmpretrain part): ``mmcv-lite``, the pure-Python distribution of mmcv (imported as ``mmcv``),
no build. Detection transfer needs more: mmdet, and mmcv's compiled ops (RoIAlign, NMS), which
``make setup-det`` builds once. :func:`load_config` is how the command-line tools read a config:
a detection config on the main job's stack stops with one line that names the fix, instead of
a traceback from deep inside mmdet or a ``mmdet::`` base that does not resolve.
"""

import importlib.util
import os.path as osp
import re
from typing import List

from mmengine.config import Config

from .errors import StackError

#: the command that installs what detection needs, in a source checkout
SETUP_DET = 'make setup-det'


def missing_detection_parts() -> List[str]:
    """What detection needs and this environment lacks: ``[]``, or some of
    ``'mmdet'`` and ``"mmcv's compiled ops"``."""
    missing = []
    if importlib.util.find_spec('mmdet') is None:
        missing.append('mmdet')
    if importlib.util.find_spec('mmcv') is None or importlib.util.find_spec('mmcv._ext') is None:
        missing.append("mmcv's compiled ops")
    return missing


def detection_stack_message(what: str, missing: List[str]) -> str:
    return (
        f'{what} needs the detection stack, and this environment lacks '
        f'{" and ".join(missing)} (make setup installs mmcv-lite, without compiled ops). '
        f'Fix: run `{SETUP_DET}` in the csml_mm checkout (builds mmcv with its ops once, '
        'cached, and installs mmdet), or in your own environment install mmcv 2.1 with its '
        'ops and `pip install csml_mm[det]` (README, "Installation").'
    )


#: a ``mmdet::`` base, mmdet's default scope, or a quoted mmdet module or type ('mmdet.models')
_MMDET_USE = re.compile(r"""mmdet::|default_scope\s*=\s*['"]mmdet['"]|['"]mmdet(\.[\w.]+)?['"]""")


def _mentions_mmdet(path: str, seen=None) -> bool:
    """Whether a config file or one of its local ``_base_`` files names mmdet (a ``mmdet::``
    base, ``default_scope='mmdet'``, an mmdet import). A text check: it must work where the
    config cannot be parsed, because a ``mmdet::`` base does not resolve without mmdet."""
    seen = set() if seen is None else seen
    path = osp.abspath(path)
    if path in seen or not osp.isfile(path):
        return False
    seen.add(path)
    with open(path, encoding='utf-8', errors='replace') as f:
        text = f.read()
    if _MMDET_USE.search(text):
        return True
    for base in re.findall(r"""['"]([^'"]+\.py)['"]""", text):
        if '::' not in base and _mentions_mmdet(osp.join(osp.dirname(path), base), seen):
            return True
    return False


def require_detection_stack(what: str = 'this tool') -> None:
    """Raise :class:`StackError` when mmdet or mmcv's compiled ops are missing."""
    missing = missing_detection_parts()
    if missing:
        raise StackError(detection_stack_message(what, missing))


def load_config(path: str) -> Config:
    """``Config.fromfile(path)``, refusing a detection config on the main job's stack."""
    missing = missing_detection_parts()
    if missing and _mentions_mmdet(path):
        raise StackError(detection_stack_message(f'{path} is a detection config: it', missing))
    return Config.fromfile(path)
