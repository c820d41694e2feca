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
//! The chains start from the best of several legal random samples each. The engine stops
//! (converged) when every chain has ended; the budget stops it otherwise.

use argmin::core::{
    CostFunction, Error as ArgminError, IterState, Problem as ArgminProblem, Solver, State,
    TerminationStatus,
};
use argmin::solver::simulatedannealing::{Anneal, SATempFunc, SimulatedAnnealing};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::genetic::{infeasible_excess, violation_excess};
use super::{Context, Outcome, Searcher};
use crate::mapspace::{MapSpace, Point};

/// Energy floor of an infeasible point (far above the log of any metric: ln(1e300) ≈ 691).
pub const INFEASIBLE_ENERGY: f64 = 1e3;

/// Parameters of [`Anneal`]; [`Default`] gives the tuned values (see docs/search.md).
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
}

impl Default for AnnealConfig {
    fn default() -> Self {
        AnnealConfig {
            chains: None,
            steps_per_chain: 300,
            starts_per_chain: 4,
            initial_temperature: 0.2,
            cooling: 0.97,
            reanneal_after: 150,
            stall_after: 600,
            max_moves: 3,
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
    steps: u64,
    reanneals: u64,
    argmin_errors: u64,
}

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
            steps: 0,
            reanneals: 0,
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
    let moves = 1 + ((config.max_moves.max(1) - 1) as f64 * heat).round() as u32;
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
        for (i, chain) in self.chains.iter_mut().enumerate() {
            if out.len() == max {
                break;
            }
            if !chain.running {
                continue;
            }
            match propose(&self.config, ctx.space, chain) {
                Some(p) => {
                    self.asked.push(i);
                    out.push(p);
                }
                None => chain.running = false,
            }
        }
        out
    }

    fn tell(&mut self, _: &mut Context, points: &[Point], outcomes: &[Outcome]) {
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
            "reanneals": self.reanneals,
            "argmin_errors": self.argmin_errors,
        })
    }
}
