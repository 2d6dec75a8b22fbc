//! Step 3, align: the similarity transform that maps a face's 5 landmarks onto the template the
//! generator was trained with (Umeyama least squares, as the official SGPN code and facexlib do;
//! `sgpn_models::contract` holds both templates).

use sgpn_kernels::affine::{Affine2, umeyama_similarity};
use sgpn_kernels::image::Rect;
use sgpn_models::contract::Template;

/// Where one face sits: the transforms between frame pixels and the `size`×`size` aligned crop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Alignment {
    pub frame_to_crop: Affine2,
    pub crop_to_frame: Affine2,
    pub size: usize,
}

/// Fits `landmarks` (frame pixels) to `template` scaled to `size`; `None` for degenerate
/// landmarks (all on one point), which a real detector does not produce.
pub fn align_to_template(
    landmarks: &[[f32; 2]; 5],
    template: Template,
    size: usize,
) -> Option<Alignment> {
    let frame_to_crop = umeyama_similarity(landmarks, &template.landmarks(size))?;
    let crop_to_frame = frame_to_crop.inverse()?;
    Some(Alignment {
        frame_to_crop,
        crop_to_frame,
        size,
    })
}

impl Alignment {
    /// The frame pixels the crop covers: its corners mapped into the frame, padded by 2 px for the
    /// bilinear footprint, clipped to the frame. `None` if the crop lies wholly outside.
    pub fn frame_rect(&self, width: usize, height: usize) -> Option<Rect> {
        let s = self.size as f32 - 1.0;
        let corners =
            [(0.0, 0.0), (s, 0.0), (0.0, s), (s, s)].map(|(x, y)| self.crop_to_frame.apply(x, y));
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for (x, y) in corners {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        let x0 = (x0.floor() - 2.0).max(0.0) as usize;
        let y0 = (y0.floor() - 2.0).max(0.0) as usize;
        let x1 = ((x1.ceil() + 2.0).max(-1.0) as usize).min(width.saturating_sub(1));
        let y1 = ((y1.ceil() + 2.0).max(-1.0) as usize).min(height.saturating_sub(1));
        if x0 >= width || y0 >= height || x1 < x0 || y1 < y0 {
            return None;
        }
        Some(Rect {
            x: x0,
            y: y0,
            width: x1 - x0 + 1,
            height: y1 - y0 + 1,
        })
    }

    /// Crop → region pixels for a region whose top-left corner is `rect`'s.
    pub fn crop_to_region(&self, rect: &Rect) -> Affine2 {
        self.crop_to_frame
            .then(&translation(-(rect.x as f32), -(rect.y as f32)))
    }

    /// Region → crop pixels, the inverse of [`Alignment::crop_to_region`].
    pub fn region_to_crop(&self, rect: &Rect) -> Affine2 {
        translation(rect.x as f32, rect.y as f32).then(&self.frame_to_crop)
    }
}

fn translation(dx: f32, dy: f32) -> Affine2 {
    Affine2 {
        m: [[1.0, 0.0, dx], [0.0, 1.0, dy]],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_landmarks_align_to_the_identity() {
        let l = Template::Sgpn.landmarks(512);
        let a = align_to_template(&l, Template::Sgpn, 512).unwrap();
        for p in l {
            let (x, y) = a.frame_to_crop.apply(p[0], p[1]);
            assert!((x - p[0]).abs() < 1e-3 && (y - p[1]).abs() < 1e-3);
        }
    }

    #[test]
    fn a_shifted_half_size_face_maps_back() {
        let l = Template::Ffhq
            .landmarks(256)
            .map(|p| [p[0] * 0.5 + 100.0, p[1] * 0.5 + 50.0]);
        let a = align_to_template(&l, Template::Ffhq, 256).unwrap();
        assert!((a.frame_to_crop.scale() - 2.0).abs() < 1e-4);
        let rect = a.frame_rect(1000, 1000).unwrap();
        // The crop spans frame pixels 100..=227.5 (x) and 50..=177.5 (y), padded by 2 px (a
        // rounding error of the fit may widen it by one more).
        assert!(
            (97..=98).contains(&rect.x) && (47..=48).contains(&rect.y),
            "{rect:?}"
        );
        assert!(rect.x + rect.width >= 231 && rect.width <= 135, "{rect:?}");
        assert!(
            rect.y + rect.height >= 181 && rect.height <= 135,
            "{rect:?}"
        );
        let (x0, y0) = (100.0 - rect.x as f32, 50.0 - rect.y as f32);
        let (x, y) = a.region_to_crop(&rect).apply(x0, y0);
        assert!(x.abs() < 1e-3 && y.abs() < 1e-3);
        let (x, y) = a.crop_to_region(&rect).apply(0.0, 0.0);
        assert!((x - x0).abs() < 1e-3 && (y - y0).abs() < 1e-3);
    }

    #[test]
    fn crops_outside_the_frame_have_no_region() {
        let l = Template::Sgpn.landmarks(512).map(|p| [p[0] + 5000.0, p[1]]);
        let a = align_to_template(&l, Template::Sgpn, 512).unwrap();
        assert_eq!(a.frame_rect(640, 360), None);
        let cut = Template::Sgpn.landmarks(512).map(|p| [p[0] - 300.0, p[1]]);
        let r = align_to_template(&cut, Template::Sgpn, 512)
            .unwrap()
            .frame_rect(640, 360)
            .unwrap();
        assert_eq!((r.x, r.y), (0, 0));
        assert_eq!(r.height, 360);
    }
}
