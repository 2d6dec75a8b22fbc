//! The loss curve: `losses.csv` (every step) and `losses.png`, a plot of the moving averages
//! drawn straight into an `image` buffer (red: L1, blue: generator adversarial loss, green:
//! discriminator loss; one shared y axis from 0 to the largest average, grid at quarters).

use std::path::Path;

use anyhow::Context;
use image::{Rgb, RgbImage};

use super::trainer::StepLosses;

const WIDTH: u32 = 800;
const HEIGHT: u32 = 400;
const MARGIN: u32 = 20;

fn moving_average(v: &[f32], window: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(v.len());
    let mut acc = 0.0f64;
    for i in 0..v.len() {
        acc += v[i] as f64;
        if i >= window {
            acc -= v[i - window] as f64;
        }
        out.push((acc / (i + 1).min(window) as f64) as f32);
    }
    out
}

pub fn write_csv(history: &[StepLosses], path: &Path) -> anyhow::Result<()> {
    let mut s = String::from("step,l1,g_adv,d_loss,r1,identity\n");
    let optional = |v: Option<f32>| v.map(|v| v.to_string()).unwrap_or_default();
    for h in history {
        s.push_str(&format!(
            "{},{},{},{},{},{}\n",
            h.step,
            h.l1,
            h.g_adv,
            h.d_loss,
            optional(h.r1),
            optional(h.identity)
        ));
    }
    std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))
}

pub fn write_png(history: &[StepLosses], path: &Path) -> anyhow::Result<()> {
    let mut img = RgbImage::from_pixel(WIDTH, HEIGHT, Rgb([255, 255, 255]));
    let (x0, x1, y0, y1) = (MARGIN, WIDTH - MARGIN, MARGIN, HEIGHT - MARGIN);
    for q in 0..=4 {
        let y = y1 - (y1 - y0) * q / 4;
        for x in x0..=x1 {
            img.put_pixel(x, y, Rgb([220, 220, 220]));
        }
    }
    for y in y0..=y1 {
        img.put_pixel(x0, y, Rgb([120, 120, 120]));
    }
    if history.len() >= 2 {
        let window = (history.len() / 50).max(1);
        let series = [
            (
                history.iter().map(|h| h.l1).collect::<Vec<_>>(),
                Rgb([220, 30, 30]),
            ),
            (
                history.iter().map(|h| h.g_adv).collect(),
                Rgb([30, 60, 220]),
            ),
            (
                history.iter().map(|h| h.d_loss).collect(),
                Rgb([30, 160, 60]),
            ),
        ];
        let smoothed: Vec<(Vec<f32>, Rgb<u8>)> = series
            .into_iter()
            .map(|(v, c)| (moving_average(&v, window), c))
            .collect();
        let top = smoothed
            .iter()
            .flat_map(|(v, _)| v.iter().copied())
            .filter(|v| v.is_finite())
            .fold(1e-6f32, f32::max);
        let n = history.len() - 1;
        for (v, colour) in &smoothed {
            let mut prev: Option<(i64, i64)> = None;
            for (i, &val) in v.iter().enumerate() {
                if !val.is_finite() {
                    continue;
                }
                let x = x0 as i64 + ((x1 - x0) as usize * i / n) as i64;
                let y = y1 as i64 - ((val.max(0.0) / top) * (y1 - y0) as f32) as i64;
                if let Some((px, py)) = prev {
                    draw_line(&mut img, (px, py), (x, y), *colour);
                }
                prev = Some((x, y));
            }
        }
    }
    img.save(path)
        .with_context(|| format!("writing loss curve {}", path.display()))
}

fn draw_line(img: &mut RgbImage, a: (i64, i64), b: (i64, i64), c: Rgb<u8>) {
    let steps = (b.0 - a.0).abs().max((b.1 - a.1).abs()).max(1);
    for k in 0..=steps {
        let x = a.0 + (b.0 - a.0) * k / steps;
        let y = a.1 + (b.1 - a.1) * k / steps;
        if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
            img.put_pixel(x as u32, y as u32, c);
        }
    }
}
