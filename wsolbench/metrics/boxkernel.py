"""Numba kernels of the box engine: one sweep over the uint8 levels of a map with union-find.

A map quantised to uint8 has at most 256 distinct binarisations ``u8 > thr``. Visiting the levels
from high to low adds pixels to the foreground and only ever merges 8-connected components (a
component tree); visiting them from low to high grows the background and merges its 4-connected
components, whose non-border ones are the holes of the foreground. Each sweep is one pass of
union-find over the pixels (counting-sorted by value), so its cost does not depend on how many CAM
thresholds are asked for.

Per root the kernels keep the pixel extent, the first raster index, the size and two flags
(columns of ``rt``, an int64 ``(H*W, 8)`` array indexed by pixel, one cache line per root): the best
IoU against the GT boxes is recomputed only when the extent changed, the contour area only when the
pixel set changed.

The per-pixel loops are written out in the sweep functions on purpose: a numba call that takes
arrays costs reference counting, which in the innermost loop tripled the run time.

The contour area is the one ``cv2.contourArea`` gives for the outer border that OpenCV's
``findContours`` traces (Suzuki-Abe border following, 8-connectivity, zero padding): the shoelace
area of the polygon through the border pixels' centres. Kernels return twice that area, an integer.

All coordinates are pixel indices: ``x`` = column, ``y`` = row, linear index ``y * W + x``.
"""

from __future__ import annotations

import numba
import numpy as np

# Columns of the per-root table ``rt``.
X0, Y0, X1, Y1, FIRST, SIZE, FLAG_A, FLAG_B = 0, 1, 2, 3, 4, 5, 6, 7
# Foreground: FLAG_A = IoU cache valid, FLAG_B = area cache valid.
# Background: FLAG_A = touches the image border, FLAG_B = IoU cache valid.

# The 8 neighbour directions in OpenCV's order (counter-clockwise on screen, y pointing down):
# 0 E, 1 NE, 2 N, 3 NW, 4 W, 5 SW, 6 S, 7 SE.
DX8 = (1, 1, 0, -1, -1, -1, 0, 1)
DY8 = (0, -1, -1, -1, 0, 1, 1, 1)
DX4 = (1, 0, -1, 0)
DY4 = (0, -1, 0, 1)


@numba.njit(cache=True)
def bucket_by_value(u8):
    """Counting sort of pixels by value.

    Args:
        u8: uint8 (N,) flat map.

    Returns:
        order: int64 (N,) pixel indices grouped by value, ascending; within a value, ascending index.
        starts: int64 (257,) ``order[starts[v]:starts[v + 1]]`` are the pixels with value ``v``.
    """
    starts = np.zeros(257, np.int64)
    for i in range(u8.size):
        starts[u8[i] + 1] += 1
    for v in range(256):
        starts[v + 1] += starts[v]
    fill = starts[:256].copy()
    order = np.empty(u8.size, np.int64)
    for i in range(u8.size):
        v = u8[i]
        order[fill[v]] = i
        fill[v] += 1
    return order, starts


@numba.njit(cache=True)
def box_gt_iou(x0, y0, x1, y1, gt):
    """Best IoU of box ``x0, y0, x1, y1`` against int64 (m, 4) GT boxes (the reference's arithmetic:
    inclusive +1 areas, ``inter / (area_a + area_b - inter)`` in float64, 0 if the union is not > 0)."""
    best = 0.0
    area_a = (x1 - x0 + 1) * (y1 - y0 + 1)
    for g in range(gt.shape[0]):
        iw = min(x1, gt[g, 2]) - max(x0, gt[g, 0]) + 1
        ih = min(y1, gt[g, 3]) - max(y0, gt[g, 1]) + 1
        inter = max(iw, 0) * max(ih, 0)
        union = area_a + (gt[g, 2] - gt[g, 0] + 1) * (gt[g, 3] - gt[g, 1] + 1) - inter
        iou = inter / union if union > 0 else 0.0
        if iou > best:
            best = iou
    return best


@numba.njit(cache=True)
def _max_live_iou(live, nlive, rt, iou, ok_col, grow, W, H, gt):
    """Max IoU over the live roots' boxes (-1 if there is none).

    ``grow`` = 0 for components (box ``[x0, y0, min(x1+1, W-1), min(y1+1, H-1)]``), 1 for holes (the
    extent grown by one pixel, then the same rule). Column ``ok_col`` of ``rt`` flags a valid
    cached ``iou[r]``.
    """
    best = -1.0
    for i in range(nlive):
        r = live[i]
        if rt[r, ok_col] == 0:
            # inlined box_gt_iou: a call taking arrays costs reference counting per live root
            x0 = rt[r, X0] - grow
            y0 = rt[r, Y0] - grow
            x1 = min(rt[r, X1] + 1 + grow, W - 1)
            y1 = min(rt[r, Y1] + 1 + grow, H - 1)
            area_a = (x1 - x0 + 1) * (y1 - y0 + 1)
            v = 0.0
            for g in range(gt.shape[0]):
                iw = min(x1, gt[g, 2]) - max(x0, gt[g, 0]) + 1
                ih = min(y1, gt[g, 3]) - max(y0, gt[g, 1]) + 1
                inter = max(iw, 0) * max(ih, 0)
                union = area_a + (gt[g, 2] - gt[g, 0] + 1) * (gt[g, 3] - gt[g, 1] + 1) - inter
                u = inter / union if union > 0 else 0.0
                if u > v:
                    v = u
            iou[r] = v
            rt[r, ok_col] = 1
        if iou[r] > best:
            best = iou[r]
    return best


@numba.njit(cache=True)
def outer_area2(u8, W, H, thr, start):
    """Twice the ``cv2.contourArea`` of the outer border of the component whose raster-first pixel is
    ``start`` in the binary image ``u8 > thr`` (flat uint8 (H*W,)): Suzuki-Abe border following with
    8-connectivity and a zero border, as OpenCV's ``findContours``, and the shoelace formula over the
    traced pixel centres."""
    sx = start % W
    sy = start // W
    s = 4
    found = False
    for _ in range(7):                 # clockwise from the west neighbour, which is background
        s = (s - 1) & 7
        x = sx + DX8[s]
        y = sy + DY8[s]
        if x >= 0 and y >= 0 and x < W and y < H and u8[y * W + x] > thr:
            found = True
            break
    if not found:
        return 0                       # a single pixel
    ex = sx + DX8[s]                   # the last border pixel before the walk closes
    ey = sy + DY8[s]
    x3 = sx
    y3 = sy
    acc = 0
    while True:
        d = s
        x4 = x3
        y4 = y3
        for _ in range(8):             # counter-clockwise from the previous border pixel
            d = (d + 1) & 7
            x4 = x3 + DX8[d]
            y4 = y3 + DY8[d]
            if x4 >= 0 and y4 >= 0 and x4 < W and y4 < H and u8[y4 * W + x4] > thr:
                break
        acc += x3 * y4 - x4 * y3
        if x4 == sx and y4 == sy and x3 == ex and y3 == ey:
            break
        x3 = x4
        y3 = y4
        s = (d + 4) & 7
    return abs(acc)


@numba.njit(cache=True)
def _root_area2(rt, area2, r, u8, W, H, thr):
    """Twice the contour area of root ``r`` at level ``thr``, cached under the FLAG_B bit."""
    if rt[r, FLAG_B] == 0:
        if rt[r, X1] == rt[r, X0] or rt[r, Y1] == rt[r, Y0]:
            area2[r] = 0               # a 1-px wide or tall component encloses no area
        else:
            area2[r] = outer_area2(u8, W, H, thr, rt[r, FIRST])
        rt[r, FLAG_B] = 1
    return area2[r]


@numba.njit(cache=True)
def _longest_interval(live, nlive, rt):
    best = live[0]
    for i in range(1, nlive):
        r = live[i]
        w = rt[r, X1] - rt[r, X0] + rt[r, Y1] - rt[r, Y0]        # one of the two terms is 0
        bw = rt[best, X1] - rt[best, X0] + rt[best, Y1] - rt[best, Y0]
        if w > bw or (w == bw and rt[r, FIRST] > rt[best, FIRST]):
            best = r
    return best


@numba.njit(cache=True)
def largest_root(live, nlive, rt, area2, u8, W, H, thr):
    """The live root (nlive >= 1) with the largest contour area at level ``thr``; ties go to the
    largest first raster index. Twice ``(w-1)(h-1)`` of the extent bounds twice the area from above
    (the pixel-centre polygon lies in the extent), so only roots whose bound reaches the best area
    found so far are traced.

    A 1-pixel-high (or -wide) map, a 1-D signal, has no enclosed areas at all; there the longest
    interval is the largest region (ties again to the last): what "largest region" means for signals.
    """
    if H == 1 or W == 1:
        return _longest_interval(live, nlive, rt)
    best = live[0]
    best_b = 2 * (rt[best, X1] - rt[best, X0]) * (rt[best, Y1] - rt[best, Y0])
    for i in range(1, nlive):
        r = live[i]
        b = 2 * (rt[r, X1] - rt[r, X0]) * (rt[r, Y1] - rt[r, Y0])
        if b > best_b or (b == best_b and rt[r, FIRST] > rt[best, FIRST]):
            best = r
            best_b = b
    if nlive == 1:
        return best
    best_a = _root_area2(rt, area2, best, u8, W, H, thr)
    for i in range(nlive):
        r = live[i]
        if r == best:
            continue
        b = 2 * (rt[r, X1] - rt[r, X0]) * (rt[r, Y1] - rt[r, Y0])
        if b < best_a or (b == best_a and rt[r, FIRST] < rt[best, FIRST]):
            continue
        a = _root_area2(rt, area2, r, u8, W, H, thr)
        if a > best_a or (a == best_a and rt[r, FIRST] > rt[best, FIRST]):
            best = r
            best_a = a
    return best


@numba.njit(cache=True)
def grow_foreground(u8, W, H, order, starts, gt, need, lowest):
    """Sweep the foreground from level 255 down to level ``lowest``, recording at needed levels.

    At level ``thr`` the foreground is ``u8 > thr``: going down a level adds the pixels of value
    ``thr + 1`` and merges them with their present 8-neighbours (union by size, path halving).

    Args:
        u8: uint8 (H*W,) flat quantised map.
        W, H: map width and height.
        order, starts: :func:`bucket_by_value` of ``u8``.
        gt: int64 (m, 4) GT boxes ``x0, y0, x1, y1``.
        need: bool (256,) levels at which to record.
        lowest: the last level to reach (0 <= lowest <= 255).

    Returns:
        largest: float64 (256,) IoU of the largest-contour component's box at each recorded level.
        anyreg: float64 (256,) best IoU over all components' boxes at each recorded level.
            Levels not recorded (not needed, or an empty foreground) hold -1.
        rt: int64 (H*W, 8) per-root table at level ``lowest``.
        roots: int64 (n,) the components' roots at level ``lowest``.
        area2: int64 (H*W,) cached twice-contour-areas (valid where ``rt[r, FLAG_B]``).
    """
    n = u8.size
    largest = np.full(256, -1.0)
    anyreg = np.full(256, -1.0)
    parent = np.full(n, -1, np.int64)
    rt = np.empty((n, 8), np.int64)
    live = np.empty(n, np.int64)
    pos = np.empty(n, np.int64)
    iou = np.empty(n, np.float64)
    area2 = np.empty(n, np.int64)
    nlive = 0
    for v in range(255, lowest, -1):
        for k in range(starts[v], starts[v + 1]):
            p = order[k]
            y = p // W
            x = p - y * W
            parent[p] = p
            rt[p, X0] = x
            rt[p, Y0] = y
            rt[p, X1] = x
            rt[p, Y1] = y
            rt[p, FIRST] = p
            rt[p, SIZE] = 1
            rt[p, FLAG_A] = 0
            rt[p, FLAG_B] = 0
            live[nlive] = p
            pos[p] = nlive
            nlive += 1
            r = p
            for d in range(8):
                qx = x + DX8[d]
                qy = y + DY8[d]
                if qx < 0 or qy < 0 or qx >= W or qy >= H:
                    continue
                q = qy * W + qx
                if parent[q] < 0:
                    continue
                while parent[q] != q:
                    parent[q] = parent[parent[q]]
                    q = parent[q]
                if q == r:
                    continue
                a = r
                if rt[a, SIZE] < rt[q, SIZE]:
                    a, q = q, a
                parent[q] = a                      # q joins a
                rt[a, SIZE] += rt[q, SIZE]
                if (rt[q, X0] < rt[a, X0] or rt[q, Y0] < rt[a, Y0]
                        or rt[q, X1] > rt[a, X1] or rt[q, Y1] > rt[a, Y1]):
                    rt[a, X0] = min(rt[a, X0], rt[q, X0])
                    rt[a, Y0] = min(rt[a, Y0], rt[q, Y0])
                    rt[a, X1] = max(rt[a, X1], rt[q, X1])
                    rt[a, Y1] = max(rt[a, Y1], rt[q, Y1])
                    rt[a, FLAG_A] = 0
                rt[a, FIRST] = min(rt[a, FIRST], rt[q, FIRST])
                rt[a, FLAG_B] = 0
                i = pos[q]                         # swap-remove q from the live list
                last = live[nlive - 1]
                live[i] = last
                pos[last] = i
                nlive -= 1
                r = a
        thr = v - 1
        if need[thr] and nlive > 0:
            anyreg[thr] = _max_live_iou(live, nlive, rt, iou, FLAG_A, 0, W, H, gt)
            largest[thr] = iou[largest_root(live, nlive, rt, area2, u8, W, H, thr)]
    return largest, anyreg, rt, live[:nlive].copy(), area2


@numba.njit(cache=True)
def grow_background(u8, W, H, order, starts, gt, need, highest):
    """Sweep the background from level 0 up to level ``highest``, recording hole IoUs.

    At level ``thr`` the background is ``u8 <= thr``, with 4-connectivity (OpenCV's background
    connectivity, the image padded with background). Holes are the background components that do
    not touch the image border; a hole's box is its extent grown by one pixel (the foreground ring
    around it), in the reference convention.

    Returns:
        holes: float64 (256,) best hole-box IoU at each needed level <= highest; -1 where none.
        rt: int64 (H*W, 8) per-root table at level ``highest``.
        roots: int64 (n,) the holes' roots at level ``highest``.
    """
    n = u8.size
    holes = np.full(256, -1.0)
    parent = np.full(n, -1, np.int64)
    rt = np.empty((n, 8), np.int64)
    live = np.empty(n, np.int64)
    pos = np.empty(n, np.int64)
    iou = np.empty(n, np.float64)
    nlive = 0
    for v in range(highest + 1):
        for k in range(starts[v], starts[v + 1]):
            p = order[k]
            y = p // W
            x = p - y * W
            parent[p] = p
            rt[p, X0] = x
            rt[p, Y0] = y
            rt[p, X1] = x
            rt[p, Y1] = y
            rt[p, FIRST] = p
            rt[p, SIZE] = 1
            rt[p, FLAG_B] = 0
            pos[p] = -1
            if x == 0 or y == 0 or x == W - 1 or y == H - 1:
                rt[p, FLAG_A] = 1
            else:
                rt[p, FLAG_A] = 0
                live[nlive] = p
                pos[p] = nlive
                nlive += 1
            r = p
            for d in range(4):
                qx = x + DX4[d]
                qy = y + DY4[d]
                if qx < 0 or qy < 0 or qx >= W or qy >= H:
                    continue
                q = qy * W + qx
                if parent[q] < 0:
                    continue
                while parent[q] != q:
                    parent[q] = parent[parent[q]]
                    q = parent[q]
                if q == r:
                    continue
                a = r
                if rt[a, SIZE] < rt[q, SIZE]:
                    a, q = q, a
                parent[q] = a                      # q joins a
                rt[a, SIZE] += rt[q, SIZE]
                rt[a, X0] = min(rt[a, X0], rt[q, X0])
                rt[a, Y0] = min(rt[a, Y0], rt[q, Y0])
                rt[a, X1] = max(rt[a, X1], rt[q, X1])
                rt[a, Y1] = max(rt[a, Y1], rt[q, Y1])
                rt[a, FIRST] = min(rt[a, FIRST], rt[q, FIRST])
                rt[a, FLAG_B] = 0
                i = pos[q]                         # q is no root any more
                if i >= 0:
                    last = live[nlive - 1]
                    live[i] = last
                    pos[last] = i
                    nlive -= 1
                if rt[q, FLAG_A] != 0 and rt[a, FLAG_A] == 0:
                    rt[a, FLAG_A] = 1              # a now touches the border: no hole
                    i = pos[a]
                    last = live[nlive - 1]
                    live[i] = last
                    pos[last] = i
                    pos[a] = -1
                    nlive -= 1
                r = a
        if need[v]:
            holes[v] = _max_live_iou(live, nlive, rt, iou, FLAG_B, 1, W, H, gt)
    return holes, rt, live[:nlive].copy()


@numba.njit(cache=True)
def sweep_foreground(u8, W, H, order, starts, gt, need):
    """Best IoUs of the foreground regions at every needed level, in one high-to-low sweep.

    Returns:
        largest, anyreg: float64 (256,) as in :func:`grow_foreground`.
    """
    lowest = 256
    for t in range(255, -1, -1):
        if need[t]:
            lowest = t
    if lowest == 256:
        return np.full(256, -1.0), np.full(256, -1.0)
    largest, anyreg, _, _, _ = grow_foreground(u8, W, H, order, starts, gt, need, lowest)
    return largest, anyreg


@numba.njit(cache=True)
def sweep_background(u8, W, H, order, starts, gt, need):
    """Best IoU of the hole boxes at every needed level, in one low-to-high sweep (float64 (256,))."""
    highest = -1
    for t in range(256):
        if need[t]:
            highest = t
    holes, _, _ = grow_background(u8, W, H, order, starts, gt, need, highest)
    return holes


@numba.njit(cache=True)
def _raster_sorted(roots, rt):
    """``roots`` sorted by first raster index."""
    firsts = np.empty(roots.size, np.int64)
    for i in range(roots.size):
        firsts[i] = rt[roots[i], FIRST]
    return roots[np.argsort(firsts)]


@numba.njit(cache=True)
def components_at(u8, W, H, order, starts, thr):
    """The 8-connected components of ``u8 > thr`` (0 <= thr <= 254), in raster order of their first
    pixel.

    Returns:
        extents: int64 (n, 4) pixel extents ``min_x, min_y, max_x, max_y``.
        area2: int64 (n,) twice the contour area of each component's outer border.
        largest: row of the largest-contour component (ties: the last in raster order); -1 if n == 0.
    """
    need = np.zeros(256, np.bool_)
    gt = np.zeros((0, 4), np.int64)
    _, _, rt, roots, area2 = grow_foreground(u8, W, H, order, starts, gt, need, thr)
    n = roots.size
    best = largest_root(roots, n, rt, area2, u8, W, H, thr) if n > 0 else -1
    roots = _raster_sorted(roots, rt)
    extents = np.empty((n, 4), np.int64)
    areas = np.empty(n, np.int64)
    largest = -1
    for i in range(n):
        r = roots[i]
        for c in range(4):
            extents[i, c] = rt[r, c]
        areas[i] = _root_area2(rt, area2, r, u8, W, H, thr)
        if r == best:
            largest = i
    return extents, areas, largest


@numba.njit(cache=True)
def holes_at(u8, W, H, order, starts, thr):
    """Pixel extents int64 (n, 4) of the holes of ``u8 > thr`` (background 4-components off the
    border), in raster order of their first pixel."""
    need = np.zeros(256, np.bool_)
    gt = np.zeros((0, 4), np.int64)
    _, rt, roots = grow_background(u8, W, H, order, starts, gt, need, thr)
    roots = _raster_sorted(roots, rt)
    extents = np.empty((roots.size, 4), np.int64)
    for i in range(roots.size):
        for c in range(4):
            extents[i, c] = rt[roots[i], c]
    return extents
