//! Backend aliases: the model is generic over any Burn backend; these are the ones
//! Chorus builds and tests.

/// CPU backend (ndarray, f32). The default for tests and small models.
pub type Cpu = burn::backend::NdArray<f32>;

/// CUDA backend computing in bfloat16 (attention softmax and RMSNorm still in f32).
#[cfg(feature = "cuda")]
pub type CudaBf16 = burn::backend::Cuda<half::bf16, i32>;

/// CUDA backend computing in float16 (attention softmax and RMSNorm still in f32).
#[cfg(feature = "cuda")]
pub type CudaF16 = burn::backend::Cuda<half::f16, i32>;

/// CUDA backend computing in float32.
#[cfg(feature = "cuda")]
pub type CudaF32 = burn::backend::Cuda<f32, i32>;
