//! Walks the pruned map space in a fixed order, for exhaustive search.
//!
//! Levels are assigned inner to outer. A level's tile depends only on the factors at it and
//! below, so once its kept tiles overflow it, every completion overflows too: the subtree is
//! cut (for every keep mask that overflows). Spatial factors over a level's fanout are cut the
//! same way. Loop orders are enumerated only where they can matter: permutations of a
//! level's non-unit free dimensions, and only at levels with some tensor kept below them (the
//! order of loops above nothing but the MACs changes no count). Everything cut provably holds
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
        let kept_below = self.point.keep[..lvl].iter().any(|&m| m != 0);
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
        let saved = self.point.orders[lvl];
        moving.sort_unstable();
        loop {
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
