//! The element types the CUDA kernels store weights and activations in.

use cudarc::cublas::sys::cudaDataType;
use cudarc::driver::{DeviceRepr, ValidAsZeroBits};

/// A float type of the CUDA kernels: bf16, f16 or f32.
pub trait CudaElem:
    DeviceRepr + ValidAsZeroBits + Copy + Default + Send + Sync + std::fmt::Debug + 'static
{
    /// The NVRTC define selecting it in the kernels' source (`None` for f32).
    const DEFINE: Option<&'static str>;
    /// Its cuBLAS data type.
    const DATA_TYPE: cudaDataType;
    /// Its name (`bf16`, `f16`, `f32`).
    const NAME: &'static str;
    /// Rounds an f32 to this type.
    fn from_f32(value: f32) -> Self;
    /// Widens to f32.
    fn to_f32(self) -> f32;
}

impl CudaElem for half::bf16 {
    const DEFINE: Option<&'static str> = Some("-DCHORUS_BF16");
    const DATA_TYPE: cudaDataType = cudaDataType::CUDA_R_16BF;
    const NAME: &'static str = "bf16";
    fn from_f32(value: f32) -> Self {
        half::bf16::from_f32(value)
    }
    fn to_f32(self) -> f32 {
        half::bf16::to_f32(self)
    }
}

impl CudaElem for half::f16 {
    const DEFINE: Option<&'static str> = Some("-DCHORUS_F16");
    const DATA_TYPE: cudaDataType = cudaDataType::CUDA_R_16F;
    const NAME: &'static str = "f16";
    fn from_f32(value: f32) -> Self {
        half::f16::from_f32(value)
    }
    fn to_f32(self) -> f32 {
        half::f16::to_f32(self)
    }
}

impl CudaElem for f32 {
    const DEFINE: Option<&'static str> = None;
    const DATA_TYPE: cudaDataType = cudaDataType::CUDA_R_32F;
    const NAME: &'static str = "f32";
    fn from_f32(value: f32) -> Self {
        value
    }
    fn to_f32(self) -> f32 {
        self
    }
}
