//! Text subtitles between containers. Demuxers hand UTF-8 subtitle tracks (Matroska's
//! `S_TEXT/UTF8`, SubRip) downstream as Pango markup, with `&`, `<` and `>` escaped, while
//! muxers take them as UTF-8 text; the styling tags (`<i>`, `<b>`, `<u>`) are the same in both.
//! Unescaping the entities gives back the track's own bytes.

use gst::prelude::*;

pub fn plain_caps() -> gst::Caps {
    gst::Caps::builder("text/x-raw")
        .field("format", "utf8")
        .build()
}

pub fn is_markup(caps: &gst::Caps) -> bool {
    caps.structure(0)
        .is_some_and(|s| s.name() == "text/x-raw" && s.get::<&str>("format") == Ok("pango-markup"))
}

/// The text of a Pango markup string with its entities resolved.
pub fn unescape(markup: &str) -> String {
    const ENTITIES: [(&str, &str); 5] = [
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", "\""),
        ("&apos;", "'"),
        ("&amp;", "&"),
    ];
    let mut text = String::with_capacity(markup.len());
    let mut rest = markup;
    while let Some(at) = rest.find('&') {
        text.push_str(&rest[..at]);
        rest = &rest[at..];
        match ENTITIES.iter().find(|(entity, _)| rest.starts_with(entity)) {
            Some((entity, plain)) => {
                text.push_str(plain);
                rest = &rest[entity.len()..];
            }
            None => {
                text.push('&');
                rest = &rest[1..];
            }
        }
    }
    text.push_str(rest);
    text
}

/// Rewrites the caps and buffers that leave `pad` from markup to text.
pub fn unescape_on(pad: &gst::Pad) {
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        |_, info| {
            match &mut info.data {
                Some(gst::PadProbeData::Event(event)) if event.type_() == gst::EventType::Caps => {
                    *event = gst::event::Caps::new(&plain_caps());
                }
                Some(gst::PadProbeData::Buffer(buffer)) => {
                    let text = buffer
                        .map_readable()
                        .ok()
                        .map(|map| unescape(&String::from_utf8_lossy(map.as_slice())));
                    if let Some(text) = text {
                        let mut plain = gst::Buffer::from_mut_slice(text.into_bytes());
                        let meta = plain.get_mut().expect("a new buffer is writable");
                        let _ = buffer.copy_into(
                            meta,
                            gst::BufferCopyFlags::FLAGS
                                | gst::BufferCopyFlags::TIMESTAMPS
                                | gst::BufferCopyFlags::META,
                            ..,
                        );
                        *buffer = plain;
                    }
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_entities_become_text_and_tags_stay() {
        assert_eq!(
            unescape("<i>Tom &amp; Jerry</i> &lt;3 &quot;hi&quot; &apos;x&apos; &nope"),
            "<i>Tom & Jerry</i> <3 \"hi\" 'x' &nope"
        );
    }
}
