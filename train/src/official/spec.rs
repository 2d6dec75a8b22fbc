//! The tensors of the two official checkpoints, by name and shape, in `state_dict` order: what
//! the importer requires and what the test fixture writes. The names are those of the official
//! release's PyTorch modules (`FullGenerator_SGPN` for `sgpn.pth`, Deep3DFaceRecon's
//! `ReconNetWrapper` with a ResNet-50 backbone for `d3dfr_finetune_ours.pth`); the shapes follow
//! from the fixed configuration of that release (paper Sec. 3.1 and 4.1: 512-px faces, a
//! StyleGAN2 decoder with 512-wide latents, channel multiplier 2).

/// Side of the official face crop.
pub const SIZE: usize = 512;
/// The decoder's latent width (StyleGAN2's `style_dim`).
pub const STYLE_DIM: usize = 512;
/// Width of each encoder code `z` (one for the LQ face, one for the rendered face).
pub const CODE_DIM: usize = 256;
/// Deep3DFaceRecon's coefficient count: 80 id, 64 exp, 80 tex, 3 angles, 27 SH, 3 translation.
pub const COEFFICIENTS: usize = 257;
/// The mapping network's input: both codes and the coefficients (`z_concat` in the official code).
pub const MAPPING_IN: usize = 2 * CODE_DIM + COEFFICIENTS;
/// Fully connected layers of the mapping network after its pixel norm.
pub const MAPPING_LAYERS: usize = 3;
/// The mapping layers' learning-rate multiplier (equalised learning rate, StyleGAN2).
pub const MAPPING_LR_MUL: f32 = 0.01;
/// The FIR filter of every blurred up- and downsampling (StyleGAN2's `[1, 3, 3, 1]`).
pub const BLUR_TAPS: [f32; 4] = [1.0, 3.0, 3.0, 1.0];
/// Input side of the D3DFR regressor.
pub const D3DFR_SIZE: usize = 224;
/// The regressor's heads in coefficient order, with their widths.
pub const D3DFR_HEADS: [(&str, usize); 7] = [
    ("id", 80),
    ("exp", 64),
    ("tex", 80),
    ("angles", 3),
    ("gamma", 27),
    ("txy", 2),
    ("tz", 1),
];
/// ResNet-50's stages: (bottleneck width, blocks, stride of the first block).
pub const RESNET50_STAGES: [(usize, usize, usize); 4] =
    [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)];
/// ResNet's bottleneck expansion.
pub const EXPANSION: usize = 4;

/// Feature channels at resolution `r`, shared by the encoder and the decoder.
pub fn channels(r: usize) -> usize {
    match r {
        4..=64 => 512,
        128 => 256,
        256 => 128,
        512 => 64,
        _ => unreachable!("the official network has no {r}-px features"),
    }
}

/// Decoder resolutions after the 4×4 constant: 8, 16, …, 512.
pub fn decoder_resolutions() -> impl Iterator<Item = usize> {
    (3..=SIZE.trailing_zeros()).map(|i| 1usize << i)
}

/// What a tensor holds, which the fixture uses to fill it with a plausible pattern.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Role {
    /// Weights stored at unit variance and scaled at run time (equalised learning rate).
    UnitWeight,
    /// A plain convolution or linear weight with He scaling (`fan_in`).
    HeWeight { fan_in: usize },
    /// An additive bias.
    Bias,
    /// The bias of a style modulation (initialised to 1).
    ModulationBias,
    /// The weight of a noise injection (one scalar).
    NoiseWeight,
    /// A fixed blur filter buffer, `[1,3,3,1]` outer product normalised, times `gain`.
    BlurKernel { gain: f32 },
    /// Batch-norm scale.
    BnWeight,
    /// Batch-norm scale of a residual branch's last layer (kept small, as trained ResNets have).
    BnResidualWeight,
    /// Batch-norm running mean.
    BnMean,
    /// Batch-norm running variance (positive).
    BnVar,
    /// Batch-norm update counter (int64 scalar; unused at inference).
    BnCount,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub role: Role,
}

#[derive(Default)]
struct SpecList(Vec<TensorSpec>);

impl SpecList {
    fn push(&mut self, name: String, shape: &[usize], role: Role) {
        self.0.push(TensorSpec {
            name,
            shape: shape.to_vec(),
            role,
        });
    }

    /// An `EqualConv2d` (+ bias) followed by a `FusedLeakyReLU` (bias) in a `ConvLayer` whose
    /// conv sits at index `conv_index` (1 after a blur).
    fn conv_layer(&mut self, prefix: &str, cin: usize, cout: usize, k: usize, downsample: bool) {
        let conv = if downsample {
            self.push(
                format!("{prefix}.0.kernel"),
                &[4, 4],
                Role::BlurKernel { gain: 1.0 },
            );
            1
        } else {
            0
        };
        self.push(
            format!("{prefix}.{conv}.weight"),
            &[cout, cin, k, k],
            Role::UnitWeight,
        );
        self.push(format!("{prefix}.{}.bias", conv + 1), &[cout], Role::Bias);
    }

    fn equal_linear(&mut self, prefix: &str, cin: usize, cout: usize) {
        self.push(format!("{prefix}.weight"), &[cout, cin], Role::UnitWeight);
        self.push(format!("{prefix}.bias"), &[cout], Role::Bias);
    }

    fn modulated_conv(&mut self, prefix: &str, cin: usize, cout: usize, k: usize, upsample: bool) {
        self.push(
            format!("{prefix}.weight"),
            &[1, cout, cin, k, k],
            Role::UnitWeight,
        );
        if upsample {
            self.push(
                format!("{prefix}.blur.kernel"),
                &[4, 4],
                Role::BlurKernel { gain: 4.0 },
            );
        }
        self.push(
            format!("{prefix}.modulation.weight"),
            &[cin, STYLE_DIM],
            Role::UnitWeight,
        );
        self.push(
            format!("{prefix}.modulation.bias"),
            &[cin],
            Role::ModulationBias,
        );
    }

    fn rgb_layer(&mut self, prefix: &str, cin: usize, upsample: bool) {
        if upsample {
            self.push(
                format!("{prefix}.upsample.kernel"),
                &[4, 4],
                Role::BlurKernel { gain: 4.0 },
            );
        }
        self.modulated_conv(&format!("{prefix}.conv"), cin, 3, 1, false);
        self.push(format!("{prefix}.bias"), &[1, 3, 1, 1], Role::Bias);
    }

    fn batch_norm(&mut self, prefix: &str, c: usize, residual_end: bool) {
        let weight = if residual_end {
            Role::BnResidualWeight
        } else {
            Role::BnWeight
        };
        self.push(format!("{prefix}.weight"), &[c], weight);
        self.push(format!("{prefix}.bias"), &[c], Role::Bias);
        self.push(format!("{prefix}.running_mean"), &[c], Role::BnMean);
        self.push(format!("{prefix}.running_var"), &[c], Role::BnVar);
        self.push(format!("{prefix}.num_batches_tracked"), &[], Role::BnCount);
    }

    fn plain_conv(&mut self, name: String, cin: usize, cout: usize, k: usize) {
        self.push(
            name,
            &[cout, cin, k, k],
            Role::HeWeight {
                fan_in: cin * k * k,
            },
        );
    }
}

/// `sgpn.pth`: `netE` (the shared encoder `Enc_SGPN`) and `netG` (the decoder `Generator_SGPN`).
pub fn generator_spec() -> Vec<TensorSpec> {
    let mut s = SpecList::default();
    // Encoder: a 1×1 conv at 512 px, then one blurred stride-2 conv per halving down to 4 px.
    s.conv_layer("netE.ecd0.0", 3, channels(SIZE), 1, false);
    let mut r = SIZE;
    let mut i = 1;
    while r > 4 {
        s.conv_layer(
            &format!("netE.ecd{i}.0"),
            channels(r),
            channels(r / 2),
            3,
            true,
        );
        r /= 2;
        i += 1;
    }
    s.equal_linear("netE.final_linear.0", channels(4) * 16, CODE_DIM);
    // Decoder: mapping network (index 0 is the pixel norm), constant, first conv, then two
    // AFFB convolutions and a toRGB per resolution.
    for l in 1..=MAPPING_LAYERS {
        let cin = if l == 1 { MAPPING_IN } else { STYLE_DIM };
        s.equal_linear(&format!("netG.mlp.{l}"), cin, STYLE_DIM);
    }
    s.push(
        "netG.input.input".into(),
        &[1, channels(4), 4, 4],
        Role::UnitWeight,
    );
    let c4 = channels(4);
    s.modulated_conv("netG.conv1.conv", c4, c4, 3, false);
    s.push("netG.conv1.noise.weight".into(), &[1], Role::NoiseWeight);
    s.push("netG.conv1.activate.bias".into(), &[2 * c4], Role::Bias);
    s.rgb_layer("netG.to_rgb1", 2 * c4, false);
    let mut cin = c4;
    for (block, r) in decoder_resolutions().enumerate() {
        let cout = channels(r);
        for (half, upsample) in [(0, true), (1, false)] {
            let p = format!("netG.convs.{}", 2 * block + half);
            let inputs = if upsample { 2 * cin } else { 2 * cout };
            s.modulated_conv(&format!("{p}.conv"), inputs, cout, 3, upsample);
            s.push(format!("{p}.noise.weight"), &[1], Role::NoiseWeight);
            s.push(format!("{p}.activate.bias"), &[2 * cout], Role::Bias);
            s.push(
                format!("{p}.convs_mask.0.weight"),
                &[cout, 3 * cout, 1, 1],
                Role::UnitWeight,
            );
            s.push(format!("{p}.convs_mask.0.bias"), &[cout], Role::Bias);
        }
        cin = cout;
    }
    for (block, r) in decoder_resolutions().enumerate() {
        s.rgb_layer(&format!("netG.to_rgbs.{block}"), 2 * channels(r), true);
    }
    s.0
}

/// `d3dfr_finetune_ours.pth`: Deep3DFaceRecon's `ReconNetWrapper`, a torchvision ResNet-50
/// without its classifier and seven 1×1 heads.
pub fn regressor_spec() -> Vec<TensorSpec> {
    let mut s = SpecList::default();
    s.plain_conv("backbone.conv1.weight".into(), 3, 64, 7);
    s.batch_norm("backbone.bn1", 64, false);
    let mut inplanes = 64;
    for (stage, &(width, blocks, stride)) in RESNET50_STAGES.iter().enumerate() {
        let out = width * EXPANSION;
        for b in 0..blocks {
            let p = format!("backbone.layer{}.{b}", stage + 1);
            s.plain_conv(format!("{p}.conv1.weight"), inplanes, width, 1);
            s.batch_norm(&format!("{p}.bn1"), width, false);
            s.plain_conv(format!("{p}.conv2.weight"), width, width, 3);
            s.batch_norm(&format!("{p}.bn2"), width, false);
            s.plain_conv(format!("{p}.conv3.weight"), width, out, 1);
            s.batch_norm(&format!("{p}.bn3"), out, true);
            if b == 0 && (stride != 1 || inplanes != out) {
                s.plain_conv(format!("{p}.downsample.0.weight"), inplanes, out, 1);
                s.batch_norm(&format!("{p}.downsample.1"), out, false);
            }
            inplanes = out;
        }
    }
    for (i, &(_, width)) in D3DFR_HEADS.iter().enumerate() {
        s.plain_conv(format!("final_layers.{i}.weight"), inplanes, width, 1);
        s.push(format!("final_layers.{i}.bias"), &[width], Role::Bias);
    }
    s.0
}

/// The filter a blur buffer must hold: the normalised outer product of [`BLUR_TAPS`] × `gain`.
pub fn blur_kernel(gain: f32) -> [f32; 16] {
    let sum: f32 = BLUR_TAPS.iter().sum();
    let mut k = [0.0; 16];
    for (y, a) in BLUR_TAPS.iter().enumerate() {
        for (x, b) in BLUR_TAPS.iter().enumerate() {
            k[4 * y + x] = a * b / (sum * sum) * gain;
        }
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(spec: &[TensorSpec]) -> usize {
        spec.iter().map(|t| t.shape.iter().product::<usize>()).sum()
    }

    #[test]
    fn generator_has_the_official_parameter_count() {
        let spec = generator_spec();
        // Every name once.
        let mut names: Vec<_> = spec.iter().map(|t| &t.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), spec.len());
        // 7 encoder downsamplings, 14 AFFB convolutions, 7 + 1 toRGB layers.
        assert!(spec.iter().any(|t| t.name == "netE.ecd7.0.1.weight"));
        assert!(
            spec.iter()
                .any(|t| t.name == "netG.convs.13.convs_mask.0.weight")
        );
        assert!(spec.iter().any(|t| t.name == "netG.to_rgbs.6.conv.weight"));
        // `FullGenerator_SGPN().state_dict()` of the official code: 181 tensors, 74,538,999
        // values (74,538,663 parameters and 21 blur buffers of 16).
        assert_eq!(spec.len(), 181);
        assert_eq!(count(&spec), 74_538_999);
    }

    #[test]
    fn regressor_is_resnet50_with_257_outputs() {
        let spec = regressor_spec();
        let heads: usize = D3DFR_HEADS.iter().map(|h| h.1).sum();
        assert_eq!(heads, COEFFICIENTS);
        // torchvision's ResNet-50 without `fc`: 23,508,032 parameters, plus the heads.
        let params: usize = spec
            .iter()
            .filter(|t| !t.name.ends_with("running_mean") && !t.name.ends_with("running_var"))
            .filter(|t| !t.name.ends_with("num_batches_tracked"))
            .map(|t| t.shape.iter().product::<usize>())
            .sum();
        assert_eq!(params, 23_508_032 + 2048 * COEFFICIENTS + COEFFICIENTS);
        // `ReconNetWrapper().state_dict()`: 332 tensors, 24,087,798 values.
        assert_eq!(spec.len(), 332);
        assert_eq!(count(&spec), 24_087_798);
    }

    /// The official crop's 5-point reference (`get_reference_facial_points((512, 512), 0.25,
    /// (0, 0), True)`: the 96×112 reference made square, padded by 0.25 on each side, scaled to
    /// 512) is the contract's `sgpn` template: no template of its own is needed.
    #[test]
    fn the_official_crop_reference_is_the_sgpn_template() {
        let reference: [[f32; 2]; 5] = [
            [30.294_6, 51.696_3],
            [65.531_8, 51.501_4],
            [48.025_2, 71.736_6],
            [33.549_3, 92.365_5],
            [62.729_9, 92.204_1],
        ];
        let square = 112.0f32;
        let padded = square * 1.5;
        let template = sgpn_models::contract::Template::Sgpn.landmarks(SIZE);
        for (r, t) in reference.iter().zip(template) {
            let x = (r[0] + (square - 96.0) / 2.0 + square * 0.25) * SIZE as f32 / padded;
            let y = (r[1] + square * 0.25) * SIZE as f32 / padded;
            assert!(
                (x - t[0]).abs() < 0.01 && (y - t[1]).abs() < 0.01,
                "{x},{y} vs {t:?}"
            );
        }
    }

    #[test]
    fn blur_kernels_sum_to_their_gain() {
        assert!((blur_kernel(1.0).iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((blur_kernel(4.0).iter().sum::<f32>() - 4.0).abs() < 1e-6);
        assert_eq!(blur_kernel(1.0)[5], 9.0 / 64.0);
    }
}
