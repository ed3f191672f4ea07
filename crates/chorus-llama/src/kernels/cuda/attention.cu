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

// The log-sum-exp merge of a query row's shared part (max `ms`, sum at
// `shared_sum`, read only when the row saw a shared key) with its own part
// (max `m`, sum `l`): the weights of the shared output and of the own
// accumulator, and the normaliser. Every own-part kernel merges with it.
struct Merge {
    float shared, own, inv;
};

__device__ __forceinline__ Merge lse_merge(float ms, const float* shared_sum, float m, float l) {
    float mx = fmaxf(ms, m);
    float fs = ms > -INF_F ? expf(ms - mx) * *shared_sum : 0.0f;
    float fo = m > -INF_F ? expf(m - mx) : 0.0f;
    float total = fs + fo * l;
    return {fs, fo, total > 0.0f ? 1.0f / total : 0.0f};
}

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
        Merge w = lse_merge(ms, &ssum[j], m[j], l[j]);
        elem* o = out + (long)t * query_heads * HEAD_DIM + (long)(g * GROUP + j) * HEAD_DIM + lane * PER_LANE;
#pragma unroll
        for (int e = 0; e < PER_LANE; e++) {
            float v = w.own * acc[j][e];
            if (ms > -INF_F) v += w.shared * so[j * HEAD_DIM + lane * PER_LANE + e];
            o[e] = st(v * w.inv);
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
#if TILE_KEYS > 64
#error "a tile's key mask is one 64-bit word"
#endif

// This block's tile (the host's OwnTile: first token, token count, own-key
// window [lo, hi)) and its row's shared-context key count.
struct TileHead {
    int first, count;
    unsigned lo, hi, shared;
};

__device__ __forceinline__ TileHead tile_head(const unsigned* tiles, const Pass& p) {
    const unsigned* tile = tiles + 4 * (long)blockIdx.x;
    int first = tile[0];
    return {first, (int)tile[1], tile[2], tile[3], p.row_shared[p.tok_row[first]]};
}

// Tensor cores for a tile whose keys fit (16-bit elements, sm_80 and newer):
// one warp computes a 16-token × window score block with mma.sync instead of
// one token at a time with scalar dot products, so the own part of a prefill
// pass costs a few dozen tensor-core instructions per tile and warp.
#if (defined(CHORUS_BF16) || defined(CHORUS_F16)) && HEAD_DIM % 16 == 0 && __CUDA_ARCH__ >= 800
#define OWN_MMA 1
#else
#define OWN_MMA 0
#endif

#if OWN_MMA
// Rows padded by 16 bytes: the fragment loads of eight keys × four lanes then
// fall in 32 distinct banks.
#define TILE_K_STRIDE (HEAD_DIM + 8)
#define TILE_V_STRIDE (HEAD_DIM + 8)
// Whole 16-key chunks (the P·V product's k step), zero beyond the window.
#define TILE_ROWS ((TILE_KEYS + 15) / 16 * 16)
#define OWN_TILE_MIN_BLOCKS 4
#else
#define TILE_K_STRIDE (HEAD_DIM + 64 / (int)sizeof(elem))
#define TILE_V_STRIDE HEAD_DIM
#define TILE_ROWS TILE_KEYS
#define OWN_TILE_MIN_BLOCKS OWN_MIN_BLOCKS
#endif

#if OWN_MMA
// D += A·B for one m16n8k16 fragment (PTX ISA "Matrix fragments for
// mma.m16n8k16"): A holds rows lane/4 and lane/4 + 8, B column lane/4,
// D rows lane/4 and lane/4 + 8 at columns 2·(lane%4) and +1.
__device__ __forceinline__ void mma_16816(float* d, const unsigned* a, unsigned b0, unsigned b1) {
#if defined(CHORUS_BF16)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

__device__ __forceinline__ unsigned pair_at(const elem* p) { return *reinterpret_cast<const unsigned*>(p); }
__device__ __forceinline__ unsigned pair_of(elem first, elem second) {
    return (unsigned)first | ((unsigned)second << 16);
}

// Two f32 weights as a 16-bit pair plus the pair of what rounding left over:
// P·V then runs as two products whose sum carries ~16 bits of each weight,
// close to the f32 weights of the scalar kernels (one 16-bit P would round
// every weight by up to 2⁻⁹).
__device__ __forceinline__ void split_pair(float x, float y, unsigned& hi, unsigned& lo) {
    elem xh = st(x), yh = st(y);
    hi = pair_of(xh, yh);
    lo = pair_of(st(x - ld(xh)), st(y - ld(yh)));
}

// The keys of [lo, lo + keys) that token t sees, as bits (bit i: key lo + i).
__device__ __forceinline__ unsigned long long seen_keys(const Pass& p, int t, unsigned lo, int keys) {
    unsigned long long bits = 0;
    for (unsigned r = p.range_starts[t]; r < p.range_starts[t + 1]; r++) {
        int a = max((int)p.ranges[2 * r] - (int)lo, 0), b = min((int)p.ranges[2 * r + 1] - (int)lo, keys);
        if (a < b) bits |= (b - a == 64 ? ~0ull : ((1ull << (b - a)) - 1)) << a;
    }
    return bits;
}

// One warp's state over a tile: group member j of up to 16 consecutive tokens
// of one row, one per fragment row (rows past the tile's tokens compute on its
// first token and are not stored); the output accumulators, and per row the
// running max and sum of the softmax.
struct TileRows {
    const elem* q[2]; // the query rows lane/4 and lane/4 + 8, at this lane's column
    int t[2];
    bool stored[2];
    float o[HEAD_DIM / 8][4];
    float m[2], l[2];
};

__device__ __forceinline__ void tile_rows_init(TileRows& w, const elem* q_grouped, int first, int count, int g,
                                               int j, int tokens, int lane) {
    int row = lane >> 2, col = 2 * (lane & 3);
#pragma unroll
    for (int r = 0; r < 2; r++) {
        w.stored[r] = row + 8 * r < count;
        w.t[r] = first + (w.stored[r] ? row + 8 * r : 0);
        w.q[r] = q_grouped + (((long)g * tokens + w.t[r]) * GROUP + j) * HEAD_DIM + col;
        w.m[r] = -INF_F;
        w.l[r] = 0.0f;
    }
#pragma unroll
    for (int n = 0; n < HEAD_DIM / 8; n++) w.o[n][0] = w.o[n][1] = w.o[n][2] = w.o[n][3] = 0.0f;
}

// The warp's rows against `keys` keys staged in shared memory (key i is key
// start + i of the row's key space; rows up to the next multiple of 16 are
// zero): scores on tensor cores, scale, bias and visibility, the online
// softmax update, then P·V on tensor cores (a score fragment is the A
// fragment of P, 16 keys per k step). KT: the stage's capacity in 8-key blocks.
template <int KT>
__device__ __forceinline__ void tile_rows_attend(TileRows& w, const elem* stage_k, const elem* stage_v,
                                                 unsigned start, int keys, const Pass& p, float scale, int lane) {
    int row = lane >> 2, col = 2 * (lane & 3);
    int chunks = (keys + 15) / 16;
    float s[KT][4];
#pragma unroll
    for (int n = 0; n < KT; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int c = 0; c < HEAD_DIM / 16; c++) {
        unsigned a[4] = {pair_at(w.q[0] + 16 * c), pair_at(w.q[1] + 16 * c), pair_at(w.q[0] + 16 * c + 8),
                         pair_at(w.q[1] + 16 * c + 8)};
#pragma unroll
        for (int n = 0; n < KT; n++) {
            if (n < 2 * chunks) {
                const elem* k = stage_k + (8 * n + row) * TILE_K_STRIDE + 16 * c + col;
                mma_16816(s[n], a, pair_at(k), pair_at(k + 8));
            }
        }
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        int t = w.t[r];
        unsigned long long seen = seen_keys(p, t, start, keys);
        float bias = p.bias_value[t];
        unsigned b_lo = p.bias_range[2 * t], b_hi = p.bias_range[2 * t + 1];
        float top = -INF_F;
#pragma unroll
        for (int n = 0; n < KT; n++) {
#pragma unroll
            for (int e = 0; e < 2; e++) {
                int key = 8 * n + col + e;
                unsigned k = start + key;
                float v = s[n][2 * r + e] * scale + ((bias != 0.0f && k >= b_lo && k < b_hi) ? bias : 0.0f);
                v = (key < keys && ((seen >> key) & 1ull)) ? v : -INF_F;
                s[n][2 * r + e] = v;
                top = fmaxf(top, v);
            }
        }
        top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, 1));
        top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, 2));
        float mn = fmaxf(w.m[r], top);
        float correction = w.m[r] > -INF_F ? expf(w.m[r] - mn) : 0.0f;
        float sum = 0.0f;
#pragma unroll
        for (int n = 0; n < KT; n++) {
#pragma unroll
            for (int e = 0; e < 2; e++) {
                float v = s[n][2 * r + e];
                float x = v > -INF_F ? expf(v - mn) : 0.0f;
                s[n][2 * r + e] = x;
                sum += x;
            }
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        w.l[r] = w.l[r] * correction + sum;
        w.m[r] = mn;
#pragma unroll
        for (int n = 0; n < HEAD_DIM / 8; n++) {
            w.o[n][2 * r] *= correction;
            w.o[n][2 * r + 1] *= correction;
        }
    }
#pragma unroll
    for (int c = 0; c < KT / 2; c++) {
        if (c < chunks) {
            unsigned hi[4], lo[4];
            split_pair(s[2 * c][0], s[2 * c][1], hi[0], lo[0]);
            split_pair(s[2 * c][2], s[2 * c][3], hi[1], lo[1]);
            split_pair(s[2 * c + 1][0], s[2 * c + 1][1], hi[2], lo[2]);
            split_pair(s[2 * c + 1][2], s[2 * c + 1][3], hi[3], lo[3]);
            const elem* v = stage_v + (16 * c + col) * TILE_V_STRIDE + row;
#pragma unroll
            for (int n = 0; n < HEAD_DIM / 8; n++) {
                const elem* vn = v + 8 * n;
                unsigned b0 = pair_of(vn[0], vn[TILE_V_STRIDE]);
                unsigned b1 = pair_of(vn[8 * TILE_V_STRIDE], vn[9 * TILE_V_STRIDE]);
                mma_16816(w.o[n], hi, b0, b1);
                mma_16816(w.o[n], lo, b0, b1);
            }
        }
    }
}

// Writes the warp's stored rows to `out` (head g·GROUP + j), merged by
// log-sum-exp with the shared part when one was computed apart (shared_out
// not null), as attend_token does it.
__device__ __forceinline__ void tile_rows_store(const TileRows& w, const float* shared_out, const float* shared_max,
                                                const float* shared_sum, elem* out, int g, int j, int tokens,
                                                int kv_heads, int lane) {
    int col = 2 * (lane & 3);
    int query_heads = kv_heads * GROUP;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        if (!w.stored[r]) continue;
        int t = w.t[r];
        long sr = ((long)g * tokens + t) * GROUP + j;
        float ms = shared_out ? shared_max[sr] : -INF_F;
        Merge f = lse_merge(ms, shared_sum + sr, w.m[r], w.l[r]);
        elem* dst = out + (long)t * query_heads * HEAD_DIM + (long)(g * GROUP + j) * HEAD_DIM + col;
        const float* so = ms > -INF_F ? shared_out + sr * HEAD_DIM + col : nullptr;
#pragma unroll
        for (int n = 0; n < HEAD_DIM / 8; n++) {
            float x = f.own * w.o[n][2 * r], y = f.own * w.o[n][2 * r + 1];
            if (so) {
                float2 sv = *reinterpret_cast<const float2*>(so + 8 * n);
                x += f.shared * sv.x;
                y += f.shared * sv.y;
            }
            *reinterpret_cast<unsigned*>(dst + 8 * n) = pair_of(st(x * f.inv), st(y * f.inv));
        }
    }
}
#endif

// One block of OWN_WARPS warps per (tile, kv head): a tile is a run of
// consecutive tokens of one row whose own keys lie in [lo, hi) (the host's
// own_tiles in kernels/packed.rs), so a prefill segment's keys are read from
// the cache once into shared memory instead of once per token; then each warp
// takes a group member's tile of tokens on tensor cores (OWN_MMA), or the
// warps take the tile's tokens in turn. A window wider than TILE_KEYS (a lone
// token seeing many own keys) is read from the cache as attend_own does.
extern "C" __global__ void __launch_bounds__(32 * OWN_WARPS, OWN_TILE_MIN_BLOCKS)
attend_own_tiles(const elem* q_grouped, const elem* keys, const elem* values, const float* shared_out,
                 const float* shared_max, const float* shared_sum, elem* out, Pass p, const unsigned* tiles,
                 int tokens, int kv_heads, int capacity, float scale) {
    OWN_WARP_BUFFERS
    __shared__ __align__(16) elem tile_k[TILE_ROWS * TILE_K_STRIDE];
    __shared__ __align__(16) elem tile_v[TILE_ROWS * TILE_V_STRIDE];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = blockIdx.y;
    TileHead tile = tile_head(tiles, p);
    int first = tile.first, count = tile.count;
    unsigned lo = tile.lo, hi = tile.hi, shared = tile.shared;
    long slot = p.tok_slot[first];
    long base = (slot * kv_heads + g) * capacity * HEAD_DIM;
    OwnKeys src = {keys + base, values + base, shared, HEAD_DIM, HEAD_DIM};
    if (hi - lo <= TILE_KEYS) {
        // 16-byte pieces of each key and value row, all issued by the block at
        // once; with tensor cores, the rows up to the next 16-key chunk are zero.
        const int pieces = HEAD_DIM * (int)sizeof(elem) / 16;
        int filled = OWN_MMA ? ((int)(hi - lo) + 15) / 16 * 16 : (int)(hi - lo);
        int n = filled * pieces;
        for (int i = threadIdx.x; i < n; i += blockDim.x) {
            int key = i / pieces, piece = i % pieces;
            uint4 kpiece = make_uint4(0, 0, 0, 0), vpiece = make_uint4(0, 0, 0, 0);
            if (key < (int)(hi - lo)) {
                long row = (long)(lo - shared + key) * HEAD_DIM;
                kpiece = reinterpret_cast<const uint4*>(keys + base + row)[piece];
                vpiece = reinterpret_cast<const uint4*>(values + base + row)[piece];
            }
            reinterpret_cast<uint4*>(tile_k + key * TILE_K_STRIDE)[piece] = kpiece;
            reinterpret_cast<uint4*>(tile_v + key * TILE_V_STRIDE)[piece] = vpiece;
        }
        __syncthreads();
#if OWN_MMA
        for (int j = warp; j < GROUP; j += OWN_WARPS) {
            TileRows w;
            tile_rows_init(w, q_grouped, first, count, g, j, tokens, lane);
            if (hi > lo) tile_rows_attend<TILE_ROWS / 8>(w, tile_k, tile_v, lo, (int)(hi - lo), p, scale, lane);
            tile_rows_store(w, shared_out, shared_max, shared_sum, out, g, j, tokens, kv_heads, lane);
        }
        return;
#else
        src = {tile_k, tile_v, lo, TILE_K_STRIDE, TILE_V_STRIDE};
#endif
    }
    for (int i = warp; i < count; i += OWN_WARPS)
        attend_token(q_grouped, src, shared_out, shared_max, shared_sum, out, p, first + i, g, shared, tokens,
                     kv_heads, scale, qs[warp], merge_in[warp], lane);
}

#if OWN_MMA
// Keys per stage of attend_fused (at most 64: one visibility word). 32 keys
// keep a warp within 128 registers without spills (ptxas, sm_90); 64 halve
// the stages and their block-wide waits but need up to 168 registers.
#ifndef FUSED_KEYS
#define FUSED_KEYS 32
#endif
// Warps per SM the register budget allows (128 registers a thread, or 168
// with 64 keys), as blocks of GROUP warps.
#define FUSED_WARPS_PER_SM (FUSED_KEYS > 32 ? 12 : 16)
#define FUSED_MIN_BLOCKS (FUSED_WARPS_PER_SM / GROUP > 0 ? FUSED_WARPS_PER_SM / GROUP : 1)

__device__ __forceinline__ void copy_async16(void* dst, const void* src) {
    unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(d), "l"(src));
}

// Copies `keys` key and value rows (HEAD_DIM apart) into the block's stage,
// zero up to the next multiple of 16 keys, and waits for the whole block.
__device__ __forceinline__ void stage_keys(elem* stage_k, elem* stage_v, const elem* k_rows, const elem* v_rows,
                                           int keys) {
    const int pieces = HEAD_DIM * (int)sizeof(elem) / 16;
    int filled = (keys + 15) / 16 * 16;
    for (int i = threadIdx.x; i < filled * pieces; i += blockDim.x) {
        int key = i / pieces, piece = i % pieces;
        uint4* dk = reinterpret_cast<uint4*>(stage_k + key * TILE_K_STRIDE) + piece;
        uint4* dv = reinterpret_cast<uint4*>(stage_v + key * TILE_V_STRIDE) + piece;
        if (key < keys) {
            copy_async16(dk, reinterpret_cast<const uint4*>(k_rows + (long)key * HEAD_DIM) + piece);
            copy_async16(dv, reinterpret_cast<const uint4*>(v_rows + (long)key * HEAD_DIM) + piece);
        } else {
            *dk = make_uint4(0, 0, 0, 0);
            *dv = make_uint4(0, 0, 0, 0);
        }
    }
    copy_async_wait();
    __syncthreads();
}

// The whole attention of a prefill tile in one kernel: the run's shared
// context (`shared_keys`, [kv head][shared_capacity][dim], null when the pass
// has none) and then the tile's own keys, staged FUSED_KEYS at a time and
// folded into one online softmax per query row. One block of GROUP warps per
// (tile, kv head), warp j taking query head g·GROUP + j of the tile's tokens.
// Why: the split path writes the shared part's scores, probabilities and f32
// output to memory and reads them back (three kernels and two GEMMs per
// layer); here a tile reads the context's keys from L2 and writes only its
// output.
extern "C" __global__ void __launch_bounds__(32 * GROUP, FUSED_MIN_BLOCKS)
attend_fused(const elem* q_grouped, const elem* keys, const elem* values, const elem* shared_keys,
             const elem* shared_values, elem* out, Pass p, const unsigned* tiles, int tokens, int kv_heads,
             int capacity, int shared_capacity, float scale) {
    __shared__ __align__(16) elem stage_k[FUSED_KEYS * TILE_K_STRIDE];
    __shared__ __align__(16) elem stage_v[FUSED_KEYS * TILE_V_STRIDE];
    int lane = threadIdx.x & 31, j = threadIdx.x >> 5, g = blockIdx.y;
    TileHead tile = tile_head(tiles, p);
    int first = tile.first, count = tile.count;
    unsigned lo = tile.lo, hi = tile.hi, shared = tile.shared;
    TileRows w;
    tile_rows_init(w, q_grouped, first, count, g, j, tokens, lane);
    // Stages [0, shared_stages) hold the context's keys, the rest the tile's own.
    int shared_stages = shared_keys ? (int)((shared + FUSED_KEYS - 1) / FUSED_KEYS) : 0;
    int stages = shared_stages + (int)((hi - lo + FUSED_KEYS - 1) / FUSED_KEYS);
    long shared_head = (long)g * shared_capacity * HEAD_DIM;
    long own_head = ((long)p.tok_slot[first] * kv_heads + g) * capacity * HEAD_DIM;
    for (int stage = 0; stage < stages; stage++) {
        bool own = stage >= shared_stages;
        unsigned start = own ? lo + (unsigned)(stage - shared_stages) * FUSED_KEYS : (unsigned)stage * FUSED_KEYS;
        int n = (int)min((unsigned)FUSED_KEYS, (own ? hi : shared) - start);
        const elem* k_rows = own ? keys + own_head + (long)(start - shared) * HEAD_DIM
                                 : shared_keys + shared_head + (long)start * HEAD_DIM;
        const elem* v_rows = own ? values + own_head + (long)(start - shared) * HEAD_DIM
                                 : shared_values + shared_head + (long)start * HEAD_DIM;
        stage_keys(stage_k, stage_v, k_rows, v_rows, n);
        tile_rows_attend<FUSED_KEYS / 8>(w, stage_k, stage_v, start, n, p, scale, lane);
        __syncthreads(); // the stage is read before the next copy
    }
    tile_rows_store(w, nullptr, nullptr, nullptr, out, g, j, tokens, kv_heads, lane);
}
#endif
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
                                      elem* out, Pass p, const unsigned* tiles, int tokens, int kv_heads,
                                      int capacity, float scale) {
    __shared__ float qs[OWN_WARPS][GROUP][HEAD_DIM];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int t = blockIdx.x * OWN_WARPS + warp, g = blockIdx.y;
    if (t >= tokens) return;
    unsigned shared = p.row_shared[p.tok_row[t]];
    long slot = p.tok_slot[t];
    const elem* qt = q_grouped + ((long)g * tokens + t) * GROUP * HEAD_DIM;
    for (int i = lane; i < GROUP * HEAD_DIM; i += 32) qs[warp][i / HEAD_DIM][i % HEAD_DIM] = ld(qt[i]) * scale;
    __syncwarp();
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
    int query_heads = kv_heads * GROUP;
#pragma unroll
    for (int j = 0; j < GROUP; j++) {
        long sr = ((long)g * tokens + t) * GROUP + j;
        float ms = shared_out ? shared_max[sr] : -INF_F;
        Merge w = lse_merge(ms, shared_sum + sr, m[j], l[j]);
#pragma unroll
        for (int e = 0; e < PER_LANE; e++) {
            int d = e * 32 + lane;
            if (d >= HEAD_DIM) continue;
            float o = w.own * acc[j][e];
            if (ms > -INF_F) o += w.shared * shared_out[sr * HEAD_DIM + d];
            out[(long)t * query_heads * HEAD_DIM + (long)(g * GROUP + j) * HEAD_DIM + d] = st(o * w.inv);
        }
    }
}
#endif
