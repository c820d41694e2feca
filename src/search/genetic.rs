//! GAMMA-style genetic mapping search (Kao & Krishna, ICCAD 2020), over [`MapSpace`] points.
//!
//! The genome is a [`Point`]: every dimension's factor vector over the slots, every level's
//! temporal order and keep mask. A generation is `population` children, bred all at once
//! when the previous generation has been scored, and handed to the driver in batches of at
//! most the batch size (a batch never mixes generations). All randomness comes from the run's
//! RNG and outcomes are consumed in order, so results depend only on the seed and the batch
//! size, never on the thread count.
//!
//! Operators (each child): tournament selection of parents, uniform crossover
//! ([`MapSpace::crossover`]), *mutation* (move one prime factor between two slots, or redraw
//! one dimension's whole factor vector), *reordering* (swap two free dimensions of a level's
//! order, or shuffle it), *growth* (move one prime factor to the next slot out or in: grow or
//! shrink one tile), and a keep-mask flip. Children that are illegal (fanout) or already
//! evaluated are bred again (a few tries), so the budget goes to new legal points.
//!
//! Survival is (μ + λ): parents and children compete for `population` places, ranked by
//! [`Fitness`] (feasible points by score; infeasible ones after every feasible one, by how
//! badly they overflow). *Aging*: a parent that has survived `max_age` generations dies unless
//! it is among the elite, which keeps the population from collapsing onto one point.
//! Once the best has not improved for `max_stale_generations`, the search stops by itself if
//! it has no evaluation budget left (or none was set); with budget left it *restarts*: the
//! elite stay and fresh distinct samples replace the rest of the population, so a run that
//! converged early on a local optimum spends its remaining budget elsewhere, never losing its
//! best.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use rand::seq::SliceRandom;
use rand::Rng;

use super::{Context, Outcome, Score, Searcher};
use crate::mapspace::{MapSpace, Point, Violation};
use crate::model::Infeasible;

/// Parameters of [`Genetic`]; [`Default`] gives the tuned values (see docs/search.md).
#[derive(Debug, Clone, PartialEq)]
pub struct GeneticConfig {
    /// Individuals kept per generation, and children bred per generation.
    pub population: usize,
    /// The first generation samples this many times `population` legal points.
    pub initial_factor: usize,
    /// Share of the population (best first) that never ages out.
    pub elite_fraction: f64,
    /// Chance that a child is a crossover of two parents (else a copy of one).
    pub crossover_rate: f64,
    /// Chance of a factor mutation (prime move or a redrawn factor vector) per child.
    pub mutation_rate: f64,
    /// Chance of reordering one level's free loops per child.
    pub reorder_rate: f64,
    /// Chance of growing or shrinking one tile (a prime to the next slot out or in) per child.
    pub growth_rate: f64,
    /// Chance of changing one level's keep mask per child.
    pub keep_rate: f64,
    /// Parents per tournament.
    pub tournament: usize,
    /// Generations a non-elite individual may survive.
    pub max_age: u32,
    /// Stop after this many generations without a better best.
    pub max_stale_generations: u32,
}

impl Default for GeneticConfig {
    fn default() -> Self {
        GeneticConfig {
            population: 64,
            initial_factor: 2,
            elite_fraction: 0.1,
            crossover_rate: 0.7,
            mutation_rate: 0.6,
            reorder_rate: 0.3,
            growth_rate: 0.4,
            keep_rate: 0.1,
            tournament: 3,
            max_age: 6,
            max_stale_generations: 40,
        }
    }
}

/// How good an evaluated point is: every feasible point ranks before every infeasible one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fitness {
    Feasible(Score),
    /// How far over a limit the point is (`need / have` ≥ 1; larger is worse).
    Infeasible(f64),
}

impl Fitness {
    pub fn of(outcome: &Outcome) -> Fitness {
        match outcome {
            Outcome::Feasible { score, .. } => Fitness::Feasible(*score),
            Outcome::Illegal(v) => Fitness::Infeasible(violation_excess(v)),
            Outcome::Infeasible(e) => Fitness::Infeasible(infeasible_excess(e)),
        }
    }

    pub fn compare(&self, other: &Fitness) -> Ordering {
        match (self, other) {
            (Fitness::Feasible(a), Fitness::Feasible(b)) => a.compare(b),
            (Fitness::Feasible(_), Fitness::Infeasible(_)) => Ordering::Less,
            (Fitness::Infeasible(_), Fitness::Feasible(_)) => Ordering::Greater,
            (Fitness::Infeasible(a), Fitness::Infeasible(b)) => a.total_cmp(b),
        }
    }
}

/// `need / have` of a capacity or minimum-utilization miss; unknown kinds rank worst.
pub(crate) fn infeasible_excess(e: &Infeasible) -> f64 {
    match *e {
        Infeasible::Capacity {
            need_words,
            have_words,
            ..
        } => need_words as f64 / (have_words.max(1)) as f64,
        Infeasible::Underused {
            used_words,
            min_words,
            ..
        } => min_words as f64 / (used_words.max(1)) as f64,
        Infeasible::TooManyLevels | Infeasible::TooManyLoops => f64::MAX,
    }
}

/// `used / available` of a fanout miss; a spatial-underuse miss counts as slightly over.
pub(crate) fn violation_excess(v: &Violation) -> f64 {
    match *v {
        Violation::Fanout {
            used, available, ..
        } => used as f64 / (available.max(1)) as f64,
        Violation::SpatialUnderuse { .. } => 2.0,
    }
}

/// A 64-bit fingerprint to skip re-evaluating points. `DefaultHasher::new` has fixed keys,
/// so it is the same on every run of one build (a collision only skips one point).
pub(crate) fn fingerprint(p: &Point) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    p.hash(&mut h);
    h.finish()
}

struct Individual {
    point: Point,
    fitness: Fitness,
    /// Generations survived.
    age: u32,
}

pub struct Genetic {
    config: GeneticConfig,
    /// Sorted best first.
    population: Vec<Individual>,
    /// This generation's children, the next one to hand out, and their fitness as told.
    children: Vec<Point>,
    served: usize,
    child_fitness: Vec<Fitness>,
    seen: HashSet<u64>,
    generation: u32,
    best: Option<Fitness>,
    stale: u32,
    /// Population refreshes after a stall (see the module docs).
    restarts: u32,
    /// Children bred again because they were illegal or duplicates, for the report.
    rebred: u64,
}

/// Breeding attempts per child before an illegal or duplicate child is accepted anyway.
const BREED_TRIES: usize = 16;

impl Genetic {
    pub fn new(config: GeneticConfig) -> Genetic {
        Genetic {
            config,
            population: Vec::new(),
            children: Vec::new(),
            served: 0,
            child_fitness: Vec::new(),
            seen: HashSet::new(),
            generation: 0,
            best: None,
            stale: 0,
            restarts: 0,
            rebred: 0,
        }
    }

    fn population_size(&self) -> usize {
        self.config.population.max(2)
    }

    /// Generation 0: distinct legal samples (falling back to any sample in a space where
    /// legal points are rare).
    fn seed_generation(&mut self, ctx: &mut Context) {
        let n = self.population_size() * self.config.initial_factor.max(1);
        let space = ctx.space;
        for _ in 0..n * BREED_TRIES {
            if self.children.len() == n {
                break;
            }
            let p = space
                .sample_legal(&mut ctx.rng, 64)
                .unwrap_or_else(|| space.sample(&mut ctx.rng));
            if self.seen.insert(fingerprint(&p)) {
                self.children.push(p);
            }
        }
    }

    /// Tournament on the sorted population: the best rank of `k` random draws.
    fn select<'p>(&'p self, ctx: &mut Context) -> &'p Point {
        let n = self.population.len();
        let mut best = ctx.rng.gen_range(0..n);
        for _ in 1..self.config.tournament.max(1) {
            best = best.min(ctx.rng.gen_range(0..n));
        }
        &self.population[best].point
    }

    fn breed_generation(&mut self, ctx: &mut Context) {
        let space = ctx.space;
        for _ in 0..self.population_size() {
            let mut child = None;
            for attempt in 0..BREED_TRIES {
                let mut c = {
                    let a = self.select(ctx);
                    if ctx.rng.gen_bool(self.config.crossover_rate.clamp(0.0, 1.0)) {
                        let b = self.select(ctx);
                        space.crossover(a, b, &mut ctx.rng)
                    } else {
                        a.clone()
                    }
                };
                self.mutate(space, &mut c, ctx);
                let fresh = !self.seen.contains(&fingerprint(&c));
                let last = attempt + 1 == BREED_TRIES;
                if (fresh && space.legal(&c).is_ok()) || last {
                    child = Some(c);
                    break;
                }
                self.rebred += 1;
            }
            if let Some(c) = child {
                self.seen.insert(fingerprint(&c));
                self.children.push(c);
            }
        }
    }

    /// Applies each operator with its rate; a child that none touched gets one factor move,
    /// so that a copy of a parent is never bred.
    fn mutate(&self, space: &MapSpace, c: &mut Point, ctx: &mut Context) {
        let rng = &mut ctx.rng;
        let cfg = &self.config;
        let mut changed = false;
        if rng.gen_bool(cfg.mutation_rate.clamp(0.0, 1.0)) {
            changed |= if rng.gen_bool(0.75) {
                (0..4).any(|_| space.move_factor(c, rng))
            } else {
                redraw_factors(space, c, rng)
            };
        }
        if rng.gen_bool(cfg.reorder_rate.clamp(0.0, 1.0)) {
            changed |= reorder(space, c, rng);
        }
        if rng.gen_bool(cfg.growth_rate.clamp(0.0, 1.0)) {
            changed |= (0..4).any(|_| grow(space, c, rng));
        }
        if rng.gen_bool(cfg.keep_rate.clamp(0.0, 1.0)) {
            changed |= flip_keep(space, c, rng);
        }
        if !changed {
            for _ in 0..8 {
                if space.move_factor(c, rng) || reorder(space, c, rng) {
                    break;
                }
            }
        }
    }

    /// After a stall: keep the elite, and make fresh distinct samples the next children.
    fn restart(&mut self, ctx: &mut Context) {
        let elite = (self.config.elite_fraction * self.population_size() as f64).ceil() as usize;
        self.population.truncate(elite.max(1));
        self.stale = 0;
        self.restarts += 1;
        self.seed_generation(ctx);
    }

    /// (μ + λ) survival with aging, then the staleness count.
    fn survive(&mut self) {
        let elite = ((self.config.elite_fraction * self.population_size() as f64).ceil() as usize)
            .min(self.population.len());
        let max_age = self.config.max_age;
        let mut pool: Vec<Individual> = std::mem::take(&mut self.population)
            .into_iter()
            .enumerate()
            .filter(|(rank, ind)| *rank < elite || ind.age < max_age)
            .map(|(_, mut ind)| {
                ind.age += 1;
                ind
            })
            .collect();
        let children = std::mem::take(&mut self.children);
        pool.extend(children.into_iter().zip(self.child_fitness.drain(..)).map(
            |(point, fitness)| Individual {
                point,
                fitness,
                age: 0,
            },
        ));
        // Stable: among equals, survivors (listed first) stay ahead of children.
        pool.sort_by(|a, b| a.fitness.compare(&b.fitness));
        pool.truncate(self.population_size());
        let top = pool.first().map(|i| i.fitness);
        match (top, self.best) {
            (Some(t), Some(b)) if t.compare(&b) == Ordering::Less => {
                self.best = Some(t);
                self.stale = 0;
            }
            (Some(t), None) => {
                self.best = Some(t);
                self.stale = 0;
            }
            _ => self.stale += 1,
        }
        self.population = pool;
        self.served = 0;
        self.generation += 1;
    }
}

/// Redraws one dimension's whole factor vector from its legal choices.
fn redraw_factors<R: Rng>(space: &MapSpace, c: &mut Point, rng: &mut R) -> bool {
    let d = rng.gen_range(0..space.num_dims());
    if space.num_choices(d) < 2 {
        return false;
    }
    let i = rng.gen_range(0..space.num_choices(d));
    space.set_choice(c, d, i);
    true
}

/// Swaps two free dimensions of one level's order, or shuffles them all.
fn reorder<R: Rng>(space: &MapSpace, c: &mut Point, rng: &mut R) -> bool {
    let lvl = rng.gen_range(0..space.num_levels());
    let free = space.free_order[lvl].len();
    if free < 2 {
        return false;
    }
    let start = space.constraints.levels[lvl].order_prefix.len();
    let part = &mut c.orders[lvl][start..start + free];
    if rng.gen_bool(0.7) {
        let i = rng.gen_range(0..free);
        let j = rng.gen_range(0..free);
        part.swap(i, j);
        i != j
    } else {
        part.shuffle(rng);
        true
    }
}

/// Moves one prime factor of a dimension to the next usable slot out or in (slots are listed
/// inner level first), i.e. grows one tile and shrinks its neighbour.
fn grow<R: Rng>(space: &MapSpace, c: &mut Point, rng: &mut R) -> bool {
    let d = rng.gen_range(0..space.num_dims());
    let ds = &space.dim_slots[d];
    if ds.len() < 2 {
        return false;
    }
    let j = rng.gen_range(0..ds.len());
    let k = if j == 0 || (j + 1 < ds.len() && rng.gen_bool(0.5)) {
        j + 1
    } else {
        j - 1
    };
    space.move_prime(c, d, ds[j], ds[k], rng)
}

/// Picks another allowed keep mask at one level.
fn flip_keep<R: Rng>(space: &MapSpace, c: &mut Point, rng: &mut R) -> bool {
    let lvl = rng.gen_range(0..space.num_levels());
    let opts = &space.keep_options[lvl];
    if opts.len() < 2 {
        return false;
    }
    let m = opts[rng.gen_range(0..opts.len())];
    let changed = m != c.keep[lvl];
    c.keep[lvl] = m;
    changed
}

impl Searcher for Genetic {
    fn name(&self) -> &'static str {
        "genetic"
    }

    fn ask(&mut self, ctx: &mut Context, max: usize) -> Vec<Point> {
        if self.served == self.children.len() {
            // Every child of the generation has been told (the driver tells before asking).
            if self.generation == 0 && self.population.is_empty() && self.children.is_empty() {
                self.seed_generation(ctx);
            } else {
                if !self.children.is_empty() {
                    self.survive();
                }
                if self.population.is_empty() {
                    return Vec::new();
                }
                if self.stale >= self.config.max_stale_generations {
                    if ctx.budget.is_none_or(|b| ctx.evaluations >= b) {
                        return Vec::new();
                    }
                    self.restart(ctx);
                } else {
                    self.breed_generation(ctx);
                }
            }
        }
        let n = max.min(self.children.len() - self.served);
        let out = self.children[self.served..self.served + n].to_vec();
        self.served += n;
        out
    }

    fn tell(&mut self, _: &mut Context, _: &[Point], outcomes: &[Outcome]) {
        self.child_fitness.extend(outcomes.iter().map(Fitness::of));
    }

    fn report(&self) -> serde_json::Value {
        serde_json::json!({
            "generations": self.generation,
            "population": self.population_size(),
            "stale_generations": self.stale,
            "restarts": self.restarts,
            "rebred_children": self.rebred,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapspace::prime_factors;
    use crate::mapspace::Constraints;
    use crate::search::{Driver, Objective, SearchConfig, StopReason};
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    use crate::mapspace::tests::tiny;

    #[test]
    fn feasible_points_rank_before_infeasible_ones_which_rank_by_excess() {
        let good = Fitness::Feasible(Score([1.0, 0.0, 0.0, 0.0]));
        let worse = Fitness::Feasible(Score([2.0, 0.0, 0.0, 0.0]));
        let over = Fitness::of(&Outcome::Infeasible(Infeasible::Capacity {
            level: 0,
            need_words: 30,
            have_words: 20,
        }));
        let way_over = Fitness::of(&Outcome::Illegal(Violation::Fanout {
            level: 0,
            axis: crate::mapspace::Axis::X,
            used: 8,
            available: 2,
        }));
        assert_eq!(over, Fitness::Infeasible(1.5));
        assert_eq!(way_over, Fitness::Infeasible(4.0));
        let mut v = [way_over, worse, over, good];
        v.sort_by(|a, b| a.compare(b));
        assert_eq!(v, [good, worse, over, way_over]);
    }

    #[test]
    fn operators_keep_points_in_the_space() {
        let (arch, p) = tiny();
        let space = MapSpace::new(&arch, &p, Constraints::none(&arch)).unwrap();
        let mut rng = SmallRng::seed_from_u64(3);
        let (mut grown, mut reordered, mut redrawn, mut flipped) = (0, 0, 0, 0);
        for _ in 0..500 {
            let mut q = space.sample(&mut rng);
            grown += usize::from(grow(&space, &mut q, &mut rng));
            reordered += usize::from(reorder(&space, &mut q, &mut rng));
            redrawn += usize::from(redraw_factors(&space, &mut q, &mut rng));
            flipped += usize::from(flip_keep(&space, &mut q, &mut rng));
            let m = space.to_mapping(&q);
            m.check(&arch, &p).unwrap();
            let back = space.point_of(&m).expect("an operator left the space");
            assert_eq!(space.to_mapping(&back), m);
        }
        // Each operator does change points most of the time on this space.
        for (what, n) in [
            ("grow", grown),
            ("reorder", reordered),
            ("redraw", redrawn),
            ("flip keep", flipped),
        ] {
            assert!(n > 100, "{what} changed only {n} of 500 points");
        }
    }

    #[test]
    fn growth_moves_a_prime_to_a_neighbouring_slot() {
        let (arch, p) = tiny();
        let space = MapSpace::new(&arch, &p, Constraints::none(&arch)).unwrap();
        let mut rng = SmallRng::seed_from_u64(5);
        for _ in 0..200 {
            let a = space.sample(&mut rng);
            let mut b = a.clone();
            if !grow(&space, &mut b, &mut rng) {
                continue;
            }
            // Exactly one dimension changed, in two adjacent usable slots, by one prime.
            let changed: Vec<(usize, usize)> = (0..space.slots.len())
                .flat_map(|s| (0..space.num_dims()).map(move |d| (s, d)))
                .filter(|&(s, d)| a.factors[s][d] != b.factors[s][d])
                .collect();
            assert_eq!(changed.len(), 2, "{changed:?}");
            let d = changed[0].1;
            assert_eq!(changed[1].1, d);
            let ds = &space.dim_slots[d];
            let i = ds.iter().position(|&s| s == changed[0].0).unwrap();
            let j = ds.iter().position(|&s| s == changed[1].0).unwrap();
            assert_eq!(i.abs_diff(j), 1);
            let (s0, s1) = (changed[0].0, changed[1].0);
            let ratio = if b.factors[s0][d] > a.factors[s0][d] {
                b.factors[s0][d] / a.factors[s0][d]
            } else {
                b.factors[s1][d] / a.factors[s1][d]
            };
            assert_eq!(prime_factors(ratio), vec![ratio]);
        }
    }

    #[test]
    fn finds_the_optimum_of_a_tiny_space() {
        let (arch, p) = tiny();
        let space = MapSpace::new(&arch, &p, Constraints::none(&arch)).unwrap();
        let objective: Objective = "edp".parse().unwrap();
        let mut config = SearchConfig::new(objective);
        let mut exhaustive = crate::search::exhaustive::Exhaustive::new(&space);
        let exact = Driver::run(&space, &mut exhaustive, &config, None);
        assert_eq!(exact.stop_reason, StopReason::Exhausted);
        config.batch = 100;
        let opt = exact.best.unwrap().score;
        // 41,472 points; without a budget the engine converges on the optimum after 2,816
        // evaluations and stops.
        let mut ga = Genetic::new(GeneticConfig::default());
        let r = Driver::run(&space, &mut ga, &config, None);
        assert_eq!(r.stop_reason, StopReason::Converged);
        assert!(r.evaluations < 5_000);
        assert_eq!(r.best.unwrap().score, opt);
        // With budget left after the stall it restarts around its elite and spends it all,
        // keeping the optimum.
        config.budget = Some(8_000);
        let mut ga = Genetic::new(GeneticConfig::default());
        let r = Driver::run(&space, &mut ga, &config, None);
        assert_eq!((r.stop_reason, r.evaluations), (StopReason::Budget, 8_000));
        assert!(ga.restarts >= 1);
        assert_eq!(r.best.unwrap().score, opt);
    }
}
