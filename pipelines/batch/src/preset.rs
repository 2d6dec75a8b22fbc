//! Output presets, one per use of a restored copy:
//!
//! | preset | video | container | audio that the container cannot take as it is |
//! |---|---|---|---|
//! | `archive` | FFV1 (lossless, intra-only, slice CRCs), the source's chroma and depth where FFV1 has them | Matroska | FLAC (lossless) |
//! | `mezzanine` | ProRes 422 HQ, or 4444 for RGB and 4:4:4 sources (`avenc_prores_ks`), 10-bit | QuickTime (MOV) | 24-bit PCM |
//! | `access` | H.264 (x264, constant quality 18, 4:2:0) | MP4 | AAC 256 kb/s |
//! | `access-hevc` | H.265 (x265, CRF 20, 4:2:0) | MP4 | AAC 256 kb/s |
//!
//! Audio, subtitle and other streams are copied without re-encoding whenever the container
//! accepts them (see `transcode`).

use anyhow::Context;
use gst::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    Archive,
    Mezzanine,
    Access,
    AccessHevc,
}

/// A GStreamer element, or an error that names the package that holds it.
pub fn make(factory: &str, properties: &[(&str, &str)]) -> anyhow::Result<gst::Element> {
    let element = gst::ElementFactory::make(factory)
        .build()
        .with_context(|| {
            let package = match factory {
                f if f.starts_with("av") => "gstreamer1.0-libav",
                "x264enc" | "x265enc" => "gstreamer1.0-plugins-ugly / -bad",
                "sgpnrestore" => "the sgpn plugin",
                _ => "gstreamer1.0-plugins-base / -good / -bad",
            };
            format!("the GStreamer element {factory} is not installed ({package})")
        })?;
    for (name, value) in properties {
        element.set_property_from_str(name, value);
    }
    Ok(element)
}

fn video_caps(format: &str) -> anyhow::Result<gst::Element> {
    let caps = gst::Caps::builder("video/x-raw")
        .field("format", format)
        .build();
    let filter = make("capsfilter", &[])?;
    filter.set_property("caps", caps);
    Ok(filter)
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Archive => "archive",
            Preset::Mezzanine => "mezzanine",
            Preset::Access => "access",
            Preset::AccessHevc => "access-hevc",
        }
    }

    /// The extension of the outputs (it replaces the input's).
    pub fn extension(self) -> &'static str {
        match self {
            Preset::Archive => "mkv",
            Preset::Mezzanine => "mov",
            Preset::Access | Preset::AccessHevc => "mp4",
        }
    }

    pub fn muxer(self) -> anyhow::Result<gst::Element> {
        match self {
            Preset::Archive => make("matroskamux", &[]),
            Preset::Mezzanine => make("qtmux", &[]),
            Preset::Access | Preset::AccessHevc => make("mp4mux", &[]),
        }
    }

    /// The elements from the restored raw video to the muxer, in order, for a source whose
    /// raw video (as decoded) has `format`.
    pub fn video_encoder(
        self,
        format: gst_video::VideoFormat,
    ) -> anyhow::Result<Vec<gst::Element>> {
        let info = gst_video::VideoFormatInfo::from_format(format);
        Ok(match self {
            // FFV1 takes most planar YUV and GBR formats at their own depth: videoconvert keeps
            // the source's when the encoder has it.
            Preset::Archive => vec![make(
                "avenc_ffv1",
                &[
                    ("gop-size", "1"),
                    ("slicecrc", "true"),
                    ("coder", "range_def"),
                    ("context", "1"),
                ],
            )?],
            Preset::Mezzanine => {
                let full_chroma = info.is_rgb() || (info.w_sub()[1] == 0 && info.h_sub()[1] == 0);
                let (format, profile) = if full_chroma {
                    ("Y444_10LE", "4444")
                } else {
                    ("I422_10LE", "hq")
                };
                vec![
                    video_caps(format)?,
                    make("avenc_prores_ks", &[("profile", profile)])?,
                ]
            }
            Preset::Access => vec![
                video_caps("I420")?,
                make(
                    "x264enc",
                    &[
                        ("pass", "qual"),
                        ("quantizer", "18"),
                        ("speed-preset", "medium"),
                        ("psy-tune", "film"),
                    ],
                )?,
                make("h264parse", &[])?,
            ],
            Preset::AccessHevc => vec![
                video_caps("I420")?,
                make(
                    "x265enc",
                    &[("speed-preset", "medium"), ("option-string", "crf=20")],
                )?,
                make("h265parse", &[])?,
            ],
        })
    }

    /// The elements that re-encode decoded audio for this container, when a source's audio
    /// cannot be copied as it is.
    pub fn audio_encoder(self) -> anyhow::Result<Vec<gst::Element>> {
        let convert = make("audioconvert", &[])?;
        Ok(match self {
            Preset::Archive => vec![convert, make("flacenc", &[])?],
            Preset::Mezzanine => {
                let filter = make("capsfilter", &[])?;
                filter.set_property(
                    "caps",
                    gst::Caps::builder("audio/x-raw")
                        .field("format", "S24LE")
                        .build(),
                );
                vec![convert, filter]
            }
            Preset::Access | Preset::AccessHevc => vec![
                convert,
                make("audioresample", &[])?,
                make("avenc_aac", &[("bitrate", "256000")])?,
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every preset's elements exist here and take the properties it sets (a misspelt property
    /// would only show when a user runs that preset).
    #[test]
    fn every_preset_builds_its_encoders() {
        gst::init().unwrap();
        for preset in [
            Preset::Archive,
            Preset::Mezzanine,
            Preset::Access,
            Preset::AccessHevc,
        ] {
            preset.muxer().unwrap();
            preset.audio_encoder().unwrap();
            for format in [gst_video::VideoFormat::I420, gst_video::VideoFormat::Rgb] {
                let chain = preset.video_encoder(format).unwrap();
                let bin = gst::Bin::new();
                bin.add_many(&chain).unwrap();
                gst::Element::link_many(&chain).unwrap_or_else(|e| panic!("{preset:?}: {e}"));
            }
        }
        // ProRes: 4444 for RGB sources, 422 HQ for 4:2:0.
        let profile = |format| {
            let chain = Preset::Mezzanine.video_encoder(format).unwrap();
            chain[1]
                .property_value("profile")
                .serialize()
                .unwrap()
                .to_string()
        };
        assert_eq!(profile(gst_video::VideoFormat::Rgb), "4444");
        assert_eq!(profile(gst_video::VideoFormat::I420), "hq");
    }
}
