//! `loomap simulate --program P --arch A --workload W [--layer L] [--seed N]`: run a program
//! written by `loomap compile` on seeded random operands, compare bit-exactly with the Rust
//! reference convolution, and print simulated cycles next to the cost model's prediction for
//! the same mapping (exit 0 PASS, 1 mismatch, 2 bad input or trap).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use loomap::npu::compile::{self, CompileOptions};
use loomap::npu::{NpuConfig, Program};
use loomap::{io, model};

use super::compile::{side_path, LayoutToml, SideFile};

pub fn run(
    program: &Path,
    arch_path: Option<&PathBuf>,
    workload: Option<&PathBuf>,
    layer: Option<&str>,
    seed: u64,
    verbose: bool,
) -> anyhow::Result<ExitCode> {
    let (Some(arch_path), Some(workload_path)) = (arch_path, workload) else {
        bail!("--program needs --arch and --workload (the ones given to `loomap compile`)");
    };
    let text = std::fs::read_to_string(program)
        .with_context(|| format!("cannot read program {}", program.display()))?;
    let prog = Program::parse_binary(&text)
        .with_context(|| format!("{}: not a GeneSys binary program", program.display()))?;
    let side_file = side_path(program);
    let side_text = std::fs::read_to_string(&side_file).with_context(|| {
        format!(
            "cannot read {} (written by `loomap compile` beside the program)",
            side_file.display()
        )
    })?;
    let side: SideFile = toml::from_str(&side_text)
        .with_context(|| format!("{}: not a compile side file", side_file.display()))?;
    let arch = io::load_arch(arch_path)?;
    let wl = io::load_workload(workload_path)?;
    let layer_name = layer.unwrap_or(&side.layer);
    let layer = io::select_layer(&wl, Some(layer_name), workload_path)?;
    let mapping = io::parse_mapping(&side.mapping, &side_file, &arch, &layer.problem)?;
    // The layout is a function of (arch, layer, mapping); recompute it and insist it is the one
    // the program was compiled against.
    let c = compile::compile(
        &arch,
        &layer.problem,
        &mapping,
        CompileOptions {
            fuse_relu: side.relu,
        },
    )?;
    if LayoutToml::of(&c) != side.layout {
        bail!(
            "{}: the recorded DRAM layout differs from the one for arch `{}` and layer `{}`; \
             hint: pass the --arch and --workload the program was compiled with",
            side_file.display(),
            arch.name,
            layer.name
        );
    }
    let cfg = NpuConfig::from_arch(&arch)?;
    let v = match compile::verify(&c, &cfg, &prog, seed) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{}: {e}", program.display());
            return Ok(ExitCode::from(2));
        }
    };
    if verbose {
        print!("{}", v.report.to_text());
    }
    let sim = v.report.cycles;
    let modelled = model::evaluate(&arch, &layer.problem, &mapping)
        .map(|s| s.cycles)
        .ok();
    let cmp = match modelled {
        Some(m) => format!(
            "model {m} cycles, sim/model {:.3}",
            sim as f64 / m.max(1) as f64
        ),
        None => "model: mapping infeasible in the cost model".into(),
    };
    if v.passed() {
        println!(
            "PASS layer `{}` seed {seed}: {} outputs bit-exact; simulated {sim} cycles, {cmp}",
            layer.name, v.compared
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "FAIL layer `{}` seed {seed}: {} of {} outputs differ; simulated {sim} cycles, {cmp}; first mismatches:",
            layer.name, v.mismatches, v.compared
        );
        for (i, want, got) in &v.first_mismatches {
            println!("  [{i}] expected {want} got {got}");
        }
        Ok(ExitCode::from(1))
    }
}
