//! Marvel-style decoupled search (off-chip tiling first, then the on-chip mapping) from a
//! greedy analytical start.
//!
//! 1. **Greedy start** (no evaluation needed to build it): every factor starts at the
//!    outermost level; prime factors then move into the spatial slots while they raise the
//!    number of PEs used within the fanout, and into each on-chip level's temporal loops,
//!    innermost level first, while the kept tiles still fit (largest filled buffer first).
//!    Loop orders put the dimensions that do not index the level's largest kept tensor
//!    innermost, so that tensor stays stationary.
//! 2. **Off-chip phase**: if the outermost level has at most [`OFF_CHIP_ENUMERATE`] factor
//!    combinations, each is tried with the greedy on-chip fill. Then coordinate descent:
//!    for each dimension, every allowed outermost factor is tried with the greedy on-chip
//!    fill and with the legal on-chip vector closest (in log2) to the current one (keep
//!    masks narrowed to fit if needed); then every order of the outermost level's non-unit
//!    free loops (all permutations up to 6 of them, otherwise adjacent swaps). Rounds repeat
//!    from the best point until one brings no improvement.
//! 3. **On-chip phase**: the outermost factors and order are fixed to those of each of the
//!    best off-chip tilings in turn (best first, up to [`ON_CHIP_TILINGS`] distinct ones),
//!    and each on-chip sub-space is walked exhaustively by the pruned walk
//!    (`mapspace::enumerate`). The first on-chip phase may use half of the remaining budget,
//!    later ones all of it (at most [`ON_CHIP_WALK_LIMIT`] points each without a budget). If
//!    the first tiling's sub-space is larger than that, it is sampled instead (uniform points
//!    of the sub-space whose tiles fit).
//! 4. A second pass (off-chip from the on-chip optimum, then on-chip over every tiling ranked
//!    so far) always runs; a third only if the second improved the best. Then the engine
//!    stops (`converged`).
//!
//! Every candidate list is built in a fixed order, and the only randomness (sampling a large
//! on-chip sub-space) comes from the run's RNG, so the engine is deterministic.

use std::collections::HashSet;

use super::{Context, Outcome, Score, Searcher};
use crate::mapping::Spacetime;
use crate::mapspace::enumerate::{next_permutation, walk};
use crate::mapspace::{prime_factors, MapSpace, Point};
use crate::workload::{DimId, MAX_DIMS};

/// Most points of an on-chip sub-space walked exhaustively; larger ones are sampled.
pub const ON_CHIP_WALK_LIMIT: u64 = 60_000;
/// Samples of an on-chip sub-space too large to walk.
const ON_CHIP_SAMPLES: usize = 8_000;
/// Most combinations of outermost factors enumerated in the first off-chip round.
pub const OFF_CHIP_ENUMERATE: usize = 2048;
/// Most rounds of one off-chip phase.
const MAX_ROUNDS: usize = 12;
/// Off-chip tilings whose on-chip sub-space is searched in each on-chip phase.
pub const ON_CHIP_TILINGS: usize = 256;
/// Off-chip + on-chip passes at most (later passes run only while they improve the best).
const MAX_PASSES: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    OffChip { pass: usize, round: usize },
    OnChip { pass: usize },
    Done,
}

/// The decoupled heuristic (`--algo heuristic`).
pub struct Heuristic {
    phase: Phase,
    queue: Vec<Point>,
    seen: HashSet<Point>,
    greedy: Option<Point>,
    best: Option<(Score, Point)>,
    /// Improvements of the best so far; compared across rounds and phases.
    improvements: u64,
    round_start: u64,
    pass_start: u64,
    /// Points asked per phase, for the report.
    asked_off_chip: u64,
    asked_on_chip: u64,
    on_chip_walked: bool,
    /// Feasible results of the off-chip phases (and each pass's starting best), in the
    /// order told.
    off_chip_results: Vec<(Score, Point)>,
    collecting: bool,
}

impl Heuristic {
    pub fn new() -> Heuristic {
        Heuristic {
            phase: Phase::Start,
            queue: Vec::new(),
            seen: HashSet::new(),
            greedy: None,
            best: None,
            improvements: 0,
            round_start: 0,
            pass_start: 0,
            asked_off_chip: 0,
            asked_on_chip: 0,
            on_chip_walked: true,
            off_chip_results: Vec::new(),
            collecting: false,
        }
    }

    fn base(&self) -> Option<&Point> {
        self.best.as_ref().map(|b| &b.1).or(self.greedy.as_ref())
    }

    /// The best points of the off-chip phase with distinct outermost tilings (factors and
    /// order), best first, at most [`ON_CHIP_TILINGS`]; the greedy start if none is feasible.
    fn best_tilings(&self, space: &MapSpace) -> Vec<Point> {
        let top = space.num_levels() - 1;
        let Some(ts) = top_slot(space) else {
            return self.base().cloned().into_iter().collect();
        };
        let mut ranked: Vec<&(Score, Point)> = self.off_chip_results.iter().collect();
        ranked.sort_by(|a, b| a.0.compare(&b.0));
        let mut out: Vec<Point> = Vec::new();
        for (_, p) in ranked {
            let same = |q: &Point| q.factors[ts] == p.factors[ts] && q.orders[top] == p.orders[top];
            if !out.iter().any(same) {
                out.push(p.clone());
                if out.len() == ON_CHIP_TILINGS {
                    break;
                }
            }
        }
        if out.is_empty() {
            out.extend(self.base().cloned());
        }
        out
    }

    /// Queues `points` not asked before; returns how many.
    fn enqueue(&mut self, points: Vec<Point>) -> usize {
        let mut n = 0;
        for p in points {
            if self.seen.insert(p.clone()) {
                self.queue.push(p);
                n += 1;
            }
        }
        n
    }

    /// Moves to the next phase and fills the queue; false when done.
    fn advance(&mut self, ctx: &mut Context) -> bool {
        let space = ctx.space;
        loop {
            match self.phase {
                Phase::Start => {
                    let g = greedy_point(space);
                    self.greedy = Some(g.clone());
                    if space.legal(&g).is_ok() {
                        self.enqueue(vec![g]);
                    }
                    self.phase = Phase::OffChip { pass: 0, round: 0 };
                }
                Phase::OffChip { pass, round } => {
                    if (round > 0 && self.improvements == self.round_start) || round >= MAX_ROUNDS {
                        self.phase = Phase::OnChip { pass };
                        continue;
                    }
                    if round == 0 {
                        // A third pass only if the second improved the best.
                        if pass >= 2 && self.improvements == self.pass_start {
                            self.phase = Phase::Done;
                            continue;
                        }
                        self.pass_start = self.improvements;
                        // Earlier passes' tilings stay ranked: the next on-chip phase
                        // walks the best ones not walked yet.
                        if let Some(b) = &self.best {
                            self.off_chip_results.push(b.clone());
                        }
                    }
                    self.collecting = true;
                    self.round_start = self.improvements;
                    self.phase = Phase::OffChip {
                        pass,
                        round: round + 1,
                    };
                    let Some(base) = self.base().cloned() else {
                        continue;
                    };
                    let mut points = Vec::new();
                    if pass == 0 && round == 0 {
                        points.extend(all_tilings(space, &base));
                    }
                    points.extend(off_chip_candidates(space, &base));
                    let n = self.enqueue(points);
                    self.asked_off_chip += n as u64;
                }
                Phase::OnChip { pass } => {
                    self.phase = if pass + 1 < MAX_PASSES {
                        Phase::OffChip {
                            pass: pass + 1,
                            round: 0,
                        }
                    } else {
                        Phase::Done
                    };
                    self.collecting = false;
                    // Half of what is left of the budget in the first on-chip phase, all of
                    // it later, best tiling first.
                    let share = if pass == 0 { 2 } else { 1 };
                    let mut room = ctx.budget.map_or(ON_CHIP_WALK_LIMIT, |b| {
                        (b.saturating_sub(ctx.evaluations) / share).min(ON_CHIP_WALK_LIMIT)
                    });
                    for (i, base) in self.best_tilings(space).into_iter().enumerate() {
                        if room == 0 {
                            break;
                        }
                        let (points, walked) = on_chip_candidates(space, &base, ctx, room, i == 0);
                        self.on_chip_walked &= walked || i > 0;
                        let n = self.enqueue(points);
                        self.asked_on_chip += n as u64;
                        room = room.saturating_sub(n as u64);
                    }
                }
                Phase::Done => return false,
            }
            if !self.queue.is_empty() {
                // Ask in queue order: reverse once so that popping from the end keeps it.
                self.queue.reverse();
                return true;
            }
        }
    }
}

impl Default for Heuristic {
    fn default() -> Self {
        Heuristic::new()
    }
}

impl Searcher for Heuristic {
    fn name(&self) -> &'static str {
        "heuristic"
    }

    fn ask(&mut self, ctx: &mut Context, max: usize) -> Vec<Point> {
        if self.queue.is_empty() && !self.advance(ctx) {
            return Vec::new();
        }
        let n = max.min(self.queue.len());
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            if let Some(p) = self.queue.pop() {
                out.push(p);
            }
        }
        out
    }

    fn tell(&mut self, _: &mut Context, points: &[Point], outcomes: &[Outcome]) {
        for (p, o) in points.iter().zip(outcomes) {
            if let Some(s) = o.score() {
                if self.collecting {
                    self.off_chip_results.push((s, p.clone()));
                }
                if self.best.as_ref().is_none_or(|b| s.better_than(&b.0)) {
                    self.best = Some((s, p.clone()));
                    self.improvements += 1;
                }
            }
        }
    }

    fn report(&self) -> serde_json::Value {
        serde_json::json!({
            "off_chip_candidates": self.asked_off_chip,
            "on_chip_candidates": self.asked_on_chip,
            "on_chip_walked_exhaustively": self.on_chip_walked,
        })
    }
}

/// Whether every level's kept tiles fit its capacity (the model's rule, as the walk uses it).
pub fn fits(space: &MapSpace, p: &Point) -> bool {
    let ndims = space.num_dims();
    let mut ext = [1u64; MAX_DIMS];
    for lvl in 0..space.num_levels() {
        for s in space.level_slots[lvl].iter().flatten() {
            for d in 0..ndims {
                ext[d] *= p.factors[*s][d];
            }
        }
        if let Some(have) = space.arch.levels[lvl].effective_words() {
            let used: u64 = (0..space.problem.num_tensors())
                .filter(|t| p.keep[lvl] & (1 << t) != 0)
                .map(|t| space.problem.tile_size(t, &ext))
                .sum();
            if used > have {
                return false;
            }
        }
    }
    true
}

/// `p` with the keep mask of every overflowing level narrowed to the allowed subset of it
/// that fits and keeps the most tensors (then the most words, then the smallest mask);
/// `None` if some level cannot fit.
fn fit_keep(space: &MapSpace, mut p: Point) -> Option<Point> {
    for lvl in 0..space.num_levels() {
        let Some(have) = space.arch.levels[lvl].effective_words() else {
            continue;
        };
        if used_words(space, &p, lvl) <= have {
            continue;
        }
        let current = p.keep[lvl];
        let mut pick: Option<(u32, u64, u8)> = None;
        for &m in &space.keep_options[lvl] {
            if m & !current != 0 {
                continue;
            }
            p.keep[lvl] = m;
            let used = used_words(space, &p, lvl);
            if used <= have {
                let key = (m.count_ones(), used, m);
                let better = pick.is_none_or(|(c, u, _)| (key.0, key.1) > (c, u));
                if better {
                    pick = Some(key);
                }
            }
        }
        p.keep[lvl] = pick?.2;
    }
    Some(p)
}

/// Words used at `level` by its kept tiles.
fn used_words(space: &MapSpace, p: &Point, level: usize) -> u64 {
    let ndims = space.num_dims();
    let mut ext = [1u64; MAX_DIMS];
    for lvl in 0..=level {
        for s in space.level_slots[lvl].iter().flatten() {
            for d in 0..ndims {
                ext[d] *= p.factors[*s][d];
            }
        }
    }
    (0..space.problem.num_tensors())
        .filter(|t| p.keep[level] & (1 << t) != 0)
        .map(|t| space.problem.tile_size(t, &ext))
        .sum()
}

/// The outermost slot of dimension `d` holding a factor above 1 that factors may leave.
fn outermost_holder(
    space: &MapSpace,
    p: &Point,
    d: DimId,
    movable: &dyn Fn(usize) -> bool,
) -> Option<usize> {
    space.dim_slots[d]
        .iter()
        .rev()
        .copied()
        .find(|&s| p.factors[s][d] > 1 && movable(s))
}

/// Moves one prime `prime` of `d` from slot `from` to slot `to` if the point stays in the
/// space (factor limits), legal (fanout) and fits.
fn try_move(
    space: &MapSpace,
    p: &Point,
    d: DimId,
    from: usize,
    to: usize,
    prime: u64,
) -> Option<Point> {
    let mut q = p.clone();
    q.factors[from][d] /= prime;
    q.factors[to][d] *= prime;
    (space.factors_allowed(&q, d) && space.legal(&q).is_ok() && fits(space, &q)).then_some(q)
}

/// The greedy analytical start (module docs, step 1).
pub fn greedy_point(space: &MapSpace) -> Point {
    greedy_fill(space, None).unwrap_or_else(|| space.blank_point())
}

/// Greedily moves prime factors into slot `s` from the outermost slot holding them (never
/// from an inner one), each time taking the move that scores highest (PEs used, or words a
/// level's tiles use), until no legal move remains.
fn grow_slot(
    space: &MapSpace,
    mut p: Point,
    s: usize,
    movable_from: &dyn Fn(usize) -> bool,
    score: impl Fn(&Point) -> u64,
) -> Point {
    loop {
        let mut pick: Option<(u64, Point)> = None;
        for d in 0..space.num_dims() {
            if !space.dim_slots[d].contains(&s) {
                continue;
            }
            let Some(from) = outermost_holder(space, &p, d, movable_from) else {
                continue;
            };
            if from <= s {
                continue;
            }
            let mut primes = prime_factors(p.factors[from][d]);
            primes.dedup();
            for prime in primes {
                if let Some(q) = try_move(space, &p, d, from, s, prime) {
                    let value = score(&q);
                    if pick.as_ref().is_none_or(|(u, _)| value > *u) {
                        pick = Some((value, q));
                    }
                }
            }
        }
        match pick {
            Some((_, q)) => p = q,
            None => return p,
        }
    }
}

/// The greedy start with the outermost level's temporal factors fixed to `top` (and the
/// other factors filled greedily), if some legal factor vector has those factors.
fn greedy_fill(space: &MapSpace, top: Option<&[u64; MAX_DIMS]>) -> Option<Point> {
    let ndims = space.num_dims();
    let nlev = space.num_levels();
    let top_slot = top_slot(space);
    // Start with every factor as far out as allowed: the lexicographically first vector of
    // each dimension (inner slots smallest), among those with the given outermost factor.
    let mut p = space.blank_point();
    for d in 0..ndims {
        let k = space.dim_slots[d].len();
        let list = &space.choices[d];
        let jt = top_slot.and_then(|t| space.dim_slots[d].iter().position(|&s| s == t));
        let i = match (top, jt) {
            (Some(f), Some(jt)) => (0..space.num_choices(d)).find(|&i| list[i * k + jt] == f[d])?,
            _ => 0,
        };
        space.set_choice(&mut p, d, i);
    }
    // With the outermost factors fixed, factors move only between the other slots.
    let movable_from = |s: usize| top.is_none() || Some(s) != top_slot;
    // Spatial slots: raise the PEs used while the fanout allows.
    for (s, slot) in space.slots.iter().enumerate() {
        if slot.space == Spacetime::Temporal {
            continue;
        }
        p = grow_slot(space, p, s, &movable_from, |q| {
            q.factors[s][..ndims].iter().product()
        });
    }
    // Temporal loops of the on-chip levels, innermost first: grow while the tiles fit.
    for lvl in 0..nlev.saturating_sub(1) {
        let Some(s) = space.level_slots[lvl][2] else {
            continue;
        };
        if space.arch.levels[lvl].effective_words().is_none() || p.keep[lvl] == 0 {
            continue;
        }
        p = grow_slot(space, p, s, &movable_from, |q| used_words(space, q, lvl));
    }
    // Orders: the loops that do not index the largest tensor kept at or below a level go
    // innermost, so that tensor's tile stays put while they run.
    let problem = space.problem;
    for lvl in 0..nlev {
        let kept = p.keep[..=lvl].iter().fold(0u8, |a, &m| a | m);
        let stationary = (0..problem.num_tensors())
            .filter(|t| kept & (1 << t) != 0)
            .max_by_key(|&t| (problem.tensor_size(t), std::cmp::Reverse(t)));
        let Some(t) = stationary else { continue };
        let indexes = |d: DimId| (0..problem.ranks(t)).any(|r| problem.coef(t, r, d) != 0);
        let mut free = space.free_order[lvl].clone();
        free.sort_by_key(|&d| (indexes(d), d));
        p.orders[lvl] = space.order_with(lvl, &free);
    }
    Some(p)
}

/// The outermost level's temporal slot.
fn top_slot(space: &MapSpace) -> Option<usize> {
    space.level_slots[space.num_levels() - 1][2]
}

/// `base` with dimension `d`'s outermost factor set to `f` and its other factors the legal
/// vector closest to `base`'s (log2 distance) whose tiles fit.
fn project(space: &MapSpace, base: &Point, d: DimId, top: usize, f: u64) -> Option<Point> {
    let ds = &space.dim_slots[d];
    let k = ds.len();
    let jt = ds.iter().position(|&s| s == top)?;
    let list = &space.choices[d];
    let mut ranked: Vec<(f64, usize)> = (0..space.num_choices(d))
        .filter(|&i| list[i * k + jt] == f)
        .map(|i| {
            let dist: f64 = (0..k)
                .map(|j| {
                    ((list[i * k + j] as f64).log2() - (base.factors[ds[j]][d] as f64).log2()).abs()
                })
                .sum();
            (dist, i)
        })
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    for &(_, i) in ranked.iter().take(64) {
        let mut q = base.clone();
        space.set_choice(&mut q, d, i);
        if space.legal(&q).is_ok() {
            if let Some(q) = fit_keep(space, q) {
                return Some(q);
            }
        }
    }
    None
}

/// Every combination of outermost factors, each with its greedy on-chip fill and `base`'s
/// outermost order, when there are at most [`OFF_CHIP_ENUMERATE`] combinations (small
/// layers); nothing otherwise (coordinate descent covers those).
fn all_tilings(space: &MapSpace, base: &Point) -> Vec<Point> {
    let Some(top) = top_slot(space) else {
        return Vec::new();
    };
    let ndims = space.num_dims();
    let nlev = space.num_levels();
    // Per dimension, the outermost factors some legal vector has.
    let mut options: Vec<Vec<u64>> = Vec::with_capacity(ndims);
    let mut count = 1usize;
    for d in 0..ndims {
        let ds = &space.dim_slots[d];
        let k = ds.len();
        let mut fs: Vec<u64> = match ds.iter().position(|&s| s == top) {
            Some(jt) => (0..space.num_choices(d))
                .map(|i| space.choices[d][i * k + jt])
                .collect(),
            None => vec![1],
        };
        fs.sort_unstable();
        fs.dedup();
        count = count.saturating_mul(fs.len());
        options.push(fs);
    }
    if count > OFF_CHIP_ENUMERATE {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut digit = vec![0usize; ndims];
    loop {
        let mut fixed = [1u64; MAX_DIMS];
        for d in 0..ndims {
            fixed[d] = options[d][digit[d]];
        }
        if let Some(mut q) = greedy_fill(space, Some(&fixed)) {
            q.orders[nlev - 1] = base.orders[nlev - 1];
            if space.legal(&q).is_ok() {
                out.extend(fit_keep(space, q));
            }
        }
        // Next combination (odometer, first dimension fastest).
        let mut d = 0;
        while d < ndims {
            digit[d] += 1;
            if digit[d] < options[d].len() {
                break;
            }
            digit[d] = 0;
            d += 1;
        }
        if d == ndims {
            return out;
        }
    }
}

/// One round of the off-chip phase from `base` (module docs, step 2).
fn off_chip_candidates(space: &MapSpace, base: &Point) -> Vec<Point> {
    let mut out = Vec::new();
    let Some(top) = top_slot(space) else {
        return out;
    };
    let nlev = space.num_levels();
    let ndims = space.num_dims();
    for d in 0..ndims {
        if !space.dim_slots[d].contains(&top) {
            continue;
        }
        let Some(jt) = space.dim_slots[d].iter().position(|&s| s == top) else {
            continue;
        };
        for f in space.slot_values(d, jt) {
            if f == base.factors[top][d] {
                continue;
            }
            if let Some(q) = project(space, base, d, top, f) {
                out.push(q);
            }
            let mut fixed = base.factors[top];
            fixed[d] = f;
            if let Some(mut q) = greedy_fill(space, Some(&fixed)) {
                q.orders[nlev - 1] = base.orders[nlev - 1];
                if space.legal(&q).is_ok() {
                    out.extend(fit_keep(space, q));
                }
            }
        }
    }
    // Orders of the non-unit free loops at the outermost level.
    let lvl = nlev - 1;
    let free = &space.free_order[lvl];
    let start = space.constraints.levels[lvl].order_prefix.len();
    let current: Vec<DimId> = base.orders[lvl][start..start + free.len()]
        .iter()
        .map(|&d| d as DimId)
        .collect();
    let mut moving: Vec<DimId> = current
        .iter()
        .copied()
        .filter(|&d| base.factors[top][d] > 1)
        .collect();
    let rest: Vec<DimId> = current
        .iter()
        .copied()
        .filter(|d| !moving.contains(d))
        .collect();
    let with = |m: &[DimId]| -> Point {
        let mut q = base.clone();
        let mut order = m.to_vec();
        order.extend_from_slice(&rest);
        q.orders[lvl] = space.order_with(lvl, &order);
        q
    };
    if moving.len() <= 6 {
        moving.sort_unstable();
        loop {
            out.push(with(&moving));
            if !next_permutation(&mut moving) {
                break;
            }
        }
    } else {
        for i in 0..moving.len() - 1 {
            let mut m = moving.clone();
            m.swap(i, i + 1);
            out.push(with(&m));
        }
    }
    out
}

/// The on-chip phase's points (module docs, step 3), and whether the sub-space was walked
/// exhaustively.
fn on_chip_candidates(
    space: &MapSpace,
    base: &Point,
    ctx: &mut Context,
    limit: u64,
    sample_if_large: bool,
) -> (Vec<Point>, bool) {
    let nlev = space.num_levels();
    let ndims = space.num_dims();
    let lvl = nlev - 1;
    let mut c = space.constraints.clone();
    if let Some(top) = top_slot(space) {
        for d in 0..ndims {
            c.levels[lvl].temporal[d].exact = Some(base.factors[top][d]);
        }
    }
    c.levels[lvl].order_prefix = base.orders[lvl][..ndims]
        .iter()
        .map(|&d| d as DimId)
        .collect();
    c.levels[lvl].order_suffix.clear();
    let Ok(sub) = MapSpace::new(space.arch, space.problem, c) else {
        return (Vec::new(), false);
    };
    let mut points = Vec::new();
    let stats = walk(&sub, &mut |p| {
        if points.len() as u64 >= limit {
            return false;
        }
        points.push(p.clone());
        true
    });
    if stats.completed {
        return (points, true);
    }
    points.clear();
    if !sample_if_large {
        return (points, false);
    }
    let want = ON_CHIP_SAMPLES.min(limit as usize);
    for _ in 0..want * 16 {
        if points.len() >= want {
            break;
        }
        let p = sub.sample(&mut ctx.rng);
        if sub.legal(&p).is_ok() && fits(&sub, &p) {
            points.push(p);
        }
    }
    (points, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::test_support::hinted_eyeriss;

    #[test]
    fn greedy_start_is_legal_fits_and_uses_the_array() {
        for layer in ["conv1_1", "conv3_1", "conv5_1", "fc6"] {
            let (arch, problem, c) = hinted_eyeriss("vgg16", layer);
            let space = MapSpace::new(&arch, &problem, c).unwrap();
            let g = greedy_point(&space);
            assert!(space.legal(&g).is_ok(), "{layer}");
            assert!(fits(&space, &g), "{layer}");
            let s = crate::model::evaluate(&arch, &problem, &space.to_mapping(&g))
                .unwrap_or_else(|e| panic!("{layer}: {}", e.describe(&arch)));
            // The fill uses the PE array: more than one PE, never more than it has.
            let pes: u64 = space
                .slots
                .iter()
                .enumerate()
                .filter(|(_, sl)| sl.space != Spacetime::Temporal)
                .map(|(i, _)| g.factors[i][..space.num_dims()].iter().product::<u64>())
                .product();
            assert!(
                pes > 1 && pes <= arch.compute.instances,
                "{layer}: {pes} PEs"
            );
            assert!(s.cycles > 0);
            // Deterministic: built twice, the same point.
            assert_eq!(greedy_point(&space), g);
        }
    }

    #[test]
    fn keep_masks_are_narrowed_only_where_tiles_overflow() {
        let arch = crate::arch::tests::two_level();
        let p = crate::workload::LayerShape::Matmul {
            b: 1,
            m: 16,
            n: 16,
            k: 16,
        }
        .to_problem("g")
        .unwrap();
        let space = MapSpace::new(&arch, &p, crate::mapspace::Constraints::none(&arch)).unwrap();
        // Everything at the 64-word buffer: 3 tiles of 256 words never fit.
        let mut q = space.blank_point();
        for d in 0..space.num_dims() {
            space.set_choice(&mut q, d, space.num_choices(d) - 1);
        }
        q.keep[0] = 0b111;
        assert!(!fits(&space, &q));
        let all_bypassed = fit_keep(&space, q.clone()).expect("bypassing everything fits");
        assert_eq!(all_bypassed.keep[0], 0);
        // M16 K4 at the buffer: A (M x K) 64 words, B (K x N) 4, Z (M x N) 16; all three
        // (84) overflow, the largest subsets that fit keep two tensors (B and Z, 20 words).
        let (m, k) = (p.dim_id("M").unwrap(), p.dim_id("K").unwrap());
        let mut r = q.clone();
        for d in 0..space.num_dims() {
            let want = if d == m {
                16
            } else if d == k {
                4
            } else {
                1
            };
            let n = space.dim_slots[d].len();
            let i = (0..space.num_choices(d))
                .find(|&i| space.choices[d][i * n] == want)
                .unwrap();
            space.set_choice(&mut r, d, i);
        }
        assert!(!fits(&space, &r));
        let narrowed = fit_keep(&space, r).unwrap();
        assert!(fits(&space, &narrowed));
        let (b, z) = (p.tensor_id("B").unwrap(), p.tensor_id("Z").unwrap());
        assert_eq!(
            narrowed.keep[0],
            (1 << b) | (1 << z),
            "A (64 words) is bypassed"
        );
        // A point that fits is left alone.
        let mut small = space.blank_point();
        for d in 0..space.num_dims() {
            space.set_choice(&mut small, d, 0);
        }
        small.keep[0] = 0b111;
        assert!(fits(&space, &small));
        assert_eq!(fit_keep(&space, small.clone()), Some(small));
    }
}
