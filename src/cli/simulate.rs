//! `loomap simulate --genesys-testcase DIR`: run a published GeneSys test case on the
//! simulator and compare with its golden output (exit 0 PASS, 1 mismatch, 2 bad input or trap).

use std::path::PathBuf;
use std::process::ExitCode;

use loomap::io;
use loomap::npu::{testcase::TestCase, CalculusNumbering, NpuConfig};

#[derive(clap::Args)]
pub struct Args {
    /// GeneSys test-case directory (program *_binary.txt or *_decimal.txt, data/, optional
    /// *arch_cfg.json, *_json.json, data_locations.json).
    #[arg(long, required_unless_present = "program", conflicts_with = "program")]
    genesys_testcase: Option<PathBuf>,
    /// A program written by `loomap compile` (its side file `<program>.toml` beside it): run
    /// it on random operands and check against a reference conv (needs --arch, --workload).
    #[arg(long)]
    program: Option<PathBuf>,
    /// Workload file the program was compiled from (with --program).
    #[arg(long)]
    workload: Option<PathBuf>,
    /// Layer name (with --program; default: the one recorded in the side file).
    #[arg(long)]
    layer: Option<String>,
    /// Seed of the random operands (with --program).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Take the design point from a loomap architecture instead (e.g. arch/genesys_16x16.toml);
    /// default: the case's *arch_cfg.json, else GeneSys' benchmark_16x16.
    #[arg(long)]
    arch: Option<PathBuf>,
    /// CALCULUS function numbering: the compiler's (test vectors) or the ISA sheet's.
    #[arg(long, value_enum, default_value_t = Calculus::Compiler)]
    calculus: Calculus,
    /// Print the per-unit timing report.
    #[arg(long)]
    verbose: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Calculus {
    Compiler,
    Sheet,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let Some(dir) = &a.genesys_testcase else {
        let program = a.program.as_deref().unwrap_or(std::path::Path::new(""));
        return super::simulate_program::run(
            program,
            a.arch.as_ref(),
            a.workload.as_ref(),
            a.layer.as_deref(),
            a.seed,
            a.verbose,
        );
    };
    let mut case = TestCase::load(dir)?;
    if let Some(path) = &a.arch {
        let arch = io::load_arch(path)?;
        case.cfg = NpuConfig::from_arch(&arch)?;
    }
    case.cfg.calculus = match a.calculus {
        Calculus::Compiler => CalculusNumbering::Compiler,
        Calculus::Sheet => CalculusNumbering::Sheet,
    };
    let outcome = case.run()?;
    let r = &outcome.report;
    if a.verbose {
        print!("{}", r.to_text());
    }
    if outcome.passed() {
        println!(
            "PASS {} ({} output values bit-exact) in {} cycles",
            case.dir.display(),
            outcome.compared,
            r.cycles
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "FAIL {}: {} of {} output values differ ({} cycles); first mismatches:",
            case.dir.display(),
            outcome.mismatches,
            outcome.compared,
            r.cycles
        );
        for m in &outcome.first_mismatches {
            println!("  [{}] expected {} got {}", m.index, m.expected, m.got);
        }
        Ok(ExitCode::from(1))
    }
}
