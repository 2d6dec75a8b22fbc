//! `sgpnrestore`: in-place video filter that detects, tracks and restores faces with SGPN and
//! tags each restored face with a `GstVideoRegionOfInterestMeta` of type `face`.

use gst::glib;
use gst::prelude::*;

mod imp;

/// Structure name of the parameters attached to each `face` region-of-interest meta, for
/// downstream elements and applications that read them.
pub const FACE_PARAMS_NAME: &str = "sgpn-face";
/// Landmark names in the order of `RestoredFace::landmarks` (the project-wide landmark order).
pub const LANDMARK_FIELDS: [[&str; 2]; 5] = [
    ["left-eye-x", "left-eye-y"],
    ["right-eye-x", "right-eye-y"],
    ["nose-x", "nose-y"],
    ["left-mouth-x", "left-mouth-y"],
    ["right-mouth-x", "right-mouth-y"],
];

glib::wrapper! {
    pub struct SgpnRestore(ObjectSubclass<imp::SgpnRestore>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    imp::Device::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    imp::OutputMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "sgpnrestore",
        gst::Rank::NONE,
        SgpnRestore::static_type(),
    )
}
