"""GrabCut interactive foreground extraction (Rother, Kolmogorov and Blake, SIGGRAPH 2004).

The user marks a rectangle around the object, or paints a trimap; GrabCut then alternates
(1) assigning each pixel to one component of the colour Gaussian mixture of its current side,
(2) re-learning both mixtures (K full-covariance components each), and (3) a minimum s-t graph
cut over the pixels still unknown. T-links are the negative log-likelihoods of the two
mixtures; n-links are ``gamma * exp(-beta * ||z_m - z_n||^2) / dist(m, n)`` with
``beta = 1 / (2 <||z_m - z_n||^2>)`` over the image, on the 8-neighbourhood by default.

Trimap values follow OpenCV: ``GC_BGD = 0`` and ``GC_FGD = 1`` are hard constraints,
``GC_PR_BGD = 2`` and ``GC_PR_FGD = 3`` are the unknown pixels with their current label.

The colour model is OpenCV's (k-means++ start on all pixels of each side, mixture
likelihood t-links, components chosen by ``N(z | k)``), so with ``downscale=1, n_init=1`` this
is the same algorithm as ``cv2.grabCut``, only faster:

- Hard-constrained pixels never enter the graph. An n-link from an unknown pixel to a fixed one
  becomes a t-link of the unknown pixel (it is paid exactly when the unknown pixel takes the
  other side), so the cut is over the unknown region only, and the constraints are exact
  rather than OpenCV's finite ``9 * gamma``.
- The graph is built once; each later iteration only changes the t-links by their difference
  and re-runs Boykov-Kolmogorov max-flow with the search trees of the previous cut (Kohli and
  Torr, ICCV 2005), via PyMaxflow.
- Gaussian evaluation, component assignment and moment accumulation are compiled (numba), and
  the unknown pixels' component choice is taken from the scoring that built their t-links.

Large unknown regions (20,000 pixels or more, e.g. a rectangle) add a coarse-to-fine schedule
(:mod:`seglab.classical._grabcut_multiscale`): the ``iters`` iterations run on the image
shrunk twice (``n_init`` times, from different k-means starts, keeping the run with the lowest
GrabCut energy), then ``fine_iters`` more iterations run at full resolution over the whole
unknown region. The full-resolution iterations minimise the exact GrabCut energy; the coarse
ones only choose where they start. On the GrabCut database this is both faster and more
accurate than ``cv2.grabCut`` (``docs/bench/grabcut.md``).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from seglab._checks import channels_last, check_choice, check_real, unit_float_image
from seglab.classical._gmm import ColorGMM, ColorIndex, initial_color_gmm
from seglab.classical._grabcut_graph import (
    GC_BGD,
    GC_FGD,
    GC_PR_BGD,
    GC_PR_FGD,
    color_planes,
    is_foreground,
)
from seglab.classical._grabcut_multiscale import auto_downscale, run_grabcut_schedule

__all__ = [
    "GC_BGD",
    "GC_FGD",
    "GC_PR_BGD",
    "GC_PR_FGD",
    "GrabCutState",
    "MAX_COMPONENTS",
    "MAX_GAMMA",
    "MAX_INIT",
    "MAX_ITERS",
    "grabcut",
    "refine_grabcut",
    "trimap_from_grabcut_database",
    "trimap_from_rect",
]

TRIMAP_VALUES = (GC_BGD, GC_FGD, GC_PR_BGD, GC_PR_FGD)
CONNECTIVITIES = (4, 8)
# GrabCut database trimaps (lasso/ and rect/ folders): 0 and 64 are background, 128 unknown,
# 255 foreground.
DATABASE_BACKGROUND = (0, 64)
DATABASE_UNKNOWN = 128
DATABASE_FOREGROUND = 255
# Hard caps, far above normal use (5 iterations, 5 components, 2 starts, gamma 50). Nothing
# stops the iterations early, each holds a graph cut over the unknown pixels, and the scoring
# keeps one float per pixel and component: huge values would run or allocate without end.
# Past MAX_GAMMA the n-links swamp the colour terms (and at 1e300 they overflow to inf).
MAX_ITERS = 100
MAX_COMPONENTS = 20
MAX_INIT = 20
MAX_GAMMA = 1e6


@dataclass(frozen=True)
class GrabCutState:
    """Everything needed to continue a GrabCut run: the trimap and both colour models.

    Attributes:
        mask: ``(H, W)`` uint8 trimap in OpenCV values, with the unknown pixels carrying the
            labels of the last cut (``GC_PR_FGD`` or ``GC_PR_BGD``).
        foreground_gmm: colour mixture of the foreground.
        background_gmm: colour mixture of the background.
    """

    mask: np.ndarray
    foreground_gmm: ColorGMM
    background_gmm: ColorGMM

    @property
    def labels(self) -> np.ndarray:
        """``(H, W)`` uint8 labels of the current state: 1 = foreground, 0 = background."""
        return _labels_from_trimap(self.mask)


def grabcut(
    image: np.ndarray,
    rect: tuple[int, int, int, int] | None = None,
    mask: np.ndarray | None = None,
    iters: int = 5,
    *,
    state: GrabCutState | None = None,
    n_components: int = 5,
    gamma: float = 50.0,
    connectivity: int = 8,
    downscale: int | None = None,
    fine_iters: int = 1,
    n_init: int = 2,
    fine_band: int | None = None,
    seed: int | None = 0,
    return_state: bool = False,
    channel_axis: int = -1,
) -> np.ndarray | tuple[np.ndarray, GrabCutState]:
    """Extract the foreground of an RGB image with GrabCut.

    Start from a rectangle (outside = background, inside = unknown), from an OpenCV-style
    trimap, or from the ``state`` of an earlier run (then the colour models are not
    re-initialised; a ``mask`` given with it replaces the state's trimap, as OpenCV's
    ``GC_EVAL`` does).

    Args:
        image: ``(H, W, 3)`` RGB image, read by the project's value rule (the colour models
            work in 0-255 units): uint8 is used as is, uint16 is scaled by 1/257, other integer
            dtypes must hold 0..255, bool {0, 1} becomes {0, 255}, floats must be finite and
            in [0, 1] and are scaled by 255. At most :data:`seglab.limits.MAX_IMAGE_PIXELS`
            pixels.
        rect: ``(x0, y0, x1, y1)`` with ``x1`` and ``y1`` exclusive, i.e. the rectangle is
            ``image[y0:y1, x0:x1]``. Must lie inside the image, be non-empty, and leave some
            background outside.
        mask: ``(H, W)`` trimap: ``GC_BGD`` (0) and ``GC_FGD`` (1) are fixed, ``GC_PR_BGD``
            (2) and ``GC_PR_FGD`` (3) are unknown pixels starting as background / foreground.
            See :func:`trimap_from_grabcut_database` for the GrabCut database's 0/64/128/255.
        iters: iterations of (assign components, learn mixtures, graph cut); on the coarse
            image when the schedule is coarse-to-fine. ``0`` only initialises the colour
            models (the labels are then the start: the rectangle, or the trimap's foreground
            candidates). At most :data:`MAX_ITERS` (100).
        state: a :class:`GrabCutState` from an earlier call, to continue from.
        n_components: Gaussian components per mixture (5 in the paper), at most
            :data:`MAX_COMPONENTS` (20).
        gamma: n-link weight (50 in the paper); larger values give smoother boundaries.
            Finite, at most :data:`MAX_GAMMA` (1e6).
        connectivity: 4 or 8 neighbours (diagonal n-links are divided by sqrt(2)).
        downscale: shrink factor of the coarse stage. ``None`` (default): 1 for unknown
            regions under 20,000 pixels, else 2, growing as ``sqrt(unknown / 50,000)`` from
            450,000 unknown pixels (only 2 was validated: the database images are at most
            640x480). ``1`` runs plain full-resolution GrabCut, exactly ``iters`` iterations.
            At most the image's shorter side (a coarser image would have no rows or columns
            of its own).
        fine_iters: full-resolution iterations after a coarse stage (ignored when
            ``downscale`` is 1). At most :data:`MAX_ITERS`.
        n_init: coarse-stage runs from different k-means starts; the lowest-energy one is
            kept. Ignored when ``downscale`` is 1 or when continuing from ``state``. At most
            :data:`MAX_INIT` (20).
        fine_band: if set, the full-resolution iterations only re-label unknown pixels within
            this many pixels of the coarse boundary; the others keep their coarse side (and
            still teach its colour model). About 1.4x faster on rectangles, but on the GrabCut
            database a band of 16 raised the rectangle error from 9.8 % to 10.3 % (3 seeds),
            so it is off by default. A band wider than the image's longer side reaches every
            pixel and acts as that side.
        seed: seed of the k-means starts; the same seed gives the same result. ``None`` draws
            fresh entropy.
        return_state: also return the :class:`GrabCutState`, for :func:`refine_grabcut`.
        channel_axis: axis of the colour channels.

    Returns:
        ``(H, W)`` uint8 labels, 1 = foreground and 0 = background; with ``return_state``,
        the pair ``(labels, state)``.

    Raises:
        ValueError: for an image that is not RGB, is empty, has more than
            ``MAX_IMAGE_PIXELS`` pixels or breaks the value rule (NaN or infinity, floats
            outside [0, 1], other integers outside 0..255); no ``rect``, ``mask`` or
            ``state``, or both ``rect`` and ``mask``; a rectangle that is empty, outside the
            image or covering it; a mask of the wrong shape or with values outside
            {0, 1, 2, 3}; no foreground or no background candidates; ``iters`` outside
            0..``MAX_ITERS``, ``fine_iters`` outside 1..``MAX_ITERS``, ``n_components``
            outside 1..``MAX_COMPONENTS``, ``n_init`` outside 1..``MAX_INIT``, ``gamma`` not in
            (0, ``MAX_GAMMA``], an unknown ``connectivity``, ``downscale`` outside 1..the
            shorter side, ``fine_band`` below 1; a ``state`` for another image size.

    Example:
        >>> import numpy as np
        >>> image = np.zeros((40, 40, 3), np.uint8)
        >>> image[10:30, 10:30] = (200, 40, 40)
        >>> labels = grabcut(image, rect=(5, 5, 35, 35))
        >>> int(labels.sum())
        400
    """
    colors = _as_rgb(image, channel_axis)
    height, width = colors.shape[:2]
    _check_int("iters", iters, 0, MAX_ITERS, "MAX_ITERS")
    _check_int("n_components", n_components, 1, MAX_COMPONENTS, "MAX_COMPONENTS")
    _check_int("fine_iters", fine_iters, 1, MAX_ITERS, "MAX_ITERS")
    _check_int("n_init", n_init, 1, MAX_INIT, "MAX_INIT")
    if fine_band is not None:
        _check_int("fine_band", fine_band, 1)
        # Wider than the image reaches every pixel all the same; the cap keeps the
        # neighbourhood filter's size a machine integer.
        fine_band = min(int(fine_band), max(height, width))
    if downscale is not None:
        _check_int("downscale", downscale, 1)
        if downscale > max(1, min(height, width)):
            raise ValueError(
                f"downscale must be at most the image's shorter side ({min(height, width)} px), "
                f"got {downscale}: a coarser image has no rows or columns of its own"
            )
    check_real(
        "gamma",
        gamma,
        low=0,
        low_open=True,
        high=MAX_GAMMA,
        note=" (seglab.classical.grabcut.MAX_GAMMA)",
    )
    check_choice("connectivity", connectivity, CONNECTIVITIES)
    if rect is not None and mask is not None:
        raise ValueError("give either rect or mask, not both")
    if state is not None and state.mask.shape != (height, width):
        raise ValueError(
            f"state is for a {state.mask.shape} image, but the image is {(height, width)}"
        )
    if rect is not None:
        trimap = trimap_from_rect((height, width), rect)
    elif mask is not None:
        trimap = _check_trimap(mask, (height, width))
    elif state is not None:
        trimap = state.mask.copy()
    else:
        raise ValueError("give a rect, a mask or a state to start GrabCut from")
    _check_both_sides(trimap)

    rng = np.random.default_rng(seed)
    planes = color_planes(colors)
    # uint8 colours are whole numbers: pixel sets can be handled by distinct colour.
    color_index = ColorIndex.of(planes) if np.asarray(image).dtype == np.uint8 else None
    if state is None:
        foreground = is_foreground(trimap.reshape(-1))
        foreground_gmm, background_gmm = (
            _initial_gmm(planes, side, color_index, n_components, rng)
            for side in (foreground, ~foreground)
        )
    else:
        foreground_gmm, background_gmm = state.foreground_gmm, state.background_gmm

    if iters > 0:
        trimap, foreground_gmm, background_gmm = run_grabcut_schedule(
            colors,
            trimap,
            foreground_gmm,
            background_gmm,
            iters=iters,
            fine_iters=fine_iters,
            downscale=auto_downscale(trimap) if downscale is None else downscale,
            # Continuing from a state keeps its colour models: no fresh starts.
            n_init=n_init if state is None else 1,
            rng=rng,
            gamma=gamma,
            connectivity=connectivity,
            planes=planes,
            fine_band=fine_band,
            color_index=color_index,
        )
    labels = _labels_from_trimap(trimap)
    if return_state:
        return labels, GrabCutState(trimap, foreground_gmm, background_gmm)
    return labels


def refine_grabcut(
    image: np.ndarray,
    state: GrabCutState,
    *,
    fg_strokes: np.ndarray | None = None,
    bg_strokes: np.ndarray | None = None,
    iters: int = 2,
    gamma: float = 50.0,
    connectivity: int = 8,
    channel_axis: int = -1,
) -> tuple[np.ndarray, GrabCutState]:
    """Continue GrabCut after the user painted foreground and/or background strokes.

    Stroked pixels become hard constraints (``GC_FGD`` / ``GC_BGD``); the colour models of
    ``state`` are kept and refined by ``iters`` more iterations.

    Args:
        image: the image ``state`` was computed on.
        state: the state returned by ``grabcut(..., return_state=True)`` or by this function.
        fg_strokes: ``(H, W)`` bool mask of pixels the user marked as foreground.
        bg_strokes: ``(H, W)`` bool mask of pixels the user marked as background.
        iters: iterations to run, 1..:data:`MAX_ITERS`.
        gamma: n-link weight, as in :func:`grabcut`.
        connectivity: 4 or 8, as in :func:`grabcut`.
        channel_axis: axis of the colour channels.

    Returns:
        ``(labels, state)``: ``(H, W)`` uint8 labels (1 = foreground) and the new state.

    Raises:
        ValueError: if a stroke mask has the wrong shape, or the two stroke masks overlap;
            ``iters`` outside 1..``MAX_ITERS``; and for the errors of :func:`grabcut`.

    Example:
        >>> import numpy as np
        >>> image = np.zeros((40, 40, 3), np.uint8)
        >>> image[10:30, 10:30] = (200, 40, 40)
        >>> labels, state = grabcut(image, rect=(5, 5, 35, 35), return_state=True)
        >>> strokes = np.zeros((40, 40), bool)
        >>> strokes[10:30, 10:15] = True
        >>> labels, state = refine_grabcut(image, state, bg_strokes=strokes)
        >>> int(labels.sum())
        300
    """
    _check_int("iters", iters, 1, MAX_ITERS, "MAX_ITERS")
    trimap = state.mask.copy()
    strokes = []
    for name, stroke in (("fg_strokes", fg_strokes), ("bg_strokes", bg_strokes)):
        if stroke is None:
            strokes.append(np.zeros(trimap.shape, dtype=bool))
            continue
        stroke = np.asarray(stroke, dtype=bool)
        if stroke.shape != trimap.shape:
            raise ValueError(f"{name} has shape {stroke.shape}, expected {trimap.shape}")
        strokes.append(stroke)
    if (strokes[0] & strokes[1]).any():
        raise ValueError("fg_strokes and bg_strokes overlap; a pixel can only be one of them")
    trimap[strokes[0]] = GC_FGD
    trimap[strokes[1]] = GC_BGD
    return grabcut(
        image,
        mask=trimap,
        iters=iters,
        state=state,
        gamma=gamma,
        connectivity=connectivity,
        return_state=True,
        channel_axis=channel_axis,
    )


def trimap_from_rect(shape: tuple[int, int], rect: tuple[int, int, int, int]) -> np.ndarray:
    """OpenCV trimap of a rectangle: ``GC_PR_FGD`` inside, ``GC_BGD`` outside.

    Args:
        shape: ``(H, W)`` of the image.
        rect: ``(x0, y0, x1, y1)``, ``x1`` and ``y1`` exclusive (the box ``[y0:y1, x0:x1]``).

    Returns:
        ``(H, W)`` uint8 trimap.

    Raises:
        ValueError: if ``rect`` is not four integers, is empty, or reaches outside the image.

    Example:
        >>> trimap_from_rect((3, 4), (1, 0, 3, 2))
        array([[0, 3, 3, 0],
               [0, 3, 3, 0],
               [0, 0, 0, 0]], dtype=uint8)
    """
    height, width = shape
    values = tuple(rect)
    if len(values) != 4 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values
    ):
        raise ValueError(f"rect must be four integers (x0, y0, x1, y1), got {rect!r}")
    x0, y0, x1, y1 = (int(v) for v in values)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"rect {rect!r} is empty: need x0 < x1 and y0 < y1 (x1, y1 exclusive)")
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise ValueError(
            f"rect {rect!r} reaches outside the {width}x{height} image: need 0 <= x0 < x1 <= "
            f"{width} and 0 <= y0 < y1 <= {height}"
        )
    trimap = np.full((height, width), GC_BGD, dtype=np.uint8)
    trimap[y0:y1, x0:x1] = GC_PR_FGD
    return trimap


def trimap_from_grabcut_database(trimap: np.ndarray, *, unknown: int = GC_PR_FGD) -> np.ndarray:
    """Convert a GrabCut database trimap (lasso/ or rect/ folder) to OpenCV values.

    0 and 64 become ``GC_BGD``, 255 becomes ``GC_FGD``, and the unknown 128 becomes
    ``unknown`` (``GC_PR_FGD`` by default: the unknown region starts as foreground, as inside
    OpenCV's rectangle).

    Args:
        trimap: ``(H, W)`` array with values in {0, 64, 128, 255}.
        unknown: ``GC_PR_FGD`` or ``GC_PR_BGD``.

    Returns:
        ``(H, W)`` uint8 trimap in {0, 1, 2, 3}.

    Raises:
        ValueError: for values outside {0, 64, 128, 255}, or an ``unknown`` that is not
            ``GC_PR_FGD`` or ``GC_PR_BGD``.

    Example:
        >>> trimap_from_grabcut_database(np.array([[0, 64, 128, 255]]))
        array([[0, 0, 3, 1]], dtype=uint8)
    """
    if unknown not in (GC_PR_BGD, GC_PR_FGD):
        raise ValueError(
            f"unknown must be GC_PR_BGD ({GC_PR_BGD}) or GC_PR_FGD ({GC_PR_FGD}), got {unknown!r}"
        )
    trimap = np.asarray(trimap)
    valid = (*DATABASE_BACKGROUND, DATABASE_UNKNOWN, DATABASE_FOREGROUND)
    bad = ~np.isin(trimap, valid)
    if bad.any():
        raise ValueError(
            f"GrabCut database trimaps hold only {valid}; found {np.unique(trimap[bad])[:5]}"
        )
    converted = np.full(trimap.shape, GC_BGD, dtype=np.uint8)
    converted[trimap == DATABASE_UNKNOWN] = unknown
    converted[trimap == DATABASE_FOREGROUND] = GC_FGD
    return converted


def _labels_from_trimap(trimap: np.ndarray) -> np.ndarray:
    return is_foreground(trimap).astype(np.uint8)


def _as_rgb(image: np.ndarray, channel_axis: int) -> np.ndarray:
    """The image as ``(H, W, 3)`` float64 in 0-255 units (:func:`seglab._checks.channels_last`:
    grey is repeated, alpha dropped)."""
    image = channels_last(image, channel_axis, colour=True)
    if image.dtype == np.uint8:
        colors = image.astype(np.float64)
    elif image.dtype == np.uint16:
        colors = image.astype(np.float64) / 257.0
    else:
        # The project's value rule (floats in [0, 1], other integers 0..255, bool {0, 1}),
        # then 0-255 units. Exact for integers: k / 255 * 255 == k in float64.
        colors = unit_float_image(image) * 255.0
    return np.ascontiguousarray(colors)


def _initial_gmm(
    planes: np.ndarray,
    side: np.ndarray,
    color_index: ColorIndex | None,
    n_components: int,
    rng: np.random.Generator,
) -> ColorGMM:
    """k-means start of one side's mixture, over its distinct colours when indexed."""
    if color_index is None:
        return initial_color_gmm(planes[:, side], n_components, rng)
    colors, counts = color_index.histogram(side)
    return initial_color_gmm(colors, n_components, rng, counts=counts)


def _check_trimap(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise ValueError(f"mask has shape {mask.shape}, but the image is {shape}")
    if np.issubdtype(mask.dtype, np.integer):  # a range check: much cheaper than isin
        bad = (mask < GC_BGD) | (mask > GC_PR_FGD)
    else:
        bad = ~np.isin(mask, TRIMAP_VALUES)
    if bad.any():
        raise ValueError(
            "mask values must be GC_BGD=0, GC_FGD=1, GC_PR_BGD=2 or GC_PR_FGD=3; found "
            f"{np.unique(mask[bad])[:5]} (convert GrabCut database trimaps with "
            "trimap_from_grabcut_database)"
        )
    return mask.astype(np.uint8)


def _check_both_sides(trimap: np.ndarray) -> None:
    foreground = is_foreground(trimap)
    if not foreground.any():
        raise ValueError(
            "no foreground candidates: the trimap has no GC_FGD (1) or GC_PR_FGD (3) pixel"
        )
    if foreground.all():
        raise ValueError(
            "no background pixels: the trimap has no GC_BGD (0) or GC_PR_BGD (2) pixel "
            "(a rectangle must leave some of the image outside)"
        )


def _check_int(
    name: str, value: int, minimum: int, maximum: int | None = None, constant: str = ""
) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(
            f"{name} must be at most {maximum} (seglab.classical.grabcut.{constant}), got {value!r}"
        )
