//! `loomap sweep SPEC --out DIR`: hardware design-space exploration, resumable; and
//! `loomap merge DIR... --out DIR`: combine the shards of one sweep.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use loomap::dse::store::{self, RunRecord};
use loomap::dse::{self, RunOptions, Strategy, VariantRow, VariantStatus};
use loomap::io::sweep::load_sweep;

#[derive(clap::Args)]
pub struct Args {
    /// The sweep spec (see docs/sweep.md).
    spec: PathBuf,
    /// Output directory; running the same command again resumes an interrupted sweep.
    #[arg(long)]
    out: PathBuf,
    /// Overrides the spec's seed (default 1).
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Run only the I-th of N deterministic slices of the variants (0-based), e.g. `3/16`.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
    /// Skip rendering plots.
    #[arg(long)]
    no_plots: bool,
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("`{s}` is not I/N with 0 <= I < N, e.g. 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let plan = load_sweep(&a.spec)?;
    if a.shard.is_some() && matches!(plan.strategy, Strategy::Guided { .. }) {
        anyhow::bail!(
            "--shard needs a grid or random strategy: a guided search learns from every variant it has run\n  hint: run guided sweeps unsharded, or shard a grid"
        );
    }
    let mut plan = plan;
    if let Some(seed) = a.seed {
        plan.search.seed = seed;
    }
    let pool = super::thread_pool(a.threads)?;
    let opts = RunOptions {
        out: a.out.clone(),
        shard: a.shard,
        progress: true,
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let outcome = pool.install(|| dse::run(&plan, &opts))?;
    if !a.no_plots {
        super::plot::render_dir(&a.out)?;
    }
    print_summary(&a.out, &outcome.variants, &outcome.front);
    eprintln!(
        "{} layer searches in {:.1} s ({} rows were already done)",
        outcome.searched, outcome.wall_s, outcome.resumed
    );
    Ok(if outcome.front.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_summary(out: &std::path::Path, variants: &[VariantRow], front: &[usize]) {
    let count = |s: VariantStatus| variants.iter().filter(|v| v.status == s).count();
    println!(
        "{} variants: {} ok, {} failed, {} over a limit, {} incomplete; {} on the Pareto front",
        variants.len(),
        count(VariantStatus::Ok),
        count(VariantStatus::Failed),
        count(VariantStatus::OverLimit),
        count(VariantStatus::Incomplete),
        front.len()
    );
    println!(
        "{:>8}  {:<28} {:>14} {:>14} {:>12} {:>9}",
        "variant", "parameters", "cycles", "energy_uJ", "area_mm2", "power_W"
    );
    for &i in front {
        let v = &variants[i];
        println!(
            "{:>8}  {:<28} {:>14} {:>14.3} {:>12.3} {:>9.3}",
            v.variant,
            v.params.join(" "),
            v.cycles,
            v.energy_pj * 1e-6,
            v.area_um2 * 1e-6,
            v.power_w()
        );
    }
    println!("results in {}", out.display());
}

#[derive(clap::Args)]
pub struct MergeArgs {
    /// Output directories of the shards of one sweep.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    no_plots: bool,
}

pub fn merge(a: MergeArgs) -> anyhow::Result<ExitCode> {
    let mut record: Option<RunRecord> = None;
    let mut rows = Vec::new();
    let mut seen = std::collections::BTreeMap::new();
    for dir in &a.dirs {
        let r = RunRecord::load(dir)?;
        if let Some(first) = &record {
            anyhow::ensure!(
                first.fingerprint == r.fingerprint && first.seed == r.seed,
                "{} is from another sweep than {} (inputs or seed differ)",
                dir.display(),
                a.dirs[0].display()
            );
        }
        for row in store::read_results(dir, &r, false)? {
            let key = (row.variant, row.layer.clone());
            match seen.get(&key) {
                Some(prev) if prev != &row.status => anyhow::bail!(
                    "variant {} layer `{}` has different results in two shards",
                    row.variant,
                    row.layer
                ),
                Some(_) => continue,
                None => {
                    seen.insert(key, row.status);
                    rows.push(row);
                }
            }
        }
        record.get_or_insert(r);
    }
    let Some(mut record) = record else {
        anyhow::bail!("no directory to merge");
    };
    record.shard = None;
    record.command_line = std::env::args().collect::<Vec<_>>().join(" ");
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    std::fs::write(a.out.join("run.toml"), toml::to_string(&record)?)
        .with_context(|| format!("writing {}", a.out.join("run.toml").display()))?;
    let (variants, front) = store::write_outputs(&a.out, &record, rows)?;
    if !a.no_plots {
        super::plot::render_dir(&a.out)?;
    }
    print_summary(&a.out, &variants, &front);
    Ok(ExitCode::SUCCESS)
}
