//! The identity metric's assumptions about `fr_feature.onnx` (RGB, `(p − 127)/128`, ArcFace
//! 5-point alignment) hold when photos of the same person embed closer than photos of different
//! people. Uses the `hq512` evaluation faces (9 identities, file names `<identity>_<n>.jpg`).

use sgpn_models::SessionConfig;
use sgpn_models::identity::{IdentityEmbedder, cosine_similarity};
use sgpn_train::data::cli::{default_detector, deps_file, shared_data};
use sgpn_train::data::pixels::rgb8_to_f32;
use sgpn_train::data::prepare::{DetectFaces, RetinaFace};

#[test]
fn same_person_embeds_closer_than_different_people() {
    let dir = shared_data("eval/hq512");
    if !dir.exists() {
        eprintln!("shared evaluation data missing: skipped");
        return;
    }
    let cfg = SessionConfig::default();
    let mut detector = RetinaFace::load(&default_detector(), &cfg).unwrap();
    let mut embedder = IdentityEmbedder::load(&deps_file("models/fr_feature.onnx"), &cfg).unwrap();
    let people = ["00005", "00022", "00082", "00119"];
    let mut emb: Vec<(usize, Vec<f32>)> = Vec::new();
    let files = sgpn_train::data::grid::list_images(&dir).unwrap();
    for (p, id) in people.iter().enumerate() {
        let prefix = format!("{id}_");
        let mine = files.iter().filter(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        });
        for path in mine.take(3) {
            let img = image::open(path).unwrap().to_rgb8();
            let faces = detector.detect_faces(&img).unwrap();
            let face = faces
                .iter()
                .max_by(|a, b| a.eye_distance().total_cmp(&b.eye_distance()))
                .expect("a face in every hq512 image");
            emb.push((
                p,
                embedder.embed(&rgb8_to_f32(&img), &face.landmarks).unwrap(),
            ));
        }
    }
    let (mut same, mut diff) = (Vec::new(), Vec::new());
    for i in 0..emb.len() {
        for j in i + 1..emb.len() {
            let c = cosine_similarity(&emb[i].1, &emb[j].1);
            if emb[i].0 == emb[j].0 {
                same.push(c)
            } else {
                diff.push(c)
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ms, md) = (mean(&same), mean(&diff));
    eprintln!("identity cosine: same person {ms:.3}, different people {md:.3}");
    assert!(ms > md + 0.2, "same {ms:.3} vs different {md:.3}");
}
