r"""Asymmetric patch sampling (APS; Shen et al., arXiv 2306.02854, Pattern Recognition 2025).

Two views of one image are cropped independently (:class:`RandomResizedCropWithBox`
records each crop box). The patch grid of each view is ``(H / p) x (W / p)``.

* View 1, **sparse sampling** (:class:`SparsePatchSampling`): one random
  permutation of its ``G`` patch ids cut into ``rounds`` consecutive chunks of
  ``n = int(G * ratio)`` ids; the chunks are disjoint (and cover the grid when
  ``rounds * ratio = 1``).
* View 2, **selective sampling** (:class:`SelectivePatchSampling`), per round
  ``j``: every view-2 cell ``c`` gets the fraction of its area covered by view
  1's chosen patches, both mapped into the original image through the crop
  boxes,

  .. math::
      \mathrm{cov}_j(c) = \frac{1}{|c|}\sum_{k \in S_j} |\mathrm{cell}^{(1)}_k
      \cap \mathrm{cell}^{(2)}_c|, \qquad
      p_j(c) \propto \big(1 - \min(1, \mathrm{cov}_j(c))\big)^{\gamma},

  and ``n`` distinct cells are drawn from :math:`p_j` without replacement
  (successive sampling, done in one shot with exponential keys). ``gamma = 0`` is uniform sampling.

The overlap of two axis-aligned grids is separable: with :math:`O^y` the
[rows1, rows2] matrix of row-interval overlaps and :math:`O^x` the
[cols1, cols2] matrix of column-interval overlaps, the covered area of all
view-2 cells is :math:`(O^y)^\top M_j O^x` for the 0/1 mask :math:`M_j` of
view 1's chosen cells: no loop over patches.

Flips: a horizontally flipped view shows original column ``g - 1 - c`` at
column ``c``. With ``flip_aware=True`` (default) both masks are mirrored
accordingly, so "low overlap" holds in image content. The released code
records the box before the flip and ignores it (``flip_aware=False`` here
reproduces that): for a flipped view its "avoided" cells are the mirror images
of the truly covered ones.

Random numbers come from numpy's global generator (``np.random``), which
mmengine seeds per dataloader worker, like mmpretrain's own transforms.
"""

from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmpretrain.registry import TRANSFORMS

from .geometry import _flip_axes

#: Free fractions below this count as fully covered (float residue of the overlap sums).
FREE_EPS = 1e-6


def _pair(x: Union[int, Sequence[int]]) -> Tuple[int, int]:
    if isinstance(x, int):
        return x, x
    if len(x) != 2:
        raise ValueError(f'patch_size must be an int or (h, w), got {x!r}.')
    return int(x[0]), int(x[1])


def patch_grid(img_shape: Sequence[int], patch_size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """Rows and columns of the patch grid of an image of ``img_shape`` (H, W, ...)."""
    ph, pw = _pair(patch_size)
    h, w = int(img_shape[0]), int(img_shape[1])
    if ph <= 0 or pw <= 0:
        raise ValueError(f'patch_size must be positive, got {patch_size!r}.')
    if h % ph or w % pw:
        raise ValueError(
            f'Image size {h}x{w} is not divisible by the patch size {ph}x{pw}: the patch grid '
            'would not tile the view. Make the crop scale (RandomResizedCropWithBox(scale=...)) '
            'a multiple of the patch size, or change patch_size.'
        )
    return h // ph, w // pw


def num_sampled(num_patches: int, ratio: float) -> int:
    """``int(num_patches * ratio)`` (the released code's rounding), guarded against 0."""
    n = int(num_patches * ratio + 1e-9)
    if n < 1:
        raise ValueError(
            f'ratio={ratio} of {num_patches} patches selects no patch; raise the '
            'ratio or use a finer patch grid.'
        )
    return n


def sparse_patch_ids(num_patches: int, ratio: float, rounds: int, rng=np.random) -> np.ndarray:
    """Disjoint random subsets of ``range(num_patches)``, shape [rounds, n], each row sorted.

    ``rng`` is ``np.random`` (the global generator) or a ``np.random.Generator``.
    """
    n = num_sampled(num_patches, ratio)
    if rounds * n > num_patches:
        raise ValueError(
            f'{rounds} rounds of {n} patches need {rounds * n} distinct patches but '
            f'the grid has {num_patches}: keep ratio x rounds <= 1.'
        )
    perm = np.asarray(rng.permutation(num_patches))
    return np.sort(perm[: rounds * n].reshape(rounds, n), axis=1).astype(np.int64)


def _interval_overlaps(
    start_a: float, length_a: float, num_a: int, start_b: float, length_b: float, num_b: int
) -> np.ndarray:
    """Overlap lengths [num_a, num_b] between two regular partitions of two intervals."""
    a = start_a + length_a / num_a * np.arange(num_a + 1)
    b = start_b + length_b / num_b * np.arange(num_b + 1)
    lo = np.maximum(a[:-1, None], b[None, :-1])
    hi = np.minimum(a[1:, None], b[None, 1:])
    return np.maximum(hi - lo, 0.0)


def covered_fraction(
    ids1: np.ndarray,
    box1: Sequence[float],
    grid1: Tuple[int, int],
    box2: Sequence[float],
    grid2: Tuple[int, int],
    flip1: Tuple[bool, bool] = (False, False),
    flip2: Tuple[bool, bool] = (False, False),
) -> np.ndarray:
    """Fraction of each view-2 cell covered by view 1's chosen cells.

    Args:
        ids1: View-1 patch ids (row-major in view 1's image), [rounds, n] or [n].
        box1, box2: Crop boxes ``(top, left, height, width)`` in original pixels.
        grid1, grid2: Patch grids ``(rows, cols)`` of the two views.
        flip1, flip2: ``(horizontal, vertical)`` mirroring of each view.

    Returns:
        [rounds, rows2 * cols2] (or [rows2 * cols2]) covered fractions in [0, 1],
        indexed by view 2's row-major patch ids.
    """
    ids1 = np.asarray(ids1)
    squeeze = ids1.ndim == 1
    ids1 = ids1.reshape(-1, ids1.shape[-1])
    (gh1, gw1), (gh2, gw2) = grid1, grid2
    t1, l1, h1, w1 = (float(v) for v in box1)
    t2, l2, h2, w2 = (float(v) for v in box2)
    mask = np.zeros((ids1.shape[0], gh1 * gw1))
    mask[np.arange(ids1.shape[0])[:, None], ids1] = 1.0
    mask = mask.reshape(-1, gh1, gw1)
    # Into the un-flipped (original) orientation.
    if flip1[0]:
        mask = mask[:, :, ::-1]
    if flip1[1]:
        mask = mask[:, ::-1, :]
    oy = _interval_overlaps(t1, h1, gh1, t2, h2, gh2)  # [gh1, gh2]
    ox = _interval_overlaps(l1, w1, gw1, l2, w2, gw2)  # [gw1, gw2]
    area = oy.T @ mask @ ox  # [rounds, gh2, gw2], original orientation of view 2's cells
    if flip2[0]:
        area = area[:, :, ::-1]
    if flip2[1]:
        area = area[:, ::-1, :]
    cov = np.minimum(area.reshape(-1, gh2 * gw2) * (gh2 * gw2 / (h2 * w2)), 1.0)
    return cov[0] if squeeze else cov


def selection_weights(covered: np.ndarray, power: float) -> np.ndarray:
    """Unnormalised selection weights ``(1 - covered) ** power`` (0 where fully covered)."""
    free = 1.0 - np.asarray(covered, dtype=np.float64)
    free[free < FREE_EPS] = 0.0
    if power == 0:
        return np.ones_like(free)  # uniform, covered cells included (0 ** 0 = 1)
    if power == int(power) and power <= 4:  # repeated products: faster than np.power
        w = free
        for _ in range(int(power) - 1):
            w = w * free
        return w
    return free**power


def selection_probabilities(covered: np.ndarray, power: float) -> np.ndarray:
    """The first-draw probabilities :math:`p_j(c)`; rows with no free cell become uniform."""
    w = selection_weights(covered, power)
    total = w.sum(axis=-1, keepdims=True)
    uniform = np.full_like(w, 1.0 / w.shape[-1])
    return np.where(total > 0, w / np.where(total > 0, total, 1.0), uniform)


def sample_without_replacement(weights: np.ndarray, n: int, rng=np.random) -> np.ndarray:
    """Draw ``n`` distinct indices per row of ``weights`` [rows, G], each row sorted.

    Successive sampling proportional to the weights (the law of
    ``choice(replace=False, p=...)``), computed in one shot as the ``n`` smallest
    keys ``E_c / w_c`` with ``E_c ~ Exp(1)`` (equivalently the top-``n`` of
    ``log w_c + Gumbel``; Efraimidis & Spirakis 2006). Zero-weight entries are
    taken only when a row has fewer than ``n`` positive weights, and then
    uniformly at random among themselves, so the draw never fails.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if n > weights.shape[-1]:
        raise ValueError(f'Cannot draw {n} distinct patches from a grid of {weights.shape[-1]}.')
    expo = np.asarray(rng.standard_exponential(weights.shape))
    positive = weights > 0
    with np.errstate(divide='ignore'):
        keys = expo / weights  # +inf where the weight is 0
    short = positive.sum(axis=-1) < n
    if short.any():  # rare: rank the zero-weight cells after the positive ones, at random
        finite_max = np.where(positive, keys, 0.0).max(axis=-1, keepdims=True)
        keys = np.where(positive | ~short[..., None], keys, finite_max + 1.0 + expo)
    top = np.argpartition(keys, n - 1, axis=-1)[..., :n]
    return np.sort(top, axis=-1).astype(np.int64)


def _views(results: dict, who: str) -> list:
    imgs = results.get('img')
    if not isinstance(imgs, list) or len(imgs) < 2:
        raise ValueError(
            f'{who} needs a multi-view sample (results["img"] a list of >= 2 views). Put it '
            'after MultiViewWithKeys(...) in the pipeline; see configs/_base_/datasets/*aps*.py.'
        )
    return imgs


def _per_view(results: dict, key: str, num_views: int, who: str, fix: str) -> list:
    values = results.get(key)
    if not isinstance(values, list) or len(values) != num_views:
        raise KeyError(
            f"{who}: no per-view {key!r} list in the sample. {fix} (mmpretrain's MultiView "
            'drops every per-view key except img; MultiViewWithKeys keeps them.)'
        )
    return values


_BOX_FIX = (
    'Start every view pipeline with RandomResizedCropWithBox and wrap the views with '
    "MultiViewWithKeys(keys=('crop_box', 'flip', 'flip_direction'))."
)


@TRANSFORMS.register_module()
class SparsePatchSampling(BaseTransform):
    """View 1 of APS: ``rounds`` disjoint random subsets of the patch grid.

    **Required keys:** ``img`` (list of views, from :class:`MultiViewWithKeys`).
    **Added keys:** ``patch_ids``: a list with one entry per view; entry
    ``view`` is an int64 array [rounds, n], ``n = int(G * ratio)`` with ``G``
    the number of patches (image size / ``patch_size``). Other entries are left
    as they are (``None`` if new).

    Args:
        patch_size: The backbone's patch size (int or (h, w)).
        ratio: Fraction of patches per round (official: 0.25).
        rounds: Sampling rounds, one optimiser step each (official: 4).
            ``ratio * rounds`` must not exceed 1 (disjoint rounds).
        view: Index of the sparse view.
    """

    def __init__(
        self,
        patch_size: Union[int, Sequence[int]] = 16,
        ratio: float = 0.25,
        rounds: int = 4,
        view: int = 0,
    ) -> None:
        self.patch_size = _pair(patch_size)
        if not 0 < ratio <= 1:
            raise ValueError(f'SparsePatchSampling: ratio must be in (0, 1], got {ratio}.')
        if int(rounds) != rounds or rounds < 1:
            raise ValueError(f'SparsePatchSampling: rounds must be a positive int, got {rounds}.')
        if ratio * rounds > 1 + 1e-9:
            raise ValueError(
                f'SparsePatchSampling: ratio x rounds = {ratio} x {rounds} = {ratio * rounds:g} '
                '> 1, so the rounds of view 1 cannot be disjoint. Lower ratio or rounds (the '
                'official setting is 4 rounds of 0.25).'
            )
        self.ratio = float(ratio)
        self.rounds = int(rounds)
        self.view = int(view)

    @cache_randomness
    def _draw(self, num_patches: int) -> np.ndarray:
        return sparse_patch_ids(num_patches, self.ratio, self.rounds, np.random)

    def transform(self, results: dict) -> dict:
        imgs = _views(results, 'SparsePatchSampling')
        gh, gw = patch_grid(imgs[self.view].shape, self.patch_size)
        ids = self._draw(gh * gw)
        patch_ids = results.get('patch_ids')
        if not isinstance(patch_ids, list) or len(patch_ids) != len(imgs):
            patch_ids = [None] * len(imgs)
        patch_ids[self.view] = ids
        results['patch_ids'] = patch_ids
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(patch_size={self.patch_size}, ratio={self.ratio}, '
            f'rounds={self.rounds}, view={self.view})'
        )


@TRANSFORMS.register_module()
class SelectivePatchSampling(BaseTransform):
    r"""View 2 of APS: per round, patches that view 1's chosen patches cover least.

    For each round ``j`` of the reference view's ``patch_ids`` the probability
    of view-2 cell ``c`` is :math:`p_j(c) \propto (1 - \mathrm{cov}_j(c))^{\gamma}`
    (see the module docstring) and ``n`` distinct cells are drawn (``n`` = the
    reference view's count unless ``ratio`` is given). Cells fully covered are
    taken only if fewer than ``n`` cells are free, so it never fails.

    **Required keys:** ``img`` (list of views), ``crop_box`` (list),
    ``patch_ids`` (list; the reference entry from :class:`SparsePatchSampling`),
    and with ``flip_aware`` also ``flip`` / ``flip_direction`` (lists).
    **Modified keys:** ``patch_ids`` (entry ``view``, int64 [rounds, n]).

    Args:
        patch_size: The backbone's patch size.
        power: :math:`\gamma` (official: 3); 0 gives uniform sampling (the
            "no selection" ablation).
        view: Index of the view to sample.
        ref_view: Index of the sparse view it avoids.
        flip_aware: Account for each view's flip (default). ``False`` reproduces
            the released code, which ignores flips.
        ratio: Patches per round for this view as a fraction of its grid;
            ``None``: as many as the reference view per round.
    """

    def __init__(
        self,
        patch_size: Union[int, Sequence[int]] = 16,
        power: float = 3.0,
        view: int = 1,
        ref_view: int = 0,
        flip_aware: bool = True,
        ratio: Optional[float] = None,
    ) -> None:
        self.patch_size = _pair(patch_size)
        if power < 0:
            raise ValueError(f'SelectivePatchSampling: power must be >= 0, got {power}.')
        if view == ref_view:
            raise ValueError('SelectivePatchSampling: view and ref_view must differ.')
        if ratio is not None and not 0 < ratio <= 1:
            raise ValueError(f'SelectivePatchSampling: ratio must be in (0, 1], got {ratio}.')
        self.power = float(power)
        self.view = int(view)
        self.ref_view = int(ref_view)
        self.flip_aware = bool(flip_aware)
        self.ratio = ratio

    @cache_randomness
    def _draw(self, weights: np.ndarray, n: int) -> np.ndarray:
        return sample_without_replacement(weights, n, np.random)

    def _flip(self, results: dict, num_views: int, v: int) -> Tuple[bool, bool]:
        if not self.flip_aware:
            return False, False
        fix = (
            "Add 'flip' and 'flip_direction' to MultiViewWithKeys(keys=...), or set "
            'flip_aware=False to ignore flips as the released code does.'
        )
        flips = _per_view(results, 'flip', num_views, 'SelectivePatchSampling', fix)
        dirs = results.get('flip_direction')
        direction = dirs[v] if isinstance(dirs, list) and len(dirs) == num_views else None
        return _flip_axes(bool(flips[v]), direction)

    def covered(self, results: dict) -> np.ndarray:
        """[rounds, G2] covered fractions of this view's cells (no randomness)."""
        who = 'SelectivePatchSampling'
        imgs = _views(results, who)
        num_views = len(imgs)
        boxes = _per_view(results, 'crop_box', num_views, who, _BOX_FIX)
        ids = _per_view(
            results,
            'patch_ids',
            num_views,
            who,
            'Put SparsePatchSampling before SelectivePatchSampling.',
        )
        if ids[self.ref_view] is None:
            raise KeyError(
                f'{who}: view {self.ref_view} has no patch_ids; put '
                f'SparsePatchSampling(view={self.ref_view}) before it.'
            )
        for v in (self.ref_view, self.view):
            if boxes[v] is None:
                raise KeyError(f'{who}: view {v} has no crop_box. {_BOX_FIX}')
        return covered_fraction(
            ids[self.ref_view],
            boxes[self.ref_view],
            patch_grid(imgs[self.ref_view].shape, self.patch_size),
            boxes[self.view],
            patch_grid(imgs[self.view].shape, self.patch_size),
            self._flip(results, num_views, self.ref_view),
            self._flip(results, num_views, self.view),
        )

    def probabilities(self, results: dict) -> np.ndarray:
        """[rounds, G2] first-draw probabilities :math:`p_j(c)`."""
        return selection_probabilities(self.covered(results), self.power)

    def transform(self, results: dict) -> dict:
        cov = self.covered(results)
        num_cells = cov.shape[-1]
        ref = results['patch_ids'][self.ref_view]
        n = ref.shape[-1] if self.ratio is None else num_sampled(num_cells, self.ratio)
        results['patch_ids'][self.view] = self._draw(selection_weights(cov, self.power), n)
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(patch_size={self.patch_size}, power={self.power}, '
            f'view={self.view}, ref_view={self.ref_view}, flip_aware={self.flip_aware}, '
            f'ratio={self.ratio})'
        )


def sample_views(
    box1,
    box2,
    grid: Tuple[int, int],
    ratio: float = 0.25,
    rounds: int = 4,
    power: float = 3.0,
    flip1=(False, False),
    flip2=(False, False),
    rng=np.random,
) -> List[np.ndarray]:
    """Both views' ids for one image pair (the two transforms without a results dict)."""
    ids1 = sparse_patch_ids(grid[0] * grid[1], ratio, rounds, rng)
    cov = covered_fraction(ids1, box1, grid, box2, grid, flip1, flip2)
    return [ids1, sample_without_replacement(selection_weights(cov, power), ids1.shape[1], rng)]
