//! Fitting one face's full D3DFR coefficient vector (id, tex, angles, 27 γ, translation) to the
//! landmarker's mesh and colours of that face: the teacher of the mesh-level losses (paper
//! Eq. 14, docs/shape-prior.md). D3DFR fits its coefficients by a network trained with landmark,
//! photometric and coefficient-prior losses (`models/facerecon_model.py`); with the landmarker
//! giving all 468 vertices directly, the same objective is a small nonlinear least-squares
//! problem per face:
//!
//! - geometry (angles, translation, α): Levenberg–Marquardt on the D3DFR projection of every
//!   vertex against the landmarker's x, y (224-view pixels), its relative depth (weakly), plus
//!   the prior `|α|²`; α's Jacobian is analytic (the shape is linear in α), the 6 pose columns
//!   are central differences; the start comes from a Procrustes fit of the mean shape;
//! - colour (δ, γ): given the shape, alternating linear least squares, γ given the albedo
//!   (`albedo::fit_light`) and δ given γ, with the prior `|δ|²`.

use sgpn_kernels::render::{Camera, rotate, rotation, vertex_normals};
use sgpn_models::morphable::MorphableModel;

use super::albedo::{LitFace, fit_light, shading};
use super::geometry::{d3dfr_angles, procrustes};
use crate::linalg::{add_normal_row, mirror_upper, ridge_solve};

/// Weights and iteration counts of the fit.
#[derive(Clone, Copy, Debug)]
pub struct FitConfig {
    /// Levenberg–Marquardt iterations for pose and identity.
    pub iterations: usize,
    /// Weight of the relative-depth residuals against the x, y ones (the landmarker's depth is
    /// less reliable than its image positions).
    pub depth_weight: f64,
    /// Prior weight on |α|² in squared 224-view pixels: α ≈ N(0, 1) by construction, so this is
    /// about the landmark noise variance.
    pub id_prior: f64,
    /// Prior weight on |δ|² in squared 0..1 colour units (colour noise variance).
    pub tex_prior: f64,
    /// (γ | δ) alternation rounds (the start of the joint fit).
    pub colour_rounds: usize,
    /// Joint Gauss–Newton iterations on (δ, γ) after the alternation.
    pub colour_gn_iterations: usize,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            iterations: 12,
            depth_weight: 0.3,
            id_prior: 1.0,
            tex_prior: 0.005,
            colour_rounds: 3,
            colour_gn_iterations: 6,
        }
    }
}

/// What the teacher is fitted to, in the 224 view of the crop.
pub struct FitTarget<'a> {
    /// Per vertex: x, y in D3DFR screen coordinates of the 224 view (pixel edges at integers,
    /// y down), and the landmarker's relative depth in the same scale (smaller = nearer).
    pub points: &'a [[f32; 3]],
    /// Per vertex colour (0..1) where sampled.
    pub colours: &'a [Option<[f32; 3]>],
}

/// One face's fit.
#[derive(Clone, Debug)]
pub struct FitResult {
    /// The full vector in D3DFR order (`Coefficients::split`).
    pub coeffs: Vec<f32>,
    /// Mean 2D distance of the projected vertices to the targets, 224-view pixels.
    pub landmark_px: f64,
    /// Colour RMSE over the seen, sampled vertices (0..1) and how many values it covers.
    pub colour_sq: f64,
    pub colour_n: usize,
}

/// Geometry parameters: 3 angles, 3 translation, then α.
struct Pose {
    angles: [f64; 3],
    translation: [f64; 3],
}

/// Fits `target` with `model` seen by `camera` (the model's D3DFR camera at 224).
pub fn fit_face(
    model: &MorphableModel,
    camera: &Camera,
    target: &FitTarget,
    cfg: &FitConfig,
) -> anyhow::Result<FitResult> {
    let v = model.vertex_count();
    anyhow::ensure!(
        target.points.len() == v && target.colours.len() == v,
        "the fit target has {} points, the 3DMM has {v} vertices",
        target.points.len()
    );
    let k_id = model.id_components();
    let mut alpha = vec![0.0f64; k_id];
    let mut pose = initial_pose(model, camera, target)?;
    let depth_mean = target.points.iter().map(|p| p[2] as f64).sum::<f64>() / v as f64;

    let residuals = |pose: &Pose, alpha: &[f64], out: &mut Vec<f64>| {
        let shape = shape_of(model, alpha);
        project_residuals(
            &shape,
            pose,
            camera,
            target,
            depth_mean,
            cfg.depth_weight,
            out,
        )
    };
    let cost = |r: &[f64], alpha: &[f64]| {
        r.iter().map(|x| x * x).sum::<f64>()
            + cfg.id_prior * alpha.iter().map(|a| a * a).sum::<f64>()
    };
    let n_params = 6 + k_id;
    let mut r = Vec::new();
    residuals(&pose, &alpha, &mut r);
    let mut current = cost(&r, &alpha);
    let mut lambda = 1e-3;
    for _ in 0..cfg.iterations {
        let jac = jacobian(model, camera, target, &pose, &alpha, depth_mean, cfg, &r);
        let rows = r.len();
        let mut jtj = vec![0.0; n_params * n_params];
        let mut jtr = vec![0.0; n_params];
        for i in 0..rows {
            add_normal_row(
                &mut jtj,
                &mut jtr,
                &jac[i * n_params..(i + 1) * n_params],
                r[i],
            );
        }
        mirror_upper(&mut jtj, n_params);
        for (j, a) in alpha.iter().enumerate() {
            jtj[(6 + j) * n_params + 6 + j] += cfg.id_prior;
            jtr[6 + j] -= cfg.id_prior * a;
        }
        let mut improved = false;
        for _try in 0..6 {
            let ridge: Vec<f64> = (0..n_params)
                .map(|a| lambda * jtj[a * n_params + a].max(1e-9))
                .collect();
            let Some(step) = ridge_solve(&jtj, &jtr, &ridge, n_params) else {
                lambda *= 10.0;
                continue;
            };
            let trial_pose = Pose {
                angles: std::array::from_fn(|k| pose.angles[k] + step[k]),
                translation: std::array::from_fn(|k| pose.translation[k] + step[3 + k]),
            };
            let trial_alpha: Vec<f64> = alpha.iter().zip(&step[6..]).map(|(a, s)| a + s).collect();
            let mut trial_r = Vec::new();
            residuals(&trial_pose, &trial_alpha, &mut trial_r);
            let trial = cost(&trial_r, &trial_alpha);
            if trial.is_finite() && trial < current {
                (pose, alpha, r, current) = (trial_pose, trial_alpha, trial_r, trial);
                lambda = (lambda * 0.3).max(1e-7);
                improved = true;
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    let landmark_px = (0..v)
        .map(|i| (r[3 * i] * r[3 * i] + r[3 * i + 1] * r[3 * i + 1]).sqrt())
        .sum::<f64>()
        / v as f64;

    // Colour: normals of the fitted shape, rotated into the camera frame as D3DFR shades them.
    let shape = shape_of(model, &alpha);
    let shape32: Vec<[f32; 3]> = shape.iter().map(|p| p.map(|c| c as f32)).collect();
    let rot = rotation(pose.angles.map(|a| a as f32));
    let normals: Vec<[f32; 3]> = vertex_normals(&shape32, &model.triangles)?
        .into_iter()
        .map(|n| rotate(n, &rot))
        .collect();
    let face = LitFace {
        colours: target.colours,
        normals: &normals,
    };
    let (delta, gamma, colour_sq, colour_n) = fit_colour(model, &face, cfg);

    let mut coeffs = Vec::with_capacity(model.coefficient_count());
    coeffs.extend(alpha.iter().map(|&a| a as f32));
    coeffs.extend(std::iter::repeat_n(0.0, model.exp_components()));
    coeffs.extend(delta.iter().map(|&d| d as f32));
    coeffs.extend(pose.angles.map(|a| a as f32));
    coeffs.extend(gamma);
    coeffs.extend(pose.translation.map(|t| t as f32));
    anyhow::ensure!(
        coeffs.iter().all(|c| c.is_finite()),
        "the fit diverged (non-finite coefficients)"
    );
    Ok(FitResult {
        coeffs,
        landmark_px,
        colour_sq,
        colour_n,
    })
}

/// `S̄ + B_id·α` as points (f64).
fn shape_of(model: &MorphableModel, alpha: &[f64]) -> Vec<[f64; 3]> {
    let k = model.id_components();
    let b = &model.id_basis.values;
    (0..model.vertex_count())
        .map(|v| {
            std::array::from_fn(|axis| {
                let row = 3 * v + axis;
                let basis = &b[row * k..(row + 1) * k];
                model.mean_shape[row] as f64
                    + basis
                        .iter()
                        .zip(alpha)
                        .map(|(b, a)| *b as f64 * a)
                        .sum::<f64>()
            })
        })
        .collect()
}

/// D3DFR's transform and projection of one point: `p·rot + t`, camera at `distance`, screen.
fn project(p: [f64; 3], m: &[[f64; 3]; 3], t: &[f64; 3], camera: &Camera) -> ([f64; 3], [f64; 3]) {
    let world: [f64; 3] =
        std::array::from_fn(|i| m[i][0] * p[0] + m[i][1] * p[1] + m[i][2] * p[2] + t[i]);
    let z = camera.distance as f64 - world[2];
    let (f, c) = (camera.focal as f64, camera.center as f64);
    ([f * world[0] / z + c, c - f * world[1] / z, z], world)
}

/// Column-vector rotation `Rz·Ry·Rx` of D3DFR angles (the kernels' row-vector `rot`, transposed).
fn rotation_matrix(angles: &[f64; 3]) -> [[f64; 3]; 3] {
    let rot = rotation(angles.map(|a| a as f32));
    std::array::from_fn(|i| std::array::from_fn(|j| rot[j][i] as f64))
}

/// Residuals per vertex: screen x, screen y, weighted relative depth (the model's depth in
/// pixels, `focal/(distance − t_z)` per unit, against the landmarker's, both mean-free).
fn project_residuals(
    shape: &[[f64; 3]],
    pose: &Pose,
    camera: &Camera,
    target: &FitTarget,
    depth_mean: f64,
    depth_weight: f64,
    out: &mut Vec<f64>,
) {
    let m = rotation_matrix(&pose.angles);
    let depth_scale = camera.focal as f64 / (camera.distance as f64 - pose.translation[2]);
    out.clear();
    let mut world_z_mean = 0.0;
    for (p, t) in shape.iter().zip(target.points) {
        let (s, world) = project(*p, &m, &pose.translation, camera);
        out.push(s[0] - t[0] as f64);
        out.push(s[1] - t[1] as f64);
        // The landmarker's z is smaller towards the camera; the model's world z is larger.
        out.push(world[2] * depth_scale);
        world_z_mean += world[2] * depth_scale;
    }
    world_z_mean /= shape.len() as f64;
    for (i, t) in target.points.iter().enumerate() {
        let model_depth = out[3 * i + 2] - world_z_mean;
        let target_depth = -(t[2] as f64 - depth_mean);
        out[3 * i + 2] = depth_weight * (model_depth - target_depth);
    }
}

/// Row-major Jacobian [3V, 6 + K_id] of the residuals at (pose, α): pose columns by central
/// differences, α columns analytically (`∂screen/∂world · M · B_v`; the depth rows mean-free).
#[allow(clippy::too_many_arguments)]
fn jacobian(
    model: &MorphableModel,
    camera: &Camera,
    target: &FitTarget,
    pose: &Pose,
    alpha: &[f64],
    depth_mean: f64,
    cfg: &FitConfig,
    r: &[f64],
) -> Vec<f64> {
    let k = model.id_components();
    let n = 6 + k;
    let rows = r.len();
    let v = model.vertex_count();
    let mut jac = vec![0.0; rows * n];
    let shape = shape_of(model, alpha);
    const EPS: f64 = 1e-4;
    let (mut plus, mut minus) = (Vec::new(), Vec::new());
    for p in 0..6 {
        let shifted = |d: f64| {
            let mut q = Pose {
                angles: pose.angles,
                translation: pose.translation,
            };
            if p < 3 {
                q.angles[p] += d;
            } else {
                q.translation[p - 3] += d;
            }
            q
        };
        project_residuals(
            &shape,
            &shifted(EPS),
            camera,
            target,
            depth_mean,
            cfg.depth_weight,
            &mut plus,
        );
        project_residuals(
            &shape,
            &shifted(-EPS),
            camera,
            target,
            depth_mean,
            cfg.depth_weight,
            &mut minus,
        );
        for i in 0..rows {
            jac[i * n + p] = (plus[i] - minus[i]) / (2.0 * EPS);
        }
    }
    let m = rotation_matrix(&pose.angles);
    let (f, dist) = (camera.focal as f64, camera.distance as f64);
    let depth_scale = f / (dist - pose.translation[2]);
    let b = &model.id_basis.values;
    let mut depth_col_mean = vec![0.0; k];
    for vi in 0..v {
        let (_, world) = project(shape[vi], &m, &pose.translation, camera);
        let z = dist - world[2];
        // ∂(screen x, screen y, depth)/∂world.
        let d = [
            [f / z, 0.0, f * world[0] / (z * z)],
            [0.0, -f / z, -f * world[1] / (z * z)],
            [0.0, 0.0, cfg.depth_weight * depth_scale],
        ];
        // D = d·M (3×3), then row i of the Jacobian is D·B_v.
        let dm: [[f64; 3]; 3] = std::array::from_fn(|i| {
            std::array::from_fn(|j| (0..3).map(|l| d[i][l] * m[l][j]).sum())
        });
        for j in 0..k {
            let bv = [
                b[(3 * vi) * k + j] as f64,
                b[(3 * vi + 1) * k + j] as f64,
                b[(3 * vi + 2) * k + j] as f64,
            ];
            for i in 0..3 {
                let value = dm[i][0] * bv[0] + dm[i][1] * bv[1] + dm[i][2] * bv[2];
                jac[(3 * vi + i) * n + 6 + j] = value;
            }
            depth_col_mean[j] += jac[(3 * vi + 2) * n + 6 + j];
        }
    }
    for (j, mean) in depth_col_mean.iter().enumerate() {
        let mean = mean / v as f64;
        for vi in 0..v {
            jac[(3 * vi + 2) * n + 6 + j] -= mean;
        }
    }
    jac
}

/// Start: the similarity that maps the mean shape onto the target points (screen x, flipped
/// y, flipped depth, in pixels around the principal point) gives the rotation, and its scale
/// the distance (`scale = focal / (distance − t_z)`).
fn initial_pose(
    model: &MorphableModel,
    camera: &Camera,
    target: &FitTarget,
) -> anyhow::Result<Pose> {
    let c = camera.center as f64;
    let mean: Vec<[f64; 3]> = model
        .mean_shape
        .chunks_exact(3)
        .map(|p| [p[0] as f64, p[1] as f64, p[2] as f64])
        .collect();
    let observed: Vec<[f64; 3]> = target
        .points
        .iter()
        .map(|p| [p[0] as f64 - c, c - p[1] as f64, -(p[2] as f64)])
        .collect();
    let sim = procrustes(&mean, &observed)
        .ok_or_else(|| anyhow::anyhow!("the target mesh is degenerate (no pose fits it)"))?;
    anyhow::ensure!(sim.scale > 0.0, "the target mesh has a non-positive scale");
    let tz = camera.distance as f64 - camera.focal as f64 / sim.scale;
    let angles = d3dfr_angles(&sim.rotation).map(|a| a as f64);
    Ok(Pose {
        angles,
        translation: [
            sim.translation[0] / sim.scale,
            sim.translation[1] / sim.scale,
            tz,
        ],
    })
}

/// Albedo coefficients δ and lighting γ of one face by alternation (module header); also the
/// squared colour error over seen samples and their count.
fn fit_colour(
    model: &MorphableModel,
    face: &LitFace,
    cfg: &FitConfig,
) -> (Vec<f64>, [f32; 27], f64, usize) {
    let k = model.tex_components();
    let v = model.vertex_count();
    let b = &model.albedo_basis.values;
    let mut delta = vec![0.0f64; k];
    let albedo_of = |delta: &[f64]| -> Vec<[f32; 3]> {
        (0..v)
            .map(|vi| {
                std::array::from_fn(|c| {
                    let row = 3 * vi + c;
                    (model.mean_albedo[row] as f64
                        + b[row * k..(row + 1) * k]
                            .iter()
                            .zip(delta)
                            .map(|(b, d)| *b as f64 * d)
                            .sum::<f64>()) as f32
                })
            })
            .collect()
    };
    for _ in 0..cfg.colour_rounds.max(1) {
        let gamma = fit_light(face, &albedo_of(&delta));
        if k == 0 {
            break;
        }
        // δ: min Σ (s·(T̄ + B·δ) − c)² + prior·|δ|², linear given the shading s.
        let mut ata = vec![0.0; k * k];
        let mut atb = vec![0.0; k];
        let mut jac_row = vec![0.0; k];
        for vi in 0..v {
            let Some(col) = face.seen(vi) else { continue };
            let s = shading(face.normals[vi], &gamma);
            for c in 0..3 {
                let row = 3 * vi + c;
                let basis = &b[row * k..(row + 1) * k];
                jac_row
                    .iter_mut()
                    .zip(basis)
                    .for_each(|(j, b)| *j = s[c] * *b as f64);
                // Residual at δ = 0.
                let residual = s[c] * model.mean_albedo[row] as f64 - col[c] as f64;
                add_normal_row(&mut ata, &mut atb, &jac_row, residual);
            }
        }
        mirror_upper(&mut ata, k);
        if let Some(d) = ridge_solve(&ata, &atb, &vec![cfg.tex_prior; k], k) {
            delta = d;
        }
    }
    let mut gamma = fit_light(face, &albedo_of(&delta));
    // Alternation crawls along the albedo–light scale valley; finish jointly (Gauss–Newton on
    // the bilinear model).
    for _ in 0..cfg.colour_gn_iterations {
        let Some((d, g)) = colour_gauss_newton_step(model, face, &delta, &gamma, cfg.tex_prior)
        else {
            break;
        };
        let before = colour_cost(face, &albedo_of(&delta), &gamma, &delta, cfg.tex_prior);
        let after = colour_cost(face, &albedo_of(&d), &g, &d, cfg.tex_prior);
        if after.is_nan() || after >= before {
            break;
        }
        (delta, gamma) = (d, g);
    }
    let albedo = albedo_of(&delta);
    let sq = colour_cost(face, &albedo, &gamma, &delta, 0.0);
    let n = 3 * (0..v).filter(|&vi| face.seen(vi).is_some()).count();
    (delta, gamma, sq, n)
}

/// `Σ_seen (t·s − c)² + prior·|δ|²` of one face.
fn colour_cost(
    face: &LitFace,
    albedo: &[[f32; 3]],
    gamma: &[f32; 27],
    delta: &[f64],
    prior: f64,
) -> f64 {
    let mut sq = prior * delta.iter().map(|d| d * d).sum::<f64>();
    for (vi, albedo_v) in albedo.iter().enumerate() {
        if let Some(col) = face.seen(vi) {
            let s = shading(face.normals[vi], gamma);
            for c in 0..3 {
                sq += (albedo_v[c] as f64 * s[c] - col[c] as f64).powi(2);
            }
        }
    }
    sq
}

/// One Gauss–Newton step on (δ, γ) jointly for `c = (T̄ + B·δ) · Φ(n)·(γ_c + 0.8·e0)`; `None`
/// when the normal equations cannot be solved.
fn colour_gauss_newton_step(
    model: &MorphableModel,
    face: &LitFace,
    delta: &[f64],
    gamma: &[f32; 27],
    prior: f64,
) -> Option<(Vec<f64>, [f32; 27])> {
    let k = model.tex_components();
    let n = k + 27;
    let b = &model.albedo_basis.values;
    let mut jtj = vec![0.0; n * n];
    let mut jtr = vec![0.0; n];
    let mut row = vec![0.0; n];
    for vi in 0..model.vertex_count() {
        let Some(col) = face.seen(vi) else { continue };
        let y = sgpn_kernels::render::sh_basis(face.normals[vi]);
        let s = shading(face.normals[vi], gamma);
        for c in 0..3 {
            let r_i = 3 * vi + c;
            let basis = &b[r_i * k..(r_i + 1) * k];
            let t = model.mean_albedo[r_i] as f64
                + basis
                    .iter()
                    .zip(delta)
                    .map(|(b, d)| *b as f64 * d)
                    .sum::<f64>();
            let residual = t * s[c] - col[c] as f64;
            row.iter_mut().for_each(|x| *x = 0.0);
            for a in 0..k {
                row[a] = basis[a] as f64 * s[c];
            }
            for band in 0..9 {
                row[k + 9 * c + band] = t * y[band] as f64;
            }
            add_normal_row(&mut jtj, &mut jtr, &row, residual);
        }
    }
    mirror_upper(&mut jtj, n);
    for (a, d) in delta.iter().enumerate() {
        jtr[a] -= prior * d;
    }
    let mut ridge = vec![prior; n];
    ridge[k..].iter_mut().for_each(|r| *r = 1e-9);
    let step = ridge_solve(&jtj, &jtr, &ridge, n)?;
    let d = delta.iter().zip(&step).map(|(d, s)| d + s).collect();
    let g = std::array::from_fn(|i| gamma[i] + step[k + i] as f32);
    Some((d, g))
}
