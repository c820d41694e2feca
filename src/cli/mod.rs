//! Subcommands, one file each. The only place with `anyhow`, paths and exit codes.

mod bench;
mod check;
mod compile;
mod estimate;
mod eval;
mod import;
mod plot;
mod search;
mod simulate;
mod simulate_program;
mod sweep;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "loomap",
    version,
    about = "Fast, Timeloop-exact cost model and mapper for DNN accelerators"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate one mapping of one layer: cycles, energy, per-level accesses.
    Eval(eval::Args),
    /// Validate input files and print them normalized.
    Check(check::Args),
    /// Measure model evaluations per second on random mappings.
    Bench(bench::Args),
    /// Search the map space for the best mapping of a layer or of a whole workload.
    Search(search::Args),
    /// Print an architecture's energy (ERT) and area (ART) tables, estimating what the file omits.
    Estimate(estimate::Args),
    /// Convert another tool's input files into loomap TOML (`import timeloop FILE... --out DIR`).
    Import(import::Args),
    /// Sweep architecture parameters: search every layer on every variant, keep the Pareto front.
    Sweep(sweep::Args),
    /// Combine the output directories of the shards of one sweep.
    Merge(sweep::MergeArgs),
    /// Re-render a sweep's plots from its CSV files.
    Plot(plot::Args),
    /// Compile one layer and mapping into a GeneSys program (+ side file with the DRAM layout).
    Compile(compile::Args),
    /// Run a GeneSys test case (or a `compile`d program on random operands) on the NPU
    /// simulator and compare with the golden / reference output.
    Simulate(simulate::Args),
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Csv,
}

/// A rayon pool of `threads` workers (default: every core). Results never depend on it.
pub fn thread_pool(threads: Option<usize>) -> anyhow::Result<rayon::ThreadPool> {
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    Ok(rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?)
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Eval(a) => eval::run(a),
        Command::Check(a) => check::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Import(a) => import::run(a),
        Command::Search(a) => search::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Merge(a) => sweep::merge(a),
        Command::Plot(a) => plot::run(a),
        Command::Estimate(a) => estimate::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Compile(a) => compile::run(a),
    }
}
