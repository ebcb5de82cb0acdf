/* wsolbench's compiled metric engine: box sweeps, bicubic resize, min-max normalisation and the
 * PxAP joint histogram, bit-identical to the wsolevaluation reference (OpenCV + NumPy).
 *
 * Built by setup.py as an extension (wsolbench/metrics/_engine*.so) or, where that build is
 * missing, compiled on first use by wsolbench/metrics/native.py with the system C compiler. It is
 * plain C99 with no Python API (the PyInit stub below exists only so that setuptools can build it
 * as an extension); Python calls it through ctypes. Every function is reentrant (no global state
 * except constant tables), so ctypes may release the GIL around calls.
 *
 * Floating-point: compile with -ffp-contract=off (no fused multiply-add) and without -ffast-math:
 * the resize and normalisation must round exactly as NumPy does.
 *
 * Box engine (see docs/engine.md for the cost model)
 * --------------------------------------------------
 * A map quantised to uint8 has at most 256 distinct binarisations ``u8 > thr``. Going from level
 * 255 down adds pixels to the foreground and only merges 8-connected components; going from level
 * 0 up grows the background and merges its 4-connected components, whose components off the image
 * border are the holes. Each direction is one union-find pass over the pixels sorted by value
 * (counting sort). The image is padded by one pixel on every side so that neighbour lookups need no
 * bounds checks; ``lab[p]`` is -1 for a pixel not yet in the set, else a component id. Component
 * records (extent, first raster pixel, size, ...) are small structs indexed by id, so the records
 * that are touched stay in cache.
 *
 * Per added pixel, one 8-bit pattern of its neighbours gives, from tables built once: the groups
 * of neighbours that are already connected locally (at most 4 finds instead of 8), and the change
 * of the component's bit-quad sums. Twice the area of the polygon through the centres of a
 * component's pixels is sum(Q3) + 2 sum(Q4) over 2x2 blocks (Q_k: blocks with k foreground
 * pixels), and 4 x its Euler number is sum(Q1) - sum(Q3) - 2 sum(QD) (QD: diagonal pairs): both
 * are sums over blocks, and every block with a foreground pixel belongs to exactly one
 * 8-component, so both are kept per component in O(1) per pixel. A component without holes
 * (Euler number 1) has cv2.contourArea(outer border) = that polygon area exactly. For a component
 * with holes the polygon area is a lower bound and 2(w-1)(h-1) of its extent an upper bound; the
 * border is traced (Suzuki-Abe, as OpenCV's findContours) only when these bounds cannot decide
 * which component is the largest.
 *
 * At each CAM threshold that the grid needs, the components changed since the last recorded level
 * get their box IoU (against every GT box) and size key recomputed and pushed onto two max-heaps
 * with lazy deletion (an entry is stale when its component was merged away or changed again): the
 * best IoU over all regions is the top of the IoU heap, the largest region the top of the size
 * heap. Work per level is proportional to what changed, not to the number of regions.
 */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#define WSB_API __declspec(dllexport)
#else
#define WSB_API __attribute__((visibility("default")))
#endif

/* ------------------------------------------------------------------------------------ tables */

/* The 8 neighbour directions in OpenCV's order (counter-clockwise on screen, y pointing down):
 * 0 E, 1 NE, 2 N, 3 NW, 4 W, 5 SW, 6 S, 7 SE. */
static const int DX8[8] = {1, 1, 0, -1, -1, -1, 0, 1};
static const int DY8[8] = {0, -1, -1, -1, 0, 1, 1, 1};

typedef struct {
    uint8_t fg_n[256];        /* groups of 8-connected foreground neighbours */
    uint8_t fg_rep[256][4];   /* a direction in each group */
    int8_t fg_darea2[256];    /* change of sum(Q3) + 2 sum(Q4) when the centre joins */
    int8_t fg_deuler4[256];   /* change of sum(Q1) - sum(Q3) - 2 sum(QD) */
    uint8_t bg_n[256];        /* groups of 4-neighbours that are 4-connected through a corner */
    uint8_t bg_rep[256][4];
    uint8_t ring_of[512];     /* 3x3 raster pattern (rows top to bottom, bit 3k + j) -> ring pattern */
} Tables;

static Tables T;
static volatile int tables_ready = 0;

/* Bit-quad contributions of one 2x2 block whose diagonal pairs are (a, d) and (b, c). */
static int quad_area2(int a, int b, int c, int d) {
    int k = a + b + c + d;
    return k == 3 ? 1 : (k == 4 ? 2 : 0);
}

static int quad_euler4(int a, int b, int c, int d) {
    int k = a + b + c + d;
    if (k == 1) return 1;
    if (k == 3) return -1;
    if (k == 2 && ((a && d) || (b && c))) return -2;
    return 0;
}

static void build_tables(void) {
    if (tables_ready) return;
    Tables t;
    for (int pat = 0; pat < 256; pat++) {
        int on[8];
        for (int d = 0; d < 8; d++) on[d] = (pat >> d) & 1;
        /* foreground groups: ring pixels adjacent (Chebyshev distance 1) are one component */
        int group[8];
        for (int d = 0; d < 8; d++) group[d] = -1;
        int n = 0;
        for (int d = 0; d < 8; d++) {
            if (!on[d] || group[d] >= 0) continue;
            int stack[8], top = 0;
            stack[top++] = d;
            group[d] = n;
            while (top) {
                int e = stack[--top];
                for (int f = 0; f < 8; f++) {
                    if (on[f] && group[f] < 0 && abs(DX8[e] - DX8[f]) <= 1 && abs(DY8[e] - DY8[f]) <= 1) {
                        group[f] = n;
                        stack[top++] = f;
                    }
                }
            }
            t.fg_rep[pat][n] = (uint8_t)d;
            n++;
        }
        t.fg_n[pat] = (uint8_t)n;
        /* the four blocks that contain the centre c: (c, E, N, NE), (c, N, W, NW), (c, W, S, SW),
         * (c, S, E, SE); diagonal pairs are (c, corner) and (the two 4-neighbours) */
        int da = 0, de = 0;
        for (int q = 0; q < 4; q++) {
            int e1 = on[(2 * q) & 7], corner = on[(2 * q + 1) & 7], e2 = on[(2 * q + 2) & 7];
            da += quad_area2(1, e1, e2, corner) - quad_area2(0, e1, e2, corner);
            de += quad_euler4(1, e1, e2, corner) - quad_euler4(0, e1, e2, corner);
        }
        t.fg_darea2[pat] = (int8_t)da;
        t.fg_deuler4[pat] = (int8_t)de;
        /* background groups: 4-neighbours 2q and 2q+2 are connected when corner 2q+1 is background */
        int bgroup[4] = {-1, -1, -1, -1};
        int nb = 0;
        for (int q = 0; q < 4; q++) {
            if (!on[2 * q] || bgroup[q] >= 0) continue;
            int stack[4], top = 0;
            stack[top++] = q;
            bgroup[q] = nb;
            while (top) {
                int e = stack[--top];
                int nxt = (e + 1) & 3, prv = (e + 3) & 3;
                if (on[2 * nxt] && bgroup[nxt] < 0 && on[(2 * e + 1) & 7]) {
                    bgroup[nxt] = nb;
                    stack[top++] = nxt;
                }
                if (on[2 * prv] && bgroup[prv] < 0 && on[(2 * prv + 1) & 7]) {
                    bgroup[prv] = nb;
                    stack[top++] = prv;
                }
            }
            t.bg_rep[pat][nb] = (uint8_t)(2 * q);
            nb++;
        }
        t.bg_n[pat] = (uint8_t)nb;
    }
    for (int idx = 0; idx < 512; idx++) {
        int pat = 0;
        for (int d = 0; d < 8; d++) pat |= ((idx >> (3 * (DY8[d] + 1) + DX8[d] + 1)) & 1) << d;
        t.ring_of[idx] = (uint8_t)pat;
    }
    T = t;
    tables_ready = 1;
}

/* ------------------------------------------------------------------------------ components */

typedef struct {
    int32_t x0, y0, x1, y1;   /* pixel extent, unpadded coordinates */
    int32_t first;            /* smallest padded index (raster order) */
    int32_t size;
    int32_t area2;            /* foreground: sum(Q3) + 2 sum(Q4) */
    int32_t euler4;           /* foreground: 4 x Euler number */
    int32_t stamp;            /* heap entries with another stamp are stale */
    uint8_t dirty;            /* changed since the last recorded level (and listed in `dirty`) */
    uint8_t box_new;          /* extent changed since `iou` was computed */
    uint8_t pad_[2];
    double iou;
} Comp;

typedef struct {
    int64_t key, lb;          /* size key (upper bound unless exact) and its lower bound */
    int32_t id, stamp;
} SizeEnt;

typedef struct {
    double iou;
    int32_t id, stamp;
} IouEnt;

typedef struct {
    int W, H, PW, N, PN;
    int32_t *lab;             /* (PN,) component id (valid where `in` is 1) */
    uint8_t *in;              /* (PN,) 1 for a pixel in the set (the background sweep: and the padding) */
    int32_t *cp;              /* union-find parent of component ids */
    Comp *c;
    int32_t ncomp;
    int32_t *dirty;
    int32_t ndirty;
    IouEnt *ih;               /* max-heap of box IoUs */
    int32_t nih;
    IouEnt *bh;               /* foreground: max-heap of the hole bounds of components with holes */
    int32_t nbh;
    SizeEnt *sh;
    int32_t nsh;
    const int64_t *gt;
    int m;
    int grow;                 /* 0: component boxes, 1: hole boxes (extent grown by one pixel) */
} Sweep;

static int32_t find_root(int32_t *cp, int32_t i) {
    while (cp[i] != i) {
        cp[i] = cp[cp[i]];
        i = cp[i];
    }
    return i;
}

/* Best IoU of one box against the GT boxes: inclusive +1 areas, inter / (a + b - inter) in
 * float64, 0 when the union is not positive (the reference's calculate_multiple_iou). */
static double box_gt_iou(int64_t x0, int64_t y0, int64_t x1, int64_t y1, const int64_t *gt, int m) {
    double best = 0.0;
    int64_t area_a = (x1 - x0 + 1) * (y1 - y0 + 1);
    for (int g = 0; g < m; g++) {
        const int64_t *b = gt + 4 * g;
        int64_t iw = (x1 < b[2] ? x1 : b[2]) - (x0 > b[0] ? x0 : b[0]) + 1;
        int64_t ih = (y1 < b[3] ? y1 : b[3]) - (y0 > b[1] ? y0 : b[1]) + 1;
        int64_t inter = (iw > 0 ? iw : 0) * (ih > 0 ? ih : 0);
        int64_t uni = area_a + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter;
        double v = uni > 0 ? (double)inter / (double)uni : 0.0;
        if (v > best) best = v;
    }
    return best;
}

/* The reference box of a component (grow 0) or of the foreground ring around a hole (grow 1):
 * ``[x0, y0, min(x1 + 1, W - 1), min(y1 + 1, H - 1)]`` of the (grown) extent. */
static double comp_iou(const Sweep *s, const Comp *k) {
    int64_t x0 = k->x0 - s->grow, y0 = k->y0 - s->grow;
    int64_t x1 = k->x1 + 1 + s->grow, y1 = k->y1 + 1 + s->grow;
    if (x1 > s->W - 1) x1 = s->W - 1;
    if (y1 > s->H - 1) y1 = s->H - 1;
    return box_gt_iou(x0, y0, x1, y1, s->gt, s->m);
}

static int sweep_init(Sweep *s, int W, int H, const int64_t *gt, int m, int background) {
    memset(s, 0, sizeof(*s));
    s->W = W;
    s->H = H;
    s->PW = W + 2;
    s->N = W * H;
    s->PN = (W + 2) * (H + 2);
    s->gt = gt;
    s->m = m;
    s->grow = background;
    int cap = s->N + 2;
    s->lab = (int32_t *)malloc(sizeof(int32_t) * (size_t)s->PN);
    s->in = (uint8_t *)calloc((size_t)s->PN + 8, 1);
    s->cp = (int32_t *)malloc(sizeof(int32_t) * (size_t)cap);
    s->c = (Comp *)malloc(sizeof(Comp) * (size_t)cap);
    s->dirty = (int32_t *)malloc(sizeof(int32_t) * (size_t)cap);
    s->ih = (IouEnt *)malloc(sizeof(IouEnt) * (size_t)(cap + 8));
    s->bh = (IouEnt *)malloc(sizeof(IouEnt) * (size_t)(cap + 8));
    s->sh = (SizeEnt *)malloc(sizeof(SizeEnt) * (size_t)(cap + 8));
    if (!s->lab || !s->in || !s->cp || !s->c || !s->dirty || !s->ih || !s->bh || !s->sh) return -1;
    if (background) {
        /* component 0 is the outside: the padding, present at every level, never a hole */
        s->ncomp = 1;
        s->cp[0] = 0;
        memset(&s->c[0], 0, sizeof(Comp));
        int PW = s->PW, PH = H + 2;
        for (int x = 0; x < PW; x++) {
            s->lab[x] = s->lab[(PH - 1) * PW + x] = 0;
            s->in[x] = s->in[(PH - 1) * PW + x] = 1;
        }
        for (int y = 0; y < PH; y++) {
            s->lab[y * PW] = s->lab[y * PW + PW - 1] = 0;
            s->in[y * PW] = s->in[y * PW + PW - 1] = 1;
        }
    }
    return 0;
}

static void sweep_free(Sweep *s) {
    free(s->lab);
    free(s->in);
    free(s->cp);
    free(s->c);
    free(s->dirty);
    free(s->ih);
    free(s->bh);
    free(s->sh);
}

static void mark_dirty(Sweep *s, int32_t r) {
    if (!s->c[r].dirty) {
        s->c[r].dirty = 1;
        s->dirty[s->ndirty++] = r;
    }
}

static int32_t new_comp(Sweep *s, int x, int y, int32_t p) {
    int32_t r = s->ncomp++;
    Comp *k = &s->c[r];
    k->x0 = k->x1 = x;
    k->y0 = k->y1 = y;
    k->first = p;
    k->size = 1;
    k->area2 = 0;
    k->euler4 = 0;
    k->stamp = 0;
    k->dirty = 0;
    k->box_new = 1;
    s->cp[r] = r;
    return r;
}

static void extend(Comp *k, int x, int y, int32_t p) {
    if (x < k->x0) { k->x0 = x; k->box_new = 1; }
    if (x > k->x1) { k->x1 = x; k->box_new = 1; }
    if (y < k->y0) { k->y0 = y; k->box_new = 1; }
    if (y > k->y1) { k->y1 = y; k->box_new = 1; }
    if (p < k->first) k->first = p;
    k->size++;
}

/* Merge the components of roots a != b; returns the surviving root. In the background sweep the
 * outside (root 0) always survives. */
static int32_t unite(Sweep *s, int32_t a, int32_t b) {
    if (b == 0 && s->grow) { int32_t t = a; a = b; b = t; }
    else if (!(a == 0 && s->grow) && s->c[a].size < s->c[b].size) { int32_t t = a; a = b; b = t; }
    s->cp[b] = a;
    if (a == 0 && s->grow) return a;
    Comp *ka = &s->c[a], *kb = &s->c[b];
    if (kb->x0 < ka->x0) { ka->x0 = kb->x0; ka->box_new = 1; }
    if (kb->x1 > ka->x1) { ka->x1 = kb->x1; ka->box_new = 1; }
    if (kb->y0 < ka->y0) { ka->y0 = kb->y0; ka->box_new = 1; }
    if (kb->y1 > ka->y1) { ka->y1 = kb->y1; ka->box_new = 1; }
    if (kb->first < ka->first) ka->first = kb->first;
    ka->size += kb->size;
    ka->area2 += kb->area2;
    ka->euler4 += kb->euler4;
    return a;
}

/* Bits 0-2: the 0/1 bytes a[0], a[1], a[2] (one 4-byte load; a multiply gathers the low bits). */
static inline uint32_t row3(const uint8_t *a) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t v;
    memcpy(&v, a, 4);
    return (((v & 0x010101u) * 0x10204u) >> 16) & 7u;
#else
    return (uint32_t)(a[0] | a[1] << 1 | a[2] << 2);
#endif
}

/* The 8-bit pattern of the neighbours of p that are in the set (bit d: direction d). `in` has 8
 * bytes of slack after the padded image, for the 4-byte loads of the last pixel. */
static inline int ring(const uint8_t *in, int32_t p, int32_t PW) {
    uint32_t idx = row3(in + p - PW - 1) | row3(in + p - 1) << 3 | row3(in + p + PW - 1) << 6;
    return T.ring_of[idx];
}

/* The root of the union of the components of p's ng neighbour groups (rep: a direction in each). */
static inline int32_t join_groups(Sweep *s, int32_t p, int ng, const uint8_t *rep, const int32_t *off) {
    int32_t r = find_root(s->cp, s->lab[p + off[rep[0]]]);
    for (int g = 1; g < ng; g++) {
        int32_t q = find_root(s->cp, s->lab[p + off[rep[g]]]);
        if (q != r) r = unite(s, r, q);
    }
    return r;
}

/* Add pixel p (padded index; x, y unpadded) to the foreground (8-connectivity). */
static inline void add_fg(Sweep *s, int32_t p, int x, int y, const int32_t *off) {
    int32_t *lab = s->lab;
    int pat = ring(s->in, p, s->PW);
    int ng = T.fg_n[pat];
    int32_t r;
    if (ng == 0) {
        r = new_comp(s, x, y, p);
    } else {
        r = join_groups(s, p, ng, T.fg_rep[pat], off);
        extend(&s->c[r], x, y, p);
    }
    lab[p] = r;
    s->in[p] = 1;
    Comp *k = &s->c[r];
    k->area2 += T.fg_darea2[pat];
    k->euler4 += T.fg_deuler4[pat];
    k->stamp++;                /* invalidates a cached exact area */
    if (!k->dirty) {
        k->dirty = 1;
        s->dirty[s->ndirty++] = r;
    }
}

/* Add pixel p to the background (4-connectivity; the padding is the outside component 0). */
static inline void add_bg(Sweep *s, int32_t p, int x, int y, const int32_t *off) {
    int32_t *lab = s->lab;
    int pat = ring(s->in, p, s->PW);
    int ng = T.bg_n[pat];
    int32_t r;
    if (ng == 0) {
        r = new_comp(s, x, y, p);
    } else {
        r = join_groups(s, p, ng, T.bg_rep[pat], off);
        if (r != 0) extend(&s->c[r], x, y, p);
    }
    lab[p] = r;
    s->in[p] = 1;
    if (r != 0) {
        s->c[r].stamp++;
        mark_dirty(s, r);
    }
}

/* ----------------------------------------------------------------------------------- heaps */

static void iou_push(IouEnt *h, int32_t *count, double v, int32_t id, int32_t stamp) {
    int i = (*count)++;
    while (i > 0) {
        int up = (i - 1) >> 1;
        if (h[up].iou >= v) break;
        h[i] = h[up];
        i = up;
    }
    h[i].iou = v;
    h[i].id = id;
    h[i].stamp = stamp;
}

static void iou_pop(IouEnt *h, int32_t *count) {
    IouEnt last = h[--*count];
    int n = *count, i = 0;
    for (;;) {
        int l = 2 * i + 1;
        if (l >= n) break;
        if (l + 1 < n && h[l + 1].iou > h[l].iou) l++;
        if (h[l].iou <= last.iou) break;
        h[i] = h[l];
        i = l;
    }
    if (n) h[i] = last;
}

static void size_push(Sweep *s, SizeEnt e) {
    SizeEnt *h = s->sh;
    int i = s->nsh++;
    while (i > 0) {
        int up = (i - 1) >> 1;
        if (h[up].key >= e.key) break;
        h[i] = h[up];
        i = up;
    }
    h[i] = e;
}

static void size_pop(Sweep *s) {
    SizeEnt *h = s->sh;
    SizeEnt last = h[--s->nsh];
    int n = s->nsh, i = 0;
    for (;;) {
        int l = 2 * i + 1;
        if (l >= n) break;
        if (l + 1 < n && h[l + 1].key > h[l].key) l++;
        if (h[l].key <= last.key) break;
        h[i] = h[l];
        i = l;
    }
    if (n) h[i] = last;
}

static int live(const Sweep *s, int32_t id, int32_t stamp) {
    return s->cp[id] == id && s->c[id].stamp == stamp;
}

/* The top value of an IoU heap after dropping stale entries, or -1 when it holds none. */
static double iou_top(const Sweep *s, IouEnt *h, int32_t *count) {
    while (*count && !live(s, h[0].id, h[0].stamp)) iou_pop(h, count);
    return *count ? h[0].iou : -1.0;
}

static void size_clean(Sweep *s) {
    while (s->nsh && !live(s, s->sh[0].id, s->sh[0].stamp)) size_pop(s);
}

/* --------------------------------------------------------------------------- contour area */

/* Twice cv2.contourArea of the outer border of the foreground component whose raster-first pixel
 * is `start` (padded index): Suzuki-Abe border following with 8-connectivity, as OpenCV's
 * findContours traces it, and the shoelace formula over the traced pixel centres. */
static int64_t outer_area2(const uint8_t *in, int PW, int32_t start) {
    int sx = start % PW, sy = start / PW;
    int s = 4, found = 0;
    for (int k = 0; k < 7; k++) {          /* clockwise from the west neighbour (background) */
        s = (s - 1) & 7;
        if (in[(sy + DY8[s]) * PW + sx + DX8[s]]) { found = 1; break; }
    }
    if (!found) return 0;                  /* a single pixel */
    int ex = sx + DX8[s], ey = sy + DY8[s];  /* the last border pixel before the walk closes */
    int x3 = sx, y3 = sy;
    int64_t acc = 0;
    for (;;) {
        int d = s, x4 = x3, y4 = y3;
        for (int k = 0; k < 8; k++) {      /* counter-clockwise from the previous border pixel */
            d = (d + 1) & 7;
            x4 = x3 + DX8[d];
            y4 = y3 + DY8[d];
            if (in[y4 * PW + x4]) break;
        }
        acc += (int64_t)x3 * y4 - (int64_t)x4 * y3;
        if (x4 == sx && y4 == sy && x3 == ex && y3 == ey) break;
        x3 = x4;
        y3 = y4;
        s = (d + 4) & 7;
    }
    return acc < 0 ? -acc : acc;
}

/* Size key of a foreground component: exact twice-contour-area (or, for a 1-pixel-high or -wide
 * map, the interval length) times PN plus the first pixel, so that ties go to the last component
 * in raster order; for a component with holes an upper and a lower bound. Returns exactness. */
static int size_key(const Sweep *s, const Comp *k, int64_t *key, int64_t *lb) {
    int64_t PN = s->PN;
    if (s->H == 1 || s->W == 1) {
        *key = *lb = (int64_t)((k->x1 - k->x0) + (k->y1 - k->y0)) * PN + k->first;
        return 1;
    }
    *lb = (int64_t)k->area2 * PN + k->first;
    if (k->euler4 == 4) {
        *key = *lb;
        return 1;
    }
    *key = 2 * (int64_t)(k->x1 - k->x0) * (k->y1 - k->y0) * PN + k->first;
    return 0;
}

/* The root of the largest-contour component (the heap must hold an entry for every live root). */
static int32_t largest_root(Sweep *s) {
    for (;;) {
        size_clean(s);
        SizeEnt top = s->sh[0];
        size_pop(s);
        size_clean(s);
        if (s->nsh == 0 || top.lb > s->sh[0].key) {
            size_push(s, top);
            return top.id;
        }
        /* the bounds do not decide: trace the border for the exact area */
        const Comp *k = &s->c[top.id];
        int64_t a2 = outer_area2(s->in, s->PW, k->first);
        top.key = top.lb = a2 * (int64_t)s->PN + k->first;
        size_push(s, top);
    }
}

/* An upper bound of the IoU of any box inside the box A of component k with the GT boxes:
 * max_g |A & G_g| / |G_g| (the IoU of the box A & G_g). The holes of k have their boxes inside A
 * (a hole's pixels lie strictly inside k's extent), so where this bound is not above the best
 * component IoU, the holes cannot change the all-regions IoU at that level. */
static double hole_bound(const Sweep *s, const Comp *k) {
    int64_t x0 = k->x0, y0 = k->y0, x1 = k->x1 + 1, y1 = k->y1 + 1;
    if (x1 > s->W - 1) x1 = s->W - 1;
    if (y1 > s->H - 1) y1 = s->H - 1;
    double best = 0.0;
    for (int g = 0; g < s->m; g++) {
        const int64_t *b = s->gt + 4 * g;
        int64_t iw = (x1 < b[2] ? x1 : b[2]) - (x0 > b[0] ? x0 : b[0]) + 1;
        int64_t ih = (y1 < b[3] ? y1 : b[3]) - (y0 > b[1] ? y0 : b[1]) + 1;
        int64_t inter = (iw > 0 ? iw : 0) * (ih > 0 ? ih : 0);
        int64_t area = (b[2] - b[0] + 1) * (b[3] - b[1] + 1);
        double v = area > 0 ? (double)inter / (double)area : 0.0;
        if (v > best) best = v;
    }
    return best;
}

/* Recompute the IoU (and, for the foreground, the size key) of every component changed since
 * the last recorded level, and push them onto the heaps. */
static void flush_dirty(Sweep *s, int with_size) {
    for (int i = 0; i < s->ndirty; i++) {
        int32_t id = s->dirty[i];
        Comp *k = &s->c[id];
        k->dirty = 0;
        if (s->cp[id] != id) continue;
        if (k->box_new) {
            k->iou = comp_iou(s, k);
            k->box_new = 0;
        }
        iou_push(s->ih, &s->nih, k->iou, id, k->stamp);
        if (with_size && k->euler4 != 4 && s->H > 1 && s->W > 1)
            iou_push(s->bh, &s->nbh, hole_bound(s, k), id, k->stamp);
        if (with_size) {
            SizeEnt e;
            size_key(s, k, &e.key, &e.lb);
            e.id = id;
            e.stamp = k->stamp;
            size_push(s, e);
        }
    }
    s->ndirty = 0;
}

static void offsets(int PW, int32_t *off) {
    for (int d = 0; d < 8; d++) off[d] = DY8[d] * PW + DX8[d];
}

/* Counting sort of the pixels by value; `order` holds ``y << 16 | x``, raster order within a value. */
static void bucket(const uint8_t *u8, int W, int H, int32_t *order, int64_t *starts) {
    int64_t cnt[257];
    memset(cnt, 0, sizeof(cnt));
    int N = W * H;
    for (int i = 0; i < N; i++) cnt[u8[i] + 1]++;
    for (int v = 0; v < 256; v++) cnt[v + 1] += cnt[v];
    memcpy(starts, cnt, sizeof(cnt));
    for (int y = 0; y < H; y++) {
        const uint8_t *row = u8 + (int64_t)y * W;
        for (int x = 0; x < W; x++) order[cnt[row[x]]++] = y << 16 | x;
    }
}

/* Foreground sweep from level 255 down to `lowest`, recording at the needed levels. */
static int sweep_fg(Sweep *s, const int32_t *order, const int64_t *starts, const uint8_t *need, int lowest,
                    double *largest, double *anyreg, double *hbound) {
    int32_t off[8];
    offsets(s->PW, off);
    int PW = s->PW;
    for (int v = 255; v > lowest; v--) {
        for (int64_t k = starts[v]; k < starts[v + 1]; k++) {
            int x = order[k] & 0xffff, y = order[k] >> 16;
            add_fg(s, (y + 1) * PW + x + 1, x, y, off);
        }
        int thr = v - 1;
        if (need && need[thr] && s->ncomp > 0) {
            flush_dirty(s, 1);
            double top = iou_top(s, s->ih, &s->nih);
            if (top < 0) continue;           /* empty foreground */
            anyreg[thr] = top;
            hbound[thr] = iou_top(s, s->bh, &s->nbh);
            largest[thr] = s->c[largest_root(s)].iou;
        }
    }
    return 0;
}

/* Background sweep from level 0 up to `highest`, recording the best hole IoU at needed levels. */
static int sweep_bg(Sweep *s, const int32_t *order, const int64_t *starts, const uint8_t *need, int highest,
                    double *holes) {
    int32_t off[8];
    offsets(s->PW, off);
    int PW = s->PW;
    for (int v = 0; v <= highest; v++) {
        for (int64_t k = starts[v]; k < starts[v + 1]; k++) {
            int x = order[k] & 0xffff, y = order[k] >> 16;
            add_bg(s, (y + 1) * PW + x + 1, x, y, off);
        }
        if (need && need[v]) {
            flush_dirty(s, 0);
            holes[v] = iou_top(s, s->ih, &s->nih);
        }
    }
    return 0;
}

/* Quantise a map: u8 = (uint8)(float64(map) * 255) (truncation). Returns the number of values
 * outside [0, 1] or NaN (then nothing else is computed and the caller reports the error), and the
 * maximum of u8. Written as three branch-free loops that the compiler vectorises. */
static int64_t quantize(const void *map, int is_f32, int64_t n, uint8_t *u8, int *u8max) {
    int64_t bad = 0;
    if (is_f32) {
        const float *f = (const float *)map;
        for (int64_t i = 0; i < n; i++) bad += (f[i] < 0.0f) | (f[i] > 1.0f) | (f[i] != f[i]);
        if (bad) return bad;
        for (int64_t i = 0; i < n; i++) u8[i] = (uint8_t)(int32_t)((double)f[i] * 255.0);
    } else {
        const double *f = (const double *)map;
        for (int64_t i = 0; i < n; i++) bad += (f[i] < 0.0) | (f[i] > 1.0) | (f[i] != f[i]);
        if (bad) return bad;
        for (int64_t i = 0; i < n; i++) u8[i] = (uint8_t)(int32_t)(f[i] * 255.0);
    }
    uint8_t mx = 0;
    for (int64_t i = 0; i < n; i++) mx = u8[i] > mx ? u8[i] : mx;
    *u8max = mx;
    return 0;
}

/* ------------------------------------------------------------------------------ box entries */

/* Best IoU of the extracted boxes with the GT boxes at every CAM threshold (largest region, and
 * all regions with holes when `want_all`). `map` is (H, W) float32 or float64 in [0, 1].
 * Returns 0, the number of invalid map values (> 0; nothing written), or -1 (out of memory). */
WSB_API int64_t wsb_best_ious(const void *map, int is_f32, int H, int W, const double *thresholds, int nt,
                              const int64_t *gt, int m, int want_all, double *out_largest, double *out_all) {
    build_tables();
    int64_t N = (int64_t)H * W;
    uint8_t *u8 = (uint8_t *)malloc((size_t)N);
    int32_t *order = (int32_t *)malloc(sizeof(int32_t) * (size_t)N);
    if (!u8 || !order) { free(u8); free(order); return -1; }
    int mx;
    int64_t bad = quantize(map, is_f32, N, u8, &mx);
    if (bad) { free(u8); free(order); return bad; }
    uint8_t need[256];
    memset(need, 0, sizeof(need));
    int lowest = 256, highest = -1;
    for (int i = 0; i < nt; i++) {
        int64_t thr = (int64_t)floor(thresholds[i] * (double)mx);
        if (thr < mx) {
            need[thr] = 1;
            if (thr < lowest) lowest = (int)thr;
            if (thr > highest) highest = (int)thr;
        }
    }
    double lv_largest[256], lv_any[256], lv_holes[256], lv_bound[256];
    for (int v = 0; v < 256; v++) lv_largest[v] = lv_any[v] = lv_holes[v] = lv_bound[v] = -1.0;
    int64_t starts[257];
    bucket(u8, W, H, order, starts);
    int rc = 0;
    if (lowest < 256) {
        Sweep s;
        if (sweep_init(&s, W, H, gt, m, 0) == 0) sweep_fg(&s, order, starts, need, lowest, lv_largest, lv_any, lv_bound);
        else rc = -1;
        sweep_free(&s);
        /* the background sweep only up to the last level where a hole could beat the components */
        highest = -1;
        for (int v = 0; v < 256; v++) {
            need[v] = need[v] && lv_bound[v] > lv_any[v];
            if (need[v]) highest = v;
        }
        if (want_all && rc == 0 && highest >= 0) {
            if (sweep_init(&s, W, H, gt, m, 1) == 0) sweep_bg(&s, order, starts, need, highest, lv_holes);
            else rc = -1;
            sweep_free(&s);
        }
    }
    double empty = box_gt_iou(0, 0, 0, 0, gt, m);
    for (int i = 0; i < nt; i++) {
        int64_t thr = (int64_t)floor(thresholds[i] * (double)mx);
        if (thr >= mx) {
            out_largest[i] = empty;
            if (want_all) out_all[i] = empty;
        } else {
            out_largest[i] = lv_largest[thr];
            if (want_all) out_all[i] = lv_any[thr] > lv_holes[thr] ? lv_any[thr] : lv_holes[thr];
        }
    }
    free(u8);
    free(order);
    return rc;
}

/* Counting sort exposed for tests and tools: `order` (N,) int64 unpadded indices, `starts` (257,). */
WSB_API void wsb_bucket(const uint8_t *u8, int64_t n, int64_t *order, int64_t *starts) {
    int64_t cnt[257];
    memset(cnt, 0, sizeof(cnt));
    for (int64_t i = 0; i < n; i++) cnt[u8[i] + 1]++;
    for (int v = 0; v < 256; v++) cnt[v + 1] += cnt[v];
    memcpy(starts, cnt, sizeof(cnt));
    for (int64_t i = 0; i < n; i++) order[cnt[u8[i]]++] = i;
}

/* The regions of ``u8 > thr`` (0 <= thr <= 254) for box extraction. `order`/`starts` are from
 * wsb_bucket. Foreground (holes == 0): rows ``x0, y0, x1, y1, first, area2`` of every 8-connected
 * component (area2: twice the contour area of its outer border), `*largest` = the row of the
 * largest-contour component (ties: the last in raster order). Holes (holes == 1): rows ``x0, y0,
 * x1, y1, first, 0`` of the 4-connected background components off the border. `first` is the
 * unpadded raster index of the region's first pixel. `out` must hold 6 * H * W values. Returns the
 * number of rows, or -1 (out of memory). */
WSB_API int64_t wsb_regions(int H, int W, const int64_t *order, const int64_t *starts,
                            int thr, int holes, int64_t *out, int64_t *largest) {
    build_tables();
    int64_t N = (int64_t)H * W;
    int32_t *po = (int32_t *)malloc(sizeof(int32_t) * (size_t)(N ? N : 1));
    if (!po) return -1;
    for (int64_t k = 0; k < N; k++) po[k] = (int32_t)((order[k] / W) << 16 | (order[k] % W));
    Sweep s;
    if (sweep_init(&s, W, H, NULL, 0, holes) != 0) { sweep_free(&s); free(po); return -1; }
    if (holes) sweep_bg(&s, po, starts, NULL, thr, NULL);
    else sweep_fg(&s, po, starts, NULL, thr, NULL, NULL, NULL);
    int64_t n = 0, best_key = -1;
    *largest = -1;
    for (int32_t id = holes ? 1 : 0; id < s.ncomp; id++) {
        if (s.cp[id] != id) continue;
        const Comp *k = &s.c[id];
        int64_t key, lb, a2 = 0;
        if (!holes) {
            if (!size_key(&s, k, &key, &lb)) key = outer_area2(s.in, s.PW, k->first) * (int64_t)s.PN + k->first;
            a2 = (s.H == 1 || s.W == 1) ? 0 : key / s.PN;
            if (key > best_key) { best_key = key; *largest = n; }
        }
        int64_t *row = out + 6 * n;
        row[0] = k->x0; row[1] = k->y0; row[2] = k->x1; row[3] = k->y1;
        row[4] = (int64_t)(k->first / s.PW - 1) * W + (k->first % s.PW - 1);
        row[5] = a2;
        n++;
    }
    sweep_free(&s);
    free(po);
    return n;
}

/* ----------------------------------------------------------------------- resize, normalise */

/* Separable resize, OpenCV's order of operations: a horizontal pass over every source row, then a
 * vertical pass; each output value is the left-to-right float64 sum of k products, exactly as
 * ((a0*w0 + a1*w1) + a2*w2) + a3*w3. Taps (index, weight) per output column/row come from the
 * caller; kx == 0 (ky == 0) leaves that axis as it is. `tmp` holds h * out_w values. */
WSB_API void wsb_resize(const double *src, int h, int w, int out_h, int out_w, const int64_t *ix,
                        const double *wx, int kx, const int64_t *iy, const double *wy, int ky, double *tmp,
                        double *out) {
    const double *rows = src;
    int cols = w;
    if (kx) {
        for (int r = 0; r < h; r++) {
            const double *a = src + (int64_t)r * w;
            double *o = tmp + (int64_t)r * out_w;
            for (int j = 0; j < out_w; j++) {
                const int64_t *ij = ix + (int64_t)j * kx;
                const double *wj = wx + (int64_t)j * kx;
                double acc = a[ij[0]] * wj[0];
                for (int k = 1; k < kx; k++) acc = acc + a[ij[k]] * wj[k];
                o[j] = acc;
            }
        }
        rows = tmp;
        cols = out_w;
    }
    if (ky) {
        for (int i = 0; i < out_h; i++) {
            const int64_t *ii = iy + (int64_t)i * ky;
            const double *wi = wy + (int64_t)i * ky;
            double *o = out + (int64_t)i * cols;
            const double *r0 = rows + ii[0] * cols;
            for (int j = 0; j < cols; j++) o[j] = r0[j] * wi[0];
            for (int k = 1; k < ky; k++) {
                const double *rk = rows + ii[k] * cols;
                double wk = wi[k];
                for (int j = 0; j < cols; j++) o[j] = o[j] + rk[j] * wk;
            }
        }
    } else if (rows != out) {
        memcpy(out, rows, sizeof(double) * (size_t)h * (size_t)cols);
    }
}

/* The reference normalize_scoremap in place: any NaN or a constant map -> zeros (returns 1);
 * otherwise x -= min; x /= max, where max is taken after the subtraction (returns 0). Rounding is
 * monotone, so that max is exactly fl(max(x) - min), and the two NumPy passes fuse into one:
 * x[i] = fl(fl(x[i] - min) / fl(max - min)). Four independent accumulators let the min/max pass
 * run without a loop-carried dependency. */
WSB_API int wsb_normalize(double *x, int64_t n) {
    if (n <= 0) return 1;
    double lo[4] = {x[0], x[0], x[0], x[0]}, hi[4] = {x[0], x[0], x[0], x[0]};
    int nan = 0;
    int64_t n4 = n - n % 4;
    for (int64_t i = 0; i < n4; i += 4) {
        for (int k = 0; k < 4; k++) {
            double v = x[i + k];
            nan |= v != v;
            lo[k] = v < lo[k] ? v : lo[k];
            hi[k] = v > hi[k] ? v : hi[k];
        }
    }
    for (int64_t i = n4; i < n; i++) {
        double v = x[i];
        nan |= v != v;
        lo[0] = v < lo[0] ? v : lo[0];
        hi[0] = v > hi[0] ? v : hi[0];
    }
    for (int k = 1; k < 4; k++) {
        lo[0] = lo[k] < lo[0] ? lo[k] : lo[0];
        hi[0] = hi[k] > hi[0] ? hi[k] : hi[0];
    }
    if (nan || lo[0] == hi[0]) {
        memset(x, 0, sizeof(double) * (size_t)n);
        return 1;
    }
    double mn = lo[0], top = hi[0] - mn;
    for (int64_t i = 0; i < n; i++) x[i] = (x[i] - mn) / top;
    return 0;
}

/* ---------------------------------------------------------------------------- PxAP histogram */

/* Joint histogram of (category, bin) for scores in [0, 1] on arithmetic edges i * step (t regular
 * bins, then [1, 2) and [2, 3]). category: 0 background, 1 foreground, >= 2 dropped. `hist` (3 *
 * (t + 2),) int64 is zeroed and filled: background bins, foreground bins, dropped bins. Invalid
 * scores (NaN, outside [0, 1]) are binned as 0 and counted in the return value. The bin is
 * floor(s / step) corrected once against the exact float64 edge on each side, which is
 * np.histogram's assignment on np.arange edges (the caller checks that they are i * step). */
WSB_API int64_t wsb_pxap_hist(const void *scores, int is_f32, const uint8_t *category, int64_t n, double step,
                              int t, int64_t *hist) {
    int nb = t + 2;
    double inv = 1.0 / step, top = t - 1.0;
    int64_t bad = 0;
    int64_t m = 3 * (int64_t)nb;
    int32_t *copies = (int32_t *)calloc((size_t)(4 * m), sizeof(int32_t));
    if (!copies) return -1;
    for (int64_t p = 0; p < n; p++) {
        double s = is_f32 ? (double)((const float *)scores)[p] : ((const double *)scores)[p];
        int ok = s >= 0.0 && s <= 1.0;
        bad += !ok;
        if (!ok) s = 0.0;
        double e = s * inv;
        int32_t j = (int32_t)(e < top ? e : top);
        j -= s < j * step;
        double upper = j + 1 < t ? (j + 1) * step : 1.0;
        j += s >= upper;
        int c = category[p] < 2 ? category[p] : 2;
        /* 4 interleaved copies: neighbouring pixels of a smooth map share a bin */
        copies[(p & 3) * m + c * nb + j]++;
    }
    for (int64_t i = 0; i < m; i++)
        hist[i] = (int64_t)copies[i] + copies[m + i] + copies[2 * m + i] + copies[3 * m + i];
    free(copies);
    return bad;
}

#ifndef WSB_SOURCE_HASH
#define WSB_SOURCE_HASH ""
#endif

/* The hash of this file that the build was made from (setup.py and native.py define it), so that a
 * library built from an older source is never used. */
WSB_API const char *wsb_source_hash(void) { return WSB_SOURCE_HASH; }

#ifdef WSB_PYTHON_MODULE
/* Built by setuptools as an extension module: an empty module, so that the file is importable
 * by name; the functions above are called through ctypes. */
#include <Python.h>
static struct PyModuleDef wsb_module = {PyModuleDef_HEAD_INIT, "_engine", NULL, -1, NULL};
PyMODINIT_FUNC PyInit__engine(void) { return PyModule_Create(&wsb_module); }
#endif
