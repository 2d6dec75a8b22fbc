//! Cost of the D3DFR face renderer per stage, at D3DFR's 224 and SGPN's 512, for a
//! MediaPipe-size mesh (468 vertices) and a BFM09-front-size mesh (~35.7k vertices, ~70.7k
//! triangles), both procedural face-like height fields. Prints a table of medians.
//! Run: `cargo bench -p sgpn-kernels --bench render`.

use sgpn_kernels::render::{
    Camera, GAMMA_LEN, interpolate, rasterize, rasterize_triangles, render_face, rotate, rotation,
    sh_shade, vertex_normals,
};
mod timing;
use timing::{ITERS, median_ms};

/// A face-like height field on a `cols × rows` grid, in D3DFR's model units (about ±0.8 wide,
/// ±1 tall, nose towards +z): an ellipsoidal cap plus a nose bump.
fn face_mesh(cols: u32, rows: u32) -> (Vec<[f32; 3]>, Vec<[u32; 3]>) {
    let mut vertices = Vec::new();
    for j in 0..rows {
        for i in 0..cols {
            let u = 2.0 * i as f32 / (cols - 1) as f32 - 1.0;
            let v = 1.0 - 2.0 * j as f32 / (rows - 1) as f32;
            let (x, y) = (0.8 * u, 1.0 * v);
            let cap = 0.6 * (1.0 - 0.6 * u * u - 0.4 * v * v).max(0.0).sqrt();
            let nose = 0.25 * (-(x * x) / 0.02 - (y + 0.05) * (y + 0.05) / 0.08).exp();
            vertices.push([x, y, cap + nose - 0.4]);
        }
    }
    let mut triangles = Vec::new();
    for j in 0..rows - 1 {
        for i in 0..cols - 1 {
            let a = j * cols + i;
            let (b, c, d) = (a + 1, a + cols + 1, a + cols);
            triangles.extend([[a, d, c], [a, c, b]]);
        }
    }
    (vertices, triangles)
}

fn main() {
    println!(
        "sgpn-kernels render, median of {ITERS} runs, {} rayon threads",
        rayon::current_num_threads()
    );
    println!("| mesh | size | stage | wall ms | CPU ms |");
    println!("|---|---|---|---|---|");
    let angles = [0.05, 0.3, -0.02];
    let translation = [0.02, -0.05, 0.1];
    let mut gamma = [0.0f32; GAMMA_LEN];
    for c in 0..3 {
        (gamma[c * 9], gamma[c * 9 + 1], gamma[c * 9 + 2]) = (0.2, -0.15, 0.3);
    }
    for (cols, rows) in [(18, 26), (189, 189)] {
        let (vertices, triangles) = face_mesh(cols, rows);
        let albedo = vec![[200.0, 160.0, 140.0]; vertices.len()];
        let mesh = format!("{} v / {} tri", vertices.len(), triangles.len());
        for camera in [Camera::d3dfr(), Camera::scaled(512)] {
            let size = camera.size;
            let rot = rotation(angles);
            let project = || -> Vec<[f32; 3]> {
                vertices
                    .iter()
                    .map(|&p| {
                        let m = rotate(p, &rot);
                        let w = std::array::from_fn(|k| m[k] + translation[k]);
                        camera.project(camera.to_camera(w))
                    })
                    .collect()
            };
            let screen = project();
            let normals: Vec<[f32; 3]> = vertex_normals(&vertices, &triangles)
                .unwrap()
                .iter()
                .map(|&n| rotate(n, &rot))
                .collect();
            let colours = sh_shade(&albedo, &normals, &gamma).unwrap();
            let raster = rasterize_triangles(&screen, &triangles, size).unwrap();
            let covered = raster.depth.iter().filter(|&&d| d > 0.0).count();
            let row = |stage: &str, f: &mut dyn FnMut()| {
                let (t, c) = median_ms(f);
                println!("| {mesh} | {size} | {stage} | {t:.3} | {c:.3} |");
            };
            row("pose + project", &mut || {
                std::hint::black_box(project());
            });
            row("vertex_normals", &mut || {
                std::hint::black_box(vertex_normals(&vertices, &triangles).unwrap());
            });
            row("sh_shade", &mut || {
                std::hint::black_box(sh_shade(&albedo, &normals, &gamma).unwrap());
            });
            row(&format!("rasterize_triangles ({covered} px)"), &mut || {
                std::hint::black_box(rasterize_triangles(&screen, &triangles, size).unwrap());
            });
            row("interpolate", &mut || {
                std::hint::black_box(interpolate(&raster, &triangles, &colours).unwrap());
            });
            row("rasterize (visibility + colours + mask)", &mut || {
                std::hint::black_box(rasterize(&screen, &triangles, &colours, size).unwrap());
            });
            row("render_face (all)", &mut || {
                std::hint::black_box(
                    render_face(
                        &vertices,
                        &triangles,
                        &albedo,
                        angles,
                        translation,
                        &gamma,
                        &camera,
                    )
                    .unwrap(),
                );
            });
        }
    }
}
