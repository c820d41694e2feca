//! Walks the pruned map space in a fixed order, for exhaustive search.
//!
//! Levels are assigned inner to outer. A level's tile depends only on the factors at it and
//! below, so once its kept tiles overflow it, every completion overflows too: the subtree is
//! cut (for every keep mask that overflows). Spatial factors over a level's fanout are cut the
//! same way. Loop orders are enumerated only where they can matter: permutations of a
//! level's non-unit free dimensions, only at levels with some tensor kept below them (the
//! order of loops above nothing but the MACs changes no count), and with adjacent loops that
//! index none of the tensors kept below in one (ascending) arrangement, since they commute. Everything cut provably holds
//! no feasible point or only duplicates of a visited one, so the best visited point is the
//! optimum of the space.

use super::{MapSpace, Point, Violation};
use crate::model::MAX_LEVELS;
use crate::workload::{DimId, MAX_DIMS};

/// What a walk visited and cut.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkStats {
    /// Complete points handed to the visitor.
    pub visited: u64,
    /// (Partial factorization, keep mask) pairs cut because a level overflowed.
    pub capacity_cuts: u64,
    /// Partial factorizations cut because spatial factors exceeded a fanout.
    pub fanout_cuts: u64,
    /// `capacity_cuts` and `fanout_cuts` by the level that overflowed.
    pub capacity_cuts_at: [u64; MAX_LEVELS],
    pub fanout_cuts_at: [u64; MAX_LEVELS],
    /// Complete factorizations (with keep masks) skipped because their spatial factors use
    /// less of a level's fanout than a utilization constraint asks, by that level.
    pub underuse_at: [u64; MAX_LEVELS],
    /// False if the visitor stopped the walk early.
    pub completed: bool,
}

/// Calls `visit` on every point of the pruned space, in a fixed order, until it returns false.
pub fn walk(space: &MapSpace, visit: &mut dyn FnMut(&Point) -> bool) -> WalkStats {
    let ndims = space.num_dims();
    let nlev = space.num_levels();
    // Per dimension and level: the positions in `dim_slots[d]` of that level's slots.
    let mut span = vec![[(0usize, 0usize); MAX_LEVELS]; ndims];
    for d in 0..ndims {
        for lvl in 0..nlev {
            let pos: Vec<usize> = (0..space.dim_slots[d].len())
                .filter(|&j| space.slots[space.dim_slots[d][j]].level == lvl)
                .collect();
            span[d][lvl] = match (pos.first(), pos.last()) {
                (Some(&a), Some(&b)) => (a, b + 1),
                _ => (0, 0),
            };
        }
    }
    let mut w = Walker {
        space,
        span,
        point: space.blank_point(),
        ranges: (0..ndims).map(|d| (0, space.num_choices(d))).collect(),
        ext: vec![[1u64; MAX_DIMS]; nlev + 1],
        stats: WalkStats::default(),
        visit,
    };
    // Dimensions without usable slots keep factor 1 everywhere.
    for d in 0..ndims {
        for s in 0..space.slots.len() {
            w.point.factors[s][d] = 1;
        }
    }
    let completed = w.level(0);
    w.stats.completed = completed;
    w.stats
}

struct Walker<'s, 'v> {
    space: &'s MapSpace<'s>,
    span: Vec<[(usize, usize); MAX_LEVELS]>,
    point: Point,
    /// Per dimension, the range of choices agreeing with the levels assigned so far.
    ranges: Vec<(usize, usize)>,
    /// `ext[l + 1][d]`: extent of d in the tile at level l (`ext[0]` is all ones).
    ext: Vec<[u64; MAX_DIMS]>,
    stats: WalkStats,
    visit: &'v mut dyn FnMut(&Point) -> bool,
}

impl Walker<'_, '_> {
    /// Assigns level `lvl`'s factors for every dimension, then recurses. False = stop.
    fn level(&mut self, lvl: usize) -> bool {
        if lvl == self.space.num_levels() {
            // Legality depends on the factors only: check it once, not per loop order.
            if let Err(v) = self.space.legal(&self.point) {
                match v {
                    Violation::Fanout { level, .. } => self.stats.fanout_cuts_at[level] += 1,
                    Violation::SpatialUnderuse { level } => self.stats.underuse_at[level] += 1,
                }
                return true;
            }
            return self.orders(0);
        }
        self.dim(lvl, 0)
    }

    fn dim(&mut self, lvl: usize, d: DimId) -> bool {
        let space = self.space;
        if d == space.num_dims() {
            return self.close_level(lvl);
        }
        let k = space.dim_slots[d].len();
        let (a, b) = self.span[d][lvl];
        let (lo, hi) = self.ranges[d];
        if k == 0 || a == b {
            return self.dim(lvl, d + 1);
        }
        let list = &space.choices[d];
        let mut i = lo;
        while i < hi {
            // The group of choices sharing this level's factors (contiguous: choices are in
            // lexicographic order, inner levels first).
            let key = &list[i * k + a..i * k + b];
            let mut j = i + 1;
            while j < hi && list[j * k + a..j * k + b] == *key {
                j += 1;
            }
            for pos in a..b {
                let s = space.dim_slots[d][pos];
                self.point.factors[s][d] = list[i * k + pos];
            }
            self.ranges[d] = (i, j);
            if !self.dim(lvl, d + 1) {
                self.ranges[d] = (lo, hi);
                return false;
            }
            i = j;
        }
        self.ranges[d] = (lo, hi);
        true
    }

    /// Every dimension has its factors at `lvl`: check fanout, then each keep mask's capacity.
    fn close_level(&mut self, lvl: usize) -> bool {
        let space = self.space;
        let ndims = space.num_dims();
        let (fx, fy) = space.arch.fanout(lvl);
        for (k, avail) in [(0, fx), (1, fy)] {
            if let Some(s) = space.level_slots[lvl][k] {
                let used: u64 = self.point.factors[s][..ndims].iter().product();
                if used > avail {
                    self.stats.fanout_cuts += 1;
                    self.stats.fanout_cuts_at[lvl] += 1;
                    return true;
                }
            }
        }
        let mut ext = self.ext[lvl];
        for s in space.level_slots[lvl].iter().flatten() {
            for d in 0..ndims {
                ext[d] *= self.point.factors[*s][d];
            }
        }
        self.ext[lvl + 1] = ext;
        let have = space.arch.levels[lvl].effective_words();
        for mi in 0..space.keep_options[lvl].len() {
            let mask = space.keep_options[lvl][mi];
            if let Some(have) = have {
                let mut used = 0u64;
                for t in 0..space.problem.num_tensors() {
                    if mask & (1 << t) != 0 {
                        used += space.problem.tile_size(t, &ext);
                    }
                }
                if used > have {
                    self.stats.capacity_cuts += 1;
                    self.stats.capacity_cuts_at[lvl] += 1;
                    continue;
                }
            }
            self.point.keep[lvl] = mask;
            if !self.level(lvl + 1) {
                return false;
            }
        }
        true
    }

    /// Factors and keep masks are complete: enumerate the orders that can matter.
    fn orders(&mut self, lvl: usize) -> bool {
        let space = self.space;
        if lvl == space.num_levels() {
            self.stats.visited += 1;
            return (self.visit)(&self.point);
        }
        let ndims = space.num_dims();
        let temporal = space.level_slots[lvl][2];
        let kept_below = self.keep_below(lvl) != 0;
        let free = &space.free_order[lvl];
        let mut moving: Vec<DimId> = match temporal {
            Some(s) if kept_below => free
                .iter()
                .copied()
                .filter(|&d| self.point.factors[s][d] > 1)
                .collect(),
            _ => Vec::new(),
        };
        let rest: Vec<DimId> = free
            .iter()
            .copied()
            .filter(|d| !moving.contains(d))
            .collect();
        // Two adjacent loops that index no tensor whose order still matters commute: every
        // step of either reloads exactly when an inner loop has moved a tile, and their step
        // counts sum the same either way. Only their ascending arrangement is visited. A
        // tensor's order stops mattering once each of its tiles below is saturated (see
        // `saturated_below`).
        let live = if moving.len() >= 2 {
            self.keep_below(lvl) & !self.saturated_below(lvl)
        } else {
            0
        };
        let problem = space.problem;
        let inert = |d: DimId| {
            (0..problem.num_tensors())
                .filter(|&t| live & (1 << t) != 0)
                .all(|t| (0..problem.ranks(t)).all(|r| problem.coef(t, r, d) == 0))
        };
        let saved = self.point.orders[lvl];
        moving.sort_unstable();
        loop {
            if moving
                .windows(2)
                .any(|w| w[0] > w[1] && inert(w[0]) && inert(w[1]))
            {
                if !next_permutation(&mut moving) {
                    break;
                }
                continue;
            }
            let mut order: Vec<DimId> = moving.clone();
            order.extend_from_slice(&rest);
            self.point.orders[lvl] = space.order_with(lvl, &order);
            debug_assert!(self.point.orders[lvl][..ndims].len() == ndims);
            if !self.orders(lvl + 1) {
                self.point.orders[lvl] = saved;
                return false;
            }
            if !next_permutation(&mut moving) {
                break;
            }
        }
        self.point.orders[lvl] = saved;
        true
    }
}

impl Walker<'_, '_> {
    /// Tensors kept at some level below `lvl`.
    fn keep_below(&self, lvl: usize) -> u8 {
        self.point.keep[..lvl].iter().fold(0u8, |a, &m| a | m)
    }

    /// Tensors (single-rank projections only) whose every tile below `lvl` is saturated on
    /// entering `lvl`: walking the temporal loops between the tile and `lvl` (orders below
    /// are already fixed), two of its ranks have moved back. From there on the model counts
    /// every step as a whole reload, (Π bounds − 1) × tile for all outer loops together,
    /// whatever their order (`model::temporal_deltas`).
    fn saturated_below(&self, lvl: usize) -> u8 {
        let space = self.space;
        let problem = space.problem;
        let ndims = space.num_dims();
        let mut out = 0u8;
        for t in 0..problem.num_tensors() {
            if problem.single_rank_of(t, 0).is_none() {
                continue;
            }
            let mut any = false;
            let mut all = true;
            for j in 0..lvl {
                if self.point.keep[j] & (1 << t) == 0 {
                    continue;
                }
                any = true;
                // Extent below each loop: everything at levels <= j, then the loops walked.
                let mut stride = self.ext[j + 1];
                let mut wrap = [0i64; crate::workload::MAX_RANKS];
                let mut moving = 0usize;
                for m in j + 1..lvl {
                    let slots = space.level_slots[m];
                    for s in slots[..2].iter().flatten() {
                        for d in 0..ndims {
                            stride[d] *= self.point.factors[*s][d];
                        }
                    }
                    let Some(ts) = slots[2] else { continue };
                    for &d in &self.point.orders[m][..ndims] {
                        let d = d as usize;
                        let bound = self.point.factors[ts][d];
                        if bound == 1 {
                            continue;
                        }
                        let (r, c) = problem.rank_of_unchecked(t, d);
                        if r != crate::workload::NO_RANK && moving < 2 {
                            let before = wrap[r];
                            let others = moving - usize::from(before != 0);
                            wrap[r] = before - (c * (bound - 1) * stride[d]) as i64;
                            moving = others + usize::from(wrap[r] != 0);
                        }
                        stride[d] *= bound;
                    }
                }
                if moving < 2 {
                    all = false;
                    break;
                }
            }
            if any && all {
                out |= 1 << t;
            }
        }
        out
    }
}

/// Advances to the next permutation in lexicographic order; false after the last.
pub fn next_permutation(v: &mut [usize]) -> bool {
    if v.len() < 2 {
        return false;
    }
    let mut i = v.len() - 1;
    while i > 0 && v[i - 1] >= v[i] {
        i -= 1;
    }
    if i == 0 {
        return false;
    }
    let mut j = v.len() - 1;
    while v[j] <= v[i - 1] {
        j -= 1;
    }
    v.swap(i - 1, j);
    v[i..].reverse();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapspace::Constraints;
    use crate::workload::LayerShape;
    use rand::{Rng, SeedableRng};

    /// The commuting rule the walk relies on, checked directly: swapping two adjacent outer
    /// loops that index no tensor kept below leaves every count and the energy unchanged.
    #[test]
    fn adjacent_loops_indexing_nothing_kept_below_commute() {
        let arch = crate::arch::tests::two_level();
        let problem = LayerShape::Conv {
            n: 2,
            groups: 1,
            k: 2,
            c: 2,
            p: 6,
            q: 4,
            r: 3,
            s: 1,
            wstride: 1,
            hstride: 1,
            wdilation: 1,
            hdilation: 1,
        }
        .to_problem("c")
        .unwrap();
        let space = MapSpace::new(&arch, &problem, Constraints::none(&arch)).unwrap();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
        let top = space.level_slots[1][2].unwrap();
        let mut checked = 0;
        for _ in 0..4000 {
            let mut p = space.sample(&mut rng);
            // Keep a random subset below, so the inert dimensions vary.
            p.keep[0] = rng.gen_range(0..8);
            let below = p.keep[0];
            let inert = |d: usize| {
                (0..3)
                    .filter(|&t| below & (1 << t) != 0)
                    .all(|t| (0..problem.ranks(t)).all(|r| problem.coef(t, r, d) == 0))
            };
            let nonunit: Vec<usize> = p.orders[1][..problem.num_dims()]
                .iter()
                .map(|&d| d as usize)
                .filter(|&d| p.factors[top][d] > 1)
                .collect();
            let Some(w) = nonunit.windows(2).find(|w| inert(w[0]) && inert(w[1])) else {
                continue;
            };
            let Ok(a) = crate::model::evaluate(&arch, &problem, &space.to_mapping(&p)) else {
                continue;
            };
            let (i, j) = (
                p.orders[1]
                    .iter()
                    .position(|&d| d as usize == w[0])
                    .unwrap(),
                p.orders[1]
                    .iter()
                    .position(|&d| d as usize == w[1])
                    .unwrap(),
            );
            p.orders[1].swap(i, j);
            let b = crate::model::evaluate(&arch, &problem, &space.to_mapping(&p)).unwrap();
            assert_eq!(a, b);
            checked += 1;
        }
        assert!(checked > 50, "only {checked} cases exercised the rule");
    }

    fn three_level() -> crate::arch::Arch {
        use crate::arch::{Arch, Level, LevelClass};
        let mut a = crate::arch::tests::two_level();
        let mut glb = Level::new("GLB", LevelClass::Sram);
        glb.size_words = Some(4096);
        glb.read_energy_pj = 10.0;
        glb.write_energy_pj = 10.0;
        glb.update_energy_pj = 10.0;
        a.levels.insert(1, glb);
        Arch::new("t3", 1.0, None, a.levels, a.compute).unwrap()
    }

    /// The saturation rule: once every tile below a level has two ranks moving back, loops at
    /// that level that index none of the still-live tensors commute.
    #[test]
    fn loops_commute_for_saturated_tensors() {
        let arch = three_level();
        let problem = LayerShape::Conv {
            n: 2,
            groups: 1,
            k: 4,
            c: 2,
            p: 6,
            q: 4,
            r: 3,
            s: 2,
            wstride: 1,
            hstride: 1,
            wdilation: 1,
            hdilation: 1,
        }
        .to_problem("c")
        .unwrap();
        let space = MapSpace::new(&arch, &problem, Constraints::none(&arch)).unwrap();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
        let ndims = problem.num_dims();
        let top = 2;
        let ts = space.level_slots[top][2].unwrap();
        let (mut checked, mut saturated_seen, mut beyond) = (0, 0, 0);
        for _ in 0..20000 {
            let p = space.sample(&mut rng);
            let Ok(a) = crate::model::evaluate(&arch, &problem, &space.to_mapping(&p)) else {
                continue;
            };
            let mut ext = vec![[1u64; MAX_DIMS]; space.num_levels() + 1];
            for l in 0..space.num_levels() {
                ext[l + 1] = ext[l];
                for s in space.level_slots[l].iter().flatten() {
                    for d in 0..ndims {
                        ext[l + 1][d] *= p.factors[*s][d];
                    }
                }
            }
            let mut visit = |_: &Point| true;
            let w = Walker {
                space: &space,
                span: Vec::new(),
                point: p.clone(),
                ranges: Vec::new(),
                ext,
                stats: WalkStats::default(),
                visit: &mut visit,
            };
            let sat = w.saturated_below(top);
            let live = w.keep_below(top) & !sat;
            if sat != 0 {
                saturated_seen += 1;
            }
            let inert = |d: usize| {
                (0..3)
                    .filter(|&t| live & (1 << t) != 0)
                    .all(|t| (0..problem.ranks(t)).all(|r| problem.coef(t, r, d) == 0))
            };
            let nonunit: Vec<usize> = p.orders[top][..ndims]
                .iter()
                .map(|&d| d as usize)
                .filter(|&d| p.factors[ts][d] > 1)
                .collect();
            let Some(pair) = nonunit.windows(2).find(|w| inert(w[0]) && inert(w[1])) else {
                continue;
            };
            let mut q = p.clone();
            let i = q.orders[top]
                .iter()
                .position(|&d| d as usize == pair[0])
                .unwrap();
            let j = q.orders[top]
                .iter()
                .position(|&d| d as usize == pair[1])
                .unwrap();
            q.orders[top].swap(i, j);
            let b = crate::model::evaluate(&arch, &problem, &space.to_mapping(&q)).unwrap();
            assert_eq!(
                a, b,
                "swapping {pair:?} at the top changed the cost (live {live:#b})"
            );
            checked += 1;
            // Swaps the plain rule (nothing kept below indexed) would not have allowed.
            let below = w.keep_below(top);
            let indexes_kept = |d: usize| {
                (0..3)
                    .filter(|&t| below & (1 << t) != 0)
                    .any(|t| (0..problem.ranks(t)).any(|r| problem.coef(t, r, d) != 0))
            };
            if indexes_kept(pair[0]) || indexes_kept(pair[1]) {
                beyond += 1;
            }
        }
        assert!(
            checked > 100 && saturated_seen > 100 && beyond > 50,
            "{checked} swaps, {saturated_seen} saturated, {beyond} beyond the plain rule"
        );
    }
}
