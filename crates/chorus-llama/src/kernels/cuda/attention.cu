// Attention kernels (module `attention`), compiled per model with GROUP
// (query heads per key/value head) and HEAD_DIM defined, so that the
// per-lane arrays of attend_own have constant sizes and live in registers.

// The pass tables of one forward pass (offsets into one uploaded buffer).
struct Pass {
    const unsigned* tok_row;      // [tokens] row of each token
    const unsigned* tok_slot;     // [tokens] cache slot
    const unsigned* tok_index;    // [tokens] own index of its key in the slot
    const unsigned* tok_rope;     // [tokens] row of its position in cos / sin
    const float* cos;             // [distinct positions][dim/2]
    const float* sin;             // [distinct positions][dim/2]
    const unsigned* range_starts; // [tokens + 1]
    const unsigned* ranges;       // [2 · ranges] start, end (row key space)
    const float* bias_value;      // [tokens] (0 = none)
    const unsigned* bias_range;   // [2 · tokens] start, end
    const unsigned* row_shared;   // [rows] shared-context keys of each row
};

// Rotary embeddings on q and k of every token, k and v written into the cache,
// q written grouped by key/value head. Grid: (tokens); block: 256 threads over
// (head, quad of pairs) for every query, key and value head of the token: four
// consecutive elements of each half per access (the kernel is memory traffic;
// one 2-byte access per element left it at a quarter of HBM bandwidth). The
// halves follow transformers' rotate_half, with cos and sin rounded to the
// dtype as transformers casts them.
__device__ __forceinline__ f4 rotate_first(f4 a, f4 b, float4 c, float4 s) {
    return {rt(a.a * rt(c.x)) - rt(b.a * rt(s.x)), rt(a.b * rt(c.y)) - rt(b.b * rt(s.y)),
            rt(a.c * rt(c.z)) - rt(b.c * rt(s.z)), rt(a.d * rt(c.w)) - rt(b.d * rt(s.w))};
}

__device__ __forceinline__ f4 rotate_second(f4 a, f4 b, float4 c, float4 s) {
    return {rt(b.a * rt(c.x)) + rt(a.a * rt(s.x)), rt(b.b * rt(c.y)) + rt(a.b * rt(s.y)),
            rt(b.c * rt(c.z)) + rt(a.c * rt(s.z)), rt(b.d * rt(c.w)) + rt(a.d * rt(s.w))};
}

extern "C" __global__ void rope_store(const elem* qkv, Pass p, elem* q_grouped, elem* keys, elem* values,
                                      int tokens, int kv_heads, int capacity) {
    const int dim = HEAD_DIM, half = HEAD_DIM / 2, group = GROUP;
    int t = blockIdx.x;
    int query_heads = kv_heads * GROUP;
    int heads = query_heads + 2 * kv_heads;
    int width = heads * dim;
    const elem* row = qkv + (long)t * width;
    long slot = p.tok_slot[t], index = p.tok_index[t];
    const float* cos = p.cos + (long)p.tok_rope[t] * half;
    const float* sin = p.sin + (long)p.tok_rope[t] * half;
#if (HEAD_DIM % 8) == 0
    const int quads = half / 4;
    for (int w = threadIdx.x; w < heads * quads; w += blockDim.x) {
        int h = w / quads, e = (w % quads) * 4;
        const elem* src = row + h * dim;
        elem* dst;
        if (h >= query_heads + kv_heads) {
            dst = values + ((slot * kv_heads + (h - query_heads - kv_heads)) * capacity + index) * dim;
            st4(dst + e, ld4(src + e));
            st4(dst + e + half, ld4(src + e + half));
            continue;
        }
        if (h < query_heads) {
            int g = h / group, j = h % group;
            dst = q_grouped + (((long)g * tokens + t) * group + j) * dim;
        } else {
            dst = keys + ((slot * kv_heads + (h - query_heads)) * capacity + index) * dim;
        }
        // cos/sin rows are small and L1-resident; 4-byte loads because the
        // packed pass table does not align them to 16 bytes.
        float4 c = make_float4(cos[e], cos[e + 1], cos[e + 2], cos[e + 3]);
        float4 s = make_float4(sin[e], sin[e + 1], sin[e + 2], sin[e + 3]);
        f4 a = ld4(src + e), b = ld4(src + e + half);
        st4(dst + e, rotate_first(a, b, c, s));
        st4(dst + e + half, rotate_second(a, b, c, s));
    }
#else
    for (int w = threadIdx.x; w < heads * half; w += blockDim.x) {
        int h = w / half, e = w % half;
        const elem* src = row + h * dim;
        if (h >= query_heads + kv_heads) {
            int kh = h - query_heads - kv_heads;
            elem* dst = values + ((slot * kv_heads + kh) * capacity + index) * dim;
            dst[e] = src[e];
            dst[e + half] = src[e + half];
            continue;
        }
        elem* dst;
        if (h < query_heads) {
            int g = h / group, j = h % group;
            dst = q_grouped + (((long)g * tokens + t) * group + j) * dim;
        } else {
            int kh = h - query_heads;
            dst = keys + ((slot * kv_heads + kh) * capacity + index) * dim;
        }
        float c = rt(cos[e]), s = rt(sin[e]);
        float a = ld(src[e]), b = ld(src[e + half]);
        dst[e] = st(rt(a * c) - rt(b * s));
        dst[e + half] = st(rt(b * c) + rt(a * s));
    }
#endif
}

// Whether token t sees key k (row key space): inside one of its ranges.
__device__ __forceinline__ bool sees(const Pass& p, int t, unsigned k) {
    for (unsigned r = p.range_starts[t]; r < p.range_starts[t + 1]; r++)
        if (k >= p.ranges[2 * r] && k < p.ranges[2 * r + 1]) return true;
    return false;
}

__device__ __forceinline__ float bias_at(const Pass& p, int t, unsigned k) {
    float v = p.bias_value[t];
    return (v != 0.0f && k >= p.bias_range[2 * t] && k < p.bias_range[2 * t + 1]) ? v : 0.0f;
}

// The shared part's softmax, one warp per score row (kv head, token, group
// member): scale, bias and visibility applied to S (f32, from the q·Kᵀ GEMM);
// writes the normalised probabilities P (elem, for the P·V GEMM) and the row's
// max and sum (for the log-sum-exp merge). A row that sees no shared key gets
// max -inf and sum 0. Rows of up to 32·SOFTMAX_CACHE keys (every few-shot
// context so far) stay in registers: S is read once and only P written;
// longer rows use S itself as the scratch.
#define SOFTMAX_CACHE 8

extern "C" __global__ void shared_softmax(float* scores, elem* probs, float* row_max, float* row_sum,
                                          Pass p, long rows, int tokens, int shared, float scale) {
    long r = (long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    int t = (int)((r / GROUP) % tokens);
    unsigned limit = p.row_shared[p.tok_row[t]];
    float* s = scores + r * shared;
    float best = -INF_F, sum = 0.0f;
    if (shared <= 32 * SOFTMAX_CACHE) {
        float v[SOFTMAX_CACHE];
#pragma unroll
        for (int i = 0; i < SOFTMAX_CACHE; i++) {
            int k = lane + 32 * i;
            v[i] = k < shared ? s[k] : -INF_F;
        }
#pragma unroll
        for (int i = 0; i < SOFTMAX_CACHE; i++) {
            int k = lane + 32 * i;
            float x = -INF_F;
            if (k < shared && (unsigned)k < limit && sees(p, t, k)) x = v[i] * scale + bias_at(p, t, k);
            v[i] = x;
            best = fmaxf(best, x);
        }
        best = warp_max(best);
#pragma unroll
        for (int i = 0; i < SOFTMAX_CACHE; i++) {
            float e = best > -INF_F && v[i] > -INF_F ? expf(v[i] - best) : 0.0f;
            v[i] = e;
            sum += e;
        }
        sum = warp_sum(sum);
        float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
#pragma unroll
        for (int i = 0; i < SOFTMAX_CACHE; i++) {
            int k = lane + 32 * i;
            if (k < shared) probs[r * shared + k] = st(v[i] * inv);
        }
    } else {
        for (int k = lane; k < shared; k += 32) {
            float v = -INF_F;
            if ((unsigned)k < limit && sees(p, t, k)) v = s[k] * scale + bias_at(p, t, k);
            s[k] = v;
            best = fmaxf(best, v);
        }
        best = warp_max(best);
        for (int k = lane; k < shared; k += 32) {
            float e = best > -INF_F && s[k] > -INF_F ? expf(s[k] - best) : 0.0f;
            s[k] = e;
            sum += e;
        }
        sum = warp_sum(sum);
        float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
        for (int k = lane; k < shared; k += 32) probs[r * shared + k] = st(s[k] * inv);
    }
    if (lane == 0) {
        row_max[r] = best;
        row_sum[r] = sum;
    }
}

#define PER_LANE ((HEAD_DIM + 31) / 32)
#define OWN_WARPS 4

// Why the own part is shaped as it is: a pass of prefill has ~10^5 tokens that
// each see only a handful of own keys (their segment so far), so the kernel is
// bound by memory latency, not arithmetic. One warp per (token, kv head), many
// warps resident per SM, and every load of a step issued before any of it is
// used keep that latency hidden.

// The log-sum-exp merge with the shared part and the output write, shared by
// both variants below: `acc` holds the dims `dim_of(e)` of this lane.
#define MERGE_AND_STORE(DIM_OF)                                                                  \
    int query_heads = kv_heads * GROUP;                                                          \
    _Pragma("unroll") for (int j = 0; j < GROUP; j++) {                                          \
        long sr = ((long)g * tokens + t) * GROUP + j;                                            \
        float ms = shared_out ? shared_max[sr] : -INF_F;                                         \
        float mx = fmaxf(ms, m[j]);                                                              \
        float fs = ms > -INF_F ? expf(ms - mx) * shared_sum[sr] : 0.0f;                          \
        float fo = m[j] > -INF_F ? expf(m[j] - mx) : 0.0f;                                       \
        float total = fs + fo * l[j];                                                            \
        float inv = total > 0.0f ? 1.0f / total : 0.0f;                                          \
        _Pragma("unroll") for (int e = 0; e < PER_LANE; e++) {                                   \
            int d = DIM_OF(e);                                                                   \
            if (d >= HEAD_DIM) continue;                                                         \
            float o = fo * acc[j][e];                                                            \
            if (ms > -INF_F) o += fs * shared_out[sr * HEAD_DIM + d];                            \
            out[(long)t * query_heads * HEAD_DIM + (long)(g * GROUP + j) * HEAD_DIM + d] = st(o * inv); \
        }                                                                                        \
    }

// Loads this warp's GROUP query vectors into shared memory, pre-scaled.
#define LOAD_QUERIES                                                                             \
    const elem* qt = q_grouped + ((long)g * tokens + t) * GROUP * HEAD_DIM;                      \
    for (int i = lane; i < GROUP * HEAD_DIM; i += 32) qs[warp][i / HEAD_DIM][i % HEAD_DIM] = ld(qt[i]) * scale; \
    __syncwarp();

#if HEAD_DIM % 32 == 0
// Eight keys per step, four lanes per key: lane 4·i + s holds dims
// 32·c + 8·s .. +8 (c < HEAD_DIM / 32) of key i, so one step's key reads are
// 16-byte loads and the four lanes' query reads fall in distinct banks; a
// key's GROUP scores are summed over its four lanes by two shuffles. For P·V
// each lane owns HEAD_DIM / 32 consecutive dims of the output.
#define SUB 4
#define STEP_KEYS (32 / SUB)
#define CHUNKS (HEAD_DIM / 32)
#ifndef OWN_MIN_BLOCKS
#define OWN_MIN_BLOCKS 6
#endif


// A lane's PER_LANE value elements of one key, kept packed until used.
#if (defined(CHORUS_BF16) || defined(CHORUS_F16)) && PER_LANE == 4
typedef uint2 vraw;
__device__ __forceinline__ vraw ld_vraw(const elem* p) { return *reinterpret_cast<const uint2*>(p); }
__device__ __forceinline__ float vraw_at(const vraw& r, int e) {
    unsigned w = e < 2 ? r.x : r.y;
    return ld((elem)((e & 1) ? (w >> 16) : (w & 0xffffu)));
}
#else
struct vraw {
    elem v[PER_LANE];
};
__device__ __forceinline__ vraw ld_vraw(const elem* p) {
    vraw r;
#pragma unroll
    for (int e = 0; e < PER_LANE; e++) r.v[e] = p[e];
    return r;
}
__device__ __forceinline__ float vraw_at(const vraw& r, int e) { return ld(r.v[e]); }
#endif

// The merge's inputs of a token (its GROUP rows of the shared part's output,
// max and sum) are copied into the warp's shared memory with cp.async when the
// token starts, so that their latency overlaps the key loop at no register
// cost; geometries whose buffers would not fit, and GPUs before sm_80 (no
// cp.async), read them at the merge.
#define OWN_MERGE_FLOATS (GROUP * HEAD_DIM + 2 * GROUP)
#define OWN_PREFETCH (OWN_WARPS * (GROUP * HEAD_DIM + OWN_MERGE_FLOATS) * 4 <= 40960 && __CUDA_ARCH__ >= 800)

__device__ __forceinline__ void copy_async4(float* dst, const float* src) {
    unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(d), "l"(src));
}

__device__ __forceinline__ void copy_async_wait() { asm volatile("cp.async.wait_all;\n" ::: "memory"); }

// Each warp's shared memory in both own-part kernels: its token's queries and,
// with OWN_PREFETCH, the merge inputs (a null slice otherwise).
#if OWN_PREFETCH
#define OWN_WARP_BUFFERS                                                   \
    __shared__ __align__(16) float qs[OWN_WARPS][GROUP][HEAD_DIM];         \
    __shared__ __align__(16) float merge_in[OWN_WARPS][OWN_MERGE_FLOATS];
#else
#define OWN_WARP_BUFFERS                                                   \
    __shared__ __align__(16) float qs[OWN_WARPS][GROUP][HEAD_DIM];         \
    float* merge_in[OWN_WARPS] = {};
#endif

// Where a warp reads a token's own keys: its cache slot, or a tile's copy of
// the keys in shared memory (attend_own_tiles). Key k of the row's key space
// is at k_rows + (k - first) · k_stride, its value at v_rows + (k - first) · v_stride.
struct OwnKeys {
    const elem* k_rows;
    const elem* v_rows;
    unsigned first;
    int k_stride;
    int v_stride;
};

// Token t's own keys for kv head g, by one warp, merged with the shared part
// and written to `out`. `qs` is the warp's shared-memory slice for the queries.
__device__ __forceinline__ void attend_token(const elem* q_grouped, OwnKeys src, const float* shared_out,
                                             const float* shared_max, const float* shared_sum, elem* out,
                                             const Pass& p, int t, int g, unsigned shared, int tokens,
                                             int kv_heads, float scale, float (*qs)[HEAD_DIM], float* merge_in,
                                             int lane) {
    int sub = lane & (SUB - 1), slot_key = lane / SUB;
    long sr0 = ((long)g * tokens + t) * GROUP;
    const elem* qt = q_grouped + sr0 * HEAD_DIM;
    __syncwarp(); // the warp's previous token has finished reading qs and merge_in
#if OWN_PREFETCH
    if (shared_out) {
#pragma unroll
        for (int j = 0; j < GROUP; j++) {
#pragma unroll
            for (int e = 0; e < PER_LANE; e++) {
                int d = j * HEAD_DIM + lane * PER_LANE + e;
                copy_async4(&merge_in[d], &shared_out[sr0 * HEAD_DIM + d]);
            }
        }
        if (lane < GROUP) {
            copy_async4(&merge_in[GROUP * HEAD_DIM + lane], &shared_max[sr0 + lane]);
            copy_async4(&merge_in[GROUP * HEAD_DIM + GROUP + lane], &shared_sum[sr0 + lane]);
        }
    }
#endif
    for (int i = lane * 4; i < GROUP * HEAD_DIM; i += 128) {
        f4 v = ld4(qt + i);
        *reinterpret_cast<float4*>(&qs[0][0] + i) = make_float4(v.a * scale, v.b * scale, v.c * scale, v.d * scale);
    }
    __syncwarp();
    float acc[GROUP][PER_LANE], m[GROUP], l[GROUP];
#pragma unroll
    for (int j = 0; j < GROUP; j++) {
#pragma unroll
        for (int e = 0; e < PER_LANE; e++) acc[j][e] = 0.0f;
        m[j] = -INF_F;
        l[j] = 0.0f;
    }
    for (unsigned r = p.range_starts[t]; r < p.range_starts[t + 1]; r++) {
        unsigned end = p.ranges[2 * r + 1];
        for (unsigned first = max(p.ranges[2 * r], shared); first < end; first += STEP_KEYS) {
            int count = min((unsigned)STEP_KEYS, end - first);
            bool valid = slot_key < count;
            unsigned k = first + slot_key;
            // Every read of the step first: the key chunks, then the values.
            raw8 kr[CHUNKS];
            const elem* kk = src.k_rows + (long)(k - src.first) * src.k_stride + SUB * 2 * sub;
#pragma unroll
            for (int c = 0; c < CHUNKS; c++) {
                if (valid) kr[c] = ld_raw8(kk + 32 * c);
            }
            vraw vr[STEP_KEYS];
#pragma unroll
            for (int i = 0; i < STEP_KEYS; i++) {
                if (i < count)
                    vr[i] = ld_vraw(src.v_rows + (long)(first + i - src.first) * src.v_stride + lane * PER_LANE);
            }
            float s[GROUP];
#pragma unroll
            for (int j = 0; j < GROUP; j++) {
                float dot = 0.0f;
                if (valid) {
#pragma unroll
                    for (int c = 0; c < CHUNKS; c++) {
                        const float* qd = &qs[j][32 * c + SUB * 2 * sub];
#pragma unroll
                        for (int i = 0; i < 8; i++) dot += qd[i] * raw8_at(kr[c], i);
                    }
                }
                dot += __shfl_xor_sync(0xffffffffu, dot, 1);
                dot += __shfl_xor_sync(0xffffffffu, dot, 2);
                s[j] = valid ? dot + bias_at(p, t, k) : -INF_F;
            }
            float w[GROUP];
#pragma unroll
            for (int j = 0; j < GROUP; j++) {
                float top = s[j];
                for (int o = SUB; o < 32; o <<= 1) top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, o));
                float mn = fmaxf(m[j], top);
                float correction = m[j] > -INF_F ? expf(m[j] - mn) : 0.0f;
                w[j] = valid ? expf(s[j] - mn) : 0.0f;
                float sum = w[j];
                for (int o = SUB; o < 32; o <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
                l[j] = l[j] * correction + sum;
                m[j] = mn;
#pragma unroll
                for (int e = 0; e < PER_LANE; e++) acc[j][e] *= correction;
            }
#pragma unroll
            for (int i = 0; i < STEP_KEYS; i++) {
                float vl[PER_LANE];
#pragma unroll
                for (int e = 0; e < PER_LANE; e++) vl[e] = i < count ? vraw_at(vr[i], e) : 0.0f;
#pragma unroll
                for (int j = 0; j < GROUP; j++) {
                    float wi = __shfl_sync(0xffffffffu, w[j], i * SUB);
#pragma unroll
                    for (int e = 0; e < PER_LANE; e++) acc[j][e] += wi * vl[e];
                }
            }
        }
    }
#if OWN_PREFETCH
    copy_async_wait();
    __syncwarp(); // every lane's copies of the max and sum are visible
    const float* so = merge_in;
    const float* smax = merge_in + GROUP * HEAD_DIM;
    const float* ssum = smax + GROUP;
#else
    const float* so = shared_out + sr0 * HEAD_DIM;
    const float* smax = shared_max + sr0;
    const float* ssum = shared_sum + sr0;
#endif
    int query_heads = kv_heads * GROUP;
#pragma unroll
    for (int j = 0; j < GROUP; j++) {
        float ms = shared_out ? smax[j] : -INF_F;
        float mx = fmaxf(ms, m[j]);
        float fs = ms > -INF_F ? expf(ms - mx) * ssum[j] : 0.0f;
        float fo = m[j] > -INF_F ? expf(m[j] - mx) : 0.0f;
        float total = fs + fo * l[j];
        float inv = total > 0.0f ? 1.0f / total : 0.0f;
        elem* o = out + (long)t * query_heads * HEAD_DIM + (long)(g * GROUP + j) * HEAD_DIM + lane * PER_LANE;
#pragma unroll
        for (int e = 0; e < PER_LANE; e++) {
            float v = fo * acc[j][e];
            if (ms > -INF_F) v += fs * so[j * HEAD_DIM + lane * PER_LANE + e];
            o[e] = st(v * inv);
        }
    }
}

// One warp per (token, kv head), the keys read from the cache. Its parameters
// are attend_own_tiles' (one launch site); `tiles` is not read.
extern "C" __global__ void __launch_bounds__(32 * OWN_WARPS, OWN_MIN_BLOCKS)
attend_own(const elem* q_grouped, const elem* keys, const elem* values, const float* shared_out,
           const float* shared_max, const float* shared_sum, elem* out, Pass p, const unsigned* tiles,
           int tokens, int kv_heads, int capacity, float scale) {
    OWN_WARP_BUFFERS
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int t = blockIdx.x * OWN_WARPS + warp, g = blockIdx.y;
    if (t >= tokens) return;
    unsigned shared = p.row_shared[p.tok_row[t]];
    long slot = p.tok_slot[t];
    long base = (slot * kv_heads + g) * capacity * HEAD_DIM;
    OwnKeys src = {keys + base, values + base, shared, HEAD_DIM, HEAD_DIM};
    attend_token(q_grouped, src, shared_out, shared_max, shared_sum, out, p, t, g, shared, tokens, kv_heads,
                 scale, qs[warp], merge_in[warp], lane);
}

// Keys of a tile's window held in shared memory (TILE_KEYS is set by the host
// from what fits beside the queries; 0 leaves the tiled kernel out). Key rows
// are padded by 64 bytes so that the eight keys of a step, read by four lanes
// each with 16-byte loads, fall in distinct banks.
#ifndef TILE_KEYS
#define TILE_KEYS 0
#endif
#if TILE_KEYS > 0
#define TILE_K_STRIDE (HEAD_DIM + 64 / (int)sizeof(elem))

// One block of OWN_WARPS warps per (tile, kv head): a tile is a run of
// consecutive tokens of one row whose own keys lie in [lo, hi) (the host's
// own_tiles in kernels/packed.rs), so a prefill segment's keys are read from
// the cache once into shared memory instead of once per token; the warps then
// take the tile's tokens in turn. A window wider than TILE_KEYS (a lone token
// seeing many own keys) is read from the cache as attend_own does.
extern "C" __global__ void __launch_bounds__(32 * OWN_WARPS, OWN_MIN_BLOCKS)
attend_own_tiles(const elem* q_grouped, const elem* keys, const elem* values, const float* shared_out,
                 const float* shared_max, const float* shared_sum, elem* out, Pass p, const unsigned* tiles,
                 int tokens, int kv_heads, int capacity, float scale) {
    OWN_WARP_BUFFERS
    __shared__ __align__(16) elem tile_k[TILE_KEYS * TILE_K_STRIDE];
    __shared__ __align__(16) elem tile_v[TILE_KEYS * HEAD_DIM];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = blockIdx.y;
    const unsigned* tile = tiles + 4 * (long)blockIdx.x;
    int first = tile[0], count = tile[1];
    unsigned lo = tile[2], hi = tile[3];
    unsigned shared = p.row_shared[p.tok_row[first]];
    long slot = p.tok_slot[first];
    long base = (slot * kv_heads + g) * capacity * HEAD_DIM;
    OwnKeys src = {keys + base, values + base, shared, HEAD_DIM, HEAD_DIM};
    if (hi - lo <= TILE_KEYS) {
        // 16-byte pieces of each key and value row, all issued by the block at once.
        const int pieces = HEAD_DIM * (int)sizeof(elem) / 16;
        int n = (int)(hi - lo) * pieces;
        for (int i = threadIdx.x; i < n; i += blockDim.x) {
            int key = i / pieces, piece = i % pieces;
            long row = (long)(lo - shared + key) * HEAD_DIM;
            uint4 kpiece = reinterpret_cast<const uint4*>(keys + base + row)[piece];
            uint4 vpiece = reinterpret_cast<const uint4*>(values + base + row)[piece];
            reinterpret_cast<uint4*>(tile_k + key * TILE_K_STRIDE)[piece] = kpiece;
            reinterpret_cast<uint4*>(tile_v + key * HEAD_DIM)[piece] = vpiece;
        }
        __syncthreads();
        src = {tile_k, tile_v, lo, TILE_K_STRIDE, HEAD_DIM};
    }
    for (int i = warp; i < count; i += OWN_WARPS)
        attend_token(q_grouped, src, shared_out, shared_max, shared_sum, out, p, first + i, g, shared, tokens,
                     kv_heads, scale, qs[warp], merge_in[warp], lane);
}
#endif
#else
// Head dims that are not a multiple of 32: lanes over keys, 32 keys per step,
// each lane computing its key's scores whole from the queries in shared memory.
__device__ __forceinline__ void dot_group(const elem* key, const float (*q)[HEAD_DIM], float* s) {
#pragma unroll
    for (int j = 0; j < GROUP; j++) s[j] = 0.0f;
    for (int d = 0; d < HEAD_DIM; d++) {
        float k = ld(key[d]);
#pragma unroll
        for (int j = 0; j < GROUP; j++) s[j] += q[j][d] * k;
    }
}

extern "C" __global__ void attend_own(const elem* q_grouped, const elem* keys, const elem* values,
                                      const float* shared_out, const float* shared_max, const float* shared_sum,
                                      elem* out, Pass p, int tokens, int kv_heads, int capacity, float scale) {
    __shared__ float qs[OWN_WARPS][GROUP][HEAD_DIM];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int t = blockIdx.x * OWN_WARPS + warp, g = blockIdx.y;
    if (t >= tokens) return;
    unsigned shared = p.row_shared[p.tok_row[t]];
    long slot = p.tok_slot[t];
    LOAD_QUERIES
    float acc[GROUP][PER_LANE], m[GROUP], l[GROUP];
#pragma unroll
    for (int j = 0; j < GROUP; j++) {
#pragma unroll
        for (int e = 0; e < PER_LANE; e++) acc[j][e] = 0.0f;
        m[j] = -INF_F;
        l[j] = 0.0f;
    }
    const elem* kbase = keys + ((slot * kv_heads + g) * capacity) * HEAD_DIM;
    const elem* vbase = values + ((slot * kv_heads + g) * capacity) * HEAD_DIM;
    for (unsigned r = p.range_starts[t]; r < p.range_starts[t + 1]; r++) {
        unsigned end = p.ranges[2 * r + 1];
        for (unsigned first = max(p.ranges[2 * r], shared); first < end; first += 32) {
            unsigned k = first + lane;
            int count = min(32u, end - first);
            float s[GROUP];
            if (lane < count) {
                dot_group(kbase + (long)(k - shared) * HEAD_DIM, qs[warp], s);
                float b = bias_at(p, t, k);
#pragma unroll
                for (int j = 0; j < GROUP; j++) s[j] += b;
            } else {
#pragma unroll
                for (int j = 0; j < GROUP; j++) s[j] = -INF_F;
            }
            float w[GROUP];
#pragma unroll
            for (int j = 0; j < GROUP; j++) {
                float mn = fmaxf(m[j], warp_max(s[j]));
                float correction = m[j] > -INF_F ? expf(m[j] - mn) : 0.0f;
                w[j] = lane < count ? expf(s[j] - mn) : 0.0f;
                l[j] = l[j] * correction + warp_sum(w[j]);
#pragma unroll
                for (int e = 0; e < PER_LANE; e++) acc[j][e] *= correction;
                m[j] = mn;
            }
            for (int i = 0; i < count; i++) {
                const elem* vv = vbase + (long)(first + i - shared) * HEAD_DIM;
                float vl[PER_LANE];
#pragma unroll
                for (int e = 0; e < PER_LANE; e++) {
                    int d = e * 32 + lane;
                    vl[e] = d < HEAD_DIM ? ld(vv[d]) : 0.0f;
                }
#pragma unroll
                for (int j = 0; j < GROUP; j++) {
                    float wi = __shfl_sync(0xffffffffu, w[j], i);
#pragma unroll
                    for (int e = 0; e < PER_LANE; e++) acc[j][e] += wi * vl[e];
                }
            }
        }
    }
#define OWN_DIM(e) ((e) * 32 + lane)
    MERGE_AND_STORE(OWN_DIM)
}
#endif
