"""Numba kernels behind :func:`seglab.classical.slic`.

Private module: the caller validates shapes and dtypes. Features are planar ``(C, H, W)`` float32
arrays, already scaled by ``1 / compactness``, so that the distance to a cluster is the plain sum
``|colour difference|² + (spatial distance / step)²`` of Achanta et al. (TPAMI 2012).

Every kernel is compiled with ``cache=True``: the first call ever compiles (a few seconds), later
processes load the machine code from ``__pycache__``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# fastmath without 'nnan'/'ninf': the distance buffer starts at a huge value and masked pixels
# are negative, and those comparisons must stay exact.
_FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}

# sRGB (D65) -> CIE XYZ, and the D65 2° white point: the constants of skimage.color.rgb2lab.
_XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
# Rows of the matrix divided by the white point, so one multiply-add gives X/Xn, Y/Yn, Z/Zn.
_XYZN_FROM_RGB = _XYZ_FROM_RGB / _WHITE_D65[:, None]


@njit(cache=True)
def srgb_to_linear(value: float) -> float:
    """Undo the sRGB gamma of one value in [0, 1] (same branches as skimage)."""
    if value > 0.04045:
        return ((value + 0.055) / 1.055) ** 2.4
    return value / 12.92


@njit(cache=True)
def linear_lut_uint8(offset: float, value_range: float) -> np.ndarray:
    """Linear-light value of every uint8 code after the min/max rescale ``(v/255 - offset)/range``.

    A uint8 image has only 256 codes, so the costly ``** 2.4`` is paid 256 times, not once a pixel.
    """
    lut = np.empty(256, np.float64)
    for code in range(256):
        lut[code] = srgb_to_linear((code / 255.0 - offset) / value_range)
    return lut


@njit(cache=True)
def _xyz_from_uint8(image, lut, matrix, out):
    # White-normalised XYZ of a uint8 RGB image, planar float32.
    height, width = image.shape[0], image.shape[1]
    for y in range(height):
        for x in range(width):
            r = lut[image[y, x, 0]]
            g = lut[image[y, x, 1]]
            b = lut[image[y, x, 2]]
            for c in range(3):
                out[c, y, x] = matrix[c, 0] * r + matrix[c, 1] * g + matrix[c, 2] * b


@njit(cache=True)
def _xyz_from_float(image, offset, value_range, matrix, out):
    # Same as _xyz_from_uint8, with the gamma computed per pixel by the very same function, so a
    # float image equal to uint8 / 255 gives bit-identical XYZ.
    height, width = image.shape[0], image.shape[1]
    for y in range(height):
        for x in range(width):
            r = srgb_to_linear((image[y, x, 0] - offset) / value_range)
            g = srgb_to_linear((image[y, x, 1] - offset) / value_range)
            b = srgb_to_linear((image[y, x, 2] - offset) / value_range)
            for c in range(3):
                out[c, y, x] = matrix[c, 0] * r + matrix[c, 1] * g + matrix[c, 2] * b


# Cube roots on [0, 1], where the white-normalised XYZ of a [0, 1] image lies: a table for a
# linear-interpolation start, refined by one Halley step (which cubes the relative error: from
# at most 3e-4 at the Lab toe to 1e-11).
_CUBE_ROOT_BINS = 1024
_CUBE_ROOT_TABLE = np.cbrt(np.arange(_CUBE_ROOT_BINS + 2) / _CUBE_ROOT_BINS)


@njit(cache=True, fastmath=_FAST, inline="always")
def _lab_f(t, table):
    # CIE Lab's f(t): the cube root, with the linear toe below 0.008856 (skimage's rule). The
    # table is 3x faster than NumPy's float32 cbrt, which is scalar libm code on CPUs without
    # SVML and took most of SLIC's time.
    if t <= 0.008856:
        return 7.787 * t + 16.0 / 116.0
    if t >= 1.0:
        return t ** (1.0 / 3.0)
    u = t * _CUBE_ROOT_BINS
    i = int(u)
    y = table[i] + (u - i) * (table[i + 1] - table[i])
    y3 = y * y * y
    return y * (y3 + 2.0 * t) / (2.0 * y3 + t)


@njit(cache=True, fastmath=_FAST)
def _lab_from_xyz(xyz, scale, table):
    height, width = xyz.shape[1], xyz.shape[2]
    out = np.empty_like(xyz)
    for y in range(height):
        for x in range(width):
            fx = _lab_f(np.float64(xyz[0, y, x]), table)
            fy = _lab_f(np.float64(xyz[1, y, x]), table)
            fz = _lab_f(np.float64(xyz[2, y, x]), table)
            out[0, y, x] = scale * (116.0 * fy - 16.0)
            out[1, y, x] = scale * (500.0 * (fx - fy))
            out[2, y, x] = scale * (200.0 * (fy - fz))
    return out


def scaled_lab(image: np.ndarray, offset: float, value_range: float, scale: float) -> np.ndarray:
    """``scale * Lab`` of a ``(H, W, 3)`` RGB image (uint8, or float64 rescaled by offset/range).

    Matches :func:`skimage.color.rgb2lab` of the rescaled image to about 1e-4.

    Returns:
        ``(3, H, W)`` float32.
    """
    height, width = image.shape[:2]
    xyz = np.empty((3, height, width), np.float32)
    if image.dtype == np.uint8:
        _xyz_from_uint8(image, linear_lut_uint8(offset, value_range), _XYZN_FROM_RGB, xyz)
    else:
        _xyz_from_float(image, offset, value_range, _XYZN_FROM_RGB, xyz)
    return _lab_from_xyz(xyz, np.float32(scale), _CUBE_ROOT_TABLE)


@njit(cache=True)
def _gradient_energy(features, y, x):
    # Achanta et al. (2012), eq. 3: squared colour change across the pixel, in both directions.
    height, width = features.shape[1], features.shape[2]
    y0, y1 = max(y - 1, 0), min(y + 1, height - 1)
    x0, x1 = max(x - 1, 0), min(x + 1, width - 1)
    energy = 0.0
    for c in range(features.shape[0]):
        dx = features[c, y, x1] - features[c, y, x0]
        dy = features[c, y1, x] - features[c, y0, x]
        energy += dx * dx + dy * dy
    return energy


@njit(cache=True)
def _lowest_gradient(features, mask, y, x):
    """Move a seed to the lowest-gradient pixel of its 3x3 neighbourhood (inside the mask)."""
    height, width = features.shape[1], features.shape[2]
    best_y, best_x = y, x
    best = _gradient_energy(features, y, x)
    for ny in range(max(y - 1, 0), min(y + 2, height)):
        for nx in range(max(x - 1, 0), min(x + 2, width)):
            if not mask[ny, nx]:
                continue
            energy = _gradient_energy(features, ny, nx)
            # Strict '<' and a fixed scan order keep the choice deterministic on ties.
            if energy < best:
                best, best_y, best_x = energy, ny, nx
    return best_y, best_x


@njit(cache=True)
def grid_seeds(features, mask, y_start, x_start, rows, cols, cell_h, cell_w):
    """Seeds on a ``rows x cols`` grid of cells, moved to the lowest local gradient.

    Each cell gets one seed: its centre when the centre is inside the mask, otherwise the mask
    pixel of the cell nearest to the centre; a cell with no mask pixel gets none.

    Returns:
        ``(K, 2 + C)`` float32 centres: y, x, then the features at the seed.
    """
    num_channels = features.shape[0]
    height, width = features.shape[1], features.shape[2]
    centres = np.empty((rows * cols, 2 + num_channels), np.float32)
    count = 0
    for i in range(rows):
        top = y_start + int(i * cell_h + 0.5)
        bottom = min(y_start + int((i + 1) * cell_h + 0.5), height)
        cy = y_start + int((i + 0.5) * cell_h)
        for j in range(cols):
            left = x_start + int(j * cell_w + 0.5)
            right = min(x_start + int((j + 1) * cell_w + 0.5), width)
            cx = x_start + int((j + 0.5) * cell_w)
            sy, sx = -1, -1
            if mask[cy, cx]:
                sy, sx = cy, cx
            else:
                best = np.inf
                for y in range(top, bottom):
                    for x in range(left, right):
                        if mask[y, x]:
                            d = (y - cy) ** 2 + (x - cx) ** 2
                            if d < best:
                                best, sy, sx = d, y, x
            if sy < 0:
                continue
            sy, sx = _lowest_gradient(features, mask, sy, sx)
            centres[count, 0] = sy
            centres[count, 1] = sx
            for c in range(num_channels):
                centres[count, 2 + c] = features[c, sy, sx]
            count += 1
    return centres[:count].copy()


@njit(cache=True, fastmath=_FAST)
def _assign3(features, centres, radius, spatial_weight, labels, distance):
    # Three-channel specialisation. Row slices indexed from 0 let numba drop its negative-index
    # checks, and the branch-free select lets LLVM vectorise the inner loop (about 3x faster).
    height, width = labels.shape
    for k in range(centres.shape[0]):
        cy, cx = centres[k, 0], centres[k, 1]
        c0, c1, c2 = centres[k, 2], centres[k, 3], centres[k, 4]
        iy, ix = int(cy + 0.5), int(cx + 0.5)
        y0, y1 = max(iy - radius, 0), min(iy + radius + 1, height)
        x0, x1 = max(ix - radius, 0), min(ix + radius + 1, width)
        label = np.int32(k)
        offset_x = np.float32(x0) - cx
        for y in range(y0, y1):
            dy = np.float32(y) - cy
            dy2 = dy * dy * spatial_weight
            row0 = features[0, y, x0:x1]
            row1 = features[1, y, x0:x1]
            row2 = features[2, y, x0:x1]
            best = distance[y, x0:x1]
            owner = labels[y, x0:x1]
            for i in range(x1 - x0):
                dx = np.float32(i) + offset_x
                d0 = row0[i] - c0
                d1 = row1[i] - c1
                d2 = row2[i] - c2
                d = d0 * d0 + d1 * d1 + d2 * d2 + dy2 + dx * dx * spatial_weight
                old = best[i]
                closer = d < old
                best[i] = d if closer else old
                owner[i] = label if closer else owner[i]


@njit(cache=True, fastmath=_FAST)
def _assign_any(features, centres, radius, spatial_weight, labels, distance):
    # Any number of channels (grayscale, multichannel without Lab).
    num_channels = features.shape[0]
    height, width = labels.shape
    for k in range(centres.shape[0]):
        cy, cx = centres[k, 0], centres[k, 1]
        iy, ix = int(cy + 0.5), int(cx + 0.5)
        y0, y1 = max(iy - radius, 0), min(iy + radius + 1, height)
        x0, x1 = max(ix - radius, 0), min(ix + radius + 1, width)
        label = np.int32(k)
        offset_x = np.float32(x0) - cx
        for y in range(y0, y1):
            dy = np.float32(y) - cy
            dy2 = dy * dy * spatial_weight
            best = distance[y, x0:x1]
            owner = labels[y, x0:x1]
            for i in range(x1 - x0):
                dx = np.float32(i) + offset_x
                d = dy2 + dx * dx * spatial_weight
                for c in range(num_channels):
                    diff = features[c, y, x0 + i] - centres[k, 2 + c]
                    d += diff * diff
                if d < best[i]:
                    best[i] = d
                    owner[i] = label


@njit(cache=True)
def assign(features, centres, radius, spatial_weight, labels, distance):
    """One SLIC assignment step: each pixel goes to the nearest centre whose window holds it.

    The window is ``(2 * radius + 1)²`` around each centre (the paper's 2S x 2S). ``distance``
    must hold a huge value inside the mask and a negative one outside, so masked pixels never
    move. A pixel that no window reaches keeps its label.
    """
    if features.shape[0] == 3:
        _assign3(features, centres, radius, spatial_weight, labels, distance)
    else:
        _assign_any(features, centres, radius, spatial_weight, labels, distance)


@njit(cache=True)
def assign_changed(features, centres, radius, spatial_weight, labels, previous, distance, reset):
    """One k-means iteration's assignment (see :func:`assign`); True when any label changed.

    Resets ``distance`` from ``reset`` and saves the labels in ``previous`` in one pass, and
    stops comparing at the first changed pixel: three array passes fewer than doing the same
    with NumPy, which is about a tenth of SLIC's time at 800 superpixels.
    """
    flat_labels, flat_previous = labels.ravel(), previous.ravel()
    flat_distance, flat_reset = distance.ravel(), reset.ravel()
    for i in range(flat_labels.size):
        flat_previous[i] = flat_labels[i]
        flat_distance[i] = flat_reset[i]
    assign(features, centres, radius, spatial_weight, labels, distance)
    for i in range(flat_labels.size):
        if flat_labels[i] != flat_previous[i]:
            return True
    return False


@njit(cache=True, fastmath=_FAST)
def update_centres(features, labels, centres):
    """Move every centre to the mean position and feature of its pixels.

    A centre that lost all its pixels keeps its old value (it can win pixels back). Sums are
    float32, twice as fast as float64 here and exact for the coordinates (integers below 2**24);
    a superpixel's colour mean is off by about 1e-6 relative, far below any visible effect.
    """
    num_centres, row_width = centres.shape
    num_channels = features.shape[0]
    height, width = labels.shape
    sums = np.zeros((num_centres, row_width), np.float32)
    counts = np.zeros(num_centres, np.int32)
    for y in range(height):
        owner = labels[y]
        fy = np.float32(y)
        if num_channels == 3:
            # Row slices: no negative-index checks, and the channel loop unrolled.
            row0, row1, row2 = features[0, y], features[1, y], features[2, y]
            for x in range(width):
                k = owner[x]
                if k < 0:
                    continue
                counts[k] += 1
                total = sums[k]
                total[0] += fy
                total[1] += np.float32(x)
                total[2] += row0[x]
                total[3] += row1[x]
                total[4] += row2[x]
        else:
            for x in range(width):
                k = owner[x]
                if k < 0:
                    continue
                counts[k] += 1
                total = sums[k]
                total[0] += fy
                total[1] += np.float32(x)
                for c in range(num_channels):
                    total[2 + c] += features[c, y, x]
    for k in range(num_centres):
        if counts[k] > 0:
            for j in range(row_width):
                centres[k, j] = sums[k, j] / counts[k]


@njit(cache=True)
def _padded_clusters(labels, mask):
    # Cluster ids on a one-pixel frame; -2 marks the frame and masked-out pixels, so flood fills
    # and neighbour scans need no bounds checks (a pixel no window reached has id -1).
    height, width = labels.shape
    padded_width = width + 2
    grid = np.full((height + 2) * padded_width, -2, np.int32)
    for y in range(height):
        for x in range(width):
            if mask[y, x]:
                grid[(y + 1) * padded_width + x + 1] = labels[y, x]
    return grid


@njit(cache=True)
def _find(parent, i):
    # Union-find root with path compression.
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:
        parent[i], i = root, parent[i]
    return root


@njit(cache=True)
def _connected_pieces(grid, padded_width):
    """4-connected pieces of equal cluster id, by two-pass union-find.

    Returns:
        piece id per padded pixel (-1 on the frame and outside the mask), numbered in raster
        order of each piece's first pixel, and the number of pieces.
    """
    size = grid.size
    piece = np.full(size, -1, np.int32)
    parent = np.empty(size, np.int32)
    count = 0
    for p in range(padded_width + 1, size - padded_width - 1):
        cluster = grid[p]
        if cluster == -2:
            continue
        same_left = grid[p - 1] == cluster
        same_up = grid[p - padded_width] == cluster
        if same_left:
            a = piece[p - 1]
            piece[p] = a
            if same_up:
                b = piece[p - padded_width]
                if a != b:
                    ra, rb = _find(parent, a), _find(parent, b)
                    # The smaller id is the older one, created at the piece's first pixel.
                    if ra < rb:
                        parent[rb] = ra
                    elif rb < ra:
                        parent[ra] = rb
        elif same_up:
            piece[p] = piece[p - padded_width]
        else:
            parent[count] = count
            piece[p] = count
            count += 1
    final = np.empty(count, np.int32)
    num_pieces = 0
    for i in range(count):
        root = _find(parent, i)
        if root == i:
            final[i] = num_pieces
            num_pieces += 1
        else:
            final[i] = final[root]
    for p in range(size):
        if piece[p] >= 0:
            piece[p] = final[piece[p]]
    return piece, num_pieces


@njit(cache=True)
def _split_large_pieces(piece, num_pieces, sizes, padded_width, max_size):
    """Cut every piece larger than ``max_size`` by capped breadth-first fills (skimage's rule).

    Each fill starts at the first unvisited pixel of the piece in raster order and stops after
    ``max_size`` pixels, so every part is 4-connected. The first part keeps the piece's id.
    """
    size = piece.size
    visited = np.zeros(size, np.bool_)
    queue = np.empty(size, np.int32)
    first_part = np.ones(num_pieces, np.bool_)
    for start in range(size):
        q = piece[start]
        if q < 0 or visited[start] or sizes[q] <= max_size:
            continue
        if first_part[q]:
            part = q
            first_part[q] = False
        else:
            part = num_pieces
            num_pieces += 1
        visited[start] = True
        piece[start] = part
        queue[0] = start
        head, tail = 0, 1
        while head < tail and tail < max_size:
            p = queue[head]
            head += 1
            for n in (p - padded_width, p - 1, p + 1, p + padded_width):
                if tail < max_size and piece[n] == q and not visited[n]:
                    visited[n] = True
                    piece[n] = part
                    queue[tail] = n
                    tail += 1
    return num_pieces


@njit(cache=True)
def _piece_stats(piece, num_pieces, grid, features, padded_width):
    # Size, cluster id and mean feature of every piece.
    num_channels, height, width = features.shape
    sizes = np.zeros(num_pieces, np.int64)
    cluster_of = np.empty(num_pieces, np.int32)
    means = np.zeros((num_pieces, num_channels), np.float64)
    for y in range(height):
        base = (y + 1) * padded_width + 1
        for x in range(width):
            q = piece[base + x]
            if q < 0:
                continue
            sizes[q] += 1
            cluster_of[q] = grid[base + x]
            for c in range(num_channels):
                means[q, c] += features[c, y, x]
    for q in range(num_pieces):
        for c in range(num_channels):
            means[q, c] /= sizes[q]
    return sizes, cluster_of, means


@njit(cache=True)
def _small_piece_neighbours(piece, keep, num_pieces, padded_width):
    # CSR table: for every piece that is not kept, the pieces it touches (with repeats).
    size = piece.size
    # Each pixel has two forward neighbours and each pair can be listed from both sides.
    owners = np.empty(4 * size, np.int32)
    others = np.empty(4 * size, np.int32)
    num_pairs = 0
    for p in range(size - padded_width):
        a = piece[p]
        if a < 0:
            continue
        for n in (p + 1, p + padded_width):
            b = piece[n]
            if b < 0 or b == a:
                continue
            if not keep[a]:
                owners[num_pairs], others[num_pairs] = a, b
                num_pairs += 1
            if not keep[b]:
                owners[num_pairs], others[num_pairs] = b, a
                num_pairs += 1
    offsets = np.zeros(num_pieces + 1, np.int64)
    for i in range(num_pairs):
        offsets[owners[i] + 1] += 1
    for q in range(num_pieces):
        offsets[q + 1] += offsets[q]
    filled = offsets[:-1].copy()
    neighbours = np.empty(num_pairs, np.int32)
    for i in range(num_pairs):
        neighbours[filled[owners[i]]] = others[i]
        filled[owners[i]] += 1
    return offsets, neighbours


@njit(cache=True)
def enforce_connectivity(labels, features, mask, min_size, max_size):
    """Relabel so that every label is exactly one 4-connected region.

    Pieces are the 4-connected parts of each cluster, cut to at most ``max_size`` pixels. Each
    cluster keeps its largest piece, and so does any other piece with at least ``min_size``
    pixels. Every remaining piece joins the neighbouring superpixel whose mean feature is nearest
    to its own. A piece surrounded only by other small pieces waits until one of them is placed,
    so each join touches its target and every final label stays one connected region.

    Returns:
        ``(H, W)`` int32 labels ``0..K-1`` numbered in raster order of their first pixel
        (``-1`` outside the mask), and ``K``.
    """
    height, width = labels.shape
    padded_width = width + 2
    num_channels = features.shape[0]
    grid = _padded_clusters(labels, mask)
    piece, num_pieces = _connected_pieces(grid, padded_width)
    sizes, cluster_of, means = _piece_stats(piece, num_pieces, grid, features, padded_width)
    if sizes.max() > max_size:
        num_pieces = _split_large_pieces(piece, num_pieces, sizes, padded_width, max_size)
        sizes, cluster_of, means = _piece_stats(piece, num_pieces, grid, features, padded_width)

    # Largest piece of every cluster (the first one on ties).
    num_clusters = 0
    for q in range(num_pieces):
        num_clusters = max(num_clusters, cluster_of[q] + 2)
    largest = np.full(num_clusters, -1, np.int64)
    for q in range(num_pieces):
        k = cluster_of[q] + 1  # +1: a pixel no window reached has cluster id -1
        if largest[k] < 0 or sizes[q] > sizes[largest[k]]:
            largest[k] = q
    keep = np.zeros(num_pieces, np.bool_)
    target = np.full(num_pieces, -1, np.int64)
    unresolved = 0
    for q in range(num_pieces):
        if sizes[q] >= min_size or largest[cluster_of[q] + 1] == q:
            keep[q] = True
            target[q] = q
        else:
            unresolved += 1

    offsets, neighbours = _small_piece_neighbours(piece, keep, num_pieces, padded_width)
    while unresolved > 0:
        progress = False
        for q in range(num_pieces):
            if target[q] >= 0:
                continue
            best, best_distance = -1, np.inf
            for i in range(offsets[q], offsets[q + 1]):
                t = target[neighbours[i]]
                if t < 0:
                    continue
                d = 0.0
                for c in range(num_channels):
                    diff = means[q, c] - means[t, c]
                    d += diff * diff
                if d < best_distance:
                    best, best_distance = t, d
            if best >= 0:
                target[q] = best
                unresolved -= 1
                progress = True
        if not progress:
            # A mask island made only of small pieces: its largest piece becomes a superpixel.
            biggest = -1
            for q in range(num_pieces):
                if target[q] < 0 and (biggest < 0 or sizes[q] > sizes[biggest]):
                    biggest = q
            target[biggest] = biggest
            unresolved -= 1

    new_label = np.full(num_pieces, -1, np.int32)
    count = 0
    out = np.full((height, width), -1, np.int32)
    for y in range(height):
        base = (y + 1) * padded_width + 1
        for x in range(width):
            q = piece[base + x]
            if q < 0:
                continue
            t = target[q]
            if new_label[t] < 0:
                new_label[t] = count
                count += 1
            out[y, x] = new_label[t]
    return out, count
