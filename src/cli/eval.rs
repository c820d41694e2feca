//! `loomap eval`: one mapping, one layer, full report.

use std::path::PathBuf;
use std::process::ExitCode;

use loomap::{io, model, report::CostReport};

use super::Format;

#[derive(clap::Args)]
pub struct Args {
    /// Architecture file (arch/*.toml).
    #[arg(long)]
    arch: PathBuf,
    /// Workload file (workloads/*.toml).
    #[arg(long)]
    workload: PathBuf,
    /// Layer name; may be omitted when the workload has one layer.
    #[arg(long)]
    layer: Option<String>,
    /// Mapping file.
    #[arg(long)]
    mapping: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let arch = io::load_arch(&a.arch)?;
    let workload = io::load_workload(&a.workload)?;
    let layer = io::select_layer(&workload, a.layer.as_deref(), &a.workload)?;
    let mapping = io::load_mapping(&a.mapping, &arch, &layer.problem)?;
    let mut stats = model::Stats::default();
    match model::evaluate_into(&arch, &layer.problem, &mapping, &mut stats) {
        Ok(summary) => {
            let report = CostReport::new(&arch, &layer.problem, &summary, &stats);
            match a.format {
                Format::Text => print!("{}", report.to_text()),
                Format::Json => println!("{}", report.to_json()),
                Format::Csv => print!("{}", report.to_csv()),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            eprintln!(
                "{}: infeasible mapping: {}",
                a.mapping.display(),
                why.describe(&arch)
            );
            Ok(ExitCode::from(1))
        }
    }
}
