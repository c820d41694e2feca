//! `loomap plot DIR`: re-renders a sweep's plots from its CSVs alone.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A directory written by `loomap sweep` or `loomap merge`.
    dir: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    render_dir(&a.dir)?;
    Ok(ExitCode::SUCCESS)
}

/// Renders every plot of a sweep directory (placeholder until the plot module lands).
pub fn render_dir(_dir: &Path) -> anyhow::Result<()> {
    Ok(())
}
