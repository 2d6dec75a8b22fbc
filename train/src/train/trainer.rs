//! One GAN training step and the trainer state a checkpoint holds (paper Sec. 3.3 / 4.1,
//! StyleGAN2 training schedule).
//!
//! Per step: the generator minimises `λ_rec·L1 + λ_adv·softplus(−D(G(lq)))`; the discriminator
//! minimises `softplus(D(G(lq))) + softplus(−D(hq))`, plus every `r1_every` steps the lazy R1
//! penalty `γ/2 · R1 · r1_every` (see [`super::losses`]). Adam with lr 0.002 (paper) and
//! StyleGAN2's betas (0, 0.99), ε 1e-8; D's lr and betas get StyleGAN2's lazy-regularisation
//! correction `c = r1_every / (r1_every + 1)`.
//!
//! After every generator update an exponential moving average of G's weights is kept, as
//! StyleGAN2 (Karras et al. 2020, `G_ema`, `ema_kimg = 10`) and GFPGAN (`net_g_ema`) evaluate and
//! ship: `ema = β·ema + (1−β)·G` with StyleGAN2's half-life form `β = 0.5^(batch / half-life)`.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::losses;
use super::shape::ShapeTeacher;
use super::source::PairBatch;
use crate::data::degrade::TrainingDegradation;
use crate::identity::{IdentityNet, identity_loss};
use crate::model::init::normal_vec;
use crate::model::regressor::ShapeRegressor;
use crate::model::{Config, Discriminator, Generator, Noise};

/// Training hyper-parameters (saved with every checkpoint).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub batch: usize,
    pub lr: f64,
    pub beta1: f32,
    pub beta2: f32,
    /// Weight of the L1 reconstruction loss (paper: 1).
    pub l1_weight: f64,
    /// Weight of the adversarial loss (paper: 1); 0 trains the generator with L1 alone.
    pub adv_weight: f64,
    /// R1 weight γ.
    pub r1_gamma: f64,
    /// Lazy regularisation interval (StyleGAN2: 16).
    pub r1_every: u64,
    /// Seed of the initial weights and of the noise stream.
    pub seed: u64,
    /// Half-life of the generator EMA in training images (StyleGAN2: `ema_kimg = 10`, i.e.
    /// 10,000); 0 disables the average (the EMA then equals G). Checkpoints written before this
    /// field existed get the default.
    #[serde(default = "default_ema_half_life_images")]
    pub ema_half_life_images: u64,
    /// The degradations of the training pairs (checkpoints from before the field: the paper's).
    #[serde(default)]
    pub degradation: TrainingDegradation,
    /// The reconstruction loss is [`losses::input_relative_l1`] (each face's L1 over its input's)
    /// instead of the plain L1, so mildly degraded faces weigh as much as heavy ones.
    #[serde(default)]
    pub relative_l1: bool,
    /// Weight of the identity loss ([`crate::identity::identity_loss`]: `1 − cos` of dlib's face
    /// descriptors of the restored and the HQ face); 0 trains without it. It asks the network to
    /// restore what makes a face that person's, which no pixel loss weighs as such.
    #[serde(default)]
    pub identity_weight: f64,
}

/// StyleGAN2's `ema_kimg = 10`.
pub const DEFAULT_EMA_HALF_LIFE_IMAGES: u64 = 10_000;

fn default_ema_half_life_images() -> u64 {
    DEFAULT_EMA_HALF_LIFE_IMAGES
}

/// `0 → 1` linearly over `steps` steps from `start`; 1 without a ramp (`steps` 0).
pub fn linear_ramp(step: u64, start: u64, steps: u64) -> f64 {
    if steps == 0 {
        return 1.0;
    }
    (step.saturating_sub(start) as f64 / steps as f64).min(1.0)
}

impl TrainConfig {
    /// Checks every field's range, so a bad value fails at once, naming the field, rather than
    /// as NaN losses or a panic steps later. [`Trainer::new`] (and so every checkpoint load) and
    /// [`Trainer::step`] call it, the CLI too after its overrides.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.batch >= 1, "batch must hold at least one pair, got 0");
        for (name, value) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            anyhow::ensure!(
                (0.0..1.0).contains(&value),
                "{name} is an Adam decay rate in [0, 1), got {value}"
            );
        }
        // A learning rate of 0 freezes its network (a D-only phase, say).
        for (name, value) in [
            ("lr", self.lr),
            ("l1_weight", self.l1_weight),
            ("adv_weight", self.adv_weight),
            ("r1_gamma", self.r1_gamma),
            ("identity_weight", self.identity_weight),
        ] {
            anyhow::ensure!(
                value.is_finite() && value >= 0.0,
                "{name} must be finite and not negative, got {value}"
            );
        }
        Ok(())
    }

    /// The EMA decay per generator step, `β = 0.5^(batch / half-life)` (StyleGAN2's
    /// `ema_beta = 0.5 ** (batch_size / (ema_kimg * 1000))`); 0 when the EMA is disabled.
    pub fn ema_beta(&self) -> f64 {
        if self.ema_half_life_images == 0 {
            0.0
        } else {
            0.5f64.powf(self.batch as f64 / self.ema_half_life_images as f64)
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            batch: 4,
            lr: 0.002,
            beta1: 0.0,
            beta2: 0.99,
            l1_weight: 1.0,
            adv_weight: 1.0,
            r1_gamma: 10.0,
            r1_every: 16,
            seed: 0,
            ema_half_life_images: DEFAULT_EMA_HALF_LIFE_IMAGES,
            degradation: TrainingDegradation::Paper,
            relative_l1: false,
            identity_weight: 0.0,
        }
    }
}

/// Losses of one step (R1 only on regularisation steps; L_lm and L_mesh only for the full
/// variant).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepLosses {
    pub step: u64,
    pub l1: f32,
    pub g_adv: f32,
    pub d_loss: f32,
    pub r1: Option<f32>,
    #[serde(default)]
    pub lm: Option<f32>,
    #[serde(default)]
    pub mesh: Option<f32>,
    #[serde(default)]
    pub identity: Option<f32>,
}

/// Settings of the full variant's shape branch (saved with every checkpoint).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShapeSettings {
    /// The 3DMM file; its SHA-256 is checked on resume.
    pub morphable: std::path::PathBuf,
    pub morphable_sha256: String,
    /// λ_lm (paper: 100).
    pub lm_weight: f64,
    /// λ_mesh (paper: 100).
    pub mesh_weight: f64,
    /// Weight of `L_mesh`'s shape term (`MeshTargets::distance`); runs from before the
    /// option used the plain sum, 1.
    #[serde(default = "super::shape::plain_sum_shape_weight")]
    pub mesh_shape_weight: f32,
    /// Adam learning rate of the jointly trained regressor.
    pub lr: f64,
    /// The fade-in of a warm-started run: the 3D branch's features enter the generator with
    /// weight `(step − start) / steps`, rising from 0 (the variant-A network it was copied from)
    /// to 1 (the paper's network). `steps` 0: no fade (a run from scratch).
    #[serde(default)]
    pub fade_in_start: u64,
    #[serde(default)]
    pub fade_in_steps: u64,
}

impl ShapeSettings {
    /// The weight of the 3D prior at `step` (see [`Self::fade_in_steps`]).
    pub fn prior_weight(&self, step: u64) -> f64 {
        linear_ramp(step, self.fade_in_start, self.fade_in_steps)
    }
}

/// The full variant's shape branch in a run: the regressor trained jointly with the generator
/// (batch norm on its running statistics, weights trainable), its frozen copy for `L_lm`, the
/// teacher and the regressor's optimizer.
pub struct ShapeState {
    pub settings: ShapeSettings,
    pub teacher: ShapeTeacher,
    pub regressor: ShapeRegressor,
    pub frozen: ShapeRegressor,
    pub optim: ModuleOptimizer,
}

impl ShapeState {
    /// Joint training starts from a regressor fitted to the teacher (`sgpn-train
    /// fit-regressor`); the frozen copy for `L_lm` is that fit.
    pub fn new(settings: ShapeSettings, teacher: ShapeTeacher, fitted: ShapeRegressor) -> Self {
        Self {
            settings,
            teacher,
            regressor: fitted.clone().freeze().set_require_grad(true),
            frozen: fitted.freeze(),
            optim: AdamConfig::new().init(),
        }
    }
}

pub struct Trainer {
    pub train: TrainConfig,
    pub generator: Generator,
    /// The exponential moving average of [`Self::generator`]'s weights, kept without autodiff
    /// (plain tensors, no graph): the network to evaluate and export.
    pub generator_ema: Generator,
    pub discriminator: Discriminator,
    pub g_optim: ModuleOptimizer,
    pub d_optim: ModuleOptimizer,
    /// Steps completed.
    pub step: u64,
    /// Noise for StyleConvs and R1 directions.
    pub rng: ChaCha8Rng,
    pub history: Vec<StepLosses>,
    pub device: Device,
    /// The shape branch; present exactly for the full variant.
    pub shape: Option<ShapeState>,
    /// dlib's face-recognition network, frozen, loaded at the first step with
    /// [`TrainConfig::identity_weight`] above 0.
    pub identity: Option<IdentityNet>,
}

fn lazy_factor(train: &TrainConfig) -> f64 {
    if train.adv_weight > 0.0 && train.r1_every > 0 {
        train.r1_every as f64 / (train.r1_every as f64 + 1.0)
    } else {
        1.0
    }
}

pub(crate) fn optimizers(train: &TrainConfig) -> (ModuleOptimizer, ModuleOptimizer) {
    let g = AdamConfig::new()
        .with_beta_1(train.beta1)
        .with_beta_2(train.beta2)
        .with_epsilon(1e-8)
        .init();
    let c = lazy_factor(train);
    let d = AdamConfig::new()
        .with_beta_1(train.beta1.powf(c as f32))
        .with_beta_2(train.beta2.powf(c as f32))
        .with_epsilon(1e-8)
        .init();
    (g, d)
}

impl Trainer {
    /// Fresh networks on `device` (which should have autodiff enabled).
    pub fn new(model: Config, train: TrainConfig, device: &Device) -> anyhow::Result<Self> {
        train.validate()?;
        let generator = Generator::new(&model, train.seed, device)?;
        let generator_ema = generator.valid();
        let discriminator = Discriminator::new(&model, train.seed.wrapping_add(1), device)?;
        let (g_optim, d_optim) = optimizers(&train);
        let mut rng = ChaCha8Rng::seed_from_u64(train.seed);
        rng.set_stream(1);
        Ok(Self {
            train,
            generator,
            generator_ema,
            discriminator,
            g_optim,
            d_optim,
            step: 0,
            rng,
            history: Vec::new(),
            device: device.clone(),
            shape: None,
            identity: None,
        })
    }

    /// Switches Adam's β1 for both networks (the discriminator's with its lazy-regularisation
    /// correction), keeping each optimizer's moments.
    pub fn set_beta1(&mut self, beta1: f32) {
        self.train.beta1 = beta1;
        let (g, d) = optimizers(&self.train);
        self.g_optim = g.load_record(self.g_optim.to_record());
        self.d_optim = d.load_record(self.d_optim.to_record());
    }

    /// The run's model configuration (both networks'): the generator's own copy, the one
    /// checkpoints save.
    pub fn model(&self) -> &Config {
        &self.generator.config
    }

    fn is_r1_step(&self, step: u64) -> bool {
        self.train.r1_every > 0 && step.is_multiple_of(self.train.r1_every)
    }

    /// One discriminator update: logistic loss on real and restored faces, plus the lazy R1
    /// penalty when `step` is a multiple of `r1_every`. Returns the D loss and the R1 value when computed.
    fn discriminator_update(
        &mut self,
        hq: Tensor<4>,
        fake: Tensor<4>,
        step: u64,
    ) -> anyhow::Result<(f32, Option<f32>)> {
        let real_logits = self.discriminator.forward(hq.clone());
        let fake_logits = self.discriminator.forward(fake);
        let mut d_loss = losses::d_logistic(fake_logits, real_logits.clone());
        let d_value = scalar(&d_loss);
        let mut r1_value = None;
        if self.is_r1_step(step) {
            let [n, c, h, w] = hq.dims();
            let v = Tensor::from_data(
                TensorData::new(normal_vec(&mut self.rng, n * c * h * w), [n, c, h, w]),
                &self.device,
            );
            let perturbed = self
                .discriminator
                .forward(hq + v.mul_scalar(losses::R1_FD_STEP));
            let r1 = losses::r1_finite_difference(perturbed, real_logits);
            r1_value = Some(scalar(&r1));
            let weight = self.train.r1_gamma / 2.0 * self.train.r1_every as f64;
            d_loss = d_loss + r1.mul_scalar(weight);
        }
        let mut grads = d_loss.backward();
        let d_grads = GradientsParams::from_module(&mut grads, &self.discriminator);
        let d_lr = self.train.lr * lazy_factor(&self.train);
        self.discriminator = self.d_optim.step(d_lr, self.discriminator.clone(), d_grads);
        Ok((d_value, r1_value))
    }

    /// One generator and one discriminator update on `batch`.
    pub fn step(&mut self, batch: &PairBatch) -> anyhow::Result<StepLosses> {
        self.train.validate()?;
        batch.validate()?;
        anyhow::ensure!(
            batch.size == self.model().size,
            "pair batch is {} px but the model is {} px",
            batch.size,
            self.model().size
        );
        let hq = batch.hq_tensor(&self.device);
        let lq = batch.lq_tensor(&self.device);
        let adv = self.train.adv_weight > 0.0;
        anyhow::ensure!(
            self.model().variant.has_render() == self.shape.is_some(),
            "the {} variant {} a shape branch",
            self.model().variant.as_str(),
            if self.shape.is_some() {
                "has no use for"
            } else {
                "needs"
            }
        );

        // Shape branch (full variant): regress, reconstruct, render I_3d; L_mesh for the
        // regressor (Eq. 14).
        let (mut shape_loss, mut mesh_value) = (None, None);
        let prior_weight = self
            .shape
            .as_ref()
            .map_or(1.0, |s| s.settings.prior_weight(self.step));
        let render = match &self.shape {
            Some(s) => {
                let branch = &s.teacher.branch;
                let faces = branch
                    .morphable
                    .reconstruct(branch.regress(&s.regressor, lq.clone())?);
                let mesh = branch.mesh_targets(&faces)?.distance(
                    &s.teacher.targets(&batch.origins)?,
                    s.settings.mesh_shape_weight,
                );
                mesh_value = Some(scalar(&mesh));
                shape_loss = Some(mesh.mul_scalar(s.settings.mesh_weight));
                Some(branch.render_input(&faces)?)
            }
            None => None,
        };

        // Generator.
        let lq_for_loss = lq.clone();
        let fake = self.generator.forward_with_prior_weight(
            lq,
            render,
            prior_weight,
            &mut Noise::Random(&mut self.rng),
        )?;
        let fake_detached = fake.clone().detach();
        let l1 = losses::l1(fake.clone(), hq.clone());
        let reconstruction = if self.train.relative_l1 {
            losses::input_relative_l1(fake.clone(), hq.clone(), lq_for_loss)
        } else {
            l1.clone()
        };
        let mut g_loss = reconstruction.mul_scalar(self.train.l1_weight);
        let mut lm_value = None;
        if let Some(s) = &self.shape {
            // L_lm (Eq. 13): landmarks of the restored face against the HQ face's, both seen
            // by the frozen regressor.
            let lm = s
                .teacher
                .branch
                .landmark_loss(&s.frozen, fake.clone(), hq.clone())?;
            lm_value = Some(scalar(&lm));
            g_loss = g_loss + lm.mul_scalar(s.settings.lm_weight);
        }
        let mut identity_value = None;
        if self.train.identity_weight > 0.0 {
            let net = self.identity_net()?;
            let id = identity_loss(net, fake.clone(), hq.clone());
            identity_value = Some(scalar(&id));
            g_loss = g_loss + id.mul_scalar(self.train.identity_weight);
        }
        let mut g_adv_value = 0.0;
        if adv {
            // D's weights need no gradient here: a frozen copy saves their backward pass.
            let frozen_d = self.discriminator.clone().no_grad();
            let g_adv = losses::g_nonsaturating(frozen_d.forward(fake));
            g_adv_value = scalar(&g_adv);
            g_loss = g_loss + g_adv.mul_scalar(self.train.adv_weight);
        }
        let l1_value = scalar(&l1);
        // One backward pass: the generator's losses also reach the regressor through the
        // render (joint training, paper Sec. 3.3).
        let total = match shape_loss {
            Some(mesh) => g_loss + mesh,
            None => g_loss,
        };
        let mut grads = total.backward();
        let g_grads = GradientsParams::from_module(&mut grads, &self.generator);
        if let Some(s) = &mut self.shape {
            let r_grads = GradientsParams::from_module(&mut grads, &s.regressor);
            s.regressor = s.optim.step(s.settings.lr, s.regressor.clone(), r_grads);
        }
        self.generator = self
            .g_optim
            .step(self.train.lr, self.generator.clone(), g_grads);
        // Weights from before the fade-in ends were trained for a weaker prior than the
        // exported network (weight 1) gets: until then the average is G itself (β = 0).
        let ema_beta = if prior_weight < 1.0 {
            0.0
        } else {
            self.train.ema_beta()
        };
        self.update_generator_ema(ema_beta)?;

        let (d_value, r1_value) = if adv {
            self.discriminator_update(hq, fake_detached, self.step)?
        } else {
            (0.0, None)
        };

        let losses = StepLosses {
            step: self.step,
            l1: l1_value,
            g_adv: g_adv_value,
            d_loss: d_value,
            r1: r1_value,
            lm: lm_value,
            mesh: mesh_value,
            identity: identity_value,
        };
        self.step += 1;
        self.history.push(losses);
        Ok(losses)
    }

    /// The identity loss's network, read from [`crate::identity::default_model_path`] on first
    /// use (`scripts/setup-train.sh` fetches it).
    fn identity_net(&mut self) -> anyhow::Result<&IdentityNet> {
        let net = match self.identity.take() {
            Some(net) => net,
            None => IdentityNet::load(&crate::identity::default_model_path(), &self.device)
                .map_err(|e| {
                    anyhow::anyhow!(
                        "the identity loss needs dlib's face-recognition network ({e}); \
                         run ./scripts/setup-train.sh"
                    )
                })?,
        };
        Ok(self.identity.insert(net))
    }

    /// `ema = β·ema + (1−β)·G` for every float parameter (`β` from [`TrainConfig::ema_beta`]
    /// outside a fade-in); with `β` = 0 the average becomes a copy of G.
    fn update_generator_ema(&mut self, beta: f64) -> anyhow::Result<()> {
        if beta == 0.0 {
            self.generator_ema = self.generator.valid();
            return Ok(());
        }
        let mut current = FloatParams(Vec::new());
        self.generator.visit(&mut current);
        let mut blend = Blend {
            beta,
            current: current.0.into_iter(),
            error: None,
        };
        let ema = self.generator_ema.clone().map(&mut blend);
        if let Some(e) = blend.error {
            anyhow::bail!("generator EMA update: {e}");
        }
        if blend.current.next().is_some() {
            anyhow::bail!("generator EMA update: the generator has more parameters than its EMA");
        }
        self.generator_ema = ema;
        Ok(())
    }
}

/// Every float parameter's value, without autodiff, flattened, in module order.
pub(crate) struct FloatParams(pub Vec<(Vec<usize>, Tensor<1>)>);

impl ModuleVisitor for FloatParams {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val().without_autodiff();
        let shape = t.dims().to_vec();
        let n: usize = shape.iter().product();
        self.0.push((shape, t.reshape([n])));
    }
}

/// Maps each EMA parameter to `β·ema + (1−β)·g`, taking `g` in module order from `current`.
/// A structural mismatch is recorded (mappers cannot fail) and the parameter left unchanged.
struct Blend {
    beta: f64,
    current: std::vec::IntoIter<(Vec<usize>, Tensor<1>)>,
    error: Option<String>,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some((shape, g)) = self.current.next() else {
            self.error
                .get_or_insert_with(|| "the EMA has more parameters than the generator".into());
            return param;
        };
        let dims = param.dims();
        if shape != dims {
            self.error.get_or_insert_with(|| {
                format!(
                    "parameter of shape {dims:?} meets a generator parameter of shape {shape:?}"
                )
            });
            return param;
        }
        let beta = self.beta;
        param.map(|ema| ema.mul_scalar(beta) + g.reshape(dims).mul_scalar(1.0 - beta))
    }
}

/// The value of a one-element loss tensor (NaN if it cannot be read).
pub(crate) fn scalar(t: &Tensor<1>) -> f32 {
    t.clone()
        .into_data()
        .try_into_vec_as::<f32>()
        .map(|v| v[0])
        .unwrap_or(f32::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_config_ranges_are_checked_by_name() {
        TrainConfig::default().validate().unwrap();
        type Spoil = fn(&mut TrainConfig);
        let bad: [(&str, Spoil); 7] = [
            ("batch", |t| t.batch = 0),
            ("lr", |t| t.lr = f64::NAN),
            ("beta1", |t| t.beta1 = 1.0),
            ("beta2", |t| t.beta2 = -0.1),
            ("l1_weight", |t| t.l1_weight = f64::INFINITY),
            ("adv_weight", |t| t.adv_weight = -1.0),
            ("r1_gamma", |t| t.r1_gamma = f64::NAN),
        ];
        for (field, spoil) in bad {
            let mut t = TrainConfig::default();
            spoil(&mut t);
            let error = t.validate().expect_err(field).to_string();
            assert!(error.starts_with(field), "{field}: {error}");
        }
    }

    fn settings(start: u64, steps: u64) -> ShapeSettings {
        ShapeSettings {
            morphable: "m.safetensors".into(),
            morphable_sha256: String::new(),
            lm_weight: 100.0,
            mesh_weight: 100.0,
            mesh_shape_weight: 10.0,
            lr: 1e-4,
            fade_in_start: start,
            fade_in_steps: steps,
        }
    }

    /// The prior fades in linearly from the warm start and stays at 1; a run without a fade
    /// (or a checkpoint written before the fields existed) has it at 1 throughout.
    #[test]
    fn the_prior_fades_in_from_the_warm_start() {
        let s = settings(2100, 100);
        assert_eq!(s.prior_weight(2100), 0.0);
        assert_eq!(s.prior_weight(2125), 0.25);
        assert_eq!(s.prior_weight(2200), 1.0);
        assert_eq!(s.prior_weight(9000), 1.0);
        assert_eq!(settings(0, 0).prior_weight(0), 1.0);
        let old: ShapeSettings = serde_json::from_str(
            r#"{"morphable":"m","morphable_sha256":"","lm_weight":1,"mesh_weight":1,"lr":1e-4}"#,
        )
        .unwrap();
        assert_eq!(old.prior_weight(5), 1.0);
    }
}
