//! `sgpnrestore`: in-place video filter that detects, tracks and restores faces with SGPN and
//! tags each restored face with a `GstVideoRegionOfInterestMeta` of type `face`.

use gst::glib;
use gst::prelude::*;

mod imp;

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
