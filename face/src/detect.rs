//! Step 1, detect: RetinaFace on a downscaled copy of the frame, boxes and 5 landmarks mapped back
//! to frame pixels, then the user's filters (score, minimum size, most faces kept).

use sgpn_kernels::frame::{FrameRef, resize_to_rgb};
use sgpn_models::detector::{Detection, FaceDetector};
use sgpn_models::error::ModelError;

/// IoU above which two RetinaFace boxes are the same face (Pytorch_Retinaface uses 0.4).
pub const NMS_IOU: f32 = 0.4;

/// Longest side of the detector's working copy. RetinaFace MobileNet-0.25 finds faces down to about
/// 16 px at this size; at 1080p a face must be about 50 px to survive the 1/3 downscale.
pub const DEFAULT_WORKING_SIZE: usize = 640;

/// What the user asked of the detector.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectParams {
    /// Minimum face score (0–1).
    pub threshold: f32,
    /// Smallest face kept, as the side of its box in frame pixels.
    pub min_face_size: f32,
    /// Highest-scoring faces kept.
    pub max_faces: usize,
    /// Longest side of the working copy the detector sees; frames smaller than this are not upscaled.
    pub working_size: usize,
}

/// Size of the detector's working copy of a `width`×`height` frame.
pub fn working_dims(width: usize, height: usize, working_size: usize) -> (usize, usize) {
    let longest = width.max(height);
    if longest <= working_size {
        return (width, height);
    }
    let scale = working_size as f32 / longest as f32;
    let w = ((width as f32 * scale).round() as usize).max(1);
    let h = ((height as f32 * scale).round() as usize).max(1);
    (w, h)
}

/// Detects the faces of `frame`; boxes and landmarks come back in frame pixels, best score first.
pub fn detect_faces(
    detector: &mut FaceDetector,
    frame: &FrameRef<'_>,
    params: &DetectParams,
) -> Result<Vec<Detection>, ModelError> {
    let (w, h) = working_dims(frame.width, frame.height, params.working_size);
    let working = resize_to_rgb(frame, w, h);
    let mut faces = detector.detect(&working, params.threshold, NMS_IOU)?;
    let (sx, sy) = (
        frame.width as f32 / w as f32,
        frame.height as f32 / h as f32,
    );
    for face in &mut faces {
        to_frame_pixels(face, sx, sy);
    }
    Ok(keep_wanted(faces, params))
}

/// Maps a detection from working-copy pixels to frame pixels (pixel centres at integers, so the
/// half-pixel offsets of the area downscale are accounted for).
fn to_frame_pixels(face: &mut Detection, sx: f32, sy: f32) {
    let map = |x: f32, s: f32| (x + 0.5) * s - 0.5;
    face.bbox = [
        map(face.bbox[0], sx),
        map(face.bbox[1], sy),
        map(face.bbox[2], sx),
        map(face.bbox[3], sy),
    ];
    for p in &mut face.landmarks {
        *p = [map(p[0], sx), map(p[1], sy)];
    }
}

/// The side of a face box in pixels (geometric mean of width and height).
pub fn face_size(face: &Detection) -> f32 {
    let w = (face.bbox[2] - face.bbox[0]).max(0.0);
    let h = (face.bbox[3] - face.bbox[1]).max(0.0);
    (w * h).sqrt()
}

/// Applies the minimum size and keeps the `max_faces` best scores (input is sorted by score).
fn keep_wanted(mut faces: Vec<Detection>, params: &DetectParams) -> Vec<Detection> {
    faces.retain(|f| f.score >= params.threshold && face_size(f) >= params.min_face_size);
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    faces.truncate(params.max_faces);
    faces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(score: f32, side: f32) -> Detection {
        Detection {
            bbox: [10.0, 10.0, 10.0 + side, 10.0 + side],
            score,
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn working_copy_keeps_aspect_and_never_upscales() {
        assert_eq!(working_dims(1920, 1080, 640), (640, 360));
        assert_eq!(working_dims(1080, 1920, 640), (360, 640));
        assert_eq!(working_dims(320, 240, 640), (320, 240));
        assert_eq!(working_dims(16, 16, 640), (16, 16));
    }

    #[test]
    fn filters_keep_the_largest_scores_above_size() {
        let params = DetectParams {
            threshold: 0.5,
            min_face_size: 20.0,
            max_faces: 2,
            working_size: 640,
        };
        let kept = keep_wanted(
            vec![
                face(0.9, 10.0),
                face(0.6, 30.0),
                face(0.95, 40.0),
                face(0.7, 25.0),
                face(0.4, 90.0),
            ],
            &params,
        );
        let scores: Vec<f32> = kept.iter().map(|f| f.score).collect();
        assert_eq!(scores, vec![0.95, 0.7]);
    }

    #[test]
    fn mapping_to_frame_pixels_respects_pixel_centres() {
        let mut f = face(1.0, 10.0);
        f.landmarks[0] = [0.0, 0.0];
        to_frame_pixels(&mut f, 3.0, 3.0);
        // Working pixel 0 covers frame pixels 0..3, whose centre is frame pixel 1.
        assert_eq!(f.landmarks[0], [1.0, 1.0]);
    }
}
