//! The pool of loaded face pipelines (`RestorerPool`): a pipeline given back is taken by the
//! next stream with the same configuration instead of loading the models again, and restores as
//! a newly loaded one does (no track or detail history of the stream before); a configuration
//! whose model file changed on disk loads again; at most `MAX_IDLE` pipelines wait.

mod support;

use std::path::Path;

use sgpn_face::pool::MAX_IDLE;
use sgpn_face::{FaceRestorer, OutputMode, RestoreParams, RestorerPool};
use support::{config, photo, process_rgb, temp_dir};

fn shipped_generator() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/sgpn-small256-no3d.onnx")
}

#[test]
fn a_pipeline_given_back_is_taken_again_and_restores_as_a_new_one() {
    let cfg = config(&shipped_generator(), None, OutputMode::Restored);
    let pool = RestorerPool::new();
    let params = RestoreParams::default();
    let mut first = pool.take(&cfg).unwrap();
    // A stream of three frames: tracks and detail history build up.
    let (w, h, obama) = photo("obama.jpg", 0.4);
    for _ in 0..3 {
        let mut frame = obama.clone();
        assert!(
            !process_rgb(&mut first, w, h, &mut frame, &params)
                .unwrap()
                .is_empty()
        );
    }
    pool.give_back(first);
    assert_eq!((pool.loads(), pool.idle()), (1, 1));

    let mut again = pool.take(&cfg).unwrap();
    assert_eq!((pool.loads(), pool.idle()), (1, 0), "taken, not loaded");
    let mut fresh = FaceRestorer::new(&cfg).unwrap();
    let (w, h, biden) = photo("biden.jpg", 0.3);
    let (mut a, mut b) = (biden.clone(), biden.clone());
    let faces_again = process_rgb(&mut again, w, h, &mut a, &params).unwrap();
    let faces_fresh = process_rgb(&mut fresh, w, h, &mut b, &params).unwrap();
    assert_eq!(faces_again, faces_fresh);
    assert!(a != biden, "the face was restored");
    assert!(
        a == b,
        "the pooled pipeline restores the next stream as a new one does"
    );
}

#[test]
fn a_changed_model_file_is_loaded_again_and_other_configurations_wait() {
    let dir = temp_dir("pool");
    let generator = dir.join("generator.onnx");
    std::fs::copy(shipped_generator(), &generator).unwrap();
    let cfg = config(&generator, None, OutputMode::Restored);
    let other = config(&shipped_generator(), None, OutputMode::Restored);
    let pool = RestorerPool::new();

    pool.give_back(pool.take(&cfg).unwrap());
    // Another configuration does not take it.
    let taken = pool.take(&other).unwrap();
    assert_eq!((pool.loads(), pool.idle()), (2, 1));
    pool.give_back(taken);
    assert_eq!(pool.idle(), 2);

    // The generator file is replaced: its idle pipeline is stale and the next take loads.
    let file = std::fs::File::options()
        .append(true)
        .open(&generator)
        .unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    drop(file);
    let reloaded = pool.take(&cfg).unwrap();
    assert_eq!(
        (pool.loads(), pool.idle()),
        (3, 1),
        "loaded again, the stale one dropped"
    );
    pool.give_back(reloaded);

    // At most MAX_IDLE wait, the oldest dropped first.
    let out: Vec<_> = (0..=MAX_IDLE).map(|_| pool.take(&other).unwrap()).collect();
    for pooled in out {
        pool.give_back(pooled);
    }
    assert_eq!(pool.idle(), MAX_IDLE);
    std::fs::remove_dir_all(&dir).ok();
}
