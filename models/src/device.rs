//! The execution device a session runs on, as the element's `device` property names it (its own
//! module so that the error type can name a device without depending on the session builder).

use std::fmt;
use std::str::FromStr;

/// Where inference runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Device {
    #[default]
    Cpu,
    Cuda,
    TensorRt,
}

impl Device {
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::TensorRt => "tensorrt",
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Device {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda),
            "tensorrt" | "trt" => Ok(Device::TensorRt),
            other => Err(format!(
                "unknown device '{other}': expected one of cpu, cuda, tensorrt"
            )),
        }
    }
}
