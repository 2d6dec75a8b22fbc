//! The 68 iBUG landmark points (Sagonas et al., 300-W) as vertices of MediaPipe's 468-point
//! topology, the `landmarks` of the default 3DMM: the landmark loss L_lm (paper Eq. 13) compares
//! these 68 projected vertices as D3DFR compares BFM's `keypoints`.
//!
//! The mapping is the one widely used to convert MediaPipe meshes to iBUG 68 (e.g. in
//! MediaPipe-to-dlib converters); the test below checks it against the canonical mesh (mirror
//! pairs mirror in x, the midline lies near x = 0, the parts lie in the expected vertical order).

/// iBUG 68 order: jaw 0–16 (image left to right), brows 17–26, nose bridge 27–30, nostrils
/// 31–35, eyes 36–47, outer lip 48–59, inner lip 60–67. MediaPipe "left/right" are the
/// subject's; iBUG point 0 is on the image left, as here.
pub const IBUG68: [u32; 68] = [
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389, // jaw
    71, 63, 105, 66, 107, 336, 296, 334, 293, 301, // brows
    168, 197, 5, 4, // nose bridge
    75, 97, 2, 326, 305, // nostrils
    33, 160, 158, 133, 153, 144, // image-left eye
    362, 385, 387, 263, 373, 380, // image-right eye
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181, // outer lip
    78, 82, 13, 312, 308, 317, 14, 87, // inner lip
];

/// The iBUG 68 mirror partner of each point (a face flipped left–right maps point i to
/// `mirror(i)`), from the iBUG annotation scheme.
pub fn ibug_mirror(i: usize) -> usize {
    const PAIRS: [(usize, usize); 29] = [
        (0, 16),
        (1, 15),
        (2, 14),
        (3, 13),
        (4, 12),
        (5, 11),
        (6, 10),
        (7, 9),
        (17, 26),
        (18, 25),
        (19, 24),
        (20, 23),
        (21, 22),
        (31, 35),
        (32, 34),
        (36, 45),
        (37, 44),
        (38, 43),
        (39, 42),
        (40, 47),
        (41, 46),
        (48, 54),
        (49, 53),
        (50, 52),
        (59, 55),
        (58, 56),
        (60, 64),
        (61, 63),
        (67, 65),
    ];
    PAIRS
        .iter()
        .find_map(|&(a, b)| {
            if a == i {
                Some(b)
            } else if b == i {
                Some(a)
            } else {
                None
            }
        })
        .unwrap_or(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgpn_models::face_mesh::CanonicalMesh;

    fn canonical() -> Option<CanonicalMesh> {
        let path = crate::data::cli::deps_file("models/canonical_face_mesh.binarypb");
        if !path.is_file() {
            println!(
                "skipped: {} is absent (it comes from ./scripts/setup-train.sh)",
                path.display()
            );
            return None;
        }
        Some(CanonicalMesh::load(&path).unwrap())
    }

    /// iBUG points on the image left (x < 0): left jaw, left brow, left nostrils, left eye,
    /// left half of each lip contour (the lower contours run right to left).
    const IMAGE_LEFT: [usize; 29] = [
        0, 1, 2, 3, 4, 5, 6, 7, 17, 18, 19, 20, 21, 31, 32, 36, 37, 38, 39, 40, 41, 48, 49, 50, 58,
        59, 60, 61, 67,
    ];

    /// On the symmetric canonical face (centimetres): mirror partners have x of opposite sign
    /// and equal |x|, y and z (within 3 mm), midline points lie within 3 mm of x = 0, the first
    /// point of each pair is on the image left (x < 0), and brow > eye > nose tip > mouth > chin
    /// in y.
    #[test]
    fn ibug68_mirror_midline_and_vertical_order_on_the_canonical_mesh() {
        let Some(mesh) = canonical() else { return };
        let p = |i: usize| mesh.vertices[IBUG68[i] as usize];
        let mut failures = Vec::new();
        for (i, &vertex) in IBUG68.iter().enumerate() {
            let j = ibug_mirror(i);
            let (a, b) = (p(i), p(j));
            if i == j {
                if a[0].abs() > 0.3 {
                    failures.push(format!(
                        "midline point {i} (vertex {vertex}) at x = {}",
                        a[0]
                    ));
                }
                continue;
            }
            let mirrored =
                (a[0] + b[0]).abs() < 0.3 && (a[1] - b[1]).abs() < 0.3 && (a[2] - b[2]).abs() < 0.3;
            if !mirrored {
                failures.push(format!(
                    "pair {i}↔{j} (vertices {vertex}↔{}): {a:?} vs {b:?}",
                    IBUG68[j]
                ));
            }
            if IMAGE_LEFT.contains(&i) && a[0] >= 0.0 {
                failures.push(format!(
                    "point {i} should be on the image left, x = {}",
                    a[0]
                ));
            }
        }
        let mean_y = |range: std::ops::Range<usize>| {
            range.clone().map(|i| p(i)[1]).sum::<f32>() / range.len() as f32
        };
        let (brow, eye, nose, mouth, chin) = (
            mean_y(17..27),
            mean_y(36..48),
            p(30)[1],
            mean_y(48..68),
            p(8)[1],
        );
        if !(brow > eye && eye > nose && nose > mouth && mouth > chin) {
            failures.push(format!(
                "vertical order brow {brow} > eye {eye} > nose {nose} > mouth {mouth} > chin {chin} fails"
            ));
        }
        // The nose bridge descends and comes forward towards the tip.
        if !(p(27)[1] > p(28)[1] && p(28)[1] > p(29)[1] && p(29)[1] > p(30)[1]) {
            failures.push("nose bridge 27–30 is not top to bottom".into());
        }
        // Jaw runs around the face: 0 → 8 descends.
        if !(p(0)[1] > p(4)[1] && p(4)[1] > p(8)[1]) {
            failures.push("jaw 0 → 8 does not descend".into());
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn mirror_is_an_involution() {
        for i in 0..68 {
            assert_eq!(ibug_mirror(ibug_mirror(i)), i);
        }
    }
}
