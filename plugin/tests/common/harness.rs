//! Pushing frames through the element with `gst_check`'s harness (plugin tests only; the e2e
//! crate shares `common` but not this).

use gst_video::VideoFormat;

use crate::common::*;

/// Pushes `count` portrait frames through `element` and checks that each comes out with one
/// face and changed pixels on the face only; returns how many bytes of the last frame changed.
pub fn every_frame_comes_out(element: &gst::Element, count: u64) -> usize {
    let image = portrait_frame();
    let (width, height) = image.dimensions();
    let info = video_info(VideoFormat::Rgb, width, height);
    let mut h = gst_check::Harness::with_element(element, Some("sink"), Some("src"));
    h.set_src_caps(info.to_caps().unwrap());
    let mut changed = 0;
    for n in 0..count {
        let input = frame_buffer(&image, VideoFormat::Rgb);
        let kept = frame_bytes(&input, &info);
        let output = h.push_and_pull(input).expect("a buffer comes out");
        let rois = face_rois(&output);
        assert_eq!(
            rois.len(),
            1,
            "frame {n}: one face expected, found {rois:?}"
        );
        changed = 0;
        for ((x, y, before), (_, _, after)) in kept.iter().zip(frame_bytes(&output, &info)) {
            if *before != after {
                changed += 1;
                assert!(
                    near_a_face(&rois, *x, *y, 1.0),
                    "frame {n}: pixel ({x}, {y}) far from the face changed"
                );
            }
        }
    }
    changed
}
