"""Read the backbone config that mmengine stores in a training checkpoint, without running it.

mmengine's ``Runner`` saves ``meta['cfg']``: the config as Python source text
(``Config.pretty_text``, e.g. ``model = dict(backbone=dict(type='ResNet_CIFAR', ...))``).
The converters only need a few literal values from it (backbone ``type``, ``arch``,
``norm_cfg``), so the text is parsed with :mod:`ast` and only literals, ``dict(...)`` calls,
lists, tuples and dicts are evaluated: nothing in the checkpoint is executed, in keeping with
the ``weights_only=True`` loading of the checkpoint itself.
"""

import ast
from typing import Any, Optional

from csml_mm.utils import safe_torch_load


class _Opaque:
    """Stands for a config value that is not a plain literal (never equal to a literal)."""

    def __repr__(self) -> str:
        return '<not a literal>'


OPAQUE = _Opaque()


def _literal(node: ast.AST) -> Any:
    """Value of a literal config node; :data:`OPAQUE` for anything else."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
        return OPAQUE
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(e) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):  # ``**other`` inside a dict display
            return OPAQUE
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == 'dict'
        and not node.args
        and all(kw.arg is not None for kw in node.keywords)
    ):
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    return OPAQUE


def parse_model_cfg(cfg_text: str) -> Optional[dict]:
    """The ``model = ...`` dict of a config's source text, or ``None`` if there is none."""
    try:
        tree = ast.parse(cfg_text)
    except SyntaxError:
        return None
    model = None
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == 'model'
        ):
            model = _literal(stmt.value)
    return model if isinstance(model, dict) else None


def stored_backbone_cfg(path: str) -> Optional[dict]:
    """``model.backbone`` of the config stored in the checkpoint at ``path``, if any.

    Returns ``None`` for a file without a stored config (e.g. an ``extract_backbone.py``
    output) or with one that has no literal ``model.backbone`` dict.
    """
    ckpt = safe_torch_load(path, map_location='cpu')
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    cfg_text = meta.get('cfg') if isinstance(meta, dict) else None
    if not isinstance(cfg_text, str):
        return None
    model = parse_model_cfg(cfg_text)
    backbone = model.get('backbone') if model else None
    return backbone if isinstance(backbone, dict) else None
