# Copyright (c) csml_mm contributors. All rights reserved.
"""Contrastive views made on the whole batch at once, in the data preprocessor."""

import math
from typing import List, Optional, Sequence, Tuple

import torch
from mmpretrain.models.utils.data_preprocessor import SelfSupDataPreprocessor
from mmpretrain.registry import MODELS

_LUMA = (0.299, 0.587, 0.114)  # RGB weights of the grey value (ITU-R BT.601, as PIL)


def sample_crop_boxes(
    n: int,
    scale: Tuple[float, float],
    ratio: Tuple[float, float],
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """``n`` random-resized-crop boxes as ``(cx, cy, w, h)`` fractions of the image side.

    Area fraction ``s ~ U(scale)``, log aspect ratio ``~ U(log ratio)``; ``w = sqrt(s r)``,
    ``h = sqrt(s / r)``, each clipped to 1 (torchvision retries and then falls back to a
    centre crop; clipping keeps one draw per image); the centre is uniform over the
    positions that keep the box inside the image.
    """
    u = torch.rand(n, 4, generator=generator)
    s = scale[0] + (scale[1] - scale[0]) * u[:, 0]
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 1]
    r = log_r.exp()
    w = (s * r).sqrt().clamp(max=1.0)
    h = (s / r).sqrt().clamp(max=1.0)
    cx = w / 2 + (1 - w) * u[:, 2]
    cy = h / 2 + (1 - h) * u[:, 3]
    return torch.stack([cx, cy, w, h], dim=1)


def _interp_matrix(
    centre: torch.Tensor, extent: torch.Tensor, flip: torch.Tensor, n_out: int, n_in: int
) -> torch.Tensor:
    """Per-image 1-D bilinear resampling matrices ``(n, n_out, n_in)``.

    Output pixel ``i`` (centre at ``(2i + 1) / n_out - 1`` in [-1, 1]) reads the input at
    ``x = extent * (+/-)(2i + 1 - n_out) / n_out + 2 centre - 1``, i.e. input pixel
    coordinate ``p = ((x + 1) n_in - 1) / 2``, clamped to the border, blended from its two
    neighbouring pixels: ``grid_sample``'s bilinear/border/``align_corners=False`` rule.
    """
    xo = (2 * torch.arange(n_out, dtype=extent.dtype, device=extent.device) + 1) / n_out - 1
    sign = 1.0 - 2.0 * flip.to(extent.dtype)
    x = (extent * sign)[:, None] * xo[None] + (2 * centre - 1)[:, None]
    p = (((x + 1) * n_in - 1) / 2).clamp(0, n_in - 1)
    p0 = p.floor()
    w1 = p - p0
    p0 = p0.long()
    p1 = (p0 + 1).clamp(max=n_in - 1)
    m = extent.new_zeros(len(extent), n_out, n_in)
    m.scatter_add_(2, p0[..., None], (1 - w1)[..., None])
    m.scatter_add_(2, p1[..., None], w1[..., None])
    return m


def resized_crop(
    images: torch.Tensor, boxes: torch.Tensor, flip: torch.Tensor, size: Tuple[int, int]
) -> torch.Tensor:
    """Crop ``boxes`` (``(cx, cy, w, h)`` fractions) out of ``images`` and resize to ``size``.

    Bilinear sampling with pixel centres at half-integers and border clamping (the values
    of ``grid_sample(..., 'bilinear', padding_mode='border', align_corners=False)``); a
    flipped row (``flip`` True) is mirrored left-right. An axis-aligned crop is separable,
    so it runs as two small batched matrix products (rows, then columns), several times
    cheaper than ``affine_grid`` + ``grid_sample`` on a CPU.
    """
    boxes = boxes.to(images)
    no_flip = torch.zeros_like(flip)
    rows = _interp_matrix(boxes[:, 1], boxes[:, 3], no_flip, size[0], images.shape[-2])
    cols = _interp_matrix(boxes[:, 0], boxes[:, 2], flip, size[1], images.shape[-1])
    return rows[:, None] @ images @ cols.transpose(1, 2)[:, None]


def _grey(x: torch.Tensor) -> torch.Tensor:
    w = x.new_tensor(_LUMA).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def colour_jitter(
    x: torch.Tensor,
    brightness: float,
    contrast: float,
    saturation: float,
    prob: float,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Brightness and contrast, then saturation jitter of RGB images in [0, 255].

    With probability ``prob`` per image, with ``b ~ U(1 -/+ brightness)``, ``c ~ U(1 -/+
    contrast)``, ``s ~ U(1 -/+ saturation)`` and ``m`` the image's mean grey value:
    ``x <- c (b x - b m) + b m`` (brightness then contrast, as PIL's ``ImageEnhance``
    formulas, fused into one per-image affine map and clipped once), then
    ``x <- s x + (1 - s) grey(x)``, clipped to [0, 255]. A fixed order; hue jitter is
    not offered.
    """
    n = x.shape[0]
    u = torch.rand(n, 4, generator=generator, device=x.device).to(x.dtype)
    apply = (u[:, 0] < prob).view(n, 1, 1, 1)
    out = x
    if brightness > 0 or contrast > 0:
        b = (1 - brightness + 2 * brightness * u[:, 1]).view(n, 1, 1, 1)
        c = (1 - contrast + 2 * contrast * u[:, 2]).view(n, 1, 1, 1)
        m = _grey(x).mean(dim=(1, 2, 3), keepdim=True) if contrast > 0 else 0.0
        out = (x * (b * c) + b * m * (1 - c)).clamp(0, 255)
    if saturation > 0:
        s = (1 - saturation + 2 * saturation * u[:, 3]).view(n, 1, 1, 1)
        g = _grey(out)
        out = ((out - g) * s + g).clamp(0, 255)
    return torch.where(apply, out, x)


@MODELS.register_module()
class BatchAugDataPreprocessor(SelfSupDataPreprocessor):
    """``SelfSupDataPreprocessor`` that also makes the contrastive views, batch-wise.

    In training each image that the dataloader delivers (one or several per sample, e.g.
    anchor and neighbour of ``NeighbourViewsDataset``) becomes ``views_per_input``
    independently augmented views, in order ``[img0_v0, img0_v1, ..., img1_v0, ...]``:
    a random resized crop (``crop_scale``, ``crop_ratio``) with a horizontal flip
    (``flip_prob``) in one ``grid_sample``, colour jitter (:func:`colour_jitter`) and
    random grey-scale (``gray_prob``); then the usual normalisation. At test time it is
    ``SelfSupDataPreprocessor``. The dataset pipeline then only packs the images
    (``MultiView(num_views=1, transforms=[[]])`` + ``PackInputs``), so a 2-core machine
    spends its time on the network instead of per-image PIL transforms (measured in
    ``tools/benchmarks/bench_batch_augment.py``). The same augmentation family as the
    MoCo v2 / SimCLR pipelines, drawn from torch's generator (so seeded and restored on
    resume like the rest of the run); blur and solarisation are not offered.

    Args:
        views_per_input: Views made from each delivered image.
        size: Output ``(h, w)``; default the input size.
        crop_scale, crop_ratio: As ``RandomResizedCrop``'s ``crop_ratio_range`` and
            ``aspect_ratio_range``.
        flip_prob: Probability of a horizontal flip.
        jitter_prob, brightness, contrast, saturation: Colour jitter.
        gray_prob: Probability of converting a view to grey (three equal channels).
        **kwargs: ``SelfSupDataPreprocessor``'s (``mean``, ``std``, ``to_rgb``).
    """

    def __init__(
        self,
        views_per_input: int = 2,
        size: Optional[Sequence[int]] = None,
        crop_scale: Tuple[float, float] = (0.2, 1.0),
        crop_ratio: Tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
        flip_prob: float = 0.5,
        jitter_prob: float = 0.8,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.4,
        gray_prob: float = 0.2,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if views_per_input < 1:
            raise ValueError(
                f'BatchAugDataPreprocessor: views_per_input must be >= 1, got {views_per_input}.'
            )
        if not 0 < crop_scale[0] <= crop_scale[1] <= 1:
            raise ValueError(
                f'BatchAugDataPreprocessor: crop_scale must satisfy '
                f'0 < min <= max <= 1, got {crop_scale}.'
            )
        self.views_per_input = int(views_per_input)
        self.size = None if size is None else (int(size[0]), int(size[-1]))
        self.crop_scale = tuple(float(s) for s in crop_scale)
        self.crop_ratio = tuple(float(r) for r in crop_ratio)
        self.flip_prob = float(flip_prob)
        self.jitter = (float(jitter_prob), float(brightness), float(contrast), float(saturation))
        self.gray_prob = float(gray_prob)

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        """One random view of every image of an RGB float batch in [0, 255]."""
        n = images.shape[0]
        size = self.size or tuple(images.shape[-2:])
        boxes = sample_crop_boxes(n, self.crop_scale, self.crop_ratio)
        flip = torch.rand(n) < self.flip_prob
        out = resized_crop(images, boxes.to(images.device), flip.to(images.device), size)
        prob, b, c, s = self.jitter
        if prob > 0:
            out = colour_jitter(out, b, c, s, prob)
        if self.gray_prob > 0:
            grey = (torch.rand(n, device=out.device) < self.gray_prob).view(n, 1, 1, 1)
            out = torch.where(grey, _grey(out).expand_as(out), out)
        return out

    def forward(self, data: dict, training: bool = False) -> dict:
        if not training:
            return super().forward(data, training)
        inputs, samples = self.cast_data([data['inputs'], data.get('data_samples')])
        inputs = inputs if isinstance(inputs, list) else [inputs]
        views: List[torch.Tensor] = []
        for img in inputs:
            if self._channel_conversion:
                img = img[:, [2, 1, 0], ...]
            img = img.float()
            views += [self.augment(img) for _ in range(self.views_per_input)]
        if self._enable_normalize:
            views = [(v - self.mean) / self.std for v in views]
        return {'inputs': views, 'data_samples': samples}
