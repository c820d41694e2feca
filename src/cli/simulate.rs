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
    #[arg(long)]
    genesys_testcase: PathBuf,
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
    let mut case = TestCase::load(&a.genesys_testcase)?;
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
