"""Instance segmentation of touching blobs (e.g. nuclei) by the marker-controlled watershed.

The classical pipeline, step by step:

1. **Foreground**: a mask of object pixels. By default one intensity channel is smoothed with
   a Gaussian (``sigma``) and thresholded (Otsu, Li's minimum cross-entropy, or a fixed value).
   The channel (``stain``) is the grey level, or for stained colour images (H&E histology:
   purple nuclei on pink tissue and white glass, where grey levels have three populations and a
   global threshold splits glass from tissue) the **hematoxylin** channel of the colour
   deconvolution of Ruifrok and Johnston (:func:`skimage.color.rgb2hed`), in which nuclei are
   bright. ``stain="auto"`` takes hematoxylin when the three channels differ (mean absolute
   channel difference > 0.02 of the range) and grey otherwise. On grey levels, objects may be
   bright on dark (fluorescence) or dark on bright (bright-field, where nuclei are dark on a
   light background), so with ``invert=None`` the polarity follows the median intensity: a
   median above 0.5 means a bright background, and the *dark* side is taken as foreground.
   Any semantic model's output can be given instead as ``foreground`` (a bool mask, or
   probabilities thresholded at 0.5).
2. **Distance transform** of the foreground (:func:`scipy.ndimage.distance_transform_edt`),
   smoothed (``distance_sigma``) so that ragged outlines do not make spurious peaks.
3. **Markers**: one per object, at the maxima of the distance (object centres):
   ``markers="peaks"`` uses :func:`skimage.feature.peak_local_max` with ``min_distance`` (two
   centres closer than this merge); ``"h_maxima"`` keeps maxima that stand at least ``h``
   pixels above their surroundings (:func:`skimage.morphology.h_maxima`).
4. **Watershed** of the negated distance from the markers, restricted to the foreground
   (:func:`skimage.segmentation.watershed`): touching objects split along the neck between
   their centres. A foreground component that got no marker is kept as one object.
5. Objects smaller than ``min_size`` pixels are removed, and ids are made consecutive.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import ndimage
from skimage.color import rgb2hed
from skimage.feature import peak_local_max
from skimage.filters import threshold_li, threshold_otsu
from skimage.morphology import h_maxima
from skimage.segmentation import relabel_sequential, watershed

from seglab._checks import channels_last, check_image_size, check_real, unit_float_image

__all__ = [
    "watershed_instances",
    "foreground_mask",
    "MARKER_METHODS",
    "THRESHOLD_METHODS",
    "STAINS",
    "MAX_SIGMA",
]

MARKER_METHODS = ("peaks", "h_maxima")
THRESHOLD_METHODS = ("otsu", "li")
STAINS = ("auto", "grey", "hematoxylin")
# Mean absolute difference between colour channels (in [0, 1] units) above which an image is
# taken as stained colour rather than grey stored as RGB.
COLOUR_TOLERANCE = 0.02
# Largest Gaussian blur (``sigma``, ``distance_sigma``), in pixels: a Gaussian kernel holds
# 8 sigma + 1 taps, so a huge value would allocate without end; nuclei need a pixel or two.
MAX_SIGMA = 100.0


def _is_colour(rgb: np.ndarray) -> bool:
    return bool(
        np.abs(rgb[..., 0] - rgb[..., 1]).mean() > COLOUR_TOLERANCE
        or np.abs(rgb[..., 0] - rgb[..., 2]).mean() > COLOUR_TOLERANCE
    )


def _hematoxylin(rgb: np.ndarray) -> np.ndarray:
    """Hematoxylin density of an RGB image in [0, 1], rescaled by its 1st-99.5th percentiles."""
    density = rgb2hed(np.clip(rgb, 0.0, 1.0))[..., 0]
    low, high = np.percentile(density, [1.0, 99.5])
    if high <= low:
        return np.zeros(density.shape)
    return np.clip((density - low) / (high - low), 0.0, 1.0)


def _as_float(image: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """The image as float64 ``(H, W, C)`` in [0, 1]: the layout rule of
    :func:`seglab._checks.channels_last` (alpha dropped) and the value rule of
    :func:`seglab._checks.unit_float_image`."""
    return unit_float_image(channels_last(image, channel_axis))


def _intensity(image: np.ndarray, stain: str, channel_axis: int | None) -> tuple[np.ndarray, bool]:
    """The channel to threshold, and whether its objects are known to be bright."""
    if stain not in STAINS:
        raise ValueError(f"stain must be one of {', '.join(STAINS)}; got {stain!r}")
    values = _as_float(image, channel_axis)
    rgb = values.ndim == 3 and values.shape[-1] == 3
    if stain == "hematoxylin" and not rgb:
        raise ValueError(f"stain='hematoxylin' needs an RGB image, got shape {np.shape(image)}")
    if rgb and (stain == "hematoxylin" or (stain == "auto" and _is_colour(values))):
        return _hematoxylin(values), True
    if values.ndim == 3:
        if values.shape[-1] == 3:
            values = values @ np.array([0.2125, 0.7154, 0.0721])  # ITU-R 709 luminance
        else:
            values = values.mean(axis=-1)
    return values, False


def foreground_mask(
    image: np.ndarray,
    *,
    threshold: str | float = "otsu",
    stain: str = "auto",
    invert: bool | None = None,
    sigma: float = 1.0,
    fill_holes: bool = True,
    channel_axis: int | None = -1,
) -> np.ndarray:
    """Object pixels of an image by thresholding its smoothed grey levels.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` image: uint8, uint16, other integers in 0..255,
            bool, or finite floats in [0, 1]; at most ``seglab.limits.MAX_IMAGE_PIXELS``.
        threshold: ``"otsu"``, ``"li"`` or a finite level in the channel's [0, 1] scale.
        stain: channel to threshold: ``"grey"``, ``"hematoxylin"`` (RGB only) or ``"auto"``
            (hematoxylin for colour images, grey otherwise).
        invert: ``True`` when objects are darker than the background, ``False`` when they are
            brighter, ``None`` to decide from the data (grey median above 0.5 = dark objects;
            hematoxylin objects are bright).
        sigma: Gaussian smoothing before thresholding, in pixels (0 for none; at most
            :data:`MAX_SIGMA`, 100).
        fill_holes: fill holes inside objects (dark nucleoli inside bright nuclei).
        channel_axis: axis of the channels, or ``None`` for a grey image.

    Returns:
        ``(H, W)`` bool mask.

    Raises:
        ValueError: for a bad shape, an empty image or one over ``MAX_IMAGE_PIXELS``, values
            that break the value rule (NaN or infinity, floats outside [0, 1], other integers
            outside 0..255), an unknown threshold method or stain, a NaN or infinite
            threshold level, ``"hematoxylin"`` on a non-RGB image, or ``sigma`` outside
            [0, ``MAX_SIGMA``].

    Example:
        >>> image = np.zeros((9, 9))
        >>> image[2:7, 2:7] = 1.0
        >>> int(foreground_mask(image, sigma=0).sum())
        25
    """
    grey, objects_bright = _intensity(image, stain, channel_axis)
    _check_sigma("sigma", sigma)
    smooth = ndimage.gaussian_filter(grey, sigma) if sigma > 0 else grey
    if isinstance(threshold, str):
        if threshold not in THRESHOLD_METHODS:
            raise ValueError(
                f"threshold must be one of {', '.join(THRESHOLD_METHODS)} or a number; "
                f"got {threshold!r}"
            )
        if smooth.min() == smooth.max():
            return np.zeros(grey.shape, bool)  # a flat image has no objects
        method = threshold_otsu if threshold == "otsu" else threshold_li
        level = float(method(smooth))
    elif isinstance(threshold, numbers.Real) and np.isfinite(threshold):
        level = float(threshold)
    else:
        raise ValueError(
            f"threshold must be one of {', '.join(THRESHOLD_METHODS)} or a number; "
            f"got {threshold!r}"
            + (" (a level must be finite)" if isinstance(threshold, numbers.Real) else "")
        )
    if invert is None:
        invert = False if objects_bright else bool(np.median(smooth) > 0.5)
    mask = smooth < level if invert else smooth > level
    return ndimage.binary_fill_holes(mask) if fill_holes else mask


def _check_sigma(name: str, value: float) -> None:
    check_real(name, value, low=0, high=MAX_SIGMA, note=" (seglab.classical.watershed.MAX_SIGMA)")


def _check_foreground(foreground: np.ndarray, shape: tuple | None) -> np.ndarray:
    foreground = np.asarray(foreground)
    if foreground.ndim != 2:
        raise ValueError(f"foreground must be (H, W), got shape {foreground.shape}")
    check_image_size(*foreground.shape)
    if shape is not None and foreground.shape != shape:
        raise ValueError(f"foreground shape {foreground.shape} differs from image shape {shape}")
    if foreground.dtype == np.bool_:
        return foreground
    if np.issubdtype(foreground.dtype, np.floating):
        return foreground > 0.5  # a probability map
    return foreground > 0


def watershed_instances(
    image: np.ndarray | None,
    *,
    foreground: np.ndarray | None = None,
    min_distance: int = 5,
    threshold: str | float = "otsu",
    stain: str = "auto",
    invert: bool | None = None,
    sigma: float = 1.0,
    distance_sigma: float = 1.0,
    markers: str = "peaks",
    h: float = 1.0,
    min_size: int = 20,
    fill_holes: bool = True,
    compactness: float = 0.0,
    channel_axis: int | None = -1,
) -> np.ndarray:
    """Split the foreground of an image into instances with a marker-controlled watershed.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` image, read as :func:`foreground_mask` reads it
            (uint8, uint16, other integers in 0..255, bool, or finite floats in [0, 1]); may
            be ``None`` when ``foreground`` is given.
        foreground: optional ``(H, W)`` object mask (bool; float probabilities are cut at
            0.5; ints at > 0). Replaces the thresholding of ``image``.
        min_distance: smallest distance in pixels between two object centres (``"peaks"``).
            A distance of ``H + W`` or more already keeps one centre per object, so larger
            values act as ``H + W``.
        threshold: ``"otsu"``, ``"li"`` or a level in [0, 1], for the default foreground.
        stain: ``"auto"``, ``"grey"`` or ``"hematoxylin"``: the channel that is thresholded.
        invert: objects darker than the background (``True``), brighter (``False``) or
            decided from the median intensity (``None``). See :func:`foreground_mask`.
        sigma: Gaussian smoothing of the image before thresholding, in pixels (at most
            :data:`MAX_SIGMA`).
        distance_sigma: Gaussian smoothing of the distance transform, in pixels (0 for
            none; at most :data:`MAX_SIGMA`).
        markers: ``"peaks"`` (local maxima at least ``min_distance`` apart) or ``"h_maxima"``
            (maxima at least ``h`` pixels high).
        h: height for ``markers="h_maxima"``, in pixels of distance (finite, > 0).
        min_size: objects with fewer pixels are removed (finite, >= 0).
        fill_holes: fill holes in the default foreground.
        compactness: compact watershed parameter (0 = classical watershed; finite, >= 0).
        channel_axis: axis of the channels, or ``None`` for a grey image.

    Returns:
        ``(H, W)`` int32 label map: 0 = background, objects 1..N.

    Raises:
        ValueError: for bad shapes, an image or foreground over ``MAX_IMAGE_PIXELS``, an
            image that breaks the value rule, unknown ``markers`` or ``threshold``,
            ``min_distance`` that is not an integer >= 1, ``min_size`` or ``compactness``
            not finite and >= 0, ``h`` not finite and > 0, ``sigma`` or ``distance_sigma``
            outside [0, ``MAX_SIGMA``], or neither ``image`` nor ``foreground``.

    Example:
        >>> yy, xx = np.mgrid[:40, :60]
        >>> two_discs = ((yy - 20) ** 2 + (xx - 20) ** 2 < 144) | ((yy - 20) ** 2 + (xx - 39) ** 2 < 144)
        >>> labels = watershed_instances(None, foreground=two_discs, min_distance=5)
        >>> int(labels.max())
        2
    """
    if markers not in MARKER_METHODS:
        raise ValueError(f"markers must be one of {', '.join(MARKER_METHODS)}; got {markers!r}")
    if (
        isinstance(min_distance, bool)
        or not isinstance(min_distance, numbers.Integral)
        or min_distance < 1
    ):
        raise ValueError(f"min_distance must be an integer >= 1, got {min_distance!r}")
    check_real("min_size", min_size, low=0)
    check_real("compactness", compactness, low=0)
    check_real("h", h, low=0, low_open=True)
    _check_sigma("distance_sigma", distance_sigma)
    if foreground is None:
        if image is None:
            raise ValueError("give an image, a foreground mask, or both")
        mask = foreground_mask(
            image,
            threshold=threshold,
            stain=stain,
            invert=invert,
            sigma=sigma,
            fill_holes=fill_holes,
            channel_axis=channel_axis,
        )
    else:
        shape = None if image is None else _as_float(image, channel_axis).shape[:2]
        mask = _check_foreground(foreground, shape)
    labels = np.zeros(mask.shape, np.int32)
    if not mask.any():
        return labels
    distance = ndimage.distance_transform_edt(mask)
    if distance_sigma > 0:
        distance = ndimage.gaussian_filter(distance, distance_sigma)
    components, _ = ndimage.label(mask)
    if markers == "peaks":
        # Any distance of H + W spans the whole image, so larger ones change nothing; the cap
        # keeps peak_local_max's filter window a machine-sized integer.
        reach = min(int(min_distance), sum(mask.shape))
        peaks = peak_local_max(
            distance, min_distance=reach, labels=components, exclude_border=False
        )
        seeds = np.zeros(mask.shape, bool)
        seeds[tuple(peaks.T)] = True
    else:
        seeds = h_maxima(distance, h).astype(bool) & mask
    # Touching peak pixels (a flat maximum) are one marker, not several.
    seed_labels, num_seeds = ndimage.label(seeds, structure=np.ones((3, 3)))
    labels = watershed(-distance, seed_labels, mask=mask, compactness=compactness)
    # A component without any marker stays unlabelled by the watershed: keep it whole.
    orphans, _ = ndimage.label(mask & (labels == 0))
    labels = np.where(orphans > 0, orphans + num_seeds, labels)
    if min_size > 0:
        sizes = np.bincount(labels.ravel())
        small = sizes < min_size
        small[0] = False
        labels[small[labels]] = 0
    labels, _, _ = relabel_sequential(labels)
    return labels.astype(np.int32)
