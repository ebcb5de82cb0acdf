/* wsolbench's compiled metric engine: box sweeps, bicubic resize, min-max normalisation and the
 * PxAP joint histogram, bit-identical to the wsolevaluation reference (OpenCV + NumPy).
 *
 * Built by setup.py as an extension (wsolbench/metrics/_engine*.so) or, where that build is
 * missing, compiled on first use by wsolbench/metrics/native.py with the system C compiler. It is
 * plain C99 with no Python API (the PyInit stub below exists only so that setuptools can build it
 * as an extension); Python calls it through ctypes. Functions keep no state between calls except
 * constant tables and a per-thread workspace of reused buffers, so ctypes may release the GIL
 * around calls and several threads may call at once. SSE2 (every x86-64) is used through
 * intrinsics where the compiler does not vectorise on its own; other targets get the same
 * arithmetic in plain loops.
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
 * bounds checks; ``lab[p]`` is the component id a pixel got when it joined. Component records
 * (extent, first and last raster pixel, bit-quad sums) are small structs indexed by id.
 *
 * Neighbourhoods without probing: the foreground sweep adds the pixels of a level in raster order,
 * so neighbour q is already in when p joins iff u8[q] > u8[p], or u8[q] == u8[p] and q comes first
 * in raster order; the background sweep adds a level in reverse raster order and finds exactly the
 * complement. One vectorisable raster pass (prep_sort) computes that 8-bit pattern for every pixel
 * and stores it with the pixel in the sorted list, so the sweeps read it sequentially.
 *
 * Per added pixel, the pattern gives, from tables built once: the groups of neighbours that are
 * already connected locally (at most 4 finds instead of 8), and the change of the component's
 * bit-quad sums. Twice the area of the polygon through the centres of a component's pixels is
 * sum(Q3) + 2 sum(Q4) over 2x2 blocks (Q_k: blocks with k foreground pixels), and 4 x its Euler
 * number is sum(Q1) - sum(Q3) - 2 sum(QD) (QD: diagonal pairs): both are sums over blocks, and
 * every block with a foreground pixel belongs to exactly one 8-component, so both are kept per
 * component in O(1) per pixel (one 64-bit add). A component without holes (Euler number 1) has
 * cv2.contourArea(outer border) = that polygon area exactly. For a component with holes the
 * polygon area is a lower bound and 2(w-1)(h-1) of its extent an upper bound; the border is traced
 * (Suzuki-Abe, as OpenCV's findContours) only when these bounds cannot decide which component is
 * the largest.
 *
 * At each CAM threshold that the grid needs, the components changed since the last recorded level
 * get their box IoU (against every GT box) and size key recomputed, and their entries in two indexed
 * max-heaps (one entry per component, moved when its value changes, removed when it merges) follow:
 * the best IoU over all regions is the top of the IoU heap, the largest region the top of the size
 * heap. Work per level is proportional to what changed, not to the number of regions.
 *
 * Holes only where they can win: a pixel that joins a component through two neighbour groups of
 * that component closes a loop and encloses new background regions (hole_births). Every later hole
 * lies inside one of them, so the box of each (found by a flood fill of a few pixels or a border
 * walk) bounds the IoU of all of its future holes; the background sweep then runs only up to the
 * last level where some component's bound exceeds the best component IoU (on raw CAMs: almost
 * never).
 */

#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L   /* pthread thread-specific data for the per-thread workspace */
#endif

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if !defined(_WIN32)
#include <pthread.h>
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
    int8_t bg_arc[256][8];    /* the group of each background 4-neighbour direction, -1 elsewhere */
} Tables;

static Tables T;
static volatile int tables_ready = 0;
static void choose_kernels(void);

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
        for (int d = 0; d < 8; d++) t.bg_arc[pat][d] = (int8_t)((d & 1) ? -1 : bgroup[d / 2]);
        t.bg_n[pat] = (uint8_t)nb;
    }
    T = t;
    choose_kernels();
    tables_ready = 1;
}

/* ------------------------------------------------------------------------------ workspace */

#if defined(_MSC_VER)
#define WSB_NOINLINE __declspec(noinline)
#define WSB_HOT_INLINE __forceinline
#define WSB_UNLIKELY(c) (c)
#else
#define WSB_NOINLINE __attribute__((noinline))
#define WSB_HOT_INLINE inline __attribute__((always_inline))
#define WSB_UNLIKELY(c) __builtin_expect(!!(c), 0)
#endif

/* Index of the lowest set bit of v != 0. */
static inline int lowest_bit(unsigned v) {
#if defined(_MSC_VER)
    int i = 0;
    while (!((v >> i) & 1u)) i++;
    return i;
#else
    return __builtin_ctz(v);
#endif
}

/* The large buffers of a call are kept per thread and reused by the next call: a fresh multi-
 * megabyte allocation per map would come from mmap and cost a page fault per 4 KiB touched
 * (tens of microseconds per 224 x 224 map). Per thread, so calls on several threads (ctypes
 * releases the GIL) never share them; above WS_KEEP bytes they are given back after the call, and
 * a thread's buffers are freed when the thread ends (POSIX thread-specific data with a
 * destructor; on Windows they stay until the process ends). */
enum { WS_PU8, WS_ENT, WS_LAB, WS_CP, WS_COMP, WS_COLD, WS_DIRTY, WS_IH, WS_BH, WS_SH, WS_TMP, WS_PNG, WS_N };
#define WS_KEEP ((size_t)64 << 20)

typedef struct {
    void *ptr[WS_N];
    size_t cap[WS_N];
} Workspace;

#if defined(_WIN32)
static __declspec(thread) Workspace ws_tls;
static Workspace *ws_this(void) { return &ws_tls; }
#else
static pthread_key_t ws_key;
static pthread_once_t ws_once = PTHREAD_ONCE_INIT;
static int ws_key_ok = 0;

static void ws_destroy(void *p) {
    Workspace *w = (Workspace *)p;
    for (int i = 0; i < WS_N; i++) free(w->ptr[i]);
    free(w);
}

static void ws_key_init(void) { ws_key_ok = pthread_key_create(&ws_key, ws_destroy) == 0; }

/* The calling thread's workspace, or NULL (out of memory). */
static Workspace *ws_this(void) {
    pthread_once(&ws_once, ws_key_init);
    if (!ws_key_ok) return NULL;
    Workspace *w = (Workspace *)pthread_getspecific(ws_key);
    if (!w) {
        w = (Workspace *)calloc(1, sizeof(Workspace));
        if (w && pthread_setspecific(ws_key, w) != 0) {
            free(w);
            w = NULL;
        }
    }
    return w;
}
#endif

/* The thread's buffer `slot` with room for `bytes` (contents undefined), 16-byte aligned (the SSE4.1
 * loops take a component record's extent as an aligned memory operand; malloc guarantees only 8
 * bytes on some 32-bit platforms), or NULL. */
static void *ws_get(int slot, size_t bytes) {
    Workspace *w = ws_this();
    if (!w) return NULL;
    if (bytes == 0) bytes = 1;
    if (w->cap[slot] < bytes) {
        free(w->ptr[slot]);
        w->ptr[slot] = bytes <= SIZE_MAX - 16 ? malloc(bytes + 16) : NULL;
        w->cap[slot] = w->ptr[slot] ? bytes : 0;
    }
    return w->ptr[slot] ? (void *)(((uintptr_t)w->ptr[slot] + 15) & ~(uintptr_t)15) : NULL;
}

/* After a call: give the buffers back if they hold more than WS_KEEP bytes. */
static void ws_trim(void) {
    Workspace *w = ws_this();
    if (!w) return;
    size_t total = 0;
    for (int i = 0; i < WS_N; i++) total += w->cap[i];
    if (total <= WS_KEEP) return;
    for (int i = 0; i < WS_N; i++) {
        free(w->ptr[i]);
        w->ptr[i] = NULL;
        w->cap[i] = 0;
    }
}

/* ------------------------------------------------------------------------------ components */

/* One pixel of the sorted list: padded index (bits 0-31), column (32-55), foreground neighbour
 * pattern at the time it joins the foreground sweep (56-63). */
typedef uint64_t Ent;
#define ENT(p, x, pat) ((uint64_t)(pat) << 56 | (uint64_t)(x) << 32 | (uint64_t)(uint32_t)(p))
#define ENT_P(e) ((int32_t)(uint32_t)(e))
#define ENT_X(e) ((int32_t)(((e) >> 32) & 0xffffff))
#define ENT_PAT(e) ((int)((e) >> 56))
#define MAX_W 0xffffff

/* A component's extent is the lane-wise maximum of its pixels' lanes (padded index, its complement,
 * column, its complement), so that adding a pixel updates the whole extent with one vector maximum. */
#define L_LAST 0
#define L_NFIRST 1
#define L_X1 2
#define L_NX0 3

/* What the hot loop touches of a component: 32 bytes. */
typedef struct {
    int32_t ext[4];           /* maxima of its pixels' lanes: last, ~first, x1, ~x0 (padded index, column) */
    int64_t ae;               /* foreground: area2 * 2^32 + euler4 (both bit-quad sums in one add) */
    int32_t parent;           /* union-find parent; a root is its own, | CLEAN while it is unchanged since
                               * the last recorded level (so the find's one comparison also tells a
                               * pixel whether its component still has to go on the dirty list) */
    int32_t rank;             /* int: a char store would alias every pointer and force reloads */
} Comp;
#define CLEAN INT32_MIN

/* The rest of a component's record, used when a level is recorded and by the hole births. */
typedef struct {
    int32_t ext[4];           /* the extent `iou` was computed for (lane 0 is -1 before the first time) */
    double iou;
    double hb;                /* foreground: a bound of the IoU of the boxes of its holes (hole_births) */
    int64_t ae;               /* Comp.ae when it was last recorded */
    int32_t ipos, bpos, spos; /* its entry's position in the IoU, hole-bound and size heaps, or -1 */
    int32_t changed;          /* the last recording (Sweep.nflush) at which it had changed */
} Cold;

#define C_FIRST(k) (~(k)->ext[L_NFIRST])
#define C_LAST(k) ((k)->ext[L_LAST])
#define C_X0(k) (~(k)->ext[L_NX0])
#define C_X1(k) ((k)->ext[L_X1])

/* The lanes of a pixel. */
static inline void ent_lanes(Ent e, int32_t *v) {
    v[L_LAST] = ENT_P(e);
    v[L_NFIRST] = ~ENT_P(e);
    v[L_X1] = ENT_X(e);
    v[L_NX0] = ~ENT_X(e);
}

/* ext = max(ext, v), lane by lane (SSE2 has no 32-bit maximum: a comparison and a select;
 * SSE4.1's pmaxsd where the CPU has it, see add_pixels). */
#if defined(__SSE2__)
static WSB_HOT_INLINE __m128i vmax_sse2(__m128i a, __m128i b) {
    __m128i gt = _mm_cmpgt_epi32(b, a);
    return _mm_or_si128(_mm_and_si128(gt, b), _mm_andnot_si128(gt, a));
}

static WSB_HOT_INLINE void ext_max(int32_t *ext, const int32_t *v) {
    _mm_storeu_si128((__m128i *)ext, vmax_sse2(_mm_loadu_si128((const __m128i *)ext),
                                               _mm_loadu_si128((const __m128i *)v)));
}

/* The lanes of pixel e as a vector: (p, x) from the entry, duplicated, complemented in lanes 1, 3. */
#define ENT_VEC(e) _mm_xor_si128(_mm_shuffle_epi32(_mm_cvtsi64_si128((long long)((e) & 0x00ffffffffffffffull)), \
                                                   0x50), _mm_set_epi32(-1, 0, -1, 0))
#define ADD_EXT_SSE2(ext, e) \
    _mm_storeu_si128((__m128i *)(ext), vmax_sse2(_mm_loadu_si128((const __m128i *)(ext)), ENT_VEC(e)))
#define ADD_EXT ADD_EXT_SSE2
#else
static WSB_HOT_INLINE void ext_max(int32_t *ext, const int32_t *v) {
    for (int i = 0; i < 4; i++) ext[i] = v[i] > ext[i] ? v[i] : ext[i];
}

static WSB_HOT_INLINE void add_ext_c(int32_t *ext, Ent e) {
    int32_t v[4];
    ent_lanes(e, v);
    ext_max(ext, v);
}
#define ADD_EXT add_ext_c
#endif

typedef struct {
    int64_t key, lb;          /* size key (upper bound unless exact) and its lower bound */
    int32_t id, pad_;
} SizeEnt;

typedef struct {
    double iou;
    int32_t id, pad_;
} IouEnt;


/* What a pixel's neighbour pattern means for the hot loop: two tables indexed by the pattern (8-byte
 * and 4-byte rows: the index scales in the address) at one base address. */
typedef struct {
    int64_t dae[256];         /* change of Comp.ae when the pixel joins (foreground; 0 in the background
                               * sweep), or PDAE_SLOW: not exactly one group (the pixel starts a
                               * component or joins several). The one-group changes are >= 0, so one
                               * sign test of the value the loop needs anyway picks the slow pixels */
    int32_t off[256];         /* a neighbour in its first local group (padded index offset) */
} PatTab;

/* A quantised map, padded, with its pixels sorted by value. */
typedef struct {
    int W, H, PW, PH;
    int64_t N, PN;
    uint8_t *pu8;             /* (PH, PW) u8 with a border of zeros */
    Ent *ent;                 /* (N,) pixels by value ascending, raster order within a value */
    int64_t starts[257];      /* ent[starts[v]:starts[v + 1]] have value v */
} Prep;

typedef struct {
    int W, H, PW, PH;
    int64_t N, PN;
    int32_t *lab;             /* (PN,) component id of a pixel in the set (the padding: 0 in the background sweep) */
    int32_t *cp;              /* union-find parents as a compact array for the out-of-line finds (the same
                               * roots and unions as Comp.parent, compressed separately: on maps with
                               * tens of thousands of components its cache lines are 8 times fewer) */
    Comp *c;
    Cold *cc;
    int32_t ncomp;
    int32_t *dirty;
    int32_t ndirty;
    int32_t nflush;           /* recordings so far */
    IouEnt *ih;               /* max-heap of box IoUs */
    int32_t nih;
    IouEnt *bh;               /* foreground: max-heap of the hole bounds of components with holes */
    int32_t nbh;
    SizeEnt *sh;
    int32_t nsh;
    const int64_t *gt;
    int m;
    int grow;                 /* 0: component boxes (foreground sweep), 1: hole boxes (background sweep) */
    const uint8_t *pu8;       /* the padded map */
    int thr;                  /* the level being recorded: foreground = pu8 > thr */
    int lv;                   /* foreground sweep: the value being added; pixel q is in the set iff */
    int64_t cur;              /* pu8[q] > lv, or pu8[q] == lv and q <= cur (raster order), i.e. iff */
    int64_t fkey;             /* pu8[q] * 2^32 - q >= fkey = lv * 2^32 - cur (q, cur < 2^31) */
    int64_t budget;           /* walk steps left for hole_births (< 0: spent; holes get their component's bound) */
    double inv_gmin;          /* max_g 1 / |G_g|: no box B has an inside_bound above |B| inv_gmin */
    int32_t off[8];           /* padded index offsets of the 8 directions */
    PatTab pt;
    int64_t sdae[256];        /* the change of Comp.ae of every pattern (for the slow pixels) */
    uint8_t gn[256];          /* number of local neighbour groups of a pattern */
    int32_t goff[256][4];     /* a neighbour in each group (padded index offsets) */
} Sweep;

#define PDAE_SLOW INT64_MIN

/* The root of component i (path halving; only a root carries CLEAN). */
static inline int32_t find_root(Comp *c, int32_t i) {
    for (;;) {
        int32_t q = c[i].parent & INT32_MAX;
        if (q == i) return i;
        int32_t g = c[q].parent & INT32_MAX;
        c[i].parent = g;
        i = g;
    }
}

/* The root of component i in the compact parents. */
static inline int32_t find_root_cp(int32_t *cp, int32_t i) {
    while (cp[i] != i) {
        cp[i] = cp[cp[i]];
        i = cp[i];
    }
    return i;
}

/* The root of component i, which is on the dirty list when this returns (a pixel joins it). */
static WSB_NOINLINE int32_t find_mark(Comp *c, int32_t i, int32_t *dirty, int32_t *nd) {
    i = find_root(c, i);
    if (c[i].parent < 0) {
        c[i].parent = i;
        dirty[(*nd)++] = i;
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

/* Unpadded row extent of a component. */
static inline int32_t comp_y0(const Sweep *s, const Comp *k) { return C_FIRST(k) / s->PW - 1; }
static inline int32_t comp_y1(const Sweep *s, const Comp *k) { return C_LAST(k) / s->PW - 1; }

/* The reference box of a component (grow 0) or of the foreground ring around a hole (grow 1):
 * ``[x0, y0, min(x1 + 1, W - 1), min(y1 + 1, H - 1)]`` of the (grown) extent. */
static double comp_iou(const Sweep *s, const Comp *k) {
    int64_t x0 = C_X0(k) - s->grow, y0 = comp_y0(s, k) - s->grow;
    int64_t x1 = C_X1(k) + 1 + s->grow, y1 = comp_y1(s, k) + 1 + s->grow;
    if (x1 > s->W - 1) x1 = s->W - 1;
    if (y1 > s->H - 1) y1 = s->H - 1;
    return box_gt_iou(x0, y0, x1, y1, s->gt, s->m);
}

static void sweep_free(Sweep *s) {
    free(s);                  /* the arrays are the thread's workspace */
}

/* A sweep over a prepared map (background: 4-connected background components, the padding being
 * the outside component 0; else 8-connected foreground components). NULL when out of memory. */
static Sweep *sweep_new(const Prep *pr, const int64_t *gt, int m, int background) {
    Sweep *s = (Sweep *)calloc(1, sizeof(Sweep));
    if (!s) return NULL;
    s->W = pr->W;
    s->H = pr->H;
    s->PW = pr->PW;
    s->PH = pr->PH;
    s->N = pr->N;
    s->PN = pr->PN;
    s->gt = gt;
    s->m = m;
    s->grow = background;
    s->pu8 = pr->pu8;
    s->budget = s->N / 2 + 64;
    size_t cap = (size_t)s->N + 2;
    s->lab = (int32_t *)ws_get(WS_LAB, sizeof(int32_t) * (size_t)s->PN);
    s->c = (Comp *)ws_get(WS_COMP, sizeof(Comp) * cap);
    s->cp = (int32_t *)ws_get(WS_CP, sizeof(int32_t) * cap);
    s->cc = (Cold *)ws_get(WS_COLD, sizeof(Cold) * cap);
    s->dirty = (int32_t *)ws_get(WS_DIRTY, sizeof(int32_t) * cap);
    s->ih = (IouEnt *)ws_get(WS_IH, sizeof(IouEnt) * (cap + 8));
    s->bh = background ? NULL : (IouEnt *)ws_get(WS_BH, sizeof(IouEnt) * (cap + 8));
    s->sh = background ? NULL : (SizeEnt *)ws_get(WS_SH, sizeof(SizeEnt) * (cap + 8));
    if (!s->lab || !s->c || !s->cp || !s->cc || !s->dirty || !s->ih || (!background && (!s->bh || !s->sh))) {
        sweep_free(s);
        return NULL;
    }
    int32_t *off = s->off;
    for (int d = 0; d < 8; d++) off[d] = DY8[d] * s->PW + DX8[d];
    s->inv_gmin = 0.0;
    for (int g = 0; g < m; g++) {
        const int64_t *b = gt + 4 * g;
        int64_t area = (b[2] - b[0] + 1) * (b[3] - b[1] + 1);
        double v = area > 0 ? 1.0 / (double)area : 0.0;
        if (v > s->inv_gmin) s->inv_gmin = v;
    }
    for (int pat = 0; pat < 256; pat++) {
        int bp = ~pat & 0xff;          /* the background pattern is the complement (see prep_sort) */
        int ng = background ? T.bg_n[bp] : T.fg_n[pat];
        for (int g = 0; g < ng; g++) s->goff[pat][g] = off[background ? T.bg_rep[bp][g] : T.fg_rep[pat][g]];
        s->gn[pat] = (uint8_t)ng;
        s->pt.off[pat] = ng ? s->goff[pat][0] : 0;
        s->sdae[pat] = background ? 0 : (int64_t)T.fg_darea2[pat] * ((int64_t)1 << 32) + T.fg_deuler4[pat];
        /* one group: no loop closes, so the Euler number changes by 0 or +1 (a one-pixel hole filled)
         * and the area by >= 0; the sign bit is free for the slow mark */
        s->pt.dae[pat] = ng != 1 || s->sdae[pat] < 0 ? PDAE_SLOW : s->sdae[pat];
    }
    if (background) {
        /* component 0 is the outside: the padding, present at every level, never a hole */
        s->ncomp = 1;
        memset(&s->c[0], 0, sizeof(Comp));
        s->cp[0] = 0;
        memset(&s->cc[0], 0, sizeof(Cold));
        s->cc[0].ipos = s->cc[0].bpos = s->cc[0].spos = -1;
        int PW = s->PW, PH = s->PH;
        for (int x = 0; x < PW; x++) s->lab[x] = s->lab[(int64_t)(PH - 1) * PW + x] = 0;
        for (int y = 0; y < PH; y++) s->lab[(int64_t)y * PW] = s->lab[(int64_t)y * PW + PW - 1] = 0;
    }
    return s;
}

static inline int32_t comp_area2(const Comp *k) {
    int32_t e = (int32_t)(uint32_t)k->ae;
    return (int32_t)((k->ae - e) >> 32);
}

static inline int32_t comp_euler4(const Comp *k) { return (int32_t)(uint32_t)k->ae; }

static int32_t new_comp(Sweep *s, Ent en) {
    int32_t r = s->ncomp++;
    Comp *k = &s->c[r];
    ent_lanes(en, k->ext);
    k->ae = 0;
    k->parent = r;                     /* dirty */
    s->cp[r] = r;
    k->rank = 0;
    Cold *o = &s->cc[r];
    o->ext[0] = -1;                    /* no IoU computed yet */
    o->ipos = o->bpos = o->spos = -1;  /* in no heap yet */
    o->hb = 0.0;
    o->ae = 0;
    o->changed = -2;
    s->dirty[s->ndirty++] = r;
    return r;
}

/* Merge the components of roots a != b; returns the surviving root. In the background sweep the
 * outside (root 0) always survives and keeps no statistics. */
static inline void mark_dirty(Sweep *s, int32_t id) {     /* id: a root */
    if (s->c[id].parent < 0) {
        s->c[id].parent = id;
        s->dirty[s->ndirty++] = id;
    }
}

static int32_t unite(Sweep *s, int32_t a, int32_t b) {
    if (s->grow && (a == 0 || b == 0)) {
        int32_t gone = a == 0 ? b : a;
        mark_dirty(s, gone);                /* leaves the heaps at the next recorded level */
        s->c[gone].parent = 0;
        s->cp[gone] = 0;
        return 0;
    }
    Comp *ka = &s->c[a], *kb = &s->c[b];
    if (ka->rank < kb->rank) {
        int32_t t = a; a = b; b = t;
        Comp *tk = ka; ka = kb; kb = tk;
    } else if (ka->rank == kb->rank) {
        ka->rank++;
    }
    mark_dirty(s, b);                       /* leaves the heaps at the next recorded level */
    kb->parent = a;
    s->cp[b] = a;
    ext_max(ka->ext, kb->ext);
    ka->ae += kb->ae;
    if (s->cc[b].hb > s->cc[a].hb) s->cc[a].hb = s->cc[b].hb;
    return a;
}

/* max_g |B & G_g| / |G_g| for the box B = [x0, y0, x1, y1]: an upper bound of the IoU of every box
 * inside B with the GT boxes (the IoU of the box B & G_g reaches it). */
static double inside_bound(const Sweep *s, int64_t x0, int64_t y0, int64_t x1, int64_t y1) {
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

/* The box in the reference convention of an extent (unpadded) and its inside_bound. */
static double extent_bound(const Sweep *s, int64_t x0, int64_t y0, int64_t x1, int64_t y1) {
    x1 = x1 + 1 > s->W - 1 ? s->W - 1 : x1 + 1;
    y1 = y1 + 1 > s->H - 1 ? s->H - 1 : y1 + 1;
    return inside_bound(s, x0, y0, x1, y1);
}

/* An upper bound of the IoU of the boxes of the holes of component k: a hole lies strictly inside
 * k's extent, so its box lies inside k's box A. */
static double hole_bound(const Sweep *s, const Comp *k) {
    return extent_bound(s, C_X0(k), comp_y0(s, k), C_X1(k), comp_y1(s, k));
}

/* One border-following walk of hole_births. */
typedef struct {
    int64_t q, e;             /* current pixel, and the closing pixel (padded indices) */
    int x, y, s;              /* current pixel's coordinates, direction back to the previous pixel */
    int tx0, ty0, tx1, ty1;   /* extent of the walk (padded coordinates) */
    int64_t acc;              /* twice the signed area */
    int state;                /* 0 walking, 1 closed, 2 the same region as another walk */
} Walk;

/* Whether pixel q is in the foreground sweep's current set: the values above the level being
 * added, and those of that level up to the pixel being added (raster order). The padding (0) is
 * never in: the foreground sweep adds levels >= 1 only. */
static inline int fg_in(const Sweep *s, int64_t q) {
    int u = s->pu8[q];
    return ((int64_t)u << 32) - q >= s->fkey;
}

/* The 8-neighbour pattern of pixel q (bit d: direction d) in the foreground sweep's current set. */
static unsigned ring_in(const Sweep *s, int64_t q) {
    unsigned m = 0;
    for (int d = 0; d < 8; d++) m |= (unsigned)fg_in(s, q + s->off[d]) << d;
    return m;
}

#define SMALL_HOLE 4
#ifndef REG_SWITCHES
#define REG_SWITCHES 16
#endif

/* Flood fill (4-connected) of the background region of pixel q (padded coordinates qx, qy) in the
 * foreground sweep's current set, appending its pixels to seen[*nseen..] (room for SMALL_HOLE + 1
 * more). Returns 1 if the region has at most SMALL_HOLE pixels and does not reach the padding (then
 * the foreground encloses it), and its extent in padded indices (smallest and largest row start
 * via min/max of the pixels, columns via the pixels' offsets from q), else 0. */
static int small_region(const Sweep *s, int64_t q, int qx, int qy, int64_t *seen, int *nseen, int64_t *lo,
                        int64_t *hi, int *dx0, int *dx1) {
    const int32_t *off = s->off;
    int start = *nseen, n = start;
    int cols[SMALL_HOLE + 1], rows[SMALL_HOLE + 1];
    seen[n++] = q;
    cols[0] = rows[0] = 0;
    *lo = *hi = q;
    *dx0 = *dx1 = 0;
    for (int i = start; i < n; i++) {
        int64_t c = seen[i];
        int cx = cols[i - start], cy = rows[i - start];
        *lo = c < *lo ? c : *lo;
        *hi = c > *hi ? c : *hi;
        *dx0 = cx < *dx0 ? cx : *dx0;
        *dx1 = cx > *dx1 ? cx : *dx1;
        for (int d = 0; d < 8; d += 2) {
            int64_t t = c + off[d];
            if (fg_in(s, t)) continue;                  /* in the foreground */
            int tx = qx + cx + DX8[d], ty = qy + cy + DY8[d];
            if (tx == 0 || ty == 0 || tx == s->PW - 1 || ty == s->PH - 1) {   /* the padding: outside */
                *nseen = n;
                return 0;
            }
            int known = 0;
            for (int k = start; k < n; k++) known |= seen[k] == t;
            if (known) continue;
            if (n - start == SMALL_HOLE) {
                *nseen = n;
                return 0;
            }
            cols[n - start] = cx + DX8[d];
            rows[n - start] = cy + DY8[d];
            seen[n++] = t;
        }
    }
    *nseen = n;
    return 1;
}

/* Pixel p (column x, neighbour pattern pat) has just closed `cycles` loops of component r: the
 * background region around p splits into cycles + 1 regions, of which at least `cycles` are
 * enclosed by r. Every hole that r (or what it merges with) has at a lower level lies inside one
 * of the regions enclosed here, or inside a hole that r had before (already bounded). So the box
 * of each enclosed region bounds the boxes of all its future holes: found by following the border
 * of r around each region, all walks in lockstep (a walk that passes p beside another walk's
 * start shows that both follow one region), until `cycles` walks have closed around an enclosed
 * region (the border of an enclosed region runs the other way round from the outer border). The
 * largest bound goes to r.hb, so that the background sweep runs only where a hole could matter.
 * The extent of r bounds the new holes too: where that bound does not exceed r.hb, nothing is
 * walked. Walks cost steps from a budget per map; once it is spent, holes are bounded by their
 * component's box only (hole_bound). */
static WSB_NOINLINE void hole_births(Sweep *s, int32_t p, int x, int pat, int32_t r, int cycles) {
    Comp *k = &s->c[r];
    Cold *o = &s->cc[r];
    const int PW = s->PW;
    const int32_t *off = s->off;
    int bp = ~pat & 0xff, na = T.bg_n[bp];
    double hb = o->hb;
    /* the commonest loop closing first: when `cycles` of the arcs lead to one pixel of p's level
     * with its four 4-neighbours in, those are the enclosed regions (exactly `cycles` are), and
     * each joins later in this level, so none reaches a recorded level: nothing to bound */
    int transient = 0;
    for (int a = 0; a < na; a++) {
        int64_t q = p + off[T.bg_rep[bp][a]];
        transient += s->pu8[q] == s->lv && fg_in(s, q + 1) && fg_in(s, q - 1) && fg_in(s, q + PW) &&
                     fg_in(s, q - PW);
    }
    if (transient >= cycles) return;
    /* the extent of r with p bounds the new holes (they are strictly inside it): where it does not
     * exceed r's bound, nothing changes; once the budget is spent it is the bound */
    int64_t ux0 = C_X0(k) < x ? C_X0(k) : x, ux1 = C_X1(k) > x ? C_X1(k) : x;
    int64_t uy0 = (C_FIRST(k) < p ? C_FIRST(k) : p) / PW - 1, uy1 = (C_LAST(k) > p ? C_LAST(k) : p) / PW - 1;
    double cheap = extent_bound(s, ux0, uy0, ux1, uy1);
    if (cheap <= hb) return;
    if (--s->budget < 0) {
        o->hb = cheap;
        return;
    }
    Walk w[4];
    int closed = 0;
    int px = x + 1, py = p / PW;
    /* the common cases first: the region behind an arc is one pixel q (its four 4-neighbours are
     * in; when q has p's value it joins later in this level and the hole never reaches a recorded
     * level), or a few pixels (a flood fill of at most SMALL_HOLE pixels that does not reach the
     * padding finds all of it); either is enclosed by r */
    int64_t seen[4 * (SMALL_HOLE + 1)];
    int nseen = 0;
    for (int a = 0; a < na; a++) {
        int dir = T.bg_rep[bp][a];
        int64_t q = p + off[dir];
        if (fg_in(s, q + 1) && fg_in(s, q - 1) && fg_in(s, q + PW) && fg_in(s, q - PW)) {
            w[a].state = 1;
            closed++;
            if (s->pu8[q] != s->pu8[p] && 16.0 * s->inv_gmin > hb) {        /* |box| = 4 x 4 at most */
                int64_t qy = q / PW, qx = q - qy * PW;
                double b = extent_bound(s, qx - 2, qy - 2, qx, qy);
                if (b > hb) hb = b;
            }
            continue;
        }
        int dup = 0;
        for (int i = 0; i < nseen; i++) dup |= seen[i] == q;
        if (dup) {                             /* the region of an earlier arc */
            w[a].state = 2;
            continue;
        }
        int64_t lo, hi;
        int dx0, dx1, before = nseen;
        int small = small_region(s, q, px + DX8[dir], py + DY8[dir], &seen[0], &nseen, &lo, &hi, &dx0, &dx1);
        s->budget -= nseen - before;
        if (small) {
            w[a].state = 1;
            closed++;
            /* the hole box: the region's extent grown by one, in the reference convention */
            int64_t y0 = lo / PW, y1 = hi / PW, qx = q % PW;
            if (s->inv_gmin * (double)((dx1 - dx0 + 4) * (y1 - y0 + 4)) > hb) {   /* |box| <= (w + 3)(h + 3) */
                double b = extent_bound(s, qx + dx0 - 2, y0 - 2, qx + dx1, y1);
                if (b > hb) hb = b;
            }
        } else {
            w[a].state = 0;
        }
    }
    if (closed >= cycles) {
        o->hb = hb;
        return;
    }
    if (s->budget < 0) {
        o->hb = cheap;
        return;
    }
    /* an arc whose pixel q sees the padding along a straight line (away from p, or across) through
     * pixels that are all out of the set is not enclosed by r (a loop of r around q would put a pixel
     * of r on every half-line from q: an 8-connected loop cannot cross a row or column between
     * pixels): it needs no walk, and the lockstep walks only the others (without this, the walk of
     * the region outside r runs as long as the enclosed one's) */
    int open = 0;
    for (int a = 0; a < na; a++) open += w[a].state == 0;
    for (int a = 0; a < na && open > cycles - closed; a++) {
        if (w[a].state) continue;
        int dir = T.bg_rep[bp][a];
        int64_t q0 = p + off[dir];
        int qx = px + DX8[dir], qy = py + DY8[dir];
        for (int turn = 0; turn < 3 && w[a].state == 0; turn++) {
            int d = (dir + (turn == 0 ? 0 : turn == 1 ? 2 : 6)) & 7;   /* away from p, then across */
            /* pixels from q to the padding along d (padded columns 0 and PW - 1, rows 0 and PH - 1) */
            int64_t left = d == 0 ? PW - 1 - qx : d == 4 ? qx : d == 2 ? qy : s->PH - 1 - qy;
            if (left > s->budget) continue;
            int64_t step = off[d], q = q0, k = 0;
            while (k < left && !fg_in(s, q)) {
                q += step;
                k++;
            }
            s->budget -= k;
            if (k == left) {                   /* reached the padding: the outside */
                w[a].state = 2;
                open--;
            }
        }
    }
    unsigned ring_p = (unsigned)pat;           /* p's neighbours in the set: its pattern */
    for (int a = 0; a < na; a++) {
        Walk *t = &w[a];
        if (t->state) continue;
        int d = T.bg_rep[bp][a];
        for (int j = 0; j < 7; j++) {          /* clockwise from the region's pixel: the closing pixel */
            d = (d - 1) & 7;
            if ((ring_p >> d) & 1) break;
        }
        t->q = p;
        t->x = t->tx0 = t->tx1 = px;
        t->y = t->ty0 = t->ty1 = py;
        t->s = d;
        t->e = p + off[d];
        t->acc = 0;
    }
    while (closed < cycles) {
        int walking = 0;
        for (int a = 0; a < na; a++) {
            Walk *t = &w[a];
            if (t->state) continue;
            walking++;
            unsigned m = t->q == p ? ring_p : ring_in(s, t->q);
            int s1 = (t->s + 1) & 7;
            unsigned rot = ((m >> s1) | (m << (8 - s1))) & 0xffu;   /* counter-clockwise from s + 1 */
            int d = (s1 + lowest_bit(rot)) & 7;                   /* rot != 0: q has a neighbour */
            if (t->q == p) {                   /* background 4-neighbours of p on this walk's side */
                for (int j = s1; j != d; j = (j + 1) & 7) {
                    int b = (j & 1) ? -1 : T.bg_arc[bp][j];
                    if (b >= 0 && b != a) {
                        if (w[b].state == 0) w[b].state = 2;
                        else if (w[b].state == 1) t->state = 2;   /* that region is counted already */
                    }
                }
                if (t->state) continue;
            }
            int x4 = t->x + DX8[d], y4 = t->y + DY8[d];
            int64_t q4 = t->q + off[d];
            t->acc += (int64_t)t->x * y4 - (int64_t)x4 * t->y;
            t->tx0 = x4 < t->tx0 ? x4 : t->tx0;
            t->tx1 = x4 > t->tx1 ? x4 : t->tx1;
            t->ty0 = y4 < t->ty0 ? y4 : t->ty0;
            t->ty1 = y4 > t->ty1 ? y4 : t->ty1;
            if (q4 == p && t->q == t->e) {
                t->state = 1;
                if (t->acc > 0) {              /* the border of an enclosed region */
                    closed++;
                    double b = extent_bound(s, t->tx0 - 1, t->ty0 - 1, t->tx1 - 1, t->ty1 - 1);
                    if (b > hb) hb = b;
                }
            } else {
                t->q = q4;
                t->x = x4;
                t->y = y4;
                t->s = (d + 4) & 7;
            }
        }
        s->budget -= walking;
        if (!walking) break;
        if (s->budget < 0) {
            hb = cheap > hb ? cheap : hb;
            break;
        }
    }
    o->hb = hb;
}

/* The component that pixel en (neighbour pattern pat) joins when it does not have exactly one
 * local group of neighbours: a new component, or the union of the components of its groups (in
 * the foreground sweep, a group already in that union closes a loop: hole_births). Out of line:
 * the hot loop stays small. */
static WSB_NOINLINE int32_t join_slow(Sweep *s, Ent en, int pat, int bg) {
    int ng = s->gn[pat];
    if (ng == 0) return new_comp(s, en);
    uint32_t p = (uint32_t)ENT_P(en);
    int32_t r = find_root_cp(s->cp, s->lab[p + (uint32_t)s->goff[pat][0]]);
    int cycles = 0;
    for (int g = 1; g < ng; g++) {
        int32_t q = find_root_cp(s->cp, s->lab[p + (uint32_t)s->goff[pat][g]]);
        if (q != r) r = unite(s, r, q);
        else cycles++;
    }
    if (!bg && cycles) {
        s->cur = p;
        s->fkey = ((int64_t)s->lv << 32) - (int64_t)p;
        hole_births(s, (int32_t)p, ENT_X(en), pat, r, cycles);
    }
    mark_dirty(s, r);
    return r;
}

/* The locals of the sweep loops: the arrays in restrict locals, so that the compiler keeps them in
 * registers (`bg`, `e`, `n` and `s` are the loop function's). */
#define SWEEP_LOCALS                                                                                 \
    int32_t *restrict lab = s->lab;                                                                  \
    Comp *restrict c = s->c;                                                                         \
    int32_t *restrict dirty = s->dirty;                                                              \
    const PatTab *restrict pt = &s->pt;                                                              \
    int32_t nd = s->ndirty;

/* Pixel i of a sweep loop joins the set: its entry `en`, pattern `pat`, the change `dae` of the
 * bit-quad sums and component `r` (union with the neighbours already in: one find per local group
 * of neighbours; 99 % of the pixels of a CAM have one group, the others go out of line after
 * SPILL), its label written; the background sweep's outside component keeps no statistics. A
 * one-group pixel reads one neighbour's label; with HOP (the memory-updating loop) it takes that
 * component's parent unconditionally, so that a label of a component merged once since costs no
 * out-of-line find; a root that is not dirty (CLEAN) goes out of line to be listed. */
#define SWEEP_JOIN(SPILL, HOP)                                                                       \
        Ent en = bg ? e[-1 - i] : e[i];                                                              \
        uint64_t pat = en >> 56;                                                                     \
        uint32_t p = (uint32_t)ENT_P(en);                                                            \
        int64_t dae = pt->dae[pat];                                                                  \
        int32_t r;                                                                                   \
        if (WSB_UNLIKELY(dae < 0)) {                                                                 \
            SPILL                                                                                    \
            s->ndirty = nd;                                                                          \
            r = join_slow(s, en, (int)pat, bg);                                                      \
            nd = s->ndirty;                                                                          \
            dae = s->sdae[pat];                                                                      \
        } else {                                                                                     \
            r = lab[p + (uint32_t)pt->off[pat]];                                                     \
            if (HOP) r = c[r].parent & INT32_MAX;                                                    \
            if (WSB_UNLIKELY(c[r].parent != r)) r = find_mark(c, r, dirty, &nd);                     \
        }                                                                                            \
        lab[p] = r;                                                                                  \
        if (bg && r == 0) continue;             /* the outside keeps no statistics */

/* Add the pixels e[0..n) (forward) or e[-1], e[-2], ... e[-n] (backward) to the set, then the
 * component's extent (one vector maximum), dirty flag and bit-quad sums. `bg` is a compile-time
 * constant at every call, so each sweep gets its own loop. EXTMAX is the vector maximum of the
 * instruction set the loop is compiled for. */
#define ADD_PIXELS_BODY(EXTMAX)                                                                      \
    SWEEP_LOCALS                                                                                     \
    for (int64_t i = 0; i < n; i++) {                                                                \
        SWEEP_JOIN(;, 1)                                                                             \
        Comp *k = &c[r];                                                                             \
        EXTMAX(k->ext, en);                                                                          \
        if (!bg) k->ae += dae;                                                                       \
    }                                                                                                \
    s->ndirty = nd;

static WSB_HOT_INLINE void add_pixels_base(Sweep *s, const Ent *e, int64_t n, const int bg) {
    ADD_PIXELS_BODY(ADD_EXT)
}

#if defined(__SSE2__)
/* The same loop with the statistics of the component that the last pixel joined kept in registers
 * (its extent in a vector, its bit-quad sums in an integer) and written back when a pixel joins
 * another component, before the out-of-line unions and at the end of the level: no load and store
 * of the record per pixel, and no store-to-load forwarding chain through it. A switch of component
 * costs a mispredicted branch, so this loop wins on levels whose pixels mostly join the component
 * of the pixel before them (smooth CAMs: 7 % on raw 7x7 CAMs) and loses on levels that alternate
 * (15 % slower on raw 28x28 CAMs); sweep_fg chooses per level with the switch count it returns.
 * VMAX is the 32-bit lane-wise maximum of the instruction set the loop is compiled for. */
#define REG_STORE                                                                                    \
    _mm_storeu_si128((__m128i *)c[cr].ext, cext);                                                    \
    if (!bg) c[cr].ae = cae;
#define REG_SPILL                                                                                    \
    if (cr >= 0) {                                                                                   \
        REG_STORE                                                                                    \
        cr = -1;                                                                                     \
    }
#define ADD_PIXELS_REG(VMAX)                                                                         \
    SWEEP_LOCALS                                                                                     \
    int32_t cr = -1;                          /* the component held in registers, or -1 */           \
    __m128i cext = _mm_setzero_si128();                                                              \
    int64_t cae = 0, sw = 0;                  /* sw: pixels that joined another component */         \
    for (int64_t i = 0; i < n; i++) {                                                                \
        SWEEP_JOIN(REG_SPILL, 0)                                                                     \
        if (r != cr) {                                                                               \
            if (cr >= 0) {                                                                           \
                REG_STORE                                                                            \
            }                                                                                        \
            cr = r;                                                                                  \
            sw++;                                                                                    \
            Comp *k = &c[r];                                                                         \
            cext = _mm_loadu_si128((const __m128i *)k->ext);                                         \
            cae = k->ae;                                                                             \
        }                                                                                            \
        cext = VMAX(cext, en);                                                                       \
        if (!bg) cae += dae;                                                                         \
    }                                                                                                \
    if (cr >= 0) {                                                                                   \
        REG_STORE                                                                                    \
    }                                                                                                \
    s->ndirty = nd;


/* The foreground loop with the register-held component; returns how many pixels joined another
 * component than the pixel before them. */
typedef int64_t (*AddRegFn)(Sweep *, const Ent *, int64_t);
#define VMAX_ENT2(v, e) vmax_sse2((v), ENT_VEC(e))
static int64_t add_fg_reg_base(Sweep *s, const Ent *e, int64_t n) {
    const int bg = 0;
    ADD_PIXELS_REG(VMAX_ENT2)
    return sw;
}
static AddRegFn add_fg_reg = add_fg_reg_base;
#endif

static void add_fg_base(Sweep *s, const Ent *e, int64_t n) { add_pixels_base(s, e, n, 0); }
static void add_bg_base(Sweep *s, const Ent *e, int64_t n) { add_pixels_base(s, e, n, 1); }

typedef void (*AddFn)(Sweep *, const Ent *, int64_t);
static AddFn add_fg = add_fg_base, add_bg = add_bg_base;

#if defined(__SSE2__) && (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__)) \
    && !defined(WSB_NO_DISPATCH)
/* The same loops where the CPU has SSE4.1 (pmaxsd: the extent maximum in one instruction instead
 * of four), chosen at run time (build_tables). */
#include <smmintrin.h>
#include <tmmintrin.h>
/* The lanes of pixel e with SSSE3's byte shuffle: (p, p, x, x) from the entry, the pattern's byte
 * zeroed, in one instruction instead of a mask, a move and a shuffle. */
#define ENT_VEC41(e) _mm_xor_si128(_mm_shuffle_epi8(_mm_cvtsi64_si128((long long)(e)),                \
                                                    _mm_setr_epi8(0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, -128, 4, 5, 6, -128)), \
                                   _mm_set_epi32(-1, 0, -1, 0))
/* The record's extent is 16-byte aligned (ws_get's alignment, records of 32 bytes), so the maximum
 * takes it as a memory operand. */
#define ADD_EXT_SSE41(ext, e) \
    _mm_store_si128((__m128i *)(ext), _mm_max_epi32(_mm_load_si128((const __m128i *)(ext)), ENT_VEC41(e)))
#define VMAX_ENT41(v, e) _mm_max_epi32((v), ENT_VEC41(e))

__attribute__((target("sse4.1"))) static void add_fg_sse41(Sweep *s, const Ent *e, int64_t n) {
    const int bg = 0;
    ADD_PIXELS_BODY(ADD_EXT_SSE41)
}

__attribute__((target("sse4.1"))) static void add_bg_sse41(Sweep *s, const Ent *e, int64_t n) {
    const int bg = 1;
    ADD_PIXELS_BODY(ADD_EXT_SSE41)
}

__attribute__((target("sse4.1"))) static int64_t add_fg_reg_sse41(Sweep *s, const Ent *e, int64_t n) {
    const int bg = 0;
    ADD_PIXELS_REG(VMAX_ENT41)
    return sw;
}

static void choose_kernels(void) {
    const char *want = getenv("WSOLBENCH_ENGINE_KERNELS");    /* "baseline": the SSE2 loops (for tests) */
    if (want && strcmp(want, "baseline") == 0) return;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.1")) {
        add_fg = add_fg_sse41;
        add_bg = add_bg_sse41;
        add_fg_reg = add_fg_reg_sse41;
    }
}
#else
static void choose_kernels(void) {}
#endif

/* ----------------------------------------------------------------------------------- heaps */

/* Indexed max-heaps: each component has at most one entry, whose position the component's cold
 * record holds (`which` selects the field), so that a changed value moves its entry and a merged
 * component's entry leaves at once (no stale entries to pop). Keys of the size heap are unique (they
 * end with the component's first pixel), so the order of equal IoUs is the only freedom, and only
 * the top value of an IoU heap is read. */
enum { POS_IOU, POS_BOUND };

static inline int32_t *heap_pos(Sweep *s, int which, int32_t id) {
    return which == POS_IOU ? &s->cc[id].ipos : &s->cc[id].bpos;
}

static void iou_up(Sweep *s, IouEnt *h, int which, int i, IouEnt e) {
    while (i > 0) {
        int up = (i - 1) >> 1;
        if (h[up].iou >= e.iou) break;
        h[i] = h[up];
        *heap_pos(s, which, h[i].id) = i;
        i = up;
    }
    h[i] = e;
    *heap_pos(s, which, e.id) = i;
}

static void iou_down(Sweep *s, IouEnt *h, int n, int which, int i, IouEnt e) {
    for (;;) {
        int l = 2 * i + 1;
        if (l >= n) break;
        if (l + 1 < n && h[l + 1].iou > h[l].iou) l++;
        if (h[l].iou <= e.iou) break;
        h[i] = h[l];
        *heap_pos(s, which, h[i].id) = i;
        i = l;
    }
    h[i] = e;
    *heap_pos(s, which, e.id) = i;
}

/* Component id's value is now v (inserted if it has no entry). */
static void iou_set(Sweep *s, IouEnt *h, int32_t *count, int which, int32_t id, double v) {
    int i = *heap_pos(s, which, id);
    IouEnt e;
    e.iou = v;
    e.id = id;
    e.pad_ = 0;
    if (i < 0) iou_up(s, h, which, (*count)++, e);
    else if (v > h[i].iou) iou_up(s, h, which, i, e);
    else if (v < h[i].iou) iou_down(s, h, *count, which, i, e);
}

/* Component id's entry leaves the heap (if it has one). */
static void iou_del(Sweep *s, IouEnt *h, int32_t *count, int which, int32_t id) {
    int32_t *pos = heap_pos(s, which, id);
    int i = *pos;
    if (i < 0) return;
    *pos = -1;
    IouEnt last = h[--*count];
    if (i == *count) return;
    if (last.iou > h[i].iou) iou_up(s, h, which, i, last);
    else iou_down(s, h, *count, which, i, last);
}

/* The top value of an IoU heap, or -1 when it is empty. */
static inline double iou_top(const IouEnt *h, int32_t count) { return count ? h[0].iou : -1.0; }

static void size_up(Sweep *s, int i, SizeEnt e) {
    SizeEnt *h = s->sh;
    while (i > 0) {
        int up = (i - 1) >> 1;
        if (h[up].key >= e.key) break;
        h[i] = h[up];
        s->cc[h[i].id].spos = i;
        i = up;
    }
    h[i] = e;
    s->cc[e.id].spos = i;
}

static void size_down(Sweep *s, int i, SizeEnt e) {
    SizeEnt *h = s->sh;
    int n = s->nsh;
    for (;;) {
        int l = 2 * i + 1;
        if (l >= n) break;
        if (l + 1 < n && h[l + 1].key > h[l].key) l++;
        if (h[l].key <= e.key) break;
        h[i] = h[l];
        s->cc[h[i].id].spos = i;
        i = l;
    }
    h[i] = e;
    s->cc[e.id].spos = i;
}

static void size_set(Sweep *s, SizeEnt e) {
    int i = s->cc[e.id].spos;
    if (i < 0) size_up(s, s->nsh++, e);
    else if (e.key > s->sh[i].key) size_up(s, i, e);
    else size_down(s, i, e);          /* a smaller key, or the same key with another lower bound */
}

static void size_del(Sweep *s, int32_t id) {
    int i = s->cc[id].spos;
    if (i < 0) return;
    s->cc[id].spos = -1;
    SizeEnt last = s->sh[--s->nsh];
    if (i == s->nsh) return;
    if (last.key > s->sh[i].key) size_up(s, i, last);
    else size_down(s, i, last);
}

/* --------------------------------------------------------------------------- contour area */

/* Twice cv2.contourArea of the outer border of the foreground component (pixels with pu8 > thr)
 * whose raster-first pixel is `start` (padded index): Suzuki-Abe border following with
 * 8-connectivity, as OpenCV's findContours traces it, and the shoelace formula over the traced
 * pixel centres. */
static int64_t outer_area2(const uint8_t *pu8, int thr, int PW, int32_t start) {
#define IN(q) (pu8[(q)] > thr)
    int sx = start % PW, sy = start / PW;
    int s = 4, found = 0;
    for (int k = 0; k < 7; k++) {          /* clockwise from the west neighbour (background) */
        s = (s - 1) & 7;
        if (IN((int64_t)(sy + DY8[s]) * PW + sx + DX8[s])) { found = 1; break; }
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
            if (IN((int64_t)y4 * PW + x4)) break;
        }
        acc += (int64_t)x3 * y4 - (int64_t)x4 * y3;
        if (x4 == sx && y4 == sy && x3 == ex && y3 == ey) break;
        x3 = x4;
        y3 = y4;
        s = (d + 4) & 7;
    }
    return acc < 0 ? -acc : acc;
#undef IN
}

/* Size key of a foreground component: exact twice-contour-area (or, for a 1-pixel-high or -wide
 * map, the interval length) times PN plus the first pixel, so that ties go to the last component
 * in raster order; for a component with holes an upper and a lower bound. Returns exactness. */
static int size_key(const Sweep *s, const Comp *k, int64_t *key, int64_t *lb) {
    int64_t PN = s->PN;
    int64_t h = comp_y1(s, k) - comp_y0(s, k), w = C_X1(k) - C_X0(k);
    if (s->H == 1 || s->W == 1) {
        *key = *lb = (w + h) * PN + C_FIRST(k);
        return 1;
    }
    *lb = (int64_t)comp_area2(k) * PN + C_FIRST(k);
    if (comp_euler4(k) == 4) {
        *key = *lb;
        return 1;
    }
    *key = 2 * w * h * PN + C_FIRST(k);
    return 0;
}

/* The root of the largest-contour component (the heap holds an entry for every live root): the top
 * of the size heap once its lower bound beats the next key (the larger of the top's children). */
static int32_t largest_root(Sweep *s) {
    for (;;) {
        const SizeEnt *h = s->sh;
        SizeEnt top = h[0];
        if (s->nsh == 1) return top.id;
        int64_t next = h[1].key;
        if (s->nsh > 2 && h[2].key > next) next = h[2].key;
        if (top.lb > next) return top.id;
        /* the bounds do not decide: trace the border for the exact area */
        const Comp *k = &s->c[top.id];
        int64_t a2 = outer_area2(s->pu8, s->thr, s->PW, C_FIRST(k));
        top.key = top.lb = a2 * s->PN + C_FIRST(k);
        size_down(s, 0, top);
    }
}

/* Bring the heap entries of every component changed since the last recorded level up to date:
 * its IoU when its box changed, and for the foreground its hole bound and size key; a component
 * merged into another (unite lists it) leaves the heaps. */
static void flush_dirty(Sweep *s, int with_size) {
    int32_t keep = 0;
    for (int i = 0; i < s->ndirty; i++) {
        int32_t id = s->dirty[i];
        Comp *k = &s->c[id];
        Cold *o = &s->cc[id];
        if (k->parent != id) {                                  /* merged into another component */
            iou_del(s, s->ih, &s->nih, POS_IOU, id);
            if (with_size) {
                iou_del(s, s->bh, &s->nbh, POS_BOUND, id);
                size_del(s, id);
            }
            continue;
        }
        /* a component that changed at the last two recordings stays listed (and dirty): one that
         * grows at every level (the object's) is then not found CLEAN by a pixel at every level
         * (an out-of-line call after a mispredicted branch). What it records is a function of its
         * extent, its bit-quad sums and its hole bound hb; hb grows only with a loop closing (the
         * Euler sum drops, or area is added) or a union with a component that had a hole (area
         * is added), and the area sum never shrinks, so extent and sums as at its last recording
         * mean that nothing it records has changed: it becomes CLEAN and leaves the list. */
        int box = memcmp(o->ext, k->ext, sizeof(k->ext)) != 0;
        if (!box && o->ae == k->ae) {
            k->parent |= CLEAN;
            continue;
        }
        o->ae = k->ae;
        if (o->changed == s->nflush - 1) s->dirty[keep++] = id;   /* changed at the last two */
        else k->parent |= CLEAN;
        o->changed = s->nflush;
        if (box) {                                              /* the box changed */
            o->iou = comp_iou(s, k);
            memcpy(o->ext, k->ext, sizeof(k->ext));
            iou_set(s, s->ih, &s->nih, POS_IOU, id, o->iou);
        }
        if (!with_size) continue;
        if (comp_euler4(k) != 4 && s->H > 1 && s->W > 1) {
            double b = hole_bound(s, k);
            iou_set(s, s->bh, &s->nbh, POS_BOUND, id, o->hb < b ? o->hb : b);
        } else {
            iou_del(s, s->bh, &s->nbh, POS_BOUND, id);
        }
        SizeEnt e;
        size_key(s, k, &e.key, &e.lb);
        e.id = id;
        e.pad_ = 0;
        size_set(s, e);
    }
    s->ndirty = keep;
    s->nflush++;
}


/* ------------------------------------------------------------------------------ preparation */

static void prep_free(Prep *pr) {
    free(pr);                 /* pu8 and ent are the thread's workspace */
}

/* One row of u8 = (uint8)(int32)(float64(f) * 255); returns 0 if a value is NaN or outside [0, 1]
 * (then the row is meaningless). SSE2 (every x86-64) does two values per instruction with the same
 * IEEE operations; elsewhere the compiler gets a branch-free loop. */
static int quantize_row(const void *map, int is_f32, int n, uint8_t *out) {
    int x = 0, ok = 1;
#if defined(__SSE2__)
    const __m128d zero = _mm_setzero_pd(), one = _mm_set1_pd(1.0), k255 = _mm_set1_pd(255.0);
    __m128d good = _mm_castsi128_pd(_mm_set1_epi32(-1));
    for (; x + 8 <= n; x += 8) {
        __m128d v[4];
        if (is_f32) {
            const float *f = (const float *)map + x;
            __m128 a = _mm_loadu_ps(f), b = _mm_loadu_ps(f + 4);
            v[0] = _mm_cvtps_pd(a);
            v[1] = _mm_cvtps_pd(_mm_movehl_ps(a, a));
            v[2] = _mm_cvtps_pd(b);
            v[3] = _mm_cvtps_pd(_mm_movehl_ps(b, b));
        } else {
            const double *f = (const double *)map + x;
            v[0] = _mm_loadu_pd(f);
            v[1] = _mm_loadu_pd(f + 2);
            v[2] = _mm_loadu_pd(f + 4);
            v[3] = _mm_loadu_pd(f + 6);
        }
        __m128i q[4];
        for (int k = 0; k < 4; k++) {
            good = _mm_and_pd(good, _mm_and_pd(_mm_cmpge_pd(v[k], zero), _mm_cmple_pd(v[k], one)));
            q[k] = _mm_cvttpd_epi32(_mm_mul_pd(v[k], k255));          /* two int32 in the low half */
        }
        __m128i lo = _mm_unpacklo_epi64(q[0], q[1]), hi = _mm_unpacklo_epi64(q[2], q[3]);
        __m128i w = _mm_packs_epi32(lo, hi);                            /* 8 x int16 in [0, 255] */
        _mm_storel_epi64((__m128i *)(out + x), _mm_packus_epi16(w, w));
    }
    ok = _mm_movemask_pd(good) == 3;
#endif
    for (; x < n; x++) {
        double v = is_f32 ? (double)((const float *)map)[x] : ((const double *)map)[x];
        ok &= (v >= 0.0) & (v <= 1.0);
        out[x] = (uint8_t)(int32_t)((ok ? v : 0.0) * 255.0);
    }
    return ok;
}

/* Quantise a map into the padded frame: u8 = (uint8)(float64(map) * 255) (truncation). Returns
 * the number of values outside [0, 1] or NaN (then the frame is meaningless and the caller
 * reports the error). */
static int64_t prep_quantize(Prep *pr, const void *map, int is_f32) {
    int W = pr->W, PW = pr->PW;
    size_t esize = is_f32 ? sizeof(float) : sizeof(double);
    uint8_t *pu8 = pr->pu8;
    int ok = 1;
    memset(pu8, 0, (size_t)PW);
    memset(pu8 + (pr->PN - PW), 0, (size_t)PW);
    for (int y = 0; y < pr->H; y++) {
        uint8_t *row = pu8 + (int64_t)(y + 1) * PW;
        row[0] = row[PW - 1] = 0;
        ok &= quantize_row((const char *)map + (size_t)y * W * esize, is_f32, W, row + 1);
    }
    if (ok) return 0;
    int64_t bad = 0;
    for (int64_t i = 0; i < pr->N; i++) {
        double v = is_f32 ? (double)((const float *)map)[i] : ((const double *)map)[i];
        bad += !(v >= 0.0 && v <= 1.0);
    }
    return bad;
}

/* The foreground neighbour patterns of row y (0-based) of a padded map, see prep_sort. */
static void pattern_row(const uint8_t *pu8, int W, int PW, int y, uint8_t *patrow) {
    const uint8_t *c = pu8 + (int64_t)(y + 1) * PW + 1, *a = c - PW, *b = c + PW;
    for (int x = 0; x < W; x++) {
        uint8_t v = c[x];
        patrow[x] = (uint8_t)((c[x + 1] > v) | (a[x + 1] >= v) << 1 | (a[x] >= v) << 2 | (a[x - 1] >= v) << 3 |
                              (c[x - 1] >= v) << 4 | (b[x - 1] > v) << 5 | (b[x] > v) << 6 | (b[x + 1] > v) << 7);
    }
    /* the border: the padding (0) is never above a pixel but may equal it; outside is absent */
    if (y == 0)
        for (int x = 0; x < W; x++) patrow[x] &= (uint8_t)~0x0e;
    patrow[0] &= (uint8_t)~0x18;
    patrow[W - 1] &= (uint8_t)~0x02;
}

/* Counting sort of the pixels by value, with each pixel's neighbour pattern at the time it joins
 * the foreground sweep (255 down, raster order within a level): neighbour q is already there iff
 * u8[q] > u8[p], or u8[q] == u8[p] and q comes first in raster order (the N, NE, NW and W
 * neighbours). The background sweep (0 up, reverse raster order within a level) finds exactly the
 * complement there: u8[q] < u8[p], or equal and q later in raster order. So both sweeps read their
 * neighbourhoods from this one pattern, computed in a raster pass that the compiler vectorises,
 * instead of probing a membership image pixel by pixel.
 *
 * The rows form SORT_BANDS bands (hb = H / SORT_BANDS rows each, the last one also the remaining
 * rows), each with its own counts and scatter positions, and the histogram and the scatter walk
 * the bands in lockstep: neighbouring pixels often share a value (on a plateau all of them), and
 * `pos[v]++` of one table is a store-to-load chain of several cycles per pixel, whereas the bands'
 * tables are independent chains. Band b's entries of a value follow those of the bands before it,
 * so the order within a value stays the raster order. Returns the maximum of u8, or -1 (out of
 * memory). */
#define SORT_BANDS 4                /* the loops below are written out for four */
static int prep_sort(Prep *pr) {
    int W = pr->W, H = pr->H, PW = pr->PW;
    const uint8_t *pu8 = pr->pu8;
    uint8_t *patbuf = (uint8_t *)malloc((size_t)SORT_BANDS * ((size_t)W + 1));
    if (!patbuf) return -1;
    uint8_t *pat[SORT_BANDS];
    for (int b = 0; b < SORT_BANDS; b++) pat[b] = patbuf + (size_t)b * ((size_t)W + 1);
    int hb = H / SORT_BANDS;
    int64_t cnt[SORT_BANDS][256];
    memset(cnt, 0, sizeof(cnt));
    for (int t = 0; t < hb; t++) {
        const uint8_t *c0 = pu8 + (int64_t)(t + 1) * PW + 1, *c1 = c0 + (int64_t)hb * PW;
        const uint8_t *c2 = c1 + (int64_t)hb * PW, *c3 = c2 + (int64_t)hb * PW;
        for (int x = 0; x < W; x++) {
            cnt[0][c0[x]]++;
            cnt[1][c1[x]]++;
            cnt[2][c2[x]]++;
            cnt[3][c3[x]]++;
        }
    }
    for (int y = SORT_BANDS * hb; y < H; y++) {          /* the last band's remaining rows */
        const uint8_t *c = pu8 + (int64_t)(y + 1) * PW + 1;
        for (int x = 0; x < W; x++) cnt[SORT_BANDS - 1][c[x]]++;
    }
    int64_t pos[SORT_BANDS][256];
    int64_t acc = 0;
    int mx = 0;
    for (int v = 0; v < 256; v++) {
        pr->starts[v] = acc;
        for (int b = 0; b < SORT_BANDS; b++) {
            pos[b][v] = acc;
            acc += cnt[b][v];
        }
        if (acc > pr->starts[v]) mx = v;
    }
    pr->starts[256] = acc;
    Ent *ent = pr->ent;
    for (int t = 0; t < hb; t++) {
        const uint8_t *cb[SORT_BANDS];
        int64_t p0[SORT_BANDS];
        for (int b = 0; b < SORT_BANDS; b++) {
            int y = b * hb + t;
            pattern_row(pu8, W, PW, y, pat[b]);
            p0[b] = (int64_t)(y + 1) * PW + 1;
            cb[b] = pu8 + p0[b];
        }
        for (int x = 0; x < W; x++) {
            ent[pos[0][cb[0][x]]++] = ENT(p0[0] + x, x, pat[0][x]);
            ent[pos[1][cb[1][x]]++] = ENT(p0[1] + x, x, pat[1][x]);
            ent[pos[2][cb[2][x]]++] = ENT(p0[2] + x, x, pat[2][x]);
            ent[pos[3][cb[3][x]]++] = ENT(p0[3] + x, x, pat[3][x]);
        }
    }
    for (int y = SORT_BANDS * hb; y < H; y++) {            /* the last band's remaining rows */
        pattern_row(pu8, W, PW, y, pat[0]);
        int64_t p0 = (int64_t)(y + 1) * PW + 1;
        const uint8_t *c = pu8 + p0;
        for (int x = 0; x < W; x++) ent[pos[SORT_BANDS - 1][c[x]]++] = ENT(p0 + x, x, pat[0][x]);
    }
    free(patbuf);
    return mx;
}

/* A Prep for an H x W map with its buffers (contents undefined), or NULL (out of memory). */
static Prep *prep_alloc(int H, int W) {
    Prep *pr = (Prep *)calloc(1, sizeof(Prep));
    if (!pr) return NULL;
    pr->W = W;
    pr->H = H;
    pr->PW = W + 2;
    pr->PH = H + 2;
    pr->N = (int64_t)W * H;
    pr->PN = (int64_t)pr->PW * pr->PH;
    pr->pu8 = (uint8_t *)ws_get(WS_PU8, (size_t)pr->PN);
    pr->ent = (Ent *)ws_get(WS_ENT, sizeof(Ent) * (size_t)pr->N);
    if (!pr->pu8 || !pr->ent) {
        prep_free(pr);
        return NULL;
    }
    return pr;
}

/* Quantise and sort a map. *rc: 0, the number of invalid values (> 0; NULL returned), or -1 (out
 * of memory). */
static Prep *prep_new(const void *map, int is_f32, int H, int W, int64_t *rc) {
    Prep *pr = prep_alloc(H, W);
    *rc = -1;
    if (!pr) return NULL;
    *rc = prep_quantize(pr, map, is_f32);
    if (*rc || prep_sort(pr) < 0) {
        if (!*rc) *rc = -1;
        prep_free(pr);
        return NULL;
    }
    return pr;
}

/* The largest value of a prepared map. */
static int prep_max(const Prep *pr) {
    for (int v = 255; v > 0; v--)
        if (pr->starts[v + 1] > pr->starts[v]) return v;
    return 0;
}

/* ------------------------------------------------------------------------------------ sweeps */

/* Foreground sweep from level 255 down to `lowest`, recording at the needed levels. */
static void sweep_fg(Sweep *s, const Prep *pr, const uint8_t *need, int lowest, double *largest, double *anyreg,
                     double *hbound) {
#if defined(__SSE2__)
    /* the register-held loop while at most 1 pixel in REG_SWITCHES switches component, tried again
     * at every 16th level (measured: break-even near 1 in 12-24; the retries cost ~1 %) */
    int reg = 1;
#endif
    for (int v = 255; v > lowest; v--) {
        s->lv = v;
        const Ent *e = pr->ent + pr->starts[v];
        int64_t n = pr->starts[v + 1] - pr->starts[v];
#if defined(__SSE2__)
        if (reg || (v & 15) == 0)
            reg = add_fg_reg(s, e, n) * REG_SWITCHES <= n;
        else
            add_fg(s, e, n);
#else
        add_fg(s, e, n);
#endif
        int thr = v - 1;
        s->thr = thr;
        if (need && need[thr] && s->ncomp > 0) {
            flush_dirty(s, 1);
            double top = iou_top(s->ih, s->nih);
            if (top < 0) continue;           /* empty foreground */
            anyreg[thr] = top;
            hbound[thr] = iou_top(s->bh, s->nbh);
            largest[thr] = s->cc[largest_root(s)].iou;
        }
    }
    s->thr = lowest;
}

/* Background sweep from level 0 up to `highest` (reverse raster order within a level), recording
 * the best hole IoU at the needed levels. */
static void sweep_bg(Sweep *s, const Prep *pr, const uint8_t *need, int highest, double *holes) {
    for (int v = 0; v <= highest; v++) {
        add_bg(s, pr->ent + pr->starts[v + 1], pr->starts[v + 1] - pr->starts[v]);
        if (need && need[v]) {
            flush_dirty(s, 0);
            holes[v] = iou_top(s->ih, s->nih);
        }
    }
}

/* ------------------------------------------------------------------------------ box entries */

/* Best IoU of the extracted boxes with the GT boxes at every CAM threshold (largest region, and
 * all regions with holes when `want_all`). `map` is (H, W) float32 or float64 in [0, 1].
 * Returns 0, the number of invalid map values (> 0; nothing written), -1 (out of memory), or
 * WSB_BAD_GT / WSB_BAD_THRESHOLDS (below; checked first, in that order). */

/* floor(x) of a finite x within the int64 range, without a libm call (floor is not inlined on
 * x86-64 below SSE4.1, and the threshold grid takes two per threshold). */
static inline int64_t floor_i64(double x) {
    int64_t t = (int64_t)x;           /* truncation toward zero */
    return t - ((double)t > x);
}

/* The sweeps and the recording for a prepared (quantised and sorted) map; frees `pr`. */
static int64_t best_from_prep(Prep *pr, const double *thresholds, int nt, const int64_t *gt, int m, int want_all,
                              double *out_largest, double *out_all) {
    int64_t rc;
    int mx = prep_max(pr);
    uint8_t need[256];
    memset(need, 0, sizeof(need));
    int lowest = 256, highest = -1;
    for (int i = 0; i < nt; i++) {
        int64_t thr = floor_i64(thresholds[i] * (double)mx);
        if (thr < mx) {
            need[thr] = 1;
            if (thr < lowest) lowest = (int)thr;
            if (thr > highest) highest = (int)thr;
        }
    }
    double lv_largest[256], lv_any[256], lv_holes[256], lv_bound[256];
    for (int v = 0; v < 256; v++) lv_largest[v] = lv_any[v] = lv_holes[v] = lv_bound[v] = -1.0;
    rc = 0;
    if (lowest < 256) {
        Sweep *s = sweep_new(pr, gt, m, 0);
        if (s) {
            sweep_fg(s, pr, need, lowest, lv_largest, lv_any, lv_bound);
            sweep_free(s);
        } else {
            rc = -1;
        }
        /* the background sweep only up to the last level where a hole could beat the components */
        highest = -1;
        for (int v = 0; v < 256; v++) {
            need[v] = need[v] && lv_bound[v] > lv_any[v];
            if (need[v]) highest = v;
        }
        if (want_all && rc == 0 && highest >= 0) {
            s = sweep_new(pr, gt, m, 1);
            if (s) {
                sweep_bg(s, pr, need, highest, lv_holes);
                sweep_free(s);
            } else {
                rc = -1;
            }
        }
    }
    double empty = box_gt_iou(0, 0, 0, 0, gt, m);
    for (int i = 0; i < nt; i++) {
        int64_t thr = floor_i64(thresholds[i] * (double)mx);
        if (thr >= mx) {
            out_largest[i] = empty;
            if (want_all) out_all[i] = empty;
        } else {
            out_largest[i] = lv_largest[thr];
            if (want_all) out_all[i] = lv_any[thr] > lv_holes[thr] ? lv_any[thr] : lv_holes[thr];
        }
    }
    prep_free(pr);
    ws_trim();
    return rc;
}

static int size_ok(int H, int W) { return W <= MAX_W && (int64_t)(W + 2) * (H + 2) <= INT32_MAX; }

/* Arguments the entry points check themselves where the Python layer passes them unchecked (it
 * turns a code into its own error message by running its own check): a GT box with a negative
 * coordinate or x1 < x0 or y1 < y0, a CAM threshold outside [0, 1) (or NaN), an infinite value in
 * a raw map. A few comparisons per value; the maps' values are checked by the quantisation. */
enum { WSB_BAD_THRESHOLDS = -2, WSB_BAD_SOURCE = -3, WSB_BAD_GT = -4 };

static WSB_NOINLINE int64_t check_args(const double *thresholds, int nt, const int64_t *gt, int m) {
    int bad = 0;
    for (int i = 0; i < m; i++) {
        const int64_t *b = gt + 4 * (int64_t)i;
        bad |= (b[0] < 0) | (b[1] < 0) | (b[2] < b[0]) | (b[3] < b[1]);
    }
    if (bad) return WSB_BAD_GT;
    for (int i = 0; i < nt; i++) bad |= !(thresholds[i] >= 0.0 && thresholds[i] < 1.0);
    return bad ? WSB_BAD_THRESHOLDS : 0;
}

/* No infinite value in x[0 .. n) (NaN passes: a raw map with NaN scores as zeros). */
static WSB_NOINLINE int all_finite(const double *x, int64_t n) {
    int finite = 1;
    for (int64_t i = 0; i < n; i++) finite &= !(fabs(x[i]) > DBL_MAX);
    return finite;
}

WSB_API int64_t wsb_best_ious(const void *map, int is_f32, int H, int W, const double *thresholds, int nt,
                              const int64_t *gt, int m, int want_all, double *out_largest, double *out_all) {
    build_tables();
    int64_t bad = check_args(thresholds, nt, gt, m);
    if (bad) return bad;
    if (!size_ok(H, W)) return -1;
    int64_t rc;
    Prep *pr = prep_new(map, is_f32, H, W, &rc);
    if (!pr) {
        ws_trim();
        return rc;
    }
    return best_from_prep(pr, thresholds, nt, gt, m, want_all, out_largest, out_all);
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

/* The regions of ``u8 > thr`` (0 <= thr <= 254) of the (H, W) uint8 map `u8`, for box extraction.
 * Foreground (holes == 0): rows ``x0, y0, x1, y1, first, area2`` of every 8-connected component
 * (area2: twice the contour area of its outer border), `*largest` = the row of the largest-contour
 * component (ties: the last in raster order). Holes (holes == 1): rows ``x0, y0, x1, y1, first, 0``
 * of the 4-connected background components off the border. `first` is the unpadded raster index
 * of the region's first pixel. `out` must hold 6 * H * W values. Returns the number of rows, or
 * -1 (out of memory or too large). */
WSB_API int64_t wsb_regions(const uint8_t *u8, int H, int W, int thr, int holes, int64_t *out, int64_t *largest) {
    build_tables();
    *largest = -1;
    if (W > MAX_W || (int64_t)(W + 2) * (H + 2) > INT32_MAX) return -1;
    Prep *pr = prep_alloc(H, W);
    Sweep *s = NULL;
    if (pr) {
        memset(pr->pu8, 0, (size_t)pr->PN);
        for (int y = 0; y < H; y++) memcpy(pr->pu8 + (int64_t)(y + 1) * pr->PW + 1, u8 + (int64_t)y * W, (size_t)W);
        if (prep_sort(pr) >= 0) s = sweep_new(pr, NULL, 0, holes);
    }
    if (!s) {
        prep_free(pr);
        ws_trim();
        return -1;
    }
    if (holes) sweep_bg(s, pr, NULL, thr, NULL);
    else sweep_fg(s, pr, NULL, thr, NULL, NULL, NULL);
    int64_t n = 0, best_key = -1;
    for (int32_t id = holes ? 1 : 0; id < s->ncomp; id++) {
        if ((s->c[id].parent & INT32_MAX) != id) continue;
        const Comp *k = &s->c[id];
        int64_t key, lb, a2 = 0;
        if (!holes) {
            if (!size_key(s, k, &key, &lb)) key = outer_area2(s->pu8, thr, s->PW, C_FIRST(k)) * s->PN + C_FIRST(k);
            a2 = (s->H == 1 || s->W == 1) ? 0 : key / s->PN;
            if (key > best_key) { best_key = key; *largest = n; }
        }
        int64_t *row = out + 6 * n;
        row[0] = C_X0(k); row[1] = comp_y0(s, k); row[2] = C_X1(k); row[3] = comp_y1(s, k);
        row[4] = (int64_t)comp_y0(s, k) * W + (C_FIRST(k) % s->PW - 1);
        row[5] = a2;
        n++;
    }
    sweep_free(s);
    prep_free(pr);
    ws_trim();
    return n;
}

/* ----------------------------------------------------------------------- resize, normalise */

/* Running minimum, maximum and NaN flag of values written by the resize (for the fused
 * normalisation). */
typedef struct {
    double lo, hi;
    int nan, any;
} MinMax;

static void minmax_add(MinMax *mm, const double *x, int64_t n) {
    int64_t i = 0;
    if (!mm->any && n) {
        mm->lo = mm->hi = x[0];
        mm->any = 1;
    }
#if defined(__SSE2__)
    /* four independent accumulators (minpd / maxpd have a latency of several cycles) */
    __m128d lo = _mm_set1_pd(mm->lo), hi = _mm_set1_pd(mm->hi), nan = _mm_setzero_pd();
    __m128d lo1 = lo, hi1 = hi, lo2 = lo, hi2 = hi, lo3 = lo, hi3 = hi;
    for (; i + 8 <= n; i += 8) {
        __m128d v0 = _mm_loadu_pd(x + i), v1 = _mm_loadu_pd(x + i + 2);
        __m128d v2 = _mm_loadu_pd(x + i + 4), v3 = _mm_loadu_pd(x + i + 6);
        nan = _mm_or_pd(nan, _mm_or_pd(_mm_or_pd(_mm_cmpunord_pd(v0, v0), _mm_cmpunord_pd(v1, v1)),
                                       _mm_or_pd(_mm_cmpunord_pd(v2, v2), _mm_cmpunord_pd(v3, v3))));
        lo = _mm_min_pd(v0, lo);          /* lo stays a number: minpd returns the 2nd operand on NaN */
        hi = _mm_max_pd(v0, hi);
        lo1 = _mm_min_pd(v1, lo1);
        hi1 = _mm_max_pd(v1, hi1);
        lo2 = _mm_min_pd(v2, lo2);
        hi2 = _mm_max_pd(v2, hi2);
        lo3 = _mm_min_pd(v3, lo3);
        hi3 = _mm_max_pd(v3, hi3);
    }
    for (; i + 2 <= n; i += 2) {
        __m128d v = _mm_loadu_pd(x + i);
        nan = _mm_or_pd(nan, _mm_cmpunord_pd(v, v));
        lo = _mm_min_pd(v, lo);
        hi = _mm_max_pd(v, hi);
    }
    lo = _mm_min_pd(_mm_min_pd(lo, lo1), _mm_min_pd(lo2, lo3));
    hi = _mm_max_pd(_mm_max_pd(hi, hi1), _mm_max_pd(hi2, hi3));
    double l[2], h[2];
    _mm_storeu_pd(l, lo);
    _mm_storeu_pd(h, hi);
    mm->lo = l[0] < l[1] ? l[0] : l[1];
    mm->hi = h[0] > h[1] ? h[0] : h[1];
    mm->nan |= _mm_movemask_pd(nan) != 0;
#endif
    for (; i < n; i++) {
        double v = x[i];
        mm->nan |= v != v;
        mm->lo = v < mm->lo ? v : mm->lo;
        mm->hi = v > mm->hi ? v : mm->hi;
    }
}

/* One output row of the vertical pass with 4 taps: o[j] = ((r0 w0 + r1 w1) + r2 w2) + r3 w3, each
 * product and sum rounded in float64 in that order (two at a time with SSE2: the same operations). */
static void vrow4(const double *r0, const double *r1, const double *r2, const double *r3, const double *w, int n,
                  double *o) {
    int j = 0;
#if defined(__SSE2__)
    const __m128d w0 = _mm_set1_pd(w[0]), w1 = _mm_set1_pd(w[1]), w2 = _mm_set1_pd(w[2]), w3 = _mm_set1_pd(w[3]);
    for (; j + 2 <= n; j += 2) {
        __m128d a = _mm_mul_pd(_mm_loadu_pd(r0 + j), w0);
        a = _mm_add_pd(a, _mm_mul_pd(_mm_loadu_pd(r1 + j), w1));
        a = _mm_add_pd(a, _mm_mul_pd(_mm_loadu_pd(r2 + j), w2));
        a = _mm_add_pd(a, _mm_mul_pd(_mm_loadu_pd(r3 + j), w3));
        _mm_storeu_pd(o + j, a);
    }
#endif
    for (; j < n; j++) o[j] = ((r0[j] * w[0] + r1[j] * w[1]) + r2[j] * w[2]) + r3[j] * w[3];
}

/* Separable resize, OpenCV's order of operations: a horizontal pass over every source row, then a
 * vertical pass; each output value is the left-to-right float64 sum of k products, exactly as
 * ((a0*w0 + a1*w1) + a2*w2) + a3*w3. Taps (index, weight) per output column/row come from the
 * caller; kx == 0 (ky == 0) leaves that axis as it is. `tmp` holds h * out_w values. With `mm`,
 * the minimum, maximum and NaN flag of the output are gathered while it is written. */
static void resize_mm(const double *src, int h, int w, int out_h, int out_w, const int64_t *ix, const double *wx,
                      int kx, const int64_t *iy, const double *wy, int ky, double *tmp, double *out, MinMax *mm) {
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
            if (ky == 4) {
                vrow4(rows + ii[0] * cols, rows + ii[1] * cols, rows + ii[2] * cols, rows + ii[3] * cols, wi, cols, o);
            } else {
                const double *r0 = rows + ii[0] * cols;
                for (int j = 0; j < cols; j++) o[j] = r0[j] * wi[0];
                for (int k = 1; k < ky; k++) {
                    const double *rk = rows + ii[k] * cols;
                    double wk = wi[k];
                    for (int j = 0; j < cols; j++) o[j] = o[j] + rk[j] * wk;
                }
            }
            if (mm) minmax_add(mm, o, cols);
        }
    } else {
        if (rows != out) memcpy(out, rows, sizeof(double) * (size_t)h * (size_t)cols);
        if (mm) minmax_add(mm, out, (int64_t)h * cols);
    }
}

WSB_API void wsb_resize(const double *src, int h, int w, int out_h, int out_w, const int64_t *ix,
                        const double *wx, int kx, const int64_t *iy, const double *wy, int ky, double *tmp,
                        double *out) {
    resize_mm(src, h, w, out_h, out_w, ix, wx, kx, iy, wy, ky, tmp, out, NULL);
}

/* x = (x - lo) / (hi - lo) in place (the reference normalize_scoremap given the minimum and
 * maximum), or zeros for a map with NaN or a constant one (returns 1). */
static int normalize_with(double *x, int64_t n, const MinMax *mm) {
    if (n <= 0 || mm->nan || mm->lo == mm->hi) {
        memset(x, 0, sizeof(double) * (size_t)(n > 0 ? n : 0));
        return 1;
    }
    double mn = mm->lo, top = mm->hi - mn;
    for (int64_t i = 0; i < n; i++) x[i] = (x[i] - mn) / top;
    return 0;
}

/* The protocol's post-processing of a raw map in one call: resize (as wsb_resize) into `out`, then
 * the reference min-max normalisation, whose minimum and maximum are gathered during the resize
 * (one pass less). Returns 1 when the map had NaN or was constant (then `out` is zeros). */
WSB_API int wsb_postprocess(const double *src, int h, int w, int out_h, int out_w, const int64_t *ix,
                            const double *wx, int kx, const int64_t *iy, const double *wy, int ky, double *tmp,
                            double *out) {
    MinMax mm = {0.0, 0.0, 0, 0};
    resize_mm(src, h, w, out_h, out_w, ix, wx, kx, iy, wy, ky, tmp, out, &mm);
    return normalize_with(out, (int64_t)out_h * out_w, &mm);
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

/* One row of the normalisation fused with the quantisation: x[i] = (x[i] - mn) / top, then
 * u8[i] = (uint8)(int32)(x[i] * 255), the operations of normalize_with and quantize_row in the same
 * order (SSE2: two values per instruction, the same IEEE operations). Given mn and top of the map,
 * every value lies in [0, 1] (rounding is monotone), so no validity check is needed. */
static void normalize_quantize_row(double *x, int n, double mn, double top, uint8_t *u8) {
    int i = 0;
#if defined(__SSE2__)
    const __m128d vmn = _mm_set1_pd(mn), vtop = _mm_set1_pd(top), k255 = _mm_set1_pd(255.0);
    for (; i + 8 <= n; i += 8) {
        __m128i q[4];
        for (int k = 0; k < 4; k++) {
            __m128d v = _mm_div_pd(_mm_sub_pd(_mm_loadu_pd(x + i + 2 * k), vmn), vtop);
            _mm_storeu_pd(x + i + 2 * k, v);
            q[k] = _mm_cvttpd_epi32(_mm_mul_pd(v, k255));
        }
        __m128i lo = _mm_unpacklo_epi64(q[0], q[1]), hi = _mm_unpacklo_epi64(q[2], q[3]);
        __m128i w = _mm_packs_epi32(lo, hi);
        _mm_storel_epi64((__m128i *)(u8 + i), _mm_packus_epi16(w, w));
    }
#endif
    for (; i < n; i++) {
        double v = (x[i] - mn) / top;
        x[i] = v;
        u8[i] = (uint8_t)(int32_t)(v * 255.0);
    }
}

/* A raw map's post-processing and box IoUs in one call: wsb_postprocess into `out` (the
 * normalised map, which the caller keeps; the horizontal pass goes to a workspace buffer), quantised
 * into the engine's padded frame in the same pass as the normalisation (the float64 map is not read
 * again), then wsb_best_ious's sort, sweeps and recording. `res` (2 nt,): the largest-region IoUs,
 * then (with want_all) the all-regions IoUs. Returns -1 (out of memory) or 2 * (the number of
 * invalid values of the normalised map, as wsb_best_ious; a map whose resize overflows) + (1 when
 * the map had NaN or was constant: then `out` is zeros, as wsb_postprocess); checked first, in this
 * order, and then nothing written: WSB_BAD_SOURCE (an infinite value in `src`), WSB_BAD_GT,
 * WSB_BAD_THRESHOLDS. */
WSB_API int64_t wsb_raw_best_ious(const double *src, int h, int w, int out_h, int out_w, const int64_t *ix,
                                  const double *wx, int kx, const int64_t *iy, const double *wy, int ky, double *out,
                                  const double *thresholds, int nt, const int64_t *gt, int m, int want_all,
                                  double *res) {
    build_tables();
    if (!all_finite(src, (int64_t)h * w)) return WSB_BAD_SOURCE;
    int64_t bad = check_args(thresholds, nt, gt, m);
    if (bad) return bad;
    double *tmp = out;
    if (kx) {
        tmp = (double *)ws_get(WS_TMP, sizeof(double) * (size_t)h * (size_t)out_w);
        if (!tmp) {
            ws_trim();
            return -1;
        }
    }
    MinMax mm = {0.0, 0.0, 0, 0};
    resize_mm(src, h, w, out_h, out_w, ix, wx, kx, iy, wy, ky, tmp, out, &mm);
    int64_t n = (int64_t)out_h * out_w;
    double mn = mm.lo, top = mm.hi - mm.lo;
    if (n <= 0 || mm.nan || mm.lo == mm.hi || !(top <= DBL_MAX) || !size_ok(out_h, out_w)) {
        /* zeros (NaN, constant), infinities (invalid: reported by the quantisation) or too large */
        int constant = normalize_with(out, n, &mm);
        int64_t rc = wsb_best_ious(out, 0, out_h, out_w, thresholds, nt, gt, m, want_all, res, res + nt);
        return rc < 0 ? rc : 2 * rc + constant;
    }
    Prep *pr = prep_alloc(out_h, out_w);
    if (!pr) {
        normalize_with(out, n, &mm);
        ws_trim();
        return -1;
    }
    int W = pr->W, PW = pr->PW;
    uint8_t *pu8 = pr->pu8;
    memset(pu8, 0, (size_t)PW);
    memset(pu8 + (pr->PN - PW), 0, (size_t)PW);
    for (int y = 0; y < out_h; y++) {
        uint8_t *row = pu8 + (int64_t)(y + 1) * PW;
        row[0] = row[PW - 1] = 0;
        normalize_quantize_row(out + (int64_t)y * W, W, mn, top, row + 1);
    }
    if (prep_sort(pr) < 0) {
        prep_free(pr);
        ws_trim();
        return -1;
    }
    int64_t rc = best_from_prep(pr, thresholds, nt, gt, m, want_all, res, res + nt);
    return rc < 0 ? rc : 2 * rc;
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

/* ------------------------------------------------ PNG masks: inflate, unfilter, sample in one pass */

/* wsb_png_decode_sample: the zlib stream of a PNG's IDAT chunks in, the gray values of the pixels
 * that a nearest-neighbour resize reads out (rows, cols: source indices, rows non-decreasing; out:
 * (n_rows, n_cols) uint8), without ever holding the decoded image.
 *
 * A mask PNG inflates to megabytes of long runs, and a decoder that writes them all to memory and
 * reads them back (zlib or libdeflate, then the filters on every row) is bound by that traffic.
 * Here the inflater (RFC 1950/1951) writes into a window of the last 32 KiB plus the current rows,
 * which stays in cache, and each row is finished as soon as its last byte is written: its PNG filter
 * undone (the specification's formulas on the same bytes, so the values are a full decode's, bit for
 * bit) where anything reads it, and the sampled pixels converted to gray with Pillow's formula (the
 * gray byte; 0/255 for 1-bit pixels; (19595 R + 38470 G + 7471 B + 32768) >> 16 for RGB and RGBA,
 * alpha dropped). Runs make it fast: a match at distance 1 is a fill and enters the Adler-32 sums in
 * O(1); a Sub-filtered row of zero bytes repeats its last pixel 24 bytes at a time; an Up-filtered
 * row of zeros is the row above; a None or Sub row that the resize does not sample is not
 * reconstructed unless a row below needs it.
 *
 * Strict where zlib is strict, so that whatever this decodes, zlib (Pillow) decodes to the same
 * bytes: the zlib header and its check, block types, code-length sets (over-subscribed and
 * incomplete sets as zlib's inflate_table rejects them), symbols 286-287 and distance codes 30-31,
 * distances before the start of the output, stored-block lengths, the Adler-32 of the data, and
 * exactly height * (1 + stride) bytes; filter types 0-4. Any other stream returns an error, and the
 * caller decodes the file with Pillow, which then says what is wrong.
 *
 * Channels 1-4 with bit depth 8, or 1 channel with bit depth 1. Returns 0, -1 for bad arguments,
 * -3 for a filter type > 4, -4 when memory runs out, -5 for a stream that zlib would reject or that
 * does not hold exactly the image's bytes. */

#define INF_FASTB 10
typedef struct {
    uint16_t fast[1 << INF_FASTB];  /* sym | len << 9 for codes of <= INF_FASTB bits, 0: slow path */
    int16_t count[16];
    int16_t symbol[320];
} inf_huff;

typedef struct {
    const uint8_t *in, *end;
    uint64_t bits;
    int nbits;
    int over;                       /* zero bytes fed past the end of the input */
} inf_bits;

static inline void inf_refill(inf_bits *b) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (b->end - b->in >= 8) {
        uint64_t w;
        memcpy(&w, b->in, 8);
        b->bits |= w << b->nbits;
        b->in += (63 - b->nbits) >> 3;
        b->nbits |= 56;
        return;
    }
#endif
    while (b->nbits <= 56) {
        uint64_t byte = 0;
        if (b->in < b->end) byte = *b->in++;
        else b->over++;
        b->bits |= byte << b->nbits;
        b->nbits += 8;
    }
}

static inline uint32_t inf_take(inf_bits *b, int n) {        /* n <= 32, after a refill */
    uint32_t v = (uint32_t)(b->bits & ((1ull << n) - 1));
    b->bits >>= n;
    b->nbits -= n;
    return v;
}

/* Canonical Huffman code from code lengths; kind 0: code-length code, 1: literal/length, 2: distance.
 * Returns 0, or -1 for a set that zlib rejects. */
static int inf_build(inf_huff *h, const uint8_t *len, int n, int kind) {
    int offs[16], next[16], left = 1, max = 0;
    memset(h->count, 0, sizeof h->count);
    memset(h->fast, 0, sizeof h->fast);
    for (int s = 0; s < n; s++) h->count[len[s]]++;
    for (int l = 1; l < 16; l++)
        if (h->count[l]) max = l;
    for (int l = 1; l < 16; l++) {
        left <<= 1;
        left -= h->count[l];
        if (left < 0) return -1;                                  /* over-subscribed */
    }
    if (max == 0) return kind == 2 ? 0 : -1;                      /* no codes: only distances may */
    if (left > 0 && (kind == 0 || max != 1)) return -1;           /* incomplete */
    offs[1] = 0;
    for (int l = 1; l < 15; l++) offs[l + 1] = offs[l] + h->count[l];
    int code = 0;
    h->count[0] = 0;
    for (int l = 1; l < 16; l++) {
        code = (code + h->count[l - 1]) << 1;
        next[l] = code;
    }
    for (int s = 0; s < n; s++) {
        int l = len[s];
        if (!l) continue;
        h->symbol[offs[l]++] = (int16_t)s;
        int c = next[l]++;
        if (l <= INF_FASTB) {
            int rev = 0;
            for (int i = 0; i < l; i++) rev |= ((c >> i) & 1) << (l - 1 - i);
            for (int k = rev; k < (1 << INF_FASTB); k += 1 << l) h->fast[k] = (uint16_t)(s | l << 9);
        }
    }
    return 0;
}

/* One symbol (at least 15 bits in the buffer); -1 for a code that is not in the set. */
static inline int inf_decode(inf_bits *b, const inf_huff *h) {
    uint16_t e = h->fast[b->bits & ((1u << INF_FASTB) - 1)];
    if (e) {
        inf_take(b, e >> 9);
        return e & 511;
    }
    int code = 0, first = 0, index = 0;
    for (int l = 1; l < 16; l++) {
        code |= (int)((b->bits >> (l - 1)) & 1);
        int count = h->count[l];
        if (code - count < first) {
            inf_take(b, l);
            return h->symbol[index + (code - first)];
        }
        index += count;
        first = (first + count) << 1;
        code <<= 1;
    }
    return -1;
}

static const uint16_t INF_LBASE[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59,
                                       67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t INF_LEXTRA[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4,
                                       5, 5, 5, 5, 0};
static const uint16_t INF_DBASE[30] = {1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513,
                                       769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t INF_DEXTRA[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10,
                                       11, 11, 12, 12, 13, 13};
static const uint8_t INF_CLORDER[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

static inline uint8_t png_paeth(int a, int b, int c) {
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return (uint8_t)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

/* A row filtered with None, Average or Paeth, in full (Sub and Up: png_unfilter_row). */
static void png_row_full(int filter, const uint8_t *f, const uint8_t *prev, int64_t stride, int bpp, uint8_t *cur) {
    int64_t i;
    switch (filter) {
    case 0: memcpy(cur, f, (size_t)stride); break;
    case 3:
        for (i = 0; i < bpp && i < stride; i++) cur[i] = (uint8_t)(f[i] + (prev[i] >> 1));
        for (; i < stride; i++) cur[i] = (uint8_t)(f[i] + ((cur[i - bpp] + prev[i]) >> 1));
        break;
    default:
        for (i = 0; i < bpp && i < stride; i++) cur[i] = (uint8_t)(f[i] + prev[i]);
        for (; i < stride; i++) cur[i] = (uint8_t)(f[i] + png_paeth(cur[i - bpp], prev[i], prev[i - bpp]));
        break;
    }
}

#define ADLER_MOD 65521u
#define INF_WSIZE 32768           /* the farthest a match reaches back */
#define INF_SLACK (256 * 1024)    /* window room between slides */

/* Adler-32 of bytes: 8 zero bytes at a time leave s1 and add 8 s1 to s2 (s2 is reduced at the end).
 * Returns 1 + the index of the last nonzero byte, 0 when all are zero. */
static inline int64_t adler_bytes(uint32_t *s1, uint64_t *s2, const uint8_t *p, int64_t n) {
    uint32_t a = *s1;
    uint64_t b = *s2;
    int64_t i = 0, nz = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w == 0) {
                b += 8ull * a;
                i += 8;
                continue;
            }
        }
        if (p[i]) {
            a += p[i];
            if (a >= ADLER_MOD) a -= ADLER_MOD;
            nz = i + 1;
        }
        b += a;
        i++;
    }
    *s1 = a;
    *s2 = b;
    return nz;
}

/* The rows of the image as the inflater completes them. Rows that nothing reads are not
 * reconstructed: a row filtered with None or Sub depends on no other row, so when the resize does
 * not sample it, it stays "pending" (its filtered bytes in the window) until a row below needs it
 * as the row above; a row filtered with Up whose bytes are all zero equals the row above, so
 * it changes nothing at all. */
typedef struct {
    int64_t stride, row_bytes;      /* stride + 1 (the filter byte) */
    int height, channels, bit_depth, bpp;
    const int64_t *rows, *cols;
    int n_rows, n_cols, oi;         /* oi: the next output row */
    int64_t next_row;               /* the next row to finish */
    int64_t row_end;                /* where it ends in the stream */
    uint8_t *prev, *cur;            /* the row above, reconstructed (zeros above the first row); scratch */
    int64_t pend;                   /* stream offset of a pending row's filter byte, or -1 */
    uint8_t *out;
} png_rows_state;

static int png_all_zero(const uint8_t *f, int64_t n) {
    int64_t i = 0;
#if defined(__SSE2__)
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_or_si128(_mm_loadu_si128((const __m128i *)(f + i)),
                                 _mm_loadu_si128((const __m128i *)(f + i + 16)));
        __m128i b = _mm_or_si128(_mm_loadu_si128((const __m128i *)(f + i + 32)),
                                 _mm_loadu_si128((const __m128i *)(f + i + 48)));
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_or_si128(a, b), _mm_setzero_si128())) != 0xffff) return 0;
    }
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, f + i, 8);
        if (w) return 0;
    }
    for (; i < n; i++)
        if (f[i]) return 0;
    return 1;
}

/* Undo the filter of one row (f: its bytes after the filter byte) from st->prev; the result
 * becomes st->prev. */
static void png_unfilter_row(png_rows_state *st, int filter, const uint8_t *restrict f) {
    uint8_t *restrict cur = st->cur;
    const uint8_t *restrict prev = st->prev;
    int64_t n = st->stride;
    int bpp = st->bpp;
    if (filter == 2) {
        for (int64_t i = 0; i < n; i++) cur[i] = (uint8_t)(f[i] + prev[i]);
    } else if (filter == 1) {                                     /* Sub: runs of zeros repeat a pixel */
        int64_t i = 0;
        for (; i < bpp && i < n; i++) cur[i] = f[i];
        int run = 0;
        uint64_t p0 = 0, p1 = 0, p2 = 0;                          /* 24 bytes of the repeated pixel */
        while (i < n) {
            if (i + 24 <= n) {
                uint64_t w0, w1, w2;
                memcpy(&w0, f + i, 8);
                memcpy(&w1, f + i + 8, 8);
                memcpy(&w2, f + i + 16, 8);
                if ((w0 | w1 | w2) == 0) {
                    if (!run) {
                        uint8_t pat[24];
                        for (int k = 0, c = 0; k < 24; k++, c = c + 1 == bpp ? 0 : c + 1) pat[k] = cur[i - bpp + c];
                        memcpy(&p0, pat, 8);
                        memcpy(&p1, pat + 8, 8);
                        memcpy(&p2, pat + 16, 8);
                        run = 1;
                    }
                    memcpy(cur + i, &p0, 8);                      /* from registers: no chain through memory */
                    memcpy(cur + i + 8, &p1, 8);
                    memcpy(cur + i + 16, &p2, 8);
                    i += 24;
                    continue;
                }
            }
            cur[i] = (uint8_t)(f[i] + cur[i - bpp]);
            i++;
            run = 0;
        }
    } else {
        png_row_full(filter, f, prev, n, bpp, cur);
    }
    st->cur = st->prev;
    st->prev = cur;
}

/* Reconstruct the pending row, if any, so that st->prev is the row above. */
static void png_resolve(png_rows_state *st, const uint8_t *win, int64_t base) {
    if (st->pend < 0) return;
    const uint8_t *f = win + (st->pend - base);
    st->pend = -1;
    png_unfilter_row(st, f[0], f + 1);
}

static void png_sample_row(png_rows_state *st, int64_t r) {
    const uint8_t *rec = st->prev;
    while (st->oi < st->n_rows && st->rows[st->oi] == r) {
        uint8_t *o = st->out + (int64_t)st->oi * st->n_cols;
        if (st->oi > 0 && st->rows[st->oi - 1] == r) {
            memcpy(o, o - st->n_cols, (size_t)st->n_cols);
        } else if (st->bit_depth == 1) {
            for (int j = 0; j < st->n_cols; j++) {
                int64_t c = st->cols[j];
                o[j] = (rec[c >> 3] >> (7 - (c & 7))) & 1 ? 255 : 0;
            }
        } else if (st->channels < 3) {
            for (int j = 0; j < st->n_cols; j++) o[j] = rec[st->cols[j] * st->channels];
        } else {
            for (int j = 0; j < st->n_cols; j++) {
                const uint8_t *px = rec + st->cols[j] * st->channels;
                o[j] = (uint8_t)((px[0] * 19595u + px[1] * 38470u + px[2] * 7471u + 0x8000u) >> 16);
            }
        }
        st->oi++;
    }
}

/* Finish every complete row in the window (win holds stream bytes from offset base on, up to end);
 * nzend: the stream offset just past the last nonzero byte written so far. */
static int png_finish_rows(png_rows_state *st, const uint8_t *win, int64_t base, int64_t end, int64_t nzend) {
    while (st->next_row < st->height && (st->next_row + 1) * st->row_bytes <= end) {
        int64_t r = st->next_row++, at = r * st->row_bytes;
        const uint8_t *f = win + (at - base);
        int filter = f[0];
        if (filter > 4) return -3;
        int sampled = st->oi < st->n_rows && st->rows[st->oi] == r;
        if (filter <= 1) {
            if (!sampled) {                                       /* nothing needs it yet */
                st->pend = at;
                continue;
            }
            st->pend = -1;
            png_unfilter_row(st, filter, f + 1);
        } else if (filter == 2 && (nzend <= at + 1 || png_all_zero(f + 1, st->stride))) {
            if (!sampled) continue;                               /* the row above, unchanged */
            png_resolve(st, win, base);
        } else {
            png_resolve(st, win, base);
            png_unfilter_row(st, filter, f + 1);
        }
        if (sampled) png_sample_row(st, r);
    }
    st->row_end = (st->next_row + 1) * st->row_bytes;
    return 0;
}

/* Make room in the window: keep the last 32 KiB (the farthest a match reaches back), the row being
 * written and a pending row (reconstructed first when it is farther back than that). */
static void png_slide(png_rows_state *st, uint8_t *win, int64_t *base, int64_t *op) {
    int64_t keep_from = *op > INF_WSIZE ? *op - INF_WSIZE : 0;
    int64_t row_at = st->next_row * st->row_bytes - *base;
    if (row_at < keep_from) keep_from = row_at;
    if (st->pend >= 0 && st->pend - *base < keep_from) png_resolve(st, win, *base);
    memmove(win, win + keep_from, (size_t)(*op - keep_from));
    *base += keep_from;
    *op -= keep_from;
}


WSB_API int wsb_png_decode_sample(const uint8_t *z, int64_t zlen, int width, int height, int channels,
                                  int bit_depth, const int64_t *rows, int n_rows, const int64_t *cols, int n_cols,
                                  uint8_t *out) {
    if (width < 1 || height < 1 || n_rows < 0 || n_cols < 0 || channels < 1 || channels > 4 || zlen < 0
        || !(bit_depth == 8 || (bit_depth == 1 && channels == 1)))
        return -1;
    for (int i = 0; i < n_rows; i++)
        if (rows[i] < 0 || rows[i] >= height || (i && rows[i] < rows[i - 1])) return -1;
    for (int j = 0; j < n_cols; j++)
        if (cols[j] < 0 || cols[j] >= width) return -1;
    png_rows_state st;
    st.stride = bit_depth == 8 ? (int64_t)width * channels : ((int64_t)width + 7) / 8;
    st.row_bytes = st.stride + 1;
    st.height = height;
    st.channels = channels;
    st.bit_depth = bit_depth;
    st.bpp = bit_depth == 8 ? channels : 1;
    st.rows = rows;
    st.cols = cols;
    st.n_rows = n_rows;
    st.n_cols = n_cols;
    st.oi = 0;
    st.next_row = 0;
    st.row_end = st.row_bytes;
    st.pend = -1;
    st.out = out;
    const int64_t total = (int64_t)height * st.row_bytes;
    /* the window: 32 KiB of history, a pending row and the row being written, and room */
    const int64_t cap = (2 * st.row_bytes > INF_WSIZE ? 2 * st.row_bytes : INF_WSIZE) + st.row_bytes + INF_SLACK;
    /* one block of the thread's workspace: the two code tables, the window, the two row buffers */
    size_t rowbytes = (size_t)(2 * st.stride + 64);
    uint8_t *block = (uint8_t *)ws_get(WS_PNG, 2 * sizeof(inf_huff) + (size_t)cap + rowbytes);
    if (!block) return -4;
    inf_huff *lit = (inf_huff *)block, *dist = lit + 1;
    uint8_t *win = block + 2 * sizeof(inf_huff), *rowbuf = win + cap;
    memset(rowbuf, 0, rowbytes);                                  /* zeros above the first row */
    st.prev = rowbuf;
    st.cur = rowbuf + st.stride + 32;

    int rc = -5, fin;
    inf_bits b = {z, z + zlen, 0, 0, 0};
    int64_t base = 0, op = 0;       /* win[0] is stream byte base; op: bytes in win */
    int64_t nzend = 0;              /* just past the last nonzero byte written */
    uint32_t s1 = 1, lastbyte = 0;  /* Adler-32 sums; the last byte written */
    uint64_t s2 = 0;
    if (zlen < 2) goto done;
    {
        int cmf = z[0], flg = z[1];
        if ((cmf & 15) != 8 || (cmf >> 4) > 7 || (cmf * 256 + flg) % 31 || (flg & 32)) goto done;
        b.in = z + 2;
    }
    int final_block;
    do {
        inf_refill(&b);
        final_block = (int)inf_take(&b, 1);
        int type = (int)inf_take(&b, 2);
        if (type == 0) {                                          /* stored */
            inf_take(&b, b.nbits & 7);
            int buffered = b.nbits / 8 - b.over;                  /* real bytes still in the bit buffer */
            if (buffered < 0) goto done;
            b.in -= buffered;
            b.bits = 0;
            b.nbits = 0;
            b.over = 0;
            if (b.end - b.in < 4) goto done;
            uint32_t len = b.in[0] | (uint32_t)b.in[1] << 8, nlen = b.in[2] | (uint32_t)b.in[3] << 8;
            b.in += 4;
            if (len != (~nlen & 0xffffu) || b.end - b.in < (int64_t)len || base + op + len > total) goto done;
            while (len) {
                uint32_t chunk = len < 4096 ? len : 4096;
                if (op + chunk + 32 > cap) png_slide(&st, win, &base, &op);
                memcpy(win + op, b.in, chunk);
                int64_t nz = adler_bytes(&s1, &s2, b.in, chunk);
                if (nz) nzend = base + op + nz;
                lastbyte = b.in[chunk - 1];
                b.in += chunk;
                op += chunk;
                len -= chunk;
                if (base + op >= st.row_end && (fin = png_finish_rows(&st, win, base, base + op, nzend)) != 0) {
                    rc = fin;
                    goto done;
                }
            }
            continue;
        }
        if (type == 3) goto done;
        if (type == 1) {                                          /* fixed codes */
            uint8_t lens[320];
            int s = 0;
            for (; s < 144; s++) lens[s] = 8;
            for (; s < 256; s++) lens[s] = 9;
            for (; s < 280; s++) lens[s] = 7;
            for (; s < 288; s++) lens[s] = 8;
            for (; s < 320; s++) lens[s] = 5;
            inf_build(lit, lens, 288, 1);
            inf_build(dist, lens + 288, 32, 2);
        } else {                                                  /* dynamic codes */
            inf_refill(&b);
            int nlen = (int)inf_take(&b, 5) + 257, ndist = (int)inf_take(&b, 5) + 1, ncode = (int)inf_take(&b, 4) + 4;
            if (nlen > 286 || ndist > 30) goto done;
            uint8_t lens[320];
            memset(lens, 0, 19);
            for (int i = 0; i < ncode; i++) {
                if (b.nbits < 3) inf_refill(&b);
                lens[INF_CLORDER[i]] = (uint8_t)inf_take(&b, 3);
            }
            if (inf_build(lit, lens, 19, 0)) goto done;
            int i = 0;
            while (i < nlen + ndist) {
                inf_refill(&b);
                int sym = inf_decode(&b, lit);
                if (sym < 0) goto done;
                if (sym < 16) {
                    lens[i++] = (uint8_t)sym;
                    continue;
                }
                int rep, val = 0;
                if (sym == 16) {
                    if (i == 0) goto done;
                    val = lens[i - 1];
                    rep = 3 + (int)inf_take(&b, 2);
                } else if (sym == 17) {
                    rep = 3 + (int)inf_take(&b, 3);
                } else {
                    rep = 11 + (int)inf_take(&b, 7);
                }
                if (i + rep > nlen + ndist) goto done;
                while (rep--) lens[i++] = (uint8_t)val;
            }
            if (lens[256] == 0) goto done;                        /* no end-of-block code */
            if (inf_build(lit, lens, nlen, 1) || inf_build(dist, lens + nlen, ndist, 2)) goto done;
        }
        for (;;) {                                                /* the block's symbols */
            if (op + 258 + 32 > cap) png_slide(&st, win, &base, &op);
            inf_refill(&b);
            int sym = inf_decode(&b, lit);
            if (sym < 256) {
                if (sym < 0 || base + op >= total) goto done;
                win[op++] = (uint8_t)sym;
                lastbyte = (uint32_t)sym;
                if (sym) {
                    s1 += (uint32_t)sym;
                    if (s1 >= ADLER_MOD) s1 -= ADLER_MOD;
                    nzend = base + op;
                }
                s2 += s1;
                if (base + op >= st.row_end) goto finish;
                continue;
            }
            if (sym == 256) break;
            sym -= 257;
            if (sym >= 29) goto done;
            int64_t len = INF_LBASE[sym] + inf_take(&b, INF_LEXTRA[sym]);
            int dsym = inf_decode(&b, dist);
            if (dsym < 0 || dsym >= 30) goto done;
            int64_t d = INF_DBASE[dsym] + inf_take(&b, INF_DEXTRA[dsym]);
            if (d > base + op || base + op + len > total) goto done;
            uint8_t *dst = win + op;
            const uint8_t *src = dst - d;
            if (d == 1) {                                         /* a run: a fill, and O(1) for the sums */
                uint32_t c = lastbyte;
                uint64_t pat = c * 0x0101010101010101ull;
                for (int64_t k = 0; k < len; k += 32) {
                    memcpy(dst + k, &pat, 8);
                    memcpy(dst + k + 8, &pat, 8);
                    memcpy(dst + k + 16, &pat, 8);
                    memcpy(dst + k + 24, &pat, 8);
                }
                s2 += (uint64_t)len * s1 + (uint64_t)c * (uint64_t)(len * (len + 1) / 2);
                s1 += (uint32_t)len * c;                          /* < 3 ADLER_MOD */
                if (s1 >= ADLER_MOD) s1 -= ADLER_MOD;
                if (s1 >= ADLER_MOD) s1 -= ADLER_MOD;
                if (c) nzend = base + op + len;
            } else {
                if (d >= 16) {
                    for (int64_t k = 0; k < len; k += 16) memcpy(dst + k, src + k, 16);
                } else if (d >= 8) {
                    for (int64_t k = 0; k < len; k += 8) memcpy(dst + k, src + k, 8);
                } else {
                    for (int64_t k = 0; k < len; k++) dst[k] = src[k];
                }
                int64_t nz = adler_bytes(&s1, &s2, dst, len);
                if (nz) nzend = base + op + nz;
                lastbyte = dst[len - 1];
            }
            op += len;
            if (base + op < st.row_end) continue;
        finish:                                                   /* rows are finished while in cache */
            if ((fin = png_finish_rows(&st, win, base, base + op, nzend)) != 0) {
                rc = fin;
                goto done;
            }
        }
    } while (!final_block);
    /* the Adler-32 after the last block, from the next byte boundary */
    inf_take(&b, b.nbits & 7);
    {
        uint32_t want = 0;
        for (int k = 0; k < 4; k++) {
            if (b.nbits < 8) inf_refill(&b);
            want = want << 8 | inf_take(&b, 8);
        }
        if (b.over * 8 > b.nbits) goto done;                      /* read past the end of the input */
        uint32_t got = (uint32_t)(s2 % ADLER_MOD) << 16 | s1;
        if (got != want || base + op != total) goto done;
    }
    rc = png_finish_rows(&st, win, base, base + op, nzend);
done:
    ws_trim();
    return rc;
}

#ifndef WSB_SOURCE_HASH
#define WSB_SOURCE_HASH ""
#endif

/* The hash of this file that the build was made from (setup.py and native.py define it), so that a
 * library built from an older source is never used. */
WSB_API const char *wsb_source_hash(void) { return WSB_SOURCE_HASH; }

#ifdef WSB_PYTHON_MODULE
/* Built by setuptools as an extension module, so that the file is importable by name. The engine's
 * functions are called through ctypes, except the box path's one call per map: `raw_best_ious` and
 * `best_ious` are wsb_raw_best_ious and wsb_best_ious with their arrays taken through the buffer
 * protocol (ctypes' conversion of 18 arguments and the five array addresses cost ~4 us per map;
 * these entries ~1 us). A build without Python (native.py's fallback) has only the ctypes
 * functions, and the callers use those. */
#include <Python.h>

/* `obj`'s C-contiguous buffer of at least `bytes` bytes (writable if asked), or 0 with an exception. */
static int wsb_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t bytes, int writable, const char *name) {
    if (PyObject_GetBuffer(obj, view, writable ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0) return 0;
    if (view->len < bytes) {
        PyErr_Format(PyExc_ValueError, "raw_best_ious: %s holds %zd bytes, needs %zd", name, view->len, bytes);
        PyBuffer_Release(view);
        return 0;
    }
    return 1;
}

/* raw_best_ious(src, out, thresholds, gt, res, h, w, out_h, out_w, ix, wx, kx, iy, wy, ky, want_all)
 * -> wsb_raw_best_ious's result. Arrays: src (h, w) float64, out (out_h, out_w) float64,
 * thresholds (nt,) float64, gt (m, 4) int64, res (2, nt) float64; their lengths come from the
 * buffers (nt, m). ix, wx, iy, wy: the tap arrays' addresses (ints, or None for an axis that is not
 * resized). The GIL is released during the call, as ctypes does. */
static PyObject *py_raw_best_ious(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 16) {
        PyErr_SetString(PyExc_TypeError, "raw_best_ious takes 16 arguments");
        return NULL;
    }
    long v[16];
    void *p[16];
    for (int i = 5; i < 16; i++) {
        int is_ptr = i == 9 || i == 10 || i == 12 || i == 13;
        if (is_ptr) {
            p[i] = args[i] == Py_None ? NULL : PyLong_AsVoidPtr(args[i]);
        } else {
            v[i] = PyLong_AsLong(args[i]);
        }
        if (PyErr_Occurred()) return NULL;
    }
    int h = (int)v[5], w = (int)v[6], out_h = (int)v[7], out_w = (int)v[8];
    if (h < 1 || w < 1 || out_h < 1 || out_w < 1) {
        PyErr_SetString(PyExc_ValueError, "raw_best_ious: sizes must be positive");
        return NULL;
    }
    Py_buffer b[5];
    static const char *names[5] = {"src", "out", "thresholds", "gt", "res"};
    Py_ssize_t need[5] = {(Py_ssize_t)sizeof(double) * h * w, (Py_ssize_t)sizeof(double) * out_h * out_w, 0, 0, 0};
    int got = 0;
    for (; got < 5; got++) {
        if (got == 4) need[4] = 2 * b[2].len;   /* res: two float64 per threshold */
        if (!wsb_buffer(args[got], &b[got], need[got], got == 1 || got == 4, names[got])) break;
    }
    PyObject *result = NULL;
    if (got == 5) {
        int nt = (int)(b[2].len / (Py_ssize_t)sizeof(double)), m = (int)(b[3].len / (4 * (Py_ssize_t)sizeof(int64_t)));
        int64_t rc;
        Py_BEGIN_ALLOW_THREADS
        rc = wsb_raw_best_ious((const double *)b[0].buf, h, w, out_h, out_w, (const int64_t *)p[9],
                               (const double *)p[10], (int)v[11], (const int64_t *)p[12], (const double *)p[13],
                               (int)v[14], (double *)b[1].buf, (const double *)b[2].buf, nt,
                               (const int64_t *)b[3].buf, m, (int)v[15], (double *)b[4].buf);
        Py_END_ALLOW_THREADS
        result = PyLong_FromLongLong(rc);
    }
    for (int i = 0; i < got; i++) PyBuffer_Release(&b[i]);
    return result;
}

/* best_ious(map, is_f32, H, W, thresholds, gt, res, want_all) -> wsb_best_ious's result, `res` (2, nt)
 * float64 receiving the largest-region IoUs, then the all-regions IoUs; `map` (H, W) float32 (is_f32)
 * or float64. Arrays and lengths as raw_best_ious. */
static PyObject *py_best_ious(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "best_ious takes 8 arguments");
        return NULL;
    }
    long is_f32 = PyLong_AsLong(args[1]), H = PyLong_AsLong(args[2]), W = PyLong_AsLong(args[3]);
    long want_all = PyLong_AsLong(args[7]);
    if (PyErr_Occurred()) return NULL;
    if (H < 1 || W < 1 || H > INT32_MAX || W > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "best_ious: sizes must be positive");
        return NULL;
    }
    Py_buffer b[4];
    static const char *names[4] = {"map", "thresholds", "gt", "res"};
    Py_ssize_t need[4] = {(Py_ssize_t)(is_f32 ? sizeof(float) : sizeof(double)) * H * W, 0, 0, 0};
    PyObject *arrays[4] = {args[0], args[4], args[5], args[6]};
    int got = 0;
    for (; got < 4; got++) {
        if (got == 3) need[3] = 2 * b[1].len;   /* res: two float64 per threshold */
        if (!wsb_buffer(arrays[got], &b[got], need[got], got == 3, names[got])) break;
    }
    PyObject *result = NULL;
    if (got == 4) {
        int nt = (int)(b[1].len / (Py_ssize_t)sizeof(double)), m = (int)(b[2].len / (4 * (Py_ssize_t)sizeof(int64_t)));
        double *res = (double *)b[3].buf;
        int64_t rc;
        Py_BEGIN_ALLOW_THREADS
        rc = wsb_best_ious(b[0].buf, (int)is_f32, (int)H, (int)W, (const double *)b[1].buf, nt,
                           (const int64_t *)b[2].buf, m, (int)want_all, res, res + nt);
        Py_END_ALLOW_THREADS
        result = PyLong_FromLongLong(rc);
    }
    for (int i = 0; i < got; i++) PyBuffer_Release(&b[i]);
    return result;
}

static PyMethodDef wsb_methods[] = {
    {"best_ious", (PyCFunction)(void (*)(void))py_best_ious, METH_FASTCALL,
     "wsb_best_ious with arrays through the buffer protocol (wsolbench.metrics.boxkernel)."},
    {"raw_best_ious", (PyCFunction)(void (*)(void))py_raw_best_ious, METH_FASTCALL,
     "wsb_raw_best_ious with arrays through the buffer protocol (wsolbench.metrics.boxes)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef wsb_module = {PyModuleDef_HEAD_INIT, "_engine", NULL, -1, wsb_methods,
                                         NULL, NULL, NULL, NULL};
PyMODINIT_FUNC PyInit__engine(void) { return PyModule_Create(&wsb_module); }
#endif
