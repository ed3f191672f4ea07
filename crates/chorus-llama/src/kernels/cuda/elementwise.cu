// Elementwise kernels, row gathers and cache copies (module `ops`).

// out[t] = table[tokens[t]] (one block per token).
extern "C" __global__ void embed(const elem* table, const unsigned* tokens, elem* out, int cols) {
    long t = blockIdx.x;
    const elem* row = table + (long)tokens[t] * cols;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) out[t * cols + c] = row[c];
}

// out[i] = x[rows[i]] (one block per output row).
extern "C" __global__ void gather_rows(const elem* x, const unsigned* rows, elem* out, int cols) {
    long i = blockIdx.x;
    const elem* row = x + (long)rows[i] * cols;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) out[i * cols + c] = row[c];
}

#define ROW_CACHE 4

__device__ __forceinline__ float square_sum8(f8 v) {
    return v.lo.a * v.lo.a + v.lo.b * v.lo.b + v.lo.c * v.lo.c + v.lo.d * v.lo.d + v.hi.a * v.hi.a +
           v.hi.b * v.hi.b + v.hi.c * v.hi.c + v.hi.d * v.hi.d;
}

__device__ __forceinline__ f4 norm4(f4 v, f4 w, float scale) {
    return {w.a * rt(v.a * scale), w.b * rt(v.b * scale), w.c * rt(v.c * scale), w.d * rt(v.d * scale)};
}

// RMSNorm of one row per block, as transformers: x·rsqrt(mean(x²)+eps) in f32,
// rounded to the dtype, times the weight. When the row fits in ROW_CACHE
// 16-byte vectors per thread (every Llama up to 8192 wide at 256 threads) it
// is read once, with all its loads in flight before the block's sum;
// otherwise four elements per access, the row read twice.
extern "C" __global__ void rms_norm(const elem* x, const elem* weight, elem* out, int cols, float eps) {
    __shared__ float scratch[32];
    long r = blockIdx.x;
    const elem* row = x + r * cols;
    elem* o = out + r * cols;
    float sum = 0.0f;
    if ((cols & 7) == 0 && cols <= (int)blockDim.x * 8 * ROW_CACHE) {
        f8 v[ROW_CACHE];
#pragma unroll
        for (int i = 0; i < ROW_CACHE; i++) {
            int c = (threadIdx.x + i * blockDim.x) * 8;
            if (c < cols) v[i] = ld8(row + c);
        }
#pragma unroll
        for (int i = 0; i < ROW_CACHE; i++)
            if ((threadIdx.x + i * blockDim.x) * 8 < cols) sum += square_sum8(v[i]);
        sum = block_sum(sum, scratch);
        float scale = 1.0f / sqrtf(sum / (float)cols + eps);
#pragma unroll
        for (int i = 0; i < ROW_CACHE; i++) {
            int c = (threadIdx.x + i * blockDim.x) * 8;
            if (c < cols) {
                f8 w = ld8(weight + c);
                st8(o + c, {norm4(v[i].lo, w.lo, scale), norm4(v[i].hi, w.hi, scale)});
            }
        }
        return;
    }
    bool wide = (cols & 3) == 0;
    if (wide) {
        for (int c = threadIdx.x * 4; c < cols; c += blockDim.x * 4) {
            f4 v = ld4(row + c);
            sum += v.a * v.a + v.b * v.b + v.c * v.c + v.d * v.d;
        }
    } else {
        for (int c = threadIdx.x; c < cols; c += blockDim.x) {
            float v = ld(row[c]);
            sum += v * v;
        }
    }
    sum = block_sum(sum, scratch);
    float scale = 1.0f / sqrtf(sum / (float)cols + eps);
    if (wide) {
        for (int c = threadIdx.x * 4; c < cols; c += blockDim.x * 4) st4(o + c, norm4(ld4(row + c), ld4(weight + c), scale));
    } else {
        for (int c = threadIdx.x; c < cols; c += blockDim.x) o[c] = st(ld(weight[c]) * rt(ld(row[c]) * scale));
    }
}

__device__ __forceinline__ float silu_times(float g, float u) { return rt(g / (1.0f + expf(-g))) * u; }

__device__ __forceinline__ f4 silu_times4(f4 g, f4 u) {
    return {silu_times(g.a, u.a), silu_times(g.b, u.b), silu_times(g.c, u.c), silu_times(g.d, u.d)};
}

// silu(gate)·up over [rows][2·inter] (gate columns, then up), one block per
// row (no 64-bit division per element). When the width allows, 16-byte
// accesses, SWIGLU_CACHE of them per operand issued before any is used and
// kept packed (4 registers each for 16-bit types) until then: the kernel is
// pure memory traffic, and it reaches HBM bandwidth only with many loads in
// flight (unpacked to floats, two per operand took 68 registers and ran at
// about half of it). Four cover a row of 8192 with 256 threads; f32 keeps two
// (its packed loads take twice the registers).
#if defined(CHORUS_BF16) || defined(CHORUS_F16)
#define SWIGLU_CACHE 4
#else
#define SWIGLU_CACHE 2
#endif

extern "C" __global__ void __launch_bounds__(256, 4) swiglu(const elem* gate_up, elem* out, int inter) {
    long r = blockIdx.x;
    const elem* gate = gate_up + r * 2 * inter;
    const elem* up = gate + inter;
    elem* o = out + r * inter;
    if ((inter & 7) == 0) {
        int stride = blockDim.x * 8;
        for (int c0 = threadIdx.x * 8; c0 < inter; c0 += stride * SWIGLU_CACHE) {
            raw8 g[SWIGLU_CACHE], u[SWIGLU_CACHE];
#pragma unroll
            for (int i = 0; i < SWIGLU_CACHE; i++) {
                int c = c0 + i * stride;
                if (c < inter) {
                    g[i] = ld_raw8(gate + c);
                    u[i] = ld_raw8(up + c);
                }
            }
#pragma unroll
            for (int i = 0; i < SWIGLU_CACHE; i++) {
                int c = c0 + i * stride;
                if (c < inter) {
                    f8 gi = unpack8(g[i]), ui = unpack8(u[i]);
                    st8(o + c, {silu_times4(gi.lo, ui.lo), silu_times4(gi.hi, ui.hi)});
                }
            }
        }
        return;
    }
    if ((inter & 3) == 0) {
        for (int c = threadIdx.x * 4; c < inter; c += blockDim.x * 4) st4(o + c, silu_times4(ld4(gate + c), ld4(up + c)));
        return;
    }
    for (int c = threadIdx.x; c < inter; c += blockDim.x) o[c] = st(silu_times(ld(gate[c]), ld(up[c])));
}

// y[r][c] += bias[c] over [rows][cols], grid-stride.
extern "C" __global__ void add_bias(elem* y, const elem* bias, int cols, long total) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x)
        y[i] = st(ld(y[i]) + ld(bias[i % cols]));
}

// Copies `keep` tokens of slot `from[s]` into slot `s` of a store with another
// capacity (growth and slot selection). Grid: (new slots, kv heads); one layer
// per launch.
extern "C" __global__ void remap_kv(const elem* src, elem* dst, const unsigned* from, int heads,
                                    int src_cap, int dst_cap, int keep, int dim) {
    int s = blockIdx.x, h = blockIdx.y;
    const elem* a = src + (((long)from[s] * heads + h) * src_cap) * dim;
    elem* b = dst + (((long)s * heads + h) * dst_cap) * dim;
    long n = (long)keep * dim;
    for (long i = threadIdx.x; i < n; i += blockDim.x) b[i] = a[i];
}

// ------------------------------------------------------------------ selection

// Top-2 tracking: (value, index) of the best and the best other value.
struct Top2 {
    float v1;
    int i1;
    float v2;
};

__device__ __forceinline__ void top2_push(Top2& a, float v, int i) {
    if (v != v) return;  // NaN: skipped, as on the host
    if (a.i1 < 0 || v > a.v1 || (v == a.v1 && i < a.i1)) {
        a.v2 = fmaxf(a.v2, a.v1);
        a.v1 = v;
        a.i1 = i;
    } else {
        a.v2 = fmaxf(a.v2, v);
    }
}

__device__ __forceinline__ Top2 top2_merge(Top2 a, Top2 b) {
    if (b.i1 < 0) return a;
    if (a.i1 < 0) return b;
    Top2 out;
    if (b.v1 > a.v1 || (b.v1 == a.v1 && b.i1 < a.i1)) {
        out.v1 = b.v1;
        out.i1 = b.i1;
        out.v2 = fmaxf(a.v1, fmaxf(a.v2, b.v2));
    } else {
        out.v1 = a.v1;
        out.i1 = a.i1;
        out.v2 = fmaxf(b.v1, fmaxf(a.v2, b.v2));
    }
    return out;
}

// One next token per selection (one block of 1024 threads each). Kinds: 0 one
// row, 1 mean of rows, 2 weighted mean (weights already normalised), 3 maximum
// of the rows' softmax probabilities. Writes the token, the margin (top-1 minus
// top-2 score) and, when asked, the token's probability under the first row.
extern "C" __global__ void select_tokens(const elem* logits, int vocab, const unsigned* kinds,
                                         const unsigned* member_starts, const unsigned* members,
                                         const float* weights, const unsigned* want_probability,
                                         unsigned* tokens, float* margins, float* probabilities) {
    __shared__ float scratch[32];
    __shared__ float row_max[16], row_sum[16];
    __shared__ Top2 tops[32];
    int s = blockIdx.x;
    unsigned kind = kinds[s], first = member_starts[s], count = member_starts[s + 1] - first;
    bool need_softmax = kind == 3 || want_probability[s];
    unsigned softmax_rows = kind == 3 ? min(count, 16u) : 1u;
    if (need_softmax) {
        for (unsigned m = 0; m < softmax_rows; m++) {
            const elem* row = logits + (long)members[first + m] * vocab;
            float best = -INF_F;
            for (int v = threadIdx.x; v < vocab; v += blockDim.x) best = fmaxf(best, ld(row[v]));
            best = block_max(best, scratch);
            float sum = 0.0f;
            for (int v = threadIdx.x; v < vocab; v += blockDim.x) sum += expf(ld(row[v]) - best);
            sum = block_sum(sum, scratch);
            if (threadIdx.x == 0) {
                row_max[m] = best;
                row_sum[m] = sum;
            }
            __syncthreads();
        }
    }
    Top2 top = {-INF_F, -1, -INF_F};
    for (int v = threadIdx.x; v < vocab; v += blockDim.x) {
        float score;
        if (kind == 0) {
            score = ld(logits[(long)members[first] * vocab + v]);
        } else if (kind == 1 || kind == 2) {
            score = 0.0f;
            for (unsigned m = 0; m < count; m++) {
                float w = kind == 1 ? 1.0f : weights[first + m];
                score += w * ld(logits[(long)members[first + m] * vocab + v]);
            }
            if (kind == 1) score /= (float)count;
        } else {
            score = 0.0f;
            for (unsigned m = 0; m < softmax_rows; m++) {
                float e = expf(ld(logits[(long)members[first + m] * vocab + v]) - row_max[m]) / row_sum[m];
                score = fmaxf(score, e);
            }
        }
        top2_push(top, score, v);
    }
    // Block reduction of the per-thread top-2s.
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int o = 16; o > 0; o >>= 1) {
        Top2 other;
        other.v1 = __shfl_xor_sync(0xffffffffu, top.v1, o);
        other.i1 = __shfl_xor_sync(0xffffffffu, top.i1, o);
        other.v2 = __shfl_xor_sync(0xffffffffu, top.v2, o);
        top = top2_merge(top, other);
    }
    if (lane == 0) tops[warp] = top;
    __syncthreads();
    if (warp == 0) {
        Top2 mine = lane < (int)(blockDim.x >> 5) ? tops[lane] : Top2{-INF_F, -1, -INF_F};
        for (int o = 16; o > 0; o >>= 1) {
            Top2 other;
            other.v1 = __shfl_xor_sync(0xffffffffu, mine.v1, o);
            other.i1 = __shfl_xor_sync(0xffffffffu, mine.i1, o);
            other.v2 = __shfl_xor_sync(0xffffffffu, mine.v2, o);
            mine = top2_merge(mine, other);
        }
        if (lane == 0) {
            tokens[s] = mine.i1 < 0 ? 0xffffffffu : (unsigned)mine.i1;
            margins[s] = mine.v1 - mine.v2;
            float prob = 0.0f;
            if (want_probability[s] && mine.i1 >= 0)
                prob = expf(ld(logits[(long)members[first] * vocab + mine.i1]) - row_max[0]) / row_sum[0];
            probabilities[s] = prob;
        }
    }
}
