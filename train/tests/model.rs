//! Model building blocks against independent references, and input validation.

use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::module::interpolate;
use burn::tensor::ops::ConvOptions;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use rand::SeedableRng;
use sgpn_train::model::init::{Noise, ParamInit, normal_vec};
use sgpn_train::model::styleconv::{ModulatedConv2d, upsample2};
use sgpn_train::model::{Config, Discriminator, Generator, ModelError, Variant};

fn randn<const D: usize>(shape: [usize; D], seed: u64, device: &Device) -> Tensor<D> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    Tensor::from_data(TensorData::new(normal_vec(&mut rng, n), shape), device)
}

/// The unfused modulated conv equals StyleGAN2's fused form: per sample, the weight
/// `W'[o,i] = W[o,i]·s[i] / sqrt(Σ_{i,k}(W[o,i]·s[i])² + ε)` convolved with the input.
#[test]
fn unfused_modulated_conv_equals_per_sample_demodulated_weights() {
    let device = Device::flex();
    let mut init = ParamInit::new(5, &device);
    let conv = ModulatedConv2d::new(&mut init, 6, 5, 3, 8, true, None);
    let x = randn([2, 6, 7, 7], 1, &device);
    let w = randn([2, 8], 2, &device);
    let got = conv.forward(x.clone(), w.clone());
    let s: Vec<f32> = conv
        .modulation
        .forward(w)
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    let weight = conv.effective_weight();
    for n in 0..2 {
        let sn =
            Tensor::<1>::from_data(TensorData::new(s[n * 6..n * 6 + 6].to_vec(), [6]), &device);
        let wn = weight.clone() * sn.reshape([1, 6, 1, 1]);
        let d = wn
            .clone()
            .square()
            .sum_dims_squeeze::<1, _>(&[1, 2, 3])
            .add_scalar(1e-8)
            .sqrt()
            .recip();
        let wn = wn * d.reshape([5, 1, 1, 1]);
        let xn = x.clone().narrow(0, n, 1);
        let want = conv2d(xn, wn, None, ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
        let gotn = got.clone().narrow(0, n, 1);
        let diff: f32 = (gotn - want.clone()).abs().max().into_scalar();
        let scale: f32 = want.abs().max().into_scalar();
        assert!(diff <= 1e-5 * scale.max(1.0), "sample {n}: max diff {diff}");
    }
}

/// The shifted-sum bilinear ×2 equals burn's own half-pixel bilinear resize (the exported graph's
/// ONNX `Resize` is checked against onnxruntime by the export tests), and a step between two
/// pixels becomes the ramp ¼, ¾ rather than a repeated step.
#[test]
fn bilinear_upsampling_is_half_pixel_bilinear() {
    let device = Device::flex();
    let x = randn([2, 3, 5, 4], 3, &device);
    let want = interpolate(
        x.clone(),
        InterpolateOptions::new(InterpolateMode::Bilinear)
            .with_align_corners(false)
            .with_output_size([10, 8]),
    );
    let got = upsample2(x);
    assert_eq!(got.dims(), [2, 3, 10, 8]);
    let diff: f32 = (got - want).abs().max().into_scalar();
    assert!(diff <= 1e-6, "max diff {diff}");

    let step = Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 1.0], [1, 1, 1, 2]), &device);
    let row: Vec<f32> = upsample2(step).into_data().try_into_vec_as().unwrap();
    assert_eq!(row, [0.0, 0.25, 0.75, 1.0, 0.0, 0.25, 0.75, 1.0]);
}

#[test]
fn generator_output_has_input_shape_and_discriminator_one_logit() {
    let device = Device::flex();
    let cfg = Config::tiny(Variant::No3d);
    let g = Generator::new(&cfg, 0, &device).unwrap();
    let d = Discriminator::new(&cfg, 1, &device).unwrap();
    let lq = randn([3, 3, 32, 32], 3, &device);
    let out = g.forward(lq, None, &mut Noise::Off).unwrap();
    assert_eq!(out.dims(), [3, 3, 32, 32]);
    assert_eq!(d.forward(out).dims(), [3, 1]);
}

#[test]
fn variants_check_the_render_input() {
    let device = Device::flex();
    let lq = randn([1, 3, 32, 32], 3, &device);
    let full = Generator::new(&Config::tiny(Variant::Full), 0, &device).unwrap();
    assert!(matches!(
        full.restore(lq.clone(), None),
        Err(ModelError::RenderInput { .. })
    ));
    assert_eq!(
        full.restore(lq.clone(), Some(lq.clone())).unwrap().dims(),
        [1, 3, 32, 32]
    );
    let no3d = Generator::new(&Config::tiny(Variant::No3d), 0, &device).unwrap();
    assert!(matches!(
        no3d.restore(lq.clone(), Some(lq)),
        Err(ModelError::RenderInput { .. })
    ));
}

#[test]
fn wrong_input_size_is_a_typed_error() {
    let device = Device::flex();
    let g = Generator::new(&Config::tiny(Variant::No3d), 0, &device).unwrap();
    let err = g
        .restore(randn([1, 3, 64, 64], 1, &device), None)
        .unwrap_err();
    assert!(err.to_string().contains("[N, 3, 32, 32]"), "{err}");
}

#[test]
fn presets_validate_and_unknown_names_are_rejected() {
    for name in ["tiny", "small256", "paper512"] {
        Config::preset(name, Variant::No3d)
            .unwrap()
            .validate()
            .unwrap();
    }
    assert!(Config::preset("huge", Variant::No3d).is_err());
    assert!(Variant::parse("3d").is_err());
    let mut bad = Config::tiny(Variant::No3d);
    bad.channels.pop();
    assert!(Generator::new(&bad, 0, &Device::flex()).is_err());
}

/// An input-skip generator (`Config::residual`, the small256 preset) starts as the identity:
/// before any training it returns its input, so it can only move away from the bicubic face
/// where a loss asks it to.
#[test]
fn a_new_input_skip_generator_returns_its_input() {
    let device = Device::flex();
    for variant in [Variant::No3d, Variant::Full] {
        let cfg = Config {
            residual: true,
            ..Config::tiny(variant)
        };
        let g = Generator::new(&cfg, 3, &device).unwrap();
        let lq = randn([2, 3, 32, 32], 6, &device).clamp(-1.0, 1.0);
        let render = variant
            .has_render()
            .then(|| randn([2, 3, 32, 32], 7, &device));
        let out = g.restore(lq.clone(), render).unwrap();
        let diff: f32 = (out - lq).abs().max().into_scalar();
        assert_eq!(diff, 0.0, "{variant:?}");
    }
    assert!(Config::small256(Variant::No3d).residual);
    assert!(!Config::paper512(Variant::No3d).residual);
}
