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
    Train(sgpn_train::train::cli::TrainArgs),
    /// Write a generator to ONNX.
    Export(sgpn_train::export::cli::ExportArgs),
    /// Time training steps and ONNX Runtime forward passes.
    Bench(sgpn_train::train::bench::BenchArgs),
    /// Detect, align and cache training face crops.
    Prepare(sgpn_train::data::cli::PrepareArgs),
    /// Write a PNG grid of HQ | LQ pairs made by the training degradation.
    DegradeGrid(sgpn_train::data::cli::DegradeGridArgs),
    /// Score a generator on held-out faces against the bicubic baseline.
    Eval(sgpn_train::eval::cli::EvalArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Train(args) => sgpn_train::train::cli::train(args),
        Command::Export(args) => sgpn_train::export::cli::export(args),
        Command::Bench(args) => sgpn_train::train::bench::bench(args),
        Command::Prepare(args) => sgpn_train::data::cli::prepare(args),
        Command::DegradeGrid(args) => sgpn_train::data::cli::degrade_grid(args),
        Command::Eval(args) => sgpn_train::eval::cli::eval(args),
    }
}
