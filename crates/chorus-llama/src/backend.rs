//! The kernel sets Chorus builds and tests, by name: [`run_on`] picks one at
//! run time and runs generic work ([`OnBackend`]) on it.
//!
//! | name | kernels |
//! |---|---|
//! | `cpu` | [`Cpu`]: the CPU kernels (f32, every core) |
//! | `burn-cpu` | [`BurnCpu`]: the Burn reference on ndarray (f32) |
//! | `cuda-bf16`, `cuda-f16`, `cuda-f32` | [`CudaBf16`] etc.: our CUDA kernels (cuBLAS + NVRTC) in that float type (feature `cuda`) |
//! | `burn-cuda-bf16`, `burn-cuda-f32` | the Burn reference on Burn's CUDA backend (feature `cuda`) |

use crate::LlamaError;
use crate::kernels::Kernels;
use crate::kernels::host::HostKernels;
use crate::kernels::reference::BurnKernels;

/// The CPU kernels (f32). The default for tests and small models.
pub type Cpu = HostKernels;

/// The Burn reference kernels on the CPU (ndarray, f32).
pub type BurnCpu = BurnKernels<burn::backend::NdArray<f32>>;

/// Our CUDA kernels in bfloat16 (f32 accumulation, softmax and norms in f32).
#[cfg(feature = "cuda")]
pub type CudaBf16 = crate::kernels::cuda::CudaKernels<half::bf16>;

/// Our CUDA kernels in float16.
#[cfg(feature = "cuda")]
pub type CudaF16 = crate::kernels::cuda::CudaKernels<half::f16>;

/// Our CUDA kernels in float32 (strict f32 GEMMs, no TF32).
#[cfg(feature = "cuda")]
pub type CudaF32 = crate::kernels::cuda::CudaKernels<f32>;

/// The Burn reference on Burn's CUDA backend, bfloat16.
#[cfg(feature = "cuda")]
pub type BurnCudaBf16 = BurnKernels<burn::backend::Cuda<half::bf16, i32>>;

/// The Burn reference on Burn's CUDA backend, float32.
#[cfg(feature = "cuda")]
pub type BurnCudaF32 = BurnKernels<burn::backend::Cuda<f32, i32>>;

/// Work that is generic over the kernels, for [`run_on`]: what a closure
/// generic over `K` would be, if closures could be generic.
pub trait OnBackend {
    /// What the work gives back.
    type Output;

    /// Runs on kernels `K` and `device`; `dtype` names their float type
    /// (`f32`, `bf16` or `f16`).
    fn run<K: Kernels>(self, device: K::Device, dtype: &'static str) -> Self::Output;
}

/// The names [`run_on`] accepts in this build: `cpu`, `burn-cpu`, and with the
/// `cuda` feature `cuda-bf16`, `cuda-f16`, `cuda-f32`, `burn-cuda-bf16` and
/// `burn-cuda-f32`.
pub fn backend_names() -> Vec<&'static str> {
    let mut names = vec!["cpu", "burn-cpu"];
    if cfg!(feature = "cuda") {
        names.extend([
            "cuda-bf16",
            "cuda-f16",
            "cuda-f32",
            "burn-cuda-bf16",
            "burn-cuda-f32",
        ]);
    }
    names
}

/// Runs `work` on the backend called `name` (see [`backend_names`]), on CUDA
/// device `cuda_index` for the CUDA ones.
pub fn run_on<W: OnBackend>(
    name: &str,
    cuda_index: usize,
    work: W,
) -> Result<W::Output, LlamaError> {
    #[cfg(feature = "cuda")]
    let burn_cuda = || {
        cache_compiled_kernels();
        burn::backend::cuda::CudaDevice::new(cuda_index)
    };
    #[cfg(not(feature = "cuda"))]
    let _ = cuda_index;
    Ok(match name {
        "cpu" => work.run::<Cpu>((), "f32"),
        "burn-cpu" => work.run::<BurnCpu>(Default::default(), "f32"),
        #[cfg(feature = "cuda")]
        "cuda-bf16" => work.run::<CudaBf16>(cuda_index, "bf16"),
        #[cfg(feature = "cuda")]
        "cuda-f16" => work.run::<CudaF16>(cuda_index, "f16"),
        #[cfg(feature = "cuda")]
        "cuda-f32" => work.run::<CudaF32>(cuda_index, "f32"),
        #[cfg(feature = "cuda")]
        "burn-cuda-bf16" => work.run::<BurnCudaBf16>(burn_cuda(), "bf16"),
        #[cfg(feature = "cuda")]
        "burn-cuda-f32" => work.run::<BurnCudaF32>(burn_cuda(), "f32"),
        other => {
            return Err(LlamaError::Config(format!(
                "unknown backend `{other}`; this build has: {} (CUDA ones need --features cuda)",
                backend_names().join(", ")
            )));
        }
    })
}

/// Turns on CubeCL's on-disk cache of compiled CUDA kernels (PTX), which is off
/// by default, unless a `cubecl.toml` / `burn.toml` says where (or whether) to
/// keep it. Without it every process compiles its kernels again with NVRTC: 6–10
/// s of the first batch, paid by each shard of a multi-GPU run. The cache sits
/// beside CubeCL's autotune cache: the `target/` folder of the Cargo project
/// around the working directory, else the user's cache folder (`~/.cache/cubecl`).
/// Does nothing once CubeCL's configuration has been read (a device exists).
#[cfg(feature = "cuda")]
fn cache_compiled_kernels() {
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig, cache::CacheConfig};
    let mut state = CubeClRuntimeConfig::storage().lock();
    if state.is_none() {
        let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
        if config.compilation.cache.is_none() {
            config.compilation.cache = Some(CacheConfig::Target);
        }
        *state = Some(std::sync::Arc::new(config));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct KernelName;

    impl OnBackend for KernelName {
        type Output = (usize, &'static str);
        fn run<K: Kernels>(self, _: K::Device, dtype: &'static str) -> Self::Output {
            (std::any::type_name::<K>().len(), dtype)
        }
    }

    /// Needs no GPU: only CubeCL's configuration is set and read.
    #[cfg(feature = "cuda")]
    #[test]
    fn compiled_kernels_are_cached_unless_configured_otherwise() {
        use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
        cache_compiled_kernels();
        assert!(CubeClRuntimeConfig::get().compilation.cache.is_some());
    }

    #[test]
    fn names_select_backends_and_unknown_names_fail() {
        assert_eq!(run_on("cpu", 0, KernelName).unwrap().1, "f32");
        assert_eq!(run_on("burn-cpu", 0, KernelName).unwrap().1, "f32");
        let error = run_on("tpu", 0, KernelName).unwrap_err().to_string();
        assert!(
            error.contains("unknown backend `tpu`") && error.contains("cpu"),
            "{error}"
        );
    }
}
