"""Key points from heatmaps: known sub-pixel peaks, gradients, batching and errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seglab.annotations.keypoints import (
    argmax_2d,
    gaussian_peak_fit,
    normalize_coordinates,
    soft_argmax_2d,
)

TRUE_PEAK = torch.tensor([12.3, 7.8], dtype=torch.float64)


def squared_distance(x0: float, y0: float, height: int = 24, width: int = 32) -> torch.Tensor:
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64),
        torch.arange(width, dtype=torch.float64),
        indexing="ij",
    )
    return (xs - x0) ** 2 + (ys - y0) ** 2


def gaussian(x0: float, y0: float, sigma: float, height: int = 24, width: int = 32) -> torch.Tensor:
    return torch.exp(-squared_distance(x0, y0, height, width) / (2 * sigma**2))[None, None]


@pytest.mark.parametrize("window", [3, 5])
@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0])
def test_gaussian_fit_recovers_a_subpixel_peak(window, sigma):
    estimate = gaussian_peak_fit(gaussian(12.3, 7.8, sigma), window=window)[0, 0]
    assert (estimate - TRUE_PEAK).abs().max() < 0.01


def test_gaussian_fit_is_exact_for_a_rotated_elliptic_gaussian():
    ys, xs = torch.meshgrid(
        torch.arange(24.0, dtype=torch.float64),
        torch.arange(32.0, dtype=torch.float64),
        indexing="ij",
    )
    u, v = xs - 12.3, ys - 7.8
    heatmaps = torch.exp(-(u**2 / 8 + v**2 / 2 + u * v / 4))[None, None]
    estimate = gaussian_peak_fit(heatmaps, window=5)[0, 0]
    assert (estimate - TRUE_PEAK).abs().max() < 1e-6


def test_gaussian_fit_at_the_border_and_with_non_positive_values():
    # Peak on the corner pixel and half a pixel beyond it: the window shifts inward.
    for x0, y0 in [(0.2, 0.0), (31.0, 23.3), (-0.3, 5.0)]:
        estimate = gaussian_peak_fit(gaussian(x0, y0, 1.5), window=5)[0, 0]
        assert (estimate - torch.tensor([x0, y0], dtype=torch.float64)).abs().max() < 1e-6
    # Zeros and negative values around the peak are clipped, not turned into -inf or NaN.
    heatmaps = gaussian(12.3, 7.8, 1.0)
    heatmaps[0, 0, 6, 11] = -0.5
    heatmaps[0, 0, 9, 13] = 0.0
    estimate = gaussian_peak_fit(heatmaps)[0, 0]
    assert torch.isfinite(estimate).all() and (estimate - TRUE_PEAK).abs().max() < 1.0
    # All non-positive or flat heatmaps fall back to the argmax.
    assert gaussian_peak_fit(torch.zeros(1, 1, 5, 5)).tolist() == [[[0.0, 0.0]]]
    flat = -torch.ones(1, 1, 6, 6)
    flat[0, 0, 4, 1] = -0.5
    assert gaussian_peak_fit(flat).tolist() == [[[1.0, 4.0]]]


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_gaussian_fit_beats_argmax_on_a_noisy_batch(sigma):
    generator = torch.Generator().manual_seed(0)
    # x in [6, 26), y in [6, 18): inside the 32 x 24 heatmap with room for the window.
    peaks = torch.rand(64, 3, 2, generator=generator, dtype=torch.float64)
    peaks = peaks * torch.tensor([20.0, 12.0], dtype=torch.float64) + 6
    heatmaps = torch.cat(
        [torch.cat([gaussian(float(x), float(y), sigma) for x, y in row], 1) for row in peaks]
    )
    heatmaps += 0.02 * torch.randn(heatmaps.shape, generator=generator, dtype=torch.float64)
    fit_error = (gaussian_peak_fit(heatmaps) - peaks).norm(dim=-1).mean()
    argmax_error = (argmax_2d(heatmaps) - peaks).norm(dim=-1).mean()
    assert fit_error < 0.3 * argmax_error


def test_soft_argmax_low_temperature_on_a_sharp_peak():
    # Logits of a sharp peak (log of a Gaussian with sigma = 1 px): T = 0.5 gives a softmax of
    # width 0.7 px around the true peak, whose discrete mean is accurate.
    logits = (-squared_distance(12.3, 7.8) / 2)[None, None]
    assert (soft_argmax_2d(logits, temperature=0.5)[0, 0] - TRUE_PEAK).abs().max() < 0.05
    # A Gaussian-valued heatmap in [0, 1] (sigma = 2.5): T = 0.05 silences the background.
    heatmaps = gaussian(12.3, 7.8, 2.5)
    assert (soft_argmax_2d(heatmaps, temperature=0.05)[0, 0] - TRUE_PEAK).abs().max() < 0.05


def test_soft_argmax_biases_that_the_docs_describe():
    heatmaps = gaussian(5.0, 5.0, 2.0)  # values in [0, 1], peak far from the centre (15.5, 11.5)
    at_one = soft_argmax_2d(heatmaps, temperature=1.0)[0, 0]
    # Background mass drags the estimate toward the centre of the heatmap...
    assert at_one[0] > 5.0 + 5 and at_one[1] > 5.0 + 3
    # ...and a lower temperature removes most of the pull.
    at_low = soft_argmax_2d(heatmaps, temperature=0.05)[0, 0]
    assert (at_low - torch.tensor([5.0, 5.0], dtype=torch.float64)).abs().max() < 0.05
    # A second, weaker peak pulls the estimate toward itself.
    two = gaussian(5.0, 5.0, 2.0) + 0.8 * gaussian(25.0, 5.0, 2.0)
    assert soft_argmax_2d(two, temperature=0.2)[0, 0, 0] > 5.5
    # With temperature -> 0 soft-argmax becomes the argmax.
    assert soft_argmax_2d(heatmaps, temperature=1e-4)[0, 0].tolist() == pytest.approx([5.0, 5.0])


def test_soft_argmax_matches_a_brute_force_expectation_and_normalises():
    generator = torch.Generator().manual_seed(1)
    heatmaps = torch.randn(2, 3, 5, 7, generator=generator, dtype=torch.float64)
    result = soft_argmax_2d(heatmaps, temperature=0.7)
    for n in range(2):
        for k in range(3):
            probabilities = torch.softmax(heatmaps[n, k].flatten() / 0.7, 0).view(5, 7)
            x = sum(probabilities[i, j] * j for i in range(5) for j in range(7))
            y = sum(probabilities[i, j] * i for i in range(5) for j in range(7))
            assert result[n, k].tolist() == pytest.approx([float(x), float(y)])
    normalized = soft_argmax_2d(heatmaps, temperature=0.7, normalized=True)
    assert torch.allclose(normalized, normalize_coordinates(result, 5, 7))
    # align_corners=True: sampling the x/y ramps at the normalised point gives back the pixel.
    ramps = torch.stack(torch.meshgrid(torch.arange(5.0), torch.arange(7.0), indexing="ij")[::-1])[
        None
    ]
    grid = normalized[:1, :1].float().view(1, 1, 1, 2)
    sampled = F.grid_sample(ramps, grid, align_corners=True).view(2)
    assert sampled.tolist() == pytest.approx(result[0, 0].float().tolist(), abs=1e-5)
    assert normalize_coordinates(torch.tensor([[0.0, 0.0]]), 1, 1).tolist() == [[0.0, 0.0]]


def test_soft_argmax_gradcheck():
    heatmaps = torch.randn(2, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h: soft_argmax_2d(h, temperature=0.5), (heatmaps,))
    assert torch.autograd.gradcheck(lambda h: soft_argmax_2d(h, normalized=True), (heatmaps,))


def test_batch_shapes_and_dtypes():
    heatmaps = torch.rand(3, 4, 9, 11)
    for function in (argmax_2d, soft_argmax_2d, gaussian_peak_fit):
        result = function(heatmaps)
        assert result.shape == (3, 4, 2) and result.dtype == torch.float32
    one = torch.zeros(1, 1, 3, 4)
    one[0, 0, 2, 1] = 5
    assert argmax_2d(one).tolist() == [[[1.0, 2.0]]]
    # Ties go to the first maximum in row-major order.
    assert argmax_2d(torch.ones(1, 1, 3, 3)).tolist() == [[[0.0, 0.0]]]
    # Each (n, k) is independent: shuffling the batch shuffles the answers.
    permutation = torch.tensor([2, 0, 1])
    assert torch.equal(
        gaussian_peak_fit(heatmaps[permutation]), gaussian_peak_fit(heatmaps)[permutation]
    )


def test_errors():
    good = torch.rand(1, 1, 6, 6)
    for function in (argmax_2d, soft_argmax_2d, gaussian_peak_fit):
        with pytest.raises(
            ValueError, match=r"heatmaps must be \(N, K, H, W\), got shape \(6, 6\)"
        ):
            function(good[0, 0])
        with pytest.raises(TypeError, match="heatmaps must be floating point, got torch.int64"):
            function(torch.zeros(1, 1, 6, 6, dtype=torch.long))
        with pytest.raises(TypeError, match="heatmaps must be a torch.Tensor, got list"):
            function([[[[0.0]]]])
        with pytest.raises(ValueError, match="heatmaps must have H, W >= 1"):
            function(torch.zeros(1, 1, 0, 6))
    for bad in (0.0, -1.0, float("inf"), float("nan"), True):
        with pytest.raises(ValueError, match="temperature must be a positive finite number"):
            soft_argmax_2d(good, temperature=bad)
    with pytest.raises(ValueError, match="window must be one of 3, 5; got 4"):
        gaussian_peak_fit(good, window=4)
    with pytest.raises(ValueError, match=r"heatmaps of 4x6 are smaller than the 5x5 fit window"):
        gaussian_peak_fit(torch.rand(1, 1, 4, 6), window=5)
    for bad in (0.0, 1.0, -1e-3):
        with pytest.raises(ValueError, match=r"eps must be in \(0, 1\)"):
            gaussian_peak_fit(good, eps=bad)
