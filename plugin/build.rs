fn main() {
    gst_plugin_version_helper::info();
    // The plugin's version names the workspace's commit (`gst-inspect-1.0 sgpnrestore`): build
    // it again when the checkout moves, not only when the plugin's own files change.
    for git in [
        "../.git/HEAD",
        "../.git/refs/heads",
        "../.git/packed-refs",
        "build.rs",
    ] {
        println!("cargo:rerun-if-changed={git}");
    }
}
