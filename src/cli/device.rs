//! Where a run computes and in which float type: `--device` and `--dtype`,
//! shared by generation runs and `paraphrase`.

use std::str::FromStr;

use clap::ValueEnum;

use crate::cli::error::{CliError, Result};

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    /// The CPU (Burn ndarray).
    Cpu,
    /// CUDA device `i`.
    Cuda(usize),
}

/// The error of parsing a [`DeviceSpec`]; clap turns it into a usage error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a device: expected cpu, cuda or cuda:<index>")]
pub struct UnknownDevice(pub String);

impl FromStr for DeviceSpec {
    type Err = UnknownDevice;

    /// Parses `cpu`, `cuda` or `cuda:i`.
    fn from_str(text: &str) -> std::result::Result<Self, UnknownDevice> {
        match text {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            _ => text
                .strip_prefix("cuda:")
                .and_then(|index| index.parse().ok())
                .map(DeviceSpec::Cuda)
                .ok_or_else(|| UnknownDevice(text.to_string())),
        }
    }
}

impl DeviceSpec {
    /// `cpu` or `cuda` (the index does not change results).
    pub fn backend_name(self) -> &'static str {
        match self {
            DeviceSpec::Cpu => "cpu",
            DeviceSpec::Cuda(_) => "cuda",
        }
    }

    /// The `chorus_llama::backend::run_on` name and CUDA index of this device
    /// computing in `dtype` (checked by [`dtype_for`]); an error for CUDA in a
    /// binary built without it.
    pub fn backend(self, dtype: Dtype) -> Result<(String, usize)> {
        match self {
            DeviceSpec::Cpu => Ok(("cpu".into(), 0)),
            DeviceSpec::Cuda(index) if cfg!(feature = "cuda") => {
                Ok((format!("cuda-{}", dtype.name()), index))
            }
            DeviceSpec::Cuda(index) => Err(CliError::Usage(format!(
                "--device cuda:{index}: this binary was built without CUDA; rebuild with --features cuda"
            ))),
        }
    }
}

/// Weight and activation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Dtype {
    /// 32-bit float.
    F32,
    /// bfloat16.
    Bf16,
    /// IEEE half.
    F16,
}

impl Dtype {
    /// The flag value.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::Bf16 => "bf16",
            Dtype::F16 => "f16",
        }
    }
}

/// The float type a run on `device` computes in: f32 on the CPU (the only one
/// there), bf16 on CUDA unless `--dtype` says otherwise.
pub fn dtype_for(device: DeviceSpec, asked: Option<Dtype>) -> Result<Dtype> {
    match (device, asked) {
        (DeviceSpec::Cpu, None | Some(Dtype::F32)) => Ok(Dtype::F32),
        (DeviceSpec::Cpu, Some(other)) => Err(CliError::Usage(format!(
            "--dtype {} is not available on the CPU backend (f32 only); use --device cuda",
            other.name()
        ))),
        (DeviceSpec::Cuda(_), None) => Ok(Dtype::Bf16),
        (DeviceSpec::Cuda(_), Some(dtype)) => Ok(dtype),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_backends_need_a_cuda_build() {
        let backend = DeviceSpec::Cuda(1).backend(Dtype::Bf16);
        if cfg!(feature = "cuda") {
            assert_eq!(backend.unwrap(), ("cuda-bf16".to_string(), 1));
        } else {
            let message = backend.unwrap_err().to_string();
            assert!(message.contains("built without CUDA"), "{message}");
        }
        assert_eq!(
            DeviceSpec::Cpu.backend(Dtype::F32).unwrap(),
            ("cpu".to_string(), 0)
        );
    }

    #[test]
    fn devices_parse_and_bad_ones_are_refused() {
        assert_eq!("cpu".parse(), Ok(DeviceSpec::Cpu));
        assert_eq!("cuda".parse(), Ok(DeviceSpec::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(DeviceSpec::Cuda(3)));
        for bad in ["gpu", "cuda:", "cuda:x"] {
            assert_eq!(
                bad.parse::<DeviceSpec>(),
                Err(UnknownDevice(bad.to_string()))
            );
        }
    }

    #[test]
    fn cpu_refuses_half_precision() {
        assert_eq!(dtype_for(DeviceSpec::Cpu, None).unwrap(), Dtype::F32);
        assert!(dtype_for(DeviceSpec::Cpu, Some(Dtype::Bf16)).is_err());
        assert_eq!(dtype_for(DeviceSpec::Cuda(0), None).unwrap(), Dtype::Bf16);
    }
}
