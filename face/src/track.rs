//! Step 2, track: stable ids across frames and landmarks smoothed over time.
//!
//! Flicker is the first complaint of video users of GFPGAN and CodeFormer (GFPGAN #465, #533,
//! facexlib #48): the detector's landmarks jitter by a pixel or two from frame to frame, the
//! alignment follows them, and the restored face swims. Each track therefore smooths its 5
//! landmarks with a One Euro filter (Casiez et al., CHI 2012): strong smoothing when the face is
//! still, little lag when it moves. Speeds are measured in eye distances per frame, so the same
//! setting behaves alike for a 60 px and a 600 px face.
//!
//! Between detector runs (`detect-interval` > 1) a track coasts on its last velocity.

use sgpn_models::detector::Detection;

/// IoU a detection needs with a track's box to continue it.
const MATCH_IOU: f32 = 0.3;
/// Detector runs a track may miss before it is dropped; one miss is bridged so that a face the
/// detector loses for a single frame does not pop between restored and unrestored.
const MAX_MISSES: u32 = 1;
/// Hits a track needs before it may coast through a miss.
const MIN_HITS_TO_COAST: u32 = 3;

/// One face followed across frames.
#[derive(Clone, Debug)]
pub struct Track {
    /// Stable id, unique for the lifetime of the tracker.
    pub id: u64,
    /// Smoothed landmarks in frame pixels (left eye, right eye, nose, left mouth, right mouth).
    pub landmarks: [[f32; 2]; 5],
    /// Latest box in frame pixels.
    pub bbox: [f32; 4],
    /// Latest detector score.
    pub score: f32,
    hits: u32,
    misses: u32,
    filter: LandmarkFilter,
    /// Landmark motion per frame, for coasting between detector runs.
    velocity: [[f32; 2]; 5],
    /// Smoothed landmarks at the last detector observation, and frames elapsed since then.
    observed: [[f32; 2]; 5],
    frames_since_observed: u32,
}

/// Follows faces from frame to frame.
#[derive(Debug, Default)]
pub struct Tracker {
    tracks: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    /// Forgets every track (after a seek, a flush or a discontinuity); ids keep increasing.
    pub fn reset(&mut self) {
        self.tracks.clear();
    }

    /// The faces to restore in the current frame.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Feeds one detector run. `smoothing` in 0..=1: 0 uses raw landmarks, 1 smooths hardest.
    pub fn update(&mut self, detections: &[Detection], smoothing: f32) {
        for track in &mut self.tracks {
            track.frames_since_observed += 1;
        }
        let mut matched_track = vec![false; self.tracks.len()];
        let mut matched_det = vec![false; detections.len()];
        for (t, d) in greedy_matches(&self.tracks, detections) {
            matched_track[t] = true;
            matched_det[d] = true;
            self.tracks[t].observe(&detections[d], smoothing);
        }
        for (track, matched) in self.tracks.iter_mut().zip(&matched_track) {
            if !matched {
                track.misses += 1;
                track.coast();
            }
        }
        self.tracks
            .retain(|t| t.misses == 0 || (t.misses <= MAX_MISSES && t.hits >= MIN_HITS_TO_COAST));
        for (d, det) in detections.iter().enumerate() {
            if !matched_det[d] {
                self.tracks.push(Track::new(self.next_id, det));
                self.next_id += 1;
            }
        }
        self.tracks.sort_by(|a, b| b.score.total_cmp(&a.score));
    }

    /// Advances every track by one frame without a detector run.
    pub fn predict(&mut self) {
        for track in &mut self.tracks {
            track.frames_since_observed += 1;
            track.coast();
        }
    }
}

impl Track {
    fn new(id: u64, det: &Detection) -> Self {
        Self {
            id,
            landmarks: det.landmarks,
            bbox: det.bbox,
            score: det.score,
            hits: 1,
            misses: 0,
            filter: LandmarkFilter::default(),
            velocity: [[0.0; 2]; 5],
            observed: det.landmarks,
            frames_since_observed: 0,
        }
        .primed()
    }

    fn primed(mut self) -> Self {
        self.filter.reset(self.landmarks);
        self
    }

    fn observe(&mut self, det: &Detection, smoothing: f32) {
        let scale = eye_distance(&det.landmarks).max(1.0);
        self.landmarks = self.filter.filter(&det.landmarks, scale, smoothing);
        // Velocity for coasting: motion since the previous observation over the frames between.
        let frames = self.frames_since_observed.max(1) as f32;
        for (i, v) in self.velocity.iter_mut().enumerate() {
            *v = [
                (self.landmarks[i][0] - self.observed[i][0]) / frames,
                (self.landmarks[i][1] - self.observed[i][1]) / frames,
            ];
        }
        self.observed = self.landmarks;
        self.frames_since_observed = 0;
        self.bbox = det.bbox;
        self.score = det.score;
        self.hits += 1;
        self.misses = 0;
    }

    fn coast(&mut self) {
        let (dx, dy) = mean(&self.velocity);
        for (p, v) in self.landmarks.iter_mut().zip(&self.velocity) {
            *p = [p[0] + v[0], p[1] + v[1]];
        }
        self.bbox = [
            self.bbox[0] + dx,
            self.bbox[1] + dy,
            self.bbox[2] + dx,
            self.bbox[3] + dy,
        ];
        self.filter.reset(self.landmarks);
    }
}

fn mean(v: &[[f32; 2]; 5]) -> (f32, f32) {
    let (sx, sy) = v.iter().fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
    (sx / 5.0, sy / 5.0)
}

/// Distance between the two eye landmarks, the face's natural unit of length.
pub fn eye_distance(l: &[[f32; 2]; 5]) -> f32 {
    ((l[1][0] - l[0][0]).powi(2) + (l[1][1] - l[0][1]).powi(2)).sqrt()
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Pairs (track, detection) by descending IoU, each used at most once.
fn greedy_matches(tracks: &[Track], detections: &[Detection]) -> Vec<(usize, usize)> {
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (t, track) in tracks.iter().enumerate() {
        for (d, det) in detections.iter().enumerate() {
            let overlap = iou(&track.bbox, &det.bbox);
            if overlap >= MATCH_IOU {
                pairs.push((overlap, t, d));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut used_t, mut used_d) = (vec![false; tracks.len()], vec![false; detections.len()]);
    let mut out = Vec::new();
    for (_, t, d) in pairs {
        if !used_t[t] && !used_d[d] {
            used_t[t] = true;
            used_d[d] = true;
            out.push((t, d));
        }
    }
    out
}

/// One Euro filter over the 5 landmarks of a face, one sample per frame. The cutoff opens with
/// the speed of the whole face (mean landmark motion, in eye distances per frame) rather than of
/// each coordinate, so independent jitter of single landmarks does not pass for motion.
#[derive(Clone, Copy, Debug, Default)]
struct LandmarkFilter {
    value: [[f32; 2]; 5],
    speed: [f32; 2],
}

impl LandmarkFilter {
    /// Cutoff (cycles per frame) at rest with the strongest smoothing; 0.5 is Nyquist (no smoothing).
    const MIN_CUTOFF_STRONGEST: f32 = 0.02;
    /// How fast the cutoff opens with speed (per eye distance per frame).
    const BETA: f32 = 2.0;
    /// Cutoff of the speed estimate itself.
    const SPEED_CUTOFF: f32 = 0.05;

    fn reset(&mut self, landmarks: [[f32; 2]; 5]) {
        self.value = landmarks;
        self.speed = [0.0; 2];
    }

    fn filter(&mut self, raw: &[[f32; 2]; 5], scale: f32, smoothing: f32) -> [[f32; 2]; 5] {
        let smoothing = smoothing.clamp(0.0, 1.0);
        if smoothing == 0.0 {
            self.reset(*raw);
            return *raw;
        }
        let mut motion = [0.0f32; 2];
        for (r, v) in raw.iter().zip(&self.value) {
            motion[0] += (r[0] - v[0]) / (5.0 * scale);
            motion[1] += (r[1] - v[1]) / (5.0 * scale);
        }
        let a_speed = alpha(Self::SPEED_CUTOFF);
        for (s, m) in self.speed.iter_mut().zip(motion) {
            *s += a_speed * (m - *s);
        }
        // Interpolate the resting cutoff geometrically between "none" and "strongest".
        let min_cutoff = 0.5 * (Self::MIN_CUTOFF_STRONGEST / 0.5).powf(smoothing);
        let speed = self.speed[0].hypot(self.speed[1]);
        let a = alpha(min_cutoff + Self::BETA * speed);
        for (v, r) in self.value.iter_mut().zip(raw) {
            v[0] += a * (r[0] - v[0]);
            v[1] += a * (r[1] - v[1]);
        }
        self.value
    }
}

/// Exponential smoothing factor for a cutoff in cycles per frame (dt = 1 frame).
fn alpha(cutoff: f32) -> f32 {
    let tau = 1.0 / (2.0 * std::f32::consts::PI * cutoff);
    1.0 / (1.0 + tau)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, jitter: [f32; 2]) -> Detection {
        det_jittered(x, y, [jitter; 5])
    }

    fn det_jittered(x: f32, y: f32, jitter: [[f32; 2]; 5]) -> Detection {
        let l = [
            [x + 30.0, y + 40.0],
            [x + 70.0, y + 40.0],
            [x + 50.0, y + 60.0],
            [x + 35.0, y + 80.0],
            [x + 65.0, y + 80.0],
        ];
        Detection {
            bbox: [x, y, x + 100.0, y + 110.0],
            score: 0.99,
            landmarks: std::array::from_fn(|i| [l[i][0] + jitter[i][0], l[i][1] + jitter[i][1]]),
        }
    }

    /// Deterministic white noise in [-1, 1] (xorshift32).
    struct Noise(u32);
    impl Noise {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            (self.0 % 2001) as f32 / 1000.0 - 1.0
        }
    }

    /// Power of the residual jitter of one landmark coordinate over 150 frames of a still face
    /// whose detector noise is about a pixel per landmark (face 40 px between the eyes).
    fn residual_jitter(smoothing: f32) -> f32 {
        let mut noise = Noise(0x9e37_79b9);
        let mut tracker = Tracker::default();
        let mut power = 0.0;
        for i in 0..200 {
            let j: [[f32; 2]; 5] =
                std::array::from_fn(|_| [1.5 * noise.next(), 1.5 * noise.next()]);
            tracker.update(&[det_jittered(100.0, 100.0, j)], smoothing);
            if i >= 50 {
                power += (tracker.tracks()[0].landmarks[0][0] - 130.0).powi(2);
            }
        }
        power
    }

    #[test]
    fn ids_are_stable_and_new_faces_get_new_ids() {
        let mut tracker = Tracker::default();
        tracker.update(&[det(0.0, 0.0, [0.0; 2])], 0.5);
        let first = tracker.tracks()[0].id;
        for i in 0..10 {
            let step = i as f32 * 2.0;
            tracker.update(&[det(step, 0.0, [0.0; 2]), det(400.0, 0.0, [0.0; 2])], 0.5);
        }
        let ids: Vec<u64> = tracker.tracks().iter().map(|t| t.id).collect();
        assert!(ids.contains(&first), "the moving face kept its id");
        assert_eq!(ids.len(), 2);
        assert!(ids.iter().all(|&id| id >= first));
    }

    #[test]
    fn smoothing_removes_most_jitter_of_a_still_face() {
        let raw = residual_jitter(0.0);
        let (medium, strong, strongest) = (
            residual_jitter(0.5),
            residual_jitter(0.8),
            residual_jitter(1.0),
        );
        assert!(
            strong < 0.25 * raw,
            "jitter amplitude at least halved: power {strong} vs raw {raw}"
        );
        assert!(
            strongest < strong && strong < medium && medium < raw,
            "{strongest} < {strong} < {medium} < {raw}"
        );
    }

    #[test]
    fn smoothing_follows_a_moving_face_with_little_lag() {
        let mut tracker = Tracker::default();
        for i in 0..60 {
            tracker.update(&[det(5.0 * i as f32, 0.0, [0.0; 2])], 0.8);
        }
        let x = tracker.tracks()[0].landmarks[0][0];
        let truth = 5.0 * 59.0 + 30.0;
        assert!(
            (x - truth).abs() < 5.0,
            "lag {} px at 5 px/frame",
            truth - x
        );
    }

    #[test]
    fn a_single_missed_detection_is_bridged_then_the_track_ends() {
        let mut tracker = Tracker::default();
        for _ in 0..5 {
            tracker.update(&[det(0.0, 0.0, [0.0; 2])], 0.5);
        }
        tracker.update(&[], 0.5);
        assert_eq!(tracker.tracks().len(), 1, "one miss is bridged");
        tracker.update(&[], 0.5);
        assert!(tracker.tracks().is_empty(), "two misses end the track");
    }

    #[test]
    fn coasting_continues_the_motion() {
        let mut tracker = Tracker::default();
        for i in 0..10 {
            tracker.update(&[det(3.0 * i as f32, 0.0, [0.0; 2])], 0.0);
        }
        tracker.predict();
        let x = tracker.tracks()[0].landmarks[0][0];
        assert!((x - (3.0 * 10.0 + 30.0)).abs() < 0.01);
    }
}
