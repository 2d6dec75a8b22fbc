//! `sgpn.pth` as an ONNX generator of the element's `full` contract with the coefficient input
//! (`models/README.md`): the official `FullGenerator_SGPN` (paper Sec. 3.1, Fig. 2).
//!
//! - The shared encoder (`Enc_SGPN`) runs on the LQ face and on the rendered 3D face: a 1×1
//!   conv at 512 px, seven blurred stride-2 convs down to 4 px (features at every resolution),
//!   and a linear code `z` of 256 from the 4×4 features.
//! - The mapping network takes `[z_lq, z_3d, coefficients]` (769 values): pixel norm, three
//!   equalised linear layers (lr × 0.01) → one latent `w` for every layer.
//! - The decoder (`Generator_SGPN`): a 4×4 constant, a modulated conv whose noise input is the
//!   LQ encoder's 4×4 features (concatenated: the official `isconcat`), then per resolution two
//!   modulated convs with an AFFB each (Sec. 3.2, Eq. 7–8: mask `σ(conv1×1[F, F_lq, F_3d])`,
//!   fused `m·F_lq + (1−m)·F_3d`, concatenated to the conv output × the noise weight), and a
//!   toRGB summed onto the upsampled skip image. The output is clipped to [-1, 1] as the
//!   official inference does.

use sgpn_models::contract::{INPUT_COEFFS, INPUT_LQ, INPUT_RENDER, OUTPUT_RESTORED};
use sgpn_models::onnx::{Dim, ElemType};

use super::checkpoint::CheckpointError;
use super::layers::Layers;
use super::spec::{
    CODE_DIM, COEFFICIENTS, MAPPING_IN, MAPPING_LAYERS, MAPPING_LR_MUL, SIZE, STYLE_DIM, channels,
    decoder_resolutions,
};

type Result<T> = std::result::Result<T, CheckpointError>;

/// Declares the inputs and output and builds the whole network into `l`.
pub fn build(l: &mut Layers) -> Result<()> {
    let n = Dim::Named("N".into());
    let s = Dim::Fixed(SIZE as i64);
    let image = [n.clone(), Dim::Fixed(3), s.clone(), s];
    l.g.builder.input(INPUT_LQ, ElemType::F32, &image);
    l.g.builder.input(INPUT_RENDER, ElemType::F32, &image);
    l.g.builder.input(
        INPUT_COEFFS,
        ElemType::F32,
        &[n, Dim::Fixed(COEFFICIENTS as i64)],
    );
    l.g.builder.output(OUTPUT_RESTORED, ElemType::F32, &image);

    let (z_lq, f_lq) = encoder(l, INPUT_LQ)?;
    let (z_3d, f_3d) = encoder(l, INPUT_RENDER)?;
    let z = l.g.concat(&[&z_lq, &z_3d, INPUT_COEFFS], 1, "z_concat");
    let w = mapping(l, &z)?;
    let image = decoder(l, &w, &f_lq, &f_3d)?;
    let lo = l.g.scalar("clip_min", -1.0);
    let hi = l.g.scalar("clip_max", 1.0);
    l.g.builder
        .node("Clip", &[&image, &lo, &hi], &[OUTPUT_RESTORED], vec![]);
    Ok(())
}

/// `Enc_SGPN`: the code `z` and the features from 4 px up to 512 px (index 0 is 4 px).
fn encoder(l: &mut Layers, image: &str) -> Result<(String, Vec<String>)> {
    let mut x = l.equal_conv(
        image,
        "netE.ecd0.0.0.weight",
        None,
        (3, channels(SIZE), 1),
        1,
        0,
    )?;
    x = l.fused_lrelu(&x, "netE.ecd0.0.1.bias", 1.0, channels(SIZE), 4)?;
    let mut features = vec![x.clone()];
    let mut r = SIZE;
    let mut i = 1;
    while r > 4 {
        let (cin, cout) = (channels(r), channels(r / 2));
        let p = format!("netE.ecd{i}.0");
        // ConvLayer(downsample): blur with pad (2, 2) for the 3×3 kernel, conv stride 2.
        let blurred = l.blur(&x, &format!("{p}.0.kernel"), 1.0, cin, (2, 2))?;
        x = l.equal_conv(
            &blurred,
            &format!("{p}.1.weight"),
            None,
            (cin, cout, 3),
            2,
            0,
        )?;
        x = l.fused_lrelu(&x, &format!("{p}.2.bias"), 1.0, cout, 4)?;
        features.push(x.clone());
        r /= 2;
        i += 1;
    }
    features.reverse();
    let flat = l.g.op(
        "Flatten",
        &[&x],
        &format!("{image}/flat"),
        vec![sgpn_models::onnx::Attribute::int("axis", 1)],
    );
    let z = l.equal_linear(
        &flat,
        "netE.final_linear.0",
        (channels(4) * 16, CODE_DIM),
        1.0,
        true,
    )?;
    Ok((z, features))
}

/// Pixel norm and the equalised MLP: the latent `w` shared by every decoder layer.
fn mapping(l: &mut Layers, z: &str) -> Result<String> {
    let mut w = l.pixel_norm(z);
    for layer in 1..=MAPPING_LAYERS {
        let cin = if layer == 1 { MAPPING_IN } else { STYLE_DIM };
        w = l.equal_linear(
            &w,
            &format!("netG.mlp.{layer}"),
            (cin, STYLE_DIM),
            MAPPING_LR_MUL,
            true,
        )?;
    }
    Ok(w)
}

fn decoder(l: &mut Layers, w: &str, f_lq: &[String], f_3d: &[String]) -> Result<String> {
    let c4 = channels(4);
    // The constant, repeated over the batch: broadcast against zeros shaped like the 4×4
    // features of the batch.
    let constant = l.weight("netG.input.input", 1.0, &[1, c4 as i64, 4, 4])?;
    let zero = l.g.scalar("zero", 0.0);
    let zeros = l.g.mul(&f_lq[0], &zero, "const/zeros");
    let x = l.g.add(&zeros, &constant, "const");
    let y = l.modulated_conv("netG.conv1.conv", &x, w, (c4, c4, 3), true, false)?;
    let mut x = noise_concat(l, "netG.conv1", &y, &f_lq[0])?;
    x = l.fused_lrelu(&x, "netG.conv1.activate.bias", 1.0, 2 * c4, 4)?;
    let mut skip = to_rgb(l, "netG.to_rgb1", &x, w, 2 * c4)?;
    let mut cin = c4;
    for (block, r) in decoder_resolutions().enumerate() {
        let cout = channels(r);
        let res = block + 1;
        x = affb_conv(
            l,
            2 * block,
            &x,
            w,
            (2 * cin, cout),
            true,
            (&f_lq[res], &f_3d[res]),
        )?;
        x = affb_conv(
            l,
            2 * block + 1,
            &x,
            w,
            (2 * cout, cout),
            false,
            (&f_lq[res], &f_3d[res]),
        )?;
        let p = format!("netG.to_rgbs.{block}");
        let rgb = to_rgb(l, &p, &x, w, 2 * cout)?;
        let up = l.upsample(&skip, &format!("{p}.upsample.kernel"), 3)?;
        skip = l.g.add(&rgb, &up, &format!("{p}/skip"));
        cin = cout;
    }
    Ok(skip)
}

/// The official `NoiseInjection` with `isconcat`: `concat(x, weight · noise)` along channels.
fn noise_concat(l: &mut Layers, prefix: &str, x: &str, noise: &str) -> Result<String> {
    let weight = l.weight(&format!("{prefix}.noise.weight"), 1.0, &[1])?;
    let scaled = l.g.mul(noise, &weight, &format!("{prefix}/noise"));
    Ok(l.g.concat(&[x, &scaled], 1, &format!("{prefix}/concat")))
}

/// `StyledConv_AFFB`: modulated conv, the AFFB mask and fusion, the concatenation, the
/// activation.
fn affb_conv(
    l: &mut Layers,
    index: usize,
    x: &str,
    w: &str,
    (cin, cout): (usize, usize),
    upsample: bool,
    (f_lq, f_3d): (&str, &str),
) -> Result<String> {
    let p = format!("netG.convs.{index}");
    let y = l.modulated_conv(&format!("{p}.conv"), x, w, (cin, cout, 3), true, upsample)?;
    let cat = l.g.concat(&[&y, f_lq, f_3d], 1, &format!("{p}/affb_in"));
    let logits = l.equal_conv(
        &cat,
        &format!("{p}.convs_mask.0.weight"),
        Some(&format!("{p}.convs_mask.0.bias")),
        (3 * cout, cout, 1),
        1,
        0,
    )?;
    let mask = l.g.op("Sigmoid", &[&logits], &format!("{p}/mask"), vec![]);
    // m·F_lq + (1 − m)·F_3d = F_3d + m·(F_lq − F_3d).
    let diff = l.g.sub(f_lq, f_3d, &format!("{p}/lq_minus_3d"));
    let masked = l.g.mul(&mask, &diff, &format!("{p}/masked"));
    let fused = l.g.add(f_3d, &masked, &format!("{p}/fused"));
    let x = noise_concat(l, &p, &y, &fused)?;
    l.fused_lrelu(&x, &format!("{p}.activate.bias"), 1.0, 2 * cout, 4)
}

/// `ToRGB`: a 1×1 modulated conv without demodulation, plus a bias.
fn to_rgb(l: &mut Layers, prefix: &str, x: &str, w: &str, cin: usize) -> Result<String> {
    let y = l.modulated_conv(&format!("{prefix}.conv"), x, w, (cin, 3, 1), false, false)?;
    let b = l.weight(&format!("{prefix}.bias"), 1.0, &[1, 3, 1, 1])?;
    Ok(l.g.add(&y, &b, &format!("{prefix}/rgb")))
}
