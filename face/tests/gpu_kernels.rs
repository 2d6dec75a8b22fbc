//! The face path with its kernels on the GPU (`KernelDevice::Cuda`: region conversion, crop
//! warp, the shape prior's batch renderer, colour fix, paste-back, detail smoothing, write-back
//! as CUDA twins) and the networks on ONNX Runtime's CPU provider, against the CPU path: the
//! same frames, both shipped generators (the full one with its shape prior), output bytes within
//! 1 grey level. Without a GPU the CUDA path must refuse to start with an error that names it.

mod support;

use std::path::{Path, PathBuf};

use sgpn_face::{FaceRestorer, KernelDevice, OutputMode, RestoreParams, ShapeConfig};
use support::{config, photo, process_rgb};

fn shipped(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(file)
}

/// The default generator, or with `shape_prior` the full one with its regressor and 3DMM.
fn restorer(
    kernels: KernelDevice,
    shape_prior: bool,
) -> Result<FaceRestorer, sgpn_face::FaceError> {
    let (generator, shape) = if shape_prior {
        let shape = ShapeConfig {
            regressor_path: shipped("sgpn-small256-full-regressor.onnx"),
            morphable_path: shipped("sgpn-mediapipe-3dmm.safetensors"),
        };
        (shipped("sgpn-small256-full.onnx"), Some(shape))
    } else {
        (shipped("sgpn-small256-no3d.onnx"), None)
    };
    let mut cfg = config(&generator, shape, OutputMode::Restored);
    cfg.kernels = kernels;
    FaceRestorer::new(&cfg)
}

#[test]
fn the_gpu_kernels_restore_frames_as_the_cpu_references_do() {
    compare_on_photos(false);
}

/// The full model's frames also go through the batch renderer on the GPU.
#[test]
fn the_gpu_shape_prior_renders_as_the_cpu_reference_does() {
    compare_on_photos(true);
}

fn compare_on_photos(shape_prior: bool) {
    if !sgpn_kernels::cuda::driver_present() {
        let err = restorer(KernelDevice::Cuda, shape_prior)
            .err()
            .expect("no GPU here")
            .to_string();
        assert!(
            err.contains("kernels=cuda") && err.contains("libcuda"),
            "{err}"
        );
        println!("skipped the comparison: no CUDA driver (libcuda.so) on this machine");
        return;
    }
    let (mut cpu, mut gpu) = (
        restorer(KernelDevice::Cpu, shape_prior).unwrap(),
        restorer(KernelDevice::Cuda, shape_prior).unwrap(),
    );
    let params = RestoreParams::default();
    // Three frames of the same photo: the second and third go through the detail smoothing.
    for (name, scale) in [("obama.jpg", 0.4), ("obama.jpg", 0.4), ("biden.jpg", 0.3)] {
        let (w, h, input) = photo(name, scale);
        let (mut a, mut b) = (input.clone(), input.clone());
        let faces_cpu = process_rgb(&mut cpu, w, h, &mut a, &params).unwrap();
        let faces_gpu = process_rgb(&mut gpu, w, h, &mut b, &params).unwrap();
        assert_eq!(faces_cpu.len(), faces_gpu.len(), "{name}");
        assert!(!faces_cpu.is_empty(), "{name}: a face is restored");
        let worst = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
        let changed = a.iter().zip(&input).filter(|(x, y)| x != y).count();
        println!("{name}: {changed} bytes restored, largest CPU/GPU difference {worst}");
        assert!(
            worst <= 1,
            "{name}: CPU and GPU kernels differ by {worst} levels"
        );
    }
}
