//! A PNG to look at the teacher: per face, the crop | the teacher coefficients rendered with
//! `render_face` at the crop size (`Camera::scaled`, docs/shape-prior.md) | the crop, dimmed
//! where the render does not cover it, with the 68 projected landmark vertices as red dots.
//! Faces that line up show the dots on the eye corners, brows, nose, lips and jaw line.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sgpn_kernels::render::{Camera, render_face, rotate, rotation};
use sgpn_models::morphable::{Coefficients, MorphableModel};

use super::samples::read_crop;

/// Writes the grid for `(crop path, coefficients)` pairs, one row per face.
pub fn teacher_grid(
    model: &MorphableModel,
    faces: &[(PathBuf, Vec<f32>)],
    out: &Path,
) -> Result<()> {
    let Some((first, _)) = faces.first() else {
        return Ok(());
    };
    let size = read_crop(first)?.width;
    let (w, h) = (3 * size, faces.len() * size);
    let mut canvas = image::RgbImage::new(w as u32, h as u32);
    for (row, (path, coeffs)) in faces.iter().enumerate() {
        let crop = read_crop(path)?;
        let c = Coefficients::split(coeffs, model)?;
        let shape = model.shape(&c.id, &c.exp)?;
        let albedo = model.albedo(&c.tex)?;
        let render = render_face(
            &shape,
            &model.triangles,
            &albedo,
            c.angles,
            c.translation,
            &c.gamma,
            &Camera::scaled(size),
        )
        .with_context(|| format!("rendering the teacher of {}", path.display()))?;
        for y in 0..size {
            for x in 0..size {
                let i = y * size + x;
                let src = crop.pixel(x, y);
                let m = render.mask[i];
                let r: [f32; 3] =
                    std::array::from_fn(|k| render.image.data[3 * i + k].clamp(0.0, 1.0) * 255.0);
                let blend: [f32; 3] = src.map(|v| v * (0.35 + 0.65 * m));
                for (col, px) in [src, r, blend].iter().enumerate() {
                    canvas.put_pixel(
                        (col * size + x) as u32,
                        (row * size + y) as u32,
                        image::Rgb(px.map(|v| v.round().clamp(0.0, 255.0) as u8)),
                    );
                }
            }
        }
        let camera = Camera::scaled(size);
        let rot = rotation(c.angles);
        for &v in &model.landmarks {
            let p = rotate(shape[v as usize], &rot);
            let world: [f32; 3] = std::array::from_fn(|k| p[k] + c.translation[k]);
            let s = camera.project(camera.to_camera(world));
            // Screen coordinates have pixel edges at integers.
            let (cx, cy) = (s[0] - 0.5, s[1] - 0.5);
            for dy in -1i32..=1 {
                for dx in -1i32..=1 {
                    let (x, y) = (cx.round() as i32 + dx, cy.round() as i32 + dy);
                    if (0..size as i32).contains(&x) && (0..size as i32).contains(&y) {
                        canvas.put_pixel(
                            (2 * size) as u32 + x as u32,
                            (row * size) as u32 + y as u32,
                            image::Rgb([255, 0, 0]),
                        );
                    }
                }
            }
        }
    }
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    canvas
        .save(out)
        .with_context(|| format!("cannot write {}", out.display()))
}
