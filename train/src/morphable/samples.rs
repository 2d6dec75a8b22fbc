//! Step 1 of the 3DMM build and of the teacher fit: MediaPipe's 468-point mesh and the vertex
//! colours of every prepared training crop. The landmarker is framed with the crop's known 5
//! template landmarks (`FaceRegion::Landmarks`), the same framing MediaPipe derives from its
//! detector; crops run 16 at a time as tiles of one mosaic so each ONNX Runtime call sees a
//! batch (`FaceMeshLandmarker::landmarks` batches the faces of one image).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sgpn_kernels::BORDER_FILL;
use sgpn_kernels::image::RgbImage;
use sgpn_models::face_mesh::{FaceMeshLandmarker, FaceRegion, MESH_VERTICES};

/// Crops per landmarker call (the landmarker's own batch limit).
pub const BATCH: usize = 16;
/// Tiles per mosaic row.
const TILES_PER_ROW: usize = 4;
/// Border-coloured margin around each tile, wider than the landmarker crop reaches past an
/// aligned crop, so every face sees exactly what it would see alone (the warp fills outside
/// the image with the same border colour).
const TILE_MARGIN: usize = 96;
/// A sample this dark (sum of 0..255 channels) is the black rotation padding of the source
/// photos, not skin.
const BLACK_SUM: f32 = 3.0;

/// One crop's landmarker result and colours.
#[derive(Clone, Debug)]
pub struct FaceSample {
    /// 468 points in crop pixels (x right, y down, pixel centres at integers; z relative depth,
    /// smaller = nearer, same scale).
    pub points: Vec<[f32; 3]>,
    /// Face-presence logit (> 0: MediaPipe keeps the face).
    pub presence: f32,
    /// Colour under each point, bilinear, RGB in 0..1; `None` outside the crop or on black
    /// padding.
    pub colours: Vec<Option<[f32; 3]>>,
}

/// Reads an aligned crop (a square RGB image) as the kernels' 0..255 image.
pub fn read_crop(path: &Path) -> Result<RgbImage> {
    let img = image::open(path)
        .with_context(|| format!("cannot read the crop {}", path.display()))?
        .to_rgb8();
    anyhow::ensure!(
        img.width() == img.height() && img.width() > 0,
        "{} is {}×{}, expected a square aligned crop",
        path.display(),
        img.width(),
        img.height()
    );
    RgbImage::from_rgb8(img.width() as usize, img.height() as usize, img.as_raw())
        .with_context(|| format!("crop {}", path.display()))
}

/// Runs the landmarker on every crop (all `size`×`size`, aligned to `template`), in order,
/// calling `progress(done, total)` after each batch.
pub fn sample_crops(
    landmarker: &mut FaceMeshLandmarker,
    crops: &[PathBuf],
    size: usize,
    template: &[[f32; 2]; 5],
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<FaceSample>> {
    let mut out = Vec::with_capacity(crops.len());
    for batch in crops.chunks(BATCH) {
        let images = batch
            .iter()
            .map(|p| {
                let img = read_crop(p)?;
                anyhow::ensure!(
                    img.width == size,
                    "{} is {} px, expected {size} px like the rest of the cache",
                    p.display(),
                    img.width
                );
                Ok(img)
            })
            .collect::<Result<Vec<_>>>()?;
        out.extend(
            sample_batch(landmarker, &images, template).with_context(|| {
                format!(
                    "face landmarker {} on the crops from {}",
                    landmarker.path().display(),
                    batch[0].display()
                )
            })?,
        );
        progress(out.len(), crops.len());
    }
    Ok(out)
}

/// One landmarker call for up to [`BATCH`] crops of equal size laid out as a mosaic.
pub fn sample_batch(
    landmarker: &mut FaceMeshLandmarker,
    images: &[RgbImage],
    template: &[[f32; 2]; 5],
) -> Result<Vec<FaceSample>> {
    let Some(first) = images.first() else {
        return Ok(Vec::new());
    };
    let size = first.width;
    let pitch = size + 2 * TILE_MARGIN;
    let rows = images.len().div_ceil(TILES_PER_ROW);
    let (w, h) = (pitch * TILES_PER_ROW.min(images.len()), pitch * rows);
    let mut mosaic = RgbImage::new(w, h);
    for px in mosaic.data.chunks_exact_mut(3) {
        px.copy_from_slice(&BORDER_FILL);
    }
    let mut regions = Vec::with_capacity(images.len());
    let mut offsets = Vec::with_capacity(images.len());
    for (i, img) in images.iter().enumerate() {
        anyhow::ensure!(
            img.width == size && img.height == size,
            "crops of one batch must all be {size}×{size}"
        );
        let (ox, oy) = (
            (i % TILES_PER_ROW) * pitch + TILE_MARGIN,
            (i / TILES_PER_ROW) * pitch + TILE_MARGIN,
        );
        for y in 0..size {
            let src = &img.data[y * size * 3..(y + 1) * size * 3];
            let at = ((oy + y) * w + ox) * 3;
            mosaic.data[at..at + size * 3].copy_from_slice(src);
        }
        regions.push(FaceRegion::Landmarks(
            template.map(|[x, y]| [x + ox as f32, y + oy as f32]),
        ));
        offsets.push((ox as f32, oy as f32));
    }
    let meshes = landmarker.landmarks(&mosaic, &regions)?;
    Ok(meshes
        .into_iter()
        .zip(images.iter().zip(offsets))
        .map(|(mesh, (img, (ox, oy)))| {
            let points: Vec<[f32; 3]> = mesh
                .points
                .iter()
                .map(|p| [p[0] - ox, p[1] - oy, p[2]])
                .collect();
            let colours = points
                .iter()
                .map(|p| sample_colour(img, p[0], p[1]))
                .collect();
            FaceSample {
                points,
                presence: mesh.presence,
                colours,
            }
        })
        .collect())
}

/// Bilinear colour at (x, y) (pixel centres at integers) in 0..1, or `None` outside the image
/// or on black padding.
pub fn sample_colour(img: &RgbImage, x: f32, y: f32) -> Option<[f32; 3]> {
    let (w, h) = (img.width as f32, img.height as f32);
    if !(x >= 0.0 && y >= 0.0 && x <= w - 1.0 && y <= h - 1.0) {
        return None;
    }
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(img.width - 1), (y0 + 1).min(img.height - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let px = |x: usize, y: usize| img.pixel(x, y);
    let (a, b, c, d) = (px(x0, y0), px(x1, y0), px(x0, y1), px(x1, y1));
    let rgb: [f32; 3] = std::array::from_fn(|k| {
        (a[k] * (1.0 - fx) + b[k] * fx) * (1.0 - fy) + (c[k] * (1.0 - fx) + d[k] * fx) * fy
    });
    if rgb.iter().sum::<f32>() < BLACK_SUM {
        return None;
    }
    Some(rgb.map(|v| v / 255.0))
}

/// Checks that a sample has the 468 points of the canonical topology.
pub fn check_sample(sample: &FaceSample) -> bool {
    sample.points.len() == MESH_VERTICES
        && sample.colours.len() == MESH_VERTICES
        && sample.points.iter().flatten().all(|v| v.is_finite())
}
