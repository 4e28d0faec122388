"""seglab.io: reading images of every kind, index masks, palette PNG writing, atomic writes."""

from __future__ import annotations

import gc
import os
import warnings

import numpy as np
import pytest
from PIL import Image
from skimage.data import astronaut

from seglab import io as seglab_io
from seglab.io import (
    atomic_write_bytes,
    read_image,
    read_mask,
    voc_palette,
    write_image,
    write_labels,
    write_mask,
)


@pytest.fixture
def rgb() -> np.ndarray:
    return np.ascontiguousarray(astronaut()[::16, ::16])  # (32, 32, 3) uint8


# ---------------------------------------------------------------------------- read_image


def test_read_image_png_is_exact(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "a.png")
    got = read_image(tmp_path / "a.png")
    assert got.dtype == np.uint8 and got.shape == (32, 32, 3)
    np.testing.assert_array_equal(got, rgb)


def test_read_image_jpeg(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=95)
    got = read_image(str(tmp_path / "a.jpg"))
    assert got.shape == (32, 32, 3) and got.dtype == np.uint8
    with Image.open(tmp_path / "a.jpg") as decoded:
        np.testing.assert_array_equal(got, np.asarray(decoded.convert("RGB")))
    assert np.abs(got.astype(int) - rgb).mean() < 8  # lossy, but the same picture


def test_read_image_gif_disguised_as_jpg(tmp_path):
    # Some Oxford-IIIT Pet ".jpg" files are GIFs: the content decides, not the name.
    palette_image = Image.new("P", (4, 3))
    palette_image.putpalette([0, 0, 0, 200, 10, 20] + [0] * 762)
    palette_image.putpixel((1, 2), 1)
    palette_image.save(tmp_path / "fake.jpg", format="GIF")
    got = read_image(tmp_path / "fake.jpg")
    assert got.shape == (3, 4, 3)
    assert got[2, 1].tolist() == [200, 10, 20] and got[0, 0].tolist() == [0, 0, 0]


def test_read_image_palette_png_gives_colours(tmp_path):
    mask = np.array([[0, 1], [15, 255]], np.uint8)
    write_mask(tmp_path / "m.png", mask)
    got = read_image(tmp_path / "m.png")
    assert got.tolist() == [[[0, 0, 0], [128, 0, 0]], [[192, 128, 128], [224, 224, 192]]]


def test_read_image_rgba_drops_alpha(tmp_path, rgb):
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), rgb)


def test_read_image_grayscale_gives_three_equal_channels(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(gray).save(tmp_path / "g.png")
    got = read_image(tmp_path / "g.png")
    assert got.shape == (3, 4, 3)
    for channel in range(3):
        np.testing.assert_array_equal(got[..., channel], gray)


def test_read_image_16_bit_is_scaled_by_its_maximum(tmp_path):
    values = np.array([[0, 250], [500, 1000]], np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    got = read_image(tmp_path / "deep.png")
    assert got[..., 0].tolist() == [[0, 64], [128, 255]]  # round(v / 1000 * 255)
    assert (got[..., 0] == got[..., 2]).all()
    Image.fromarray(np.zeros((2, 2), np.uint16)).save(tmp_path / "black.png")
    assert read_image(tmp_path / "black.png").max() == 0  # no division by zero


def test_read_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file: .*missing.png"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "garbage.jpg").write_bytes(b"this is not an image at all")
    with pytest.raises(ValueError, match="cannot read image .*garbage.jpg"):
        read_image(tmp_path / "garbage.jpg")
    # A truncated PNG is a readable header with broken data.
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cannot read image .*cut.png"):
        read_image(tmp_path / "cut.png")
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_image(tmp_path / "folder.png")


def test_read_image_refuses_decompression_bombs(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(tmp_path / "big.png")
    # PIL raises (not warns) above twice the limit.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ValueError, match="refusing to read .*big.png"):
        read_image(tmp_path / "big.png")


# ---------------------------------------------------------------------------- read_mask


def test_read_mask_palette_returns_indices(tmp_path):
    mask = np.array([[0, 1, 2], [255, 3, 0]], np.uint8)
    write_mask(tmp_path / "m.png", mask)
    got = read_mask(tmp_path / "m.png")
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, mask)


def test_read_mask_grayscale_and_bilevel(tmp_path):
    trimap = np.array([[1, 2], [3, 2]], np.uint8)  # Oxford-IIIT Pet trimaps are mode "L"
    Image.fromarray(trimap).save(tmp_path / "t.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "t.png"), trimap)
    Image.fromarray(np.array([[True, False]])).save(tmp_path / "b.png")
    got = read_mask(tmp_path / "b.png")
    assert got.dtype == np.uint8 and got.tolist() == [[1, 0]]


def test_read_mask_16_bit_keeps_values(tmp_path):
    labels = np.array([[0, 300], [65535, 7]], np.uint16)
    Image.fromarray(labels).save(tmp_path / "l.png")
    got = read_mask(tmp_path / "l.png")
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, labels.astype(np.int32))


def test_read_mask_errors(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    with pytest.raises(ValueError, match="has mode 'RGB'; expected an index mask"):
        read_mask(tmp_path / "colour.png")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_mask(tmp_path / "missing.png")
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match="cannot read image"):
        read_mask(tmp_path / "garbage.png")


# ---------------------------------------------------------------------------- writing


def test_voc_palette_known_colours():
    palette = voc_palette()
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    assert palette[0].tolist() == [0, 0, 0]
    assert palette[1].tolist() == [128, 0, 0]
    assert palette[2].tolist() == [0, 128, 0]
    assert palette[3].tolist() == [128, 128, 0]
    assert palette[15].tolist() == [192, 128, 128]  # person
    assert palette[255].tolist() == [224, 224, 192]  # void
    assert len({tuple(colour) for colour in palette.tolist()}) == 256
    np.testing.assert_array_equal(voc_palette(21), palette[:21])


def test_write_mask_round_trip_with_voc_palette(tmp_path):
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 21, size=(7, 9)).astype(np.int64)
    mask[0, :3] = 255
    path = tmp_path / "sub" / "mask.png"
    write_mask(path, mask)
    np.testing.assert_array_equal(read_mask(path), mask)
    with Image.open(path) as written:
        assert written.mode == "P"
        stored = np.array(written.getpalette(), np.uint8).reshape(-1, 3)
    for index in (1, 2, 15, 255):
        np.testing.assert_array_equal(stored[index], voc_palette()[index])
    assert [p.name for p in path.parent.iterdir()] == ["mask.png"]


def test_write_mask_custom_palette(tmp_path):
    palette = np.array([[0, 0, 0], [1, 2, 3], [250, 251, 252]], np.uint8)
    write_mask(tmp_path / "m.png", np.array([[0, 1, 2]]), palette=palette)
    assert read_image(tmp_path / "m.png")[0].tolist() == [[0, 0, 0], [1, 2, 3], [250, 251, 252]]
    assert read_mask(tmp_path / "m.png").tolist() == [[0, 1, 2]]


def test_write_mask_errors(tmp_path):
    with pytest.raises(ValueError, match=r"mask must be \(H, W\), got shape \(1, 2, 2\)"):
        write_mask(tmp_path / "m.png", np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match=r"mask values must be in \[0, 255\].*got \[0, 256\]"):
        write_mask(tmp_path / "m.png", np.array([[0, 256]]))
    with pytest.raises(ValueError, match=r"got \[-1, 0\]"):
        write_mask(tmp_path / "m.png", np.array([[0, -1]]))
    with pytest.raises(ValueError, match=r"palette must be \(P, 3\) with P <= 256"):
        write_mask(tmp_path / "m.png", np.zeros((2, 2)), palette=np.zeros((300, 3)))
    assert not (tmp_path / "m.png").exists()


def test_write_labels_switches_to_16_bit(tmp_path):
    few = np.array([[0, 255]])
    write_labels(tmp_path / "few.png", few)
    with Image.open(tmp_path / "few.png") as written:
        assert written.mode == "P"
    many = np.arange(12).reshape(3, 4) * 100  # up to 1100 superpixels
    write_labels(tmp_path / "many.png", many)
    np.testing.assert_array_equal(read_mask(tmp_path / "many.png"), many)
    with pytest.raises(ValueError, match=r"labels must be \(H, W\)"):
        write_labels(tmp_path / "x.png", np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 65535\]"):
        write_labels(tmp_path / "x.png", np.array([[0, 65536]]))


def test_write_image_round_trip(tmp_path, rgb):
    write_image(tmp_path / "a.png", rgb)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), rgb)
    with pytest.raises(ValueError, match="expected a uint8 .* image, got float64"):
        write_image(tmp_path / "b.png", rgb.astype(float))


def test_atomic_write_bytes(tmp_path, monkeypatch):
    target = tmp_path / "a" / "b" / "file.bin"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(seglab_io.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"third")
    # The old file survives and no temporary file is left behind.
    assert target.read_bytes() == b"second"
    assert os.listdir(target.parent) == ["file.bin"]


def test_read_image_float_tiff_is_scaled_not_blackened(tmp_path):
    # PIL's own F -> RGB conversion truncates, which turns an image in [0, 1] black.
    values = np.array([[0.2, 0.9], [1.5, -1.0]], np.float32)
    Image.fromarray(values).save(tmp_path / "f.tif")
    got = read_image(tmp_path / "f.tif")
    assert got[..., 0].tolist() == [[34, 153], [255, 0]]  # round(v / 1.5 * 255), negatives -> 0


def test_read_image_closes_its_file(tmp_path):
    # GIF and TIFF readers keep the file open after load(); read_image must close it.
    palette_image = Image.new("P", (4, 3))
    palette_image.save(tmp_path / "a.gif")
    Image.fromarray(np.zeros((2, 2), np.float32)).save(tmp_path / "a.tif")
    gc.collect()  # objects that earlier tests left behind must not warn in here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_image(tmp_path / "a.gif")
        read_mask(tmp_path / "a.gif")
        read_image(tmp_path / "a.tif")
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
