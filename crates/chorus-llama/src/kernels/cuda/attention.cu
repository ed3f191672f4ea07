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
// (head, pair) for every query, key and value head of the token. The halves
// follow transformers' rotate_half, with cos and sin rounded to the dtype as
// transformers casts them.
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
// member): scale, bias and visibility applied to S (f32, from the q·Kᵀ GEMM,
// overwritten with the exponentials); writes the normalised probabilities P
// (elem, for the P·V GEMM) and the row's max and sum (for the log-sum-exp
// merge). A row that sees no shared key gets max -inf and sum 0.
extern "C" __global__ void shared_softmax(float* scores, elem* probs, float* row_max, float* row_sum,
                                          Pass p, long rows, int tokens, int shared, float scale) {
    long r = (long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    int t = (int)((r / GROUP) % tokens);
    unsigned limit = p.row_shared[p.tok_row[t]];
    float* s = scores + r * shared;
    float best = -INF_F;
    for (int k = lane; k < shared; k += 32) {
        float v = -INF_F;
        if ((unsigned)k < limit && sees(p, t, k)) v = s[k] * scale + bias_at(p, t, k);
        s[k] = v;
        best = fmaxf(best, v);
    }
    best = warp_max(best);
    float sum = 0.0f;
    for (int k = lane; k < shared; k += 32) {
        float e = best > -INF_F && s[k] > -INF_F ? expf(s[k] - best) : 0.0f;
        s[k] = e;
        sum += e;
    }
    sum = warp_sum(sum);
    float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int k = lane; k < shared; k += 32) probs[r * shared + k] = st(s[k] * inv);
    if (lane == 0) {
        row_max[r] = best;
        row_sum[r] = sum;
    }
}

#define PER_LANE ((HEAD_DIM + 31) / 32)
#define WARPS 4

// The own part of attention and the merge with the shared part, one block of
// 4 warps per (token, kv head): the GROUP query heads of the token attend to
// their visible own keys (online softmax, keys spread over the warps, each
// lane holding every 32nd dimension), then combine with the shared part's
// (max, sum, normalised output) by log-sum-exp and write the token's output
// heads. `shared_out` is null when the pass has no shared part.
extern "C" __global__ void attend_own(const elem* q_grouped, const elem* keys, const elem* values,
                                      const float* shared_out, const float* shared_max, const float* shared_sum,
                                      elem* out, Pass p, int tokens, int kv_heads, int capacity, float scale) {
    __shared__ float part_m[WARPS][GROUP];
    __shared__ float part_l[WARPS][GROUP];
    __shared__ float part_acc[WARPS][GROUP][PER_LANE * 32];
    int t = blockIdx.x, g = blockIdx.y;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    unsigned shared = p.row_shared[p.tok_row[t]];
    long slot = p.tok_slot[t];
    float q[GROUP][PER_LANE], acc[GROUP][PER_LANE], m[GROUP], l[GROUP];
#pragma unroll
    for (int j = 0; j < GROUP; j++) {
        const elem* qj = q_grouped + (((long)g * tokens + t) * GROUP + j) * HEAD_DIM;
#pragma unroll
        for (int e = 0; e < PER_LANE; e++) {
            int d = e * 32 + lane;
            q[j][e] = d < HEAD_DIM ? ld(qj[d]) : 0.0f;
            acc[j][e] = 0.0f;
        }
        m[j] = -INF_F;
        l[j] = 0.0f;
    }
    const elem* kbase = keys + ((slot * kv_heads + g) * capacity) * HEAD_DIM;
    const elem* vbase = values + ((slot * kv_heads + g) * capacity) * HEAD_DIM;
    for (unsigned r = p.range_starts[t]; r < p.range_starts[t + 1]; r++) {
        unsigned start = max(p.ranges[2 * r], shared), end = p.ranges[2 * r + 1];
        for (unsigned k = start + warp; k < end; k += WARPS) {
            const elem* kk = kbase + (long)(k - shared) * HEAD_DIM;
            const elem* vv = vbase + (long)(k - shared) * HEAD_DIM;
            float kv[PER_LANE], vl[PER_LANE];
#pragma unroll
            for (int e = 0; e < PER_LANE; e++) {
                int d = e * 32 + lane;
                kv[e] = d < HEAD_DIM ? ld(kk[d]) : 0.0f;
                vl[e] = d < HEAD_DIM ? ld(vv[d]) : 0.0f;
            }
            float b = bias_at(p, t, k);
#pragma unroll
            for (int j = 0; j < GROUP; j++) {
                float dot = 0.0f;
#pragma unroll
                for (int e = 0; e < PER_LANE; e++) dot += q[j][e] * kv[e];
                float s = warp_sum(dot) * scale + b;
                float mn = fmaxf(m[j], s);
                float correction = expf(m[j] - mn), w = expf(s - mn);
                l[j] = l[j] * correction + w;
#pragma unroll
                for (int e = 0; e < PER_LANE; e++) acc[j][e] = acc[j][e] * correction + w * vl[e];
                m[j] = mn;
            }
        }
    }
#pragma unroll
    for (int j = 0; j < GROUP; j++) {
        if (lane == 0) {
            part_m[warp][j] = m[j];
            part_l[warp][j] = l[j];
        }
#pragma unroll
        for (int e = 0; e < PER_LANE; e++) part_acc[warp][j][e * 32 + lane] = acc[j][e];
    }
    __syncthreads();
    int query_heads = kv_heads * GROUP;
    for (int j = warp; j < GROUP; j += WARPS) {
        long sr = ((long)g * tokens + t) * GROUP + j;
        float ms = shared_out ? shared_max[sr] : -INF_F;
        float mx = ms;
        for (int w = 0; w < WARPS; w++) mx = fmaxf(mx, part_m[w][j]);
        float total = 0.0f, fs = 0.0f;
        if (ms > -INF_F) {
            fs = expf(ms - mx) * shared_sum[sr];
            total += fs;
        }
        float fw[WARPS];
        for (int w = 0; w < WARPS; w++) {
            fw[w] = part_m[w][j] > -INF_F ? expf(part_m[w][j] - mx) : 0.0f;
            total += fw[w] * part_l[w][j];
        }
        float inv = total > 0.0f ? 1.0f / total : 0.0f;
        for (int e = 0; e < PER_LANE; e++) {
            int d = e * 32 + lane;
            if (d >= HEAD_DIM) continue;
            float o = 0.0f;
            if (ms > -INF_F) o += fs * shared_out[sr * HEAD_DIM + d];
            for (int w = 0; w < WARPS; w++) o += fw[w] * part_acc[w][j][d];
            out[(long)t * query_heads * HEAD_DIM + (long)(g * GROUP + j) * HEAD_DIM + d] = st(o * inv);
        }
    }
}
