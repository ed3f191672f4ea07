//! The CUDA kernels ([`CudaKernels`]): one GPU, one stream, our own device
//! buffers (stream-ordered allocations from the driver's pool).
//!
//! - Weight products, the LM head and the shared context's attention products
//!   run in cuBLAS (`cublasGemmEx`, f32 accumulation; strict f32 for f32).
//! - Attention over a shared context is split the way Hydragen and FlashInfer's
//!   cascade attention split it: every query of every row against the shared
//!   keys as one batched GEMM per key/value head (the shared keys are read once
//!   for the whole batch), a softmax kernel that applies the pass's masks and
//!   biases and keeps each row's max and sum, a second GEMM with the shared
//!   values; then each row's own keys in `attend_own`, which merges both parts
//!   by log-sum-exp. No dense mask is built: the kernels read the pass's key
//!   ranges. That split is the decode path (one token per row, where the
//!   GEMMs read the shared keys once for thousands of rows) and the fallback;
//!   a prefill pass in bf16/f16 on sm_80+ runs `attend_fused` instead, which
//!   takes a tile of a row's tokens through the shared keys and then its own
//!   on tensor cores in one kernel, with nothing written in between.
//! - RMSNorm, RoPE with the KV write, SwiGLU, row gathers and the fusion +
//!   argmax of a step's logits are CUDA C kernels of this folder (see its
//!   README), compiled at run time by NVRTC for the device's architecture.

mod elem;
mod pass;

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use cudarc::cublas::CudaBlas;
use cudarc::cublas::result as blas;
use cudarc::cublas::sys::{cublasComputeType_t, cublasGemmAlgo_t, cublasOperation_t, cudaDataType};
use cudarc::driver::{
    CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, DevicePtr, LaunchConfig,
    PinnedHostSlice, PushKernelArg,
};
use cudarc::nvrtc::{CompileOptions, compile_ptx_with_opts};

pub use elem::CudaElem;

use super::packed::{Offsets, TILE_TOKENS, own_tiles, pack, pack_selections, tile_keys};
use super::{Heads, Kernels, KvShape, MatrixUse, PassPlan};
use crate::LlamaError;
use crate::profile::timed;
use crate::select::{Picked, Selection};
use pass::PassArg;

/// Launches `$function` on the kernels' stream with the given arguments.
macro_rules! launch {
    ($kernels:expr, $function:expr, $config:expr, $what:literal, $($arg:expr),* $(,)?) => {{
        let mut builder = $kernels.stream.launch_builder($function);
        $( builder.arg($arg); )*
        // SAFETY: the arguments match the kernel's parameters (checked by the
        // GPU checks of every kernel, examples/cuda_check.rs), and every buffer
        // they point into lives until the stream has run the kernel (buffers
        // are freed in stream order).
        unsafe { builder.launch($config) }
            .map(|_| ())
            .map_err($kernels.fail(concat!("launching `", $what, "`")))
    }};
}

const COMMON: &str = include_str!("common.cuh");
const ELEMENTWISE: &str = include_str!("elementwise.cu");
const ATTENTION: &str = include_str!("attention.cu");

/// The kernel source `name` of this folder: the built-in copy, or the file of
/// that name in the folder `CHORUS_CUDA_SOURCE` names. A benchmark switch: a
/// kernel can be changed and timed on a GPU machine without a new build.
fn kernel_source(name: &str, built_in: &'static str) -> Result<String, LlamaError> {
    match std::env::var_os("CHORUS_CUDA_SOURCE") {
        Some(dir) => {
            let path = std::path::Path::new(&dir).join(name);
            std::fs::read_to_string(&path).map_err(|e| LlamaError::Device {
                device: "cuda".into(),
                operation: format!(
                    "reading kernel source {} (CHORUS_CUDA_SOURCE)",
                    path.display()
                ),
                message: e.to_string(),
            })
        }
        None => Ok(built_in.to_owned()),
    }
}

/// The common header followed by the module `name`.
fn module_source(name: &str, built_in: &'static str) -> Result<String, LlamaError> {
    Ok(kernel_source("common.cuh", COMMON)? + &kernel_source(name, built_in)?)
}

/// Defines added to every module's compilation from `CHORUS_CUDA_DEFINES`
/// (e.g. `-DFUSED_KEYS=32`): a benchmark switch, like `CHORUS_CUDA_SOURCE`,
/// for timing a kernel's tuning constants without a new build.
fn extra_defines() -> Vec<String> {
    std::env::var("CHORUS_CUDA_DEFINES")
        .map(|v| v.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

/// Tokens per block of `attend_own` (one warp each; `OWN_WARPS` in attention.cu).
const OWN_WARPS: usize = 4;

/// Threads per block of the row kernels.
const ROW_THREADS: u32 = 256;

/// The shared part's key count is padded to a multiple of this, so that its
/// products' leading dimensions stay aligned for cuBLAS's tensor-core kernels
/// (122 context keys: 244-byte rows, which they refuse); padded keys are masked.
const KEY_PAD: usize = 16;

/// CUDA kernels storing weights and activations as `E` (bf16, f16 or f32).
pub struct CudaKernels<E: CudaElem> {
    ordinal: usize,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    arch: String,
    ops: Ops,
    /// Attention modules per head geometry (query heads per kv head, head dim).
    attention: Mutex<HashMap<(usize, usize), Arc<AttentionFns>>>,
    /// Page-locked buffers that weights pass through, made at the first upload.
    staging: Mutex<Option<Staging<E>>>,
    _elem: PhantomData<E>,
}

/// Elements per staging buffer (16 MiB of bf16).
const STAGE_ELEMS: usize = 8 << 20;

/// Two page-locked host buffers for weight uploads: converting one chunk to
/// `E` (on every core) overlaps the copy of the previous one, and copies from
/// page-locked memory run at the link's full speed, where pageable memory is
/// first copied again by the driver.
struct Staging<E: CudaElem> {
    buffers: [(PinnedHostSlice<E>, Option<CudaEvent>); 2],
    next: usize,
}

impl<E: CudaElem> Staging<E> {
    fn new(ctx: &Arc<CudaContext>, ordinal: usize) -> Result<Self, LlamaError> {
        let buffer = || {
            // SAFETY: page-locked memory, written before each copy reads it.
            unsafe { ctx.alloc_pinned::<E>(STAGE_ELEMS) }
                .map(|b| (b, None))
                .map_err(|e| device_error(ordinal, "allocating page-locked memory", e))
        };
        Ok(Self {
            buffers: [buffer()?, buffer()?],
            next: 0,
        })
    }
}

impl<E: CudaElem> Drop for Staging<E> {
    fn drop(&mut self) {
        // A copy may still read a buffer: wait for it before the memory goes.
        for (_, copied) in &self.buffers {
            if let Some(event) = copied {
                let _ = event.synchronize();
            }
        }
    }
}

/// The functions of the elementwise module.
struct Ops {
    embed: CudaFunction,
    gather_rows: CudaFunction,
    rms_norm: CudaFunction,
    swiglu: CudaFunction,
    add_bias: CudaFunction,
    remap_kv: CudaFunction,
    select_tokens: CudaFunction,
}

/// The functions of one attention module.
struct AttentionFns {
    rope_store: CudaFunction,
    shared_softmax: CudaFunction,
    attend_own: CudaFunction,
    /// The own part by tiles of tokens (None where the head geometry leaves
    /// no room for a tile's keys in shared memory).
    attend_own_tiles: Option<CudaFunction>,
    /// The whole attention of a prefill tile on tensor cores (None where it
    /// is not compiled or not chosen: see [`runs_fused`]).
    attend_fused: Option<CudaFunction>,
}

/// Whether prefill passes of this head geometry run `attend_fused`: chosen
/// ([`fused_attention`]) and compiled by attention.cu (`OWN_MMA` there: 16-bit
/// elements, head dims of a multiple of 32 with room for a tile's keys, sm_80
/// or newer); `arch` is `compute_XY`.
fn runs_fused<E: CudaElem>(arch: &str, heads: Heads) -> bool {
    let sm: u32 = arch
        .trim_start_matches("compute_")
        .parse()
        .unwrap_or_default();
    fused_attention()
        && E::DEFINE.is_some()
        && sm >= 80
        && tile_keys(heads, std::mem::size_of::<E>(), OWN_WARPS) > 0
}

/// Whether prefill passes run the whole attention of a tile in one kernel
/// (`attend_fused`, the default where it is compiled) or split it into the
/// shared part (two GEMMs and a softmax) and the own part merged after
/// (`CHORUS_ATTENTION=split`: a benchmark switch, read once).
fn fused_attention() -> bool {
    static CHOICE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CHOICE.get_or_init(|| std::env::var("CHORUS_ATTENTION").map_or(true, |v| v != "split"))
}

/// Whether prefill passes run the own part of attention by tiles
/// (`attend_own_tiles`, the default) or one warp per token (`attend_own`,
/// `CHORUS_ATTEND_OWN=warps`: a benchmark switch, read once, so that one GPU
/// session can time both).
fn own_by_tiles() -> bool {
    static CHOICE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CHOICE.get_or_init(|| std::env::var("CHORUS_ATTEND_OWN").map_or(true, |v| v != "warps"))
}

/// Appends the pass's own-key tiles to its packed `buffer` when the tiled
/// kernel is chosen and the tiles hold several tokens on average (a decode
/// step's tokens are each a tile of one, which one warp per token serves
/// better); returns where they start and how many there are.
///
/// With `fused` (the pass runs `attend_fused`, which stages any window a few
/// keys at a time) a tile's window is not bounded by what fits in shared
/// memory, so the tokens of a prompt encoded whole tile too.
fn pack_own_tiles<E: CudaElem>(
    plan: &PassPlan,
    buffer: &mut Vec<u32>,
    fused: bool,
) -> Option<(usize, usize)> {
    let keys = tile_keys(plan.heads, std::mem::size_of::<E>(), OWN_WARPS);
    // Tiles never span rows: with fewer than two tokens per row (a decode
    // step) they cannot average two, so none are built.
    if !own_by_tiles() || keys == 0 || plan.rows.len() * 2 > plan.len() {
        return None;
    }
    let tiles = own_tiles(plan, TILE_TOKENS, if fused { usize::MAX } else { keys });
    if tiles.len() * 2 > plan.len() {
        return None;
    }
    let at = buffer.len();
    buffer.extend(tiles.iter().flat_map(|t| [t.first, t.count, t.lo, t.hi]));
    Some((at, tiles.len()))
}

/// A row-major `[rows, cols]` matrix on the device (activations and weights).
pub struct CudaAct<E: CudaElem> {
    buf: CudaSlice<E>,
    rows: usize,
    cols: usize,
}

impl<E: CudaElem> std::fmt::Debug for CudaAct<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaAct[{}, {}] {}", self.rows, self.cols, E::NAME)
    }
}

/// A weight matrix on the device: `[in, out]`, or `[out, in]` (`transposed`:
/// Hugging Face linear weights and the `[vocab, hidden]` tables), which cuBLAS
/// reads as it is.
pub struct CudaWeight<E: CudaElem> {
    m: CudaAct<E>,
    transposed: bool,
}

impl<E: CudaElem> std::fmt::Debug for CudaWeight<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CudaWeight[{:?}, transposed {}]",
            self.m, self.transposed
        )
    }
}

impl<E: CudaElem> CudaWeight<E> {
    /// Output columns of `x · W`.
    fn outputs(&self) -> usize {
        if self.transposed {
            self.m.rows
        } else {
            self.m.cols
        }
    }
}

/// A weight vector on the device.
pub struct CudaVector<E: CudaElem>(CudaSlice<E>);

impl<E: CudaElem> std::fmt::Debug for CudaVector<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaVector[{}] {}", self.0.len(), E::NAME)
    }
}

/// Keys and values of every layer, each `[slots, kv_heads, capacity, head_dim]`.
pub struct CudaKv<E: CudaElem> {
    shape: KvShape,
    layers: Vec<(CudaSlice<E>, CudaSlice<E>)>,
}

/// A pass uploaded once: its packed tables and their pointer table.
pub struct CudaPass {
    plan: PassPlan,
    table: CudaSlice<u32>,
    offsets: Offsets,
    arg: PassArg,
    /// Where the own-key tiles start in `table`, and how many there are, when
    /// the pass runs `attend_own_tiles`.
    tiles: Option<(usize, usize)>,
}

fn device_error(ordinal: usize, operation: &str, error: impl std::fmt::Debug) -> LlamaError {
    LlamaError::Device {
        device: format!("cuda:{ordinal}"),
        operation: operation.to_string(),
        message: format!("{error:?}"),
    }
}

impl<E: CudaElem> CudaKernels<E> {
    fn fail(&self, operation: &str) -> impl Fn(cudarc::driver::DriverError) -> LlamaError + '_ {
        let operation = operation.to_string();
        move |e| device_error(self.ordinal, &operation, e)
    }

    fn compile(
        ordinal: usize,
        ctx: &Arc<CudaContext>,
        arch: &str,
        source: String,
        defines: &[String],
    ) -> Result<Arc<cudarc::driver::CudaModule>, LlamaError> {
        let mut options = vec![format!("--gpu-architecture={arch}"), "--std=c++17".into()];
        options.extend(E::DEFINE.map(String::from));
        options.extend(defines.iter().cloned());
        options.extend(extra_defines());
        let ptx = compile_ptx_with_opts(
            source,
            CompileOptions {
                options,
                ..Default::default()
            },
        )
        .map_err(|e| device_error(ordinal, "compiling the kernels (NVRTC)", e))?;
        ctx.load_module(ptx)
            .map_err(|e| device_error(ordinal, "loading the kernels", e))
    }

    fn function(
        &self,
        module: &Arc<cudarc::driver::CudaModule>,
        name: &str,
    ) -> Result<CudaFunction, LlamaError> {
        module
            .load_function(name)
            .map_err(|e| device_error(self.ordinal, &format!("loading kernel `{name}`"), e))
    }

    /// The attention functions for a head geometry, compiled on first use
    /// (for a model: while its weights load, see `Kernels::prepare_model`).
    fn attention_fns(&self, heads: Heads) -> Result<Arc<AttentionFns>, LlamaError> {
        let key = (heads.group(), heads.dim);
        let mut cache = self.attention.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(fns) = cache.get(&key) {
            return Ok(Arc::clone(fns));
        }
        let module = Self::compile(
            self.ordinal,
            &self.ctx,
            &self.arch,
            module_source("attention.cu", ATTENTION)?,
            &[
                format!("-DGROUP={}", key.0),
                format!("-DHEAD_DIM={}", key.1),
                format!(
                    "-DTILE_KEYS={}",
                    tile_keys(heads, std::mem::size_of::<E>(), OWN_WARPS)
                ),
            ],
        )?;
        let fns = Arc::new(AttentionFns {
            rope_store: self.function(&module, "rope_store")?,
            shared_softmax: self.function(&module, "shared_softmax")?,
            attend_own: self.function(&module, "attend_own")?,
            attend_own_tiles: match tile_keys(heads, std::mem::size_of::<E>(), OWN_WARPS) {
                0 => None,
                _ => Some(self.function(&module, "attend_own_tiles")?),
            },
            attend_fused: match runs_fused::<E>(&self.arch, heads) {
                true => Some(self.function(&module, "attend_fused")?),
                false => None,
            },
        });
        cache.insert(key, Arc::clone(&fns));
        Ok(fns)
    }

    /// An uninitialised device buffer of `len` elements (at least one).
    fn alloc<T: cudarc::driver::DeviceRepr>(&self, len: usize) -> Result<CudaSlice<T>, LlamaError> {
        // SAFETY: every buffer is written by a kernel or a copy before it is read.
        unsafe { self.stream.alloc::<T>(len.max(1)) }.map_err(self.fail("allocating device memory"))
    }

    fn ptr<T>(&self, slice: &CudaSlice<T>) -> u64 {
        // Event tracking is off (one stream), so the guard records nothing.
        let (ptr, _guard) = slice.device_ptr(&self.stream);
        ptr
    }

    /// `C = alpha·op(A)·op(B) + beta·C` in cuBLAS's column-major terms, `batch`
    /// times with the given element strides (a batch of 1 is a plain GEMM).
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        &self,
        (transa, transb): (bool, bool),
        (m, n, k): (usize, usize, usize),
        (a, a_type, lda, stride_a): (u64, cudaDataType, usize, usize),
        (b, b_type, ldb, stride_b): (u64, cudaDataType, usize, usize),
        (c, c_type, ldc, stride_c): (u64, cudaDataType, usize, usize),
        beta: f32,
        batch: usize,
    ) -> Result<(), LlamaError> {
        let op = |t: bool| {
            if t {
                cublasOperation_t::CUBLAS_OP_T
            } else {
                cublasOperation_t::CUBLAS_OP_N
            }
        };
        let alpha = 1.0f32;
        let int = |v: usize| v as i32;
        // SAFETY: the pointers address live device buffers of at least the
        // sizes the shapes, leading dimensions and strides imply (callers
        // derive them from the same shapes); alpha and beta are host f32 as
        // CUBLAS_COMPUTE_32F wants.
        let result = unsafe {
            blas::gemm_strided_batched_ex(
                *self.blas.handle(),
                op(transa),
                op(transb),
                int(m),
                int(n),
                int(k),
                (&alpha) as *const f32 as *const _,
                a as *const _,
                a_type,
                int(lda),
                stride_a as i64,
                b as *const _,
                b_type,
                int(ldb),
                stride_b as i64,
                (&beta) as *const f32 as *const _,
                c as *mut _,
                c_type,
                int(ldc),
                stride_c as i64,
                int(batch),
                cublasComputeType_t::CUBLAS_COMPUTE_32F,
                cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        };
        result.map_err(|e| device_error(self.ordinal, "cuBLAS GEMM", e))
    }

    /// `out = x · w` (`beta = 0`) or `out += x · w` (`beta = 1`), row-major
    /// `x: [m, k]`, `w: [k, n]` (`transposed`: `w` is `[n, k]`), `out: [m, n]`.
    #[allow(clippy::too_many_arguments)]
    fn product(
        &self,
        x: &CudaAct<E>,
        w: &CudaAct<E>,
        transposed: bool,
        out: &mut CudaAct<E>,
        beta: f32,
    ) -> Result<(), LlamaError> {
        let (m, k) = (x.rows, x.cols);
        let n = if transposed { w.rows } else { w.cols };
        if m == 0 || n == 0 {
            return Ok(());
        }
        // Row-major y = x·w is column-major yᵀ = wᵀ·xᵀ: A = w, B = x.
        let t = E::DATA_TYPE;
        let lda = if transposed { k } else { n };
        self.gemm(
            (transposed, false),
            (n, m, k),
            (self.ptr(&w.buf), t, lda, 0),
            (self.ptr(&x.buf), t, k, 0),
            (self.ptr(&out.buf), t, n, 0),
            beta,
            1,
        )
    }

    /// One small GEMM of each kind a forward pass runs (`E` or f32 out, one
    /// or `batch` matrices, either transpose), on zeroed scratch buffers.
    /// cuBLAS sets itself up at its first call of a kind: on an H200 the
    /// first pass's first weight product took 91 ms and its first batched
    /// attention product 45 ms, against 1–3 ms later (CHORUS_PROFILE_OPS,
    /// docs/benchmarks/gpu.md, "midnight"). Run while the weights load, this
    /// is meant to take that off the first pass; not yet timed on a GPU.
    fn warm_blas(&self, batch: usize) -> Result<(), LlamaError> {
        const SIDE: usize = 128;
        let stride = SIDE * SIDE;
        let batch = batch.max(1);
        // cuBLAS calls run in the context current on the calling thread.
        self.ctx
            .bind_to_thread()
            .map_err(self.fail("binding the context"))?;
        let input: CudaSlice<E> = self
            .stream
            .alloc_zeros(batch * stride)
            .map_err(self.fail("allocating device memory"))?;
        let output: CudaSlice<f32> = self
            .stream
            .alloc_zeros(batch * stride)
            .map_err(self.fail("allocating device memory"))?;
        let (t, f32_type) = (E::DATA_TYPE, cudaDataType::CUDA_R_32F);
        let input = self.ptr(&input);
        for transposed in [true, false] {
            for (out_type, matrices) in [(t, 1), (f32_type, batch)] {
                self.gemm(
                    (transposed, false),
                    (SIDE, SIDE, SIDE),
                    (input, t, SIDE, stride),
                    (input, t, SIDE, stride),
                    (self.ptr(&output), out_type, SIDE, stride),
                    0.0,
                    matrices,
                )?;
            }
        }
        self.sync()
    }

    fn act(&self, rows: usize, cols: usize) -> Result<CudaAct<E>, LlamaError> {
        Ok(CudaAct {
            buf: self.alloc(rows * cols)?,
            rows,
            cols,
        })
    }

    fn upload<T: cudarc::driver::DeviceRepr>(
        &self,
        values: &[T],
    ) -> Result<CudaSlice<T>, LlamaError> {
        if values.is_empty() {
            return self.alloc(1);
        }
        self.stream
            .clone_htod(values)
            .map_err(self.fail("copying to the device"))
    }

    /// f32 weights converted to `E` and copied to a new device buffer through
    /// the two page-locked staging buffers (see [`Staging`]).
    fn upload_weights(&self, parts: &[&[f32]]) -> Result<CudaSlice<E>, LlamaError> {
        use rayon::prelude::*;
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let dst: CudaSlice<E> = self.alloc(total)?;
        let base = self.ptr(&dst);
        let mut guard = self.staging.lock().unwrap_or_else(|e| e.into_inner());
        let staging = match guard.as_mut() {
            Some(staging) => staging,
            None => guard.insert(Staging::new(&self.ctx, self.ordinal)?),
        };
        let mut written = 0usize;
        for chunk in parts.iter().flat_map(|part| part.chunks(STAGE_ELEMS)) {
            let (buffer, copied) = &mut staging.buffers[staging.next];
            staging.next = 1 - staging.next;
            if let Some(event) = copied.take() {
                event
                    .synchronize()
                    .map_err(self.fail("waiting for a weight copy"))?;
            }
            // The buffer's own event is never recorded (copies go through the
            // raw call below), so this does not wait.
            let host = buffer
                .as_mut_slice()
                .map_err(self.fail("mapping page-locked memory"))?;
            let host = &mut host[..chunk.len()];
            host.par_chunks_mut(1 << 16)
                .zip(chunk.par_chunks(1 << 16))
                .for_each(|(h, c)| h.iter_mut().zip(c).for_each(|(h, &v)| *h = E::from_f32(v)));
            let offset = (written * std::mem::size_of::<E>()) as u64;
            written += chunk.len();
            // SAFETY: `dst` holds every part's elements, so the chunk fits at
            // its offset; the host buffer is not touched again until the event
            // recorded after this copy has completed.
            unsafe {
                cudarc::driver::result::memcpy_htod_async(
                    base + offset,
                    host,
                    self.stream.cu_stream(),
                )
            }
            .map_err(self.fail("copying weights to the device"))?;
            *copied = Some(
                self.stream
                    .record_event(None)
                    .map_err(self.fail("recording a copy event"))?,
            );
        }
        Ok(dst)
    }

    /// Base pointer of the pass table plus a word offset.
    fn at(&self, pass: &CudaPass, offset: usize) -> u64 {
        self.ptr(&pass.table) + 4 * offset as u64
    }
}

fn grid(items: usize, per_block: usize) -> u32 {
    items.div_ceil(per_block).clamp(1, 1 << 20) as u32
}

fn rows_config(rows: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (rows.max(1) as u32, 1, 1),
        block_dim: (ROW_THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

impl<E: CudaElem> Kernels for CudaKernels<E> {
    type Device = usize;
    type Act = CudaAct<E>;
    type Matrix = CudaWeight<E>;
    type Vector = CudaVector<E>;
    type Kv = CudaKv<E>;
    type Pass = CudaPass;

    fn new(ordinal: &usize) -> Result<Self, LlamaError> {
        let ordinal = *ordinal;
        let ctx = CudaContext::new(ordinal)
            .map_err(|e| device_error(ordinal, "opening the device", e))?;
        // One stream orders everything; cross-stream event tracking is not needed.
        // SAFETY: no buffer of this context is used on another stream.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx
            .new_stream()
            .map_err(|e| device_error(ordinal, "creating a stream", e))?;
        keep_freed_memory(&ctx, ordinal)?;
        let blas = CudaBlas::new(Arc::clone(&stream))
            .map_err(|e| device_error(ordinal, "creating a cuBLAS handle", e))?;
        let (major, minor) = ctx
            .compute_capability()
            .map_err(|e| device_error(ordinal, "reading the compute capability", e))?;
        let arch = format!("compute_{major}{minor}");
        let module = Self::compile(
            ordinal,
            &ctx,
            &arch,
            module_source("elementwise.cu", ELEMENTWISE)?,
            &[],
        )?;
        let load = |name: &str| {
            module
                .load_function(name)
                .map_err(|e| device_error(ordinal, &format!("loading kernel `{name}`"), e))
        };
        let ops = Ops {
            embed: load("embed")?,
            gather_rows: load("gather_rows")?,
            rms_norm: load("rms_norm")?,
            swiglu: load("swiglu")?,
            add_bias: load("add_bias")?,
            remap_kv: load("remap_kv")?,
            select_tokens: load("select_tokens")?,
        };
        Ok(Self {
            ordinal,
            ctx,
            stream,
            blas,
            arch,
            ops,
            attention: Mutex::new(HashMap::new()),
            staging: Mutex::new(None),
            _elem: PhantomData,
        })
    }

    fn name(&self) -> String {
        let device = self.ctx.name().unwrap_or_else(|_| "CUDA device".into());
        format!("cuda:{} {} ({device})", self.ordinal, E::NAME)
    }

    fn dtype(&self) -> &'static str {
        E::NAME
    }

    fn matrix(
        &self,
        values: Vec<f32>,
        rows: usize,
        cols: usize,
        usage: MatrixUse,
    ) -> Result<CudaWeight<E>, LlamaError> {
        self.stacked_matrix(&[&values], rows, cols, usage)
    }

    fn stacked_matrix(
        &self,
        parts: &[&[f32]],
        rows: usize,
        cols: usize,
        usage: MatrixUse,
    ) -> Result<CudaWeight<E>, LlamaError> {
        Ok(CudaWeight {
            m: CudaAct {
                buf: self.upload_weights(parts)?,
                rows,
                cols,
            },
            transposed: usage != MatrixUse::Linear,
        })
    }

    fn takes_outputs_major(&self) -> bool {
        true
    }

    fn prepare_model(&self, heads: Heads) -> Result<(), LlamaError> {
        // NVRTC and the driver's PTX compilation of the attention module
        // took about a second on the 2-core VM; the context is bound by
        // `load_module` on this thread, and the first pass finds the
        // functions in the cache.
        self.attention_fns(heads)?;
        // Only a head start: a product that cannot run here fails again, with
        // its own shapes in the error, when a pass needs it.
        if let Err(error) = self.warm_blas(heads.key_value) {
            tracing::warn!(%error, "warming cuBLAS up failed; the first pass will set it up");
        }
        Ok(())
    }

    fn free_memory(&self) -> Result<Option<u64>, LlamaError> {
        self.ctx
            .bind_to_thread()
            .map_err(self.fail("binding the context"))?;
        let (free, _total) =
            cudarc::driver::result::mem_get_info().map_err(self.fail("reading free memory"))?;
        Ok(Some(free as u64))
    }

    fn vector(&self, values: Vec<f32>) -> Result<CudaVector<E>, LlamaError> {
        let converted: Vec<E> = values.into_iter().map(E::from_f32).collect();
        Ok(CudaVector(self.upload(&converted)?))
    }

    fn sync(&self) -> Result<(), LlamaError> {
        self.stream
            .synchronize()
            .map_err(self.fail("synchronising"))
    }

    fn new_kv(&self, shape: KvShape) -> Result<CudaKv<E>, LlamaError> {
        // Zeroed, with a tail of KEY_PAD keys: the shared part's products read
        // up to the padded key count past a head's keys (see `shared_part`),
        // which must be finite however little of the store was written.
        let len = shape.slots * shape.heads.key_value * shape.capacity * shape.heads.dim
            + KEY_PAD * shape.heads.dim;
        let zeroed = || {
            let mut buf = self.alloc::<E>(len)?;
            self.stream
                .memset_zeros(&mut buf)
                .map_err(self.fail("zeroing the KV cache"))?;
            Ok::<_, LlamaError>(buf)
        };
        let layers = (0..shape.layers)
            .map(|_| Ok((zeroed()?, zeroed()?)))
            .collect::<Result<_, LlamaError>>()?;
        Ok(CudaKv { shape, layers })
    }

    fn copy_kv(&self, kv: &CudaKv<E>, _: KvShape) -> Result<CudaKv<E>, LlamaError> {
        let layers = kv
            .layers
            .iter()
            .map(|(k, v)| {
                let copy = |s: &CudaSlice<E>| {
                    self.stream
                        .clone_dtod(s)
                        .map_err(self.fail("copying the KV cache"))
                };
                Ok((copy(k)?, copy(v)?))
            })
            .collect::<Result<_, LlamaError>>()?;
        Ok(CudaKv {
            shape: kv.shape,
            layers,
        })
    }

    fn remap_kv(
        &self,
        kv: &CudaKv<E>,
        from: KvShape,
        to: KvShape,
        slots: &[usize],
        keep: usize,
    ) -> Result<CudaKv<E>, LlamaError> {
        let out = self.new_kv(to)?;
        if keep == 0 {
            return Ok(out);
        }
        let sources: Vec<u32> = slots.iter().map(|&s| s as u32).collect();
        let sources = self.upload(&sources)?;
        let heads = from.heads.key_value as i32;
        let (src_cap, dst_cap, keep, dim) = (
            from.capacity as i32,
            to.capacity as i32,
            keep as i32,
            from.heads.dim as i32,
        );
        let config = LaunchConfig {
            grid_dim: (slots.len() as u32, from.heads.key_value as u32, 1),
            block_dim: (ROW_THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        for ((k, v), (nk, nv)) in kv.layers.iter().zip(&out.layers) {
            for (src, dst) in [(k, nk), (v, nv)] {
                let (s, d) = (self.ptr(src), self.ptr(dst));
                launch!(
                    self,
                    &self.ops.remap_kv,
                    config,
                    "remap_kv",
                    &s,
                    &d,
                    &sources,
                    &heads,
                    &src_cap,
                    &dst_cap,
                    &keep,
                    &dim
                )?;
            }
        }
        Ok(out)
    }

    fn prepare(&self, plan: PassPlan) -> Result<CudaPass, LlamaError> {
        let (mut buffer, offsets) = pack(&plan);
        let fused = runs_fused::<E>(&self.arch, plan.heads);
        let tiles = pack_own_tiles::<E>(&plan, &mut buffer, fused);
        let table = self.upload(&buffer)?;
        let arg = PassArg::new(self.ptr(&table), &offsets);
        Ok(CudaPass {
            plan,
            table,
            offsets,
            arg,
            tiles,
        })
    }

    fn embed(&self, table: &CudaWeight<E>, pass: &CudaPass) -> Result<CudaAct<E>, LlamaError> {
        let table = &table.m;
        let out = self.act(pass.plan.len(), table.cols)?;
        let tokens = self.at(pass, pass.offsets.tokens);
        let cols = table.cols as i32;
        launch!(
            self,
            &self.ops.embed,
            rows_config(pass.plan.len()),
            "embed",
            &table.buf,
            &tokens,
            &out.buf,
            &cols
        )?;
        Ok(out)
    }

    fn rms_norm(
        &self,
        x: &CudaAct<E>,
        weight: &CudaVector<E>,
        eps: f32,
    ) -> Result<CudaAct<E>, LlamaError> {
        let out = self.act(x.rows, x.cols)?;
        let cols = x.cols as i32;
        launch!(
            self,
            &self.ops.rms_norm,
            rows_config(x.rows),
            "rms_norm",
            &x.buf,
            &weight.0,
            &out.buf,
            &cols,
            &eps
        )?;
        Ok(out)
    }

    fn linear(
        &self,
        x: &CudaAct<E>,
        weight: &CudaWeight<E>,
        bias: Option<&CudaVector<E>>,
    ) -> Result<CudaAct<E>, LlamaError> {
        let mut out = self.act(x.rows, weight.outputs())?;
        self.product(x, &weight.m, weight.transposed, &mut out, 0.0)?;
        if let Some(bias) = bias {
            let total = (out.rows * out.cols) as i64;
            let cols = out.cols as i32;
            let config = LaunchConfig {
                grid_dim: (grid(total as usize, ROW_THREADS as usize), 1, 1),
                block_dim: (ROW_THREADS, 1, 1),
                shared_mem_bytes: 0,
            };
            launch!(
                self,
                &self.ops.add_bias,
                config,
                "add_bias",
                &out.buf,
                &bias.0,
                &cols,
                &total
            )?;
        }
        Ok(out)
    }

    fn linear_add(
        &self,
        x: &CudaAct<E>,
        weight: &CudaWeight<E>,
        residual: &mut CudaAct<E>,
    ) -> Result<(), LlamaError> {
        self.product(x, &weight.m, weight.transposed, residual, 1.0)
    }

    fn swiglu(&self, gate_up: &CudaAct<E>) -> Result<CudaAct<E>, LlamaError> {
        let inter = gate_up.cols / 2;
        let out = self.act(gate_up.rows, inter)?;
        let inter = inter as i32;
        launch!(
            self,
            &self.ops.swiglu,
            rows_config(gate_up.rows),
            "swiglu",
            &gate_up.buf,
            &out.buf,
            &inter
        )?;
        Ok(out)
    }

    fn attention(
        &self,
        qkv: &CudaAct<E>,
        pass: &CudaPass,
        layer: usize,
        kv: &mut CudaKv<E>,
        shared: Option<&CudaKv<E>>,
    ) -> Result<CudaAct<E>, LlamaError> {
        let plan = &pass.plan;
        let heads = plan.heads;
        let fns = self.attention_fns(heads)?;
        let tokens = plan.len();
        let (dim, kv_heads) = (heads.dim, heads.key_value);
        let capacity = kv.shape.capacity;
        let (keys, values) = &kv.layers[layer];
        let q_grouped: CudaSlice<E> = self.alloc(tokens * heads.q_width())?;
        let (t_i, kvh_i, cap_i) = (tokens as i32, kv_heads as i32, capacity as i32);
        timed(self, "attention/rope_store", || {
            launch!(
                self,
                &fns.rope_store,
                rows_config(tokens),
                "rope_store",
                &qkv.buf,
                &pass.arg,
                &q_grouped,
                keys,
                values,
                &t_i,
                &kvh_i,
                &cap_i
            )
        })?;
        let shared_len = plan.rows.iter().map(|r| r.shared).max().unwrap_or(0);
        let layer = LayerAttention {
            fns: &fns,
            pass,
            keys,
            values,
            capacity,
            layer,
            shared: shared.filter(|_| shared_len > 0),
            shared_len,
            q_grouped: &q_grouped,
            scale: (dim as f32).powf(-0.5),
        };
        match pass.tiles.zip(fns.attend_fused.as_ref()) {
            Some(((at, count), fused)) => self.attend_fused(&layer, fused, at, count),
            None => self.attend_split(&layer),
        }
    }

    fn logit_rows(&self, x: &CudaAct<E>, pass: &CudaPass) -> Result<CudaAct<E>, LlamaError> {
        let rows = pass.plan.logit_tokens.len();
        let out = self.act(rows, x.cols)?;
        let indices = self.at(pass, pass.offsets.logit_tokens);
        let cols = x.cols as i32;
        launch!(
            self,
            &self.ops.gather_rows,
            rows_config(rows),
            "gather_rows",
            &x.buf,
            &indices,
            &out.buf,
            &cols
        )?;
        Ok(out)
    }

    fn lm_head(&self, x: &CudaAct<E>, table: &CudaWeight<E>) -> Result<CudaAct<E>, LlamaError> {
        let mut out = self.act(x.rows, table.outputs())?;
        self.product(x, &table.m, table.transposed, &mut out, 0.0)?;
        Ok(out)
    }

    fn to_host(&self, x: &CudaAct<E>) -> Result<Vec<f32>, LlamaError> {
        let values = self
            .stream
            .clone_dtoh(&x.buf)
            .map_err(self.fail("copying to the host"))?;
        Ok(values[..x.rows * x.cols]
            .iter()
            .map(|v| v.to_f32())
            .collect())
    }

    fn dims(&self, x: &CudaAct<E>) -> [usize; 2] {
        [x.rows, x.cols]
    }

    fn select(
        &self,
        logits: &CudaAct<E>,
        selections: &[Selection],
    ) -> Result<Vec<Picked>, LlamaError> {
        let Some(packed) = pack_selections(selections) else {
            let values = self.to_host(logits)?;
            return crate::select::select_on_host(&values, logits.rows, logits.cols, selections);
        };
        if let Some(bad) = selections
            .iter()
            .flat_map(|s| s.fusion.rows())
            .find(|&&r| r >= logits.rows)
        {
            return Err(crate::InputError::SelectionRow {
                row: *bad,
                rows: logits.rows,
            }
            .into());
        }
        if logits.cols == 0 || selections.is_empty() {
            return Err(crate::InputError::EmptySelection.into());
        }
        let table = self.upload(&packed.buffer)?;
        let base = self.ptr(&table);
        let at = |offset: usize| base + 4 * offset as u64;
        let (kinds, starts, members, weights, want) = (
            at(packed.kinds),
            at(packed.member_starts),
            at(packed.members),
            at(packed.weights),
            at(packed.want_probability),
        );
        let count = selections.len();
        let results: CudaSlice<u32> = self.alloc(3 * count)?;
        let tokens_out = self.ptr(&results);
        let (margins_out, probs_out) =
            (tokens_out + 4 * count as u64, tokens_out + 8 * count as u64);
        let vocab = logits.cols as i32;
        let config = LaunchConfig {
            grid_dim: (count as u32, 1, 1),
            block_dim: (1024, 1, 1),
            shared_mem_bytes: 0,
        };
        launch!(
            self,
            &self.ops.select_tokens,
            config,
            "select_tokens",
            &logits.buf,
            &vocab,
            &kinds,
            &starts,
            &members,
            &weights,
            &want,
            &tokens_out,
            &margins_out,
            &probs_out
        )?;
        let host = self
            .stream
            .clone_dtoh(&results)
            .map_err(self.fail("copying the choices to the host"))?;
        drop(table);
        (0..count)
            .map(|s| {
                // The kernel writes u32::MAX when every score was NaN, as the
                // host's argmax returns None: an error naming the selection,
                // never a made-up token.
                if host[s] == u32::MAX {
                    return Err(LlamaError::Input(crate::InputError::NothingToChoose {
                        selection: s,
                    }));
                }
                Ok(Picked {
                    choice: crate::select::Choice {
                        token: host[s],
                        margin: f32::from_bits(host[count + s]),
                    },
                    probability: selections[s]
                        .probability
                        .then(|| f64::from(f32::from_bits(host[2 * count + s]))),
                })
            })
            .collect()
    }
}

/// The shared part of a layer's attention for every query of a pass.
struct SharedPart<E: CudaElem> {
    /// Normalised outputs, f32 `[kv_heads, tokens, group, dim]`.
    out: CudaSlice<f32>,
    /// Per score row, the max and the sum of exponentials.
    max: CudaSlice<f32>,
    sum: CudaSlice<f32>,
    _elem: PhantomData<E>,
}

/// What one layer's attention kernels read, besides the kernels themselves.
struct LayerAttention<'a, E: CudaElem> {
    fns: &'a AttentionFns,
    pass: &'a CudaPass,
    /// This layer's cache of the pass's rows, `capacity` keys per slot.
    keys: &'a CudaSlice<E>,
    values: &'a CudaSlice<E>,
    capacity: usize,
    /// The layer's index (in the shared context's store).
    layer: usize,
    /// The shared context's store, when some row of the pass sees it;
    /// `shared_len`: the most of its keys a row sees.
    shared: Option<&'a CudaKv<E>>,
    shared_len: usize,
    /// The queries after RoPE, grouped by kv head.
    q_grouped: &'a CudaSlice<E>,
    scale: f32,
}

impl<E: CudaElem> LayerAttention<'_, E> {
    /// Tokens, kv heads and cache capacity as the kernels take them.
    fn sizes(&self) -> (i32, i32, i32) {
        let plan = &self.pass.plan;
        (
            plan.len() as i32,
            plan.heads.key_value as i32,
            self.capacity as i32,
        )
    }
}

impl<E: CudaElem> CudaKernels<E> {
    /// A prefill pass's attention by tiles in one kernel (`attend_fused`):
    /// the tiles table at `at` of the pass buffer, `count` tiles.
    fn attend_fused(
        &self,
        layer: &LayerAttention<'_, E>,
        fused: &CudaFunction,
        at: usize,
        count: usize,
    ) -> Result<CudaAct<E>, LlamaError> {
        let plan = &layer.pass.plan;
        let heads = plan.heads;
        let out = self.act(plan.len(), heads.q_width())?;
        let null = 0u64;
        let (shared_keys, shared_values, shared_cap) = match layer.shared {
            Some(store) => {
                let (k, v) = &store.layers[layer.layer];
                (self.ptr(k), self.ptr(v), store.shape.capacity as i32)
            }
            None => (null, null, 0),
        };
        let config = LaunchConfig {
            grid_dim: (count as u32, heads.key_value as u32, 1),
            block_dim: (32 * heads.group() as u32, 1, 1),
            shared_mem_bytes: 0,
        };
        let tiles = self.at(layer.pass, at);
        let (t_i, kvh_i, cap_i) = layer.sizes();
        timed(self, "attention/fused", || {
            launch!(
                self,
                fused,
                config,
                "attend_fused",
                layer.q_grouped,
                layer.keys,
                layer.values,
                &shared_keys,
                &shared_values,
                &out.buf,
                &layer.pass.arg,
                &tiles,
                &t_i,
                &kvh_i,
                &cap_i,
                &shared_cap,
                &layer.scale
            )
        })?;
        Ok(out)
    }

    /// A pass's attention split in two: the shared context's part for every
    /// query (two GEMMs and a softmax), then each token's own keys merged with
    /// it (`attend_own_tiles` for a pass with tiles, else `attend_own`).
    fn attend_split(&self, layer: &LayerAttention<'_, E>) -> Result<CudaAct<E>, LlamaError> {
        let (pass, fns) = (layer.pass, layer.fns);
        let plan = &pass.plan;
        let heads = plan.heads;
        let shared_part = match layer.shared {
            Some(store) => Some(self.shared_part(layer, store)?),
            None => None,
        };
        let out = self.act(plan.len(), heads.q_width())?;
        let null = 0u64;
        let (o1, m1, l1) = match &shared_part {
            Some(part) => (
                self.ptr(&part.out),
                self.ptr(&part.max),
                self.ptr(&part.sum),
            ),
            None => (null, null, null),
        };
        let per_token = LaunchConfig {
            grid_dim: (
                plan.len().div_ceil(OWN_WARPS) as u32,
                heads.key_value as u32,
                1,
            ),
            block_dim: (32 * OWN_WARPS as u32, 1, 1),
            shared_mem_bytes: 0,
        };
        // A pass without tiles (a decode step) runs one warp per token; both
        // kernels take the same parameters, the tiles table null for attend_own.
        let (own_fn, config, tiles) = match pass.tiles.zip(fns.attend_own_tiles.as_ref()) {
            Some(((at, count), tiles_fn)) => {
                let config = LaunchConfig {
                    grid_dim: (count as u32, heads.key_value as u32, 1),
                    ..per_token
                };
                (tiles_fn, config, self.at(pass, at))
            }
            None => (&fns.attend_own, per_token, null),
        };
        let (t_i, kvh_i, cap_i) = layer.sizes();
        timed(self, "attention/attend_own", || {
            launch!(
                self,
                own_fn,
                config,
                "attend_own",
                layer.q_grouped,
                layer.keys,
                layer.values,
                &o1,
                &m1,
                &l1,
                &out.buf,
                &pass.arg,
                &tiles,
                &t_i,
                &kvh_i,
                &cap_i,
                &layer.scale
            )
        })?;
        drop(shared_part);
        Ok(out)
    }

    /// Scores of every query against the `shared` keys of the context, one
    /// GEMM per kv head; their softmax; the probability-weighted shared values.
    fn shared_part(
        &self,
        layer: &LayerAttention<'_, E>,
        store: &CudaKv<E>,
    ) -> Result<SharedPart<E>, LlamaError> {
        let (fns, pass, q_grouped, scale) = (layer.fns, layer.pass, layer.q_grouped, layer.scale);
        let plan = &pass.plan;
        let heads = plan.heads;
        let (tokens, group, dim, kv_heads) =
            (plan.len(), heads.group(), heads.dim, heads.key_value);
        let rows = tokens * group;
        let (keys, values) = &store.layers[layer.layer];
        let capacity = store.shape.capacity;
        let shared = layer.shared_len;
        // Keys past `shared` (the next head's, or the store's zeroed tail) are
        // read but masked to probability 0 by the softmax's per-row limit.
        let shared = shared.next_multiple_of(KEY_PAD);
        let scores: CudaSlice<f32> = self.alloc(kv_heads * rows * shared)?;
        let probs: CudaSlice<E> = self.alloc(kv_heads * rows * shared)?;
        let f32_type = cudaDataType::CUDA_R_32F;
        // S_g (rows × shared, row-major) = Q_g · K_gᵀ: column-major Sᵀ = K_g·Q_gᵀ
        // with K_g stored [shared][dim] (= column-major dim × shared, transposed).
        let qk = || {
            self.gemm(
                (true, false),
                (shared, rows, dim),
                (self.ptr(keys), E::DATA_TYPE, dim, capacity * dim),
                (self.ptr(q_grouped), E::DATA_TYPE, dim, rows * dim),
                (self.ptr(&scores), f32_type, shared, rows * shared),
                0.0,
                kv_heads,
            )
        };
        timed(self, "attention/shared_qk", qk)?;
        let max: CudaSlice<f32> = self.alloc(kv_heads * rows)?;
        let sum: CudaSlice<f32> = self.alloc(kv_heads * rows)?;
        let total = (kv_heads * rows) as i64;
        let (t_i, s_i) = (tokens as i32, shared as i32);
        // One warp per score row, 8 per block (not grid-stride: no clamp).
        let config = LaunchConfig {
            grid_dim: ((total as usize).div_ceil(8) as u32, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        timed(self, "attention/shared_softmax", || {
            launch!(
                self,
                &fns.shared_softmax,
                config,
                "shared_softmax",
                &scores,
                &probs,
                &max,
                &sum,
                &pass.arg,
                &total,
                &t_i,
                &s_i,
                &scale
            )
        })?;
        drop(scores);
        let out: CudaSlice<f32> = self.alloc(kv_heads * rows * dim)?;
        // O_g (rows × dim) = P_g · V_g: column-major Oᵀ = V_gᵀ·P_gᵀ.
        let pv = || {
            self.gemm(
                (false, false),
                (dim, rows, shared),
                (self.ptr(values), E::DATA_TYPE, dim, capacity * dim),
                (self.ptr(&probs), E::DATA_TYPE, shared, rows * shared),
                (self.ptr(&out), f32_type, dim, rows * dim),
                0.0,
                kv_heads,
            )
        };
        timed(self, "attention/shared_pv", pv)?;
        Ok(SharedPart {
            out,
            max,
            sum,
            _elem: PhantomData,
        })
    }
}

/// Keeps freed device memory in the driver's pool instead of returning it to
/// the system at every synchronisation (the default), so that the buffers of
/// one pass are reused by the next without new mappings.
fn keep_freed_memory(ctx: &Arc<CudaContext>, ordinal: usize) -> Result<(), LlamaError> {
    use cudarc::driver::sys;
    let mut pool = std::ptr::null_mut();
    // SAFETY: plain driver calls on the context's own device; the attribute
    // value is a u64 as CU_MEMPOOL_ATTR_RELEASE_THRESHOLD requires.
    unsafe {
        ctx.bind_to_thread()
            .map_err(|e| device_error(ordinal, "binding the context", e))?;
        sys::cuDeviceGetDefaultMemPool(&mut pool, ctx.cu_device())
            .result()
            .map_err(|e| device_error(ordinal, "reading the memory pool", e))?;
        let mut threshold: u64 = u64::MAX;
        sys::cuMemPoolSetAttribute(
            pool,
            sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
            (&mut threshold) as *mut u64 as *mut _,
        )
        .result()
        .map_err(|e| device_error(ordinal, "configuring the memory pool", e))?;
    }
    Ok(())
}
