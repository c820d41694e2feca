//! `loomap import timeloop FILE... --out DIR`: Timeloop / Accelergy YAML → loomap TOML.

use std::path::PathBuf;
use std::process::ExitCode;

use loomap::io;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    from: Source,
}

#[derive(clap::Subcommand)]
enum Source {
    /// Timeloop v0.3/v0.4 and Accelergy YAML: architecture, problem, mapping, constraints,
    /// ERT/ART. Writes arch.toml, workload.toml and, when present, mapping.toml and
    /// constraints.toml.
    Timeloop(TimeloopArgs),
}

#[derive(clap::Args)]
struct TimeloopArgs {
    /// Input files, any mix: parsed-processed-input.yaml (or arch / problem YAML), a mapping
    /// (*.map.yaml), constraints, *.ERT.yaml, *.ART.yaml. ERT/ART files next to the inputs
    /// are used when none is given.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output folder (created if missing; existing files are overwritten).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    match a.from {
        Source::Timeloop(t) => {
            let imported = io::timeloop::import(&t.files)?;
            for n in &imported.notes {
                eprintln!("note: {n}");
            }
            for p in imported.write(&t.out)? {
                println!("wrote {}", p.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
