"""From heatmap brightness to key-point coordinates: argmax, Gaussian fit and soft-argmax.

The notes contrast the old way (fit a Gaussian by least squares around the brightest pixel)
with the new way (soft-argmax, a differentiable expectation that a network can be trained
through). Both are here, batched over ``(N, K, H, W)`` heatmaps (K key points), and
``benchmarks/bench_keypoints.py`` measures their accuracy on heatmaps with known peaks.

Coordinate convention (unlike the polygon code, which follows COCO): the centre of heatmap
pixel ``(row i, column j)`` is ``(x, y) = (j, i)``, so coordinates run from 0 to ``W - 1``
and ``H - 1``. With ``normalized=True`` they map to [-1, 1] the way
``grid_sample(..., align_corners=True)`` reads them: ``-1`` is the centre of the first pixel
and ``+1`` the centre of the last (a size-1 axis maps to 0).

Shape:
    - heatmaps: :math:`(N, K, H, W)`, floating point
    - output: :math:`(N, K, 2)`, ``(x, y)`` per key point
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "FIT_WINDOWS",
    "argmax_2d",
    "soft_argmax_2d",
    "gaussian_peak_fit",
    "normalize_coordinates",
]

FIT_WINDOWS = (3, 5)


def _check_heatmaps(heatmaps: torch.Tensor) -> None:
    if not isinstance(heatmaps, torch.Tensor):
        raise TypeError(f"heatmaps must be a torch.Tensor, got {type(heatmaps).__name__}")
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (N, K, H, W), got shape {tuple(heatmaps.shape)}")
    if not heatmaps.is_floating_point():
        raise TypeError(f"heatmaps must be floating point, got {heatmaps.dtype}")
    if heatmaps.shape[2] == 0 or heatmaps.shape[3] == 0:
        raise ValueError(f"heatmaps must have H, W >= 1, got shape {tuple(heatmaps.shape)}")


def normalize_coordinates(xy: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pixel coordinates (centres at integers) to [-1, 1], ``align_corners=True`` style.

    Example:
        >>> normalize_coordinates(torch.tensor([[0.0, 3.0], [4.0, 0.0]]), 4, 5)
        tensor([[-1.,  1.],
                [ 1., -1.]])
    """
    scale = xy.new_tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)])
    offset = xy.new_tensor([-1.0 if width > 1 else 0.0, -1.0 if height > 1 else 0.0])
    return xy * scale + offset


def argmax_2d(heatmaps: torch.Tensor) -> torch.Tensor:
    """Location of the largest value of each heatmap (the first one on ties).

    Args:
        heatmaps: scores or probabilities.

    Returns:
        Integer-valued ``(x, y)`` in the dtype of ``heatmaps``.

    Raises:
        TypeError: for a non-tensor or a non-floating-point tensor.
        ValueError: if ``heatmaps`` is not 4-D or is empty.

    Shape:
        - heatmaps: :math:`(N, K, H, W)`
        - output: :math:`(N, K, 2)`

    Example:
        >>> heatmaps = torch.zeros(1, 1, 4, 5); heatmaps[0, 0, 3, 1] = 1
        >>> argmax_2d(heatmaps)
        tensor([[[1., 3.]]])
    """
    _check_heatmaps(heatmaps)
    width = heatmaps.shape[3]
    flat = heatmaps.flatten(2).argmax(dim=-1)
    return torch.stack([flat % width, flat // width], dim=-1).to(heatmaps.dtype)


def soft_argmax_2d(
    heatmaps: torch.Tensor, temperature: float = 1.0, normalized: bool = False
) -> torch.Tensor:
    """Differentiable peak location: the expected ``(x, y)`` under ``softmax(heatmaps / T)``.

    The input is treated as **logits** (unnormalised log-probabilities): the spatial softmax
    of ``heatmaps / temperature`` is the probability of each pixel, and the result is the mean
    pixel position under it. Two biases follow, both measured in ``docs/bench/keypoints.md``:

    * background mass: every pixel gets probability ``exp(value / T)``, so a flat background
      pulls the estimate toward the heatmap centre. For a Gaussian heatmap with values in
      [0, 1] at ``T = 1`` the peak pixel is only e times as likely as any background pixel;
    * a second peak pulls the estimate toward itself.

    A low temperature sharpens the softmax and suppresses both, at the price of approaching
    the (non-smooth) argmax and giving gradients that vanish away from the peak. For a
    Gaussian heatmap ``exp(-d^2 / 2 sigma^2)``, ``softmax(h / T)`` is close to a Gaussian of
    width ``sigma * sqrt(T)`` around the true peak, so a temperature that leaves that width
    at about half a pixel or more keeps the sub-pixel accuracy.

    Args:
        heatmaps: logits, e.g. a network's key-point head.
        temperature: > 0; divides the logits before the softmax.
        normalized: return coordinates in [-1, 1] (``align_corners=True``) instead of pixels.

    Returns:
        ``(x, y)`` of each key point, differentiable with respect to ``heatmaps``.

    Raises:
        TypeError: for a non-tensor or a non-floating-point tensor.
        ValueError: if ``heatmaps`` is not 4-D or is empty, or ``temperature`` is not a
            positive finite number.

    Shape:
        - heatmaps: :math:`(N, K, H, W)`
        - output: :math:`(N, K, 2)`

    Example:
        >>> heatmaps = torch.full((1, 1, 3, 3), -1e4); heatmaps[0, 0, 1, 2] = 0
        >>> soft_argmax_2d(heatmaps)
        tensor([[[2., 1.]]])
    """
    _check_heatmaps(heatmaps)
    if isinstance(temperature, bool) or not (
        isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0
    ):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    batch, points, height, width = heatmaps.shape
    probabilities = torch.softmax(heatmaps.flatten(2) / temperature, dim=-1)
    probabilities = probabilities.view(batch, points, height, width)
    xs = torch.arange(width, dtype=heatmaps.dtype, device=heatmaps.device)
    ys = torch.arange(height, dtype=heatmaps.dtype, device=heatmaps.device)
    # Marginals first: (N, K, W) and (N, K, H) are cheaper than two full weighted sums.
    x = (probabilities.sum(dim=2) * xs).sum(dim=-1)
    y = (probabilities.sum(dim=3) * ys).sum(dim=-1)
    xy = torch.stack([x, y], dim=-1)
    return normalize_coordinates(xy, height, width) if normalized else xy


def _quadratic_pseudo_inverse(window: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Offsets of the window and the least-squares solver for a 2-D quadratic on them."""
    radius = window // 2
    dy, dx = torch.meshgrid(
        torch.arange(-radius, radius + 1, dtype=torch.float64),
        torch.arange(-radius, radius + 1, dtype=torch.float64),
        indexing="ij",
    )
    u, v = dx.reshape(-1), dy.reshape(-1)
    design = torch.stack([torch.ones_like(u), u, v, u * u, v * v, u * v], dim=1)
    return torch.linalg.pinv(design), u.long(), v.long()


def gaussian_peak_fit(
    heatmaps: torch.Tensor, *, window: int = 3, eps: float = 1e-6
) -> torch.Tensor:
    """Sub-pixel peaks by a least-squares Gaussian fit around the argmax (the "old way").

    The log of a Gaussian is a quadratic, so the method fits
    ``log h = c + a_x u + a_y v + a_xx u^2 + a_yy v^2 + a_xy u v`` by least squares to the
    ``window x window`` log-values around the brightest pixel and returns the quadratic's
    maximum. On a noise-free Gaussian (round, elliptic or rotated) the fit is exact.

    * Borders: the window is shifted inward so that it stays inside the heatmap (the fit is
      still exact for a peak on the border pixel).
    * Non-positive values: they are clipped to ``eps * peak`` before the log, so a single
      zero or negative pixel cannot produce ``-inf``; a non-positive peak, or a fit that is
      not a maximum (e.g. a flat or saddle-shaped window), falls back to the argmax.
    * The result is clamped to the window's pixels (half a pixel beyond the outer centres),
      since the fit is not trusted beyond it.

    This is a post-processing step: its output does not depend smoothly on the heatmap (the
    argmax picks the window), so train with :func:`soft_argmax_2d` instead.

    Args:
        heatmaps: non-negative heatmaps (e.g. rendered Gaussians, sigmoid outputs).
        window: fit window, 3 or 5 pixels wide (5 averages more noise, 3 follows narrow peaks).
        eps: clip level relative to the peak value, in (0, 1).

    Returns:
        ``(x, y)`` in pixels (centres at integers), in the dtype of ``heatmaps``.

    Raises:
        TypeError: for a non-tensor or a non-floating-point tensor.
        ValueError: if ``heatmaps`` is not 4-D, ``window`` is not 3 or 5, the heatmap is
            smaller than the window, or ``eps`` is not in (0, 1).

    Shape:
        - heatmaps: :math:`(N, K, H, W)`
        - output: :math:`(N, K, 2)`

    Example:
        >>> yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(20.0), indexing="ij")
        >>> heatmaps = torch.exp(-((xx - 12.3) ** 2 + (yy - 7.8) ** 2) / 8)[None, None]
        >>> [round(v, 3) for v in gaussian_peak_fit(heatmaps)[0, 0].tolist()]
        [12.3, 7.8]
    """
    _check_heatmaps(heatmaps)
    if window not in FIT_WINDOWS:
        raise ValueError(
            f"window must be one of {', '.join(map(str, FIT_WINDOWS))}; got {window!r}"
        )
    if not (isinstance(eps, (int, float)) and 0 < eps < 1):
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    batch, points, height, width = heatmaps.shape
    if height < window or width < window:
        raise ValueError(
            f"heatmaps of {height}x{width} are smaller than the {window}x{window} fit window"
        )
    radius = window // 2
    values = heatmaps.detach().reshape(batch * points, height, width).to(torch.float64)
    flat = values.flatten(1).argmax(dim=1)
    peak_y, peak_x = flat // width, flat % width
    centre_y = peak_y.clamp(radius, height - 1 - radius)
    centre_x = peak_x.clamp(radius, width - 1 - radius)
    solver, du, dv = _quadratic_pseudo_inverse(window)
    solver, du, dv = solver.to(values.device), du.to(values.device), dv.to(values.device)
    rows = torch.arange(batch * points, device=values.device)[:, None]
    patch = values[rows, centre_y[:, None] + dv, centre_x[:, None] + du]  # (B, window^2)
    peak = values[rows[:, 0], peak_y, peak_x]
    logs = torch.log(
        patch.clamp_min((eps * peak).clamp_min(torch.finfo(torch.float64).tiny)[:, None])
    )
    _, a_x, a_y, a_xx, a_yy, a_xy = (solver @ logs.T).unbind(0)
    # Maximum of the quadratic: solve [[2a_xx, a_xy], [a_xy, 2a_yy]] @ (u, v) = -(a_x, a_y).
    determinant = 4 * a_xx * a_yy - a_xy * a_xy
    is_maximum = (a_xx < 0) & (determinant > 0) & (peak > 0)
    safe = torch.where(is_maximum, determinant, torch.ones_like(determinant))
    u = -(2 * a_yy * a_x - a_xy * a_y) / safe
    v = -(2 * a_xx * a_y - a_xy * a_x) / safe
    reach = radius + 0.5
    x = torch.where(is_maximum, centre_x + u.clamp(-reach, reach), peak_x.to(torch.float64))
    y = torch.where(is_maximum, centre_y + v.clamp(-reach, reach), peak_y.to(torch.float64))
    return torch.stack([x, y], dim=-1).view(batch, points, 2).to(heatmaps.dtype)
