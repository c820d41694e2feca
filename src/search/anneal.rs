//! Simulated annealing through `argmin`'s [`SimulatedAnnealing`] solver, as several
//! independent chains that advance in lock-step so that the driver evaluates one proposal per
//! chain per batch, in parallel.
//!
//! argmin's `Executor` runs one chain synchronously: each `next_iter` asks the problem for a
//! move (`Anneal::anneal`) and at once for its cost (`CostFunction::cost`). Here the driver
//! computes costs in batches, so each chain is driven one `next_iter` at a time:
//! 1. `ask`: every running chain proposes a neighbour of its current point
//!    ([`MapSpace::neighbour`], applied more times while the chain is hot: the move size
//!    follows the temperature argmin reports) drawn from the chain's own RNG, redrawn a few
//!    times if it breaks a fanout limit. The proposals go to the driver as one batch.
//! 2. `tell`: each chain's problem wrapper ([`ChainProblem`]) now holds its proposal and the
//!    proposal's energy. The engine calls argmin's `Solver::next_iter` on the chain's solver
//!    and state, exactly as argmin's `Executor` would (then `State::update` and
//!    `increment_iter`); argmin's `anneal` call receives the held proposal and its `cost` call
//!    the held energy. argmin decides acceptance (its `1 / (1 + exp(Δ/T))` rule and its own
//!    RNG, seeded from the run's RNG), updates the temperature (exponential schedule),
//!    reanneals (back to the initial temperature when the chain's best has not improved for
//!    `reanneal_after` steps) and ends the chain (`terminate`: no better chain best for
//!    `stall_after` steps).
//!
//! Energy: the natural log of the objective's first metric, so that temperatures are relative
//! changes (T = 0.1 accepts a 10 % worse point with probability 1 / (1 + e) ≈ 0.27) and do not
//! depend on units. Infeasible points cost [`INFEASIBLE_ENERGY`] plus the log of how far over
//! the limit they are: never accepted from a feasible point, and chains that start
//! infeasible drift toward feasibility. Ties of the first metric are broken by the driver.
//!
//! The chains start from the best of several legal random samples each. A proposal evaluated
//! before (by any chain) takes its energy from a cache and steps the chain at once, without
//! spending an evaluation. A chain that reanneals while its best is worse than the best of all
//! chains continues from that best point (we set argmin's state; argmin then anneals on
//! from there). The engine stops (converged) when every chain has ended; the budget stops it
//! otherwise.

use std::collections::HashMap;

use argmin::core::{
    CostFunction, Error as ArgminError, IterState, Problem as ArgminProblem, Solver, State,
    TerminationStatus,
};
use argmin::solver::simulatedannealing::{Anneal, SATempFunc, SimulatedAnnealing};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::genetic::{fingerprint, infeasible_excess, violation_excess};
use super::{Context, Outcome, Searcher};
use crate::mapspace::{MapSpace, Point};

/// Energy floor of an infeasible point (far above the log of any metric: ln(1e300) ≈ 691).
pub const INFEASIBLE_ENERGY: f64 = 1e3;

/// Parameters of [`Annealer`]; [`Default`] gives the tuned values (see docs/search.md).
#[derive(Debug, Clone, PartialEq)]
pub struct AnnealConfig {
    /// Chains; `None` picks one per `steps_per_chain` evaluations of the budget, between
    /// 4 and 64 (32 without a budget), never more than a batch holds.
    pub chains: Option<usize>,
    /// Evaluations per chain the automatic chain count aims at.
    pub steps_per_chain: u64,
    /// Legal random samples per chain; the chain starts from the best of them.
    pub starts_per_chain: usize,
    /// Initial temperature (in log-metric units: relative change).
    pub initial_temperature: f64,
    /// Temperature factor per step (argmin's `SATempFunc::Exponential`).
    pub cooling: f64,
    /// Back to the initial temperature after this many steps without a better chain best.
    pub reanneal_after: u64,
    /// A chain ends after this many steps without a better chain best.
    pub stall_after: u64,
    /// Most neighbour moves per proposal, at the initial temperature (one when cold).
    pub max_moves: u32,
    /// A chain that reanneals while its best is worse than the best of all chains continues
    /// from that best point.
    pub restart_from_best: bool,
}

impl Default for AnnealConfig {
    fn default() -> Self {
        AnnealConfig {
            chains: None,
            steps_per_chain: 100,
            starts_per_chain: 2,
            initial_temperature: 0.1,
            cooling: 0.95,
            reanneal_after: 60,
            stall_after: 600,
            max_moves: 2,
            restart_from_best: true,
        }
    }
}

/// argmin's view of one chain: the proposal made for the current step and its energy,
/// already evaluated by the driver.
pub struct ChainProblem {
    pending: Option<(Point, f64)>,
}

impl CostFunction for ChainProblem {
    type Param = Point;
    type Output = f64;

    fn cost(&self, p: &Point) -> Result<f64, ArgminError> {
        match &self.pending {
            Some((q, e)) if q == p => Ok(*e),
            _ => Err(argmin::core::ArgminError::PotentialBug {
                text: "annealing chain asked for the cost of a point it did not propose".into(),
            }
            .into()),
        }
    }
}

impl Anneal for ChainProblem {
    type Param = Point;
    type Output = Point;
    type Float = f64;

    fn anneal(&self, _from: &Point, _temperature: f64) -> Result<Point, ArgminError> {
        match &self.pending {
            Some((q, _)) => Ok(q.clone()),
            None => Err(argmin::core::ArgminError::PotentialBug {
                text: "annealing chain stepped without a proposal".into(),
            }
            .into()),
        }
    }
}

type ChainState = IterState<Point, (), (), (), (), f64>;

struct Chain {
    solver: SimulatedAnnealing<f64, SmallRng>,
    problem: ArgminProblem<ChainProblem>,
    /// `None` only while argmin owns it (inside a step) or before the chain starts.
    state: Option<ChainState>,
    /// The temperature argmin will use at the next step.
    temperature: f64,
    /// Proposals come from this RNG (seeded from the run's), acceptance from argmin's.
    rng: SmallRng,
    running: bool,
    /// Proposals in a row that were already evaluated: the neighbourhood is used up, so
    /// proposals jump further (one more move per [`CACHED_PER_EXTRA_MOVE`]).
    cached_in_a_row: u32,
}

enum Phase {
    /// Sampling start points: `starts` are handed out in order, `energies` told back.
    Sampling {
        starts: Vec<Point>,
        served: usize,
        energies: Vec<f64>,
    },
    Annealing,
}

pub struct Annealer {
    config: AnnealConfig,
    phase: Phase,
    chains: Vec<Chain>,
    /// Chains whose proposals are in the batch being evaluated, in batch order.
    asked: Vec<usize>,
    /// Energies of evaluated points by fingerprint, so revisits cost no evaluation.
    cache: HashMap<u64, f64>,
    steps: u64,
    cached_steps: u64,
    reanneals: u64,
    restarts: u64,
    /// The lowest-energy point any chain has been told about.
    best: Option<(Point, f64)>,
    argmin_errors: u64,
}

/// Most steps one chain takes from cached energies within one `ask` (a chain whose
/// neighbourhood is all cached would otherwise spin until its schedule ends).
const MAX_CACHED_STEPS: usize = 256;

/// Cached proposals in a row per extra neighbour move, and the most extra moves.
const CACHED_PER_EXTRA_MOVE: u32 = 8;
const MAX_EXTRA_MOVES: u32 = 8;

/// Most cached energies (16 bytes each); the cache is emptied when full.
const MAX_CACHE: usize = 1 << 22;

/// Tries at a legal (fanout-respecting) neighbour before proposing an illegal one.
const PROPOSAL_TRIES: usize = 16;

fn energy(outcome: &Outcome) -> f64 {
    match outcome {
        Outcome::Feasible { score, .. } => score.primary().max(f64::MIN_POSITIVE).ln(),
        Outcome::Illegal(v) => INFEASIBLE_ENERGY + violation_excess(v).ln(),
        Outcome::Infeasible(e) => INFEASIBLE_ENERGY + infeasible_excess(e).min(1e300).ln(),
    }
}

impl Annealer {
    pub fn new(config: AnnealConfig) -> Annealer {
        Annealer {
            config,
            phase: Phase::Sampling {
                starts: Vec::new(),
                served: 0,
                energies: Vec::new(),
            },
            chains: Vec::new(),
            asked: Vec::new(),
            cache: HashMap::new(),
            steps: 0,
            cached_steps: 0,
            reanneals: 0,
            restarts: 0,
            best: None,
            argmin_errors: 0,
        }
    }

    fn chain_count(&self, ctx: &Context, max: usize) -> usize {
        let auto = match ctx.budget {
            Some(b) => (b / self.config.steps_per_chain.max(1)).clamp(4, 64) as usize,
            None => 32,
        };
        self.config.chains.unwrap_or(auto).clamp(1, max.max(1))
    }

    fn solver(&self, seed: u64) -> Option<SimulatedAnnealing<f64, SmallRng>> {
        let cfg = &self.config;
        // argmin rejects a non-positive initial temperature.
        let sa = SimulatedAnnealing::new_with_rng(
            cfg.initial_temperature,
            SmallRng::seed_from_u64(seed),
        )
        .ok()?;
        Some(
            sa.with_temp_func(SATempFunc::Exponential(cfg.cooling.clamp(1e-3, 0.9999)))
                .with_reannealing_best(cfg.reanneal_after.max(1))
                .with_stall_best(cfg.stall_after.max(1)),
        )
    }

    /// Starts one chain per group of samples, at the group's lowest energy.
    fn start_chains(&mut self, ctx: &mut Context, starts: Vec<Point>, energies: Vec<f64>) {
        let per = self.config.starts_per_chain.max(1);
        let groups: Vec<(Point, f64)> = starts
            .into_iter()
            .zip(energies)
            .collect::<Vec<_>>()
            .chunks(per)
            .filter_map(|g| {
                g.iter()
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(p, e)| (p.clone(), *e))
            })
            .collect();
        for (start, e) in groups {
            let Some(mut solver) = self.solver(ctx.rng.gen()) else {
                self.argmin_errors += 1;
                continue;
            };
            let mut problem = ArgminProblem::new(ChainProblem {
                pending: Some((start.clone(), e)),
            });
            let state = ChainState::new().param(start).cost(e);
            let state = match solver.init(&mut problem, state) {
                Ok((mut s, _)) => {
                    s.update();
                    Some(s)
                }
                Err(_) => {
                    self.argmin_errors += 1;
                    None
                }
            };
            self.chains.push(Chain {
                running: state.is_some(),
                cached_in_a_row: 0,
                temperature: self.config.initial_temperature,
                solver,
                problem,
                state,
                rng: SmallRng::seed_from_u64(ctx.rng.gen()),
            });
        }
        self.phase = Phase::Annealing;
    }

    fn step(&mut self, chain: usize, proposal: Point, e: f64) {
        let c = &mut self.chains[chain];
        let Some(state) = c.state.take() else {
            c.running = false;
            return;
        };
        if self.best.as_ref().is_none_or(|b| e < b.1) {
            self.best = Some((proposal.clone(), e));
        }
        if let Some(p) = c.problem.problem.as_mut() {
            p.pending = Some((proposal, e));
        }
        match c.solver.next_iter(&mut c.problem, state) {
            Ok((mut s, kv)) => {
                s.update();
                s.increment_iter();
                if let Some(kv) = kv {
                    if let Some(t) = kv.get("t").and_then(|v| v.get_float()) {
                        c.temperature = t;
                    }
                    if kv.get("ra_be").and_then(|v| v.get_bool()) == Some(true) {
                        self.reanneals += 1;
                        // A reannealing chain that is behind the others continues from
                        // the best point any chain has found.
                        if let Some((p, be)) = &self.best {
                            if self.config.restart_from_best && *be < s.best_cost {
                                s = s.param(p.clone()).cost(*be);
                                self.restarts += 1;
                            }
                        }
                    }
                }
                if let TerminationStatus::Terminated(_) =
                    Solver::<ChainProblem, ChainState>::terminate_internal(&mut c.solver, &s)
                {
                    c.running = false;
                }
                c.state = Some(s);
            }
            Err(_) => {
                self.argmin_errors += 1;
                c.running = false;
            }
        }
        self.steps += 1;
    }
}

/// A neighbour of the chain's point, `max_moves` neighbour moves when hot down to one when
/// cold, redrawn while it breaks a fanout limit or stays put (a few tries).
fn propose(config: &AnnealConfig, space: &MapSpace, chain: &mut Chain) -> Option<Point> {
    let from = chain.state.as_ref()?.param.as_ref()?;
    let t0 = config.initial_temperature.max(f64::MIN_POSITIVE);
    let heat = (chain.temperature / t0).clamp(0.0, 1.0);
    let moves = 1
        + ((config.max_moves.max(1) - 1) as f64 * heat).round() as u32
        + (chain.cached_in_a_row / CACHED_PER_EXTRA_MOVE).min(MAX_EXTRA_MOVES);
    let mut q = from.clone();
    for _ in 0..PROPOSAL_TRIES {
        q.clone_from(from);
        for _ in 0..moves {
            q = space.neighbour(&q, &mut chain.rng);
        }
        if space.legal(&q).is_ok() && q != *from {
            break;
        }
    }
    Some(q)
}

impl Searcher for Annealer {
    fn name(&self) -> &'static str {
        "anneal"
    }

    fn ask(&mut self, ctx: &mut Context, max: usize) -> Vec<Point> {
        let samples = self.config.starts_per_chain.max(1) * self.chain_count(ctx, max);
        if let Phase::Sampling {
            starts,
            served,
            energies,
        } = &mut self.phase
        {
            if starts.is_empty() {
                let n = samples;
                let space = ctx.space;
                for _ in 0..n {
                    let p = space
                        .sample_legal(&mut ctx.rng, 64)
                        .unwrap_or_else(|| space.sample(&mut ctx.rng));
                    starts.push(p);
                }
            }
            if *served < starts.len() {
                let k = max.min(starts.len() - *served);
                let out = starts[*served..*served + k].to_vec();
                *served += k;
                return out;
            }
            let starts = std::mem::take(starts);
            let energies = std::mem::take(energies);
            self.start_chains(ctx, starts, energies);
        }
        self.asked.clear();
        let mut out = Vec::with_capacity(max.min(self.chains.len()));
        for i in 0..self.chains.len() {
            if out.len() == max {
                break;
            }
            // A proposal evaluated before steps the chain at once, without the driver.
            for _ in 0..MAX_CACHED_STEPS {
                if !self.chains[i].running {
                    break;
                }
                let Some(p) = propose(&self.config, ctx.space, &mut self.chains[i]) else {
                    self.chains[i].running = false;
                    break;
                };
                match self.cache.get(&fingerprint(&p)) {
                    Some(&e) => {
                        self.cached_steps += 1;
                        self.chains[i].cached_in_a_row += 1;
                        self.step(i, p, e);
                    }
                    None => {
                        self.chains[i].cached_in_a_row = 0;
                        self.asked.push(i);
                        out.push(p);
                        break;
                    }
                }
            }
        }
        out
    }

    fn tell(&mut self, _: &mut Context, points: &[Point], outcomes: &[Outcome]) {
        if self.cache.len() + points.len() > MAX_CACHE {
            self.cache.clear();
        }
        for (p, o) in points.iter().zip(outcomes) {
            self.cache.insert(fingerprint(p), energy(o));
        }
        if let Phase::Sampling { energies, .. } = &mut self.phase {
            energies.extend(outcomes.iter().map(energy));
            return;
        }
        let asked = std::mem::take(&mut self.asked);
        for ((&chain, p), o) in asked.iter().zip(points).zip(outcomes) {
            self.step(chain, p.clone(), energy(o));
        }
    }

    fn report(&self) -> serde_json::Value {
        serde_json::json!({
            "chains": self.chains.len(),
            "running_chains": self.chains.iter().filter(|c| c.running).count(),
            "steps": self.steps,
            "cached_steps": self.cached_steps,
            "reanneals": self.reanneals,
            "restarts_from_best": self.restarts,
            "argmin_errors": self.argmin_errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapspace::{Axis, Constraints, Violation};
    use crate::model::Infeasible;
    use crate::search::{Driver, Objective, Score, SearchConfig, StopReason};

    use crate::mapspace::tests::tiny;

    fn feasible(primary: f64) -> Outcome {
        let (arch, p) = tiny();
        let space = MapSpace::new(&arch, &p, Constraints::none(&arch)).unwrap();
        let mut rng = SmallRng::seed_from_u64(4);
        // Any feasible summary: only the score matters here.
        let summary = (0..1000)
            .find_map(|_| {
                let m = space.to_mapping(&space.sample_legal(&mut rng, 100)?);
                crate::model::evaluate(&arch, &p, &m).ok()
            })
            .unwrap();
        Outcome::Feasible {
            summary,
            score: Score([primary, 0.0, 0.0, 0.0]),
        }
    }

    #[test]
    fn energy_is_the_log_of_the_first_metric_and_infeasible_is_far_above() {
        let e = energy(&feasible(std::f64::consts::E.powi(3)));
        assert!((e - 3.0).abs() < 1e-12, "{e}");
        let cap = energy(&Outcome::Infeasible(Infeasible::Capacity {
            level: 0,
            need_words: 40,
            have_words: 10,
        }));
        assert!(
            (cap - (INFEASIBLE_ENERGY + 4f64.ln())).abs() < 1e-9,
            "{cap}"
        );
        let fan = energy(&Outcome::Illegal(Violation::Fanout {
            level: 0,
            axis: Axis::X,
            used: 4,
            available: 2,
        }));
        assert!(
            (fan - (INFEASIBLE_ENERGY + 2f64.ln())).abs() < 1e-9,
            "{fan}"
        );
        // EDP of 10^300 (ln ≈ 690.8) is still below any infeasible point.
        assert!(energy(&feasible(1e300)) < INFEASIBLE_ENERGY);
    }

    #[test]
    fn chain_problem_answers_only_for_its_proposal() {
        let (arch, p) = tiny();
        let space = MapSpace::new(&arch, &p, Constraints::none(&arch)).unwrap();
        let a = space.blank_point();
        let mut rng = SmallRng::seed_from_u64(1);
        let b = space.neighbour(&a, &mut rng);
        assert_ne!(a, b);
        let cp = ChainProblem {
            pending: Some((b.clone(), 2.5)),
        };
        assert_eq!(cp.cost(&b).unwrap(), 2.5);
        assert!(cp.cost(&a).is_err());
        assert_eq!(cp.anneal(&a, 0.1).unwrap(), b);
        assert!(ChainProblem { pending: None }.anneal(&a, 0.1).is_err());
    }

    /// argmin's rule, driven step by step: a better proposal is always accepted, an
    /// infeasible one from a feasible point never, and the temperature follows the
    /// exponential schedule.
    #[test]
    fn argmin_accepts_better_and_rejects_infeasible_proposals() {
        let (arch, p) = tiny();
        let space = MapSpace::new(&arch, &p, Constraints::none(&arch)).unwrap();
        let mut annealer = Annealer::new(AnnealConfig::default());
        let mut rng = SmallRng::seed_from_u64(2);
        let start = space.blank_point();
        let objective: Objective = "edp".parse().unwrap();
        let mut ctx = Context {
            space: &space,
            objective: &objective,
            rng: SmallRng::seed_from_u64(9),
            evaluations: 0,
            budget: None,
        };
        annealer.start_chains(&mut ctx, vec![start.clone()], vec![10.0]);
        assert_eq!(annealer.chains.len(), 1);
        let current = |a: &Annealer| a.chains[0].state.as_ref().unwrap().param.clone().unwrap();
        let t0 = annealer.config.initial_temperature;
        let better = space.neighbour(&start, &mut rng);
        annealer.step(0, better.clone(), 9.0);
        assert_eq!(current(&annealer), better);
        let t1 = annealer.chains[0].temperature;
        assert!(
            (t1 - t0 * annealer.config.cooling.powi(2)).abs() < 1e-12,
            "{t1}"
        );
        let bad = space.neighbour(&better, &mut rng);
        for _ in 0..50 {
            annealer.step(0, bad.clone(), INFEASIBLE_ENERGY);
            assert_eq!(current(&annealer), better);
        }
        assert_eq!(annealer.steps, 51);
        assert_eq!(annealer.argmin_errors, 0);
    }

    #[test]
    fn reaches_the_optimum_of_a_tiny_space_and_converges() {
        let (arch, p) = tiny();
        let space = MapSpace::new(&arch, &p, Constraints::none(&arch)).unwrap();
        let objective: Objective = "edp".parse().unwrap();
        let config = SearchConfig::new(objective);
        let mut exhaustive = crate::search::exhaustive::Exhaustive::new(&space);
        let exact = Driver::run(&space, &mut exhaustive, &config, None);
        let mut sa = Annealer::new(AnnealConfig::default());
        let r = Driver::run(&space, &mut sa, &config, None);
        assert_eq!(r.stop_reason, StopReason::Converged);
        assert!(sa.chains.iter().all(|c| !c.running));
        let (best, opt) = (r.best.unwrap().score, exact.best.unwrap().score);
        assert_eq!(best, opt, "anneal {best:?} vs optimum {opt:?}");
    }
}
