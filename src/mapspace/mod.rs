//! The space of legal mappings of one problem on one architecture under [`Constraints`].
//!
//! A mapping is a [`Point`]: for every dimension, one factor per *slot* (a storage level's
//! temporal loops, or its spatial X/Y loops where the level fans out), the product of a
//! dimension's factors being its bound (perfect factorization); a temporal loop order per
//! level; a keep mask per level. Spatial loops keep a canonical order (as Timeloop does for
//! them). The space enumerates each dimension's legal factor vectors once ([`MapSpace::new`]),
//! so sampling, neighbours and crossover are cheap, and [`enumerate`] walks the space level by
//! level, cutting every subtree whose tiles overflow a buffer.
//!
//! With [`Constraints::imperfect`] the space also holds imperfect factorizations: a
//! dimension's factors may multiply to more than its bound as long as only the outermost
//! non-unit factor's last iteration is partial (`mapping::Padding::LastTile`); the model runs
//! such a nest padded. Choices are still whole factor vectors, so sampling, crossover and the
//! exhaustive walk need no special case; [`MapSpace::move_prime`] re-derives the outermost
//! factor after a move.

pub mod constraints;
pub mod enumerate;
mod random;

pub use constraints::{Axis, ConstraintError, Constraints, FactorLimit, LevelConstraints};
pub use random::{prime_factors, random_mapping};

use rand::seq::SliceRandom;
use rand::Rng;

use crate::arch::{Arch, LevelClass};
use crate::mapping::{Loop, LoopNest, Mapping, Spacetime};
use crate::workload::{DimId, Problem, MAX_DIMS};

/// Which factor vectors a dimension's choices hold. An imperfect space gives each dimension
/// the widest rule whose vectors number at most [`MAX_CHOICES_PER_DIM`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImperfectRule {
    /// Factors multiply to the bound (every perfect space; the last resort of an imperfect one).
    Perfect,
    /// A padded last tile, with non-dividing factors only in spatial slots and the outermost
    /// one (Ruby-S: imperfect spatial factorization, where the Ruby paper finds most gain).
    SpatialOnly,
    /// A padded last tile, any inner factors.
    Full,
}

/// Most factor vectors kept per dimension; beyond it the space asks for constraints.
pub const MAX_CHOICES_PER_DIM: usize = 1 << 20;

/// Where a factor goes: a level's temporal loops or its spatial loops along one mesh axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub level: usize,
    pub space: Spacetime,
}

/// One mapping in the space's terms. Cheap to clone and compare; [`MapSpace::write_mapping`]
/// lowers it to the model's [`Mapping`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Point {
    /// `factors[slot][dim]`, slots as in [`MapSpace::slots`].
    pub factors: Vec<[u64; MAX_DIMS]>,
    /// `orders[level]`: the temporal loop order of every dimension, innermost first.
    pub orders: Vec<[u8; MAX_DIMS]>,
    /// `keep[level]`: bit t set = tensor t is stored there.
    pub keep: Vec<u8>,
}

/// Why a point is not a legal mapping (capacity is the model's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// The spatial factors at `level` need more children than its fanout has.
    Fanout {
        level: usize,
        axis: Axis,
        used: u64,
        available: u64,
    },
    /// The spatial factors at `level` use less of its fanout than a constraint demands.
    SpatialUnderuse { level: usize },
}

impl Violation {
    pub fn describe(&self, arch: &Arch) -> String {
        match *self {
            Violation::Fanout { level, axis, used, available } => format!(
                "fanout at {}: spatial {axis:?} factors need {used} children, it has {available}",
                arch.levels[level].name
            ),
            Violation::SpatialUnderuse { level } => format!(
                "utilization at {}: spatial factors use less of the fanout than the constraint's minimum",
                arch.levels[level].name
            ),
        }
    }

    /// A short key for counting failures by reason ("fanout at GLB").
    pub fn reason(&self, arch: &Arch) -> String {
        match *self {
            Violation::Fanout { level, .. } => format!("fanout at {}", arch.levels[level].name),
            Violation::SpatialUnderuse { level } => {
                format!("spatial utilization at {}", arch.levels[level].name)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapSpaceError {
    #[error(transparent)]
    Constraint(#[from] ConstraintError),
    #[error("dimension `{dim}` cannot be factorized over the levels under these constraints (no legal factor vector)")]
    NoFactorization { dim: String },
    #[error("dimension `{dim}` has more than {MAX_CHOICES_PER_DIM} factorizations over {slots} slots; add constraints (fix factors at some levels) to search it")]
    TooLarge { dim: String, slots: usize },
    #[error("the architecture has no level that can keep tensor `{0}`")]
    Unkept(String),
}

/// The map space of (arch, problem, constraints).
#[derive(Debug, Clone)]
pub struct MapSpace<'a> {
    pub arch: &'a Arch,
    pub problem: &'a Problem,
    pub constraints: Constraints,
    /// Inner level first; within a level: spatial X, spatial Y, temporal.
    pub slots: Vec<Slot>,
    /// Per level, its slot indices (X, Y, temporal; absent axes are `None`).
    pub level_slots: Vec<[Option<usize>; 3]>,
    /// Per dimension, the slots where its factor may exceed 1.
    pub dim_slots: Vec<Vec<usize>>,
    /// Per dimension, every legal factor vector over `dim_slots[d]`, flattened, in
    /// lexicographic order of the slots (inner levels vary slowest).
    pub choices: Vec<Vec<u64>>,
    /// Per dimension, how many factor vectors `choices` holds (a dimension with no usable
    /// slot has one, empty, vector).
    pub choice_count: Vec<usize>,
    /// Per level, the keep masks the constraints allow.
    pub keep_options: Vec<Vec<u8>>,
    /// Per dimension, which factorizations its choices hold (`factor_vectors`).
    pub imperfect_rule: Vec<ImperfectRule>,
    /// Per level, the dimensions whose temporal order is free (not fixed by constraints).
    pub free_order: Vec<Vec<DimId>>,
}

impl<'a> MapSpace<'a> {
    pub fn new(
        arch: &'a Arch,
        problem: &'a Problem,
        constraints: Constraints,
    ) -> Result<MapSpace<'a>, MapSpaceError> {
        constraints.check(arch, problem)?;
        let nlev = arch.num_levels();
        let ndims = problem.num_dims();
        let mut slots = Vec::new();
        let mut level_slots = Vec::with_capacity(nlev);
        for lvl in 0..nlev {
            let (fx, fy) = arch.fanout(lvl);
            let mut here = [None; 3];
            if fx > 1 {
                here[0] = Some(slots.len());
                slots.push(Slot {
                    level: lvl,
                    space: Spacetime::SpatialX,
                });
            }
            if fy > 1 {
                here[1] = Some(slots.len());
                slots.push(Slot {
                    level: lvl,
                    space: Spacetime::SpatialY,
                });
            }
            here[2] = Some(slots.len());
            slots.push(Slot {
                level: lvl,
                space: Spacetime::Temporal,
            });
            level_slots.push(here);
        }

        let mut dim_slots = Vec::with_capacity(ndims);
        let mut imperfect_rule = Vec::with_capacity(ndims);
        let mut choices = Vec::with_capacity(ndims);
        let mut choice_count = Vec::with_capacity(ndims);
        for d in 0..ndims {
            let usable: Vec<usize> = (0..slots.len())
                .filter(|&s| slot_may_exceed_one(arch, &constraints, &slots[s], d))
                .collect();
            let (list, count, rule) =
                factor_vectors(arch, &constraints, &slots, &usable, d, problem.bounds[d])
                    .ok_or_else(|| MapSpaceError::TooLarge {
                        dim: problem.dim_names[d].clone(),
                        slots: usable.len(),
                    })?;
            if count == 0 {
                return Err(MapSpaceError::NoFactorization {
                    dim: problem.dim_names[d].clone(),
                });
            }
            dim_slots.push(usable);
            imperfect_rule.push(rule);
            choices.push(list);
            choice_count.push(count);
        }

        let all = ((1u16 << problem.num_tensors()) - 1) as u8;
        let mut keep_options = Vec::with_capacity(nlev);
        for lvl in 0..nlev {
            let c = &constraints.levels[lvl];
            let opts: Vec<u8> = if lvl + 1 == nlev {
                vec![all]
            } else if arch.levels[lvl].class == LevelClass::Dummy {
                vec![c.keep]
            } else {
                (0..=all)
                    .filter(|m| m & c.keep == c.keep && m & c.bypass == 0)
                    .collect()
            };
            keep_options.push(opts);
        }
        for t in 0..problem.num_tensors() {
            if !keep_options
                .iter()
                .any(|o| o.iter().any(|m| m & (1 << t) != 0))
            {
                return Err(MapSpaceError::Unkept(problem.tensors[t].name.clone()));
            }
        }
        let free_order = (0..nlev)
            .map(|lvl| {
                let c = &constraints.levels[lvl];
                (0..ndims)
                    .filter(|d| !c.order_prefix.contains(d) && !c.order_suffix.contains(d))
                    .collect()
            })
            .collect();
        Ok(MapSpace {
            arch,
            problem,
            constraints,
            slots,
            level_slots,
            dim_slots,
            choices,
            choice_count,
            keep_options,
            imperfect_rule,
            free_order,
        })
    }

    pub fn num_levels(&self) -> usize {
        self.arch.num_levels()
    }

    pub fn num_dims(&self) -> usize {
        self.problem.num_dims()
    }

    /// Legal factor vectors of dimension `d`.
    pub fn num_choices(&self, d: DimId) -> usize {
        self.choice_count[d]
    }

    /// log10 of the number of points: factorizations × temporal orders × keep masks, each
    /// counted as Timeloop counts its sub-spaces (every permutation of the free dimensions).
    pub fn log10_size(&self) -> f64 {
        let mut s = 0.0;
        for d in 0..self.num_dims() {
            s += (self.num_choices(d) as f64).log10();
        }
        for lvl in 0..self.num_levels() {
            s += log10_factorial(self.free_order[lvl].len());
            s += (self.keep_options[lvl].len() as f64).log10();
        }
        s
    }

    /// The size as an integer, if it fits.
    pub fn size(&self) -> Option<u128> {
        let mut s: u128 = 1;
        for d in 0..self.num_dims() {
            s = s.checked_mul(self.num_choices(d) as u128)?;
        }
        for lvl in 0..self.num_levels() {
            s = s.checked_mul(factorial(self.free_order[lvl].len())?)?;
            s = s.checked_mul(self.keep_options[lvl].len() as u128)?;
        }
        Some(s)
    }

    /// The distinct factors dimension `d` takes in its `j`-th usable slot over all its
    /// choices, ascending (the bound's divisors in a perfect space).
    pub fn slot_values(&self, d: DimId, j: usize) -> Vec<u64> {
        let k = self.dim_slots[d].len();
        let mut v: Vec<u64> = (0..self.num_choices(d))
            .map(|i| self.choices[d][i * k + j])
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The factors dimension `d` may take in a slot, ascending: the bound's divisors in a
    /// perfect space, every factor some choice has in an imperfect one.
    pub fn factor_values(&self, d: DimId) -> Vec<u64> {
        let b = self.problem.bounds[d];
        if !self.constraints.imperfect {
            return (1..=b).filter(|f| b.is_multiple_of(*f)).collect();
        }
        let mut v = self.choices[d].clone();
        v.push(1);
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Whether dimension `d`'s factors in `p` cover its bound as the space allows (exactly,
    /// or with a padded last tile in an imperfect space), only in its usable slots, within
    /// every per-slot limit.
    pub fn factors_cover(&self, p: &Point, d: DimId) -> bool {
        let ds = &self.dim_slots[d];
        let outside = (0..self.slots.len()).any(|s| p.factors[s][d] != 1 && !ds.contains(&s));
        let product = ds
            .iter()
            .fold(1u64, |acc, &s| acc.saturating_mul(p.factors[s][d]));
        let outermost = ds
            .iter()
            .rev()
            .map(|&s| p.factors[s][d])
            .find(|&f| f > 1)
            .unwrap_or(1);
        let bound = self.problem.bounds[d];
        let covers = match crate::mapping::padding(bound, product, outermost) {
            crate::mapping::Padding::None => true,
            crate::mapping::Padding::LastTile => self.constraints.imperfect,
            _ => false,
        };
        let rule = self.imperfect_rule[d];
        let covers = covers && (rule != ImperfectRule::Perfect || product == bound);
        // Only spatial slots and the outermost may hold a non-divisor.
        let restricted = rule == ImperfectRule::SpatialOnly
            && ds.split_last().is_some_and(|(_, inner)| {
                inner.iter().any(|&s| {
                    self.slots[s].space == Spacetime::Temporal
                        && !bound.is_multiple_of(p.factors[s][d])
                })
            });
        !outside && covers && !restricted && self.factors_allowed(p, d)
    }

    /// Copies choice `i` of dimension `d` into `point`.
    pub fn set_choice(&self, point: &mut Point, d: DimId, i: usize) {
        let k = self.dim_slots[d].len();
        for s in 0..self.slots.len() {
            point.factors[s][d] = 1;
        }
        for (j, &s) in self.dim_slots[d].iter().enumerate() {
            point.factors[s][d] = self.choices[d][i * k + j];
        }
    }

    /// A point with every loop at the outermost level (each choice list's last entry has
    /// the whole bound in the outermost usable slot) and canonical orders; keeps the first
    /// allowed mask everywhere. A starting point for engines, not necessarily legal.
    pub fn blank_point(&self) -> Point {
        let nlev = self.num_levels();
        let mut p = Point {
            factors: vec![[1; MAX_DIMS]; self.slots.len()],
            orders: (0..nlev)
                .map(|lvl| self.order_with(lvl, &self.free_order[lvl]))
                .collect(),
            keep: self.keep_options.iter().map(|o| o[o.len() - 1]).collect(),
        };
        for d in 0..self.num_dims() {
            self.set_choice(&mut p, d, self.num_choices(d) - 1);
        }
        p
    }

    /// A temporal order for `level`: the fixed prefix, `free` (innermost first), the fixed suffix.
    pub fn order_with(&self, level: usize, free: &[DimId]) -> [u8; MAX_DIMS] {
        let c = &self.constraints.levels[level];
        let mut out = [0u8; MAX_DIMS];
        for (n, &d) in c
            .order_prefix
            .iter()
            .chain(free)
            .chain(&c.order_suffix)
            .enumerate()
        {
            out[n] = d as u8;
        }
        out
    }

    /// A uniformly random point of the space (Timeloop's `random`): it may be illegal
    /// (fanout) or overflow a buffer.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> Point {
        let nlev = self.num_levels();
        let mut p = Point {
            factors: vec![[1; MAX_DIMS]; self.slots.len()],
            orders: Vec::with_capacity(nlev),
            keep: Vec::with_capacity(nlev),
        };
        for d in 0..self.num_dims() {
            let i = rng.gen_range(0..self.num_choices(d));
            self.set_choice(&mut p, d, i);
        }
        let mut free = Vec::with_capacity(MAX_DIMS);
        for lvl in 0..nlev {
            free.clear();
            free.extend_from_slice(&self.free_order[lvl]);
            free.shuffle(rng);
            p.orders.push(self.order_with(lvl, &free));
            let opts = &self.keep_options[lvl];
            p.keep.push(opts[rng.gen_range(0..opts.len())]);
        }
        p
    }

    /// Samples until the point passes [`MapSpace::legal`] (at most `tries` draws).
    pub fn sample_legal<R: Rng>(&self, rng: &mut R, tries: usize) -> Option<Point> {
        (0..tries)
            .map(|_| self.sample(rng))
            .find(|p| self.legal(p).is_ok())
    }

    /// Fanout and spatial-utilization rules; factor limits hold by construction.
    pub fn legal(&self, p: &Point) -> Result<(), Violation> {
        for lvl in 0..self.num_levels() {
            let (fx, fy) = self.arch.fanout(lvl);
            let mut used_all = 1u64;
            for (axis, slot, avail) in [
                (Axis::X, self.level_slots[lvl][0], fx),
                (Axis::Y, self.level_slots[lvl][1], fy),
            ] {
                let Some(s) = slot else { continue };
                let used: u64 = p.factors[s][..self.num_dims()].iter().product();
                if used > avail {
                    return Err(Violation::Fanout {
                        level: lvl,
                        axis,
                        used,
                        available: avail,
                    });
                }
                used_all *= used;
            }
            let min = self.constraints.levels[lvl].min_spatial_utilization;
            if min > 0.0 && (used_all as f64) < min * (fx * fy) as f64 {
                return Err(Violation::SpatialUnderuse { level: lvl });
            }
        }
        Ok(())
    }

    /// Lowers `p` into `out`, reusing its buffers (no allocation once they have grown).
    pub fn write_mapping(&self, p: &Point, out: &mut Mapping) {
        let ndims = self.num_dims();
        out.nest.loops.clear();
        out.nest.level_start.clear();
        out.keep.clear();
        for lvl in 0..self.num_levels() {
            out.nest.level_start.push(out.nest.loops.len());
            let c = &self.constraints.levels[lvl];
            for (k, space) in [(0, Spacetime::SpatialX), (1, Spacetime::SpatialY)] {
                let Some(s) = self.level_slots[lvl][k] else {
                    continue;
                };
                let f = &p.factors[s];
                for &d in &c.spatial_order {
                    if f[d] > 1 {
                        out.nest.loops.push(Loop {
                            dim: d,
                            bound: f[d],
                            space,
                        });
                    }
                }
                for d in 0..ndims {
                    if f[d] > 1 && !c.spatial_order.contains(&d) {
                        out.nest.loops.push(Loop {
                            dim: d,
                            bound: f[d],
                            space,
                        });
                    }
                }
            }
            if let Some(s) = self.level_slots[lvl][2] {
                let f = &p.factors[s];
                for &d in &p.orders[lvl][..ndims] {
                    let d = d as usize;
                    if f[d] > 1 {
                        out.nest.loops.push(Loop {
                            dim: d,
                            bound: f[d],
                            space: Spacetime::Temporal,
                        });
                    }
                }
            }
            out.keep.push(p.keep[lvl]);
        }
        out.nest.level_start.push(out.nest.loops.len());
    }

    /// A fresh mapping for `p`.
    pub fn to_mapping(&self, p: &Point) -> Mapping {
        let mut m = Mapping {
            nest: LoopNest {
                loops: Vec::new(),
                level_start: Vec::new(),
            },
            keep: Vec::new(),
        };
        self.write_mapping(p, &mut m);
        m
    }

    /// The point a mapping corresponds to, if the space contains it (its factors are legal
    /// choices, its orders agree with the fixed ones, its keep masks are allowed).
    pub fn point_of(&self, m: &Mapping) -> Option<Point> {
        let ndims = self.num_dims();
        let nlev = self.num_levels();
        if m.keep.len() != nlev || m.nest.level_start.len() != nlev + 1 {
            return None;
        }
        let mut p = Point {
            factors: vec![[1; MAX_DIMS]; self.slots.len()],
            orders: Vec::with_capacity(nlev),
            keep: m.keep.clone(),
        };
        for lvl in 0..nlev {
            if !self.keep_options[lvl].contains(&m.keep[lvl]) {
                return None;
            }
            let mut placed = Vec::with_capacity(ndims);
            for l in m.nest.level_loops(lvl) {
                let k = match l.space {
                    Spacetime::SpatialX => 0,
                    Spacetime::SpatialY => 1,
                    Spacetime::Temporal => 2,
                };
                let s = self.level_slots[lvl][k]?;
                p.factors[s][l.dim] *= l.bound;
                if l.space == Spacetime::Temporal {
                    placed.push(l.dim);
                }
            }
            let free = &self.free_order[lvl];
            let mut order: Vec<DimId> = placed
                .iter()
                .copied()
                .filter(|d| free.contains(d))
                .collect();
            order.extend(free.iter().filter(|d| !placed.contains(d)));
            p.orders.push(self.order_with(lvl, &order));
        }
        for d in 0..ndims {
            let k = self.dim_slots[d].len();
            // Factors outside the dimension's usable slots must be 1.
            let outside = (0..self.slots.len())
                .any(|s| p.factors[s][d] != 1 && !self.dim_slots[d].contains(&s));
            let v: Vec<u64> = self.dim_slots[d].iter().map(|&s| p.factors[s][d]).collect();
            let known =
                (0..self.num_choices(d)).any(|i| self.choices[d][i * k..(i + 1) * k] == v[..]);
            if outside || !known {
                return None;
            }
        }
        // The orders must be the mapping's: a fixed dimension out of place changes them.
        let rebuilt = self.to_mapping(&p);
        for lvl in 0..nlev {
            let temporal = |n: &LoopNest| -> Vec<Loop> {
                n.level_loops(lvl)
                    .iter()
                    .copied()
                    .filter(|l| l.space == Spacetime::Temporal)
                    .collect()
            };
            if temporal(&rebuilt.nest) != temporal(&m.nest) {
                return None;
            }
        }
        Some(p)
    }

    /// A random neighbour of `p` (simulated annealing's move): move one prime factor of a
    /// dimension between two slots, swap two free dimensions in one level's order, or change
    /// one level's keep mask. Factor limits always hold; fanout may not.
    pub fn neighbour<R: Rng>(&self, p: &Point, rng: &mut R) -> Point {
        let mut q = p.clone();
        for _ in 0..32 {
            match rng.gen_range(0..10) {
                0..=6 => {
                    if self.move_factor(&mut q, rng) {
                        return q;
                    }
                }
                7..=8 => {
                    let lvl = rng.gen_range(0..self.num_levels());
                    let free = &self.free_order[lvl];
                    if free.len() >= 2 {
                        let c = &self.constraints.levels[lvl];
                        let start = c.order_prefix.len();
                        let i = start + rng.gen_range(0..free.len());
                        let j = start + rng.gen_range(0..free.len());
                        if i != j {
                            q.orders[lvl].swap(i, j);
                            return q;
                        }
                    }
                }
                _ => {
                    let lvl = rng.gen_range(0..self.num_levels());
                    let opts = &self.keep_options[lvl];
                    if opts.len() >= 2 {
                        let m = opts[rng.gen_range(0..opts.len())];
                        if m != q.keep[lvl] {
                            q.keep[lvl] = m;
                            return q;
                        }
                    }
                }
            }
        }
        q
    }

    /// Moves one prime factor of a random dimension from one slot to another, if the
    /// result is a legal factor vector. Returns whether it moved.
    pub fn move_factor<R: Rng>(&self, q: &mut Point, rng: &mut R) -> bool {
        let d = rng.gen_range(0..self.num_dims());
        let ds = &self.dim_slots[d];
        if ds.len() < 2 {
            return false;
        }
        if self.constraints.imperfect && rng.gen_bool(0.5) {
            // Imperfect spaces also hold non-divisor tiles: step one inner factor by ±1.
            let s = ds[rng.gen_range(0..ds.len() - 1)];
            let old = q.factors[s][d];
            let new = if rng.gen_bool(0.5) { old + 1 } else { old - 1 };
            if new == 0 {
                return false;
            }
            let saved = q.factors[ds[ds.len() - 1]][d];
            q.factors[s][d] = new;
            if self.settle_outermost(q, d) {
                return true;
            }
            q.factors[s][d] = old;
            q.factors[ds[ds.len() - 1]][d] = saved;
            return false;
        }
        let from = ds[rng.gen_range(0..ds.len())];
        let to = ds[rng.gen_range(0..ds.len())];
        from != to && self.move_prime(q, d, from, to, rng)
    }

    /// In an imperfect space, sets dimension `d`'s outermost usable factor to the ceiling its
    /// inner factors need (`mapping::Padding`) and says whether the vector is then a choice
    /// of the space's kind (covering, no whole padded iteration, within every limit).
    fn settle_outermost(&self, q: &mut Point, d: DimId) -> bool {
        let ds = &self.dim_slots[d];
        let Some((&last, inner_slots)) = ds.split_last() else {
            return false;
        };
        let inner: u64 = inner_slots
            .iter()
            .fold(1u64, |acc, &s| acc.saturating_mul(q.factors[s][d]));
        q.factors[last][d] = self.problem.bounds[d].div_ceil(inner);
        self.factors_cover(q, d)
    }

    /// Moves one random prime factor of dimension `d` from slot `from` to slot `to` if the
    /// result satisfies the factor limits (otherwise leaves `q` as it was). Returns whether
    /// it moved.
    pub fn move_prime<R: Rng>(
        &self,
        q: &mut Point,
        d: DimId,
        from: usize,
        to: usize,
        rng: &mut R,
    ) -> bool {
        let f = q.factors[from][d];
        if f == 1 {
            return false;
        }
        let primes = prime_factors(f);
        let prime = primes[rng.gen_range(0..primes.len())];
        // `settle_outermost` may rewrite the outermost slot too; restore all three on failure.
        let last = *self.dim_slots[d].last().unwrap_or(&to);
        let saved = [q.factors[from][d], q.factors[to][d], q.factors[last][d]];
        q.factors[from][d] /= prime;
        q.factors[to][d] *= prime;
        let ok = if self.constraints.imperfect {
            self.settle_outermost(q, d)
        } else {
            self.factors_allowed(q, d)
        };
        if !ok {
            q.factors[last][d] = saved[2];
            q.factors[to][d] = saved[1];
            q.factors[from][d] = saved[0];
        }
        ok
    }

    /// Whether dimension `d`'s factors in `p` satisfy every per-slot limit.
    pub fn factors_allowed(&self, p: &Point, d: DimId) -> bool {
        self.dim_slots[d].iter().all(|&s| {
            let slot = &self.slots[s];
            let c = &self.constraints.levels[slot.level];
            match slot.space {
                Spacetime::Temporal => c.temporal[d].allows(p.factors[s][d]),
                _ => {
                    let x = self.level_slots[slot.level][0].map_or(1, |x| p.factors[x][d]);
                    let y = self.level_slots[slot.level][1].map_or(1, |y| p.factors[y][d]);
                    c.spatial[d].allows(x * y)
                }
            }
        })
    }

    /// Uniform crossover (GAMMA-style genes): each dimension's factor vector, each level's
    /// order and keep mask come from one parent or the other. Always a point of the space.
    pub fn crossover<R: Rng>(&self, a: &Point, b: &Point, rng: &mut R) -> Point {
        let mut c = a.clone();
        for d in 0..self.num_dims() {
            if rng.gen_bool(0.5) {
                for &s in &self.dim_slots[d] {
                    c.factors[s][d] = b.factors[s][d];
                }
            }
        }
        for lvl in 0..self.num_levels() {
            if rng.gen_bool(0.5) {
                c.orders[lvl] = b.orders[lvl];
            }
            if rng.gen_bool(0.5) {
                c.keep[lvl] = b.keep[lvl];
            }
        }
        c
    }
}

fn slot_may_exceed_one(arch: &Arch, c: &Constraints, slot: &Slot, d: DimId) -> bool {
    let lc = &c.levels[slot.level];
    match slot.space {
        Spacetime::Temporal => lc.temporal[d].max > 1 && lc.temporal[d].exact.is_none_or(|e| e > 1),
        space => {
            let axis_ok = !matches!(
                (lc.spatial_axis[d], space),
                (Some(Axis::X), Spacetime::SpatialY) | (Some(Axis::Y), Spacetime::SpatialX)
            );
            let (fx, fy) = arch.fanout(slot.level);
            let room = if space == Spacetime::SpatialX { fx } else { fy };
            axis_ok
                && room > 1
                && lc.spatial[d].max > 1
                && lc.spatial[d].exact.is_none_or(|e| e > 1)
        }
    }
}

/// Every legal factor vector of dimension `d` over `usable` slots, flattened, their number,
/// and the rule they follow (an imperfect space tries the widest first); `None` if more than
/// [`MAX_CHOICES_PER_DIM`] even as perfect factorizations.
fn factor_vectors(
    arch: &Arch,
    c: &Constraints,
    slots: &[Slot],
    usable: &[usize],
    d: DimId,
    bound: u64,
) -> Option<(Vec<u64>, usize, ImperfectRule)> {
    let divisors: Vec<u64> = (1..=bound).filter(|f| bound.is_multiple_of(*f)).collect();
    let k = usable.len();
    let mut out = Vec::new();
    let mut cur = vec![1u64; k];
    let mut count = 0usize;
    // Spatial limits apply to a level's X × Y product, so they are checked on the whole vector.
    let ok_vector = |v: &[u64]| {
        for (j, &s) in usable.iter().enumerate() {
            let slot = &slots[s];
            let lc = &c.levels[slot.level];
            let (fx, fy) = arch.fanout(slot.level);
            match slot.space {
                Spacetime::Temporal => {
                    if !lc.temporal[d].allows(v[j]) {
                        return false;
                    }
                }
                Spacetime::SpatialX | Spacetime::SpatialY => {
                    let room = if slot.space == Spacetime::SpatialX {
                        fx
                    } else {
                        fy
                    };
                    if v[j] > room {
                        return false;
                    }
                }
            }
        }
        // Spatial product per level, including levels whose slots this dimension cannot use
        // (their factor is 1, which must still satisfy an exact or minimum limit).
        for lvl in 0..arch.num_levels() {
            let lim = &c.levels[lvl].spatial[d];
            let mut prod = 1u64;
            for (j, &s) in usable.iter().enumerate() {
                if slots[s].level == lvl && slots[s].space != Spacetime::Temporal {
                    prod *= v[j];
                }
            }
            if !lim.allows(prod) {
                return false;
            }
        }
        // Temporal limits at levels where the dimension has no usable slot (factor 1).
        for lvl in 0..arch.num_levels() {
            let has = usable
                .iter()
                .any(|&s| slots[s].level == lvl && slots[s].space == Spacetime::Temporal);
            if !has && !c.levels[lvl].temporal[d].allows(1) {
                return false;
            }
        }
        true
    };
    if k == 0 {
        let count = usize::from(bound == 1 && ok_vector(&[]));
        return Some((out, count, ImperfectRule::Perfect));
    }
    fn rec(
        j: usize,
        rem: u64,
        cur: &mut Vec<u64>,
        divisors: &[u64],
        out: &mut Vec<u64>,
        count: &mut usize,
        ok: &dyn Fn(&[u64]) -> bool,
    ) -> bool {
        let k = cur.len();
        if j + 1 == k {
            cur[j] = rem;
            if ok(cur) {
                *count += 1;
                if *count > MAX_CHOICES_PER_DIM {
                    return false;
                }
                out.extend_from_slice(cur);
            }
            return true;
        }
        for &f in divisors {
            if f > rem {
                break;
            }
            if rem.is_multiple_of(f) {
                cur[j] = f;
                if !rec(j + 1, rem / f, cur, divisors, out, count, ok) {
                    return false;
                }
            }
        }
        true
    }
    if c.imperfect {
        let room: Vec<u64> = usable
            .iter()
            .map(|&s| {
                let slot = &slots[s];
                let (fx, fy) = arch.fanout(slot.level);
                match slot.space {
                    Spacetime::Temporal => c.levels[slot.level].temporal[d].max,
                    Spacetime::SpatialX => fx,
                    Spacetime::SpatialY => fy,
                }
            })
            .collect();
        // Every inner factor free; if that is too many vectors, non-dividing factors only
        // in spatial slots; if still too many, perfect factorizations (below).
        for rule in [ImperfectRule::Full, ImperfectRule::SpatialOnly] {
            let spatial_only = rule == ImperfectRule::SpatialOnly;
            let divisor_only: Vec<bool> = usable
                .iter()
                .map(|&s| spatial_only && slots[s].space == Spacetime::Temporal)
                .collect();
            let mut walk = ImperfectWalk {
                bound,
                room: &room,
                divisor_only: &divisor_only,
                cur: cur.clone(),
                out: Vec::new(),
                count: 0,
                ok: &ok_vector,
            };
            if walk.rec(0, 1, 1) {
                return Some((walk.out, walk.count, rule));
            }
        }
    }
    if !rec(
        0, bound, &mut cur, &divisors, &mut out, &mut count, &ok_vector,
    ) {
        return None;
    }
    Some((out, count, ImperfectRule::Perfect))
}

/// Enumerates imperfect factor vectors (`mapping::Padding`): any factors whose product covers
/// the bound with only the outermost non-unit factor's last iteration partial. Once the
/// inner product reaches the bound every further factor must be 1, and a factor above
/// ceil(bound / inner product) would pad a whole iteration, so the walk never visits those.
struct ImperfectWalk<'a> {
    bound: u64,
    /// Per usable slot, the largest factor it can take (fanout, or a temporal maximum).
    room: &'a [u64],
    /// Per usable slot: only divisors of the bound, unless it is the dimension's outermost.
    divisor_only: &'a [bool],
    cur: Vec<u64>,
    out: Vec<u64>,
    count: usize,
    ok: &'a dyn Fn(&[u64]) -> bool,
}

impl ImperfectWalk<'_> {
    /// Chooses slot `j`'s factor given the product `inner` of the slots before it and the
    /// last non-unit factor among them. Returns false once the list is too long.
    fn rec(&mut self, j: usize, inner: u64, outermost: u64) -> bool {
        if j == self.cur.len() {
            let usable = matches!(
                crate::mapping::padding(self.bound, inner, outermost),
                crate::mapping::Padding::None | crate::mapping::Padding::LastTile
            );
            if usable && (self.ok)(&self.cur) {
                self.count += 1;
                if self.count > MAX_CHOICES_PER_DIM {
                    return false;
                }
                self.out.extend_from_slice(&self.cur);
            }
            return true;
        }
        let most = if inner >= self.bound {
            1
        } else {
            self.bound.div_ceil(inner).min(self.room[j])
        };
        let outermost_slot = j + 1 == self.cur.len();
        for f in 1..=most {
            if self.divisor_only[j] && !outermost_slot && !self.bound.is_multiple_of(f) {
                continue;
            }
            self.cur[j] = f;
            let last = if f > 1 { f } else { outermost };
            if !self.rec(j + 1, inner * f, last) {
                return false;
            }
        }
        self.cur[j] = 1;
        true
    }
}

fn factorial(n: usize) -> Option<u128> {
    (1..=n as u128).try_fold(1u128, |a, b| a.checked_mul(b))
}

fn log10_factorial(n: usize) -> f64 {
    (1..=n).map(|i| (i as f64).log10()).sum()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::SeedableRng;

    /// DRAM -> 64-word buffer -> 1 MAC with a 12×8×18 matmul: a map space small enough to
    /// enumerate in unit tests (also used by the search engines' tests).
    pub(crate) fn tiny() -> (Arch, Problem) {
        let arch = crate::arch::tests::two_level();
        let p = crate::workload::LayerShape::Matmul {
            b: 1,
            m: 12,
            n: 8,
            k: 18,
        }
        .to_problem("g")
        .unwrap();
        (arch, p)
    }

    #[test]
    fn every_choice_multiplies_to_the_bound() {
        let (arch, p) = tiny();
        let space = MapSpace::new(&arch, &p, Constraints::none(&arch)).unwrap();
        for d in 0..p.num_dims() {
            let k = space.dim_slots[d].len();
            assert!(space.num_choices(d) > 0);
            for i in 0..space.num_choices(d) {
                let prod: u64 = space.choices[d][i * k..(i + 1) * k].iter().product();
                assert_eq!(prod, p.bounds[d]);
            }
        }
        assert!(space.size().is_some());
        assert!((space.log10_size() - (space.size().unwrap() as f64).log10()).abs() < 1e-9);
    }

    #[test]
    fn samples_neighbours_and_children_stay_in_the_space() {
        let (arch, p) = tiny();
        let space = MapSpace::new(&arch, &p, Constraints::none(&arch)).unwrap();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut prev = space.sample(&mut rng);
        for _ in 0..300 {
            let a = space.sample(&mut rng);
            let n = space.neighbour(&a, &mut rng);
            let c = space.crossover(&a, &prev, &mut rng);
            for q in [&a, &n, &c] {
                let m = space.to_mapping(q);
                m.check(&arch, &p).unwrap();
                // The point read back from its mapping lowers to the same mapping.
                let back = space.point_of(&m).expect("a lowered point is in the space");
                assert_eq!(space.to_mapping(&back), m);
            }
            prev = a;
        }
    }

    /// The imperfect space holds every perfect vector and more; annealing moves from any of
    /// its points stay in it and reach padded tiles; every lowered point is a legal mapping.
    #[test]
    fn imperfect_space_contains_the_perfect_one_and_moves_stay_in_it() {
        let (arch, p) = tiny();
        let perfect = MapSpace::new(&arch, &p, Constraints::none(&arch)).unwrap();
        let imperfect = Constraints {
            imperfect: true,
            ..Constraints::none(&arch)
        };
        let space = MapSpace::new(&arch, &p, imperfect).unwrap();
        for d in 0..p.num_dims() {
            let k = space.dim_slots[d].len();
            assert_eq!(k, perfect.dim_slots[d].len());
            let theirs: Vec<&[u64]> = space.choices[d].chunks(k).collect();
            assert!(space.num_choices(d) > perfect.num_choices(d));
            for v in perfect.choices[d].chunks(k) {
                assert!(
                    theirs.contains(&v),
                    "dimension {d}: perfect vector {v:?} missing"
                );
            }
        }
        let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
        let mut a = space.sample(&mut rng);
        let mut padded = 0;
        for _ in 0..500 {
            let n = space.neighbour(&a, &mut rng);
            let m = space.to_mapping(&n);
            m.check(&arch, &p).unwrap();
            assert!(space.point_of(&m).is_some());
            assert!((0..p.num_dims()).all(|d| space.factors_cover(&n, d)));
            let runs: u64 = m.nest.loops.iter().map(|l| l.bound).product();
            padded += usize::from(runs > p.macs());
            a = n;
        }
        assert!(padded > 50, "only {padded} of 500 moves padded");
    }

    #[test]
    fn fixed_factors_and_orders_are_respected() {
        let (arch, p) = tiny();
        let mut c = Constraints::none(&arch);
        let m = p.dim_id("M").unwrap();
        let k = p.dim_id("K").unwrap();
        c.levels[0].temporal[m].exact = Some(4);
        c.levels[0].order_prefix = vec![k];
        let space = MapSpace::new(&arch, &p, c).unwrap();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        for _ in 0..100 {
            let q = space.sample(&mut rng);
            let t0 = space.level_slots[0][2].unwrap();
            assert_eq!(q.factors[t0][m], 4);
            assert_eq!(q.orders[0][0] as usize, k);
        }
    }

    #[test]
    fn contradictions_are_named() {
        let (arch, p) = tiny();
        let mut c = Constraints::none(&arch);
        c.levels[0].keep = 1;
        c.levels[0].bypass = 1;
        let err = MapSpace::new(&arch, &p, c).unwrap_err().to_string();
        assert!(err.contains("keep") && err.contains("bypass"), "{err}");
    }
}
