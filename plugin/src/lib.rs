//! GStreamer plugin `sgpn`: the `sgpnrestore` element restores every face of a raw video stream
//! in place with an SGPN generator (Zhu et al., CVPR 2022), through `sgpn_face::FaceRestorer`.
//!
//! Layout follows gst-plugins-rs (`video/videofx`): one folder per element, `plugin_init`
//! registering each of them.

use gst::glib;

mod sgpnrestore;

pub use sgpnrestore::{FACE_PARAMS_NAME, LANDMARK_FIELDS};

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    sgpnrestore::register(plugin)
}

gst::plugin_define!(
    sgpn,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    // GStreamer knows no SPDX expressions; "MIT/X11" is how gst-plugins-rs declares MIT OR Apache-2.0.
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    "https://github.com/sgpn/sgpn",
    env!("BUILD_REL_DATE")
);
