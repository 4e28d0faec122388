"""GrabCut: recovery of synthetic objects, agreement with OpenCV, exact graph energy, refinement,
determinism, the colour mixtures against brute force, and every input error."""

import itertools
import math

import cv2
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from seglab.classical import (
    GC_BGD,
    GC_FGD,
    GC_PR_BGD,
    GC_PR_FGD,
    GrabCutState,
    grabcut,
    refine_grabcut,
    trimap_from_grabcut_database,
    trimap_from_rect,
)
from seglab.classical._gmm import (
    COVARIANCE_RIDGE,
    ColorGMM,
    ColorIndex,
    component_moments,
    fit_color_gmm,
    initial_color_gmm,
    kmeans_labels,
    score_color_gmm,
)
from seglab.classical._grabcut_graph import (
    GrabCutSolver,
    color_planes,
    contrast_beta,
    is_foreground,
)
from seglab.classical._grabcut_multiscale import (
    _coarse_trimap,
    auto_downscale,
    block_mean,
)

RED = (220, 60, 50)
YELLOW = (230, 220, 40)


def disc_scene(size: int = 64, radius: int = 18, seed: int = 0):
    """A red disc on a noisy two-colour checkerboard; returns the image and the true mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    centre = size // 2
    truth = (yy - centre) ** 2 + (xx - centre) ** 2 <= radius**2
    checker = ((yy // 4 + xx // 4) % 2).astype(bool)[..., None]
    background = np.where(checker, (40, 90, 160), (60, 140, 70))
    image = np.where(truth[..., None], RED, background) + rng.normal(0, 8, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8), truth


def disc_rect(size: int = 64, radius: int = 18, margin: int = 5):
    centre = size // 2
    low, high = centre - radius - margin, centre + radius + margin + 1
    return (low, low, high, high)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return (a & b).sum() / (a | b).sum()


@pytest.fixture(scope="module")
def scene():
    return disc_scene()


# ---------------------------------------------------------------------------------------------
# Segmentation quality and agreement with OpenCV


def test_rect_recovers_disc(scene):
    image, truth = scene
    labels = grabcut(image, rect=disc_rect())
    assert labels.shape == truth.shape and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= {0, 1}
    assert iou(labels, truth) > 0.95


def test_agrees_with_opencv(scene):
    image, truth = scene
    x0, y0, x1, y1 = disc_rect()
    mask = np.zeros(truth.shape, np.uint8)
    cv2.setRNGSeed(0)
    reference, _, _ = cv2.grabCut(
        image[..., ::-1].copy(),
        mask,
        (x0, y0, x1 - x0, y1 - y0),  # OpenCV's rect is (x, y, width, height)
        np.zeros((1, 65)),
        np.zeros((1, 65)),
        5,
        cv2.GC_INIT_WITH_RECT,
    )
    ours = grabcut(image, rect=(x0, y0, x1, y1))
    assert iou(ours, reference % 2) > 0.95
    assert iou(reference % 2, truth) > 0.95  # the comparison is between two good answers


def test_pixels_outside_rect_are_background(scene):
    image, _ = scene
    x0, y0, x1, y1 = 10, 12, 50, 52
    labels = grabcut(image, rect=(x0, y0, x1, y1))
    outside = np.ones(labels.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert not labels[outside].any()


def test_rect_and_mask_start_are_identical(scene):
    image, _ = scene
    rect = disc_rect()
    from_rect = grabcut(image, rect=rect)
    from_mask = grabcut(image, mask=trimap_from_rect(image.shape[:2], rect))
    np.testing.assert_array_equal(from_rect, from_mask)


def test_hard_constraints_hold(scene):
    image, truth = scene
    trimap = trimap_from_rect(truth.shape, disc_rect())
    trimap[30:34, 30:34] = GC_FGD
    trimap[0:5, :] = GC_BGD
    # A wrong hard constraint on purpose: it must still be obeyed.
    trimap[18:22, 30:34] = GC_BGD
    labels = grabcut(image, mask=trimap)
    assert labels[30:34, 30:34].all()
    assert not labels[18:22, 30:34].any()
    assert not labels[0:5].any()


def test_lasso_style_trimap(scene):
    image, truth = scene
    eroded = cv2.erode(truth.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    dilated = cv2.dilate(truth.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    database = np.where(dilated, 128, 0).astype(np.uint8)
    database[eroded] = 255
    labels = grabcut(image, mask=trimap_from_grabcut_database(database))
    assert iou(labels, truth) > 0.97


def test_deterministic(scene):
    image, _ = scene
    first, state_a = grabcut(image, rect=disc_rect(), return_state=True)
    second, state_b = grabcut(image, rect=disc_rect(), return_state=True)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(state_a.foreground_gmm.means, state_b.foreground_gmm.means)


def test_channel_axis_and_dtypes_give_the_same_labels(scene):
    image, _ = scene
    rect = disc_rect()
    expected = grabcut(image, rect=rect)
    channels_first = np.moveaxis(image, -1, 0)
    np.testing.assert_array_equal(grabcut(channels_first, rect=rect, channel_axis=0), expected)
    np.testing.assert_array_equal(grabcut(image.astype(np.uint16) * 257, rect=rect), expected)
    as_float = grabcut(image.astype(np.float64) / 255.0, rect=rect)
    assert iou(as_float, expected) > 0.99


def test_multiscale_matches_truth_and_full_resolution():
    image, truth = disc_scene(size=160, radius=50, seed=1)
    rect = disc_rect(160, 50, margin=12)
    trimap = trimap_from_rect(truth.shape, rect)
    assert auto_downscale(trimap) == 1  # 127^2 unknown pixels: below the threshold
    full = grabcut(image, rect=rect, downscale=1)
    coarse = grabcut(image, rect=rect, downscale=2)
    assert iou(full, truth) > 0.97
    assert iou(coarse, truth) > 0.97
    assert iou(coarse, full) > 0.98


def test_auto_downscale_thresholds():
    assert auto_downscale(np.full((100, 199), GC_PR_FGD, np.uint8)) == 1  # 19,900 unknown
    assert auto_downscale(np.full((100, 200), GC_PR_FGD, np.uint8)) == 2  # 20,000
    assert auto_downscale(np.full((600, 600), GC_PR_BGD, np.uint8)) == 2  # sqrt(7.2) -> 2
    assert auto_downscale(np.full((1000, 1000), GC_PR_FGD, np.uint8)) == 4  # sqrt(20) -> 4
    trimap = np.zeros((1000, 1000), np.uint8)  # fixed pixels do not count
    trimap[:10] = GC_PR_FGD
    assert auto_downscale(trimap) == 1


def test_block_mean_and_coarse_trimap():
    np.testing.assert_allclose(
        block_mean(np.arange(12.0).reshape(3, 4), 2), [[2.5, 4.5], [8.5, 10.5]]
    )
    trimap = np.array(
        [
            [GC_BGD, GC_PR_FGD, GC_PR_FGD, GC_PR_FGD],
            [GC_PR_FGD, GC_PR_FGD, GC_PR_FGD, GC_FGD],
            [GC_PR_BGD, GC_PR_BGD, GC_BGD, GC_FGD],
            [GC_PR_BGD, GC_PR_FGD, GC_PR_FGD, GC_PR_FGD],
        ],
        np.uint8,
    )
    # Blocks: any fixed background (and no fixed foreground) -> fixed background; any fixed
    # foreground (and no fixed background) -> fixed foreground; mixed or none -> majority.
    expected = [[GC_BGD, GC_FGD], [GC_PR_BGD, GC_PR_FGD]]
    np.testing.assert_array_equal(_coarse_trimap(trimap, 2), expected)


def test_iters_zero_returns_start_labels(scene):
    image, truth = scene
    rect = disc_rect()
    labels, state = grabcut(image, rect=rect, iters=0, return_state=True)
    np.testing.assert_array_equal(labels, trimap_from_rect(truth.shape, rect) == GC_PR_FGD)
    assert state.foreground_gmm.n_components == 5


# ---------------------------------------------------------------------------------------------
# State and interactive refinement


def two_objects_scene():
    """The red disc plus a yellow square inside the rectangle; yellow appears nowhere else."""
    image, truth = disc_scene()
    image = image.copy()
    image[8:20, 8:20] = YELLOW
    return image, truth, (4, 4, 60, 60)


def test_background_stroke_flips_a_wrong_region():
    image, truth, rect = two_objects_scene()
    labels, state = grabcut(image, rect=rect, return_state=True)
    assert labels[8:20, 8:20].mean() > 0.9  # unknown colour inside the box: taken as object
    stroke = np.zeros(truth.shape, bool)
    stroke[13:15, 8:20] = True  # a thin line across the square, not the whole square
    labels, state = refine_grabcut(image, state, bg_strokes=stroke)
    assert labels[8:20, 8:20].mean() < 0.05
    assert iou(labels, truth) > 0.95
    assert isinstance(state, GrabCutState)
    assert (state.mask[stroke] == GC_BGD).all()
    np.testing.assert_array_equal(state.labels, labels)


def test_foreground_stroke_adds_a_region():
    image, truth, rect = two_objects_scene()
    # Yellow outside the rectangle too, so the square starts as background.
    image[50:64, 0:4] = YELLOW
    labels, state = grabcut(image, rect=rect, return_state=True)
    assert labels[8:20, 8:20].mean() < 0.1
    # Yellow is better explained by the background model, so only a broad stroke helps: its
    # border then joins the object through the strong n-links between equal colours.
    stroke = np.zeros(truth.shape, bool)
    stroke[10:18, 10:18] = True
    labels, _ = refine_grabcut(image, state, fg_strokes=stroke, iters=3)
    assert labels[8:20, 8:20].mean() > 0.9
    assert iou(labels[20:], truth[20:]) > 0.95


def test_continue_from_state_equals_longer_run(scene):
    image, _ = scene
    rect = disc_rect()
    _, state = grabcut(image, rect=rect, iters=2, return_state=True, downscale=1)
    continued = grabcut(image, iters=3, state=state, downscale=1)
    np.testing.assert_array_equal(continued, grabcut(image, rect=rect, iters=5, downscale=1))


# ---------------------------------------------------------------------------------------------
# The graph: exact energy minimum on tiny images


def brute_force_minimum(image, trimap, unary, gamma, connectivity):
    """Minimise sum_i [x_i = bg] unary_i + sum_{p,q} w_pq [x_p != x_q] by enumeration."""
    colors = image.astype(np.float64)
    height, width = trimap.shape
    offsets = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if connectivity == 8 else [])
    pairs = []
    for y, x, (dy, dx) in itertools.product(range(height), range(width), offsets):
        ny, nx = y + dy, x + dx
        if 0 <= ny < height and 0 <= nx < width:
            pairs.append(((y, x), (ny, nx), np.sum((colors[y, x] - colors[ny, nx]) ** 2), dy * dx))
    beta = len(pairs) / (2 * sum(p[2] for p in pairs))
    unknown = list(zip(*np.nonzero(trimap >= GC_PR_BGD), strict=True))
    best, best_labels = np.inf, None
    for choice in itertools.product((0, 1), repeat=len(unknown)):
        labels = (trimap == GC_FGD).astype(int)
        for (y, x), value in zip(unknown, choice, strict=True):
            labels[y, x] = value
        energy = sum(u for (y, x), u in zip(unknown, unary, strict=True) if labels[y, x] == 0)
        for p, q, squared, diagonal in pairs:
            if labels[p] != labels[q]:
                energy += gamma * math.exp(-beta * squared) / (math.sqrt(2) if diagonal else 1)
        if energy < best - 1e-9:
            best, best_labels = energy, labels
    return best_labels


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cut_is_the_exact_energy_minimum(connectivity, seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
    trimap = np.full((4, 4), GC_PR_FGD, np.uint8)
    trimap[0, :2] = GC_BGD
    trimap[3, 3] = GC_FGD
    trimap[1, 3] = GC_BGD
    trimap[2, 0] = GC_FGD
    solver = GrabCutSolver(image.astype(np.float64), trimap, gamma=20.0, connectivity=connectivity)
    unary = rng.normal(0, 25, len(solver.unknown))  # cost of background minus foreground
    sink_side = solver._cut(unary + solver.terminal_extra)
    ours = (trimap == GC_FGD).astype(int)
    ours.reshape(-1)[solver.unknown] = ~sink_side
    np.testing.assert_array_equal(
        ours, brute_force_minimum(image, trimap, unary, 20.0, connectivity)
    )
    # Re-cutting with new t-links reuses the flow and must still be exact.
    unary = rng.normal(0, 25, len(solver.unknown))
    sink_side = solver._cut(unary + solver.terminal_extra)
    ours.reshape(-1)[solver.unknown] = ~sink_side
    np.testing.assert_array_equal(
        ours, brute_force_minimum(image, trimap, unary, 20.0, connectivity)
    )


def mixture_log_pdf(colors: np.ndarray, gmm: ColorGMM) -> np.ndarray:
    per_component = [
        np.log(w) + multivariate_normal(m, c).logpdf(colors)
        for w, m, c in zip(gmm.weights, gmm.means, gmm.covariances, strict=True)
        if w > 0
    ]
    return logsumexp(per_component, axis=0)


@pytest.mark.parametrize("connectivity", [4, 8])
def test_energy_matches_brute_force(connectivity):
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (5, 6, 3)).astype(np.uint8)
    trimap = np.full((5, 6), GC_PR_FGD, np.uint8)
    trimap[0] = GC_BGD
    trimap[4, :2] = GC_FGD
    trimap[2, 3] = GC_PR_BGD
    colors = image.astype(np.float64)
    solver = GrabCutSolver(colors, trimap, gamma=30.0, connectivity=connectivity)
    planes = colors.reshape(-1, 3).T.copy()
    fg = fit_color_gmm(planes, rng.integers(0, 2, 30), 2)
    bg = fit_color_gmm(planes, rng.integers(0, 2, 30), 2)
    fg, bg = solver.run(fg, bg, 2)
    labels = (solver.trimap == GC_FGD) | (solver.trimap == GC_PR_FGD)
    flat = colors.reshape(-1, 3)
    data = -np.where(labels.ravel(), mixture_log_pdf(flat, fg), mixture_log_pdf(flat, bg)).sum()
    beta = contrast_beta(colors, diagonal=connectivity == 8)
    offsets = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if connectivity == 8 else [])
    smooth = 0.0
    for y, x, (dy, dx) in itertools.product(range(5), range(6), offsets):
        ny, nx = y + dy, x + dx
        if not (0 <= ny < 5 and 0 <= nx < 6) or labels[y, x] == labels[ny, nx]:
            continue
        if trimap[y, x] < GC_PR_BGD and trimap[ny, nx] < GC_PR_BGD:
            continue  # between two fixed pixels: a constant, left out
        squared = np.sum((colors[y, x] - colors[ny, nx]) ** 2)
        smooth += 30.0 * math.exp(-beta * squared) / (math.sqrt(2) if dy * dx else 1)
    assert solver.energy(fg, bg) == pytest.approx(data + smooth, rel=1e-9)


def test_restart_returns_to_the_starting_labels(scene):
    image, truth = scene
    trimap = trimap_from_rect(truth.shape, disc_rect())
    solver = GrabCutSolver(image.astype(np.float64), trimap, gamma=50.0, connectivity=8)
    planes = image.reshape(-1, 3).T.astype(np.float64).copy()
    fg = fit_color_gmm(planes, np.zeros(planes.shape[1], np.int64), 1)
    solver.run(fg, fg, 1)
    assert (solver.trimap == GC_PR_BGD).any()
    solver.restart()
    np.testing.assert_array_equal(solver.trimap, trimap)


def test_several_starts_keep_the_lowest_energy(monkeypatch):
    image, truth = disc_scene(size=120, radius=30, seed=3)
    rect = disc_rect(120, 30, margin=20)
    energies, runs = [], []
    original_energy, original_run = GrabCutSolver.energy, GrabCutSolver.run

    def record_energy(self, fg, bg):
        energies.append(original_energy(self, fg, bg))
        return energies[-1]

    def record_run(self, fg, bg, iters):
        before = self.trimap.copy()
        result = original_run(self, fg, bg, iters)
        runs.append((before, self.trimap.copy()))
        return result

    monkeypatch.setattr(GrabCutSolver, "energy", record_energy)
    monkeypatch.setattr(GrabCutSolver, "run", record_run)
    labels = grabcut(image, rect=rect, downscale=2, n_init=3)
    # Three short coarse probes, the rest of the coarse iterations for the best one, then the
    # full-resolution stage.
    assert len(energies) == 3 and len(runs) == 5
    assert len(set(energies)) == 3  # the starts really differ
    assert iou(labels, truth) > 0.95
    # The coarse stage goes on from the probe with the lowest energy ...
    best_probe = runs[int(np.argmin(energies))][1]
    np.testing.assert_array_equal(runs[3][0], best_probe)
    # ... and the full-resolution stage starts from where the coarse stage ended.
    upsampled = np.repeat(np.repeat(runs[3][1] % 2 == 1, 2, 0), 2, 1)
    fine_start = runs[4][0]
    unknown = trimap_from_rect(truth.shape, rect) == GC_PR_FGD
    np.testing.assert_array_equal((fine_start % 2 == 1)[unknown], upsampled[unknown])


def test_fine_band_only_relabels_pixels_near_the_coarse_boundary(monkeypatch):
    import seglab.classical._grabcut_multiscale as multiscale

    image, truth = disc_scene(size=120, radius=30, seed=3)
    rect = disc_rect(120, 30, margin=20)
    frozen_sets = []
    original = multiscale._freeze_outside_band

    def record(trimap, unknown, band):
        held, frozen = original(trimap, unknown, band)
        frozen_sets.append((trimap.copy(), held, frozen))
        return held, frozen

    monkeypatch.setattr(multiscale, "_freeze_outside_band", record)
    labels = grabcut(image, rect=rect, downscale=2, fine_band=3)
    ((start, held, frozen),) = frozen_sets
    assert frozen.any() and (~frozen & (start >= GC_PR_BGD)).any()
    # Frozen pixels are hard constraints in the fine graph, on their coarse side ...
    assert set(np.unique(held[frozen])) <= {GC_BGD, GC_FGD}
    np.testing.assert_array_equal(held[frozen] == GC_FGD, start[frozen] == GC_PR_FGD)
    # ... and keep that side in the result, which is still a good segmentation.
    np.testing.assert_array_equal(labels[frozen], (start[frozen] == GC_PR_FGD).astype(np.uint8))
    assert iou(labels, truth) > 0.95


def test_continuing_from_a_state_makes_no_fresh_starts():
    image, truth = disc_scene(size=120, radius=30, seed=3)
    rect = disc_rect(120, 30, margin=20)
    _, state = grabcut(image, rect=rect, iters=1, downscale=2, return_state=True)
    one = grabcut(image, state=state, downscale=2, n_init=1)
    three = grabcut(image, state=state, downscale=2, n_init=3)
    np.testing.assert_array_equal(one, three)


def test_contrast_beta_matches_numpy():
    rng = np.random.default_rng(3)
    colors = rng.uniform(0, 255, (7, 9, 3))
    squared = [
        ((colors[:, 1:] - colors[:, :-1]) ** 2).sum(-1),
        ((colors[1:] - colors[:-1]) ** 2).sum(-1),
        ((colors[1:, 1:] - colors[:-1, :-1]) ** 2).sum(-1),
        ((colors[1:, :-1] - colors[:-1, 1:]) ** 2).sum(-1),
    ]
    mean8 = np.concatenate([s.ravel() for s in squared]).mean()
    mean4 = np.concatenate([s.ravel() for s in squared[:2]]).mean()
    assert contrast_beta(colors, diagonal=True) == pytest.approx(1 / (2 * mean8))
    assert contrast_beta(colors, diagonal=False) == pytest.approx(1 / (2 * mean4))
    assert contrast_beta(np.zeros((4, 4, 3)), diagonal=True) == 0.0


# ---------------------------------------------------------------------------------------------
# Colour mixtures against brute force


def random_gmm(seed: int) -> ColorGMM:
    rng = np.random.default_rng(seed)
    factors = rng.normal(0, 20, (3, 3, 3))
    covariances = factors @ factors.transpose(0, 2, 1) + 5 * np.eye(3)
    return ColorGMM(np.array([0.5, 0.3, 0.2]), rng.uniform(0, 255, (3, 3)), covariances)


def test_score_matches_scipy():
    gmm = random_gmm(0)
    planes = np.ascontiguousarray(np.random.default_rng(1).uniform(0, 255, (3, 200)))
    per_component = np.stack(
        [
            np.log(w) + multivariate_normal(m, c).logpdf(planes.T)
            for w, m, c in zip(gmm.weights, gmm.means, gmm.covariances, strict=True)
        ]
    )
    mixture, components = score_color_gmm(planes, gmm, likelihood="mixture")
    # The log-sum-exp runs its exp in float32 (by design, for speed): exact to ~1e-7 nats.
    np.testing.assert_allclose(mixture, logsumexp(per_component, axis=0), rtol=0, atol=2e-6)
    np.testing.assert_array_equal(components, per_component.argmax(axis=0))
    best, _ = score_color_gmm(planes, gmm, likelihood="component")
    np.testing.assert_allclose(best, per_component.max(axis=0), rtol=1e-10)
    none, assigned = score_color_gmm(planes, gmm, likelihood="none")
    assert none is None
    np.testing.assert_array_equal(assigned, components)
    # OpenCV's rule ignores the weights.
    _, unweighted = score_color_gmm(planes, gmm, weighted_assignment=False)
    expected = (per_component - np.log(gmm.weights)[:, None]).argmax(axis=0)
    np.testing.assert_array_equal(unweighted, expected)


def test_empty_component_is_never_chosen():
    gmm = random_gmm(2)
    gmm = ColorGMM(np.array([0.0, 0.6, 0.4]), gmm.means, gmm.covariances)
    planes = np.ascontiguousarray(gmm.means.T)  # component 0's own mean included
    log_likelihood, components = score_color_gmm(planes, gmm, likelihood="mixture")
    assert (components != 0).all()
    assert np.isfinite(log_likelihood).all()


def test_fit_matches_numpy():
    rng = np.random.default_rng(4)
    planes = np.ascontiguousarray(rng.uniform(0, 255, (3, 300)))
    labels = rng.integers(0, 3, 300)
    labels[labels == 2] = 1  # component 2 stays empty
    gmm = fit_color_gmm(planes, labels, 3)
    for k in range(2):
        members = planes[:, labels == k]
        np.testing.assert_allclose(gmm.weights[k], members.shape[1] / 300)
        np.testing.assert_allclose(gmm.means[k], members.mean(axis=1))
        expected = np.cov(members, bias=True) + COVARIANCE_RIDGE * np.eye(3)
        np.testing.assert_allclose(gmm.covariances[k], expected, rtol=1e-9, atol=1e-9)
    assert gmm.weights[2] == 0


def test_kmeans_finds_separated_clusters_deterministically():
    rng = np.random.default_rng(5)
    centres = np.array([[20, 20, 20], [200, 30, 30], [30, 200, 30]], float)
    truth = rng.integers(0, 3, 30_000)  # more than the k-means subset size
    planes = np.ascontiguousarray((centres[truth] + rng.normal(0, 5, (30_000, 3))).T)
    first = kmeans_labels(planes, 3, np.random.default_rng(0))
    second = kmeans_labels(planes, 3, np.random.default_rng(0))
    np.testing.assert_array_equal(first, second)
    # Same partition up to renaming the clusters.
    assert len(np.unique(np.stack([first, truth]), axis=1).T) == 3


def test_distinct_colours_weighted_by_counts_give_the_same_moments():
    rng = np.random.default_rng(2)
    planes = rng.integers(0, 4, (3, 5_000)).astype(np.float64) * 60  # 64 distinct colours
    colors, counts = ColorIndex.of(planes).histogram()
    assert colors.shape == (3, 64) and counts.sum() == 5_000
    groups = (colors[0] > 90).astype(np.int64)  # any labelling of the colours
    pixel_groups = (planes[0] > 90).astype(np.int64)
    weighted = component_moments(colors, groups, 2, counts)
    plain = component_moments(planes, pixel_groups, 2)
    for a, b in zip(weighted, plain, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_grouping_fixed_pixels_by_colour_changes_nothing(scene):
    """The solver's distinct-colour shortcut for fixed pixels gives the same cuts and models."""
    image, _ = scene
    trimap = trimap_from_rect(image.shape[:2], disc_rect())
    trimap[28:36, 28:36] = GC_FGD  # fixed foreground too
    colors = image.astype(np.float64)
    gmms = [
        initial_color_gmm(color_planes(colors)[:, side], 5, np.random.default_rng(0))
        for side in (is_foreground(trimap.reshape(-1)), ~is_foreground(trimap.reshape(-1)))
    ]
    results = []
    for index in (None, ColorIndex.of(color_planes(colors))):
        solver = GrabCutSolver(colors, trimap, gamma=50.0, connectivity=8, color_index=index)
        models = solver.run(*gmms, 3)
        results.append((solver.trimap.copy(), models, solver.energy(*models)))
    (trimap_a, models_a, energy_a), (trimap_b, models_b, energy_b) = results
    np.testing.assert_array_equal(trimap_a, trimap_b)
    for a, b in zip(models_a, models_b, strict=True):
        np.testing.assert_allclose(a.means, b.means, rtol=1e-9)
        np.testing.assert_allclose(a.covariances, b.covariances, rtol=1e-9, atol=1e-9)
    assert energy_a == pytest.approx(energy_b, rel=1e-9)


def test_weighted_kmeans_on_distinct_colours_equals_kmeans_on_pixels():
    """Same centres from the same start: Lloyd on counts-weighted colours = Lloyd on pixels."""
    import seglab.classical._gmm as gmm_module

    rng = np.random.default_rng(6)
    planes = np.round(rng.normal(100, 3, (3, 30_000))).clip(0, 255)
    colors, counts = ColorIndex.of(planes).histogram()
    assert colors.shape[1] < 30_000 / 4
    start = np.array([[95.0, 95, 95], [105, 105, 105], [100, 90, 110]])
    results = []
    for samples, weights in ((planes, np.ones(planes.shape[1])), (colors, counts)):
        centres = start.copy()
        labels = np.empty(samples.shape[1], dtype=np.int64)
        for _ in range(5):
            gmm_module._nearest_centre(samples, centres, labels)
            gmm_module._update_centres(samples, weights, labels, centres)
        results.append(centres)
    np.testing.assert_allclose(results[1], results[0], rtol=1e-9)
    labels = kmeans_labels(colors, 3, np.random.default_rng(0), weights=counts)
    assert labels.shape == (colors.shape[1],) and set(np.unique(labels)) <= {0, 1, 2}


def test_kmeans_with_fewer_colours_than_clusters():
    planes = np.ascontiguousarray(np.repeat([[10.0], [20.0], [30.0]], 50, axis=1))
    labels = kmeans_labels(planes, 5, np.random.default_rng(0))
    assert len(np.unique(labels)) == 1
    gmm = fit_color_gmm(planes, labels, 5)
    assert gmm.weights.max() == 1.0


# ---------------------------------------------------------------------------------------------
# Trimap helpers


def test_trimap_from_rect_is_exclusive():
    trimap = trimap_from_rect((3, 4), (1, 0, 3, 2))
    np.testing.assert_array_equal(trimap, [[0, 3, 3, 0], [0, 3, 3, 0], [0, 0, 0, 0]])
    assert trimap.dtype == np.uint8
    assert trimap_from_rect((3, 4), (0, 0, 4, 3)).min() == GC_PR_FGD  # the whole image


def test_trimap_from_grabcut_database():
    database = np.array([[0, 64, 128, 255]], np.uint8)
    np.testing.assert_array_equal(
        trimap_from_grabcut_database(database), [[GC_BGD, GC_BGD, GC_PR_FGD, GC_FGD]]
    )
    np.testing.assert_array_equal(
        trimap_from_grabcut_database(database, unknown=GC_PR_BGD),
        [[GC_BGD, GC_BGD, GC_PR_BGD, GC_FGD]],
    )


# ---------------------------------------------------------------------------------------------
# Errors


def test_database_trimap_errors():
    with pytest.raises(ValueError, match=r"hold only \(0, 64, 128, 255\); found \[3\]"):
        trimap_from_grabcut_database(np.array([[0, 3]]))
    with pytest.raises(ValueError, match="unknown must be GC_PR_BGD"):
        trimap_from_grabcut_database(np.array([[0, 128]]), unknown=GC_FGD)


@pytest.mark.parametrize(
    ("rect", "message"),
    [
        ((0, 0, 10), "four integers"),
        ((0, 0, 10.0, 10), "four integers"),
        ((5, 0, 5, 10), "is empty"),
        ((0, 8, 10, 3), "is empty"),
        ((-1, 0, 10, 10), "reaches outside the 64x64 image"),
        ((0, 0, 65, 10), "reaches outside"),
        ((0, 0, 10, 70), "reaches outside"),
    ],
)
def test_bad_rect(scene, rect, message):
    image, _ = scene
    with pytest.raises(ValueError, match=message):
        grabcut(image, rect=rect)


def test_rect_covering_the_image_has_no_background(scene):
    image, _ = scene
    with pytest.raises(ValueError, match="no background pixels"):
        grabcut(image, rect=(0, 0, 64, 64))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give a rect, a mask or a state"),
        ({"rect": (1, 1, 9, 9), "mask": np.zeros((64, 64))}, "either rect or mask"),
        ({"mask": np.zeros((64, 63))}, r"mask has shape \(64, 63\)"),
        ({"mask": np.full((64, 64), 4)}, r"mask values must be .* found \[4\]"),
        ({"mask": np.zeros((64, 64))}, "no foreground candidates"),
        ({"mask": np.full((64, 64), GC_PR_FGD)}, "no background pixels"),
        ({"rect": (1, 1, 9, 9), "iters": -1}, "iters must be an integer >= 0"),
        ({"rect": (1, 1, 9, 9), "iters": 2.5}, "iters must be an integer"),
        ({"rect": (1, 1, 9, 9), "n_components": 0}, "n_components must be an integer >= 1"),
        ({"rect": (1, 1, 9, 9), "fine_iters": 0}, "fine_iters must be an integer >= 1"),
        ({"rect": (1, 1, 9, 9), "downscale": 0}, "downscale must be an integer >= 1"),
        ({"rect": (1, 1, 9, 9), "n_init": 0}, "n_init must be an integer >= 1"),
        ({"rect": (1, 1, 9, 9), "fine_band": 0}, "fine_band must be an integer >= 1"),
        ({"rect": (1, 1, 9, 9), "gamma": 0.0}, "gamma must be > 0"),
        ({"rect": (1, 1, 9, 9), "connectivity": 6}, "unknown connectivity 6; choose one of 4, 8"),
    ],
)
def test_bad_arguments(scene, kwargs, message):
    image, _ = scene
    with pytest.raises(ValueError, match=message):
        grabcut(image, **kwargs)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((8, 8, 2), np.uint8), "expected a grey, RGB or RGBA image, got 2 channels"),
        (np.zeros((8, 8, 5), np.uint8), "expected a grey, RGB or RGBA image, got 5 channels"),
        (np.zeros((0, 8, 3), np.uint8), "image is empty"),
        (np.full((8, 8, 3), 256, np.int32), r"int32 images must hold 8-bit values 0\.\.255"),
        (np.full((8, 8, 3), np.nan), "NaN or infinite"),
        (np.full((8, 8, 3), 2.0), r"float images must be in \[0, 1\]"),
    ],
)
def test_bad_image(image, message):
    with pytest.raises(ValueError, match=message):
        grabcut(image, rect=(1, 1, 5, 5))


def test_state_for_another_image(scene):
    image, _ = scene
    _, state = grabcut(image, rect=disc_rect(), iters=0, return_state=True)
    with pytest.raises(ValueError, match=r"state is for a \(64, 64\) image"):
        grabcut(image[:32], state=state)


def test_refine_errors(scene):
    image, _ = scene
    _, state = grabcut(image, rect=disc_rect(), iters=1, return_state=True)
    with pytest.raises(ValueError, match=r"bg_strokes has shape \(3, 3\)"):
        refine_grabcut(image, state, bg_strokes=np.zeros((3, 3), bool))
    both = np.zeros((64, 64), bool)
    both[5, 5] = True
    with pytest.raises(ValueError, match="overlap"):
        refine_grabcut(image, state, fg_strokes=both, bg_strokes=both)
    with pytest.raises(ValueError, match="iters must be an integer >= 1"):
        refine_grabcut(image, state, iters=0)
