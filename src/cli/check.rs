//! `loomap check`: validate inputs and print them normalized.

use std::path::PathBuf;
use std::process::ExitCode;

use loomap::io;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    arch: Option<PathBuf>,
    #[arg(long)]
    workload: Option<PathBuf>,
    /// Needs --arch and --workload (and --layer when the workload has several layers).
    #[arg(long)]
    mapping: Option<PathBuf>,
    #[arg(long)]
    layer: Option<String>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    if a.arch.is_none() && a.workload.is_none() {
        anyhow::bail!("nothing to check: pass --arch, --workload and/or --mapping");
    }
    let arch = a.arch.as_deref().map(io::load_arch).transpose()?;
    if let Some(arch) = &arch {
        println!(
            "architecture {} ({} GHz), innermost level last:",
            arch.name, arch.clock_ghz
        );
        for l in arch.levels.iter().rev() {
            let size = l
                .size_words
                .map_or("unbounded".to_string(), |s| format!("{s} words"));
            println!(
                "  {:<24} {:<8} {:>16} x{:<5} ({}x{}) block {} word {} bits",
                l.name,
                l.class.name(),
                size,
                l.instances,
                l.mesh_x,
                l.mesh_y,
                l.block_size,
                l.word_bits
            );
        }
        let c = &arch.compute;
        println!(
            "  {:<24} compute  {:>16} x{:<5} ({}x{}) {} pJ/MAC",
            c.name, "", c.instances, c.mesh_x, c.mesh_y, c.energy_pj
        );
        println!("  area {:.0} um^2", arch.area_um2());
    }
    if let Some(wpath) = &a.workload {
        let w = io::load_workload(wpath)?;
        println!("workload {} ({} layers):", w.name, w.layers.len());
        for l in &w.layers {
            println!("  {}  MACs {}", l.problem, l.problem.macs());
        }
        if let (Some(mpath), Some(arch)) = (&a.mapping, &arch) {
            let layer = io::select_layer(&w, a.layer.as_deref(), wpath)?;
            let m = io::load_mapping(mpath, arch, &layer.problem)?;
            println!("mapping ({}):", mpath.display());
            print!(
                "{}",
                io::MappingSpec::from_mapping(&m, arch, &layer.problem).to_toml()
            );
        }
    } else if a.mapping.is_some() {
        anyhow::bail!("--mapping needs --arch and --workload to be checked against");
    }
    Ok(ExitCode::SUCCESS)
}
