"""Paired transforms keep image and mask aligned and never blend labels."""

from __future__ import annotations

import math
from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from seglab.data import transforms as T


def _pair(height: int = 40, width: int = 40):
    generator = torch.Generator().manual_seed(0)
    mask = torch.zeros(height, width, dtype=torch.int64)
    mask[8:30, 5:20] = 1
    mask[25:35, 22:38] = 2
    # The image encodes the mask in its red channel (label / 2), so a threshold of the image
    # gives the mask back; after any geometric transform the two must still agree.
    noise = torch.rand(height, width, generator=generator) * 0.1
    image = torch.stack([mask.float() / 2, noise, torch.zeros(height, width)])
    return image, mask


def _labels_from_image(image: torch.Tensor) -> torch.Tensor:
    return torch.round(image[0] * 2).long()


def _agreement(image: torch.Tensor, mask: torch.Tensor, ignore: int = 255) -> float:
    valid = mask != ignore
    return float((_labels_from_image(image)[valid] == mask[valid]).float().mean())


GEOMETRIC = [
    T.Resize(23),
    T.Resize((17, 31)),
    T.RandomScaleCrop(scale=(0.6, 1.6), size=32),
    T.RandomScaleCrop(scale=(0.3, 0.5), size=(24, 30)),
    T.RandomHorizontalFlip(p=1.0),
    T.RandomRotation(30),
    T.Compose([T.RandomScaleCrop(size=32), T.RandomHorizontalFlip(), T.RandomRotation(15)]),
]


@pytest.mark.parametrize("transform", GEOMETRIC, ids=repr)
def test_geometry_keeps_pairs_aligned_and_labels_valid(transform):
    for seed in range(5):
        torch.manual_seed(seed)
        image, mask = transform(*_pair(40, 48))
        assert image.shape[-2:] == mask.shape[-2:]
        assert mask.dtype == torch.int64
        assert set(mask.unique().tolist()) <= {0, 1, 2, 255}  # nearest: no blended labels
        # Only a thin band along label edges may differ (the image is interpolated there).
        assert _agreement(image, mask) > 0.9


def test_alignment_check_catches_a_misaligned_pair():
    image, mask = _pair()
    assert _agreement(image, mask) == 1.0
    assert _agreement(image, mask.flip(-1).roll(7, 0)) < 0.8


def test_flip_is_exact_and_resize_is_nearest():
    image, mask = _pair()
    flipped_image, flipped_mask = T.RandomHorizontalFlip(p=1.0)(image, mask)
    torch.testing.assert_close(flipped_mask, mask.flip(-1))
    torch.testing.assert_close(flipped_image, image.flip(-1))
    assert T.RandomHorizontalFlip(p=0.0)(image, mask)[1] is mask
    small = T.Resize((20, 20))(image, mask)[1]
    torch.testing.assert_close(small, mask[1::2, 1::2])  # nearest-exact picks pixel centres
    # Antialiased bilinear agrees with PIL's bilinear, which filters over the whole footprint.
    for size in ((20, 20), (13, 29)):
        ours = T.Resize(size)(image, None)[0]
        for channel in range(3):
            pil = Image.fromarray(image[channel].numpy(), mode="F")
            reference = np.asarray(pil.resize(size[::-1], Image.Resampling.BILINEAR))
            np.testing.assert_allclose(ours[channel].numpy(), reference, atol=1e-4)


def test_nearest_indices_are_exact_pixel_centres():
    for size_in in range(1, 70):
        for size_out in (1, 2, 3, 5, 16, 33, 128):
            expected = [
                math.floor((Fraction(i) + Fraction(1, 2)) * size_in / size_out)
                for i in range(size_out)
            ]
            assert T.nearest_indices(size_in, size_out).tolist() == expected
    # torch's nearest-exact follows the same rule in floating point.
    labels = torch.arange(37.0)[None, None, None]
    torch_rule = F.interpolate(labels, size=(1, 16), mode="nearest-exact")[0, 0, 0].long()
    assert torch.equal(T.nearest_indices(37, 16), torch_rule)


def test_to_tensor_pair_matches_the_float_path():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (45, 61, 3), dtype=np.uint8)
    mask = rng.integers(0, 3, (45, 61))
    layers = rng.integers(0, 2, (2, 45, 61)).astype(np.uint8)
    for size in ((16, 20), (90, 100), (45, 61)):
        tensor, out_mask = T.to_tensor_pair(image, mask, size)
        want_image, want_mask = T.resize_pair(
            torch.from_numpy(image).permute(2, 0, 1).float() / 255, torch.from_numpy(mask), size
        )
        assert tensor.dtype == torch.float32 and tensor.is_contiguous()
        torch.testing.assert_close(tensor, want_image, atol=1.0 / 255, rtol=0)
        assert torch.equal(out_mask, want_mask)
        stacked = T.to_tensor_pair(image, layers, size)[1]
        assert stacked.shape == (2, *size) and stacked.dtype == torch.uint8
        assert torch.equal(stacked, T.resize_pair(tensor, torch.from_numpy(layers), size)[1])
    as_float, same = T.to_tensor_pair(image.astype(np.float32) / 255, None, 16)
    assert same is None and as_float.shape == (3, 16, 16)
    gray, _ = T.to_tensor_pair(image[..., 0], None, (np.int64(9), 7))
    torch.testing.assert_close(gray, T.to_tensor_pair(image[..., :1], None, (9, 7))[0])
    assert gray.shape == (1, 9, 7)
    kept, kept_mask = T.to_tensor_pair(image, mask)
    assert kept.shape == (3, 45, 61) and torch.equal(kept_mask, torch.from_numpy(mask))


@pytest.mark.parametrize("angle", [17.0, -33.0, 90.0, 180.0])
def test_rotation_matches_opencv_on_a_rectangle(angle):
    _, mask = _pair(37, 61)
    _, rotated = T.rotate_pair(torch.zeros(1, 37, 61), mask, angle, ignore_index=255)
    # OpenCV: counter-clockwise about the centre of the pixel grid, nearest, void outside.
    matrix = cv2.getRotationMatrix2D(((61 - 1) / 2, (37 - 1) / 2), angle, 1.0)
    expected = cv2.warpAffine(
        mask.numpy().astype(np.uint8), matrix, (61, 37), flags=cv2.INTER_NEAREST, borderValue=255
    )
    assert (rotated.numpy() == expected).mean() > 0.995


def test_rotation_fills_outside_with_ignore_index_or_zero():
    image, mask = _pair()
    _, rotated = T.rotate_pair(image, torch.zeros_like(mask), 45.0, ignore_index=99)
    assert rotated[0, 0] == 99 and rotated[-1, -1] == 99 and rotated[20, 20] == 0
    labels = torch.ones(2, 40, 40)
    _, rotated_labels = T.rotate_pair(image, labels, 45.0)
    assert rotated_labels[:, 0, 0].tolist() == [0.0, 0.0] and rotated_labels[:, 20, 20].sum() == 2
    rotated_image, _ = T.rotate_pair(torch.ones(3, 40, 40), None, 45.0)
    assert rotated_image[:, 0, 0].sum() == 0 and torch.allclose(
        rotated_image[:, 20, 20], torch.ones(3)
    )


def test_crop_pads_with_ignore_index_at_the_right_place():
    image = torch.arange(4.0).view(1, 2, 2)
    mask = torch.tensor([[1, 2], [3, 4]])
    out_image, out_mask = T.crop_pair(image, mask, -1, 1, (3, 2), ignore_index=255)
    assert out_mask.tolist() == [[255, 255], [2, 255], [4, 255]]
    assert out_image[0].tolist() == [[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]]
    inside_image, inside_mask = T.crop_pair(image, mask, 1, 0, (1, 2))
    assert inside_mask.tolist() == [[3, 4]] and inside_image[0].tolist() == [[2.0, 3.0]]


def test_scale_crop_of_a_small_image_pads_with_ignore_index():
    image, mask = _pair(20, 20)
    out_image, out_mask = T.RandomScaleCrop(scale=(1.0, 1.0), size=32, ignore_index=77)(image, mask)
    assert out_mask.shape == (32, 32)
    assert (out_mask == 77).sum() == 32 * 32 - 20 * 20  # the whole image is kept, once
    assert torch.equal(
        torch.sort(out_mask[out_mask != 77]).values, torch.sort(mask.flatten()).values
    )
    assert out_image[:, out_mask == 77].abs().sum() == 0


def test_scale_crop_windows_are_spread_over_the_image():
    mask = torch.arange(400).view(20, 20)
    image = mask[None].float() / 400
    offsets, placements = set(), set()
    for seed in range(40):
        generator = torch.Generator().manual_seed(seed)
        crop = T.RandomScaleCrop(scale=(1.0, 1.0), size=8, generator=generator)
        out_image, out = crop(image, mask)
        top, left = divmod(int(out[0, 0]), 20)
        assert torch.equal(out, mask[top : top + 8, left : left + 8])  # one intact window
        torch.testing.assert_close(out_image, image[:, top : top + 8, left : left + 8])
        offsets.add((top, left))
        padded = T.RandomScaleCrop(scale=(1.0, 1.0), size=26, generator=generator)(image, mask)[1]
        rows, cols = torch.nonzero(padded == 0, as_tuple=True)
        placements.add((int(rows[0]), int(cols[0])))
    assert len(offsets) > 20
    tops = {top for top, _ in offsets}
    assert min(tops) <= 1 and max(tops) >= 11  # windows reach both edges
    assert len(placements) > 10  # a small image lands anywhere in the padded window


def test_generator_makes_random_transforms_reproducible():
    pipeline = [
        lambda g: T.RandomScaleCrop(size=24, generator=g),
        lambda g: T.RandomRotation(30, generator=g),
        lambda g: T.RandomHorizontalFlip(generator=g),
        lambda g: T.ColorJitter(0.3, 0.3, 0.3, 0.1, generator=g),
        lambda g: T.RandomGrayscale(0.5, generator=g),
    ]

    def run(seed: int):
        generator = torch.Generator().manual_seed(seed)
        transform = T.Compose([make(generator) for make in pipeline])
        return [transform(*_pair()) for _ in range(4)]

    first, second, other = run(1), run(1), run(2)
    for (image_a, mask_a), (image_b, mask_b) in zip(first, second, strict=True):
        assert torch.equal(image_a, image_b) and torch.equal(mask_a, mask_b)
    assert any(not torch.equal(a[0], b[0]) for a, b in zip(first, other, strict=True))
    # Without a generator the global one is used: torch.manual_seed makes that reproducible.
    torch.manual_seed(4)
    global_a = T.RandomRotation(30)(*_pair())
    torch.manual_seed(4)
    global_b = T.RandomRotation(30)(*_pair())
    assert torch.equal(global_a[1], global_b[1])


def test_multilabel_masks_follow_the_geometry():
    image, mask = _pair()
    labels = torch.stack([(mask == 1).float(), (mask >= 1).float()])
    for transform in GEOMETRIC:
        torch.manual_seed(2)
        _, out_mask = transform(image, mask)
        torch.manual_seed(2)
        out_image, out_labels = transform(image, labels)
        assert out_labels.shape == (2, *out_image.shape[-2:])
        assert set(out_labels.unique().tolist()) <= {0.0, 1.0}
        # Same draws, same geometry: the multi-label channels are the index mask's classes.
        valid = out_mask != 255
        torch.testing.assert_close(out_labels[0][valid], (out_mask[valid] == 1).float())
        torch.testing.assert_close(out_labels[1][valid], (out_mask[valid] >= 1).float())
        assert out_labels[:, ~valid].sum() == 0


def test_color_jitter_changes_only_the_image():
    image, mask = _pair()
    torch.manual_seed(3)
    jittered, same_mask = T.ColorJitter(0.4, 0.4, 0.4, 0.1)(image, mask)
    assert same_mask is mask
    assert not torch.allclose(jittered, image)
    assert 0.0 <= jittered.min() and jittered.max() <= 1.0
    # Brightness alone multiplies every pixel by one factor from [0.7, 1.3].
    dim = torch.rand(3, 8, 8) * 0.5
    bright, _ = T.ColorJitter(0.3, 0, 0, 0)(dim, None)
    ratio = bright / dim
    assert torch.allclose(ratio, ratio.flatten()[0]) and 0.7 <= ratio.flatten()[0] <= 1.3
    # Saturation alone scales each pixel's distance from its own grey by one factor.
    colourful = torch.rand(3, 6, 6) * 0.5 + 0.25
    saturated, _ = T.ColorJitter(0, 0, 0.5, 0)(colourful, None)
    grey_in, grey_out = T.luma(colourful), T.luma(saturated)
    torch.testing.assert_close(grey_out, grey_in)
    factor = (saturated - grey_out) / (colourful - grey_in)
    assert torch.allclose(factor, factor.flatten()[0], atol=1e-3)
    assert 0.5 <= factor.flatten()[0] <= 1.5 and abs(factor.flatten()[0] - 1) > 1e-3
    # A grey image stays grey under any hue turn.
    grey = torch.full((3, 4, 4), 0.4)
    turned, _ = T.ColorJitter(0, 0, 0, 0.5)(grey, None)
    torch.testing.assert_close(turned, grey)
    # A half-turn of hue mirrors a colour through the grey of the same mean:
    # red (0.6, 0.2, 0.2) has grey 1/3, offset (4, -2, -2) / 15, so it becomes (1, 7, 7) / 15.
    red = torch.tensor([0.6, 0.2, 0.2]).view(3, 1, 1)
    torch.testing.assert_close(
        T.rotate_hue(red, 0.5).flatten(), torch.tensor([1.0, 7.0, 7.0]) / 15, atol=1e-6, rtol=0
    )


def test_random_grayscale_gives_the_luma_in_every_channel():
    image, mask = _pair()
    grey, same_mask = T.RandomGrayscale(p=1.0)(image, mask)
    assert same_mask is mask
    # ITU-R 601 luma, computed by hand for every pixel.
    luma = 0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2]
    for channel in range(3):
        torch.testing.assert_close(grey[channel], luma)
    untouched, _ = T.RandomGrayscale(p=0.0)(image, mask)
    assert untouched is image
    # A one-channel image is already grey: it is passed through.
    single = torch.rand(1, 4, 4)
    assert T.RandomGrayscale(p=1.0)(single, None)[0] is single
    # With p = 0.3 about 30 % of 2,000 draws turn grey.
    generator = torch.Generator().manual_seed(0)
    transform = T.RandomGrayscale(p=0.3, generator=generator)
    colour = torch.tensor([0.9, 0.1, 0.1]).view(3, 1, 1)
    turned = sum(float(transform(colour, None)[0][1, 0, 0]) > 0.2 for _ in range(2000))
    assert 540 <= turned <= 660


def test_normalize_and_make_normalize():
    image, mask = _pair()
    out, same = T.Normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])(image, mask)
    torch.testing.assert_close(out, (image - 0.5) / 0.25)
    assert same is mask
    imagenet = T.make_normalize("imagenet")
    mean = torch.tensor(T.IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(T.IMAGENET_STD).view(3, 1, 1)
    torch.testing.assert_close(imagenet(image, None)[0], (image - mean) / std)
    assert T.make_normalize(None) is None
    with pytest.raises(ValueError, match="Normalize has 3 channels but the image has 1"):
        imagenet(torch.zeros(1, 2, 2), None)


def test_errors():
    with pytest.raises(ValueError, match="std must be positive"):
        T.Normalize([0, 0, 0], [1, 0, 1])
    with pytest.raises(ValueError, match="mean and std need one value per channel, got 3 and 2"):
        T.Normalize([0, 0, 0], [1, 1])
    with pytest.raises(
        ValueError, match="unknown normalize 'coco'; choose one of None, 'imagenet'"
    ):
        T.make_normalize("coco")
    with pytest.raises(ValueError, match="unknown normalize 3; choose one of None"):
        T.make_normalize(3)
    with pytest.raises(ValueError, match="scale must be a range"):
        T.RandomScaleCrop(scale=(2.0, 1.0))
    with pytest.raises(
        ValueError, match=r"size must be an int or a pair of ints \(H, W\), got 'a'"
    ):
        T.Resize("a")
    with pytest.raises(ValueError, match="size must be positive"):
        T.RandomScaleCrop(size=(0, 4))
    with pytest.raises(ValueError, match="size must be an int or a pair of ints"):
        T.Resize(True)
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\], got 1.5"):
        T.RandomHorizontalFlip(p=1.5)
    with pytest.raises(ValueError, match="degrees must be non-negative, got -5"):
        T.RandomRotation(-5)
    with pytest.raises(ValueError, match=r"degrees must be a number or a range \(low, high\)"):
        T.RandomRotation((10, -10))
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\], got 2"):
        T.RandomGrayscale(p=2)
    with pytest.raises(ValueError, match="contrast must be non-negative, got -0.1"):
        T.ColorJitter(contrast=-0.1)
    with pytest.raises(ValueError, match=r"hue must be at most 0.5 \(half a turn\), got 0.7"):
        T.ColorJitter(hue=0.7)
