//! Procedural geometry for the renderer's tests here and in the training crate's differentiable
//! renderer: shapes whose silhouettes, normals and occlusion are known in closed form. Never a
//! face model.

/// A UV sphere of `radius` around the origin, +y pole, `rings` latitude bands and `segments`
/// longitude steps, triangles counter-clockwise seen from outside: its far half is hidden by
/// the near one, which exercises the z-buffer.
pub fn uv_sphere(radius: f32, rings: u32, segments: u32) -> (Vec<[f32; 3]>, Vec<[u32; 3]>) {
    let mut vertices = vec![[0.0, radius, 0.0]];
    for i in 1..rings {
        let theta = std::f32::consts::PI * i as f32 / rings as f32;
        for j in 0..segments {
            let phi = 2.0 * std::f32::consts::PI * j as f32 / segments as f32;
            vertices.push([
                radius * theta.sin() * phi.cos(),
                radius * theta.cos(),
                -radius * theta.sin() * phi.sin(),
            ]);
        }
    }
    let south = vertices.len() as u32;
    vertices.push([0.0, -radius, 0.0]);
    let at = |i: u32, j: u32| 1 + (i - 1) * segments + j % segments;
    let mut triangles = Vec::new();
    for j in 0..segments {
        triangles.push([0, at(1, j), at(1, j + 1)]);
        triangles.push([at(rings - 1, j), south, at(rings - 1, j + 1)]);
    }
    for i in 1..rings - 1 {
        for j in 0..segments {
            let (a, b, c, d) = (at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1));
            triangles.extend([[a, b, c], [a, c, d]]);
        }
    }
    (vertices, triangles)
}
