"""Normalized Cut: exact recovery of obvious regions, determinism, edge cases, solver fallbacks."""

import itertools
import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import seglab.classical._spectral as spectral
from seglab.classical import normalized_cut
from seglab.classical._affinity import WEIGHT_FLOOR, pixel_affinity, region_affinity

METHODS = ("pixel", "rag")
PARTITIONS = ("kway", "recursive")
COMBINATIONS = list(itertools.product(METHODS, PARTITIONS))


def same_partition(labels: np.ndarray, truth: np.ndarray) -> bool:
    """True when the two maps are equal up to a renaming of labels (a bijection)."""
    pairs = np.unique(np.stack([labels.ravel(), truth.ravel()]), axis=1).shape[1]
    return pairs == len(np.unique(labels)) == len(np.unique(truth))


def assert_valid_labels(labels: np.ndarray, shape: tuple, most: int) -> None:
    assert labels.shape == shape
    assert labels.dtype == np.int64
    present = np.unique(labels)
    assert present[0] == 0 and present[-1] == len(present) - 1  # contiguous from 0
    assert len(present) <= most


def blocks(height: int, width: int, colours, *, noise: float = 0.03, seed: int = 0):
    """Vertical stripes of flat colour plus Gaussian noise, and the true label map."""
    rng = np.random.default_rng(seed)
    truth = np.minimum(np.arange(width) * len(colours) // width, len(colours) - 1)
    truth = np.broadcast_to(truth, (height, width)).copy()
    image = np.asarray(colours, dtype=float)[truth] + rng.normal(0, noise, (height, width, 3))
    return np.clip(image, 0, 1), truth


RED_GREEN_BLUE = [(0.9, 0.1, 0.1), (0.1, 0.8, 0.1), (0.1, 0.1, 0.9)]


# --- recovery of obvious regions ---


@pytest.mark.parametrize(("method", "partition"), COMBINATIONS)
@pytest.mark.parametrize("num_regions", [2, 3])
def test_recovers_flat_colour_blocks(method, partition, num_regions):
    image, truth = blocks(24, 36, RED_GREEN_BLUE[:num_regions])
    labels = normalized_cut(image, num_regions, method=method, partition=partition)
    assert_valid_labels(labels, truth.shape, num_regions)
    assert same_partition(labels, truth)


@pytest.mark.parametrize(("method", "partition"), COMBINATIONS)
def test_recovers_grey_quadrant_blocks(method, partition):
    # Grey (H, W) input; a block in the corner and two halves, like skimage's slic tests.
    truth = np.zeros((30, 30), int)
    truth[:, 15:] = 1
    truth[:12, :12] = 2
    levels = np.array([40, 220, 130], np.uint8)
    image = levels[truth]
    labels = normalized_cut(image, 3, method=method, partition=partition, channel_axis=None)
    assert same_partition(labels, truth)


def test_sparse_solver_path_recovers_blocks():
    # 48 x 64 = 3072 pixels at full resolution: above the dense limit, so Lanczos is used.
    image, truth = blocks(48, 64, RED_GREEN_BLUE, seed=1)
    assert 48 * 64 > spectral.DENSE_LIMIT
    for partition in PARTITIONS:
        labels = normalized_cut(image, 3, partition=partition, max_side=64)
        assert same_partition(labels, truth)


def test_bilateral_upsampling_puts_boundaries_back_where_nearest_cannot():
    # Boundaries at columns 31 and 61 fall inside coarse pixels (scale 1/3): area averaging
    # blends them, so nearest upsampling misplaces a column; colour-guided voting does not.
    image, _ = blocks(30, 90, RED_GREEN_BLUE, noise=0.01)
    truth = np.zeros((30, 90), int)
    truth[:, 31:61] = 1
    truth[:, 61:] = 2
    image = np.asarray(RED_GREEN_BLUE)[truth] + np.random.default_rng(0).normal(
        0, 0.01, (30, 90, 3)
    )
    bilateral = normalized_cut(image, 3, max_side=30)
    nearest = normalized_cut(image, 3, max_side=30, upsampling="nearest")
    assert same_partition(bilateral, truth)
    assert not same_partition(nearest, truth)
    assert np.mean(nearest == bilateral) > 0.95  # same segments, only boundary columns differ


def test_recursive_stops_at_threshold_and_kway_gives_n_segments():
    image, truth = blocks(20, 30, RED_GREEN_BLUE[:2])
    # Asking for up to 6 segments: only the one real cut is below the Ncut threshold.
    recursive = normalized_cut(image, 6, partition="recursive")
    assert same_partition(recursive, truth)
    # A zero threshold forbids every cut.
    assert normalized_cut(image, 6, partition="recursive", threshold=0.0).max() == 0
    # k-way always returns the number asked for when the image has enough pixels.
    assert normalized_cut(image, 4).max() == 3


# --- determinism and never failing ---


@pytest.mark.parametrize(("method", "partition"), COMBINATIONS)
def test_deterministic_for_a_seed(method, partition):
    from skimage.data import chelsea

    image = chelsea()[::6, ::6]  # 50 x 75, natural texture
    # max_side 48 -> 48 x 32 = 1536 pixels: above the dense limit, so the seeded Lanczos runs.
    options = {"method": method, "partition": partition, "max_side": 48, "n_superpixels": 60}
    first = normalized_cut(image, 6, seed=3, **options)
    second = normalized_cut(image, 6, seed=3, **options)
    np.testing.assert_array_equal(first, second)
    assert_valid_labels(first, image.shape[:2], 6)


def test_recursive_cut_does_not_depend_on_the_seed_with_symmetric_regions():
    # Four equal quadrants give three nearly equal eigenvalues after the trivial one, so the
    # solver's start vector (from the seed) decides which vector of that cluster comes back;
    # 1600 pixels is above the dense limit, so the seeded Lanczos path runs.
    truth = np.zeros((40, 40), int)
    truth[:20, 20:], truth[20:, :20], truth[20:, 20:] = 1, 2, 3
    colours = np.array([(0.9, 0.1, 0.1), (0.1, 0.8, 0.1), (0.1, 0.1, 0.9), (0.9, 0.9, 0.2)])
    image = colours[truth] + np.random.default_rng(0).normal(0, 0.02, (40, 40, 3))
    for seed in range(4):
        labels = normalized_cut(image, 4, partition="recursive", max_side=40, seed=seed)
        assert same_partition(labels, truth)


@pytest.mark.parametrize(("method", "partition"), COMBINATIONS)
@pytest.mark.parametrize(
    "shape", [(1, 1), (2, 2), (1, 7), (7, 1), (1, 2), (3, 1)], ids=lambda s: f"{s[0]}x{s[1]}"
)
def test_tiny_images(method, partition, shape):
    rng = np.random.default_rng(0)
    image = rng.random(shape + (3,))
    for n_segments in (1, 2, 5):
        labels = normalized_cut(image, n_segments, method=method, partition=partition)
        assert_valid_labels(labels, shape, min(n_segments, image.shape[0] * image.shape[1]))
    assert normalized_cut(image, 1, method=method, partition=partition).max() == 0


@pytest.mark.parametrize(("method", "partition"), COMBINATIONS)
def test_constant_and_binary_images(method, partition):
    constant = np.full((16, 20, 3), 0.4)
    labels = normalized_cut(constant, 4, method=method, partition=partition, n_superpixels=20)
    assert_valid_labels(labels, (16, 20), 4)
    checker = (np.indices((16, 20)).sum(axis=0) % 2).astype(bool)
    labels = normalized_cut(checker, 3, method=method, partition=partition, channel_axis=None)
    assert_valid_labels(labels, (16, 20), 3)


def test_more_segments_than_pixels():
    image = np.random.default_rng(0).random((3, 3, 3))
    labels = normalized_cut(image, 50)
    assert_valid_labels(labels, (3, 3), 9)


def test_input_kinds():
    rng = np.random.default_rng(1)
    base = rng.random((12, 14, 3))
    as_uint8 = normalized_cut((base * 255).astype(np.uint8), 3)
    assert_valid_labels(as_uint8, (12, 14), 3)
    as_uint16 = normalized_cut((base * 65535).astype(np.uint16), 3)
    assert_valid_labels(as_uint16, (12, 14), 3)
    channels_first = normalized_cut(np.moveaxis(base, -1, 0), 3, channel_axis=0)
    np.testing.assert_array_equal(channels_first, normalized_cut(base, 3))
    four_channels = rng.random((12, 14, 4))
    for method in METHODS:
        labels = normalized_cut(four_channels, 3, method=method, n_superpixels=30)
        assert_valid_labels(labels, (12, 14), 3)
    single_channel = normalized_cut(base[..., :1], 2, method="rag", n_superpixels=30)
    assert_valid_labels(single_channel, (12, 14), 2)
    integers = normalized_cut(rng.integers(0, 3, size=(10, 10)), 2, channel_axis=None)
    assert_valid_labels(integers, (10, 10), 2)


def test_random_images_never_fail():
    # Property sweep: random sizes, contents, segment counts, methods and seeds.
    rng = np.random.default_rng(2024)
    makers = [
        lambda h, w: rng.random((h, w, 3)),
        lambda h, w: np.full((h, w, 3), rng.random()),
        lambda h, w: (rng.random((h, w, 3)) > 0.5).astype(float),
        lambda h, w: np.linspace(0, 1, h * w * 3).reshape(h, w, 3),
        lambda h, w: rng.integers(0, 256, (h, w, 3)).astype(np.uint8),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no solver warnings leak to the user either
        for _ in range(25):
            height, width = (int(v) for v in rng.integers(1, 20, size=2))
            image = makers[int(rng.integers(len(makers)))](height, width)
            n_segments = int(rng.integers(1, 9))
            for method, partition in COMBINATIONS:
                labels = normalized_cut(
                    image,
                    n_segments,
                    method=method,
                    partition=partition,
                    seed=int(rng.integers(1000)),
                    n_superpixels=int(rng.integers(1, 60)),
                )
                assert_valid_labels(labels, (height, width), n_segments)


@pytest.mark.slow
def test_random_larger_images_never_fail():
    rng = np.random.default_rng(7)
    for index in range(40):
        height, width = (int(v) for v in rng.integers(20, 120, size=2))
        image = rng.random((height, width, 3)) ** int(rng.integers(1, 6))
        if index % 3 == 0:
            image = (image > 0.5).astype(float)
        for method, partition in COMBINATIONS:
            labels = normalized_cut(
                image, int(rng.integers(2, 12)), method=method, partition=partition, seed=index
            )
            assert_valid_labels(labels, (height, width), 12)


def test_slic_failure_falls_back_to_skimage(monkeypatch):
    seglab_slic = pytest.importorskip("seglab.classical.slic")

    def broken(*args, **kwargs):
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(seglab_slic, "slic", broken)
    image, truth = blocks(20, 30, RED_GREEN_BLUE[:2])
    with pytest.warns(UserWarning, match="falling back to skimage.segmentation.slic"):
        labels = normalized_cut(image, 2, method="rag", n_superpixels=50)
    assert same_partition(labels, truth)


# --- validation ---


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "grid"}, ValueError, "unknown method 'grid'; choose one of pixel, rag"),
        ({"partition": "flat"}, ValueError, "choose one of kway, recursive"),
        ({"upsampling": "cubic"}, ValueError, "choose one of bilateral, nearest"),
        ({"n_segments": 0}, ValueError, "n_segments must be >= 1"),
        ({"n_segments": 2.5}, TypeError, "n_segments must be an integer"),
        ({"n_segments": True}, TypeError, "n_segments must be an integer"),
        ({"max_side": 1}, ValueError, "max_side must be >= 2"),
        ({"n_superpixels": 0}, ValueError, "n_superpixels must be >= 1"),
        ({"sigma_color": 0.0}, ValueError, "sigma_color must be > 0"),
        ({"sigma_spatial": -1.0}, ValueError, "sigma_spatial must be > 0"),
        ({"compactness": 0.0}, ValueError, "compactness must be > 0"),
        ({"radius": 0.5}, ValueError, "radius must be >= 1"),
        ({"threshold": -0.1}, ValueError, "threshold must be >= 0"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    image = np.zeros((4, 4, 3))
    kwargs = {"n_segments": 2, **kwargs}
    with pytest.raises(error, match=match):
        normalized_cut(image, **kwargs)


def test_invalid_images():
    with pytest.raises(ValueError, match="expected an \\(H, W\\) or \\(H, W, C\\) image"):
        normalized_cut(np.zeros(5))
    with pytest.raises(ValueError, match="expected an \\(H, W\\) or \\(H, W, C\\) image"):
        normalized_cut(np.zeros((2, 3, 4, 3)))
    with pytest.raises(ValueError, match="channel_axis=None"):
        normalized_cut(np.zeros((4, 4, 3)), channel_axis=None)
    with pytest.raises(ValueError, match="image is empty"):
        normalized_cut(np.zeros((0, 4, 3)))
    with pytest.raises(ValueError, match="image must hold numbers"):
        normalized_cut(np.full((3, 3), "a"))
    nan_image = np.zeros((5, 5, 3))
    nan_image[2, 2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        normalized_cut(nan_image)
    with pytest.raises(ValueError, match="NaN or infinite"):
        normalized_cut(np.full((5, 5), np.inf), method="rag")


# --- affinity graphs against brute force ---


def test_pixel_affinity_matches_brute_force():
    rng = np.random.default_rng(0)
    features = rng.random((4, 5, 2)) * 10
    radius, sigma_color, sigma_spatial = 2.3, 4.0, 1.5
    affinity = pixel_affinity(
        features, radius=radius, sigma_color=sigma_color, sigma_spatial=sigma_spatial
    ).toarray()
    expected = np.zeros((20, 20))
    coords = [(y, x) for y in range(4) for x in range(5)]
    for i, (yi, xi) in enumerate(coords):
        for j, (yj, xj) in enumerate(coords):
            distance2 = (yi - yj) ** 2 + (xi - xj) ** 2
            if i != j and distance2 <= radius**2:
                colour2 = np.sum((features[yi, xi] - features[yj, xj]) ** 2)
                weight = np.exp(-colour2 / sigma_color**2) * np.exp(-distance2 / sigma_spatial**2)
                expected[i, j] = max(weight, WEIGHT_FLOOR)
    np.testing.assert_allclose(affinity, expected, rtol=1e-12, atol=0)


def test_region_affinity_matches_brute_force():
    superpixels = np.array([[0, 0, 1], [0, 2, 1], [2, 2, 1]])
    features = np.arange(9, dtype=float).reshape(3, 3, 1) * 3
    affinity = region_affinity(features, superpixels, sigma_color=5.0).toarray()
    means = [features[superpixels == r].mean() for r in range(3)]
    counts = np.zeros((3, 3))
    for y, x in itertools.product(range(3), range(3)):
        for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            if 0 <= y + dy < 3 and 0 <= x + dx < 3:
                counts[superpixels[y, x], superpixels[y + dy, x + dx]] += 1
    similarity = np.exp(-((np.subtract.outer(means, means)) ** 2) / 25.0)
    np.testing.assert_allclose(affinity, counts * np.maximum(similarity, WEIGHT_FLOOR))
    assert affinity[0, 0] == 4  # two internal 4-adjacent pairs, counted both ways


# --- spectral machinery ---


def grid_affinity(height: int, width: int, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    features = rng.random((height, width, 1)) * 20
    return pixel_affinity(features, radius=1.5, sigma_color=10.0, sigma_spatial=2.0)


def reference_eigenvalues(affinity: sp.csr_matrix, k: int) -> np.ndarray:
    dense = affinity.toarray()
    degree = dense.sum(axis=1)
    scale = np.where(degree > 0, 1 / np.sqrt(np.where(degree > 0, degree, 1)), 0)
    laplacian = np.eye(len(dense)) - scale[:, None] * dense * scale[None, :]
    return scipy.linalg.eigh(laplacian, eigvals_only=True)[:k]


@pytest.mark.parametrize("solver", ["dense", "lanczos", "shift_invert", "lobpcg"])
def test_every_solver_finds_the_smallest_eigenpairs(solver):
    affinity = grid_affinity(30, 40)
    values, vectors, degree = spectral.smallest_eigenvectors(
        affinity, 4, np.random.default_rng(0), solver=solver
    )
    np.testing.assert_allclose(values, reference_eigenvalues(affinity, 4), atol=1e-6)
    laplacian, _ = spectral.normalized_laplacian(affinity)
    residual = laplacian @ vectors - vectors * values
    assert np.abs(residual).max() < 1e-3
    np.testing.assert_allclose(degree, np.asarray(affinity.sum(axis=1)).ravel())


def test_fallback_chain_when_arpack_and_lobpcg_fail(monkeypatch):
    affinity = grid_affinity(30, 40)
    expected = reference_eigenvalues(affinity, 3)

    def no_convergence(*args, **kwargs):
        raise spla.ArpackNoConvergence("did not converge", np.zeros(0), np.zeros((0, 0)))

    monkeypatch.setattr(spectral, "_lanczos", no_convergence)
    monkeypatch.setattr(spectral, "_shift_invert", no_convergence)
    values, _, _ = spectral.smallest_eigenvectors(affinity, 3, np.random.default_rng(0))
    np.testing.assert_allclose(values, expected, atol=1e-6)  # answered by LOBPCG

    monkeypatch.setattr(
        spectral,
        "_lobpcg",
        lambda laplacian, k, rng, degree: (
            np.full(k, np.nan),
            np.full((laplacian.shape[0], k), np.nan),
        ),
    )
    values, _, _ = spectral.smallest_eigenvectors(affinity, 3, np.random.default_rng(0))
    np.testing.assert_allclose(values, expected, atol=1e-9)  # answered by dense eigh

    # Too big for dense: the component indicators still give a usable, finite basis.
    monkeypatch.setattr(spectral, "DENSE_FALLBACK_LIMIT", 10)
    values, vectors, _ = spectral.smallest_eigenvectors(affinity, 3, np.random.default_rng(0))
    assert np.all(np.isfinite(vectors)) and vectors.shape == (1200, 3)
    labels = spectral.kway_partition(affinity, 3, np.random.default_rng(0))
    assert labels.shape == (1200,)


def test_disconnected_graph_with_an_isolated_node():
    # Two cliques and one node with no edges at all (degree 0).
    block = np.ones((4, 4)) - np.eye(4)
    dense = scipy.linalg.block_diag(block, block, np.zeros((1, 1)))
    affinity = sp.csr_matrix(dense)
    values, vectors, degree = spectral.smallest_eigenvectors(affinity, 3, np.random.default_rng(0))
    np.testing.assert_allclose(values, [0.0, 0.0, 1.0], atol=1e-12)
    assert degree[-1] == 0
    labels = spectral.kway_partition(affinity, 2, np.random.default_rng(0))
    assert same_partition(labels[:8], np.repeat([0, 1], 4))
    recursive = spectral.recursive_partition(affinity, 4, 0.5, np.random.default_rng(0))
    assert same_partition(recursive[:8], np.repeat([0, 1], 4))


def test_ncut_sweep_matches_brute_force():
    rng = np.random.default_rng(1)
    dense = rng.random((9, 9))
    dense = np.triu(dense, 1)
    dense = dense + dense.T
    affinity = sp.csr_matrix(dense)
    degree = dense.sum(axis=1)
    score = rng.normal(size=9)
    value, mask = spectral.ncut_sweep(affinity, degree, score, min_size=2)
    best = np.inf
    for threshold in np.sort(score)[:-1]:
        side = score <= threshold
        if side.sum() < 2 or (~side).sum() < 2:
            continue
        cut = dense[side][:, ~side].sum()
        ncut = cut / dense[side].sum() + cut / dense[~side].sum()
        if ncut < best:
            best, best_side = ncut, side
    assert value == pytest.approx(best)
    np.testing.assert_array_equal(mask, best_side)
    assert spectral.ncut_sweep(affinity, degree, score, min_size=5) == (np.inf, None)


def test_several_candidate_vectors_never_give_a_worse_cut(monkeypatch):
    for seed in range(5):
        affinity = grid_affinity(12, 15, seed=seed)
        values = {}
        for candidates in (1, 3):
            monkeypatch.setattr(spectral, "BIPARTITION_CANDIDATES", candidates)
            values[candidates], mask = spectral._best_bipartition(
                affinity, 3, np.random.default_rng(0), "auto"
            )
            assert mask is not None and 3 <= mask.sum() <= mask.size - 3
        assert values[3] <= values[1] + 1e-12


def test_kmeans_recovers_separated_clusters_and_handles_duplicates():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    truth = np.repeat(np.arange(3), 20)
    points = centres[truth] + rng.normal(0, 0.5, (60, 2))
    assert same_partition(spectral.kmeans(points, 3, rng), truth)
    # Two distinct points but k = 4: only two clusters can exist.
    duplicates = np.repeat(np.array([[0.0, 1.0], [1.0, 0.0]]), 5, axis=0)
    labels = spectral.kmeans(duplicates, 4, rng)
    assert same_partition(labels, np.repeat([0, 1], 5))
