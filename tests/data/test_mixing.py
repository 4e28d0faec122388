"""Copy-Paste on a batch against a per-pixel loop, for index and multi-label targets."""

from __future__ import annotations

import pytest
import torch

from seglab.data.mixing import _derangement, copy_paste


def _batch(seed: int, n: int = 5, multilabel: bool = False):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, 6, 7, generator=generator)
    if multilabel:
        targets = (torch.rand(n, 2, 6, 7, generator=generator) < 0.3).float()
    else:
        targets = torch.randint(0, 3, (n, 6, 7), generator=generator)
        targets[torch.rand(n, 6, 7, generator=generator) < 0.1] = 255
    return images, targets


@pytest.mark.parametrize("n", [2, 3, 8])
def test_derangement_is_a_permutation_without_fixed_points(n):
    for seed in range(50):
        source = _derangement(n, torch.Generator().manual_seed(seed), torch.device("cpu"))
        assert sorted(source.tolist()) == list(range(n))
        assert all(source[i] != i for i in range(n))


def _expected(images, targets, source, chosen, mirrored, multilabel):
    """The paste written as a loop over images and pixels."""
    images, targets = images.clone(), targets.clone()
    originals = images.clone(), targets.clone()
    n, _, h, w = images.shape
    for i in range(n):
        if not chosen[i]:
            continue
        j = int(source[i])
        for y in range(h):
            for x in range(w):
                xs = w - 1 - x if mirrored[i] else x
                label = originals[1][j][..., y, xs]
                is_object = bool(label.any()) if multilabel else int(label) not in (0, 255)
                if is_object:
                    images[i, :, y, x] = originals[0][j, :, y, xs]
                    targets[i][..., y, x] = label
    return images, targets


@pytest.mark.parametrize("multilabel", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_paste_matches_a_pixel_loop(seed, multilabel):
    images, targets = _batch(seed, multilabel=multilabel)
    before = images.clone(), targets.clone()
    n = images.shape[0]
    generator = torch.Generator().manual_seed(seed)
    mixed_images, mixed_targets = copy_paste(images, targets, p=0.6, generator=generator)
    # Replay the generator's draws in copy_paste's order: derangement, chosen, mirrored.
    replay = torch.Generator().manual_seed(seed)
    source = _derangement(n, replay, images.device)
    chosen = torch.rand(n, generator=replay) < 0.6
    mirrored = torch.rand(n, generator=replay) < 0.5
    assert chosen.any() and not chosen.all()  # both branches are exercised
    want_images, want_targets = _expected(images, targets, source, chosen, mirrored, multilabel)
    torch.testing.assert_close(mixed_images, want_images, rtol=0, atol=0)
    torch.testing.assert_close(mixed_targets, want_targets, rtol=0, atol=0)
    # The inputs are untouched.
    assert torch.equal(images, before[0]) and torch.equal(targets, before[1])


def test_p_zero_and_single_image_are_no_ops_and_bad_input_is_refused():
    images, targets = _batch(0)
    out = copy_paste(images, targets, p=0.0)
    assert out[0] is images and out[1] is targets
    one = copy_paste(images[:1], targets[:1], p=1.0)
    assert torch.equal(one[1], targets[:1])
    with pytest.raises(ValueError, match=r"probability must be in \[0, 1\]"):
        copy_paste(images, targets, p=1.5)
    with pytest.raises(ValueError, match="differ in size"):
        copy_paste(images, targets[..., :3], p=0.5)
    with pytest.raises(ValueError, match="takes \\(N, C, H, W\\) images"):
        copy_paste(images[0], targets, p=0.5)
