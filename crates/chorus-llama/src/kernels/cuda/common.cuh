// Chorus CUDA kernels: what every module shares (compiled at run time with
// NVRTC; see cuda/mod.rs for the modules and their defines).
//
// The element type `elem` is chosen by a macro: CHORUS_BF16, CHORUS_F16, or
// neither (f32). 16-bit types are stored as raw bits and converted by hand, so
// the source needs no CUDA header (NVRTC compiles it without an include path).
// Arithmetic is in f32; `rt` rounds an intermediate through `elem` where
// PyTorch would hold it in the model's dtype, so bf16 results track a bf16
// PyTorch run and f32 results track the CPU kernels.
//
// Layouts (row-major):
//   activations   [tokens][width]
//   KV store      [slot][kv_head][capacity][head_dim] per layer
//   grouped q     [kv_head][tokens][group][head_dim]  (for the shared-context GEMMs)
//   scores S      [kv_head][tokens][group][shared]    (f32)
//   pass tables   one uploaded u32 buffer, see `struct Pass` in attention.cu

#define INF_F __int_as_float(0x7f800000)

#if defined(CHORUS_BF16)
typedef unsigned short elem;
__device__ __forceinline__ float ld(elem x) { return __uint_as_float(((unsigned int)x) << 16); }
__device__ __forceinline__ elem st(float f) {
    unsigned int u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (elem)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (elem)(u >> 16);
}
#elif defined(CHORUS_F16)
typedef unsigned short elem;
__device__ __forceinline__ float ld(elem x) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x));
    return f;
}
__device__ __forceinline__ elem st(float f) {
    elem h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}
#else
typedef float elem;
__device__ __forceinline__ float ld(elem x) { return x; }
__device__ __forceinline__ elem st(float f) { return f; }
#endif

// Four consecutive elements in one 8- or 16-byte access (the address must be
// a multiple of four elements): the row kernels are bound by memory, and
// 2-byte accesses leave most of each memory transaction unused.
struct f4 {
    float a, b, c, d;
};

#if defined(CHORUS_BF16) || defined(CHORUS_F16)
__device__ __forceinline__ f4 ld4(const elem* p) {
    uint2 u = *reinterpret_cast<const uint2*>(p);
    return {ld((elem)(u.x & 0xffffu)), ld((elem)(u.x >> 16)), ld((elem)(u.y & 0xffffu)), ld((elem)(u.y >> 16))};
}
__device__ __forceinline__ void st4(elem* p, f4 v) {
    uint2 u;
    u.x = (unsigned)st(v.a) | ((unsigned)st(v.b) << 16);
    u.y = (unsigned)st(v.c) | ((unsigned)st(v.d) << 16);
    *reinterpret_cast<uint2*>(p) = u;
}
#else
__device__ __forceinline__ f4 ld4(const elem* p) {
    float4 v = *reinterpret_cast<const float4*>(p);
    return {v.x, v.y, v.z, v.w};
}
__device__ __forceinline__ void st4(elem* p, f4 v) { *reinterpret_cast<float4*>(p) = make_float4(v.a, v.b, v.c, v.d); }
#endif

// Eight consecutive elements in one 16-byte access for 16-bit types (two for
// f32; the address must be a multiple of eight elements). The row kernels
// (SwiGLU, RMSNorm) are bound by memory traffic: 16-byte accesses with several
// of them in flight per thread are what reaches HBM bandwidth on Hopper.
struct f8 {
    f4 lo, hi;
};

// Eight elements as loaded by one 16-byte access (two for f32), kept packed
// until used: a thread can then have several loads in flight in few registers.
#if defined(CHORUS_BF16) || defined(CHORUS_F16)
typedef uint4 raw8;
__device__ __forceinline__ raw8 ld_raw8(const elem* p) { return *reinterpret_cast<const uint4*>(p); }
__device__ __forceinline__ float raw8_at(const raw8& r, int i) {
    unsigned w = i < 2 ? r.x : i < 4 ? r.y : i < 6 ? r.z : r.w;
    return ld((elem)((i & 1) ? (w >> 16) : (w & 0xffffu)));
}
__device__ __forceinline__ f8 unpack8(const raw8& u) {
    return {{ld((elem)(u.x & 0xffffu)), ld((elem)(u.x >> 16)), ld((elem)(u.y & 0xffffu)), ld((elem)(u.y >> 16))},
            {ld((elem)(u.z & 0xffffu)), ld((elem)(u.z >> 16)), ld((elem)(u.w & 0xffffu)), ld((elem)(u.w >> 16))}};
}
__device__ __forceinline__ void st8(elem* p, f8 v) {
    uint4 u;
    u.x = (unsigned)st(v.lo.a) | ((unsigned)st(v.lo.b) << 16);
    u.y = (unsigned)st(v.lo.c) | ((unsigned)st(v.lo.d) << 16);
    u.z = (unsigned)st(v.hi.a) | ((unsigned)st(v.hi.b) << 16);
    u.w = (unsigned)st(v.hi.c) | ((unsigned)st(v.hi.d) << 16);
    *reinterpret_cast<uint4*>(p) = u;
}
#else
struct raw8 {
    float4 a, b;
};
__device__ __forceinline__ raw8 ld_raw8(const elem* p) {
    return {reinterpret_cast<const float4*>(p)[0], reinterpret_cast<const float4*>(p)[1]};
}
__device__ __forceinline__ float raw8_at(const raw8& r, int i) {
    const float4& h = i < 4 ? r.a : r.b;
    int k = i & 3;
    return k == 0 ? h.x : k == 1 ? h.y : k == 2 ? h.z : h.w;
}
__device__ __forceinline__ f8 unpack8(const raw8& r) {
    return {{r.a.x, r.a.y, r.a.z, r.a.w}, {r.b.x, r.b.y, r.b.z, r.b.w}};
}
__device__ __forceinline__ void st8(elem* p, f8 v) {
    st4(p, v.lo);
    st4(p + 4, v.hi);
}
#endif

__device__ __forceinline__ f8 ld8(const elem* p) { return unpack8(ld_raw8(p)); }

// Rounds through the element type (identity for f32).
__device__ __forceinline__ float rt(float f) { return ld(st(f)); }

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread
// gets the result. `scratch` holds 32 floats.
__device__ float block_sum(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0f;
    return warp_sum(v);
}

__device__ float block_max(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : -INF_F;
    return warp_max(v);
}

