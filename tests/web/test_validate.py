"""Upload checks of the web app: every refusal has a clear message (no gradio needed)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from seglab.web.validate import (
    InputError,
    check_pixel_limit,
    check_same_size,
    load_image_file,
    load_mask_file,
)


def png_header_only(path, width: int, height: int) -> None:
    """A tiny PNG that declares a ``width x height`` canvas: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    idat = zlib.compress(b"\x00" * (width + 1))  # one row of many: most rows are missing
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def noise_image(path, size=(40, 30), fmt="PNG") -> np.ndarray:
    array = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(array).save(path, format=fmt)
    return array


def test_reads_a_good_image_as_rgb(tmp_path):
    array = noise_image(tmp_path / "good.png")
    image = load_image_file(tmp_path / "good.png")
    assert image.dtype == np.uint8 and image.shape == (30, 40, 3)
    np.testing.assert_array_equal(image, array)


def test_grey_and_rgba_become_rgb(tmp_path):
    Image.fromarray(np.zeros((5, 6), np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(np.zeros((5, 6, 4), np.uint8)).save(tmp_path / "rgba.png")
    assert load_image_file(tmp_path / "grey.png").shape == (5, 6, 3)
    assert load_image_file(tmp_path / "rgba.png").shape == (5, 6, 3)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a picture\n")
    with pytest.raises(InputError, match="notes.txt: not an image"):
        load_image_file(path)


def test_user_file_name_in_message(tmp_path):
    path = tmp_path / "tmp123"
    path.write_text("text")
    with pytest.raises(InputError, match="holiday.jpg: not an image"):
        load_image_file(path, name="holiday.jpg")


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match="empty.png: the file is empty"):
        load_image_file(tmp_path / "empty.png")
    with pytest.raises(InputError, match="did not arrive"):
        load_image_file(tmp_path / "missing.png")


def test_over_the_pixel_limit_states_the_limit(tmp_path):
    png_header_only(tmp_path / "big.png", 6000, 5000)
    with pytest.raises(
        InputError, match=r"6000 x 5000 = 30.0 megapixels; the limit is 25 megapixels"
    ):
        load_image_file(tmp_path / "big.png")


def test_pixel_limit_is_configurable(tmp_path):
    noise_image(tmp_path / "small.png", size=(200, 100))
    with pytest.raises(InputError, match="the limit is 0.01 megapixels"):
        load_image_file(tmp_path / "small.png", max_megapixels=0.01)
    assert load_image_file(tmp_path / "small.png", max_megapixels=0.02).shape == (100, 200, 3)


@pytest.mark.parametrize("side", [10_000, 20_000])  # PIL's warning range, and its error range
def test_decompression_bomb(tmp_path, side):
    png_header_only(tmp_path / "bomb.png", side, side)
    # A generous limit of ours, so that PIL's own guard is what fires.
    with pytest.raises(InputError, match="bomb.png: refused as a decompression bomb"):
        load_image_file(tmp_path / "bomb.png", max_megapixels=1e6)
    # With the default limit the header check refuses it first.
    with pytest.raises(InputError, match="the limit is 25 megapixels"):
        load_image_file(tmp_path / "bomb.png")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(tmp_path, fmt):
    path = tmp_path / f"cut.{fmt.lower()}"
    noise_image(path, size=(120, 90), fmt=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="damaged or truncated"):
        load_image_file(path)


def test_masks(tmp_path):
    mask = np.array([[0, 1], [2, 255]], np.uint8)
    Image.fromarray(mask).save(tmp_path / "mask.png")
    np.testing.assert_array_equal(load_mask_file(tmp_path / "mask.png"), mask)
    noise_image(tmp_path / "colour.png")
    with pytest.raises(InputError, match="colour.png: not an index mask"):
        load_mask_file(tmp_path / "colour.png")
    (tmp_path / "x.txt").write_text("no")
    with pytest.raises(InputError, match="not an image"):
        load_mask_file(tmp_path / "x.txt")


def test_mask_size_mismatch():
    check_same_size(np.zeros((3, 4)), np.zeros((3, 4)))
    with pytest.raises(InputError, match=r"prediction is 4 x 3, ground truth is 5 x 3"):
        check_same_size(np.zeros((3, 4)), np.zeros((3, 5)))


def test_check_pixel_limit():
    check_pixel_limit(5000, 5000)  # exactly 25 megapixels is allowed
    with pytest.raises(InputError, match="a.png: image is 5001 x 5000"):
        check_pixel_limit(5001, 5000, name="a.png")


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)
