//! `loomap bench`: model evaluations per second on random mappings, every layer of a workload.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use rand::SeedableRng;
use rayon::prelude::*;

use loomap::{io, mapspace, model};

use super::Format;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "arch/eyeriss_like.toml")]
    arch: PathBuf,
    #[arg(long, default_value = "workloads/resnet50.toml")]
    workload: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Feasible random mappings per layer to pre-generate; each is evaluated `--rounds` times.
    #[arg(long, default_value_t = 200)]
    mappings: usize,
    #[arg(long, default_value_t = 50)]
    rounds: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let arch = io::load_arch(&a.arch)?;
    let workload = io::load_workload(&a.workload)?;
    let pool = super::thread_pool(a.threads)?;
    let threads = pool.current_num_threads();
    // Parse once, build the mappings up front: only evaluation is timed.
    let mut rng = rand::rngs::SmallRng::seed_from_u64(a.seed);
    // Only mappings that fit are timed: infeasible ones exit early and would flatter the rate.
    // The model is prepared once per layer and shared by its mappings, as a search does:
    // only per-mapping work is timed, and the prepared data stays in cache.
    let evaluators: Vec<model::Evaluator> = workload
        .layers
        .iter()
        .map(|l| model::Evaluator::new(&arch, &l.problem))
        .collect();
    let mut cases = Vec::new();
    for (l, evaluator) in workload.layers.iter().zip(&evaluators) {
        let mut found = 0;
        for _ in 0..a.mappings * 200 {
            let m = mapspace::random_mapping(&arch, &l.problem, &mut rng);
            if model::evaluate(&arch, &l.problem, &m).is_ok() {
                cases.push((evaluator, m));
                found += 1;
                if found == a.mappings {
                    break;
                }
            }
        }
    }
    if cases.is_empty() {
        anyhow::bail!(
            "no feasible random mapping found to benchmark on {}",
            arch.name
        );
    }
    let start = Instant::now();
    let (evaluated, feasible) = pool.install(|| {
        (0..a.rounds)
            .into_par_iter()
            // One scratch per worker, reused across evaluations: the search drivers do the same.
            .map_init(model::Stats::default, |stats, _| {
                let mut ok = 0u64;
                for (evaluator, m) in &cases {
                    if evaluator.evaluate_into(m, stats).is_ok() {
                        ok += 1;
                    }
                }
                (cases.len() as u64, ok)
            })
            .reduce(|| (0, 0), |x, y| (x.0 + y.0, x.1 + y.1))
    });
    let secs = start.elapsed().as_secs_f64();
    let rate = evaluated as f64 / secs;
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "evals_per_sec": rate,
                "evals_per_sec_per_thread": rate / threads as f64,
                "threads": threads,
                "mappings_evaluated": evaluated,
                "feasible": feasible,
                "wall_s": secs,
                "arch": arch.name,
                "workload": workload.name,
            })
        ),
        _ => println!(
            "{} evaluations in {:.3} s on {} thread(s): {:.0} evals/s ({:.0} per thread); {} feasible ({} on {})",
            evaluated,
            secs,
            threads,
            rate,
            rate / threads as f64,
            feasible,
            workload.name,
            arch.name
        ),
    }
    Ok(ExitCode::SUCCESS)
}
