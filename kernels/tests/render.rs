//! The face renderer against what a user of D3DFR would check: coverage and fill rule, z-buffer,
//! (perspective-correct) interpolation, SH constants and basis, D3DFR's rotation and camera, a
//! sphere rendered end to end, determinism, and typed errors on bad input.

use sgpn_kernels::render::fixtures::uv_sphere;
use sgpn_kernels::render::{
    Camera, GAMMA_LEN, NO_TRIANGLE, RenderError, rasterize, rasterize_triangles, render_face,
    rotate, rotation, sh_basis, sh_shade, vertex_normals,
};
use std::f64::consts::PI;

/// Screen vertices at one depth.
fn flat(points: &[[f32; 2]], depth: f32) -> Vec<[f32; 3]> {
    points.iter().map(|p| [p[0], p[1], depth]).collect()
}

fn covered_pixels(screen: &[[f32; 3]], triangles: &[[u32; 3]], size: usize) -> Vec<bool> {
    rasterize_triangles(screen, triangles, size)
        .unwrap()
        .triangle
        .iter()
        .map(|&t| t != NO_TRIANGLE)
        .collect()
}

/// Signed distances (f64) of point `p` from the three edges of a triangle, positive inside.
fn edge_distances(t: [[f32; 2]; 3], p: [f64; 2]) -> [f64; 3] {
    let v = t.map(|q| [f64::from(q[0]), f64::from(q[1])]);
    let area =
        (v[1][0] - v[0][0]) * (v[2][1] - v[0][1]) - (v[1][1] - v[0][1]) * (v[2][0] - v[0][0]);
    std::array::from_fn(|k| {
        let (a, b) = (v[(k + 1) % 3], v[(k + 2) % 3]);
        let len = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        let e = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]);
        e * area.signum() / len
    })
}

#[test]
fn single_triangle_covers_the_pixel_centres_inside_it() {
    let tri = [[10.3, 5.7], [50.2, 20.1], [20.5, 60.9]];
    let size = 64;
    for order in [[0u32, 1, 2], [0, 2, 1]] {
        // Both windings: nothing is culled.
        let covered = covered_pixels(&flat(&tri, 5.0), &[order], size);
        let mut count = 0;
        for y in 0..size {
            for x in 0..size {
                let d = edge_distances(tri, [x as f64 + 0.5, y as f64 + 0.5]);
                let min = d.iter().copied().fold(f64::MAX, f64::min);
                let c = covered[y * size + x];
                count += usize::from(c);
                // Vertices snap to 1/256 px: only centres that close to an edge may go either way.
                if min > 0.01 {
                    assert!(c, "pixel ({x}, {y}) is inside by {min} px but not covered");
                } else if min < -0.01 {
                    assert!(!c, "pixel ({x}, {y}) is outside by {} px but covered", -min);
                }
            }
        }
        let area = 0.5 * ((50.2 - 10.3) * (60.9 - 5.7) - (20.1 - 5.7) * (20.5 - 10.3));
        let perimeter: f64 = (0..3)
            .map(|k| {
                let (a, b) = (tri[k], tri[(k + 1) % 3]);
                f64::from((b[0] - a[0]).hypot(b[1] - a[1]))
            })
            .sum();
        assert!(
            (count as f64 - area).abs() < perimeter / 2.0,
            "{count} pixels for an area of {area:.1}"
        );
    }
}

#[test]
fn shared_edges_and_vertices_are_covered_exactly_once() {
    // A 4 × 4 grid of quads whose inner lines run through pixel centres (half-integers), each
    // quad split along a diagonal that also passes through centres, plus a fan of 7 triangles
    // around a vertex sitting exactly on a pixel centre.
    let xs = [2.25f32, 9.5, 16.5, 23.5, 30.75];
    let mut points = Vec::new();
    for &y in &xs {
        for &x in &xs {
            points.push([x, y]);
        }
    }
    let mut triangles = Vec::new();
    for j in 0..4u32 {
        for i in 0..4u32 {
            let (a, b, c, d) = (
                j * 5 + i,
                j * 5 + i + 1,
                (j + 1) * 5 + i + 1,
                (j + 1) * 5 + i,
            );
            if (i + j) % 2 == 0 {
                triangles.extend([[a, b, c], [a, c, d]]);
            } else {
                triangles.extend([[a, b, d], [b, c, d]]);
            }
        }
    }
    let hub = points.len() as u32;
    points.push([50.5, 40.5]);
    let ring: Vec<u32> = (0..7)
        .map(|k| {
            let a = 2.0 * std::f32::consts::PI * k as f32 / 7.0 + 0.3;
            points.push([50.5 + 9.0 * a.cos(), 40.5 + 9.0 * a.sin()]);
            hub + 1 + k
        })
        .collect();
    for k in 0..7 {
        // Alternate windings: coverage must not depend on it.
        let (a, b) = (ring[k], ring[(k + 1) % 7]);
        triangles.push(if k % 2 == 0 { [hub, a, b] } else { [hub, b, a] });
    }

    let size = 64;
    let screen = flat(&points, 3.0);
    let mut count = vec![0u32; size * size];
    for tri in &triangles {
        for (n, c) in count.iter_mut().zip(covered_pixels(&screen, &[*tri], size)) {
            *n += u32::from(c);
        }
    }
    assert!(count.iter().all(|&n| n <= 1), "a pixel was covered twice");
    // The grid covers exactly the centres 2.5..=30.5 on both axes: 29 × 29.
    for y in 0..40 {
        for x in 0..40 {
            let inside = (2..=30).contains(&x) && (2..=30).contains(&y);
            assert_eq!(count[y * size + x], u32::from(inside), "pixel ({x}, {y})");
        }
    }
    assert_eq!(count[40 * size + 50], 1, "the fan's hub pixel");
    let fan: u32 = count[32 * size..].iter().sum();
    assert!(fan > 200, "the fan covers {fan} pixels");
    // The whole mesh in one call covers the same pixels.
    let all = covered_pixels(&screen, &triangles, size);
    assert!(all.iter().zip(&count).all(|(&a, &n)| a == (n == 1)));
}

#[test]
fn the_nearer_triangle_wins_whatever_the_submission_order() {
    let near = [[5.0, 5.0, 4.0], [40.0, 8.0, 4.0], [10.0, 40.0, 4.0]];
    let far = [[20.0, 2.0, 9.0], [44.0, 30.0, 9.0], [3.0, 30.0, 9.0]];
    let screen: Vec<[f32; 3]> = near.iter().chain(&far).copied().collect();
    let colours = [[255.0, 0.0, 0.0]; 3]
        .into_iter()
        .chain([[0.0, 0.0, 255.0]; 3])
        .collect::<Vec<_>>();
    let a = rasterize(&screen, &[[0, 1, 2], [3, 4, 5]], &colours, 48).unwrap();
    let b = rasterize(&screen, &[[3, 4, 5], [0, 1, 2]], &colours, 48).unwrap();
    assert_eq!(a.image, b.image);
    assert_eq!(a.mask, b.mask);
    assert_eq!(a.depth, b.depth);
    // A pixel inside both: red (near) at depth 4.
    let (x, y) = (15, 15);
    let close = |p: [f32; 3], q: [f32; 3]| (0..3).all(|c| (p[c] - q[c]).abs() < 1e-3);
    assert!(close(a.image.pixel(x, y), [255.0, 0.0, 0.0]));
    assert!((a.depth[y * 48 + x] - 4.0).abs() < 1e-5);
    // Only the far one: blue at depth 9; neither: black, mask 0, depth 0.
    assert!(close(a.image.pixel(38, 26), [0.0, 0.0, 255.0]));
    assert!((a.depth[26 * 48 + 38] - 9.0).abs() < 1e-5);
    assert_eq!(a.image.pixel(46, 46), [0.0; 3]);
    assert_eq!((a.mask[46 * 48 + 46], a.depth[46 * 48 + 46]), (0.0, 0.0));
}

#[test]
fn flat_triangle_interpolates_a_linear_colour_ramp() {
    let pts = [[3.2, 4.1], [60.7, 10.3], [25.4, 58.8]];
    let ramp = |x: f32, y: f32| [2.0 * x + 3.0 * y + 1.0, 200.0 - x, 0.5 * y];
    let colours: Vec<[f32; 3]> = pts.iter().map(|p| ramp(p[0], p[1])).collect();
    let r = rasterize(&flat(&pts, 7.0), &[[0, 1, 2]], &colours, 64).unwrap();
    let mut checked = 0;
    for y in 0..64 {
        for x in 0..64 {
            if r.mask[y * 64 + x] == 1.0 {
                let want = ramp(x as f32 + 0.5, y as f32 + 0.5);
                let got = r.image.pixel(x, y);
                for c in 0..3 {
                    assert!(
                        (got[c] - want[c]).abs() < 0.01,
                        "pixel ({x}, {y}) channel {c}: {} vs {}",
                        got[c],
                        want[c]
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 1000);
}

/// Screen-space (not perspective-corrected) barycentrics of `p` in the triangle `s[0..3]`.
fn screen_barycentric(s: &[[f32; 3]], p: [f32; 2]) -> [f32; 3] {
    let area = |a: [f32; 2], b: [f32; 2], c: [f32; 2]| {
        (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    };
    let v = [0, 1, 2].map(|k| [s[k][0], s[k][1]]);
    let total = area(v[0], v[1], v[2]);
    [
        area(p, v[1], v[2]) / total,
        area(v[0], p, v[2]) / total,
        area(v[0], v[1], p) / total,
    ]
}

#[test]
fn interpolation_is_perspective_correct() {
    // A triangle slanted in depth (camera z from 8.5 to 11.8): interpolating its camera-space
    // coordinates must give, at every covered pixel, the 3D point that projects to the centre.
    let camera = Camera::d3dfr();
    let cam_pts = [[-0.9, -0.7, 8.5], [0.8, -0.5, 11.8], [0.1, 0.9, 10.0]];
    let screen: Vec<[f32; 3]> = cam_pts.iter().map(|&p| camera.project(p)).collect();
    let r = rasterize(&screen, &[[0, 1, 2]], &cam_pts, camera.size).unwrap();
    let mut checked = 0;
    let mut worst_plain = 0.0f32;
    for y in 0..camera.size {
        for x in 0..camera.size {
            let i = y * camera.size + x;
            if r.mask[i] == 0.0 {
                continue;
            }
            let p = r.image.pixel(x, y);
            let back = camera.project(p);
            assert!(
                (back[0] - (x as f32 + 0.5)).abs() < 0.02
                    && (back[1] - (y as f32 + 0.5)).abs() < 0.02,
                "pixel ({x}, {y}) interpolates a point projecting to {back:?}"
            );
            assert!((r.depth[i] - p[2]).abs() < 1e-4 * p[2]);
            // Plain screen-space weights would land elsewhere on this triangle.
            let l = screen_barycentric(&screen, [x as f32 + 0.5, y as f32 + 0.5]);
            let plain: [f32; 3] =
                std::array::from_fn(|c| (0..3).map(|k| l[k] * cam_pts[k][c]).sum());
            let off = camera.project(plain);
            worst_plain = worst_plain.max((off[0] - back[0]).hypot(off[1] - back[1]));
            checked += 1;
        }
    }
    assert!(checked > 5000, "{checked} pixels");
    assert!(
        worst_plain > 0.5,
        "screen-space weights are off by {worst_plain} px at most"
    );
}

#[test]
fn sh_constants_and_basis_match_d3dfr() {
    let (a, c) = (
        [PI, 2.0 * PI / 3f64.sqrt(), 2.0 * PI / 8f64.sqrt()],
        [
            1.0 / (4.0 * PI).sqrt(),
            3f64.sqrt() / (4.0 * PI).sqrt(),
            3.0 * 5f64.sqrt() / (12.0 * PI).sqrt(),
        ],
    );
    let (k0, k1, k2) = (a[0] * c[0], a[1] * c[1], a[2] * c[2]);
    let s3 = 3f64.sqrt();
    let cases: [([f64; 3], [f64; 9]); 4] = [
        (
            [0.0, 0.0, 1.0],
            [k0, 0.0, k1, 0.0, 0.0, 0.0, 0.5 * k2 / s3 * 2.0, 0.0, 0.0],
        ),
        (
            [1.0, 0.0, 0.0],
            [k0, 0.0, 0.0, -k1, 0.0, 0.0, -0.5 * k2 / s3, 0.0, 0.5 * k2],
        ),
        (
            [0.0, -1.0, 0.0],
            [k0, k1, 0.0, 0.0, 0.0, 0.0, -0.5 * k2 / s3, 0.0, -0.5 * k2],
        ),
        (
            [1.0 / s3, 1.0 / s3, 1.0 / s3],
            [
                k0,
                -k1 / s3,
                k1 / s3,
                -k1 / s3,
                k2 / 3.0,
                -k2 / 3.0,
                0.0,
                -k2 / 3.0,
                0.0,
            ],
        ),
    ];
    for (n, want) in cases {
        let got = sh_basis(n.map(|v| v as f32));
        for b in 0..9 {
            assert!(
                (f64::from(got[b]) - want[b]).abs() < 1e-6,
                "n = {n:?}, band {b}: {} vs {}",
                got[b],
                want[b]
            );
        }
    }
}

#[test]
fn ambient_only_lighting_is_albedo_times_lit_ambient() {
    let albedo = [
        [200.0, 120.5, 33.25],
        [1.0, 0.5, 0.0],
        [255.0, 255.0, 255.0],
    ];
    let normals = [[0.0, 0.0, 1.0], [0.6, -0.8, 0.0], [0.0, 0.0, 0.0]];
    let mut gamma = [0.0f32; GAMMA_LEN];
    let (gr, gg, gb) = (0.3, -0.2, 0.05);
    (gamma[0], gamma[9], gamma[18]) = (gr, gg, gb);
    let shaded = sh_shade(&albedo, &normals, &gamma).unwrap();
    let a0c0 = sh_basis([0.0; 3])[0];
    for (t, s) in albedo.iter().zip(&shaded) {
        let want = [
            t[0] * (a0c0 * (0.8 + gr)),
            t[1] * (a0c0 * (0.8 + gg)),
            t[2] * (a0c0 * (0.8 + gb)),
        ];
        assert_eq!(*s, want);
    }
    // D3DFR's default light (gamma = 0) is 0.8 ambient: √π/2 · 0.8 ≈ 0.709 of the albedo.
    let default = sh_shade(&[[100.0; 3]], &[[0.0, 1.0, 0.0]], &[0.0; GAMMA_LEN]).unwrap();
    assert!((default[0][0] - 70.898).abs() < 1e-3);
}

#[test]
fn rotation_is_d3dfr_compute_rotation() {
    let t = 0.37f32;
    let (s, c) = t.sin_cos();
    let close = |a: [[f32; 3]; 3], b: [[f32; 3]; 3]| {
        (0..3).all(|i| (0..3).all(|j| (a[i][j] - b[i][j]).abs() < 1e-6))
    };
    // D3DFR returns the transpose of Rx, Ry, Rz for single-axis angles.
    let rx_t = [[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]];
    let ry_t = [[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]];
    let rz_t = [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]];
    assert!(close(rotation([t, 0.0, 0.0]), rx_t));
    assert!(close(rotation([0.0, t, 0.0]), ry_t));
    assert!(close(rotation([0.0, 0.0, t]), rz_t));
    // Row vector times (Rz·Ry·Rx)ᵀ = Rz·(Ry·(Rx·p)): apply the single-axis ones in turn.
    let angles = [0.3, -0.5, 0.8];
    let rot = rotation(angles);
    let p = [0.2, -1.3, 0.7];
    let step = |p, axis: usize| {
        let mut a = [0.0; 3];
        a[axis] = angles[axis];
        rotate(p, &rotation(a))
    };
    let want = step(step(step(p, 0), 1), 2);
    let got = rotate(p, &rot);
    assert!(
        (0..3).all(|k| (got[k] - want[k]).abs() < 1e-6),
        "{got:?} vs {want:?}"
    );
    // Orthonormal with determinant +1.
    for i in 0..3 {
        for j in 0..3 {
            let dot: f32 = (0..3).map(|k| rot[i][k] * rot[j][k]).sum();
            assert!((dot - f32::from(u8::from(i == j))).abs() < 1e-6);
        }
    }
    let det = rot[0][0] * (rot[1][1] * rot[2][2] - rot[1][2] * rot[2][1])
        - rot[0][1] * (rot[1][0] * rot[2][2] - rot[1][2] * rot[2][0])
        + rot[0][2] * (rot[1][0] * rot[2][1] - rot[1][1] * rot[2][0]);
    assert!((det - 1.0).abs() < 1e-6);
}

#[test]
fn camera_scales_and_projects_as_d3dfr() {
    let camera = Camera::d3dfr();
    assert_eq!(
        (camera.focal, camera.center, camera.distance, camera.size),
        (1015.0, 112.0, 10.0, 224)
    );
    let big = Camera::scaled(512);
    assert_eq!((big.center, big.distance, big.size), (256.0, 10.0, 512));
    assert!((big.focal - 1015.0 * 512.0 / 224.0).abs() < 1e-3);
    // World (0.5, 0.25, 1) → camera (0.5, 0.25, 9): right of and above the centre (y down).
    let cam = camera.to_camera([0.5, 0.25, 1.0]);
    assert_eq!(cam, [0.5, 0.25, 9.0]);
    let s = camera.project(cam);
    assert!((s[0] - (112.0 + 1015.0 * 0.5 / 9.0)).abs() < 1e-4);
    assert!((s[1] - (112.0 - 1015.0 * 0.25 / 9.0)).abs() < 1e-4);
    assert_eq!(s[2], 9.0);
    // Same relative spot at 512.
    let b = big.project(cam);
    assert!((b[0] / 512.0 - s[0] / 224.0).abs() < 1e-6);
    assert!((b[1] / 512.0 - s[1] / 224.0).abs() < 1e-6);
}

#[test]
fn sphere_normals_point_outwards() {
    let (vertices, triangles) = uv_sphere(1.5, 24, 48);
    let normals = vertex_normals(&vertices, &triangles).unwrap();
    for (p, n) in vertices.iter().zip(&normals) {
        let len = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
        let cos = (p[0] * n[0] + p[1] * n[1] + p[2] * n[2]) / len;
        assert!(cos > 0.995, "vertex {p:?} normal {n:?}");
    }
    // A vertex no triangle uses gets the zero vector, as F.normalize gives.
    let lonely = vertex_normals(
        &[[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [5.0; 3]],
        &[[0, 1, 2]],
    )
    .unwrap();
    assert_eq!(lonely[0], [0.0, 0.0, 1.0]);
    assert_eq!(lonely[3], [0.0; 3]);
}

/// A light from `dir` (unit, world space) as D3DFR gamma: ambient plus the three linear bands
/// `Y1 = −a1c1·ny, Y2 = a1c1·nz, Y3 = −a1c1·nx`, so lit = k0(0.8 + g0) + a1c1·strength·(n·dir).
fn directional_gamma(g0: f32, strength: f32, dir: [f32; 3]) -> [f32; GAMMA_LEN] {
    let mut gamma = [0.0; GAMMA_LEN];
    for c in 0..3 {
        gamma[c * 9] = g0;
        gamma[c * 9 + 1] = -strength * dir[1];
        gamma[c * 9 + 2] = strength * dir[2];
        gamma[c * 9 + 3] = -strength * dir[0];
    }
    gamma
}

#[test]
fn sphere_renders_as_the_projected_disc_lit_from_the_light_direction() {
    let radius = 1.0f32;
    let (vertices, triangles) = uv_sphere(radius, 96, 192);
    let albedo = vec![[180.0, 150.0, 120.0]; vertices.len()];
    let norm = (0.25f32 + 0.25 + 1.0).sqrt();
    let light = [0.5 / norm, 0.5 / norm, 1.0 / norm];
    let gamma = directional_gamma(0.1, 0.3, light);
    let camera = Camera::d3dfr();
    let r = render_face(
        &vertices, &triangles, &albedo, [0.0; 3], [0.0; 3], &gamma, &camera,
    )
    .unwrap();

    // Silhouette of a sphere at distance d under a pinhole: radius f·r/√(d² − r²).
    let d = camera.distance;
    let disc = camera.focal * radius / (d * d - radius * radius).sqrt();
    let mut covered = 0.0;
    for y in 0..camera.size {
        for x in 0..camera.size {
            let dist = ((x as f32 + 0.5 - camera.center).powi(2)
                + (y as f32 + 0.5 - camera.center).powi(2))
            .sqrt();
            let m = r.mask[y * camera.size + x];
            covered += m;
            if dist < disc - 1.0 {
                assert_eq!(m, 1.0, "pixel ({x}, {y}) at {dist} px from the centre");
            } else if dist > disc + 1.0 {
                assert_eq!(m, 0.0, "pixel ({x}, {y}) at {dist} px from the centre");
            }
        }
    }
    let area = std::f32::consts::PI * disc * disc;
    assert!(
        (covered - area).abs() < 2.0 * std::f32::consts::PI * disc,
        "{covered} vs {area}"
    );

    // The brightest pixel is where the sphere's normal is the light direction: the point
    // r·light, projected (world +y is up in the image).
    let lum = |x: usize, y: usize| r.image.pixel(x, y).iter().sum::<f32>();
    let (mut best, mut bx, mut by) = (f32::MIN, 0, 0);
    for y in 0..camera.size {
        for x in 0..camera.size {
            if lum(x, y) > best {
                (best, bx, by) = (lum(x, y), x, y);
            }
        }
    }
    let peak = camera.project(camera.to_camera(light.map(|c| c * radius)));
    // Independently of `project`: the light comes from the upper right (+x, +y), and the image
    // has y down, so the spot lies right of and above the image centre.
    assert!(bx as f32 > camera.center + 20.0 && (by as f32) < camera.center - 20.0);
    let off = ((bx as f32 + 0.5 - peak[0]).powi(2) + (by as f32 + 0.5 - peak[1]).powi(2)).sqrt();
    assert!(
        off < 4.0,
        "brightest pixel ({bx}, {by}), light spot at {peak:?}"
    );
    // Its colour is the analytic one: albedo · (a0c0·(0.8 + 0.1) + a1c1·0.3·(n·light = 1)).
    let k = sh_basis([0.0; 3])[0] * 0.9 + sh_basis([0.0, 0.0, 1.0])[2] * 0.3;
    let got = r.image.pixel(bx, by);
    for c in 0..3 {
        assert!(
            (got[c] / albedo[0][c] - k).abs() < 0.01 * k,
            "{got:?}, lit {k}"
        );
    }
    // The limb opposite the light is darker than the spot facing it.
    let dark = camera.project(camera.to_camera([-0.6, -0.6, 0.53]));
    assert!(lum(dark[0] as usize, dark[1] as usize) < 0.7 * best);
    // A translation along +x moves the silhouette right. Off the axis it is an ellipse centred
    // at f·(tan(β + α) + tan(β − α))/2: β the direction of the sphere's centre, α the half-angle
    // of its tangent cone.
    let tx = 0.1f32;
    let alpha = (radius / tx.hypot(d)).asin();
    let beta = (tx / d).atan();
    let want_shift = camera.focal * ((beta + alpha).tan() + (beta - alpha).tan()) / 2.0;
    let moved = render_face(
        &vertices,
        &triangles,
        &albedo,
        [0.0; 3],
        [tx, 0.0, 0.0],
        &gamma,
        &camera,
    )
    .unwrap();
    let centroid = |m: &[f32]| {
        let (mut sx, mut n) = (0.0, 0.0);
        for (i, &v) in m.iter().enumerate() {
            sx += v * ((i % camera.size) as f32 + 0.5);
            n += v;
        }
        sx / n
    };
    let shift = centroid(&moved.mask) - centroid(&r.mask);
    assert!(
        (shift - want_shift).abs() < 0.05,
        "shift {shift}, want {want_shift}"
    );
}

#[test]
fn renders_are_bit_identical_across_runs_and_thread_counts() {
    let (vertices, triangles) = uv_sphere(0.8, 40, 80);
    let albedo: Vec<[f32; 3]> = (0..vertices.len())
        .map(|i| [(i % 200) as f32, 100.0, 50.0])
        .collect();
    let gamma = directional_gamma(-0.1, 0.2, [0.0, 0.6, 0.8]);
    let camera = Camera::scaled(512);
    let angles = [0.2, -0.4, 0.1];
    let render = || {
        render_face(
            &vertices,
            &triangles,
            &albedo,
            angles,
            [0.1, -0.2, 0.3],
            &gamma,
            &camera,
        )
        .unwrap()
    };
    let a = render();
    let b = render();
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(render);
    assert_eq!(a, b);
    assert_eq!(a, single);
    assert!(a.mask.iter().sum::<f32>() > 10_000.0);
}

#[test]
fn bad_inputs_give_typed_errors() {
    let vertices = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
    let albedo = [[100.0; 3]; 3];
    let gamma = [0.0f32; GAMMA_LEN];
    let camera = Camera::d3dfr();
    let render = |v: &[[f32; 3]], t: &[[u32; 3]], a: &[[f32; 3]], g: &[f32], c: &Camera| {
        render_face(v, t, a, [0.0; 3], [0.0; 3], g, c)
    };
    assert_eq!(
        render(&vertices, &[[0, 1, 3]], &albedo, &gamma, &camera),
        Err(RenderError::TriangleIndex {
            triangle: 0,
            index: 3,
            vertices: 3
        })
    );
    assert!(matches!(
        render(&vertices, &[[0, 1, 2]], &albedo, &gamma[..26], &camera),
        Err(RenderError::Length {
            expected: 27,
            found: 26,
            ..
        })
    ));
    assert_eq!(
        render(&vertices, &[[0, 1, 2]], &albedo, &gamma, &Camera::scaled(0)),
        Err(RenderError::Size {
            found: 0,
            max: sgpn_kernels::render::MAX_RENDER_SIZE
        })
    );
    let nan = [[0.0, 0.0, 0.0], [1.0, f32::NAN, 0.0], [0.0, 1.0, 0.0]];
    assert!(matches!(
        render(&nan, &[[0, 1, 2]], &albedo, &gamma, &camera),
        Err(RenderError::NonFinite {
            what: "vertices",
            index: 1,
            ..
        })
    ));
    assert!(matches!(
        render(&vertices, &[[0, 1, 2]], &albedo[..2], &gamma, &camera),
        Err(RenderError::Length {
            expected: 3,
            found: 2,
            ..
        })
    ));
    let mut bad_gamma = gamma;
    bad_gamma[13] = f32::INFINITY;
    assert!(matches!(
        render(&vertices, &[[0, 1, 2]], &albedo, &bad_gamma, &camera),
        Err(RenderError::NonFiniteGamma { index: 13, .. })
    ));
    let blind = Camera {
        focal: 0.0,
        ..camera
    };
    assert!(matches!(
        render(&vertices, &[[0, 1, 2]], &albedo, &gamma, &blind),
        Err(RenderError::Camera { field: "focal", .. })
    ));
    // The lower-level entry points check their own inputs.
    assert!(matches!(
        rasterize(&[[1.0, 2.0, f32::NAN]; 3], &[[0, 1, 2]], &[[0.0; 3]; 3], 8),
        Err(RenderError::NonFinite { what: "screen", .. })
    ));
    assert!(matches!(
        rasterize(&[[1.0, 2.0, 3.0]; 3], &[[0, 1, 2]], &[[0.0; 3]; 2], 8),
        Err(RenderError::Length { .. })
    ));
    assert!(matches!(
        sh_shade(&albedo, &albedo[..1], &gamma),
        Err(RenderError::Length { .. })
    ));
    // The message names the problem.
    let err = render(&vertices, &[[0, 1, 7]], &albedo, &gamma, &camera).unwrap_err();
    assert_eq!(
        err.to_string(),
        "triangle 0 refers to vertex 7, but there are only 3 vertices"
    );
}

#[test]
fn triangles_behind_the_camera_or_at_infinity_are_dropped() {
    let screen = [
        [2.0, 2.0, 5.0],
        [30.0, 4.0, 5.0],
        [10.0, 30.0, -1.0],
        [f32::INFINITY, 3.0, 5.0],
    ];
    let r = rasterize_triangles(&screen, &[[0, 1, 2], [0, 1, 3]], 32).unwrap();
    assert!(r.triangle.iter().all(|&t| t == NO_TRIANGLE));
    assert!(r.depth.iter().all(|&d| d == 0.0));
}
