"""A multi-view wrapper that keeps per-view keys (boxes, flips) next to the images."""

import copy
from typing import List, Optional, Sequence, Union

from mmpretrain.datasets.transforms import MultiView
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class MultiViewWithKeys(MultiView):
    """``MultiView`` that also collects chosen keys of every view.

    mmpretrain's :class:`~mmpretrain.datasets.transforms.MultiView` runs each
    view pipeline on a deep copy of the input and keeps only the output
    ``img``; anything a view pipeline records about itself (its crop box, its
    flip) is lost. This wrapper does the same, and for every name in ``keys``
    writes the list of the views' values (``None`` for a view that did not set
    the key)::

        results['img']      = [img_view0, img_view1, ...]
        results['crop_box'] = [box_view0, box_view1, ...]
        results['flip']     = [flip_view0, flip_view1, ...]

    Later transforms (:class:`SparsePatchSampling`,
    :class:`SelectivePatchSampling`) read these lists and add their own
    per-view list (``patch_ids``); ``PackInputs(algorithm_keys=['patch_ids'])``
    puts that list on the ``DataSample`` so that the model receives, for view
    ``v`` of sample ``i``, ``data_samples[i].patch_ids[v]``.

    Args:
        transforms: One list of transforms per view pipeline (as ``MultiView``).
        num_views: Views drawn from each pipeline (as ``MultiView``).
        keys: Per-view keys to collect. Defaults to the keys written by
            :class:`RandomResizedCropWithBox` and ``RandomFlip``.
    """

    DEFAULT_KEYS = ('crop_box', 'flip', 'flip_direction')

    def __init__(
        self,
        transforms: List[list],
        num_views: Union[int, List[int]],
        keys: Sequence[str] = DEFAULT_KEYS,
    ) -> None:
        super().__init__(transforms, num_views)
        if isinstance(keys, str):
            keys = (keys,)
        if 'img' in keys:
            raise ValueError("MultiViewWithKeys: 'img' is always collected; leave it out of keys.")
        self.keys = tuple(keys)

    def transform(self, results: dict) -> Optional[dict]:
        outputs = []
        for pipeline in self.transforms:
            out = pipeline(copy.deepcopy(results))
            if out is None:  # a view pipeline dropped the sample
                return None
            outputs.append(out)
        results['img'] = [out['img'] for out in outputs]
        for key in self.keys:
            results[key] = [out.get(key) for out in outputs]
        return results

    def __repr__(self) -> str:
        return super().__repr__() + f'\nkeys={self.keys}'
