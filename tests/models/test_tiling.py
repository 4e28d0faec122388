"""Sliding-window inference: exact for per-pixel networks, bounded tiles, blended seams."""

from __future__ import annotations

import pytest
import torch

from seglab.models.tiling import blend_weights, check_tiling, tile_starts, tiled_forward


@pytest.mark.parametrize("length", [1, 63, 64, 65, 100, 257, 1000])
def test_windows_cover_the_image_with_full_tiles(length):
    tile, overlap = 64, 16
    starts = tile_starts(length, tile, overlap)
    covered = torch.zeros(length, dtype=torch.bool)
    for start in starts:
        end = start + min(tile, length)
        assert 0 <= start and end <= length  # every window inside and full-size
        covered[start:end] = True
    assert covered.all()
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:], strict=False))


def test_pointwise_network_gives_the_whole_image_result_exactly():
    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 4, kernel_size=1)
    image = torch.randn(2, 3, 150, 97)
    with torch.no_grad():
        whole = net(image)
    torch.testing.assert_close(tiled_forward(net, image, tile=48, overlap=12), whole)


def test_tiles_are_bounded_and_dict_outputs_are_blended():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 2, kernel_size=3, padding=1)
    seen = []

    def net(window):
        seen.append(tuple(window.shape))
        return {"a": conv(window), "b": window[:, :1] * 2}

    image = torch.randn(1, 3, 200, 130)
    out = tiled_forward(net, image, tile=64, overlap=16)
    assert max(h for *_, h, w in seen) == 64 and max(w for *_, h, w in seen) == 64
    assert len(seen) == len(tile_starts(200, 64, 16)) * len(tile_starts(130, 64, 16))
    torch.testing.assert_close(out["b"], image[:, :1] * 2)
    with torch.no_grad():
        whole = conv(image)
    # A 3x3 convolution differs from the whole-image result only on a tile's outer ring, which
    # the ramp weights down: inside windows it is exact, at seams close.
    torch.testing.assert_close(out["a"][..., 20:40, 20:40], whole[..., 20:40, 20:40])
    assert (out["a"] - whole).abs().max() < 0.5 * whole.abs().max()


def test_blend_weights_are_positive_and_flat_inside():
    weights = blend_weights(10, 12, 3)
    assert weights.shape == (10, 12) and weights.min() > 0
    assert (weights[3:-3, 3:-3] == 1).all() and weights[0, 0] == pytest.approx(1 / 16)


def test_bad_settings_are_refused():
    net = torch.nn.Conv2d(3, 1, kernel_size=1)
    with pytest.raises(ValueError, match="tile must be >= 16 pixels, got 8"):
        check_tiling(8, 0)
    with pytest.raises(ValueError, match=r"overlap must be in 0..tile/2 = 0..32, got 40"):
        tiled_forward(net, torch.zeros(1, 3, 70, 70), tile=64, overlap=40)
    with pytest.raises(ValueError, match="tile must be an int, got 64.0"):
        check_tiling(64.0, 0)
    with pytest.raises(ValueError, match=r"expected an \(N, C, H, W\) image"):
        tiled_forward(net, torch.zeros(3, 70, 70), tile=64)
    with pytest.raises(ValueError, match="tiling needs per-pixel outputs"):
        tiled_forward(
            lambda x: x.mean(dim=(2, 3), keepdim=True), torch.zeros(1, 3, 70, 70), tile=64
        )
