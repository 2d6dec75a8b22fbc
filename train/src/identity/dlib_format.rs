//! Reader of dlib's serialization of its face-recognition ResNet
//! (`dlib_face_recognition_resnet_model_v1.dat`).
//!
//! The layer sequence is dlib's `anet_type` from `examples/dnn_face_recognition_ex.cpp`; the
//! byte layout follows dlib's own `serialize` functions (`dlib/serialize.h`, `dlib/dnn/core.h`,
//! `dlib/dnn/layers.h`, `dlib/dnn/input.h`, `dlib/dnn/loss.h`, `dlib/cuda/tensor.h`):
//!
//! - integers: a control byte (low 4 bits: byte count, bit 7: negative) and that many
//!   little-endian magnitude bytes; strings: an unsigned length, then the bytes; bools: ASCII
//!   `'0'`/`'1'`; scalar floats: `float_details`, an integer mantissa then an integer exponent
//!   (`mantissa · 2^exponent`), not IEEE bytes; tensors (`resizable_tensor`): version 2, four
//!   64-bit dims, then little-endian IEEE f32 data (the one place dlib writes raw floats).
//! - `add_loss_layer`: version, the loss's details, the network. `add_layer` writes its version,
//!   then its whole sub-network, then its own details and state; tag and skip layers write a
//!   version and their sub-network. So the file holds every layer's version from the outermost
//!   (the fc layer) inwards, the input layer, and then each layer's details from the first conv
//!   outwards, which is the order of the forward pass.
//!
//! Every read is bounds-checked and every field the network depends on is compared with the
//! architecture, so a truncated or foreign file is an error naming the byte offset and what was
//! expected, never a panic.

use std::path::Path;

/// Side of the network's input (`input_rgb_image_sized<150>`).
pub const INPUT_SIZE: usize = 150;
/// The input layer's per-channel means (R, G, B) on 0..255, subtracted before dividing by 256
/// (`input_rgb_image_sized`'s defaults, which the released model stores).
pub const INPUT_MEANS: [f32; 3] = [122.782, 117.001, 104.298];
/// Length of the face descriptor (`fc_no_bias<128>`).
pub const DESCRIPTOR_DIM: usize = 128;

/// The residual units in forward order: (filters, downsampling), i.e. dlib's `alevel4` (3 × 32),
/// `alevel3` (64, down first), `alevel2` (128), `alevel1` (256) and `alevel0` (one 256 down).
pub const BLOCKS: [(usize, bool); 14] = [
    (32, false),
    (32, false),
    (32, false),
    (64, true),
    (64, false),
    (64, false),
    (64, false),
    (128, true),
    (128, false),
    (128, false),
    (256, true),
    (256, false),
    (256, false),
    (256, true),
];

/// The filters of the first conv (`con<32,7,7,2,2>`).
const STEM_FILTERS: usize = 32;
const STEM_KERNEL: usize = 7;

/// A convolution (`con_`) with the `affine_` layer that follows it, as stored.
#[derive(Debug, Clone)]
pub struct ConvAffine {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    /// [out, in, kernel, kernel], row-major: dlib's filter tensor (a cross-correlation kernel,
    /// the layout of PyTorch and burn).
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    /// The affine layer: `y = gamma · x + beta` per channel.
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

/// The parameters of dlib's face-recognition ResNet.
#[derive(Debug, Clone)]
pub struct DlibResnet {
    /// The 29 convolutions in forward order: the 7×7 stem, then two per unit of [`BLOCKS`].
    pub convs: Vec<ConvAffine>,
    /// [256, 128], row-major: `descriptor = pooled · fc` (dlib's `fc_no_bias` weight layout).
    pub fc: Vec<f32>,
}

#[derive(Debug, thiserror::Error)]
pub enum DlibFormatError {
    #[error("cannot read dlib model {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} is not dlib's face-recognition ResNet (dlib_face_recognition_resnet_model_v1.dat): at byte {offset}: {what}"
    )]
    Format {
        path: String,
        offset: usize,
        what: String,
    },
}

/// Reads and checks the network in `path`.
pub fn read_dlib_resnet(path: &Path) -> Result<DlibResnet, DlibFormatError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| DlibFormatError::Io {
        path: name.clone(),
        source,
    })?;
    parse_dlib_resnet(&bytes, &name)
}

/// Parses the bytes of a model file; `name` is the file named in errors.
pub fn parse_dlib_resnet(bytes: &[u8], name: &str) -> Result<DlibResnet, DlibFormatError> {
    let mut r = Reader {
        bytes,
        pos: 0,
        name,
    };
    let net = read_network(&mut r)?;
    if r.pos != bytes.len() {
        return Err(r.error(format!(
            "{} bytes follow the end of the network",
            bytes.len() - r.pos
        )));
    }
    Ok(net)
}

/// One layer of `anet_type`, innermost (first in the forward pass) first.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layer {
    Con {
        inputs: usize,
        filters: usize,
        kernel: usize,
        stride: usize,
    },
    Affine {
        channels: usize,
    },
    Relu,
    MaxPool,
    AvgPool,
    AvgPoolEverything,
    AddPrev,
    Tag,
    Skip,
    FcNoBias {
        inputs: usize,
        outputs: usize,
    },
}

impl Layer {
    /// Tag and skip layers hold no details, only their sub-network.
    fn is_marker(self) -> bool {
        matches!(self, Layer::Tag | Layer::Skip)
    }
}

/// `anet_type` in forward order. Per unit, dlib's
/// `residual      = add_prev1<block<N,BN,1,tag1<SUBNET>>>` and
/// `residual_down = add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,BN,2,tag1<SUBNET>>>>>>`
/// with `block = BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>`, BN = affine,
/// each unit followed by relu.
fn anet_layers() -> Vec<Layer> {
    let mut v = vec![
        Layer::Con {
            inputs: 3,
            filters: STEM_FILTERS,
            kernel: STEM_KERNEL,
            stride: 2,
        },
        Layer::Affine {
            channels: STEM_FILTERS,
        },
        Layer::Relu,
        Layer::MaxPool,
    ];
    let mut channels = STEM_FILTERS;
    for (filters, down) in BLOCKS {
        v.push(Layer::Tag);
        v.push(Layer::Con {
            inputs: channels,
            filters,
            kernel: 3,
            stride: if down { 2 } else { 1 },
        });
        v.push(Layer::Affine { channels: filters });
        v.push(Layer::Relu);
        v.push(Layer::Con {
            inputs: filters,
            filters,
            kernel: 3,
            stride: 1,
        });
        v.push(Layer::Affine { channels: filters });
        if down {
            v.extend([Layer::Tag, Layer::Skip, Layer::AvgPool]);
        }
        v.extend([Layer::AddPrev, Layer::Relu]);
        channels = filters;
    }
    v.push(Layer::AvgPoolEverything);
    v.push(Layer::FcNoBias {
        inputs: channels,
        outputs: DESCRIPTOR_DIM,
    });
    v
}

fn read_network(r: &mut Reader) -> Result<DlibResnet, DlibFormatError> {
    expect_version(r, "add_loss_layer", 1..=1)?;
    match r.string("the loss layer's version")?.as_str() {
        // loss_metric_ with its margin and distance threshold: training settings only.
        "loss_metric_2" => {
            r.float("loss_metric margin")?;
            r.float("loss_metric distance threshold")?;
        }
        "loss_metric_" => {}
        other => return Err(r.error(format!("expected the loss_metric_ layer, found '{other}'"))),
    }

    let layers = anet_layers();
    // Versions, outermost first: each add_layer, tag and skip layer writes its version before
    // its sub-network. The innermost add_layer (the stem conv) is the one holding the input
    // layer, a different class with its own versions.
    let mut versions = vec![0; layers.len()];
    for (i, layer) in layers.iter().enumerate().rev() {
        versions[i] = if layer.is_marker() {
            expect_version(r, "add_tag_layer/add_skip_layer", 1..=1)?
        } else if i == 0 {
            expect_version(r, "add_layer holding the input layer", 2..=3)?
        } else {
            expect_version(r, "add_layer", 1..=2)?
        };
    }

    read_input(r)?;
    let mut convs: Vec<ConvAffine> = Vec::new();
    let mut fc = None;
    for (i, layer) in layers.iter().enumerate() {
        match *layer {
            Layer::Tag | Layer::Skip => continue,
            Layer::Con {
                inputs,
                filters,
                kernel,
                stride,
            } => convs.push(read_con(r, inputs, filters, kernel, stride)?),
            Layer::Affine { channels } => {
                let (gamma, beta) = read_affine(r, channels)?;
                let conv = convs
                    .last_mut()
                    .filter(|c| c.gamma.is_empty())
                    .expect("anet_layers puts an affine layer after every conv");
                conv.gamma = gamma;
                conv.beta = beta;
            }
            Layer::Relu => read_relu(r)?,
            Layer::MaxPool => read_pool(r, "max_pool_2", [3, 3, 2, 2, 0, 0])?,
            Layer::AvgPool => read_pool(r, "avg_pool_2", [2, 2, 2, 2, 0, 0])?,
            Layer::AvgPoolEverything => read_pool(r, "avg_pool_2", [0, 0, 1, 1, 0, 0])?,
            Layer::AddPrev => {
                let v = r.string("add_prev_ version")?;
                if v != "add_prev_" {
                    return Err(r.error(format!("expected the add_prev_ layer, found '{v}'")));
                }
            }
            Layer::FcNoBias { inputs, outputs } => fc = Some(read_fc(r, inputs, outputs)?),
        }
        read_layer_state(r, versions[i], i == 0)?;
    }
    Ok(DlibResnet {
        convs,
        fc: fc.expect("anet_layers ends with the fc layer"),
    })
}

fn expect_version(
    r: &mut Reader,
    what: &str,
    accepted: std::ops::RangeInclusive<i64>,
) -> Result<i64, DlibFormatError> {
    let at = r.pos;
    let v = r.int(4, what)?;
    if accepted.contains(&v) {
        Ok(v)
    } else {
        Err(r.error_at(
            at,
            format!(
                "{what}: version {v}, expected {accepted:?} (the layers differ from anet_type)"
            ),
        ))
    }
}

/// `input_rgb_image_sized<150>` with dlib's default means, which [`INPUT_MEANS`] assumes.
fn read_input(r: &mut Reader) -> Result<(), DlibFormatError> {
    let v = r.string("input layer version")?;
    if v != "input_rgb_image_sized" {
        return Err(r.error(format!(
            "expected the input layer input_rgb_image_sized, found '{v}'"
        )));
    }
    let at = r.pos;
    let means = [
        r.float("input red mean")?,
        r.float("input green mean")?,
        r.float("input blue mean")?,
    ];
    if means != INPUT_MEANS {
        return Err(r.error_at(
            at,
            format!("input means {means:?}, expected dlib's {INPUT_MEANS:?}"),
        ));
    }
    let (nr, nc) = (r.uint(8, "input rows")?, r.uint(8, "input columns")?);
    if (nr, nc) != (INPUT_SIZE as u64, INPUT_SIZE as u64) {
        return Err(r.error(format!(
            "input size {nr}x{nc}, expected {INPUT_SIZE}x{INPUT_SIZE}"
        )));
    }
    Ok(())
}

/// An add_layer's state after its details: three flags and its (empty, for a saved network)
/// gradient and output buffers.
fn read_layer_state(
    r: &mut Reader,
    version: i64,
    holds_input: bool,
) -> Result<(), DlibFormatError> {
    for what in [
        "this_layer_setup_called",
        "gradient_input_is_stale",
        "get_output_and_gradient_input_disabled",
    ] {
        r.bool(what)?;
    }
    r.tensor("x_grad")?;
    r.tensor("cached_output")?;
    if holds_input {
        r.tensor("grad_final")?;
        if version >= 3 {
            r.uint(4, "sample_expansion_factor")?;
        }
    } else if version == 2 {
        r.tensor("params_grad")?;
    }
    Ok(())
}

fn read_con(
    r: &mut Reader,
    inputs: usize,
    filters: usize,
    kernel: usize,
    stride: usize,
) -> Result<ConvAffine, DlibFormatError> {
    let v = r.string("con_ version")?;
    if !matches!(v.as_str(), "con_4" | "con_5" | "con_6") {
        return Err(r.error(format!("expected a con_ layer (con_4..6), found '{v}'")));
    }
    let params = r.tensor("con_ params")?;
    let at = r.pos;
    let num_filters = r.int(8, "num_filters")?;
    let (nr, nc) = (r.int(8, "filter rows")?, r.int(8, "filter columns")?);
    let (sy, sx) = (r.int(4, "stride_y")?, r.int(4, "stride_x")?);
    let (py, px) = (r.int(4, "padding_y")?, r.int(4, "padding_x")?);
    // dlib's default padding: `stride != 1 ? 0 : size/2`.
    let padding = if stride != 1 { 0 } else { kernel / 2 };
    let want = [filters, kernel, kernel, stride, stride, padding, padding].map(|v| v as i64);
    let got = [num_filters, nr, nc, sy, sx, py, px];
    if got != want {
        return Err(r.error_at(
            at,
            format!("con_ (filters, rows, columns, strides, paddings) {got:?}, expected {want:?}"),
        ));
    }
    let filters_dims = r.alias_tensor("con_ filters")?;
    let biases_dims = r.alias_tensor("con_ biases")?;
    read_multipliers(r)?;
    let use_bias = if v == "con_4" {
        true
    } else {
        r.bool("use_bias")?
    };
    if v == "con_6" && r.bool("use_relu")? {
        return Err(r.error("con_ with a fused relu, which anet_type does not have".into()));
    }
    let wlen = filters * inputs * kernel * kernel;
    let want_filters = [filters, inputs, kernel, kernel].map(|v| v as i64);
    if filters_dims != want_filters {
        return Err(r.error(format!(
            "con_ filter tensor {filters_dims:?}, expected {want_filters:?}"
        )));
    }
    let blen = if use_bias { filters } else { 0 };
    if use_bias && biases_dims != [1, filters as i64, 1, 1] {
        return Err(r.error(format!(
            "con_ bias tensor {biases_dims:?}, expected [1, {filters}, 1, 1]"
        )));
    }
    if params.len() != wlen + blen {
        return Err(r.error(format!(
            "con_ holds {} parameters, expected {}",
            params.len(),
            wlen + blen
        )));
    }
    let bias = if use_bias {
        params[wlen..].to_vec()
    } else {
        vec![0.0; filters]
    };
    let mut weight = params;
    weight.truncate(wlen);
    Ok(ConvAffine {
        in_channels: inputs,
        out_channels: filters,
        kernel,
        stride,
        padding,
        weight,
        bias,
        gamma: Vec::new(),
        beta: Vec::new(),
    })
}

/// `affine_` in conv mode: per-channel gamma then beta in one parameter tensor.
fn read_affine(r: &mut Reader, channels: usize) -> Result<(Vec<f32>, Vec<f32>), DlibFormatError> {
    let v = r.string("affine_ version")?;
    if v != "affine_" && v != "affine_2" {
        // The released model stores its batch norms already converted to affine layers.
        return Err(r.error(format!("expected an affine_ layer, found '{v}'")));
    }
    let params = r.tensor("affine_ params")?;
    let gamma_dims = r.alias_tensor("affine_ gamma")?;
    let beta_dims = r.alias_tensor("affine_ beta")?;
    let mode = r.int(4, "affine_ mode")?;
    if v == "affine_2" && r.bool("affine_ disabled")? {
        return Err(r.error("a disabled affine_ layer, which anet_type does not have".into()));
    }
    let want = [1, channels as i64, 1, 1];
    // dlib's layer_mode: CONV_MODE = 0 (per channel), FC_MODE = 1 (per element).
    if mode != 0 || gamma_dims != want || beta_dims != want || params.len() != 2 * channels {
        return Err(r.error(format!(
            "affine_ mode {mode}, gamma {gamma_dims:?}, beta {beta_dims:?}, {} parameters; \
             expected conv mode (0) over {channels} channels",
            params.len()
        )));
    }
    let beta = params[channels..].to_vec();
    let mut gamma = params;
    gamma.truncate(channels);
    Ok((gamma, beta))
}

fn read_relu(r: &mut Reader) -> Result<(), DlibFormatError> {
    let v = r.string("relu_ version")?;
    match v.as_str() {
        "relu_" => Ok(()),
        "relu_2" if !r.bool("relu_ disabled")? => Ok(()),
        "relu_2" => Err(r.error("a disabled relu_ layer, which anet_type does not have".into())),
        _ => Err(r.error(format!("expected a relu_ layer, found '{v}'"))),
    }
}

/// A layer's learning-rate and weight-decay multipliers (training settings only).
fn read_multipliers(r: &mut Reader) -> Result<(), DlibFormatError> {
    for what in [
        "learning rate multiplier",
        "weight decay multiplier",
        "bias learning rate multiplier",
        "bias weight decay multiplier",
    ] {
        r.float(what)?;
    }
    Ok(())
}

/// A pooling layer: rows, columns, strides and paddings must be `want`.
fn read_pool(r: &mut Reader, version: &str, want: [i64; 6]) -> Result<(), DlibFormatError> {
    let v = r.string("pooling layer version")?;
    if v != version {
        return Err(r.error(format!("expected a {version} layer, found '{v}'")));
    }
    let at = r.pos;
    let got = [
        r.int(8, "pool rows")?,
        r.int(8, "pool columns")?,
        r.int(4, "pool stride_y")?,
        r.int(4, "pool stride_x")?,
        r.int(4, "pool padding_y")?,
        r.int(4, "pool padding_x")?,
    ];
    if got != want {
        return Err(r.error_at(
            at,
            format!("{version} (rows, columns, strides, paddings) {got:?}, expected {want:?}"),
        ));
    }
    Ok(())
}

/// `fc_no_bias<128>`: the weight as [inputs, outputs].
fn read_fc(r: &mut Reader, inputs: usize, outputs: usize) -> Result<Vec<f32>, DlibFormatError> {
    let v = r.string("fc_ version")?;
    if v != "fc_2" && v != "fc_3" {
        return Err(r.error(format!("expected an fc_ layer, found '{v}'")));
    }
    let at = r.pos;
    let (no, ni) = (r.uint(8, "fc num_outputs")?, r.uint(8, "fc num_inputs")?);
    if (no, ni) != (outputs as u64, inputs as u64) {
        return Err(r.error_at(
            at,
            format!("fc_ with {ni} inputs and {no} outputs, expected {inputs} and {outputs}"),
        ));
    }
    let params = r.tensor("fc_ params")?;
    let weights_dims = r.alias_tensor("fc_ weights")?;
    r.alias_tensor("fc_ biases")?;
    // dlib's fc_bias_mode: FC_HAS_BIAS = 0, FC_NO_BIAS = 1.
    let bias_mode = r.int(4, "fc_ bias mode")?;
    read_multipliers(r)?;
    if v == "fc_3" {
        r.bool("fc_ use_bias")?;
    }
    let want = [inputs as i64, outputs as i64, 1, 1];
    if bias_mode != 1 || weights_dims != want || params.len() != inputs * outputs {
        return Err(r.error(format!(
            "fc_ bias mode {bias_mode}, weights {weights_dims:?}, {} parameters; expected no \
             bias (1) and weights {want:?}",
            params.len()
        )));
    }
    Ok(params)
}

/// A cursor over the file's bytes; every read checks the bounds.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    name: &'a str,
}

impl Reader<'_> {
    fn error(&self, what: String) -> DlibFormatError {
        self.error_at(self.pos, what)
    }

    fn error_at(&self, offset: usize, what: String) -> DlibFormatError {
        DlibFormatError::Format {
            path: self.name.to_string(),
            offset,
            what,
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], DlibFormatError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(self.error(format!(
                "the file ends while reading {what} ({n} bytes needed, {} left)",
                self.bytes.len() - self.pos
            ))),
        }
    }

    /// An integer of at most `max_bytes` magnitude bytes; `(negative, magnitude)`.
    fn raw_int(&mut self, max_bytes: usize, what: &str) -> Result<(bool, u64), DlibFormatError> {
        let at = self.pos;
        let control = self.take(1, what)?[0];
        let n = (control & 0x0f) as usize;
        if n == 0 || n > max_bytes || control & 0x70 != 0 {
            return Err(self.error_at(
                at,
                format!("{what}: bad integer control byte {control:#04x}"),
            ));
        }
        let magnitude = self
            .take(n, what)?
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64);
        Ok((control & 0x80 != 0, magnitude))
    }

    /// A signed integer (dlib's `pack_int` for signed types of `max_bytes` bytes).
    fn int(&mut self, max_bytes: usize, what: &str) -> Result<i64, DlibFormatError> {
        let at = self.pos;
        let (negative, magnitude) = self.raw_int(max_bytes, what)?;
        let v = i64::try_from(magnitude)
            .map_err(|_| self.error_at(at, format!("{what}: integer out of range")))?;
        Ok(if negative { -v } else { v })
    }

    /// An unsigned integer (no sign bit).
    fn uint(&mut self, max_bytes: usize, what: &str) -> Result<u64, DlibFormatError> {
        let at = self.pos;
        match self.raw_int(max_bytes, what)? {
            (false, v) => Ok(v),
            (true, _) => Err(self.error_at(at, format!("{what}: negative unsigned integer"))),
        }
    }

    fn bool(&mut self, what: &str) -> Result<bool, DlibFormatError> {
        let at = self.pos;
        match self.take(1, what)?[0] {
            b'1' => Ok(true),
            b'0' => Ok(false),
            b => Err(self.error_at(at, format!("{what}: bad bool byte {b:#04x}"))),
        }
    }

    fn string(&mut self, what: &str) -> Result<String, DlibFormatError> {
        let at = self.pos;
        let len = self.uint(8, what)?;
        // Every string in this format is a short version name.
        if len > 64 {
            return Err(self.error_at(at, format!("{what}: implausible string length {len}")));
        }
        let s = self.take(len as usize, what)?;
        String::from_utf8(s.to_vec())
            .map_err(|_| self.error_at(at, format!("{what}: string is not UTF-8")))
    }

    /// A scalar float: `float_details` (mantissa, then exponent; 32000..32002 are inf, -inf
    /// and NaN). dlib's older ASCII format starts with a byte with one of bits 0x70 set.
    fn float(&mut self, what: &str) -> Result<f32, DlibFormatError> {
        let at = self.pos;
        let mantissa = self.int(8, what)?;
        let exponent = self.int(2, what)?;
        match exponent {
            32000 => Ok(f32::INFINITY),
            32001 => Ok(f32::NEG_INFINITY),
            32002 => Ok(f32::NAN),
            e if e.abs() <= 1000 => Ok((mantissa as f64 * 2f64.powi(e as i32)) as f32),
            e => Err(self.error_at(at, format!("{what}: float exponent {e} out of range"))),
        }
    }

    /// dlib's `alias_tensor` (a view's shape): version 1 and four dims.
    fn alias_tensor(&mut self, what: &str) -> Result<[i64; 4], DlibFormatError> {
        let at = self.pos;
        let v = self.int(4, what)?;
        if v != 1 {
            return Err(self.error_at(at, format!("{what}: alias_tensor version {v}, expected 1")));
        }
        let mut dims = [0; 4];
        for d in &mut dims {
            *d = self.int(8, what)?;
        }
        Ok(dims)
    }

    /// A `resizable_tensor`: version 2, num_samples, k, nr, nc, then the data as
    /// little-endian IEEE f32.
    fn tensor(&mut self, what: &str) -> Result<Vec<f32>, DlibFormatError> {
        let at = self.pos;
        let v = self.int(4, what)?;
        if v != 2 {
            return Err(self.error_at(at, format!("{what}: tensor version {v}, expected 2")));
        }
        let mut count: u64 = 1;
        for _ in 0..4 {
            let d = self.int(8, what)?;
            count = u64::try_from(d)
                .ok()
                .and_then(|d| count.checked_mul(d))
                .ok_or_else(|| self.error_at(at, format!("{what}: bad tensor dimension {d}")))?;
        }
        let left = (self.bytes.len() - self.pos) as u64;
        if count > left / 4 {
            return Err(self.error(format!(
                "the file ends inside {what}: {count} floats announced, {left} bytes left"
            )));
        }
        let data = self.take(count as usize * 4, what)?;
        Ok(data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// dlib's `pack_int` of a few values, and `float_details` of 0.04 as dlib wrote it.
    #[test]
    fn integers_and_floats_decode_as_dlib_wrote_them() {
        let bytes = [
            0x01, 0x00, // 0
            0x81, 0x05, // -5
            0x02, 0x34, 0x12, // 0x1234
            0x03, 0x0a, 0xd7, 0xa3, 0x81, 0x1c, // 0xa3d70a · 2^-28
        ];
        let mut r = Reader {
            bytes: &bytes,
            pos: 0,
            name: "t",
        };
        assert_eq!(r.int(4, "a").unwrap(), 0);
        assert_eq!(r.int(4, "b").unwrap(), -5);
        assert_eq!(r.uint(8, "c").unwrap(), 0x1234);
        assert_eq!(r.float("d").unwrap(), 0.04);
        assert!(r.int(4, "past the end").is_err());
    }

    #[test]
    fn the_architecture_has_29_convs_and_130_versioned_layers() {
        let layers = anet_layers();
        let convs = layers
            .iter()
            .filter(|l| matches!(l, Layer::Con { .. }))
            .count();
        assert_eq!(convs, 29);
        // The released file holds 129 versions from the fc layer inwards, then the innermost
        // add_layer's (the stem conv's).
        assert_eq!(layers.len(), 130);
    }
}
