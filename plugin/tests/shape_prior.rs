//! `sgpnrestore` with SGPN's shape prior (paper Sec. 3.1): the `shape-regressor`,
//! `morphable-model` and `output-mode` properties, start errors that name the file and the
//! problem, and every buffer coming out of a `full` generator and of the render output mode.
//! The models are test fixtures: a constant shape regressor, the synthetic ellipsoidal-cap 3DMM
//! and a `full` generator computing `(lq + render) / 2`.

mod common;
#[path = "common/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::*;
use gst::prelude::*;
use harness::every_frame_comes_out;
use sgpn_models::contract::Template;
use sgpn_models::fixtures::{
    ellipsoid_cap_morphable, write_frontal_shape_prior, write_render_blend_generator,
};

/// The fixture files: (full generator, shape regressor, 3DMM), written once per test process.
fn shape_fixtures() -> &'static (PathBuf, PathBuf, PathBuf) {
    static FILES: OnceLock<(PathBuf, PathBuf, PathBuf)> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = scratch_dir();
        let generator = dir.join("render-blend-generator.onnx");
        write_render_blend_generator(&generator, GENERATOR_SIZE, Template::Sgpn).unwrap();
        let morphable = dir.join("cap-3dmm.safetensors");
        let regressor = dir.join("frontal-regressor.onnx");
        write_frontal_shape_prior(
            &ellipsoid_cap_morphable(4, 2, [0.9, 0.2, 0.2]),
            &morphable,
            &regressor,
            Template::Sgpn,
        )
        .unwrap();
        (generator, regressor, morphable)
    })
}

fn set_path(element: &gst::Element, property: &str, path: &Path) {
    element.set_property(property, path.to_str().unwrap());
}

/// The element with the full generator and the shape prior fixtures.
fn shape_element(output_mode: &str) -> gst::Element {
    init();
    let (generator, regressor, morphable) = shape_fixtures();
    let element = restore_element();
    set_path(&element, "generator-model", generator);
    set_path(&element, "shape-regressor", regressor);
    set_path(&element, "morphable-model", morphable);
    element.set_property_from_str("output-mode", output_mode);
    element
}

#[test]
fn shape_properties_have_defaults_and_keep_what_is_set() {
    init();
    let element = gst::ElementFactory::make("sgpnrestore").build().unwrap();
    assert_eq!(element.property::<Option<String>>("shape-regressor"), None);
    let morphable: String = element.property("morphable-model");
    assert!(
        morphable.ends_with("models/sgpn-mediapipe-3dmm.safetensors"),
        "{morphable}"
    );
    let mode = element.property_value("output-mode");
    assert_eq!(
        gst::glib::EnumValue::from_value(&mode).unwrap().1.nick(),
        "restored"
    );

    element.set_property("shape-regressor", "/x/regressor.onnx");
    element.set_property("morphable-model", "/x/3dmm.safetensors");
    element.set_property_from_str("output-mode", "render");
    assert_eq!(
        element
            .property::<Option<String>>("shape-regressor")
            .as_deref(),
        Some("/x/regressor.onnx")
    );
    assert_eq!(
        element.property::<String>("morphable-model"),
        "/x/3dmm.safetensors"
    );
    let mode = element.property_value("output-mode");
    assert_eq!(
        gst::glib::EnumValue::from_value(&mode).unwrap().1.nick(),
        "render"
    );
    // Unset again: no shape prior.
    element.set_property("shape-regressor", None::<&str>);
    assert_eq!(element.property::<Option<String>>("shape-regressor"), None);
}

#[test]
fn a_missing_shape_regressor_is_named_at_start() {
    let missing = scratch_dir().join("no-such-regressor.onnx");
    let element = shape_element("restored");
    set_path(&element, "shape-regressor", &missing);
    let message = start_error_of(&element);
    assert!(
        message.contains(missing.to_str().unwrap()) && message.contains("does not exist"),
        "{message}"
    );
}

#[test]
fn a_missing_3dmm_is_named_at_start() {
    let missing = scratch_dir().join("no-such-3dmm.safetensors");
    let element = shape_element("render");
    set_path(&element, "morphable-model", &missing);
    let message = start_error_of(&element);
    assert!(message.contains(missing.to_str().unwrap()), "{message}");
}

#[test]
fn a_full_generator_without_shape_regressor_fails_to_start() {
    let element = shape_element("restored");
    element.set_property("shape-regressor", None::<&str>);
    let message = start_error_of(&element);
    let (generator, _, _) = shape_fixtures();
    assert!(
        message.contains(generator.to_str().unwrap())
            && message.contains("variant 'full'")
            && message.contains("shape-regressor"),
        "{message}"
    );
}

#[test]
fn a_full_generator_restores_every_frame_with_the_shape_prior() {
    let changed = every_frame_comes_out(&shape_element("restored"), 3);
    assert!(changed > 3000, "{changed} bytes of the face changed");
}

#[test]
fn the_render_output_mode_shows_the_shape_prior_on_every_frame() {
    let changed = every_frame_comes_out(&shape_element("render"), 3);
    assert!(changed > 3000, "{changed} bytes of the face changed");
}
