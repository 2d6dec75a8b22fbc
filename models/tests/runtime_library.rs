//! A missing ONNX Runtime library is an error that says what to do, not a panic. Its own test
//! binary: the library is loaded once per process.

use sgpn_models::fixtures::write_identity_generator;
use sgpn_models::{Generator, ModelError, SessionConfig, Template};

#[test]
fn missing_onnx_runtime_library_tells_the_user_how_to_get_it() {
    let missing = "/nonexistent/libonnxruntime.so.1.32.0";
    // SAFETY: the only test in this binary, so no other thread reads the environment.
    unsafe { std::env::set_var("ORT_DYLIB_PATH", missing) };
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("runtime_library.onnx");
    write_identity_generator(&path, 16, Template::Sgpn).unwrap();
    for _ in 0..2 {
        let err = Generator::load(&path, &SessionConfig::default())
            .err()
            .unwrap();
        assert!(matches!(err, ModelError::Library { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(missing)
                && msg.contains("./scripts/setup.sh")
                && msg.contains("ORT_DYLIB_PATH"),
            "{msg}"
        );
    }
}
