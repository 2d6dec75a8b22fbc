//! The CUDA path of the backend seam (docs/gpu-path.md): kernel sources in `kernels/cuda/*.cu`,
//! compiled with NVRTC at run time, loaded once per [`CudaKernels`], launched by typed Rust
//! functions through `cudarc`.
//!
//! NVRTC is loaded by absolute path from `$SGPN_DEPS/cuda/` (docs/environment.md: `cargo test`
//! replaces `LD_LIBRARY_PATH`, and `libnvrtc.so.13` finds its builtins only if they are already
//! loaded). cudarc opens its libraries by file name; once our absolute-path load has put
//! `libnvrtc.so.13` into the process, the dynamic loader resolves that name to the loaded copy
//! (matched by SONAME), so cudarc uses ours. Without `.deps`, cudarc's own search applies.

use crate::affine::Affine2;
use crate::backend::{FaceKernels, check_slot};
use crate::error::{KernelError, check_len};
use crate::image::RgbImage;
use crate::paste::PasteParams;
use crate::render::{
    BatchRender, Camera, CoefficientBatch, FaceInput, MorphableParts, PreparedBatch, RenderTarget,
};
use crate::warp::{BORDER_FILL, MAX_SUPERSAMPLE, check_batch, check_finite};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, CudaView, CudaViewMut, DevicePtr, DeviceRepr,
    LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{CompileOptions, Ptx, compile_ptx_with_opts};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

mod colour;
mod frame;
mod morph;
mod normals;
mod ptx_cache;
mod render;
mod stabilise;

pub use colour::ColourParams;
pub use frame::{DeviceFrame, FrameParams};
pub use morph::{DeviceMorph, MorphParams};
pub use normals::{DeviceMesh, NormalsParams};
pub use ptx_cache::{CACHE_ENV, PtxCache, PtxOrigin, cache_dir_from};
pub use render::{DeviceBatch, DeviceMorphable, RenderParams};
pub use stabilise::{StabiliseBuffers, StabiliseParams};

/// Kernel sources: (file name, CUDA C source, kernel function names).
pub const SOURCES: [(&str, &str, &[&str]); 9] = [
    (
        "warp.cu",
        include_str!("../cuda/warp.cu"),
        &["warp_face_crops", "crop_to_region"],
    ),
    (
        "paste.cu",
        include_str!("../cuda/paste.cu"),
        &["paste_back", "paste_coverage"],
    ),
    ("affb.cu", include_str!("../cuda/affb.cu"), &["affb_fuse"]),
    (
        "render.cu",
        include_str!("../cuda/render.cu"),
        &[
            "render_vertices",
            "raster_depth",
            "raster_resolve",
            "render_to_crops",
            "render_warp_back",
        ],
    ),
    (
        "frame.cu",
        include_str!("../cuda/frame.cu"),
        &[
            "frame_read_region",
            "frame_write_packed",
            "frame_write_luma",
            "frame_write_chroma",
            "frame_store_luma",
        ],
    ),
    (
        "colour.cu",
        include_str!("../cuda/colour.cu"),
        &["colour_cell_means", "colour_apply"],
    ),
    (
        "stabilise.cu",
        include_str!("../cuda/stabilise.cu"),
        &["stabilise_blend", "region_change"],
    ),
    (
        "morph.cu",
        include_str!("../cuda/morph.cu"),
        &["morph_combine"],
    ),
    (
        "normals.cu",
        include_str!("../cuda/normals.cu"),
        &["triangle_normals", "vertex_normals"],
    ),
];

/// Architectures the sources are checked for; the run-time build targets `sm_80` PTX, which the
/// driver JIT-compiles for newer GPUs (H100 is sm_90).
pub const ARCHES: [&str; 2] = ["sm_80", "sm_90"];

/// Threads per block side for the 2-D kernels.
const BLOCK: u32 = 16;

impl From<cudarc::driver::DriverError> for KernelError {
    fn from(e: cudarc::driver::DriverError) -> Self {
        KernelError::Cuda(format!("driver: {e}"))
    }
}

/// Whether the CUDA driver library can be opened (a GPU machine), for tests and callers that
/// choose a path before asking for a context.
pub fn driver_present() -> bool {
    // SAFETY: only probes whether libcuda can be opened.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// `.deps` of this checkout: `$SGPN_DEPS` at run time, else the path cargo gave at build time.
pub fn deps_dir() -> PathBuf {
    std::env::var_os("SGPN_DEPS")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(
                option_env!("SGPN_DEPS")
                    .unwrap_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../.deps")),
            )
        })
}

/// Loads NVRTC from `$SGPN_DEPS/cuda` (builtins first) once per process. Returns a
/// description of what was loaded, or an error naming the missing library.
pub fn load_nvrtc() -> Result<&'static str, KernelError> {
    static LOADED: OnceLock<Result<String, String>> = OnceLock::new();
    let result = LOADED.get_or_init(|| {
        let dir = deps_dir().join("cuda");
        let builtins = dir.join("libnvrtc-builtins.so.13.0");
        let nvrtc = dir.join("libnvrtc.so.13");
        if builtins.is_file() && nvrtc.is_file() {
            for lib in [&builtins, &nvrtc] {
                // SAFETY: NVRTC's initialisers only set up its own state. The handles are
                // leaked on purpose: the libraries must stay loaded for the process lifetime.
                match unsafe { libloading::Library::new(lib) } {
                    Ok(handle) => std::mem::forget(handle),
                    Err(e) => return Err(format!("cannot load {}: {e}", lib.display())),
                }
            }
            return Ok(format!("NVRTC from {}", nvrtc.display()));
        }
        // SAFETY: only probes whether the library can be opened.
        if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            Ok("NVRTC from the system library path".to_owned())
        } else {
            Err(format!(
                "NVRTC not found: neither {} nor a system libnvrtc (run scripts/setup.sh)",
                nvrtc.display()
            ))
        }
    });
    result.as_deref().map_err(|e| KernelError::Cuda(e.clone()))
}

/// NVRTC's options for kernel file `name` on `arch` (part of the PTX cache's key).
fn compile_options(name: &str, arch: &'static str) -> CompileOptions {
    CompileOptions {
        arch: Some(arch),
        name: Some(name.to_owned()),
        // No fused multiply-add: each kernel then rounds every product and sum as its Rust
        // reference does, which the renderer's exact coverage and z-buffer ties rely on.
        fmad: Some(false),
        ..Default::default()
    }
}

/// Compiles one kernel source to PTX for `arch` (e.g. `sm_80`).
pub fn compile_to_ptx(name: &str, source: &str, arch: &'static str) -> Result<Ptx, KernelError> {
    load_nvrtc()?;
    compile_ptx_with_opts(source, compile_options(name, arch))
        .map_err(|e| KernelError::Cuda(format!("NVRTC compiling {name} for {arch}: {e}")))
}

/// Scalars of `affb_fuse` (kernels/cuda/affb.cu `AffbParams`, same field order).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct AffbParams {
    pub n: i32,
    pub channels: i32,
    pub positions: i32,
    pub has_3d: i32,
}

// SAFETY: `#[repr(C)]` plain data laid out as the CUDA struct (four ints, no padding).
unsafe impl DeviceRepr for AffbParams {}

impl AffbParams {
    pub fn new(shape: crate::affb::AffbShape, has_3d: bool) -> Result<Self, KernelError> {
        Ok(Self {
            n: to_i32("faces", shape.n)?,
            channels: to_i32("channels", shape.channels)?,
            positions: to_i32("positions", shape.positions)?,
            has_3d: i32::from(has_3d),
        })
    }
}

/// Scalars of `warp_face_crops` (kernels/cuda/warp.cu `WarpParams`, same field order).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct WarpParams {
    src_w: i32,
    src_h: i32,
    size: i32,
    count: i32,
    max_supersample: i32,
    border: [f32; 3],
}

// SAFETY: `#[repr(C)]` plain data laid out as the CUDA struct (ints then floats, no padding).
unsafe impl DeviceRepr for WarpParams {}

impl WarpParams {
    fn new(src_w: usize, src_h: usize, size: usize, count: usize) -> Result<Self, KernelError> {
        Ok(Self {
            src_w: to_i32("source width", src_w)?,
            src_h: to_i32("source height", src_h)?,
            size: to_i32("crop size", size)?,
            count: to_i32("crop count", count)?,
            max_supersample: MAX_SUPERSAMPLE as i32,
            border: BORDER_FILL,
        })
    }
}

/// Scalars of `paste_back` (kernels/cuda/paste.cu `PasteParams`, same field order).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct PasteLaunch {
    width: i32,
    height: i32,
    size: i32,
    m: [f32; 6],
    blend: f32,
    erode: f32,
    feather: f32,
}

// SAFETY: `#[repr(C)]` plain data laid out as the CUDA struct (ints then floats, no padding).
unsafe impl DeviceRepr for PasteLaunch {}

impl PasteLaunch {
    fn new(
        width: usize,
        height: usize,
        size: usize,
        region_to_crop: &Affine2,
        params: &PasteParams,
    ) -> Result<Self, KernelError> {
        let [[m00, m01, m02], [m10, m11, m12]] = region_to_crop.m;
        Ok(Self {
            width: to_i32("region width", width)?,
            height: to_i32("region height", height)?,
            size: to_i32("crop size", size)?,
            m: [m00, m01, m02, m10, m11, m12],
            blend: params.blend,
            erode: params.erode,
            feather: params.feather,
        })
    }
}

/// One thread per (position, output channel, face), 256 positions per block.
fn affb_grid(positions: usize, params: &AffbParams) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (
            positions.div_ceil(256) as u32,
            params.channels as u32,
            params.n as u32,
        ),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
}

fn to_i32(what: &'static str, v: usize) -> Result<i32, KernelError> {
    i32::try_from(v)
        .map_err(|_| KernelError::Cuda(format!("{what} = {v} exceeds the kernel's int range")))
}

/// `rect` as the kernels' `int[4]` (x, y, width, height).
fn rect_to_i32(rect: crate::image::Rect) -> Result<[i32; 4], KernelError> {
    Ok([
        to_i32("region x", rect.x)?,
        to_i32("region y", rect.y)?,
        to_i32("region width", rect.width)?,
        to_i32("region height", rect.height)?,
    ])
}

fn grid(width: usize, height: usize, depth: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (
            (width as u32).div_ceil(BLOCK),
            (height as u32).div_ceil(BLOCK),
            depth as u32,
        ),
        block_dim: (BLOCK, BLOCK, 1),
        shared_mem_bytes: 0,
    }
}

/// Loads kernel file `name` into `ctx`: its PTX from `cache` when there, else compiled (and
/// stored). An entry the driver refuses (a PTX newer than the driver, say) is dropped and
/// compiled again.
fn load_module(
    ctx: &Arc<CudaContext>,
    cache: Option<&PtxCache>,
    name: &str,
    source: &str,
) -> Result<Arc<cudarc::driver::CudaModule>, KernelError> {
    let arch = ARCHES[0];
    let Some(cache) = cache else {
        return Ok(ctx.load_module(compile_to_ptx(name, source, arch)?)?);
    };
    let (ptx, origin) = cache.compile(name, source, arch)?;
    match (ctx.load_module(ptx), origin) {
        (Ok(module), _) => Ok(module),
        (Err(_), PtxOrigin::Cache) => {
            cache.remove(name, source, arch);
            Ok(ctx.load_module(compile_to_ptx(name, source, arch)?)?)
        }
        (Err(e), PtxOrigin::Compiled) => Err(e.into()),
    }
}

/// The CUDA implementation of [`FaceKernels`]: one context, one stream, kernels compiled once.
pub struct CudaKernels {
    stream: Arc<CudaStream>,
    warp: CudaFunction,
    crop_to_region: CudaFunction,
    paste: CudaFunction,
    affb: CudaFunction,
    render_vertices: CudaFunction,
    raster_depth: CudaFunction,
    raster_resolve: CudaFunction,
    render_to_crops: CudaFunction,
    render_warp_back: CudaFunction,
    frame_read_region: CudaFunction,
    frame_write_packed: CudaFunction,
    frame_write_luma: CudaFunction,
    frame_write_chroma: CudaFunction,
    frame_store_luma: CudaFunction,
    colour_cell_means: CudaFunction,
    colour_apply: CudaFunction,
    stabilise_blend: CudaFunction,
    region_change: CudaFunction,
    paste_coverage: CudaFunction,
    morph_combine: CudaFunction,
    triangle_normals: CudaFunction,
    vertex_normals: CudaFunction,
    /// The frame between `begin_frame` and `end_frame`, on the device.
    resident: std::sync::Mutex<Option<frame::ResidentFrame>>,
}

impl CudaKernels {
    /// Opens GPU `ordinal` and compiles the kernels. Fails with a clear error (never panics)
    /// when the CUDA driver or NVRTC is missing.
    pub fn new(ordinal: usize) -> Result<Self, KernelError> {
        // CudaContext::new panics without the driver library.
        if !driver_present() {
            return Err(KernelError::Cuda(
                "CUDA driver library (libcuda.so) not found".to_owned(),
            ));
        }
        let ctx = CudaContext::new(ordinal)?;
        let cache = PtxCache::from_env();
        let mut functions = Vec::new();
        for (name, source, kernels) in SOURCES {
            let module = load_module(&ctx, cache.as_ref(), name, source)?;
            for kernel in kernels {
                functions.push(module.load_function(kernel)?);
            }
        }
        let vertex_normals = functions.pop().expect("vertex_normals loaded");
        let triangle_normals = functions.pop().expect("triangle_normals loaded");
        let morph_combine = functions.pop().expect("morph_combine loaded");
        let region_change = functions.pop().expect("region_change loaded");
        let stabilise_blend = functions.pop().expect("stabilise_blend loaded");
        let colour_apply = functions.pop().expect("colour_apply loaded");
        let colour_cell_means = functions.pop().expect("colour_cell_means loaded");
        let frame_store_luma = functions.pop().expect("frame_store_luma loaded");
        let frame_write_chroma = functions.pop().expect("frame_write_chroma loaded");
        let frame_write_luma = functions.pop().expect("frame_write_luma loaded");
        let frame_write_packed = functions.pop().expect("frame_write_packed loaded");
        let frame_read_region = functions.pop().expect("frame_read_region loaded");
        let render_warp_back = functions.pop().expect("render_warp_back loaded");
        let render_to_crops = functions.pop().expect("render_to_crops loaded");
        let raster_resolve = functions.pop().expect("raster_resolve loaded");
        let raster_depth = functions.pop().expect("raster_depth loaded");
        let render_vertices = functions.pop().expect("render_vertices loaded");
        let affb = functions.pop().expect("affb_fuse loaded");
        let paste_coverage = functions.pop().expect("paste_coverage loaded");
        let paste = functions.pop().expect("paste_back loaded");
        let crop_to_region = functions.pop().expect("crop_to_region loaded");
        let warp = functions.pop().expect("warp_face_crops loaded");
        Ok(Self {
            // A stream of our own rather than the legacy default stream, so that ONNX Runtime
            // can be given it as its compute stream without serialising with every other.
            stream: ctx.new_stream()?,
            warp,
            crop_to_region,
            paste,
            affb,
            render_vertices,
            raster_depth,
            raster_resolve,
            render_to_crops,
            render_warp_back,
            frame_read_region,
            frame_write_packed,
            frame_write_luma,
            frame_write_chroma,
            frame_store_luma,
            colour_cell_means,
            colour_apply,
            stabilise_blend,
            region_change,
            paste_coverage,
            morph_combine,
            triangle_normals,
            vertex_normals,
            resident: std::sync::Mutex::new(None),
        })
    }

    /// The context the kernels were loaded into (the device's primary context, which ONNX
    /// Runtime's CUDA provider uses too).
    pub fn context(&self) -> &Arc<CudaContext> {
        self.stream.context()
    }

    /// The stream every launch goes to (for callers that keep buffers on the device).
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// `values` on the device; an empty slice as one zero, since kernels need a valid pointer
    /// even for an input they never read.
    pub(crate) fn upload_or_placeholder<T: DeviceRepr + cudarc::driver::ValidAsZeroBits>(
        &self,
        values: &[T],
    ) -> Result<CudaSlice<T>, KernelError> {
        Ok(if values.is_empty() {
            self.stream.alloc_zeros(1)?
        } else {
            self.stream.clone_htod(values)?
        })
    }

    /// The stream's `CUstream` handle, for ONNX Runtime's CUDA and TensorRT providers
    /// (`user_compute_stream`); valid while these kernels live.
    pub fn stream_handle(&self) -> u64 {
        self.stream.cu_stream() as usize as u64
    }

    /// Launches `warp_face_crops` on device buffers: `src` interleaved RGB `src_w × src_h`,
    /// `transforms` N × 6 floats (crop → source), `out` N × 3 × S × S (a part of a larger
    /// batch, `batch.slice_mut(..)`, or all of it, `batch.as_view_mut()`).
    pub fn launch_warp(
        &self,
        src: &CudaSlice<f32>,
        src_w: usize,
        src_h: usize,
        transforms: &CudaSlice<f32>,
        size: usize,
        out: &mut CudaViewMut<'_, f32>,
    ) -> Result<(), KernelError> {
        let count = transforms.len() / 6;
        check_len(
            "warp_face_crops transforms [N, 6]",
            count * 6,
            transforms.len(),
        )?;
        check_len("warp_face_crops source", src_w * src_h * 3, src.len())?;
        check_batch(count, size, out.len())?;
        if count == 0 {
            return Ok(());
        }
        let params = WarpParams::new(src_w, src_h, size, count)?;
        let mut launch = self.stream.launch_builder(&self.warp);
        launch.arg(&params).arg(src).arg(transforms).arg(out);
        // SAFETY: argument types and order match `warp_face_crops` in warp.cu; buffer lengths
        // were checked above against the sizes the kernel indexes.
        unsafe { launch.launch(grid(size, size, count)) }?;
        Ok(())
    }

    /// Launches `paste_back` on device buffers: `region` interleaved RGB `width × height`,
    /// `alpha` width × height, `restored` 3 × S × S, and `reference` (the generator's input
    /// crop, 3 × S × S) for residual mode or `None` to replace; crops are views, so that they
    /// can be one slot of a batch.
    #[allow(clippy::too_many_arguments)]
    pub fn launch_paste(
        &self,
        region: &mut CudaSlice<f32>,
        alpha: &mut CudaSlice<f32>,
        width: usize,
        height: usize,
        restored: &CudaView<'_, f32>,
        reference: Option<&CudaView<'_, f32>>,
        size: usize,
        region_to_crop: &Affine2,
        params: &PasteParams,
    ) -> Result<(), KernelError> {
        check_len("paste_back region", width * height * 3, region.len())?;
        crate::paste::validate_inputs(
            width * height,
            alpha.len(),
            restored.len(),
            reference.map(CudaView::len),
            size,
            region_to_crop,
            params,
        )?;
        if width == 0 || height == 0 {
            return Ok(());
        }
        let p = PasteLaunch::new(width, height, size, region_to_crop, params)?;
        // The kernel takes a null `reference` as replace mode.
        let null_reference: u64 = 0;
        let mut launch = self.stream.launch_builder(&self.paste);
        launch.arg(&p).arg(region).arg(alpha).arg(restored);
        match reference {
            Some(reference) => launch.arg(reference),
            None => launch.arg(&null_reference),
        };
        // SAFETY: argument types and order match `paste_back` in paste.cu (a null device
        // pointer is a u64 0); buffer lengths were checked above against the sizes the kernel
        // indexes.
        unsafe { launch.launch(grid(width, height, 1)) }?;
        Ok(())
    }
}

impl CudaKernels {
    /// Launches `affb_fuse` on device buffers (shapes as `affb::affb_fuse`; `out` is
    /// [n, 2C, H, W]).
    #[allow(clippy::too_many_arguments)]
    pub fn launch_affb(
        &self,
        shape: crate::affb::AffbShape,
        f_inter: &CudaSlice<f32>,
        f_lq: &CudaSlice<f32>,
        f_3d: Option<&CudaSlice<f32>>,
        weight: &CudaSlice<f32>,
        bias: &CudaSlice<f32>,
        out: &mut CudaSlice<f32>,
    ) -> Result<(), KernelError> {
        let len = shape.n * shape.channels * shape.positions;
        let k = if f_3d.is_some() { 3 } else { 2 };
        check_len("affb_fuse F_inter", len, f_inter.len())?;
        check_len("affb_fuse F_lq", len, f_lq.len())?;
        if let Some(f_3d) = f_3d {
            check_len("affb_fuse F_3d", len, f_3d.len())?;
        }
        check_len(
            "affb_fuse weight [C, kC]",
            shape.channels * k * shape.channels,
            weight.len(),
        )?;
        check_len("affb_fuse bias [C]", shape.channels, bias.len())?;
        check_len("affb_fuse output [N, 2C, H, W]", 2 * len, out.len())?;
        if len == 0 {
            return Ok(());
        }
        let params = AffbParams::new(shape, f_3d.is_some())?;
        // F_3d is not read without the prior; any valid device pointer stands in for it.
        let f_3d = f_3d.unwrap_or(f_lq);
        let mut launch = self.stream.launch_builder(&self.affb);
        launch
            .arg(&params)
            .arg(f_inter)
            .arg(f_lq)
            .arg(f_3d)
            .arg(weight)
            .arg(bias)
            .arg(out);
        let config = affb_grid(shape.positions, &params);
        // SAFETY: argument types and order match `affb_fuse` in affb.cu; buffer lengths were
        // checked above against the sizes the kernel indexes.
        unsafe { launch.launch(config) }?;
        Ok(())
    }

    /// Launches `affb_fuse` on memory another library owns, on that library's `stream` (ONNX
    /// Runtime's compute stream in the `sgpn.AffbFuse` CUDA kernel): `ptrs` are the device
    /// addresses of F_inter, F_lq, F_3d (any valid address without it), W_mask, b_mask and the
    /// output.
    ///
    /// # Safety
    /// Every address must be a live allocation of this context holding what `affb_fuse` reads
    /// or writes for `shape` (as `launch_affb` checks for its own buffers), and must stay alive
    /// until the work queued on `stream` has run.
    pub unsafe fn launch_affb_on(
        &self,
        stream: &CudaStream,
        shape: crate::affb::AffbShape,
        has_3d: bool,
        ptrs: [u64; 6],
    ) -> Result<(), KernelError> {
        if shape.n * shape.channels * shape.positions == 0 {
            return Ok(());
        }
        let params = AffbParams::new(shape, has_3d)?;
        let [inter, lq, d3, weight, bias, out] = ptrs;
        let mut launch = stream.launch_builder(&self.affb);
        launch
            .arg(&params)
            .arg(&inter)
            .arg(&lq)
            .arg(&d3)
            .arg(&weight)
            .arg(&bias)
            .arg(&out);
        let config = affb_grid(shape.positions, &params);
        // SAFETY: the caller guarantees the addresses; the arguments are `affb_fuse`'s, in
        // order, each pointer passed as its 64-bit address.
        unsafe { launch.launch(config) }?;
        Ok(())
    }

    /// Host-memory convenience for `launch_affb`: upload, launch, download.
    pub fn affb_fuse(
        &self,
        shape: crate::affb::AffbShape,
        f_inter: &[f32],
        f_lq: &[f32],
        f_3d: Option<&[f32]>,
        weight: &[f32],
        bias: &[f32],
    ) -> Result<Vec<f32>, KernelError> {
        let upload = |v: &[f32]| self.stream.clone_htod(v);
        let (d_inter, d_lq, d_w, d_b) = (
            upload(f_inter)?,
            upload(f_lq)?,
            upload(weight)?,
            upload(bias)?,
        );
        let d_3d = f_3d.map(upload).transpose()?;
        let mut d_out = self.stream.alloc_zeros::<f32>(2 * f_inter.len())?;
        self.launch_affb(
            shape,
            &d_inter,
            &d_lq,
            d_3d.as_ref(),
            &d_w,
            &d_b,
            &mut d_out,
        )?;
        let mut out = vec![0f32; 2 * f_inter.len()];
        self.stream.memcpy_dtoh(&d_out, &mut out)?;
        self.stream.synchronize()?;
        Ok(out)
    }
}

/// One thread per value, 256 per block, for the elementwise kernels.
fn line(n: usize) -> Result<LaunchConfig, KernelError> {
    let blocks = u32::try_from(n.div_ceil(256))
        .map_err(|_| KernelError::Cuda(format!("{n} values exceed a 1-D grid")))?;
    Ok(LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// Crop `slot` of a batch of `[3,S,S]` crops on the device.
fn crop_view(
    batch: &CudaSlice<f32>,
    slot: usize,
    size: usize,
) -> Result<CudaView<'_, f32>, KernelError> {
    let n = 3 * size * size;
    check_slot("crop batch", batch.len(), slot + 1, n)?;
    Ok(batch.slice(slot * n..(slot + 1) * n))
}

/// Transforms as the kernels take them: six floats each, row by row.
pub(crate) fn flat_transforms(transforms: &[Affine2]) -> Vec<f32> {
    transforms
        .iter()
        .flat_map(|t| t.m.into_iter().flatten())
        .collect()
}

impl FaceKernels for CudaKernels {
    /// Device memory on this context, ordered on [`CudaKernels::stream`].
    type Buffer = CudaSlice<f32>;

    fn zeros(&self, len: usize) -> Result<CudaSlice<f32>, KernelError> {
        Ok(if len == 0 {
            self.stream.null()?
        } else {
            self.stream.alloc_zeros(len)?
        })
    }

    fn upload(&self, host: &[f32]) -> Result<CudaSlice<f32>, KernelError> {
        Ok(if host.is_empty() {
            self.stream.null()?
        } else {
            self.stream.clone_htod(host)?
        })
    }

    /// Waits for the stream, so that `host` holds the values on return.
    fn download(&self, buffer: &CudaSlice<f32>, host: &mut [f32]) -> Result<(), KernelError> {
        check_len("download", buffer.len(), host.len())?;
        if !host.is_empty() {
            self.stream.memcpy_dtoh(buffer, host)?;
        }
        self.stream.synchronize()?;
        Ok(())
    }

    fn len(&self, buffer: &CudaSlice<f32>) -> usize {
        buffer.len()
    }

    fn duplicate(&self, buffer: &CudaSlice<f32>) -> Result<CudaSlice<f32>, KernelError> {
        if buffer.is_empty() {
            return Ok(self.stream.null()?);
        }
        Ok(self.stream.clone_dtod(buffer)?)
    }

    fn device_address(&self, buffer: &CudaSlice<f32>) -> Option<(i32, u64)> {
        let ordinal = i32::try_from(self.context().ordinal()).ok()?;
        let (address, _sync) = buffer.device_ptr(&self.stream);
        Some((ordinal, address))
    }

    /// Uploads the frame once for all its faces, in its native format.
    fn begin_frame(&self, frame: &crate::frame::FrameRef) -> Result<(), KernelError> {
        let mut resident = self.resident.lock().unwrap_or_else(|e| e.into_inner());
        *resident = None;
        *resident = Some(frame::ResidentFrame::new(self, frame)?);
        Ok(())
    }

    /// Downloads the resident frame into `frame` if a face was written into it.
    fn end_frame(&self, frame: &mut crate::frame::FrameMut) -> Result<(), KernelError> {
        let taken = self
            .resident
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match taken {
            Some(resident) => resident.store(self, frame),
            None => Ok(()),
        }
    }

    /// On the device, from the resident frame when there is one.
    fn read_region(
        &self,
        frame: &crate::frame::FrameRef,
        rect: crate::image::Rect,
    ) -> Result<CudaSlice<f32>, KernelError> {
        let resident = self.resident.lock().unwrap_or_else(|e| e.into_inner());
        match resident.as_ref().filter(|r| r.holds(frame)) {
            Some(r) => r.read_region(self, frame, rect),
            None => frame::ResidentFrame::new(self, frame)?.read_region(self, frame, rect),
        }
    }

    /// On the device, into the resident frame when there is one (stored by `end_frame`).
    fn write_region(
        &self,
        frame: &mut crate::frame::FrameMut,
        rect: crate::image::Rect,
        rgb: &CudaSlice<f32>,
        alpha: &CudaSlice<f32>,
    ) -> Result<(), KernelError> {
        let mut resident = self.resident.lock().unwrap_or_else(|e| e.into_inner());
        match resident.as_mut().filter(|r| r.holds(&frame.as_ref())) {
            Some(r) => r.write_region(self, &frame.as_ref(), rect, rgb, alpha),
            None => {
                // No frame kept for this one: upload, blend, store.
                let mut one = frame::ResidentFrame::new(self, &frame.as_ref())?;
                one.write_region(self, &frame.as_ref(), rect, rgb, alpha)?;
                one.store(self, frame)
            }
        }
    }

    fn warp_face_crops(
        &self,
        region: &CudaSlice<f32>,
        width: usize,
        height: usize,
        transforms: &[Affine2],
        size: usize,
        crops: &mut CudaSlice<f32>,
        first: usize,
    ) -> Result<(), KernelError> {
        check_len("warp_face_crops source", width * height * 3, region.len())?;
        let n = 3 * size * size;
        check_slot(
            "warp_face_crops crop batch",
            crops.len(),
            first + transforms.len(),
            n,
        )?;
        for t in transforms {
            check_finite("warp_face_crops transform", t)?;
        }
        if transforms.is_empty() {
            return Ok(());
        }
        if width == 0 || height == 0 {
            // Every sample lies outside an empty source: the reference's border fill.
            let empty = RgbImage::new(0, 0);
            let mut fill = vec![0.0; transforms.len() * n];
            for (t, crop) in transforms.iter().zip(fill.chunks_exact_mut(n)) {
                crate::warp::warp_face_crop(&empty, t, size, crop)?;
            }
            let mut out = crops.slice_mut(first * n..(first + transforms.len()) * n);
            self.stream.memcpy_htod(&fill, &mut out)?;
            return Ok(());
        }
        let d_t = self.stream.clone_htod(&flat_transforms(transforms))?;
        let mut out = crops.slice_mut(first * n..(first + transforms.len()) * n);
        self.launch_warp(region, width, height, &d_t, size, &mut out)
    }

    fn crop_to_region(
        &self,
        crops: &CudaSlice<f32>,
        slot: usize,
        size: usize,
    ) -> Result<CudaSlice<f32>, KernelError> {
        let n = 3 * size * size;
        check_slot("crop batch", crops.len(), slot + 1, n)?;
        if n == 0 {
            return Err(KernelError::EmptyCrop(size));
        }
        let mut region = self.stream.alloc_zeros::<f32>(n)?;
        let (side, offset) = (to_i32("crop size", size)?, (slot * n) as i64);
        let mut launch = self.stream.launch_builder(&self.crop_to_region);
        launch.arg(crops).arg(&mut region).arg(&side).arg(&offset);
        // SAFETY: argument types and order match `crop_to_region` in warp.cu; `crops` holds
        // slot `slot` (checked above) and `region` 3 floats per pixel of the crop.
        unsafe { launch.launch(line(size * size)?) }?;
        Ok(region)
    }

    fn paste_back(
        &self,
        region: &mut CudaSlice<f32>,
        alpha: &mut CudaSlice<f32>,
        (width, height): (usize, usize),
        restored: &CudaSlice<f32>,
        reference: Option<&CudaSlice<f32>>,
        (slot, size): (usize, usize),
        region_to_crop: &Affine2,
        params: &PasteParams,
    ) -> Result<(), KernelError> {
        let restored = crop_view(restored, slot, size)?;
        let reference = reference.map(|r| crop_view(r, slot, size)).transpose()?;
        self.launch_paste(
            region,
            alpha,
            width,
            height,
            &restored,
            reference.as_ref(),
            size,
            region_to_crop,
            params,
        )
    }

    fn colour_fix(
        &self,
        lq: &CudaSlice<f32>,
        restored: &mut CudaSlice<f32>,
        size: usize,
    ) -> Result<(), KernelError> {
        crate::backend::check_crops("colour fix", size, lq.len(), restored.len())?;
        let faces = restored.len() / (3 * size * size);
        if faces == 0 {
            return Ok(());
        }
        let p = ColourParams::new(faces, size)?;
        let cells = (p.cells * p.cells) as usize;
        let mut means = self.stream.alloc_zeros::<f32>(faces * 3 * cells)?;
        self.launch_colour_fix(lq, restored, &mut means, faces, size)
    }

    fn region_change(
        &self,
        pasted: &CudaSlice<f32>,
        input: &CudaSlice<f32>,
        change: &mut CudaSlice<f32>,
    ) -> Result<(), KernelError> {
        check_len("region change input", pasted.len(), input.len())?;
        check_len("region change output", pasted.len(), change.len())?;
        if pasted.is_empty() {
            return Ok(());
        }
        let n = pasted.len() as i64;
        let mut launch = self.stream.launch_builder(&self.region_change);
        launch.arg(pasted).arg(input).arg(change).arg(&n);
        // SAFETY: argument types and order match `region_change` in stabilise.cu; the three
        // buffers hold `n` floats (checked above).
        unsafe { launch.launch(line(pasted.len())?) }?;
        Ok(())
    }

    fn coverage(
        &self,
        alpha: &CudaSlice<f32>,
        covered: &mut CudaSlice<f32>,
    ) -> Result<(), KernelError> {
        check_len("coverage", alpha.len(), covered.len())?;
        if alpha.is_empty() {
            return Ok(());
        }
        let n = alpha.len() as i64;
        let mut launch = self.stream.launch_builder(&self.paste_coverage);
        launch.arg(alpha).arg(covered).arg(&n);
        // SAFETY: argument types and order match `paste_coverage` in paste.cu; both buffers
        // hold `n` floats (checked above).
        unsafe { launch.launch(line(alpha.len())?) }?;
        Ok(())
    }

    fn blend_with_history(
        &self,
        rect: crate::image::Rect,
        input: &CudaSlice<f32>,
        pasted: &mut CudaSlice<f32>,
        change: &mut CudaSlice<f32>,
        previous: &crate::stabilise::Previous<'_, CudaSlice<f32>>,
        strength: f32,
    ) -> Result<(), KernelError> {
        let buffers = StabiliseBuffers {
            input,
            pasted,
            change,
            previous_input: previous.input,
            previous_change: previous.change,
        };
        self.launch_stabilise(rect, previous.rect, strength, buffers)
    }

    /// The batch renderer (`render.cu`) on the faces in the layout [`PreparedBatch`] checks
    /// and prepares on the host.
    fn render_faces(
        &self,
        faces: &[FaceInput<'_>],
        triangles: &[[u32; 3]],
        camera: &Camera,
    ) -> Result<BatchRender, KernelError> {
        self.render_batch(&PreparedBatch::new(faces, triangles, camera)?)
    }

    /// Every basis, the triangles and their adjacency on the device, uploaded once.
    type Morphable = DeviceMorphable;

    fn load_morphable(&self, model: &MorphableParts<'_>) -> Result<DeviceMorphable, KernelError> {
        self.upload_morphable(model)
    }

    /// The coefficients are checked on the host as the reference checks them (a refused face
    /// is named), then everything from the 3DMM's combination on runs on the device.
    fn render_crops(
        &self,
        model: &MorphableParts<'_>,
        loaded: &DeviceMorphable,
        batch: &CoefficientBatch<'_>,
        camera: &Camera,
        target: RenderTarget<'_>,
    ) -> Result<(CudaSlice<f32>, CudaSlice<f32>), KernelError> {
        batch.check(model)?;
        self.launch_render_crops(loaded, batch, camera, target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuKernels;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Compares with `tol + |ref|·eps`, printing the first mismatches (llm.c style).
    fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32, eps: f32) {
        assert_eq!(got.len(), want.len(), "{what}: lengths");
        let bad: Vec<usize> = (0..want.len())
            .filter(|&i| {
                let diff = (got[i] - want[i]).abs();
                diff.is_nan() || diff > tol + want[i].abs() * eps
            })
            .collect();
        for &i in bad.iter().take(8) {
            eprintln!("{what}[{i}]: gpu {} cpu {}", got[i], want[i]);
        }
        assert!(
            bad.is_empty(),
            "{what}: {} of {} values differ",
            bad.len(),
            want.len()
        );
    }

    #[test]
    fn sources_compile_with_nvrtc_and_assemble_with_ptxas() {
        let dir = deps_dir().join("cuda");
        let ptxas = dir.join("ptxas");
        if !ptxas.is_file() || !dir.join("libnvrtc.so.13").is_file() {
            println!(
                "skipped: {} has no NVRTC/ptxas (run scripts/setup.sh)",
                dir.display()
            );
            return;
        }
        let out_dir = std::env::temp_dir().join(format!("sgpn-kernels-ptx-{}", std::process::id()));
        std::fs::create_dir_all(&out_dir).unwrap();
        for (name, source, kernels) in SOURCES {
            for arch in ARCHES {
                let ptx = compile_to_ptx(name, source, arch).unwrap_or_else(|e| panic!("{e}"));
                let text = ptx.to_src();
                for kernel in kernels {
                    assert!(
                        text.contains(&format!(".entry {kernel}")),
                        "{name}: no entry {kernel} in PTX"
                    );
                }
                let ptx_path = out_dir.join(format!("{name}.{arch}.ptx"));
                std::fs::write(&ptx_path, &text).unwrap();
                let cubin = out_dir.join(format!("{name}.{arch}.cubin"));
                let result = std::process::Command::new(&ptxas)
                    .arg(format!("-arch={arch}"))
                    .arg(&ptx_path)
                    .arg("-o")
                    .arg(&cubin)
                    .output()
                    .expect("run ptxas");
                assert!(
                    result.status.success(),
                    "ptxas {name} for {arch}: {}",
                    String::from_utf8_lossy(&result.stderr)
                );
                let bytes = std::fs::metadata(&cubin).unwrap().len();
                assert!(bytes > 0);
                println!("{name}: NVRTC → PTX → ptxas {arch}: {bytes} byte cubin");
            }
        }
        // The check is real: NVRTC rejects broken source with its log.
        let broken = compile_to_ptx("broken.cu", "extern \"C\" __global__ void f( {", "sm_80");
        assert!(matches!(broken, Err(KernelError::Cuda(msg)) if msg.contains("broken.cu")));
        std::fs::remove_dir_all(&out_dir).ok();
    }

    pub(super) fn floats_to_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|f| f.to_le_bytes()).collect()
    }

    pub(super) fn bytes_to_floats(b: &[u8]) -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    /// The bytes of a params struct exactly as the launcher passes it to the kernel.
    pub(super) fn struct_bytes<T: DeviceRepr>(v: &T) -> Vec<u8> {
        // SAFETY: T is a `#[repr(C)]` struct of i32/f32 fields without padding.
        unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
    }

    /// Random source, transforms covering upscaling, rotation with border and supersampled
    /// downscaling (k = 3), and a paste setup.
    fn scene() -> (RgbImage, Vec<Affine2>, usize) {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut src = RgbImage::new(203, 157);
        src.data
            .iter_mut()
            .for_each(|v| *v = rng.random_range(0.0..255.0));
        let rot = |s: f32, a: f32, tx: f32, ty: f32| {
            let (sn, cs) = a.sin_cos();
            Affine2 {
                m: [[s * cs, -s * sn, tx], [s * sn, s * cs, ty]],
            }
        };
        let transforms = vec![
            rot(0.4, 0.1, 20.0, 10.0),
            rot(0.9, -0.5, -30.0, 60.0),
            rot(2.6, 0.2, 5.0, -8.0),
        ];
        (src, transforms, 96)
    }

    /// The paste both comparisons run on [`scene`]'s warped crops: crop 0 pasted back through
    /// face 1's transform shifted by (3, −2), over an alpha already 0.3 at every 7th pixel (so
    /// the max is exercised); replace mode, then residual mode with crop 1 as the reference (it
    /// differs everywhere, so both the change and the 0..255 clamp are exercised).
    struct PasteScene<'a> {
        crop: &'a [f32],
        references: [Option<&'a [f32]>; 2],
        size: usize,
        region_to_crop: Affine2,
        params: PasteParams,
        alpha: Vec<f32>,
    }

    impl<'a> PasteScene<'a> {
        fn new(src: &RgbImage, transforms: &[Affine2], crops: &'a [f32], size: usize) -> Self {
            let crop_len = 3 * size * size;
            Self {
                crop: &crops[..crop_len],
                references: [None, Some(&crops[crop_len..2 * crop_len])],
                size,
                region_to_crop: transforms[1]
                    .then(&Affine2::scale_translate(1.0, 3.0, -2.0))
                    .inverse()
                    .unwrap(),
                params: PasteParams::for_crop(size, 0.9),
                alpha: (0..src.width * src.height)
                    .map(|i| if i % 7 == 0 { 0.3 } else { 0.0 })
                    .collect(),
            }
        }

        /// The paste of backend `k` into `region` and `alpha`, through its own buffers.
        fn paste_with<K: FaceKernels>(
            &self,
            k: &K,
            region: &mut RgbImage,
            alpha: &mut [f32],
            reference: Option<&[f32]>,
        ) {
            let mut d_region = k.upload(&region.data).unwrap();
            let mut d_alpha = k.upload(alpha).unwrap();
            let restored = k.upload(self.crop).unwrap();
            let reference = reference.map(|r| k.upload(r).unwrap());
            k.paste_back(
                &mut d_region,
                &mut d_alpha,
                (region.width, region.height),
                &restored,
                reference.as_ref(),
                (0, self.size),
                &self.region_to_crop,
                &self.params,
            )
            .unwrap();
            k.download(&d_region, &mut region.data).unwrap();
            k.download(&d_alpha, alpha).unwrap();
        }
    }

    /// The crops backend `k` warps out of `src`, through its own buffers.
    fn warp_with<K: FaceKernels>(
        k: &K,
        src: &RgbImage,
        transforms: &[Affine2],
        size: usize,
    ) -> Vec<f32> {
        let region = k.upload(&src.data).unwrap();
        let mut crops = k.zeros(transforms.len() * 3 * size * size).unwrap();
        k.warp_face_crops(
            &region, src.width, src.height, transforms, size, &mut crops, 0,
        )
        .unwrap();
        let mut out = vec![0.0; k.len(&crops)];
        k.download(&crops, &mut out).unwrap();
        out
    }

    /// The reference paste must have covered a face-sized part of the region, or the
    /// comparison proves little.
    fn assert_paste_covers(mode: &str, alpha: &[f32]) {
        assert!(
            alpha.iter().filter(|&&a| a > 0.5).count() > 1000,
            "{mode}: paste covered too little"
        );
    }

    /// GPU 0's kernels; `None`, with the reason printed, on a machine without a CUDA driver.
    pub(super) fn gpu_or_skip() -> Option<CudaKernels> {
        if !driver_present() {
            println!("skipped: no CUDA driver (libcuda.so) on this machine");
            return None;
        }
        Some(CudaKernels::new(0).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Runs the emulator [`build_emulator`] built in `mode` on the files in `dir`; a failure
    /// fails the test with the emulator's error output.
    pub(super) fn run_emulator(exe: &std::path::Path, mode: &str, dir: &std::path::Path) {
        let out = std::process::Command::new(exe)
            .arg(mode)
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "emulate {mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Builds `kernels/cuda/emulate_main.cpp` into `dir` (created); `None`, with the reason
    /// printed, where no C++ compiler exists.
    pub(super) fn build_emulator(dir: &std::path::Path) -> Option<PathBuf> {
        let cuda_dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/cuda"));
        std::fs::create_dir_all(dir).unwrap();
        let exe = dir.join("emulate");
        let built = std::process::Command::new("c++")
            .args(["-O2", "-std=c++17", "-ffp-contract=off", "-I"])
            .arg(&cuda_dir)
            .arg(cuda_dir.join("emulate_main.cpp"))
            .arg("-o")
            .arg(&exe)
            .output();
        let built = match built {
            Ok(out) => out,
            Err(e) => {
                println!("skipped: no C++ compiler to emulate the CUDA kernels ({e})");
                return None;
            }
        };
        assert!(
            built.status.success(),
            "emulation build: {}",
            String::from_utf8_lossy(&built.stderr)
        );
        Some(exe)
    }

    #[test]
    fn cuda_sources_emulated_on_the_cpu_match_the_reference() {
        let dir = std::env::temp_dir().join(format!("sgpn-kernels-emulate-{}", std::process::id()));
        let Some(exe) = build_emulator(&dir) else {
            return;
        };
        let run = |mode: &str| run_emulator(&exe, mode, &dir);
        let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
        let read = |name: &str| bytes_to_floats(&std::fs::read(dir.join(name)).unwrap());

        let (src, transforms, size) = scene();
        let want = warp_with(&CpuKernels, &src, &transforms, size);
        let params = WarpParams::new(src.width, src.height, size, transforms.len()).unwrap();
        write("params.bin", &struct_bytes(&params));
        write("src.bin", &floats_to_bytes(&src.data));
        write(
            "transforms.bin",
            &floats_to_bytes(&flat_transforms(&transforms)),
        );
        run("warp");
        assert_close(
            "emulated warp_face_crops",
            &read("out.bin"),
            &want,
            1e-4,
            1e-5,
        );

        let paste = PasteScene::new(&src, &transforms, &want, size);
        for reference in paste.references {
            let mode = if reference.is_some() {
                "paste-residual"
            } else {
                "paste"
            };
            let mut region = src.clone();
            let mut alpha = paste.alpha.clone();
            let launch =
                PasteLaunch::new(203, 157, size, &paste.region_to_crop, &paste.params).unwrap();
            write("params.bin", &struct_bytes(&launch));
            write("region.bin", &floats_to_bytes(&region.data));
            write("alpha.bin", &floats_to_bytes(&alpha));
            write("restored.bin", &floats_to_bytes(paste.crop));
            if let Some(reference) = reference {
                write("reference.bin", &floats_to_bytes(reference));
            }
            run(mode);
            paste.paste_with(&CpuKernels, &mut region, &mut alpha, reference);
            let changed = region
                .data
                .iter()
                .zip(&src.data)
                .filter(|(a, b)| (*a - *b).abs() > 1.0)
                .count();
            assert!(changed > 3000, "{mode}: only {changed} values changed");
            assert_close(
                &format!("emulated {mode} region"),
                &read("region.bin"),
                &region.data,
                1e-3,
                1e-5,
            );
            assert_close(
                &format!("emulated {mode} alpha"),
                &read("alpha.bin"),
                &alpha,
                1e-5,
                1e-5,
            );
            assert_paste_covers(mode, &alpha);
        }

        // AFFB fusion, with and without the shape prior, against `affb::affb_fuse`.
        let shape = crate::affb::AffbShape {
            n: 2,
            channels: 5,
            positions: 300,
        };
        let noise = |len: usize, seed: u32| -> Vec<f32> {
            (0..len as u32)
                .map(|i| {
                    ((i.wrapping_mul(2654435761) ^ seed.wrapping_mul(40503)) % 2001) as f32 / 1000.0
                        - 1.0
                })
                .collect()
        };
        let len = shape.n * shape.channels * shape.positions;
        let (inter, lq, d3) = (noise(len, 1), noise(len, 2), noise(len, 3));
        for has_3d in [false, true] {
            let k = if has_3d { 3 } else { 2 };
            let weight = noise(shape.channels * k * shape.channels, 4);
            let bias = noise(shape.channels, 5);
            let want = crate::affb::affb_fuse(
                shape,
                &inter,
                &lq,
                has_3d.then_some(&d3[..]),
                &weight,
                &bias,
            );
            write(
                "params.bin",
                &struct_bytes(&AffbParams::new(shape, has_3d).unwrap()),
            );
            for (name, v) in [
                ("inter.bin", &inter),
                ("lq.bin", &lq),
                ("d3.bin", &d3),
                ("weight.bin", &weight),
                ("bias.bin", &bias),
            ] {
                write(name, &floats_to_bytes(v));
            }
            run("affb");
            assert_close(
                &format!("emulated affb_fuse (3D: {has_3d})"),
                &read("out.bin"),
                &want,
                1e-5,
                1e-6,
            );
        }

        // The paste-back's region helpers: exact, over more values than one block.
        let pasted: Vec<f32> = src.data.iter().map(|v| (v * 1.7).min(255.0)).collect();
        let alpha: Vec<f32> = (0..5000).map(|i| ((i % 5) as f32 - 2.0) * 1e-3).collect();
        write("pasted.bin", &floats_to_bytes(&pasted));
        write("input.bin", &floats_to_bytes(&src.data));
        write("alpha.bin", &floats_to_bytes(&alpha));
        let crops: Vec<f32> = (0..2 * 3 * 37 * 37)
            .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
            .collect();
        write("crops.bin", &floats_to_bytes(&crops));
        run("elementwise");
        let want_region = CpuKernels.crop_to_region(&crops, 1, 37).unwrap();
        assert_eq!(read("region.bin"), want_region, "emulated crop_to_region");
        let mut want_change = vec![0.0; pasted.len()];
        CpuKernels
            .region_change(&pasted, &src.data, &mut want_change)
            .unwrap();
        assert_eq!(read("change.bin"), want_change, "emulated region_change");
        let mut want_covered = vec![0.0; alpha.len()];
        CpuKernels.coverage(&alpha, &mut want_covered).unwrap();
        assert_eq!(read("covered.bin"), want_covered, "emulated paste_coverage");
        assert_eq!(want_covered.iter().sum::<f32>(), 2000.0);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn gpu_kernels_match_the_cpu_reference() {
        let Some(gpu) = gpu_or_skip() else {
            return;
        };
        let (src, transforms, size) = scene();
        let want = warp_with(&CpuKernels, &src, &transforms, size);
        let got = warp_with(&gpu, &src, &transforms, size);
        assert_close("warp_face_crops", &got, &want, 1e-3, 1e-5);
        // Into a later slot of a batch, as the pipeline warps one face after another.
        let d_src = gpu.upload(&src.data).unwrap();
        let n = 3 * size * size;
        let mut batch = gpu.upload(&vec![7.0; 3 * n]).unwrap();
        gpu.warp_face_crops(&d_src, 203, 157, &transforms[1..2], size, &mut batch, 2)
            .unwrap();
        let mut slots = vec![0.0; 3 * n];
        gpu.download(&batch, &mut slots).unwrap();
        assert!(
            slots[..2 * n].iter().all(|&v| v == 7.0),
            "slots 0 and 1 kept"
        );
        assert_close(
            "warp into slot 2",
            &slots[2 * n..],
            &want[n..2 * n],
            1e-3,
            1e-5,
        );

        // The paste-back's region helpers, exact.
        let pasted: Vec<f32> = src.data.iter().map(|v| (v * 1.7).min(255.0)).collect();
        let (d_pasted, mut d_change) = (
            gpu.upload(&pasted).unwrap(),
            gpu.zeros(pasted.len()).unwrap(),
        );
        gpu.region_change(&d_pasted, &d_src, &mut d_change).unwrap();
        let mut change = vec![0.0; pasted.len()];
        gpu.download(&d_change, &mut change).unwrap();
        let mut want_change = vec![0.0; pasted.len()];
        CpuKernels
            .region_change(&pasted, &src.data, &mut want_change)
            .unwrap();
        assert_eq!(change, want_change, "region_change");
        let alpha: Vec<f32> = (0..5000).map(|i| ((i % 5) as f32 - 2.0) * 1e-3).collect();
        let (d_alpha, mut d_covered) = (gpu.upload(&alpha).unwrap(), gpu.zeros(5000).unwrap());
        gpu.coverage(&d_alpha, &mut d_covered).unwrap();
        let mut covered = vec![0.0; 5000];
        gpu.download(&d_covered, &mut covered).unwrap();
        let mut want_covered = vec![0.0; 5000];
        CpuKernels.coverage(&alpha, &mut want_covered).unwrap();
        assert_eq!(covered, want_covered, "paste_coverage");
        let crops: Vec<f32> = (0..2 * 3 * 37 * 37)
            .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
            .collect();
        let region = gpu
            .crop_to_region(&gpu.upload(&crops).unwrap(), 1, 37)
            .unwrap();
        let mut got_region = vec![0.0; 3 * 37 * 37];
        gpu.download(&region, &mut got_region).unwrap();
        let want_region = CpuKernels.crop_to_region(&crops, 1, 37).unwrap();
        assert_eq!(got_region, want_region, "crop_to_region");

        let shape = crate::affb::AffbShape {
            n: 2,
            channels: 32,
            positions: 64 * 64,
        };
        let len = shape.n * shape.channels * shape.positions;
        let values = |len: usize, seed: u32| -> Vec<f32> {
            (0..len as u32)
                .map(|i| ((i.wrapping_mul(2654435761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
                .collect()
        };
        let (inter, lq, d3) = (values(len, 1), values(len, 2), values(len, 3));
        let (weight, bias) = (values(32 * 96, 4), values(32, 5));
        let want = crate::affb::affb_fuse(shape, &inter, &lq, Some(&d3), &weight, &bias);
        let got = gpu
            .affb_fuse(shape, &inter, &lq, Some(&d3), &weight, &bias)
            .unwrap();
        assert_close("affb_fuse", &got, &want, 1e-5, 1e-5);

        let paste = PasteScene::new(&src, &transforms, &want, size);
        for reference in paste.references {
            let mode = if reference.is_some() {
                "residual"
            } else {
                "replace"
            };
            let mut region = src.clone();
            let mut alpha = paste.alpha.clone();
            let (mut region_gpu, mut alpha_gpu) = (region.clone(), alpha.clone());
            paste.paste_with(&CpuKernels, &mut region, &mut alpha, reference);
            paste.paste_with(&gpu, &mut region_gpu, &mut alpha_gpu, reference);
            assert_close(
                &format!("paste_back {mode} region"),
                &region_gpu.data,
                &region.data,
                0.05,
                1e-5,
            );
            assert_close(
                &format!("paste_back {mode} alpha"),
                &alpha_gpu,
                &alpha,
                1e-4,
                1e-5,
            );
            assert_paste_covers(mode, &alpha);
        }
    }
}
