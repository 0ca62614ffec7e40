"""A RandomResizedCrop that remembers where each view came from."""

from typing import Tuple

import mmcv
import numpy as np
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS


def _flip_axes(flip: bool, direction) -> Tuple[bool, bool]:
    """(horizontal, vertical) mirroring implied by mmcv's ``flip``/``flip_direction``."""
    if not flip:
        return False, False
    direction = direction or 'horizontal'
    if direction not in ('horizontal', 'vertical', 'diagonal'):
        raise ValueError(
            f'Unknown flip_direction {direction!r}; mmcv uses horizontal, vertical or diagonal.'
        )
    return direction in ('horizontal', 'diagonal'), direction in ('vertical', 'diagonal')


@TRANSFORMS.register_module()
class RandomResizedCropWithBox(RandomResizedCrop):
    """mmpretrain's ``RandomResizedCrop`` that records its crop box.

    Same parameters, random draws and output image as
    :class:`mmpretrain.datasets.transforms.RandomResizedCrop`; in addition it
    writes

    - ``crop_box``: ``(top, left, height, width)`` of the crop in the pixel
      coordinates of the image the crop received (for APS: the original image,
      identical for every view), as a float64 array of shape (4, ).
    - ``flip`` / ``flip_direction``: set to ``False`` / ``None`` unless they
      are already present; a later ``RandomFlip`` overwrites them, which is how
      the flip of the view is recorded (mmcv's ``RandomFlip`` writes both keys).

    If the image was already flipped when the crop runs (``RandomFlip`` before
    the crop), the box is mirrored back into the un-flipped image's frame and
    the flip keys are kept, so ``crop_box`` always refers to the un-flipped
    image and ``flip`` says whether the view is mirrored relative to it.

    Put it as the first geometric transform of each view pipeline (inside
    :class:`MultiViewWithKeys`): a resize or rotation between it and the end
    of the view pipeline would invalidate the box.
    """

    def transform(self, results: dict) -> dict:
        img = results['img']
        in_h, in_w = img.shape[:2]
        top, left, height, width = self.rand_crop_params(img)
        img = mmcv.imcrop(img, bboxes=np.array([left, top, left + width - 1, top + height - 1]))
        img = mmcv.imresize(
            img, tuple(self.scale[::-1]), interpolation=self.interpolation, backend=self.backend
        )
        flip_h, flip_v = _flip_axes(results.get('flip', False), results.get('flip_direction'))
        box_top = in_h - top - height if flip_v else top
        box_left = in_w - left - width if flip_h else left
        results['img'] = img
        results['img_shape'] = img.shape
        results['crop_box'] = np.array([box_top, box_left, height, width], dtype=np.float64)
        results.setdefault('flip', False)
        results.setdefault('flip_direction', None)
        return results
