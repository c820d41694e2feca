//! `loomap plot DIR`: re-renders a sweep's plots from its CSVs alone.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use loomap::dse::figures;

#[derive(clap::Args)]
pub struct Args {
    /// A directory written by `loomap sweep` or `loomap merge`.
    dir: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let files = render_dir(&a.dir)?;
    if files.is_empty() {
        eprintln!(
            "no variant with results in {}: nothing to plot",
            a.dir.display()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Renders every plot of a sweep directory and lists the files written.
pub fn render_dir(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let files = figures::render_dir(dir)?;
    for f in &files {
        eprintln!("wrote {}", f.display());
    }
    Ok(files)
}
