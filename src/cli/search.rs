//! `loomap search`: find the best mapping of one layer or of every layer of a workload.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use loomap::arch::Arch;
use loomap::io::{self, constraints as cio, MappingSpec};
use loomap::mapspace::{Constraints, MapSpace};
use loomap::search::network::{search_layers, LayerSearch};
use loomap::search::{Algo, Driver, Objective, SearchConfig, SearchResult};
use loomap::workload::{Layer, Problem};

use super::Format;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    arch: PathBuf,
    #[arg(long)]
    workload: PathBuf,
    /// Search only this layer (default: every layer; a one-layer workload is that layer).
    #[arg(long)]
    layer: Option<String>,
    /// Mapspace constraints (constraints.toml; `loomap import timeloop` writes them).
    #[arg(long)]
    constraints: Option<PathBuf>,
    /// Also search imperfect factorizations: tiles that do not divide a dimension, the last
    /// one padded (same as `imperfect = true` in the constraints file).
    #[arg(long)]
    imperfect: bool,
    /// exhaustive | random | random-pruned | heuristic | genetic | anneal | rl
    #[arg(long, default_value = "exhaustive", value_parser = parse_algo)]
    algo: Algo,
    /// edp | energy | latency | area | edap, or a lexicographic list such as `latency,energy`.
    #[arg(long, default_value = "edp", value_parser = parse_objective)]
    objective: Objective,
    /// Most mappings to evaluate per layer.
    #[arg(long)]
    budget: Option<u64>,
    /// Wall-clock limit per layer, seconds.
    #[arg(long)]
    time_limit: Option<f64>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Write the winning mapping(s) and results here.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

fn parse_algo(s: &str) -> Result<Algo, String> {
    s.parse()
}

fn parse_objective(s: &str) -> Result<Objective, String> {
    s.parse()
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let arch = io::load_arch(&a.arch)?;
    let workload = io::load_workload(&a.workload)?;
    let constraints_spec = match &a.constraints {
        Some(p) => Some(cio::load_constraints(p)?),
        None => None,
    };
    let pool = super::thread_pool(a.threads)?;
    let mut config = SearchConfig::new(a.objective.clone());
    config.budget = a.budget;
    config.seed = a.seed;
    if let Some(t) = a.time_limit {
        anyhow::ensure!(
            t.is_finite() && t > 0.0,
            "--time-limit must be a positive number of seconds"
        );
        config.time_limit = Some(Duration::from_secs_f64(t));
    }
    let resolve = |problem: &Problem| -> Result<Constraints, String> {
        match (&constraints_spec, &a.constraints) {
            (Some(spec), Some(path)) => {
                let mut c = cio::resolve(spec, path, &arch, problem).map_err(|e| e.to_string())?;
                if a.imperfect {
                    spec.admit_imperfect(path, &mut c)
                        .map_err(|e| e.to_string())?;
                }
                Ok(c)
            }
            _ => Ok(Constraints {
                imperfect: a.imperfect,
                ..Constraints::none(&arch)
            }),
        }
    };

    let single = a.layer.is_some() || workload.layers.len() == 1;
    if single {
        let layer = io::select_layer(&workload, a.layer.as_deref(), &a.workload)?;
        config.progress = true;
        let constraints = resolve(&layer.problem).map_err(anyhow::Error::msg)?;
        let space = MapSpace::new(&arch, &layer.problem, constraints)
            .with_context(|| format!("building the map space of layer `{}`", layer.name))?;
        let mut engine = a.algo.engine(&space).map_err(anyhow::Error::msg)?;
        let result = pool.install(|| Driver::run(&space, engine.as_mut(), &config, None));
        return report_single(&a, &arch, layer, &result);
    }

    let layers: Vec<Layer> = workload.layers.clone();
    let by_layer = |l: &Layer| resolve(&l.problem);
    let results = pool
        .install(|| search_layers(&arch, &layers, &by_layer, a.algo, &config))
        .map_err(anyhow::Error::msg)?;
    report_network(&a, &arch, &layers, &results)
}

fn mapping_text(arch: &Arch, problem: &Problem, r: &SearchResult) -> String {
    r.best
        .as_ref()
        .map(|b| MappingSpec::from_mapping(&b.mapping, arch, problem).to_toml())
        .unwrap_or_default()
}

fn result_json(arch: &Arch, problem: &Problem, r: &SearchResult) -> serde_json::Value {
    let best = r.best.as_ref().map(|b| {
        json!({
            "cycles": b.summary.cycles,
            "energy_pj": b.summary.energy_pj,
            "edp": b.summary.edp(),
            "macs": b.summary.macs,
            "pj_per_mac": b.summary.energy_pj / b.summary.macs as f64,
            "utilization": b.summary.utilization,
            "area_um2": b.summary.area_um2,
            "score": b.score.0[..r.objective.metrics.len()].to_vec(),
            "found_at_evaluation": b.found_at,
            "found_at_s": b.found_at_s,
        })
    });
    json!({
        "algo": r.algo,
        "objective": r.objective.to_string(),
        "evaluations": r.evaluations,
        "legal": r.legal,
        "feasible": r.feasible,
        "wall_s": r.wall_s,
        "evals_per_sec": r.evals_per_sec(),
        "stop_reason": r.stop_reason.name(),
        "optimal": r.optimal,
        "space": {
            "log10_size": r.space_log10,
            "size": r.space_size.map(|s| s.to_string()),
        },
        "lower_bound": r.lower_bound,
        "gap_to_lower_bound": r.gap,
        "failures": r.failures.iter().map(|(k, n)| json!({"reason": k, "count": n})).collect::<Vec<_>>(),
        "engine": r.engine,
        "trace": r.trace.iter().map(|t| json!({
            "evaluations": t.evaluations,
            "wall_s": t.wall_s,
            "score": t.score.0[..r.objective.metrics.len()].to_vec(),
        })).collect::<Vec<_>>(),
        "best": best,
        "mapping": mapping_text(arch, problem, r),
    })
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn report_single(
    a: &Args,
    arch: &Arch,
    layer: &Layer,
    r: &SearchResult,
) -> anyhow::Result<ExitCode> {
    let j = result_json(arch, &layer.problem, r);
    if let Some(dir) = &a.out {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        if r.best.is_some() {
            write(
                &dir.join("best_mapping.toml"),
                &mapping_text(arch, &layer.problem, r),
            )?;
        }
        write(&dir.join("result.json"), &serde_json::to_string_pretty(&j)?)?;
    }
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&j)?),
        Format::Csv => {
            println!("{}", CSV_HEADER);
            println!("{}", csv_row(&layer.name, 1, None, r));
        }
        Format::Text => print_text(arch, layer, r),
    }
    if r.best.is_none() {
        eprintln!(
            "no feasible mapping of `{}` after {} evaluations: {}",
            layer.name,
            r.evaluations,
            r.failure_summary()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(arch: &Arch, layer: &Layer, r: &SearchResult) {
    println!(
        "layer {} on {}: {} search, objective {}",
        layer.name, arch.name, r.algo, r.objective
    );
    println!(
        "  {} evaluations ({} legal, {} feasible) in {:.3} s ({:.0}/s); stopped: {}{}",
        r.evaluations,
        r.legal,
        r.feasible,
        r.wall_s,
        r.evals_per_sec(),
        r.stop_reason.name(),
        if r.optimal { " (optimal)" } else { "" }
    );
    println!("  map space: 10^{:.1} points", r.space_log10);
    if let Some(b) = &r.best {
        println!(
            "  best: {} cycles, {:.4e} pJ ({:.3} pJ/MAC), EDP {:.4e}, utilization {:.3}",
            b.summary.cycles,
            b.summary.energy_pj,
            b.summary.energy_pj / b.summary.macs as f64,
            b.summary.edp(),
            b.summary.utilization
        );
        println!(
            "  found at evaluation {} ({:.3} s)",
            b.found_at, b.found_at_s
        );
        if let Some(g) = r.gap.filter(|_| !r.optimal) {
            println!("  gap to the lower bound: {:.1}%", g * 100.0);
        }
        println!();
        print!("{}", mapping_text(arch, &layer.problem, r));
    }
    if !r.failures.is_empty() {
        println!("  failed candidates: {}", r.failure_summary());
    }
}

const CSV_HEADER: &str = "layer,repeat,same_as,algo,objective,evaluations,feasible,wall_s,stop_reason,optimal,cycles,energy_pj,edp,pj_per_mac,utilization";

fn csv_row(layer: &str, repeat: u64, same_as: Option<&str>, r: &SearchResult) -> String {
    let (c, e, edp, ppm, u) = match &r.best {
        Some(b) => (
            b.summary.cycles.to_string(),
            b.summary.energy_pj.to_string(),
            b.summary.edp().to_string(),
            (b.summary.energy_pj / b.summary.macs as f64).to_string(),
            b.summary.utilization.to_string(),
        ),
        None => Default::default(),
    };
    format!(
        "{layer},{repeat},{},{},{},{},{},{:.6},{},{},{c},{e},{edp},{ppm},{u}",
        same_as.unwrap_or(""),
        r.algo,
        r.objective,
        r.evaluations,
        r.feasible,
        r.wall_s,
        r.stop_reason.name(),
        r.optimal
    )
}

fn report_network(
    a: &Args,
    arch: &Arch,
    layers: &[Layer],
    results: &[LayerSearch],
) -> anyhow::Result<ExitCode> {
    let mut csv = String::from(CSV_HEADER);
    csv.push('\n');
    let mut per_layer = Vec::new();
    let (mut cycles, mut energy, mut failed) = (0u64, 0.0f64, Vec::new());
    for (l, s) in layers.iter().zip(results) {
        csv.push_str(&csv_row(
            &s.layer,
            s.repeat,
            s.same_as.as_deref(),
            &s.result,
        ));
        csv.push('\n');
        let mut j = result_json(arch, &l.problem, &s.result);
        j["layer"] = json!(s.layer);
        j["repeat"] = json!(s.repeat);
        j["same_as"] = json!(s.same_as);
        per_layer.push(j);
        match &s.result.best {
            Some(b) => {
                cycles += b.summary.cycles * s.repeat;
                energy += b.summary.energy_pj * s.repeat as f64;
            }
            None => failed.push(format!("{} ({})", s.layer, s.result.failure_summary())),
        }
    }
    let wall: f64 = results
        .iter()
        .filter(|s| s.same_as.is_none())
        .map(|s| s.result.wall_s)
        .sum();
    let total = json!({
        "cycles": cycles,
        "energy_pj": energy,
        "edp": energy * cycles as f64,
        "layers": layers.len(),
        "unique_shapes": results.iter().filter(|s| s.same_as.is_none()).count(),
        "search_wall_s_sum": wall,
    });
    let doc = json!({ "algo": a.algo.name(), "objective": a.objective.to_string(), "total": total, "layers": per_layer });
    if let Some(dir) = &a.out {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (l, s) in layers.iter().zip(results) {
            if s.same_as.is_none() && s.result.best.is_some() {
                write(
                    &dir.join(format!("{}.toml", file_stem(&s.layer))),
                    &mapping_text(arch, &l.problem, &s.result),
                )?;
            }
        }
        write(&dir.join("results.csv"), &csv)?;
        write(
            &dir.join("results.json"),
            &serde_json::to_string_pretty(&doc)?,
        )?;
    }
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&doc)?),
        Format::Csv => print!("{csv}"),
        Format::Text => {
            for s in results {
                let r = &s.result;
                match (&r.best, &s.same_as) {
                    (_, Some(src)) => println!("{:<24} same shape as {src}", s.layer),
                    (Some(b), None) => println!(
                        "{:<24} {:>12} cycles {:>12.4e} pJ {:>8} evals {:>8.3} s {}",
                        s.layer,
                        b.summary.cycles,
                        b.summary.energy_pj,
                        r.evaluations,
                        r.wall_s,
                        if r.optimal {
                            "optimal"
                        } else {
                            r.stop_reason.name()
                        }
                    ),
                    (None, None) => println!("{:<24} no feasible mapping", s.layer),
                }
            }
            println!(
                "total: {cycles} cycles, {energy:.4e} pJ, EDP {:.4e}",
                energy * cycles as f64
            );
        }
    }
    if !failed.is_empty() {
        eprintln!("no feasible mapping for: {}", failed.join("; "));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// A layer name as a file name.
fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
