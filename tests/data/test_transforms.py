"""Paired transforms keep image and mask aligned and never blend labels."""

from __future__ import annotations

import pytest
import torch

from seglab.data import transforms as T


def _pair(size=40):
    torch.manual_seed(0)
    mask = torch.zeros(size, size, dtype=torch.int64)
    mask[8:30, 5:20] = 1
    mask[25:35, 22:38] = 2
    # The image encodes the mask in its red channel, so alignment can be checked after warping.
    image = torch.stack([mask.float() / 2, torch.rand(size, size) * 0.1, torch.zeros(size, size)])
    return image, mask


def _aligned(image, mask, ignore=255):
    """The label read back from the red channel agrees with the mask almost everywhere.

    Only a band along label edges may differ (the image is interpolated there); a mask that
    was flipped or shifted against its image agrees on far fewer pixels.
    """
    valid = mask != ignore
    from_image = torch.round(image[0] * 2).long()
    return (from_image[valid] == mask[valid]).float().mean() > 0.85


@pytest.mark.parametrize(
    "transform",
    [
        T.Resize(23),
        T.RandomScaleCrop(scale=(0.6, 1.6), size=32),
        T.RandomHorizontalFlip(p=1.0),
        T.RandomRotation(20),
        T.Compose([T.RandomScaleCrop(size=32), T.RandomHorizontalFlip(), T.RandomRotation(15)]),
    ],
)
def test_geometry_keeps_pairs_aligned_and_labels_valid(transform):
    for seed in range(5):
        torch.manual_seed(seed)
        image, mask = transform(*_pair())
        assert image.shape[-2:] == mask.shape[-2:]
        assert set(mask.unique().tolist()) <= {0, 1, 2, 255}
        assert mask.dtype == torch.int64
        assert _aligned(image, mask)


def test_alignment_check_catches_a_misaligned_pair():
    image, mask = _pair()
    assert _aligned(image, mask)
    assert not _aligned(image, mask.flip(-1).roll(7, 0))


def test_flip_is_exact_and_resize_is_nearest():
    image, mask = _pair()
    flipped_image, flipped_mask = T.RandomHorizontalFlip(p=1.0)(image, mask)
    torch.testing.assert_close(flipped_mask, mask.flip(-1))
    torch.testing.assert_close(flipped_image, image.flip(-1))
    small = T.Resize((20, 20))(image, mask)[1]
    torch.testing.assert_close(small, mask[1::2, 1::2])  # nearest-exact picks pixel centres


def test_rotation_fills_corners_with_ignore_index():
    image, mask = _pair()
    torch.manual_seed(1)
    _, rotated = T.RandomRotation(45, ignore_index=99)(image, torch.zeros_like(mask))
    assert rotated[0, 0] == 99 or rotated[0, -1] == 99 or rotated[-1, 0] == 99


def test_multilabel_masks_follow_the_geometry():
    image, mask = _pair()
    labels = torch.stack([(mask == 1).float(), (mask >= 1).float()])
    torch.manual_seed(2)
    out_image, out_labels = T.RandomScaleCrop(size=24)(image, labels)
    assert out_labels.shape == (2, 24, 24)
    assert set(out_labels.unique().tolist()) <= {0.0, 1.0}


def test_color_jitter_changes_only_the_image():
    image, mask = _pair()
    torch.manual_seed(3)
    jittered, same_mask = T.ColorJitter(0.4, 0.4, 0.4, 0.1)(image, mask)
    assert same_mask is mask
    assert not torch.allclose(jittered, image)
    assert 0.0 <= jittered.min() and jittered.max() <= 1.0


def test_normalize_and_errors():
    image, mask = _pair()
    out, _ = T.Normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])(image, mask)
    torch.testing.assert_close(out, (image - 0.5) / 0.25)
    with pytest.raises(ValueError, match="std must be positive"):
        T.Normalize([0, 0, 0], [1, 0, 1])
    with pytest.raises(ValueError, match="scale must be a range"):
        T.RandomScaleCrop(scale=(2.0, 1.0))
