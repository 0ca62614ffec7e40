# Copyright (c) csml_mm contributors. All rights reserved.
"""Load a self-supervised backbone into a downstream model (``PretrainedBackbone``).

Every benchmark config (linear probe, semi-supervised and full fine-tuning, detection)
sets ``model.backbone.init_cfg=dict(type='PretrainedBackbone', checkpoint=None)``; the
user passes the pretrained file on the command line::

    python tools/train.py CONFIG --cfg-options model.backbone.init_cfg.checkpoint=PATH

The initializer accepts

- a full mmengine training checkpoint of any csml_mm / mmpretrain algorithm
  (``state_dict`` keys ``backbone.*``; momentum encoders such as
  ``momentum_encoder.module.0.*`` or ``encoder_k.module.0.*`` are ignored unless
  ``momentum=True``),
- a backbone-only file written by ``tools/model_converters/extract_backbone.py``
  (``{'state_dict': {<backbone keys without prefix>}, 'meta': {...}}``), or a plain
  state dict of backbone keys,

loads it with ``weights_only=True`` (:func:`csml_mm.utils.safe_torch_load`) and
``strict=False``, logs ``matched N/M backbone keys (missing: ..., unexpected: ...)``,
and raises when no key matches (wrong file, or a backbone of another architecture).

Why not mmengine's ``Pretrained``: it asserts only that *some* key has the prefix, and a
partial match (e.g. a checkpoint of another depth) only produces a warning buried in
the log. Here the match count is always printed, and an empty match is an error.

mmengine runs ``Pretrained`` initializers *after* the children's ``init_weights`` and
mmpretrain backbones skip their own post-initialisation (``zero_init_residual``, the
ViT position-embedding and FFN re-initialisation) only for ``type='Pretrained'``. A
differently named initializer runs *before* the children, so the loaded weights would
be overwritten. :class:`PretrainedBackboneInit` therefore (1) re-applies the loaded
tensors after each child's ``init_weights`` and (2) marks the module's ``init_cfg`` as
pretrained so that the backbone's own post-initialisation is skipped.
"""

import types
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import MMLogger, print_log
from mmengine.registry import WEIGHT_INITIALIZERS

__all__ = [
    'PretrainedBackboneInit',
    'get_state_dict',
    'select_backbone_state',
    'find_momentum_prefix',
    'load_backbone_checkpoint',
]

#: Prefixes under which a DDP / wrapper may have stored the whole model.
_WRAPPER_PREFIXES = ('module.',)


def _summarise(keys: List[str], limit: int = 8) -> str:
    if not keys:
        return 'none'
    shown = ', '.join(keys[:limit])
    return shown + (f', ... (+{len(keys) - limit} more)' if len(keys) > limit else '')


def get_state_dict(ckpt: object, source: str = '<checkpoint>') -> Dict[str, torch.Tensor]:
    """Return the tensor state dict inside a loaded checkpoint object.

    Accepts ``{'state_dict': {...}}`` (mmengine and extract_backbone.py files),
    ``{'model': {...}}`` and a plain ``{name: tensor}`` dict. A leading ``module.``
    on every key (a DDP-wrapped model saved by hand) is stripped.
    """
    if not isinstance(ckpt, dict):
        raise ValueError(f'{source} holds a {type(ckpt).__name__}, not a checkpoint dict.')
    state = ckpt
    for key in ('state_dict', 'model'):
        if isinstance(ckpt.get(key), dict):
            state = ckpt[key]
            break
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise ValueError(
            f'{source} contains no tensors (keys: {_summarise(list(ckpt))}); '
            'expected an mmengine checkpoint or a state dict.'
        )
    for wrapper in _WRAPPER_PREFIXES:
        if all(k.startswith(wrapper) for k in state):
            state = {k[len(wrapper) :]: v for k, v in state.items()}
    return state


def find_momentum_prefix(state: Dict[str, torch.Tensor], prefix: str = 'backbone.') -> str:
    """Find the key prefix of the momentum (EMA) copy of the backbone.

    The momentum prefix is the one other prefix ``P`` under which *every* backbone key
    ``prefix + k`` also exists as ``P + k`` (MoCo: ``momentum_encoder.module.0.``,
    CsMl: ``encoder_k.module.0.``, BYOL: ``target_net.module.0.``).
    """
    suffixes = [k[len(prefix) :] for k in state if k.startswith(prefix)]
    if not suffixes:
        raise KeyError(f'No "{prefix}*" keys: cannot locate the momentum encoder.')
    # The longest suffix is the most distinctive one to anchor the search.
    anchor = max(suffixes, key=len)
    candidates = set()
    for key in state:
        if key.endswith('.' + anchor) and key != prefix + anchor:
            candidates.add(key[: -len(anchor)])
    found = sorted(p for p in candidates if all(p + s in state for s in suffixes))
    if len(found) != 1:
        raise KeyError(
            f'Expected exactly one momentum copy of the "{prefix}*" keys, found '
            f'{found or "none"}. Pass the prefix explicitly instead.'
        )
    return found[0]


def select_backbone_state(
    state: Dict[str, torch.Tensor],
    prefix: Optional[str] = 'backbone.',
    momentum: bool = False,
    source: str = '<checkpoint>',
) -> Tuple[Dict[str, torch.Tensor], str]:
    """Pick the backbone tensors of a state dict and strip their prefix.

    Args:
        state: A tensor state dict (see :func:`get_state_dict`).
        prefix: Key prefix of the backbone in a full checkpoint. If no key starts with
            it, the state dict is taken to be backbone-only and returned unchanged.
            ``None`` or ``''`` always takes the state dict as it is.
        momentum: Take the momentum encoder's copy of the backbone instead.
        source: Name of the file for error messages.

    Returns:
        ``(backbone_state, used_prefix)``.
    """
    if momentum:
        if not prefix or not any(k.startswith(prefix) for k in state):
            raise KeyError(
                f'{source}: --momentum needs a full training checkpoint with '
                f'"{prefix}*" keys; this one has {_summarise(sorted(state))}.'
            )
        prefix = find_momentum_prefix(state, prefix)
    if prefix and any(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}, prefix
    return dict(state), ''


def load_backbone_checkpoint(
    path: str,
    prefix: Optional[str] = 'backbone.',
    momentum: bool = False,
    map_location: str = 'cpu',
) -> Tuple[Dict[str, torch.Tensor], str]:
    """Load ``path`` safely (``weights_only=True``) and return its backbone tensors."""
    from csml_mm.utils.checkpoint import safe_torch_load

    ckpt = safe_torch_load(path, map_location=map_location)
    state = get_state_dict(ckpt, source=path)
    return select_backbone_state(state, prefix=prefix, momentum=momentum, source=path)


@WEIGHT_INITIALIZERS.register_module(name='PretrainedBackbone')
class PretrainedBackboneInit:
    """Initialise a backbone from a self-supervised checkpoint and report the match.

    Registered in mmengine's root ``WEIGHT_INITIALIZERS``, so it is found from
    mmpretrain and mmdet configs alike.

    Args:
        checkpoint (str, optional): Path of a training checkpoint or of an
            ``extract_backbone.py`` output. ``None`` raises an error that tells the user
            to pass ``--cfg-options model.backbone.init_cfg.checkpoint=PATH``.
        prefix (str): Backbone key prefix in full checkpoints. Defaults to
            ``'backbone.'``; keys without it are taken as backbone keys.
        momentum (bool): Load the momentum encoder's backbone. Defaults to False.
        map_location (str): Defaults to ``'cpu'``.
        cfg_key (str): The config path shown in the error for a missing checkpoint.
    """

    def __init__(
        self,
        checkpoint: Optional[str] = None,
        prefix: str = 'backbone.',
        momentum: bool = False,
        map_location: str = 'cpu',
        cfg_key: str = 'model.backbone.init_cfg.checkpoint',
    ) -> None:
        if not checkpoint:
            raise ValueError(
                'This benchmark config needs a pretrained checkpoint: pass '
                f'`--cfg-options {cfg_key}=/path/to/epoch_N.pth` (a training checkpoint or '
                'the output of tools/model_converters/extract_backbone.py).'
            )
        self.checkpoint = str(checkpoint)
        self.prefix = prefix
        self.momentum = momentum
        self.map_location = map_location

    def __call__(self, module: nn.Module) -> None:
        state, used_prefix = load_backbone_checkpoint(
            self.checkpoint,
            prefix=self.prefix,
            momentum=self.momentum,
            map_location=self.map_location,
        )
        own = module.state_dict()
        try:
            # A shallow copy: load pre-hooks (e.g. ViT pos_embed resizing) edit the dict.
            result = module.load_state_dict(dict(state), strict=False)
        except RuntimeError as e:
            raise RuntimeError(
                f'{self.checkpoint} does not fit {type(module).__name__}: the tensor '
                'shapes differ. Make the backbone settings (depth, widths, arch, patch '
                f'size) equal to those of the pretraining config. {e}'
            ) from e
        # BatchNorm fills in a missing ``num_batches_tracked`` itself, so torch's
        # missing_keys can be shorter than the keys the file really lacked.
        missing = [k for k in own if k not in state or k in set(result.missing_keys)]
        unexpected = list(result.unexpected_keys)
        matched = len(own) - len(missing)
        logger = MMLogger.get_current_instance()
        where = f'"{used_prefix}*" of ' if used_prefix else ''
        print_log(
            f'PretrainedBackbone: matched {matched}/{len(own)} backbone keys from '
            f'{where}{self.checkpoint} (missing: {_summarise(missing)}, unexpected: '
            f'{_summarise(unexpected)})',
            logger=logger,
        )
        if matched == 0:
            raise RuntimeError(
                f'No key of {self.checkpoint} matches {type(module).__name__} (checkpoint '
                f'keys: {_summarise(sorted(state))}; model keys: {_summarise(list(own))}). '
                'Is it a checkpoint of this backbone? For a momentum encoder set '
                'init_cfg.momentum=True; for a custom prefix set init_cfg.prefix.'
            )
        self._protect(module, {k: v for k, v in state.items() if k in own})
        if hasattr(module, '_params_init_info'):
            from mmengine.model.weight_init import update_init_info

            update_init_info(module, init_info=self._get_init_info())

    def _protect(self, module: nn.Module, loaded: Dict[str, torch.Tensor]) -> None:
        """Keep the loaded tensors through the rest of ``module.init_weights()``.

        mmengine calls every child's ``init_weights`` after the non-``Pretrained``
        initializers; each child that received tensors gets a one-shot wrapper that
        reloads them afterwards. The module's ``init_cfg`` is then marked as
        ``'Pretrained'``, which mmpretrain backbones check to skip their own
        post-initialisation (ResNet ``zero_init_residual``, ViT ``pos_embed``).
        """
        for name, child in module.named_children():
            own = {k[len(name) + 1 :]: v for k, v in loaded.items() if k.startswith(name + '.')}
            if not own or not hasattr(child, 'init_weights'):
                continue
            original = child.init_weights

            def reload(self_child, _original=original, _own=own):
                _original()
                self_child.load_state_dict(_own, strict=False)
                del self_child.init_weights  # back to the class method

            child.init_weights = types.MethodType(reload, child)
        if isinstance(getattr(module, 'init_cfg', None), dict):
            module.init_cfg = dict(
                module.init_cfg, type='Pretrained', loaded_by='PretrainedBackbone'
            )

    def _get_init_info(self) -> str:
        return f'{self.__class__.__name__}: load from {self.checkpoint}'
