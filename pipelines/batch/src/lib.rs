//! `sgpn-batch`: restores every face of a collection of videos with `sgpnrestore`, keeping
//! their audio, subtitles and tags, resumable after an interruption and sharded over the tasks
//! of a cluster job. The command-line tool is `src/main.rs`; the pieces are here so that tests
//! can drive them.

pub mod element;
pub mod inputs;
pub mod journal;
pub mod preset;
pub mod progress;
pub mod report;
pub mod shard;
pub mod subtitles;
pub mod transcode;

/// Initialises GStreamer and registers the `sgpn` plugin from this binary, so the tool runs
/// without `GST_PLUGIN_PATH`.
pub fn init() -> anyhow::Result<()> {
    gst::init()?;
    gstsgpn::plugin_register_static()?;
    Ok(())
}
