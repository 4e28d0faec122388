"""Hostile input to the classical methods: absurd sizes, zero options, and images of every kind.

Each case ends in a correct result or a clear ``ValueError`` that names the problem, fast:
never a traceback from deep inside numba or SciPy, silent garbage, or minutes of CPU. The
image value rule (uint8 0..255, uint16 0..65535, other integers only in 0..255, bool {0, 1},
floats finite in [0, 1]) holds for ``normalized_cut``, ``grabcut`` and the watershed; ``slic``
keeps scikit-image's rescaling by min and max, so any finite range works there.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from seglab.classical import grabcut, normalized_cut, refine_grabcut, slic, watershed_instances
from seglab.classical.grabcut import MAX_COMPONENTS, MAX_GAMMA, MAX_INIT, MAX_ITERS
from seglab.classical.ncut import MAX_RADIUS, MAX_SEGMENTS, MAX_SIDE, MAX_SUPERPIXELS
from seglab.classical.run import run_classical
from seglab.classical.slic import MAX_NUM_ITER
from seglab.classical.slic import MAX_SIGMA as SLIC_MAX_SIGMA
from seglab.classical.watershed import MAX_SIGMA as WATERSHED_MAX_SIGMA
from seglab.limits import MAX_IMAGE_PIXELS

RECT = (8, 6, 40, 34)  # around the red block of scene()


def scene() -> np.ndarray:
    """A red block on a noisy grey background, (40, 48, 3) uint8."""
    rng = np.random.default_rng(0)
    image = (rng.random((40, 48, 3)) * 60 + 60).astype(np.uint8)
    image[10:30, 12:36] = (200, 40, 40)
    return image


def seconds(function, *args, **kwargs) -> tuple[object, float]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def segment(method: str, image: np.ndarray) -> np.ndarray:
    """One call per method with small settings, for the image-kind cases."""
    if method == "slic":
        return slic(image, 10)
    if method == "ncut":
        return normalized_cut(image, 3)
    if method == "ncut-rag":
        return normalized_cut(image, 3, method="rag", n_superpixels=40)
    if method == "grabcut":
        height, width = image.shape[:2]
        return grabcut(image, rect=(2, 2, max(3, width - 2), max(3, height - 2)))
    return watershed_instances(image, min_size=2)


ALL_METHODS = ["slic", "ncut", "ncut-rag", "grabcut", "watershed"]
RULE_METHODS = ["ncut", "ncut-rag", "grabcut", "watershed"]  # the project's value rule


# ---------------------------------------------------------- run_classical: 0 is not "default"
def test_slic_n_segments_zero_reaches_slic(tmp_path):
    with pytest.raises(ValueError, match="n_segments must be an integer >= 1, got 0"):
        run_classical("slic", scene(), out_dir=tmp_path, n_segments=0)
    assert not list(tmp_path.iterdir())  # nothing written


def test_slic_compactness_zero_reaches_slic(tmp_path):
    with pytest.raises(ValueError, match="compactness must be > 0 and finite, got 0"):
        run_classical("slic", scene(), out_dir=tmp_path, compactness=0)


def test_ncut_n_segments_zero_reaches_ncut(tmp_path):
    with pytest.raises(ValueError, match="n_segments must be >= 1, got 0"):
        run_classical("ncut", scene(), out_dir=tmp_path, n_segments=0)


def test_grabcut_iters_zero_writes_the_starting_rectangle(tmp_path):
    result = run_classical("grabcut", scene(), out_dir=tmp_path, rect=RECT, iters=0)
    expected = np.zeros((40, 48), np.uint8)
    x0, y0, x1, y1 = RECT
    expected[y0:y1, x0:x1] = 1
    np.testing.assert_array_equal(result.labels, expected)
    assert result.num_labels == 2 and all(path.is_file() for path in result.files)


def test_none_means_the_defaults(tmp_path):
    image = scene()
    slic_run = run_classical("slic", image, out_dir=tmp_path, n_segments=None, compactness=None)
    np.testing.assert_array_equal(slic_run.labels, slic(image, 400, 10.0))
    ncut_run = run_classical("ncut", image, out_dir=tmp_path, n_segments=None, ncut_method=None)
    np.testing.assert_array_equal(ncut_run.labels, normalized_cut(image, 8, method="pixel"))
    grabcut_run = run_classical("grabcut", image, out_dir=tmp_path, rect=RECT, iters=None)
    np.testing.assert_array_equal(grabcut_run.labels, grabcut(image, rect=RECT, iters=5))


# ---------------------------------------------------------------- the CLI: exit 2, one line
@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "scene.png"
    Image.fromarray(scene()).save(path)
    return str(path)


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    from seglab.cli import main

    code = main(["classical", *argv])
    return code, capsys.readouterr().err


def test_cli_slic_n_segments_zero(capsys, tmp_path, image_file):
    code, err = run_cli(capsys, "slic", image_file, "--out", str(tmp_path), "--n-segments", "0")
    assert code == 2
    assert err.strip() == "seglab classical: error: n_segments must be an integer >= 1, got 0"


def test_cli_slic_compactness_zero(capsys, tmp_path, image_file):
    code, err = run_cli(capsys, "slic", image_file, "--out", str(tmp_path), "--compactness", "0")
    assert code == 2
    assert err.strip() == "seglab classical: error: compactness must be > 0 and finite, got 0.0"


def test_cli_ncut_n_segments_zero(capsys, tmp_path, image_file):
    code, err = run_cli(capsys, "ncut", image_file, "--out", str(tmp_path), "--n-segments", "0")
    assert code == 2
    assert err.strip() == "seglab classical: error: n_segments must be >= 1, got 0"


def test_cli_ncut_n_segments_huge_fails_at_once(capsys, tmp_path, image_file):
    (code, err), elapsed = seconds(
        run_cli, capsys, "ncut", image_file, "--out", str(tmp_path), "--n-segments", "100000"
    )
    assert code == 2 and elapsed < 5
    assert "n_segments must be <= 50 (seglab.classical.ncut.MAX_SEGMENTS), got 100000" in err


def test_cli_grabcut_iters_zero_succeeds(capsys, tmp_path, image_file):
    from seglab.cli import main

    code = main(
        ["classical", "grabcut", image_file, "--out", str(tmp_path), "--rect", "8,6,40,34"]
        + ["--iters", "0"]
    )
    assert code == 0 and "grabcut: 2 labels" in capsys.readouterr().out


# ------------------------------------------------------------------- Normalized Cut bounds
def test_ncut_n_segments_over_the_cap_fails_early():
    image = np.random.default_rng(0).random((48, 64, 3))
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"n_segments must be <= 50 .*MAX_SEGMENTS.*100000"):
        normalized_cut(image, 100_000)
    assert time.perf_counter() - started < 5 and MAX_SEGMENTS == 50


def test_ncut_n_segments_at_the_cap_works():
    labels = normalized_cut(np.random.default_rng(0).random((8, 8, 3)), MAX_SEGMENTS)
    assert labels.max() + 1 == MAX_SEGMENTS


def test_ncut_more_segments_than_nodes_gives_one_per_node():
    labels = normalized_cut(np.random.default_rng(0).random((3, 3, 3)), MAX_SEGMENTS)
    assert sorted(labels.ravel()) == list(range(9))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_side": MAX_SIDE + 1}, ValueError, r"max_side must be <= 128 .*MAX_SIDE"),
        ({"max_side": 10**6}, ValueError, r"max_side must be <= 128"),
        ({"n_superpixels": MAX_SUPERPIXELS + 1}, ValueError, r"n_superpixels must be <= 4000"),
        ({"radius": MAX_RADIUS + 1}, ValueError, r"radius must be >= 1 and <= 8 .*MAX_RADIUS"),
        ({"radius": float("inf")}, ValueError, r"radius must be >= 1 and <= 8"),
        ({"radius": float("nan")}, ValueError, r"radius must be >= 1 and <= 8"),
        ({"sigma_color": float("inf")}, ValueError, "sigma_color must be > 0 and finite"),
        ({"sigma_spatial": float("nan")}, ValueError, "sigma_spatial must be > 0 and finite"),
        ({"compactness": float("inf")}, ValueError, "compactness must be > 0 and finite"),
        ({"threshold": float("nan")}, ValueError, "threshold must be >= 0"),
        ({"n_segments": 10**400}, ValueError, "n_segments must be <= 50"),
        ({"n_segments": 3.0}, TypeError, "n_segments must be an integer"),
    ],
    ids=lambda value: str(value)[:30] if isinstance(value, dict) else None,
)
def test_ncut_bad_sizes(kwargs, error, message):
    with pytest.raises(error, match=message):
        normalized_cut(np.zeros((6, 6, 3)), **{"n_segments": 2, **kwargs})


# ------------------------------------------------------------------------------ SLIC bounds
def test_slic_huge_n_segments_is_a_fast_clamp():
    image = scene()
    (labels, elapsed) = seconds(slic, image, 10**9)
    assert elapsed < 5
    assert labels.max() + 1 <= image.shape[0] * image.shape[1]
    np.testing.assert_array_equal(labels, slic(image, image.shape[0] * image.shape[1]))
    np.testing.assert_array_equal(slic(image, 10**400), labels)  # beyond any float


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_segments": float("inf")}, "n_segments must be an integer >= 1, got inf"),
        ({"n_segments": float("nan")}, "n_segments must be an integer >= 1, got nan"),
        ({"n_segments": "5"}, "n_segments must be an integer >= 1, got '5'"),
        ({"max_num_iter": MAX_NUM_ITER + 1}, r"max_num_iter must be .*<= 100 .*MAX_NUM_ITER"),
        ({"max_num_iter": 10**9}, r"max_num_iter must be an integer >= 0 and <= 100"),
        ({"sigma": SLIC_MAX_SIGMA + 1}, r"sigma must be >= 0 and <= 100 .*slic.MAX_SIGMA"),
        ({"sigma": float("inf")}, r"sigma must be >= 0 and <= 100"),
        ({"compactness": float("inf")}, "compactness must be > 0 and finite, got inf"),
        ({"compactness": float("nan")}, "compactness must be > 0 and finite, got nan"),
        ({"max_size_factor": float("inf")}, "both finite"),
        ({"min_size_factor": float("nan")}, "both finite"),
    ],
    ids=lambda value: str(value)[:30] if isinstance(value, dict) else None,
)
def test_slic_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        slic(scene(), **{"n_segments": 10, **kwargs})


def test_slic_huge_size_factors_act_as_the_image_area():
    image = scene()
    huge = slic(image, 10, min_size_factor=1e300, max_size_factor=1e300)
    area = image.shape[0] * image.shape[1]
    np.testing.assert_array_equal(huge, slic(image, 10, min_size_factor=area, max_size_factor=area))


# --------------------------------------------------------------------------- GrabCut bounds
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"iters": 10**6}, r"iters must be at most 100 \(seglab.classical.grabcut.MAX_ITERS\)"),
        ({"iters": MAX_ITERS + 1}, "iters must be at most 100"),
        ({"fine_iters": 10**6}, r"fine_iters must be at most 100 .*MAX_ITERS"),
        ({"n_components": MAX_COMPONENTS + 1}, r"n_components must be at most 20 .*COMPONENTS"),
        ({"n_init": MAX_INIT + 1}, r"n_init must be at most 20 .*MAX_INIT"),
        ({"gamma": MAX_GAMMA * 10}, r"gamma must be > 0 and <= 1e\+06 .*MAX_GAMMA"),
        ({"gamma": 1e300}, r"gamma must be > 0 and <= 1e\+06"),
        ({"gamma": float("inf")}, r"gamma must be > 0 and <= 1e\+06"),
        ({"downscale": 10**6}, r"downscale must be at most the image's shorter side \(40 px\)"),
        ({"downscale": 41}, r"downscale must be at most the image's shorter side"),
    ],
    ids=lambda value: str(value)[:30] if isinstance(value, dict) else None,
)
def test_grabcut_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        grabcut(scene(), rect=RECT, **kwargs)


def test_grabcut_refine_iters_capped():
    _, state = grabcut(scene(), rect=RECT, return_state=True)
    strokes = np.zeros((40, 48), bool)
    strokes[0, 0] = True
    with pytest.raises(ValueError, match="iters must be at most 100"):
        refine_grabcut(scene(), state, bg_strokes=strokes, iters=10**6)


def test_grabcut_downscale_of_the_shorter_side_works():
    labels = grabcut(scene(), rect=RECT, downscale=40)
    np.testing.assert_array_equal(labels, grabcut(scene(), rect=RECT, downscale=1))


def test_grabcut_huge_fine_band_acts_as_the_longer_side():
    image = scene()
    huge = grabcut(image, rect=RECT, downscale=2, fine_band=10**30)
    np.testing.assert_array_equal(huge, grabcut(image, rect=RECT, downscale=2, fine_band=48))


# ------------------------------------------------------------------------- watershed bounds
def discs() -> np.ndarray:
    yy, xx = np.mgrid[:40, :60]
    return ((yy - 20) ** 2 + (xx - 20) ** 2 < 144) | ((yy - 20) ** 2 + (xx - 39) ** 2 < 144)


def test_watershed_huge_min_distance_acts_as_h_plus_w():
    (labels, elapsed) = seconds(watershed_instances, None, foreground=discs(), min_distance=10**30)
    assert elapsed < 5
    reach = watershed_instances(None, foreground=discs(), min_distance=100)
    np.testing.assert_array_equal(labels, reach)
    assert labels.max() == 1  # one centre for the one connected object


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sigma": WATERSHED_MAX_SIGMA + 1}, r"sigma must be >= 0 and <= 100 .*watershed"),
        ({"sigma": 1e9}, r"sigma must be >= 0 and <= 100"),
        ({"distance_sigma": float("inf")}, r"distance_sigma must be >= 0 and <= 100"),
        ({"distance_sigma": -1.0}, r"distance_sigma must be >= 0 and <= 100"),
        ({"h": float("nan"), "markers": "h_maxima"}, "h must be > 0 and finite, got nan"),
        ({"min_size": float("nan")}, "min_size must be >= 0 and finite, got nan"),
        ({"compactness": float("inf")}, "compactness must be >= 0 and finite, got inf"),
        ({"threshold": float("nan")}, r"or a number; got nan \(a level must be finite\)"),
        ({"min_distance": True}, "min_distance must be an integer >= 1"),
    ],
    ids=lambda value: str(value)[:30] if isinstance(value, dict) else None,
)
def test_watershed_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        watershed_instances(scene(), **kwargs)


# ------------------------------------------------------------------- hostile images: rules
@pytest.mark.parametrize("method", ALL_METHODS)
def test_nan_image_is_refused(method):
    image = np.random.default_rng(0).random((24, 32, 3))
    image[5, 5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        segment(method, image)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_infinite_image_is_refused(method):
    image = np.random.default_rng(0).random((24, 32, 3))
    image[5, 5, 1] = -np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        segment(method, image)


@pytest.mark.parametrize("method", RULE_METHODS)
def test_float_image_in_0_255_is_refused(method):
    image = scene().astype(np.float64)
    with pytest.raises(
        ValueError,
        match=r"float images must be in \[0, 1\]; this one spans \[40, 200\]: divide by 255 or "
        "pass uint8",
    ):
        segment(method, image)


@pytest.mark.parametrize("method", RULE_METHODS)
def test_negative_float_image_is_refused(method):
    image = np.random.default_rng(0).random((24, 32, 3)) - 0.5
    with pytest.raises(ValueError, match=r"float images must be in \[0, 1\]; this one spans \[-0"):
        segment(method, image)


def test_slic_rescales_any_float_range_as_documented():
    image = scene()
    np.testing.assert_array_equal(slic(image.astype(np.float64), 20), slic(image / 255.0, 20))
    np.testing.assert_array_equal(slic(image / 255.0 - 0.5, 20), slic(image / 255.0, 20))


@pytest.mark.parametrize("method", RULE_METHODS)
def test_int64_image_over_255_is_refused(method):
    image = scene().astype(np.int64) * 4
    with pytest.raises(
        ValueError,
        match=r"int64 images must hold 8-bit values 0\.\.255; this one spans \[160, 800\]: scale it to 0..255",
    ):
        segment(method, image)


@pytest.mark.parametrize("method", RULE_METHODS)
def test_negative_int8_image_is_refused(method):
    image = (scene() // 4).astype(np.int8) - 60
    with pytest.raises(ValueError, match=r"int8 images must hold 8-bit values 0\.\.255"):
        segment(method, image)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32, np.uint64, np.int16])
@pytest.mark.parametrize("method", ALL_METHODS)
def test_other_integer_dtypes_in_0_255_read_as_8_bit(method, dtype):
    image = scene()
    np.testing.assert_array_equal(segment(method, image.astype(dtype)), segment(method, image))


@pytest.mark.parametrize("method", ["ncut", "ncut-rag", "watershed"])
def test_bool_image_reads_as_0_and_1(method):
    image = scene() > 128
    np.testing.assert_array_equal(segment(method, image), segment(method, image.astype(float)))


def test_grabcut_bool_image_reads_as_0_and_255():
    image = scene() > 128
    np.testing.assert_array_equal(
        segment("grabcut", image), segment("grabcut", image.astype(np.uint8) * 255)
    )


@pytest.mark.parametrize("method", ALL_METHODS)
def test_complex_image_is_refused(method):
    with pytest.raises(ValueError, match="complex128"):
        segment(method, scene().astype(complex))


# -------------------------------------------------------------- hostile images: odd shapes
def test_constant_image_segments_cleanly():
    image = np.full((24, 32, 3), 0.5)
    assert segment("slic", image).max() + 1 == 10  # the seed grid
    assert segment("ncut", image).max() + 1 == 3
    assert not segment("grabcut", image).any()  # nothing stands out: all background
    assert not segment("watershed", image).any()  # a flat image has no objects


@pytest.mark.parametrize("method", ["slic", "ncut", "ncut-rag", "watershed"])
def test_one_pixel_image(method):
    image = np.full((1, 1, 3), 0.7)
    np.testing.assert_array_equal(segment(method, image), [[0]])


def test_one_pixel_image_grabcut_has_no_background():
    with pytest.raises(ValueError, match="no background pixels"):
        grabcut(np.full((1, 1, 3), 0.7), rect=(0, 0, 1, 1))


@pytest.mark.parametrize("method", ALL_METHODS)
def test_empty_image(method):
    with pytest.raises(ValueError, match="image is empty"):
        segment(method, np.zeros((0, 32, 3), np.uint8))


@pytest.mark.parametrize("channels", [2, 5])
@pytest.mark.parametrize("method", ["slic", "ncut", "ncut-rag", "watershed"])
def test_two_and_five_channels_work(method, channels):
    rng = np.random.default_rng(0)
    image = rng.random((24, 32, channels))
    image[6:18, 8:24] = 0.9
    labels = segment(method, image)
    assert labels.shape == (24, 32) and labels.min() >= 0


@pytest.mark.parametrize("channels", [2, 5])
def test_grabcut_needs_three_channels(channels):
    with pytest.raises(
        ValueError, match=f"expected a grey, RGB or RGBA image, got {channels} channels"
    ):
        segment("grabcut", np.zeros((24, 32, channels), np.uint8))


@pytest.mark.parametrize("method", ALL_METHODS)
def test_huge_image_is_refused_before_any_work(method):
    # A broadcast view: 400 megapixels that take no memory; any copy would.
    image = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (20_000, 20_000, 3))
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"20000 x 20000 = 400 megapixels; the limit is 179"):
        segment(method, image)
    assert time.perf_counter() - started < 5 and MAX_IMAGE_PIXELS == 178_956_970


def test_huge_watershed_foreground_is_refused():
    mask = np.broadcast_to(np.zeros((1, 1), bool), (20_000, 20_000))
    with pytest.raises(ValueError, match="400 megapixels; the limit is 179"):
        watershed_instances(None, foreground=mask)


# ---------------------------------------------------------------- one layout rule for all
def test_every_method_reads_rgba_as_rgb_and_grabcut_takes_grey():
    """seglab._checks.channels_last: alpha is transparency, not content, so every method
    gives the RGBA image the RGB result; GrabCut (an RGB method) repeats a grey image."""
    from seglab.classical import foreground_mask, grabcut, normalized_cut, slic

    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    rgb[6:18, 8:24] = (230, 40, 40)
    rgba = np.concatenate([rgb, rng.integers(0, 256, (24, 32, 1), dtype=np.uint8)], axis=-1)
    rect = (4, 3, 28, 21)
    for method in (
        lambda image: slic(image, n_segments=20),
        lambda image: normalized_cut(image, n_segments=3),
        lambda image: grabcut(image, rect=rect, iters=2),
        lambda image: foreground_mask(image),
    ):
        np.testing.assert_array_equal(method(rgba), method(rgb))
    grey = rgb[..., 0]
    np.testing.assert_array_equal(
        grabcut(grey, rect=rect, iters=2),
        grabcut(np.repeat(grey[..., None], 3, -1), rect=rect, iters=2),
    )
