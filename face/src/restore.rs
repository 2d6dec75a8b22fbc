//! Step 4, restore: every aligned crop of a frame goes through the generator in one batched run,
//! with the rendered 3D faces of the shape step for a `full` generator (paper Sec. 3.1).

use std::borrow::Cow;

use sgpn_kernels::KernelError;
use sgpn_kernels::backend::FaceKernels;
use sgpn_models::error::ModelError;
use sgpn_models::generator::Generator;

/// The aligned crops of one frame as one `[N,3,S,S]` tensor (the generator contract's `lq`),
/// allocated once and reused from frame to frame.
#[derive(Debug, Default)]
pub struct CropBatch {
    size: usize,
    len: usize,
    data: Vec<f32>,
}

impl CropBatch {
    /// Empties the batch for crops of `size`×`size`.
    pub fn clear(&mut self, size: usize) {
        self.size = size;
        self.len = 0;
    }

    /// Appends a crop and returns its planar `[3,S,S]` slot for the warp to fill.
    pub fn push(&mut self) -> &mut [f32] {
        let n = 3 * self.size * self.size;
        self.len += 1;
        if self.data.len() < self.len * n {
            self.data.resize(self.len * n, 0.0);
        }
        &mut self.data[(self.len - 1) * n..self.len * n]
    }

    /// Empties the batch and makes room for `count` crops of `size`×`size` at once: the whole
    /// `[N,3,S,S]` tensor to fill (a download from the device).
    pub fn fill(&mut self, size: usize, count: usize) -> &mut [f32] {
        self.size = size;
        self.len = count;
        let n = count * 3 * size * size;
        if self.data.len() < n {
            self.data.resize(n, 0.0);
        }
        &mut self.data[..n]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// S, the side of each crop.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The crops one by one, planar `[3,S,S]` each.
    pub fn crops(&self) -> std::slice::ChunksExact<'_, f32> {
        self.as_slice().chunks_exact(3 * self.size * self.size)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The filled part of the tensor.
    pub fn as_slice(&self) -> &[f32] {
        &self.data[..self.len * 3 * self.size * self.size]
    }
}

/// Restores `count` crops (`lq`, `[N,3,S,S]`) in one generator run, a `full` generator with the
/// shape prior of the same crops (the rendered faces, and the coefficients `[N,K]` for a
/// generator that takes them); returns `[N,3,S,S]` in [-1, 1].
pub fn restore_batch(
    generator: &mut Generator,
    (lq, count): (&[f32], usize),
    shape: Option<(&[f32], &[f32])>,
) -> Result<Vec<f32>, ModelError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    match shape {
        None => generator.restore(lq, count),
        Some((renders, coefficients)) => {
            generator.restore_with_shape(lq, renders, coefficients, count)
        }
    }
}

/// `buffer`'s floats on the host: borrowed where they are host memory, else downloaded.
pub(crate) fn on_host<'a, K: FaceKernels>(
    k: &K,
    buffer: &'a K::Buffer,
) -> Result<Cow<'a, [f32]>, KernelError> {
    if let Some(host) = k.as_host(buffer) {
        return Ok(Cow::Borrowed(host));
    }
    let mut host = vec![0.0; k.len(buffer)];
    k.download(buffer, &mut host)?;
    Ok(Cow::Owned(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_slots_are_consecutive_and_reused() {
        let mut b = CropBatch::default();
        b.clear(2);
        b.push().fill(1.0);
        b.push().fill(2.0);
        assert_eq!(b.len(), 2);
        assert_eq!(&b.as_slice()[..12], &[1.0; 12]);
        assert_eq!(&b.as_slice()[12..], &[2.0; 12]);
        b.clear(2);
        assert!(b.is_empty());
        assert!(b.as_slice().is_empty());
        b.push().fill(3.0);
        assert_eq!(b.as_slice(), &[3.0; 12]);
        b.fill(1, 2).fill(4.0);
        assert_eq!((b.len(), b.size()), (2, 1));
        assert_eq!(b.as_slice(), &[4.0; 6]);
    }
}
