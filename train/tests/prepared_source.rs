//! The prepared-face pair source on a small cache laid out as `sgpn-train prepare` writes it:
//! pairs come at the model size, in [-1, 1], and the same step always gives the same pairs
//! (what exact resume relies on).

use std::path::PathBuf;

use sgpn_train::train::PairSource;
use sgpn_train::train::prepared::PreparedFaces;

fn cache(name: &str, crops: usize) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("sgpn_prepared")
        .join(name);
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(dir.join("crops")).unwrap();
    let mut lines = String::new();
    for k in 0..crops {
        let img = image::RgbImage::from_fn(64, 64, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 4) as u8, (k * 60) as u8])
        });
        img.save(dir.join("crops").join(format!("face{k}.png")))
            .unwrap();
        lines.push_str(&format!(
            "{{\"source\":\"face{k}.jpg\",\"crop\":\"face{k}.png\",\"rejection\":null,\"face\":null,\"fill_fraction\":null}}\n"
        ));
    }
    std::fs::write(dir.join("results.jsonl"), lines).unwrap();
    dir
}

#[test]
fn pairs_are_resized_in_range_and_fixed_per_step() {
    let dir = cache("three", 3);
    let mut source = PreparedFaces::open(&dir, 32, 4).unwrap();
    assert_eq!(source.len(), 3);
    let a = source.batch(5, 2).unwrap();
    a.validate().unwrap();
    assert_eq!((a.n, a.size), (2, 32));
    assert!(a.hq.iter().chain(&a.lq).all(|v| (-1.0..=1.0).contains(v)));
    // The degraded image differs from its HQ source.
    assert!(a.hq != a.lq);
    // Asking again (after other steps) gives the same pairs; another step gives others.
    source.batch(0, 2).unwrap();
    assert_eq!(source.batch(5, 2).unwrap(), a);
    let mut fresh = PreparedFaces::open(&dir, 32, 4).unwrap();
    assert_eq!(fresh.batch(5, 2).unwrap(), a);
    assert_ne!(source.batch(6, 2).unwrap(), a);
}

#[test]
fn an_empty_cache_is_refused_with_its_path() {
    let dir = cache("empty", 0);
    let err = PreparedFaces::open(&dir, 32, 0)
        .err()
        .expect("empty cache fails");
    assert!(
        format!("{err:#}").contains(dir.to_str().unwrap()),
        "{err:#}"
    );
}
