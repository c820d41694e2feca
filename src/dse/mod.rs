//! Hardware design-space exploration: sweep architecture parameters, search the best mapping
//! of every layer on every variant, and keep the non-dominated variants.
//!
//! A [`SweepPlan`] is built by `io::sweep` from a sweep spec: the parameters (each a list of
//! values), how variants are chosen ([`Strategy`]), the inner mapping search, limits, and a
//! closure that rebuilds the architecture of a variant through the same validation as a
//! user's file. [`run`] evaluates (variant, layer) tasks in parallel and appends every finished
//! row to `results.csv` at once ([`store`]), so a killed sweep resumes where it stopped. At the
//! end it writes per-variant network totals (`variants.csv`) and the front (`pareto.csv`).
//!
//! Variants are numbered in grid order (the last parameter varies fastest); a variant's number
//! is its identity in every file, across shards and resumed runs.
//!
//! Determinism: every task's search uses the sweep's seed and the search driver's
//! thread-independent batches, and variant choice depends only on the seed and on finished
//! results, so the same seed gives the same rows at any thread count. (`results.csv` is
//! rewritten in variant/layer order when the run completes.)

pub mod figures;
pub mod guided;
pub mod pareto;
pub mod store;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::arch::Arch;
use crate::mapspace::{Constraints, MapSpace, MapSpaceError};
use crate::model::{self, Stats};
use crate::report::CostReport;
use crate::search::network::same_shape;
use crate::search::{Algo, Driver, SearchConfig};
use crate::workload::{Layer, Problem};

pub use store::{LayerRow, RowStatus, Store, VariantRow, VariantStatus};

/// One swept parameter: its column name and the labels of its values (as written in CSVs).
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub labels: Vec<String>,
    /// Numeric value of each label for plots (`None` for labels such as `16x16`, where the
    /// product of the numbers is used).
    pub numeric: Vec<f64>,
}

/// How variants are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// Every combination of values.
    Grid,
    /// `samples` distinct combinations drawn uniformly with the seed.
    Random { samples: u64 },
    /// A guided search over the grid that evaluates at most `variants` variants.
    Guided {
        kind: guided::GuidedKind,
        variants: u64,
    },
}

/// Network totals compared for the front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParetoMetric {
    Latency,
    Energy,
    Area,
    Edp,
    Power,
}

impl ParetoMetric {
    pub const NAMES: &'static str = "latency, energy, area, edp, power";

    pub fn parse(s: &str) -> Option<ParetoMetric> {
        Some(match s.to_ascii_lowercase().as_str() {
            "latency" | "cycles" => ParetoMetric::Latency,
            "energy" => ParetoMetric::Energy,
            "area" => ParetoMetric::Area,
            "edp" => ParetoMetric::Edp,
            "power" => ParetoMetric::Power,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ParetoMetric::Latency => "latency",
            ParetoMetric::Energy => "energy",
            ParetoMetric::Area => "area",
            ParetoMetric::Edp => "edp",
            ParetoMetric::Power => "power",
        }
    }

    /// The `variants.csv` column holding it.
    pub fn column(self) -> &'static str {
        match self {
            ParetoMetric::Latency => "cycles",
            ParetoMetric::Energy => "energy_pj",
            ParetoMetric::Area => "area_um2",
            ParetoMetric::Edp => "edp",
            ParetoMetric::Power => "power_w",
        }
    }

    pub fn of(self, v: &VariantRow) -> f64 {
        match self {
            ParetoMetric::Latency => v.cycles as f64,
            ParetoMetric::Energy => v.energy_pj,
            ParetoMetric::Area => v.area_um2,
            ParetoMetric::Edp => v.edp(),
            ParetoMetric::Power => v.power_w(),
        }
    }
}

/// Hardware budgets: variants over them are kept in the results but never on the front.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_area_mm2: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_power_w: Option<f64>,
    /// Whole-workload runs per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_inferences_per_s: Option<f64>,
}

/// Rebuilds the architecture of a variant from one value index per parameter.
pub type BuildArch = dyn Fn(&[usize]) -> Result<Arch, String> + Sync + Send;
/// The mapping constraints of a layer on a variant.
pub type LayerConstraints = dyn Fn(&Arch, &Problem) -> Result<Constraints, String> + Sync + Send;

pub struct SweepPlan {
    pub name: String,
    pub params: Vec<Param>,
    pub layers: Vec<Layer>,
    pub strategy: Strategy,
    pub algo: Algo,
    /// The inner search's objective, budget, time limit and seed.
    pub search: SearchConfig,
    pub limits: Limits,
    pub pareto: Vec<ParetoMetric>,
    /// Storage level names, outermost first (the energy-breakdown columns).
    pub level_names: Vec<String>,
    pub build: Box<BuildArch>,
    pub constraints: Box<LayerConstraints>,
    /// Identifies the resolved inputs; a resumed run must match it.
    pub fingerprint: String,
    /// The resolved spec, recorded in `run.toml`.
    pub spec_text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DseError {
    #[error("{0}")]
    Store(String),
    #[error("the grid has more than 2^63 variants; use fewer values or a random/guided strategy")]
    GridTooLarge,
}

impl SweepPlan {
    /// Number of grid points.
    pub fn grid_size(&self) -> Result<u64, DseError> {
        self.params.iter().try_fold(1u64, |acc, p| {
            acc.checked_mul(p.labels.len() as u64)
                .filter(|n| *n <= i64::MAX as u64)
                .ok_or(DseError::GridTooLarge)
        })
    }

    /// The value index of every parameter of variant `id` (last parameter fastest).
    pub fn indices(&self, mut id: u64) -> Vec<usize> {
        let mut idx = vec![0; self.params.len()];
        for (i, p) in self.params.iter().enumerate().rev() {
            let n = p.labels.len() as u64;
            idx[i] = (id % n) as usize;
            id /= n;
        }
        idx
    }

    pub fn id_of(&self, idx: &[usize]) -> u64 {
        self.params
            .iter()
            .zip(idx)
            .fold(0u64, |acc, (p, &i)| acc * p.labels.len() as u64 + i as u64)
    }

    pub fn labels(&self, id: u64) -> Vec<String> {
        self.indices(id)
            .iter()
            .zip(&self.params)
            .map(|(&i, p)| p.labels[i].clone())
            .collect()
    }

    /// The variants a grid or random strategy evaluates, ascending.
    pub fn fixed_variants(&self, seed: u64) -> Result<Vec<u64>, DseError> {
        let n = self.grid_size()?;
        Ok(match self.strategy {
            Strategy::Grid => (0..n).collect(),
            Strategy::Random { samples } if samples >= n => (0..n).collect(),
            Strategy::Random { samples } => {
                // Floyd's algorithm: `samples` distinct ids without materialising the grid.
                let mut rng = SmallRng::seed_from_u64(seed);
                let mut chosen = std::collections::BTreeSet::new();
                for j in (n - samples)..n {
                    let t = rng.gen_range(0..=j);
                    if !chosen.insert(t) {
                        chosen.insert(j);
                    }
                }
                chosen.into_iter().collect()
            }
            Strategy::Guided { .. } => Vec::new(),
        })
    }

    /// Indices of the layers whose search stands for every layer of the same shape.
    fn unique_layers(&self) -> Vec<(usize, Vec<usize>)> {
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            match groups
                .iter_mut()
                .find(|(u, _)| same_shape(&self.layers[*u].problem, &l.problem))
            {
                Some((_, members)) => members.push(i),
                None => groups.push((i, vec![i])),
            }
        }
        groups
    }
}

/// How a run is carried out (not part of the sweep's identity; the seed is the plan's
/// `search.seed`).
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub out: PathBuf,
    /// Run only variants with `id % count == index`.
    pub shard: Option<(u64, u64)>,
    /// Draw a progress bar on stderr when it is a terminal.
    pub progress: bool,
    /// Recorded in `run.toml`.
    pub command_line: String,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct SweepOutcome {
    pub variants: Vec<VariantRow>,
    /// Indices into `variants` of the front, in lexicographic order of the objectives.
    pub front: Vec<usize>,
    /// (variant, layer) searches done by this invocation, and those found already done.
    pub searched: u64,
    pub resumed: u64,
    pub wall_s: f64,
}

/// Runs (or resumes) a sweep into `opts.out`.
pub fn run(plan: &SweepPlan, opts: &RunOptions) -> Result<SweepOutcome, DseError> {
    let start = Instant::now();
    let store = Store::open(plan, opts)?;
    let resumed = store.rows_done();
    let in_shard = |id: &u64| opts.shard.is_none_or(|(i, n)| id % n == i);
    let mut searched = 0;
    match plan.strategy {
        Strategy::Grid | Strategy::Random { .. } => {
            let ids: Vec<u64> = plan
                .fixed_variants(plan.search.seed)?
                .into_iter()
                .filter(in_shard)
                .collect();
            searched += evaluate_variants(plan, &ids, &store, opts)?;
        }
        Strategy::Guided { kind, variants } => {
            let mut engine = guided::GuidedSearch::new(kind, plan, plan.search.seed);
            let mut evaluated = 0u64;
            while evaluated < variants {
                let batch: Vec<u64> = engine
                    .propose((variants - evaluated) as usize)
                    .into_iter()
                    .collect();
                if batch.is_empty() {
                    break;
                }
                evaluated += batch.len() as u64;
                let mine: Vec<u64> = batch.iter().copied().filter(in_shard).collect();
                searched += evaluate_variants(plan, &mine, &store, opts)?;
                let totals = store.variant_rows(Some(&batch));
                engine.learn(&batch, &totals);
            }
        }
    }
    let (variants, front) = store.finish()?;
    Ok(SweepOutcome {
        variants,
        front,
        searched,
        resumed,
        wall_s: start.elapsed().as_secs_f64(),
    })
}

/// Searches every layer of every variant in `ids` that has no row yet; returns the number of
/// searches done.
fn evaluate_variants(
    plan: &SweepPlan,
    ids: &[u64],
    store: &Store,
    opts: &RunOptions,
) -> Result<u64, DseError> {
    let groups = plan.unique_layers();
    // Build every variant first: invalid ones and those over the area budget get one row.
    let mut archs: Vec<Option<Arch>> = Vec::with_capacity(ids.len());
    for &id in ids {
        if store.variant_failed(id) {
            archs.push(None);
            continue;
        }
        let params = plan.labels(id);
        let built = (plan.build)(&plan.indices(id));
        let arch = match built {
            Err(reason) => {
                store.append(&[LayerRow::failed(id, params, RowStatus::Invalid, reason)])?;
                None
            }
            Ok(arch) => match plan.limits.max_area_mm2 {
                Some(max) if arch.area_um2() * 1e-6 > max => {
                    let reason = format!(
                        "area {:.3} mm² is over the limit of {max} mm²",
                        arch.area_um2() * 1e-6
                    );
                    store.append(&[LayerRow::failed(id, params, RowStatus::OverLimit, reason)])?;
                    None
                }
                _ => Some(arch),
            },
        };
        archs.push(arch);
    }
    let mut tasks: Vec<(usize, usize)> = Vec::new();
    for (v, arch) in archs.iter().enumerate() {
        if arch.is_none() {
            continue;
        }
        for (g, (_, members)) in groups.iter().enumerate() {
            if members
                .iter()
                .any(|&l| !store.is_done(ids[v], &plan.layers[l].name))
            {
                tasks.push((v, g));
            }
        }
    }
    let bar = progress_bar(opts.progress, tasks.len() as u64);
    let failure: Mutex<Option<DseError>> = Mutex::new(None);
    tasks.par_iter().for_each(|&(v, g)| {
        if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
            return;
        }
        let Some(arch) = archs[v].as_ref() else {
            return;
        };
        let (rep, members) = &groups[g];
        // A kill can cut a task's rows in half: write only the members still missing.
        let rows: Vec<LayerRow> = search_layer(plan, ids[v], arch, *rep, members)
            .into_iter()
            .filter(|r| !store.is_done(r.variant, &r.layer))
            .collect();
        if let Err(e) = store.append(&rows) {
            if let Ok(mut f) = failure.lock() {
                f.get_or_insert(e);
            }
        }
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match failure.into_inner() {
        Ok(Some(e)) => Err(e),
        Ok(None) => Ok(tasks.len() as u64),
        Err(_) => Err(DseError::Store(
            "a worker panicked while writing results".into(),
        )),
    }
}

/// Searches layer `rep` on `arch` and returns one row per layer of the same shape.
fn search_layer(
    plan: &SweepPlan,
    id: u64,
    arch: &Arch,
    rep: usize,
    members: &[usize],
) -> Vec<LayerRow> {
    let params = plan.labels(id);
    let layer = &plan.layers[rep];
    let started = Instant::now();
    let row_for = |status: RowStatus, reason: String| -> Vec<LayerRow> {
        members
            .iter()
            .map(|&l| {
                let mut r = LayerRow::failed(id, params.clone(), status, reason.clone());
                r.layer = plan.layers[l].name.clone();
                r.repeat = plan.layers[l].repeat;
                r.clock_ghz = arch.clock_ghz;
                r.area_um2 = arch.area_um2();
                r.search_s = started.elapsed().as_secs_f64();
                r
            })
            .collect()
    };
    let constraints = match (plan.constraints)(arch, &layer.problem) {
        Ok(c) => c,
        Err(e) => return row_for(RowStatus::Error, e),
    };
    let space = match MapSpace::new(arch, &layer.problem, constraints) {
        Ok(s) => s,
        // A dimension that no factorization fits (e.g. a filter taller than the array under
        // a row-stationary constraint) means nothing fits, not a broken input.
        Err(e @ MapSpaceError::NoFactorization { .. }) => {
            return row_for(RowStatus::Infeasible, e.to_string())
        }
        Err(e) => return row_for(RowStatus::Error, e.to_string()),
    };
    let mut engine = match plan.algo.engine(&space) {
        Ok(e) => e,
        Err(e) => return row_for(RowStatus::Error, e),
    };
    let result = Driver::run(&space, engine.as_mut(), &plan.search, None);
    let Some(best) = &result.best else {
        let mut rows = row_for(
            RowStatus::Infeasible,
            format!("no mapping fits: {}", result.failure_summary()),
        );
        for r in &mut rows {
            r.evaluations = result.evaluations;
        }
        return rows;
    };
    let mut stats = Stats::default();
    let level_energy_pj =
        match model::evaluate_into(arch, &layer.problem, &best.mapping, &mut stats) {
            Ok(summary) => {
                let report = CostReport::new(arch, &layer.problem, &summary, &stats);
                let mut e: Vec<f64> = report.levels.iter().map(|l| l.energy_pj).collect();
                e.push(report.compute_energy_pj);
                e
            }
            Err(_) => vec![f64::NAN; plan.level_names.len() + 1],
        };
    members
        .iter()
        .map(|&l| LayerRow {
            variant: id,
            layer: plan.layers[l].name.clone(),
            repeat: plan.layers[l].repeat,
            status: RowStatus::Ok,
            reason: String::new(),
            params: params.clone(),
            clock_ghz: arch.clock_ghz,
            cycles: best.summary.cycles,
            energy_pj: best.summary.energy_pj,
            area_um2: best.summary.area_um2,
            utilization: best.summary.utilization,
            macs: best.summary.macs,
            evaluations: result.evaluations,
            search_s: result.wall_s,
            optimal: result.optimal,
            level_energy_pj: level_energy_pj.clone(),
        })
        .collect()
}

fn progress_bar(wanted: bool, len: u64) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !wanted || len == 0 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template(
        "{bar:30} {pos}/{len} layer searches, {elapsed_precise} elapsed, ETA {eta_precise}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}
