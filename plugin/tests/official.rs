//! `sgpnrestore` running the official SGPN networks as `sgpn-train import-official` writes them:
//! the 512-px generator with its coefficient input and the D3DFR regressor with the official crop,
//! imported from test checkpoints in the official format (a pattern, not weights:
//! `sgpn_train::official::fixture`). The element starts, finds the face, runs the whole chain
//! (D3DFR crop → regressor → 3DMM → render in D3DFR's frame → warp back → generator) and pastes
//! the result on the face only.

mod common;
#[path = "common/harness.rs"]
mod harness;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::*;
use gst::prelude::*;
use harness::every_frame_comes_out;
use sgpn_train::official::fixture::{ImportedFixture, write_imported_fixture};

/// Written under cargo's target folder, not the per-process scratch folder: 0.8 GB, replaced on
/// each run rather than left behind in /tmp.
fn imported() -> &'static ImportedFixture {
    static FIXTURE: OnceLock<ImportedFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        write_imported_fixture(&PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("official"))
            .expect("import of the fixture")
    })
}

#[test]
fn the_imported_official_models_restore_a_frame_through_the_element() {
    init();
    let f = imported();
    let element = restore_element();
    element.set_property("generator-model", f.generator.to_str().unwrap());
    element.set_property("shape-regressor", f.regressor.to_str().unwrap());
    element.set_property("morphable-model", f.morphable.to_str().unwrap());
    let changed = every_frame_comes_out(&element, 1);
    assert!(changed > 3000, "{changed} bytes of the face changed");
}

#[test]
fn the_official_regressor_refuses_another_3dmm() {
    init();
    let f = imported();
    let other = scratch_dir().join("official-other-3dmm.safetensors");
    sgpn_models::fixtures::ellipsoid_cap_morphable(80, 80, [0.5; 3])
        .save_safetensors(&other)
        .unwrap();
    let element = restore_element();
    element.set_property("generator-model", f.generator.to_str().unwrap());
    element.set_property("shape-regressor", f.regressor.to_str().unwrap());
    element.set_property("morphable-model", other.to_str().unwrap());
    let message = start_error_of(&element);
    assert!(message.contains(f.regressor.to_str().unwrap()), "{message}");
}
