//! `sgpn-train`: data preparation, training, ONNX export, evaluation and benchmarks.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sgpn-train",
    about = "Train, export and evaluate SGPN face restorers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train (or resume) a generator/discriminator pair.
    Train(Box<sgpn_train::train::cli::TrainArgs>),
    /// Write a generator to ONNX.
    Export(sgpn_train::export::cli::ExportArgs),
    /// Write a shape regressor to ONNX, stamped with its 3DMM's SHA-256.
    ExportRegressor(sgpn_train::export::regressor_cli::ExportRegressorArgs),
    /// Time training steps and ONNX Runtime forward passes.
    Bench(sgpn_train::train::bench::BenchArgs),
    /// Detect, align and cache training face crops.
    Prepare(sgpn_train::data::cli::PrepareArgs),
    /// Write a PNG grid of HQ | LQ pairs made by the training degradation.
    DegradeGrid(sgpn_train::data::cli::DegradeGridArgs),
    /// Remove a generator's measured colour shift with an offset at its output.
    CalibrateColour(sgpn_train::calibrate::cli::CalibrateColourArgs),
    /// Fit the per-face change gate on training faces and fold it into a generator.
    FitGate(sgpn_train::gate::cli::FitGateArgs),
    /// Score a generator on held-out faces against the bicubic baseline.
    Eval(sgpn_train::eval::cli::EvalArgs),
    /// A PNG grid LQ | variant A | full | rendered 3D | HQ on evaluation faces.
    CompareGrid(sgpn_train::eval::compare::CompareGridArgs),
    /// A PNG grid input | restored on real degraded photos (no ground truth).
    RealGrid(sgpn_train::eval::real::RealGridArgs),
    /// Fit the shape regressor to the teacher (before full-variant training).
    FitRegressor(sgpn_train::train::regressor_fit::FitRegressorArgs),
    /// Score a fitted regressor term by term of L_mesh against the average teacher face.
    RegressorCheck(sgpn_train::train::regressor_check::RegressorCheckArgs),
    /// Build the default 3D morphable model from the landmarker's meshes of prepared crops.
    MorphableBuild(sgpn_train::morphable::cli::BuildArgs),
    /// Fit every prepared crop's 3DMM coefficients and cache them (the mesh losses' teacher).
    TeacherFit(sgpn_train::morphable::cli::TeacherArgs),
    /// Import the official SGPN checkpoints (sgpn.pth, d3dfr_finetune_ours.pth) as ONNX models.
    ImportOfficial(sgpn_train::official::cli::ImportOfficialArgs),
    /// Write test checkpoints in the official format (a pattern, not weights).
    OfficialFixture(sgpn_train::official::cli::OfficialFixtureArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Train(args) => sgpn_train::train::cli::train(*args),
        Command::Export(args) => sgpn_train::export::cli::export(args),
        Command::ExportRegressor(args) => sgpn_train::export::regressor_cli::export(args),
        Command::Bench(args) => sgpn_train::train::bench::bench(args),
        Command::Prepare(args) => sgpn_train::data::cli::prepare(args),
        Command::DegradeGrid(args) => sgpn_train::data::cli::degrade_grid(args),
        Command::CalibrateColour(args) => sgpn_train::calibrate::cli::calibrate_colour(args),
        Command::FitGate(args) => sgpn_train::gate::cli::fit_gate_cmd(args),
        Command::Eval(args) => sgpn_train::eval::cli::eval(args),
        Command::CompareGrid(args) => sgpn_train::eval::compare::compare_grid(args),
        Command::RealGrid(args) => sgpn_train::eval::real::real_grid(args),
        Command::FitRegressor(args) => sgpn_train::train::regressor_fit::fit_regressor(args),
        Command::RegressorCheck(args) => sgpn_train::train::regressor_check::regressor_check(args),
        Command::MorphableBuild(args) => sgpn_train::morphable::cli::build(args),
        Command::TeacherFit(args) => sgpn_train::morphable::cli::teacher_fit(args),
        Command::ImportOfficial(args) => sgpn_train::official::cli::import_official(args),
        Command::OfficialFixture(args) => sgpn_train::official::cli::official_fixture(args),
    }
}
