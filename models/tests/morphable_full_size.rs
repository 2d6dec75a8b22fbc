//! The BFM09 loader and the safetensors form at the real model's size (35,709 vertices, 80/64/80
//! components, 70,789 triangles, 68 landmarks), with synthetic values: it must load in reasonable
//! time and memory, and `shape` must stay cheap enough to run per face. Ignored by default because
//! it writes about 300 MB of scratch files; run with
//! `cargo test -p sgpn-models --release --test morphable_full_size -- --ignored --nocapture`.

use std::path::PathBuf;
use std::time::Instant;

use sgpn_models::morphable::{Coefficients, MorphableModel};

const V: usize = 35_709;
const TRIANGLES: usize = 70_789;
const K: [(&str, usize); 3] = [("idBase", 80), ("exBase", 64), ("texBase", 80)];

fn tag(kind: u32, payload_len: usize) -> Vec<u8> {
    let mut v = kind.to_le_bytes().to_vec();
    v.extend((payload_len as u32).to_le_bytes());
    v
}

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
}

/// One single-precision (`mxSINGLE_CLASS`, `miSINGLE`) matrix element, values column-major.
fn single_matrix(
    out: &mut Vec<u8>,
    name: &str,
    rows: usize,
    cols: usize,
    value: impl Fn(usize) -> f32,
) {
    let mut body = tag(6, 8);
    body.extend([7, 0, 0, 0, 0, 0, 0, 0]);
    body.extend(tag(5, 8));
    body.extend((rows as i32).to_le_bytes());
    body.extend((cols as i32).to_le_bytes());
    body.extend(tag(1, name.len()));
    body.extend(name.as_bytes());
    pad(&mut body);
    body.extend(tag(7, rows * cols * 4));
    body.extend((0..rows * cols).flat_map(|i| value(i).to_le_bytes()));
    pad(&mut body);
    out.extend(tag(14, body.len()));
    out.extend(body);
}

#[test]
#[ignore = "writes about 300 MB of scratch files; run explicitly for the full-size timings"]
fn full_size_bfm_loads_converts_and_reconstructs() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("morphable_full_size");
    std::fs::create_dir_all(&dir).unwrap();
    let mat_path = dir.join("BFM_model_front.mat");

    let mut file = b"MATLAB 5.0 MAT-file, synthetic full-size BFM09 front layout".to_vec();
    file.resize(116, b' ');
    file.extend([0u8; 8]);
    file.extend([0x00, 0x01, b'I', b'M']);
    let wave = |i: usize| ((i % 977) as f32 / 977.0 - 0.5) * 1e-3;
    single_matrix(&mut file, "meanshape", 1, 3 * V, |i| {
        (i % 3) as f32 + wave(i)
    });
    for (name, k) in K {
        single_matrix(&mut file, name, 3 * V, k, wave);
    }
    single_matrix(&mut file, "meantex", 1, 3 * V, |i| (i % 200) as f32 + 20.0);
    // 1-based indices stored as single, column-major: column c of row t is vertex (t + c) % V + 1.
    single_matrix(&mut file, "tri", TRIANGLES, 3, |i| {
        ((i % TRIANGLES + i / TRIANGLES) % V + 1) as f32
    });
    single_matrix(&mut file, "keypoints", 68, 1, |i| (i * 500 + 1) as f32);
    std::fs::write(&mat_path, &file).unwrap();
    println!(
        "synthetic BFM_model_front.mat: {:.1} MB",
        file.len() as f64 / 1e6
    );
    drop(file);

    let start = Instant::now();
    let model = MorphableModel::load(&mat_path).unwrap();
    println!("load .mat: {:.2} s", start.elapsed().as_secs_f64());
    assert_eq!(model.vertex_count(), V);
    assert_eq!(model.triangles.len(), TRIANGLES);
    assert_eq!(model.triangles[1], [1, 2, 3]);
    assert_eq!(model.coefficient_count(), 257);

    let st_path = dir.join("bfm09_front.safetensors");
    let start = Instant::now();
    model.save_safetensors(&st_path).unwrap();
    let saved = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let stored = MorphableModel::load(&st_path).unwrap();
    println!(
        "save .safetensors: {saved:.2} s, load: {:.2} s, {:.1} MB",
        start.elapsed().as_secs_f64(),
        std::fs::metadata(&st_path).unwrap().len() as f64 / 1e6
    );
    assert_eq!(stored, model);

    let coefficients: Vec<f32> = (0..257).map(|i| (i as f32 * 0.37).sin()).collect();
    let c = Coefficients::split(&coefficients, &model).unwrap();
    let start = Instant::now();
    let shape = model.shape(&c.id, &c.exp).unwrap();
    let albedo = model.albedo(&c.tex).unwrap();
    println!(
        "shape + albedo of one face: {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!((shape.len(), albedo.len()), (V, V));
    assert!(shape.iter().flatten().all(|v| v.is_finite()));

    std::fs::remove_file(&mat_path).unwrap();
    std::fs::remove_file(&st_path).unwrap();
}
