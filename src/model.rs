//! The analytical cost model: access counts, energy, cycles and area of one mapping.
//!
//! Follows Timeloop's counting rules (ISPASS'19 model; see `shared/reference/timeloop/
//! TIMELOOP.md` §3): per-level tiles are axis-aligned boxes of the affine projections;
//! fills are the deltas between consecutive tiles in time (only the innermost loop above a
//! tile slides it; any other step that moves it reloads it whole, see `temporal_deltas`);
//! children that need the same tile at a fanout are served by one multicast read, and
//! identical partial sums are reduced in the network; the first read of an output is elided;
//! energy charges ceil(count / block) vector accesses per action (per utilized cluster on
//! clustered levels); cycles are the max of compute and each level's bandwidth-bound time.
//!
//! Pure, `Sync`, deterministic, and allocation-free per call: all state lives in fixed-size
//! arrays, in the caller's [`Stats`] scratch for [`evaluate_into`]. Never does IO.

use crate::arch::{Arch, LevelClass};
use crate::mapping::{Mapping, Spacetime};
use crate::workload::{Problem, MAX_DIMS, MAX_RANKS, MAX_TENSORS, NO_RANK};

/// Most storage levels the model handles.
pub const MAX_LEVELS: usize = 16;

/// Why a mapping cannot run. Small and `Copy`, so searches can count reasons cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Infeasible {
    /// The tiles kept at `level` need more words than it has.
    Capacity {
        level: usize,
        need_words: u64,
        have_words: u64,
    },
    /// The tiles use less than the level's `min_utilization`.
    Underused {
        level: usize,
        used_words: u64,
        min_words: u64,
    },
    /// The architecture has more levels than the model supports.
    TooManyLevels,
    /// The mapping has more temporal loops than the model supports.
    TooManyLoops,
}

impl Infeasible {
    pub fn describe(&self, arch: &Arch) -> String {
        match *self {
            Infeasible::Capacity { level, need_words, have_words } => format!(
                "capacity at {}: tiles need {need_words} words but it holds {have_words} (over by {})",
                arch.levels[level].name,
                need_words - have_words
            ),
            Infeasible::Underused { level, used_words, min_words } => format!(
                "utilization at {}: tiles use {used_words} words, below the minimum of {min_words}",
                arch.levels[level].name
            ),
            Infeasible::TooManyLevels => format!("the model supports at most {MAX_LEVELS} storage levels"),
            Infeasible::TooManyLoops => format!("the model supports at most {MAX_WALK} non-unit temporal (and as many spatial) loops"),
        }
    }
}

/// The headline numbers of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostSummary {
    pub cycles: u64,
    pub energy_pj: f64,
    pub macs: u64,
    /// Fraction of all MAC-cycles doing useful work (spatial × temporal).
    pub utilization: f64,
    pub area_um2: f64,
}

impl CostSummary {
    pub fn edp(&self) -> f64 {
        self.energy_pj * self.cycles as f64
    }
}

/// Per-(level, tensor) counts, per instance of the level (Timeloop's convention).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TensorStats {
    pub kept: bool,
    /// Set for read-write tensors only; [`Stats::partition_size`] gives any tensor's.
    pub partition_size: u64,
    pub utilized_capacity: u64,
    pub reads: u64,
    pub fills: u64,
    pub updates: u64,
    pub energy_pj: f64,
}

/// Everything the model computes for one mapping: the scratch space of [`evaluate`] and the
/// source of `report::CostReport`.
#[derive(Debug, Clone)]
pub struct Stats {
    pub tensors: [[TensorStats; MAX_TENSORS]; MAX_LEVELS],
    pub utilized_instances: [u64; MAX_LEVELS],
    pub level_cycles: [u64; MAX_LEVELS],
    pub leak_energy_pj: [f64; MAX_LEVELS],
    pub compute_utilized: u64,
    pub compute_energy_pj: f64,
    shape: NestShape,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            tensors: [[TensorStats::default(); MAX_TENSORS]; MAX_LEVELS],
            utilized_instances: [0; MAX_LEVELS],
            level_cycles: [0; MAX_LEVELS],
            leak_energy_pj: [0.0; MAX_LEVELS],
            compute_utilized: 0,
            compute_energy_pj: 0.0,
            shape: NestShape::empty(),
        }
    }
}

impl Stats {
    /// Elements of tensor `t` one instance of `level` touches over the run, for the mapping
    /// last evaluated into this scratch.
    pub fn partition_size(&self, problem: &Problem, level: usize, t: usize) -> u64 {
        partition_size(problem, t, &self.shape, level)
    }
}

/// Scores one mapping. See the module docs for the rules. Hot loops should call
/// [`evaluate_into`] with one reused [`Stats`] per thread, which skips clearing ~10 KiB of
/// scratch per call.
pub fn evaluate(
    arch: &Arch,
    problem: &Problem,
    mapping: &Mapping,
) -> Result<CostSummary, Infeasible> {
    let mut stats = Stats::default();
    evaluate_into(arch, problem, mapping, &mut stats)
}

/// As [`evaluate`], also filling `stats` with the per-level breakdown.
pub fn evaluate_into(
    arch: &Arch,
    problem: &Problem,
    mapping: &Mapping,
    stats: &mut Stats,
) -> Result<CostSummary, Infeasible> {
    let nlev = arch.num_levels();
    if nlev > MAX_LEVELS {
        return Err(Infeasible::TooManyLevels);
    }

    // The nest's shape lives in the caller's scratch, so a reused `Stats` costs no clearing.
    if !stats.shape.fill(problem, mapping, nlev) {
        return Err(Infeasible::TooManyLoops);
    }
    let shape = &stats.shape;

    // Capacity first: it is the cheapest way to reject, as Timeloop's PreEvaluationCheck.
    for lvl in 0..nlev {
        let keep = mapping.keep[lvl];
        let level = &arch.levels[lvl];
        let mut used = 0u64;
        for t in 0..problem.num_tensors() {
            let ts = &mut stats.tensors[lvl][t];
            *ts = TensorStats::default();
            if keep & (1 << t) != 0 {
                ts.kept = true;
                ts.utilized_capacity = shape.width_at_end[lvl][t][..problem.ranks(t)]
                    .iter()
                    .product();
                used += ts.utilized_capacity;
            }
        }
        if let Some(have) = level.effective_words() {
            if used > have {
                return Err(Infeasible::Capacity {
                    level: lvl,
                    need_words: used,
                    have_words: have,
                });
            }
            let min_words = ceil_u64(level.min_utilization * have as f64);
            if used < min_words {
                return Err(Infeasible::Underused {
                    level: lvl,
                    used_words: used,
                    min_words,
                });
            }
        }
    }

    let spatial_all = shape.spatial_above[0];
    stats.compute_utilized = spatial_all;
    let macs = problem.macs();
    let per_compute = macs / spatial_all;
    stats.utilized_instances[..nlev].copy_from_slice(&shape.spatial_above[1..=nlev]);

    for t in 0..problem.num_tensors() {
        let read_write = problem.tensors[t].read_write;
        // Walk the chain of keepers inner to outer; the compute units are the first child.
        let mut child: Option<usize> = None;
        let mut child_deltas = per_compute; // every MAC touches each operand once
        let mut child_level = 0usize; // fanouts of levels >= this one lie between child and parent
        for lvl in 0..nlev {
            if mapping.keep[lvl] & (1 << t) == 0 {
                continue;
            }
            let mut distinct = 1u64;
            for between in child_level..=lvl {
                distinct *= distinct_in_group(problem, t, shape, between);
            }
            let traffic = child_deltas * distinct;
            let ts = &mut stats.tensors[lvl][t];
            if read_write {
                // Only outputs need the partition (first reads are elided); reports ask
                // `Stats::partition_size` for the others.
                let partition = partition_size(problem, t, shape, lvl);
                ts.partition_size = partition;
                ts.updates = traffic;
                ts.reads = traffic.saturating_sub(partition);
            } else {
                ts.reads = traffic;
            }
            let deltas = temporal_deltas(
                problem,
                t,
                shape,
                lvl,
                &shape.width_at_end[lvl][t],
                stats.tensors[lvl][t].utilized_capacity,
            );
            if let Some(c) = child {
                let cs = &mut stats.tensors[c][t];
                cs.fills = if read_write {
                    child_deltas.saturating_sub(cs.partition_size)
                } else {
                    child_deltas
                };
            }
            child = Some(lvl);
            child_deltas = deltas;
            child_level = lvl + 1;
        }
    }

    // One pass per level: its bandwidth-bound time, and its access energy (vector accesses
    // per action, times utilized instances). Leakage needs the final cycle count, so the
    // pass records each level's leakage per cycle and the total is scaled afterwards.
    let mut cycles = per_compute;
    let mut latency = 0u64;
    let mut energy = 0.0;
    let mut leak_per_cycle = 0.0;
    for lvl in 0..nlev {
        let level = &arch.levels[lvl];
        let utilized = stats.utilized_instances[lvl];
        // Clustered levels (one physical access serves a whole cluster of instances) are
        // charged per utilized cluster. Timeloop assumes utilized instances are spread
        // uniformly, so that is min(utilized instances, clusters).
        let charged = if level.cluster_size > 1 {
            utilized.min(level.instances / level.cluster_size).max(1) as f64
        } else {
            utilized as f64
        };
        let block = level.block_size;
        let (mut r, mut w) = (0u64, 0u64);
        let mut any_kept = false;
        for ts in &mut stats.tensors[lvl][..problem.num_tensors()] {
            if !ts.kept {
                continue;
            }
            any_kept = true;
            r += ts.reads;
            w += ts.fills + ts.updates;
            let per_instance = vectors(ts.reads, block) * level.read_energy_pj
                + vectors(ts.fills, block) * level.write_energy_pj
                + vectors(ts.updates, block) * level.update_energy_pj;
            ts.energy_pj = per_instance * charged;
            energy += ts.energy_pj;
        }
        let rate = if any_kept {
            level.leak_pj_per_cycle * utilized as f64
        } else {
            0.0
        };
        stats.leak_energy_pj[lvl] = rate;
        leak_per_cycle += rate;

        let mut c = per_compute as f64;
        for (bw, words) in [
            (level.read_bw, r),
            (level.write_bw, w),
            (level.shared_bw, r + w),
        ] {
            if let Some(bw) = bw {
                if bw > 0.0 {
                    c = c.max(words as f64 / bw);
                }
            }
        }
        let c = ceil_u64(c);
        stats.level_cycles[lvl] = c;
        cycles = cycles.max(c);
        latency += level.network_fill_latency + level.network_drain_latency;
    }
    let cycles = cycles + latency;
    if leak_per_cycle != 0.0 {
        for leak in &mut stats.leak_energy_pj[..nlev] {
            *leak *= cycles as f64;
        }
        energy += leak_per_cycle * cycles as f64;
    }
    stats.compute_energy_pj = macs as f64 * arch.compute.energy_pj;
    energy += stats.compute_energy_pj;

    Ok(CostSummary {
        cycles,
        energy_pj: energy,
        macs,
        utilization: macs as f64 / (arch.compute.instances as f64 * cycles as f64),
        area_um2: arch.area_um2(),
    })
}

/// Vector accesses for `words` scalar accesses: ceil(words / block), Timeloop's rounding of
/// the per-instance total. A 64-bit integer division is slow in this hot loop: blocks are
/// usually powers of two (a shift); otherwise estimate the quotient in floating point
/// (within one of the truth) and correct it with multiplications.
#[inline]
fn vectors(words: u64, block: u64) -> f64 {
    if block == 1 || words == 0 {
        return words as f64;
    }
    if block.is_power_of_two() {
        let q = (words >> block.trailing_zeros()) + u64::from(words & (block - 1) != 0);
        return q as f64;
    }
    let mut q = (words as f64 / block as f64) as u64;
    if q.saturating_mul(block) < words {
        q += 1;
    }
    if q > 0 && (q - 1).saturating_mul(block) >= words {
        q -= 1;
    }
    q as f64
}

/// ceil(x) for a non-negative finite x, inline: without SSE4.1 the baseline x86-64 target
/// calls libm for `f64::ceil`.
#[inline]
fn ceil_u64(x: f64) -> u64 {
    let i = x as u64;
    if (i as f64) < x {
        i + 1
    } else {
        i
    }
}

/// One pass over the nest, shared by every (level, tensor) computation of an evaluation.
#[derive(Debug, Clone)]
struct NestShape {
    /// Extent of every dimension inside the tile held at each level (loops below its end).
    ext_at_end: [[u64; MAX_DIMS]; MAX_LEVELS],
    /// Rank widths of every tensor's tile at each level (the box `ext_at_end` projects to),
    /// grown loop by loop: a loop of bound b over extent e widens a rank by coef × e × (b − 1).
    width_at_end: [[[u64; MAX_RANKS]; MAX_TENSORS]; MAX_LEVELS],
    /// `spatial_above[0]`: all spatial loops (utilized MACs); `[l + 1]`: those above level l's
    /// end (utilized instances of level l).
    spatial_above: [u64; MAX_LEVELS + 1],
    /// The spatial loops, inner to outer, with the stride of their index in their dimension;
    /// level l's are `spatial[spatial_start[l]..spatial_start[l + 1]]`.
    spatial: [SpatialLoop; MAX_WALK],
    spatial_start: [usize; MAX_LEVELS + 1],
    /// The temporal loops, inner to outer: dimension, bound, stride of its index in that
    /// dimension, and iterations of the temporal loops outside it.
    temporal: [TemporalLoop; MAX_WALK],
    temporal_len: usize,
    /// Index in `temporal` of the first temporal loop above each level's end.
    first_temporal_above: [usize; MAX_LEVELS],
}

#[derive(Debug, Clone, Copy, Default)]
struct SpatialLoop {
    dim: usize,
    bound: u64,
    stride: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct TemporalLoop {
    dim: usize,
    bound: u64,
    stride: u64,
    outside: u64,
}

impl NestShape {
    fn empty() -> NestShape {
        NestShape {
            ext_at_end: [[1; MAX_DIMS]; MAX_LEVELS],
            width_at_end: [[[1; MAX_RANKS]; MAX_TENSORS]; MAX_LEVELS],
            spatial_above: [1; MAX_LEVELS + 1],
            spatial: [SpatialLoop::default(); MAX_WALK],
            spatial_start: [0; MAX_LEVELS + 1],
            temporal: [TemporalLoop::default(); MAX_WALK],
            temporal_len: 0,
            first_temporal_above: [0; MAX_LEVELS],
        }
    }

    /// Recomputes every entry the first `nlev` levels use (a reused scratch needs no clearing).
    /// Returns false if the nest has more temporal loops than [`MAX_WALK`].
    fn fill(&mut self, problem: &Problem, mapping: &Mapping, nlev: usize) -> bool {
        let nest = &mapping.nest;
        let shape = self;
        let ntensors = problem.num_tensors();
        let mut width = [[1u64; MAX_RANKS]; MAX_TENSORS];
        // Inner to outer: `stride` is each dimension's extent below the current loop.
        let mut stride = [1u64; MAX_DIMS];
        let mut n = 0usize;
        let mut ns = 0usize;
        for lvl in 0..nlev {
            shape.spatial_start[lvl] = ns;
            for l in nest.level_loops(lvl) {
                if l.space != Spacetime::Temporal {
                    if ns == MAX_WALK {
                        return false;
                    }
                    shape.spatial[ns] = SpatialLoop {
                        dim: l.dim,
                        bound: l.bound,
                        stride: stride[l.dim],
                    };
                    ns += 1;
                } else {
                    if n == MAX_WALK {
                        return false;
                    }
                    shape.temporal[n] = TemporalLoop {
                        dim: l.dim,
                        bound: l.bound,
                        stride: stride[l.dim],
                        outside: 1,
                    };
                    n += 1;
                }
                let grow = stride[l.dim] * (l.bound - 1);
                for (t, w) in width[..ntensors].iter_mut().enumerate() {
                    if let Some((r, c)) = problem.single_rank_of(t, l.dim) {
                        if r != NO_RANK {
                            w[r] += c * grow;
                        }
                    } else {
                        for (r, wr) in w.iter_mut().enumerate() {
                            *wr += problem.coef(t, r, l.dim) * grow;
                        }
                    }
                }
                stride[l.dim] *= l.bound;
            }
            shape.width_at_end[lvl] = width;
            shape.first_temporal_above[lvl] = n;
            shape.spatial_start[lvl + 1] = ns;
            shape.ext_at_end[lvl] = stride;
        }
        shape.temporal_len = n;
        let mut outside = 1u64;
        for tl in shape.temporal[..n].iter_mut().rev() {
            tl.outside = outside;
            outside *= tl.bound;
        }
        // Spatial loops above each level's end: the utilized instances of that level.
        let mut sp = 1u64;
        for lvl in (0..nlev).rev() {
            shape.spatial_above[lvl + 1] = sp;
            for l in &shape.spatial[shape.spatial_start[lvl]..shape.spatial_start[lvl + 1]] {
                sp *= l.bound;
            }
        }
        shape.spatial_above[0] = sp;
        true
    }
}

/// Elements of `t` one instance of `level` ever touches: everything but the spatial loops
/// above it.
fn partition_size(problem: &Problem, t: usize, shape: &NestShape, level: usize) -> u64 {
    let mut ext = shape.ext_at_end[level];
    for tl in &shape.temporal[shape.first_temporal_above[level]..shape.temporal_len] {
        ext[tl.dim] *= tl.bound;
    }
    problem.tile_size(t, &ext)
}

/// Distinct tiles of `t` among the children of one instance of `level` (its spatial loops):
/// children needing the same tile share one multicast read (or one reduced update).
/// Timeloop detects this per spatial level, so fanouts of different levels multiply.
fn distinct_in_group(problem: &Problem, t: usize, shape: &NestShape, level: usize) -> u64 {
    let loops = &shape.spatial[shape.spatial_start[level]..shape.spatial_start[level + 1]];
    let mut distinct = 1u64;
    for (i, l) in loops.iter().enumerate() {
        match rank_touched(problem, t, l.dim) {
            RankTouch::None => {} // every child needs the same data: multicast
            RankTouch::Many => distinct *= l.bound,
            RankTouch::One(r, _) => {
                // Loops on the same rank combine into one window; count it at its first loop.
                let same_rank = |m: &SpatialLoop| matches!(rank_touched(problem, t, m.dim), RankTouch::One(q, _) if q == r);
                if loops[..i].iter().any(same_rank) {
                    continue;
                }
                let mut terms = [(0u64, 0u64); 8];
                let mut n = 0;
                for m in loops[i..].iter().filter(|m| same_rank(m)) {
                    if let RankTouch::One(_, c) = rank_touched(problem, t, m.dim) {
                        if n < terms.len() {
                            terms[n] = (c * m.stride, m.bound);
                            n += 1;
                        } else {
                            distinct *= m.bound; // beyond the tracked window: assume unique
                        }
                    }
                }
                distinct *= distinct_sums(&terms[..n]);
            }
        }
    }
    distinct
}

/// Which ranks of tensor `t` dimension `d` indexes.
enum RankTouch {
    None,
    One(usize, u64),
    Many,
}

#[inline]
fn rank_touched(problem: &Problem, t: usize, d: usize) -> RankTouch {
    if problem.single_rank_of(t, 0).is_some() {
        let (r, c) = problem.rank_of_unchecked(t, d);
        return if r == NO_RANK {
            RankTouch::None
        } else {
            RankTouch::One(r, c)
        };
    }
    let mut found = RankTouch::None;
    for r in 0..problem.ranks(t) {
        let c = problem.coef(t, r, d);
        if c != 0 {
            if !matches!(found, RankTouch::None) {
                return RankTouch::Many;
            }
            found = RankTouch::One(r, c);
        }
    }
    found
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Number of distinct values of Σ step_m × i_m with 0 ≤ i_m < bound_m.
fn distinct_sums(terms: &[(u64, u64)]) -> u64 {
    let product: u64 = terms.iter().map(|&(_, b)| b).product();
    if terms.len() <= 1 {
        return product;
    }
    if let [(a, count_a), (b, count_b)] = *terms {
        // Two terms in closed form. With g = gcd(a, b), a·i + b·j = a·i' + b·j' exactly when
        // (i', j') = (i − m·b/g, j + m·a/g). Counting each value once, at the member of its
        // chain whose next step leaves the box, leaves every (i, j) except those with
        // i ≥ b/g and j < B − a/g.
        let g = gcd(a, b);
        let (a, b) = (a / g, b / g);
        return product - count_a.saturating_sub(b) * count_b.saturating_sub(a);
    }
    let span: u64 = terms.iter().map(|&(s, b)| s * (b - 1)).sum::<u64>() + 1;
    const BITS: u64 = 1 << 14;
    if span > BITS {
        return product; // too wide to collide much; treat as unique positions
    }
    let mut seen = [0u64; (BITS / 64) as usize];
    let mut idx = [0u64; 8];
    let mut n = 0u64;
    loop {
        let v: u64 = terms.iter().zip(&idx).map(|(&(s, _), &i)| s * i).sum();
        let (w, b) = ((v / 64) as usize, v % 64);
        if seen[w] & (1 << b) == 0 {
            seen[w] |= 1 << b;
            n += 1;
        }
        let mut k = 0;
        loop {
            if k == terms.len() {
                return n;
            }
            idx[k] += 1;
            if idx[k] < terms[k].1 {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
    }
}

/// Elements loaded into one instance of `level` over the whole run: its first tile plus the
/// delta at every step of the temporal loops above it.
///
/// Timeloop's rule, confirmed on its reference outputs (tl04: 1152 RF input fills; Eyeriss
/// GLB: 16 whole input tiles): only the innermost temporal loop above the tile slides it and
/// loads just the new part; a step of any outer loop that moves the tile at all (its inner
/// loops wrap back) reloads the whole tile; a step that does not move it loads nothing.
/// Most temporal loops above a level that the delta walk tracks exactly.
const MAX_WALK: usize = 64;

fn temporal_deltas(
    problem: &Problem,
    t: usize,
    shape: &NestShape,
    level: usize,
    width: &[u64; MAX_RANKS],
    tile: u64,
) -> u64 {
    let ranks = problem.ranks(t);
    // Walk the temporal loops above, inner to outer. `wrap` is how far the tile moves back,
    // per rank, when the loops inside the current one wrap around; `moving` counts the ranks
    // where that is non-zero. Each loop steps (bound − 1) times per outside iteration.
    let single = problem.single_rank_of(t, 0).is_some();
    let mut wrap = [0i64; MAX_RANKS];
    let mut moving = 0usize;
    let mut total = tile;
    let first_index = shape.first_temporal_above[level];
    for (j, tl) in shape.temporal[first_index..shape.temporal_len]
        .iter()
        .enumerate()
    {
        let first = j == 0;
        let here = tl.stride;
        let delta = if single {
            let (r, c) = problem.rank_of_unchecked(t, tl.dim);
            if r == NO_RANK {
                if moving > 0 {
                    tile
                } else {
                    0
                }
            } else {
                let before = wrap[r];
                let o = before + (c * here) as i64;
                let others = moving - usize::from(before != 0);
                let delta = if first && o.unsigned_abs() < width[r] {
                    o.unsigned_abs() * (tile / width[r])
                } else if o != 0 || others > 0 {
                    tile
                } else {
                    0
                };
                wrap[r] = before - (c * (tl.bound - 1) * here) as i64;
                moving = others + usize::from(wrap[r] != 0);
                if moving >= 2 {
                    // Wraps only ever grow more negative, so with two ranks moving back no
                    // later step can land the tile where it was: every remaining step reloads
                    // it. The steps of this loop and all outer ones number (Π bounds) − 1.
                    let steps_here = (tl.bound - 1) * tl.outside;
                    let all_steps = tl.outside * tl.bound - 1;
                    return total + steps_here * delta + (all_steps - steps_here) * tile;
                }
                delta
            }
        } else {
            let mut moved = 0;
            let mut rank = 0;
            let mut amount = 0i64;
            for r in 0..ranks {
                let c = problem.coef(t, r, tl.dim) as i64;
                let o = wrap[r] + c * here as i64;
                if o != 0 {
                    moved += 1;
                    rank = r;
                    amount = o;
                }
                wrap[r] -= c * ((tl.bound - 1) * here) as i64;
            }
            match moved {
                0 => 0,
                1 if first && amount.unsigned_abs() < width[rank] => {
                    amount.unsigned_abs() * (tile / width[rank])
                }
                _ => tile,
            }
        };
        total += (tl.bound - 1) * tl.outside * delta;
    }
    total
}

/// Is a level's class a DRAM (for reports)?
pub fn is_dram(arch: &Arch, level: usize) -> bool {
    arch.levels[level].class == LevelClass::Dram
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{Factors, LevelSpec};
    use crate::workload::{Projection, Tensor};

    fn conv1d(r: u64, p: u64) -> Problem {
        let t = |name: &str, ranks: Vec<Vec<(usize, u64)>>, rw| Tensor {
            name: name.into(),
            ranks: ranks
                .into_iter()
                .map(|terms| Projection { terms })
                .collect(),
            read_write: rw,
        };
        Problem::new(
            "conv1d",
            vec![("R".into(), r), ("P".into(), p)],
            vec![
                t("Weights", vec![vec![(0, 1)]], false),
                t("Inputs", vec![vec![(0, 1), (1, 1)]], false),
                t("Outputs", vec![vec![(1, 1)]], true),
            ],
        )
        .unwrap()
    }

    fn spec(target: &str, temporal: &str, order: &str) -> LevelSpec {
        LevelSpec {
            target: target.into(),
            temporal: temporal.parse::<Factors>().unwrap(),
            order: order.chars().map(|c| c.to_string()).collect(),
            ..LevelSpec::default()
        }
    }

    /// Timeloop tutorial 00/01: conv1d R3 P16 (48 MACs). Outputs: 48 updates, 32 reads.
    #[test]
    fn output_stationary_conv1d_counts() {
        let arch = crate::arch::tests::two_level();
        let p = conv1d(3, 16);
        let m = Mapping::from_specs(
            &arch,
            &p,
            &[spec("Buffer", "R3", "RP"), spec("DRAM", "P16", "RP")],
        )
        .unwrap();
        let mut st = Stats::default();
        let s = evaluate_into(&arch, &p, &m, &mut st).unwrap();
        assert_eq!(s.cycles, 48);
        let out = st.tensors[0][2];
        assert_eq!((out.updates, out.reads, out.fills), (48, 32, 0));
        let dram_out = st.tensors[1][2];
        assert_eq!((dram_out.updates, dram_out.reads), (16, 0));
        // The buffer holds all 3 weights for the whole run; inputs slide by one per P step.
        assert_eq!(st.tensors[0][0].fills, 3);
        assert_eq!(st.tensors[0][0].reads, 48);
        assert_eq!(st.tensors[0][1].fills, 3 + 15);
        assert_eq!(st.tensors[1][1].reads, 18);
    }

    #[test]
    fn capacity_overflow_names_level_and_amount() {
        let arch = crate::arch::tests::two_level();
        let p = conv1d(3, 64);
        let m = Mapping::from_specs(&arch, &p, &[spec("Buffer", "R3 P64", "RP")]).unwrap();
        let err = evaluate(&arch, &p, &m).unwrap_err();
        assert_eq!(
            err,
            Infeasible::Capacity {
                level: 0,
                need_words: 3 + 66 + 64,
                have_words: 64
            }
        );
        assert!(err.describe(&arch).contains("over by 69"));
    }

    #[test]
    fn reused_scratch_gives_the_same_results_as_a_fresh_one() {
        use rand::SeedableRng;
        let arch = crate::arch::tests::two_level();
        let problems = [conv1d(3, 16), conv1d(2, 12)];
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let mut reused = Stats::default();
        for i in 0..200 {
            let p = &problems[i % 2];
            let m = crate::mapspace::random_mapping(&arch, p, &mut rng);
            let mut fresh = Stats::default();
            let a = evaluate_into(&arch, p, &m, &mut fresh);
            let b = evaluate_into(&arch, p, &m, &mut reused);
            assert_eq!(a, b);
            if a.is_ok() {
                assert_eq!(fresh.tensors, reused.tensors);
                assert_eq!(fresh.utilized_instances, reused.utilized_instances);
            }
        }
    }

    #[test]
    fn vector_rounding_matches_integer_ceiling() {
        for words in [
            0u64,
            1,
            7,
            8,
            9,
            63,
            64,
            65,
            1 << 40,
            (1 << 40) + 1,
            u64::MAX / 3,
        ] {
            for block in [1u64, 2, 3, 8, 32, 64] {
                assert_eq!(
                    vectors(words, block),
                    words.div_ceil(block) as f64,
                    "{words}/{block}"
                );
            }
        }
    }

    #[test]
    fn distinct_sums_counts_diagonals() {
        assert_eq!(distinct_sums(&[(1, 3), (1, 3)]), 5);
        assert_eq!(distinct_sums(&[(1, 3), (3, 4)]), 12);
        assert_eq!(distinct_sums(&[(2, 14), (1, 3)]), 29);
    }

    /// The two-term closed form against brute force.
    #[test]
    fn distinct_sums_two_terms_match_enumeration() {
        for a in 1..7u64 {
            for b in 1..7u64 {
                for na in 1..9u64 {
                    for nb in 1..9u64 {
                        let mut seen = std::collections::BTreeSet::new();
                        for i in 0..na {
                            for j in 0..nb {
                                seen.insert(a * i + b * j);
                            }
                        }
                        let got = distinct_sums(&[(a, na), (b, nb)]);
                        assert_eq!(got, seen.len() as u64, "{a}x{na} + {b}x{nb}");
                    }
                }
            }
        }
    }
}
