//! Mapping search: engines behind one ask/tell [`Searcher`] interface, and a [`Driver`] that
//! evaluates their batches in parallel (rayon) with budgets, a time limit and deterministic
//! tie-breaking.
//!
//! Determinism: engines draw randomness only from the driver's seeded RNG, batches have a
//! fixed size, a batch's results are merged in batch order, and a point replaces the best
//! only if it scores strictly better. So the same seed gives the same result at any thread
//! count (a wall-clock limit is the one thing that can cut a run at a different place).

pub mod anneal;
pub mod exhaustive;
pub mod genetic;
pub mod heuristic;
pub mod network;
pub mod random;
pub mod rl;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::SeedableRng;
use rayon::prelude::*;

use crate::mapping::{LoopNest, Mapping};
use crate::mapspace::{MapSpace, Point, Violation};
use crate::model::{CostSummary, Evaluator, Infeasible, Stats};

/// One thing to minimize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Energy,
    /// Cycles.
    Latency,
    /// Energy × cycles.
    Edp,
    /// Total area (constant over mappings of one architecture; it matters in hardware search).
    Area,
    /// Energy × cycles × area: the area-aware objective.
    Edap,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Energy => "energy",
            Metric::Latency => "latency",
            Metric::Edp => "edp",
            Metric::Area => "area",
            Metric::Edap => "edap",
        }
    }

    pub fn of(self, s: &CostSummary) -> f64 {
        match self {
            Metric::Energy => s.energy_pj,
            Metric::Latency => s.cycles as f64,
            Metric::Edp => s.edp(),
            Metric::Area => s.area_um2,
            Metric::Edap => s.edp() * s.area_um2,
        }
    }
}

/// Metrics compared lexicographically (the first decides; later ones break ties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objective {
    pub metrics: Vec<Metric>,
}

/// Most metrics in an [`Objective`].
pub const MAX_METRICS: usize = 4;

impl FromStr for Objective {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut metrics = Vec::new();
        for tok in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let m = match tok.to_ascii_lowercase().as_str() {
                "energy" => Metric::Energy,
                "latency" | "cycles" | "delay" => Metric::Latency,
                "edp" => Metric::Edp,
                "area" => Metric::Area,
                "edap" => Metric::Edap,
                _ => {
                    return Err(format!(
                        "unknown objective `{tok}`; expected edp, energy, latency, area, edap or a comma-separated list such as `latency,energy`"
                    ))
                }
            };
            if metrics.contains(&m) {
                return Err(format!("objective lists `{tok}` twice"));
            }
            metrics.push(m);
        }
        if metrics.is_empty() {
            return Err("empty objective; expected e.g. `edp` or `latency,energy`".into());
        }
        if metrics.len() > MAX_METRICS {
            return Err(format!("at most {MAX_METRICS} metrics in an objective"));
        }
        Ok(Objective { metrics })
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.metrics.iter().map(|m| m.name()).collect();
        write!(f, "{}", names.join(","))
    }
}

impl Objective {
    pub fn score(&self, s: &CostSummary) -> Score {
        let mut v = [0.0; MAX_METRICS];
        for (i, m) in self.metrics.iter().enumerate() {
            v[i] = m.of(s);
        }
        Score(v)
    }
}

/// An objective's values; smaller is better, compared lexicographically.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score(pub [f64; MAX_METRICS]);

impl Score {
    pub fn compare(&self, other: &Score) -> Ordering {
        for i in 0..MAX_METRICS {
            match self.0[i].total_cmp(&other.0[i]) {
                Ordering::Equal => continue,
                o => return o,
            }
        }
        Ordering::Equal
    }

    pub fn better_than(&self, other: &Score) -> bool {
        self.compare(other) == Ordering::Less
    }

    /// The first (deciding) metric.
    pub fn primary(&self) -> f64 {
        self.0[0]
    }
}

/// What evaluating one point gave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    Feasible {
        summary: CostSummary,
        score: Score,
    },
    /// Not a legal mapping (fanout, spatial utilization).
    Illegal(Violation),
    /// Legal, but the model rejects it (capacity, minimum utilization).
    Infeasible(Infeasible),
}

impl Outcome {
    pub fn score(&self) -> Option<Score> {
        match self {
            Outcome::Feasible { score, .. } => Some(*score),
            _ => None,
        }
    }
}

/// What engines see of the run.
pub struct Context<'s, 'a> {
    pub space: &'s MapSpace<'a>,
    pub objective: &'s Objective,
    /// The run's only source of randomness.
    pub rng: SmallRng,
    /// Evaluations so far and the budget (if any), for engines that pace themselves.
    pub evaluations: u64,
    pub budget: Option<u64>,
}

/// A search engine. The driver asks for batches, evaluates them and tells the results back,
/// in order. An engine that returns no points is done.
pub trait Searcher: Send {
    fn name(&self) -> &'static str;
    /// Up to `max` points to evaluate next.
    fn ask(&mut self, ctx: &mut Context, max: usize) -> Vec<Point>;
    /// The outcomes of the last batch, in the order asked.
    fn tell(&mut self, ctx: &mut Context, points: &[Point], outcomes: &[Outcome]);
    /// True if running out of points means the whole space was covered (the best is optimal).
    fn proves_optimality(&self) -> bool {
        false
    }
    /// Engine-specific figures for the report (e.g. pruned space size).
    fn report(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// Candidates the engine discarded without asking for their evaluation (subtrees an
    /// exhaustive walk cut), by reason in [`SearchResult::failures`]' terms ("capacity at
    /// GLB"); the driver adds them to the run's failures once the run ends.
    fn discarded(&self, _space: &MapSpace) -> Vec<(String, u64)> {
        Vec::new()
    }
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The engine covered its whole space.
    Exhausted,
    /// The engine stopped on its own (converged, no candidates left).
    Converged,
    /// The evaluation budget ran out.
    Budget,
    /// The wall-clock limit ran out.
    TimeLimit,
}

impl StopReason {
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Exhausted => "exhausted",
            StopReason::Converged => "converged",
            StopReason::Budget => "budget",
            StopReason::TimeLimit => "time_limit",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SearchConfig {
    pub objective: Objective,
    /// Most points to evaluate (legal or not).
    pub budget: Option<u64>,
    pub time_limit: Option<Duration>,
    pub seed: u64,
    /// Points per batch; fixed so that results do not depend on the thread count.
    pub batch: usize,
    /// Draw a progress bar on stderr (only if it is a terminal).
    pub progress: bool,
}

impl SearchConfig {
    pub fn new(objective: Objective) -> SearchConfig {
        SearchConfig {
            objective,
            budget: None,
            time_limit: None,
            seed: 1,
            batch: 1024,
            progress: false,
        }
    }
}

/// The best point found.
#[derive(Debug, Clone)]
pub struct Best {
    pub point: Point,
    pub mapping: Mapping,
    pub summary: CostSummary,
    pub score: Score,
    /// Evaluations done when it was found.
    pub found_at: u64,
    pub found_at_s: f64,
}

/// One improvement of the best, for convergence plots.
#[derive(Debug, Clone, Copy)]
pub struct TracePoint {
    pub evaluations: u64,
    pub wall_s: f64,
    pub score: Score,
}

#[derive(Debug, Clone)]
pub struct SearchResult {
    pub algo: String,
    pub objective: Objective,
    pub best: Option<Best>,
    pub evaluations: u64,
    pub legal: u64,
    pub feasible: u64,
    pub wall_s: f64,
    pub stop_reason: StopReason,
    /// The engine covered the whole space, so `best` is optimal.
    pub optimal: bool,
    /// Illegal and infeasible points counted by reason ("capacity at GLB"), most first,
    /// including what the engine discarded unevaluated (each cut subtree counts once).
    pub failures: Vec<(String, u64)>,
    pub trace: Vec<TracePoint>,
    pub space_log10: f64,
    pub space_size: Option<u128>,
    /// A valid lower bound on the objective's first metric, and the best's gap to it.
    pub lower_bound: f64,
    pub gap: Option<f64>,
    pub engine: serde_json::Value,
}

impl SearchResult {
    /// "71% capacity at GlobalBuffer, 29% fanout at PE array".
    pub fn failure_summary(&self) -> String {
        let total: u64 = self.failures.iter().map(|f| f.1).sum();
        if total == 0 {
            return "no candidate failed".into();
        }
        self.failures
            .iter()
            .map(|(why, n)| format!("{:.0}% {why}", 100.0 * *n as f64 / total as f64))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn evals_per_sec(&self) -> f64 {
        self.evaluations as f64 / self.wall_s.max(1e-9)
    }
}

/// Evaluates one point with a caller-owned scratch and mapping buffer (no allocation once
/// the buffer has grown). Loops should prepare the model once and call [`evaluate_prepared`].
pub fn evaluate_point(
    space: &MapSpace,
    objective: &Objective,
    point: &Point,
    stats: &mut Stats,
    buffer: &mut Mapping,
) -> Outcome {
    let evaluator = Evaluator::new(space.arch, space.problem);
    evaluate_prepared(&evaluator, space, objective, point, stats, buffer)
}

/// As [`evaluate_point`], with the model prepared for the space's (arch, problem).
pub fn evaluate_prepared(
    evaluator: &Evaluator,
    space: &MapSpace,
    objective: &Objective,
    point: &Point,
    stats: &mut Stats,
    buffer: &mut Mapping,
) -> Outcome {
    if let Err(v) = space.legal(point) {
        return Outcome::Illegal(v);
    }
    space.write_mapping(point, buffer);
    match evaluator.evaluate_into(buffer, stats) {
        Ok(summary) => Outcome::Feasible {
            summary,
            score: objective.score(&summary),
        },
        Err(e) => Outcome::Infeasible(e),
    }
}

fn empty_mapping() -> Mapping {
    Mapping {
        nest: LoopNest {
            loops: Vec::new(),
            level_start: Vec::new(),
        },
        keep: Vec::new(),
    }
}

/// Evaluates points in parallel on the current rayon pool; results in input order.
pub fn evaluate_batch(space: &MapSpace, objective: &Objective, points: &[Point]) -> Vec<Outcome> {
    let evaluator = Evaluator::new(space.arch, space.problem);
    points
        .par_iter()
        .map_init(
            || (Stats::default(), empty_mapping()),
            |(stats, buf), p| evaluate_prepared(&evaluator, space, objective, p, stats, buf),
        )
        .collect()
}

/// A lower bound on the first metric over every mapping of the space: every MAC happens,
/// the outermost level reads each input element and updates each output element at least
/// once (in whole vectors), and no run is faster than all MACs busy every cycle.
pub fn lower_bound(space: &MapSpace, objective: &Objective) -> f64 {
    let arch = space.arch;
    let problem = space.problem;
    let macs = problem.macs();
    let cycles = macs.div_ceil(arch.compute.instances.max(1)) as f64;
    let top = &arch.levels[arch.num_levels() - 1];
    let mut energy = macs as f64 * arch.compute.energy_pj;
    for t in 0..problem.num_tensors() {
        let vectors = problem.tensor_size(t).div_ceil(top.block_size) as f64;
        let per = if problem.tensors[t].read_write {
            top.update_energy_pj
        } else {
            top.read_energy_pj
        };
        energy += vectors * per;
    }
    let area = arch.area_um2();
    match objective.metrics[0] {
        Metric::Energy => energy,
        Metric::Latency => cycles,
        Metric::Edp => energy * cycles,
        Metric::Area => area,
        Metric::Edap => energy * cycles * area,
    }
}

/// Runs engines over a space.
pub struct Driver;

impl Driver {
    /// Runs `engine` on `space` until it is done, the budget or the time limit. Evaluation
    /// runs on the current rayon pool (wrap the call in `ThreadPool::install` to size it).
    pub fn run(
        space: &MapSpace,
        engine: &mut dyn Searcher,
        config: &SearchConfig,
        mut on_improve: Option<&mut dyn FnMut(&Best)>,
    ) -> SearchResult {
        let start = Instant::now();
        let mut ctx = Context {
            space,
            objective: &config.objective,
            rng: SmallRng::seed_from_u64(config.seed),
            evaluations: 0,
            budget: config.budget,
        };
        let bar = progress_bar(config);
        let mut best: Option<Best> = None;
        let mut failures: BTreeMap<String, u64> = BTreeMap::new();
        let mut failure_ids: BTreeMap<FailureKey, u64> = BTreeMap::new();
        let (mut legal, mut feasible) = (0u64, 0u64);
        let mut trace = Vec::new();
        let stop_reason = loop {
            if let Some(limit) = config.time_limit {
                if start.elapsed() >= limit {
                    break StopReason::TimeLimit;
                }
            }
            let mut n = config.batch.max(1);
            if let Some(b) = config.budget {
                if ctx.evaluations >= b {
                    break StopReason::Budget;
                }
                n = n.min((b - ctx.evaluations) as usize);
            }
            let points = engine.ask(&mut ctx, n);
            if points.is_empty() {
                break if engine.proves_optimality() {
                    StopReason::Exhausted
                } else {
                    StopReason::Converged
                };
            }
            let points = if points.len() > n {
                points[..n].to_vec()
            } else {
                points
            };
            let outcomes = evaluate_batch(space, &config.objective, &points);
            for (p, o) in points.iter().zip(&outcomes) {
                ctx.evaluations += 1;
                match o {
                    Outcome::Feasible { summary, score } => {
                        legal += 1;
                        feasible += 1;
                        if best.as_ref().is_none_or(|b| score.better_than(&b.score)) {
                            let found = Best {
                                point: p.clone(),
                                mapping: space.to_mapping(p),
                                summary: *summary,
                                score: *score,
                                found_at: ctx.evaluations,
                                found_at_s: start.elapsed().as_secs_f64(),
                            };
                            trace.push(TracePoint {
                                evaluations: ctx.evaluations,
                                wall_s: found.found_at_s,
                                score: *score,
                            });
                            if let Some(cb) = on_improve.as_mut() {
                                cb(&found);
                            }
                            best = Some(found);
                        }
                    }
                    Outcome::Illegal(v) => {
                        *failure_ids.entry(FailureKey::of_violation(*v)).or_default() += 1
                    }
                    Outcome::Infeasible(e) => {
                        legal += 1;
                        *failure_ids
                            .entry(FailureKey::of_infeasible(*e))
                            .or_default() += 1
                    }
                }
            }
            engine.tell(&mut ctx, &points, &outcomes);
            if let Some(bar) = &bar {
                bar.set_position(ctx.evaluations);
                if let Some(b) = &best {
                    bar.set_message(format!(
                        "best {} {:.4e}",
                        config.objective,
                        b.score.primary()
                    ));
                }
            }
        };
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        for (k, n) in failure_ids {
            *failures.entry(k.reason(space)).or_default() += n;
        }
        for (why, n) in engine.discarded(space) {
            if n > 0 {
                *failures.entry(why).or_default() += n;
            }
        }
        let mut failures: Vec<(String, u64)> = failures.into_iter().collect();
        failures.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let lb = lower_bound(space, &config.objective);
        let optimal = stop_reason == StopReason::Exhausted;
        let gap = best.as_ref().map(|b| {
            if optimal {
                0.0
            } else {
                (b.score.primary() - lb) / lb.abs().max(f64::MIN_POSITIVE)
            }
        });
        SearchResult {
            algo: engine.name().to_string(),
            objective: config.objective.clone(),
            best,
            evaluations: ctx.evaluations,
            legal,
            feasible,
            wall_s: start.elapsed().as_secs_f64(),
            stop_reason,
            optimal,
            failures,
            trace,
            space_log10: space.log10_size(),
            space_size: space.size(),
            lower_bound: lb,
            gap,
            engine: engine.report(),
        }
    }
}

/// Failures are counted by kind and level in the loop and named once at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum FailureKey {
    Fanout(usize),
    SpatialUnderuse(usize),
    Capacity(usize),
    Underused(usize),
    TooManyLevels,
    TooManyLoops,
}

impl FailureKey {
    fn of_violation(v: Violation) -> FailureKey {
        match v {
            Violation::Fanout { level, .. } => FailureKey::Fanout(level),
            Violation::SpatialUnderuse { level } => FailureKey::SpatialUnderuse(level),
        }
    }

    fn of_infeasible(e: Infeasible) -> FailureKey {
        match e {
            Infeasible::Capacity { level, .. } => FailureKey::Capacity(level),
            Infeasible::Underused { level, .. } => FailureKey::Underused(level),
            Infeasible::TooManyLevels => FailureKey::TooManyLevels,
            Infeasible::TooManyLoops => FailureKey::TooManyLoops,
        }
    }

    fn reason(&self, space: &MapSpace) -> String {
        let name = |l: usize| &space.arch.levels[l].name;
        match *self {
            FailureKey::Fanout(l) => format!("fanout at {}", name(l)),
            FailureKey::SpatialUnderuse(l) => format!("spatial utilization at {}", name(l)),
            FailureKey::Capacity(l) => format!("capacity at {}", name(l)),
            FailureKey::Underused(l) => format!("minimum utilization at {}", name(l)),
            FailureKey::TooManyLevels => "too many levels".into(),
            FailureKey::TooManyLoops => "too many loops".into(),
        }
    }
}

/// A progress bar on stderr, or `None` when not asked for or stderr is not a terminal.
fn progress_bar(config: &SearchConfig) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !config.progress || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = match config.budget {
        Some(b) => indicatif::ProgressBar::new(b),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {elapsed_precise} {pos}/{len} evaluations ({per_sec}) {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

/// The search engines `loomap search --algo` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Exhaustive,
    Random,
    RandomPruned,
    Heuristic,
    Genetic,
    Anneal,
    Rl,
}

impl FromStr for Algo {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "exhaustive" => Algo::Exhaustive,
            "random" => Algo::Random,
            "random-pruned" | "random_pruned" => Algo::RandomPruned,
            "heuristic" => Algo::Heuristic,
            "genetic" => Algo::Genetic,
            "anneal" => Algo::Anneal,
            "rl" => Algo::Rl,
            _ => {
                return Err(format!(
                "unknown algorithm `{s}`; expected exhaustive, random, random-pruned, heuristic, genetic, anneal or rl"
            ))
            }
        })
    }
}

impl Algo {
    pub const ALL: [Algo; 7] = [
        Algo::Exhaustive,
        Algo::Random,
        Algo::RandomPruned,
        Algo::Heuristic,
        Algo::Genetic,
        Algo::Anneal,
        Algo::Rl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Algo::Exhaustive => "exhaustive",
            Algo::Random => "random",
            Algo::RandomPruned => "random-pruned",
            Algo::Heuristic => "heuristic",
            Algo::Genetic => "genetic",
            Algo::Anneal => "anneal",
            Algo::Rl => "rl",
        }
    }

    /// A fresh engine of this kind for `space`.
    pub fn engine(self, space: &MapSpace) -> Result<Box<dyn Searcher>, String> {
        Ok(match self {
            Algo::Exhaustive => Box::new(exhaustive::Exhaustive::new(space)),
            Algo::Random => Box::new(random::RandomSearch::uniform()),
            Algo::RandomPruned => Box::new(random::RandomSearch::pruned(16)),
            Algo::Genetic => Box::new(genetic::Genetic::new(genetic::GeneticConfig::default())),
            Algo::Anneal => Box::new(anneal::Annealer::new(anneal::AnnealConfig::default())),
            Algo::Heuristic => Box::new(heuristic::Heuristic::new()),
            Algo::Rl => Box::new(rl::RlSearch::default()),
        })
    }
}

/// Fixtures shared by the engines' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::arch::Arch;
    use crate::mapspace::Constraints;
    use crate::workload::Problem;

    /// A bundled layer on eyeriss_like under row stationary plus Timeloop's search hints.
    pub(crate) fn hinted_eyeriss(net: &str, layer: &str) -> (Arch, Problem, Constraints) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let arch = crate::io::load_arch(&root.join("arch/eyeriss_like.toml")).unwrap();
        let w = crate::io::load_workload(&root.join(format!("workloads/{net}.toml"))).unwrap();
        let problem = w.layer(layer).unwrap().problem.clone();
        let cp = root.join("arch/eyeriss_like_hints.constraints.toml");
        let spec = crate::io::constraints::load_constraints(&cp).unwrap();
        let c = crate::io::constraints::resolve(&spec, &cp, &arch, &problem).unwrap();
        (arch, problem, c)
    }
}
