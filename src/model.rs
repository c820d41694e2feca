//! The analytical cost model: access counts, energy, cycles and area of one mapping.
//!
//! Follows Timeloop's counting rules (ISPASS'19 model; see `shared/reference/timeloop/
//! TIMELOOP.md` §3): per-level tiles are axis-aligned boxes of the affine projections;
//! fills are the deltas between consecutive tiles in time (only the innermost loop above a
//! tile slides it; any other step that moves it reloads it whole, see `temporal_deltas`);
//! children that need the same tile at a fanout are served by one multicast read, and
//! identical partial sums are reduced in the network; the first read of an output is elided;
//! energy charges ceil(count / block) vector accesses per action (per utilized cluster on
//! clustered levels); cycles are the max of compute and each level's bandwidth-bound time,
//! plus network latencies and any per-tile overhead (`Level::tile_overhead_cycles`, 0 unless
//! the arch sets it). Two opt-in terms go beyond Timeloop (both off by default, so Timeloop
//! results stay bit-identical): `Arch::program_overhead_cycles`, charged once per layer, and
//! levels with `Level::pipelined_fill_drain`, whose fills and drains are pipeline stages of
//! their own: the run then takes its slowest stage over all tiles plus the first tile's fill
//! and the last tile's drain that double buffering cannot hide (`exposed_fill_drain`).
//!
//! Pure, `Sync`, deterministic, and allocation-free per call: all state lives in fixed-size
//! arrays, in the caller's [`Stats`] scratch for [`evaluate_into`]. Never does IO.
//!
//! Speed: an [`Evaluator`] holds what depends only on the (architecture, problem) pair
//! (level capacities and energies, vector rounding, which rank each dimension widens);
//! loops that score many mappings of one layer build it once and share it by reference
//! (the search driver does, per batch). [`evaluate`] and [`evaluate_into`] build one per
//! call and give identical results. Per mapping there is one pass over the nest (tile
//! widths, capacities, keeper and fanout bit masks), one delta walk per kept tile (it stops
//! as soon as two ranks move back), and one pass per level for energy and cycles.

use crate::arch::{Arch, CountingRules, LevelClass};
use crate::mapping::{Mapping, Spacetime};
use crate::workload::{Problem, MAX_DIMS, MAX_RANKS, MAX_TENSORS, NO_RANK};

/// Most storage levels the model handles.
pub const MAX_LEVELS: usize = 16;
// Per-tensor keeper sets and the levels with fanouts are `u32` bit masks.
const _: () = assert!(MAX_LEVELS < 31);

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
    /// MACs the nest runs: the problem's, or more under an imperfect (padded) factorization.
    pub executed_macs: u64,
    /// Cycles the pipelined levels' exposed fill and drain add to the steady-state bound
    /// (0 unless the arch sets `pipelined_fill_drain`); part of `CostSummary::cycles`.
    pub exposed_cycles: u64,
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
            executed_macs: 0,
            exposed_cycles: 0,
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

/// Scores one mapping. See the module docs for the rules. Hot loops should build one
/// [`Evaluator`] per (architecture, problem) and call [`Evaluator::evaluate_into`] with one
/// reused [`Stats`] per thread, which skips clearing ~10 KiB of scratch per call.
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
    Evaluator::new(arch, problem).evaluate_into(mapping, stats)
}

/// The model prepared for one (architecture, problem): everything that does not depend on
/// the mapping is computed once here, so a search scoring millions of mappings of one layer
/// pays for it once. Cheap to build (no allocation); `Sync`, so threads can share one.
#[derive(Debug, Clone)]
pub struct Evaluator<'a> {
    arch: &'a Arch,
    problem: &'a Problem,
    num_levels: usize,
    num_tensors: usize,
    macs: u64,
    compute_energy_pj: f64,
    area_um2: f64,
    /// Network fill and drain latencies of every level, summed.
    latency: u64,
    /// Any level with a per-tile overhead (most architectures have none, and skip the pass).
    tile_overheads: bool,
    /// Any level with `pipelined_fill_drain` (most have none, and skip the pipeline pass).
    pipelined: bool,
    /// `Arch::program_overhead_cycles`.
    program_overhead: u64,
    levels: [LevelConsts; MAX_LEVELS],
    tensors: [TensorConsts; MAX_TENSORS],
    /// Per dimension, the ranks a loop over it widens: `grows[d][..grow_len[d]]`.
    grows: [[Grow; MAX_TENSORS * MAX_RANKS]; MAX_DIMS],
    grow_len: [usize; MAX_DIMS],
}

/// The energy of one vector access for an action: its own, or under Timeloop's 2020 rules the
/// largest of the level's read, write and update energies, which 2020 Timeloop charged for
/// every action.
fn action_energy(arch: &Arch, level: &crate::arch::Level, own: f64) -> f64 {
    match arch.rules {
        CountingRules::Timeloop => own,
        CountingRules::Timeloop2020 => level
            .read_energy_pj
            .max(level.write_energy_pj)
            .max(level.update_energy_pj),
    }
}

/// Rank `rank` of `tensor` indexes a dimension with coefficient `coef`.
#[derive(Debug, Clone, Copy, Default)]
struct Grow {
    tensor: u8,
    rank: u8,
    coef: u64,
}

/// What the model needs of one storage level, in the form the hot loops use.
#[derive(Debug, Clone, Copy)]
struct LevelConsts {
    /// Usable words (after multiple buffering); `None` when unbounded.
    have_words: Option<u64>,
    /// Fewest words the tiles may use (`min_utilization`); 0 when unbounded.
    min_words: u64,
    /// Physical clusters of a clustered level (`cluster_size > 1`), else 0.
    clusters: u64,
    block: Block,
    read_energy_pj: f64,
    write_energy_pj: f64,
    update_energy_pj: f64,
    leak_pj_per_cycle: f64,
    /// Read, write and shared bandwidths (words/cycle), `None` if unlimited or not positive.
    bandwidths: [Option<f64>; 3],
    /// `Level::pipelined_fill_drain`: fills and drains are pipeline stages of their own.
    pipelined: bool,
    /// Drain bandwidth of a pipelined level (`drain_bw`, else `read_bw`), `None` if unlimited.
    drain_bw: Option<f64>,
}

impl Default for LevelConsts {
    fn default() -> Self {
        LevelConsts {
            have_words: None,
            min_words: 0,
            clusters: 0,
            block: Block::One,
            read_energy_pj: 0.0,
            write_energy_pj: 0.0,
            update_energy_pj: 0.0,
            leak_pj_per_cycle: 0.0,
            bandwidths: [None; 3],
            pipelined: false,
            drain_bw: None,
        }
    }
}

/// What the model needs of one tensor.
#[derive(Debug, Clone, Copy, Default)]
struct TensorConsts {
    read_write: bool,
    /// Fills exclude the partition (the first tile's partial sums start in place): read-write
    /// tensors under today's Timeloop rules.
    fills_skip_partition: bool,
    /// Every dimension indexes at most one rank (then `slot` and `coef` describe it).
    single_rank: bool,
    /// Per dimension: the rank it indexes, or [`NO_SLOT`] (a scratch rank that stays 1 wide)
    /// if none, so the hot loops need no branch for dimensions the tensor ignores.
    slot: [usize; MAX_DIMS],
    /// Per dimension: its coefficient in that rank (0 if none).
    coef: [u64; MAX_DIMS],
    /// Elements of the whole tensor.
    size: u64,
}

/// The scratch rank of [`TensorConsts::slot`]; rank widths carry one extra entry for it.
const NO_SLOT: usize = MAX_RANKS;
/// Rank widths of one tile, plus the scratch rank (always 1).
type Widths = [u64; MAX_RANKS + 1];

impl TensorConsts {
    /// Elements of the box the tensor covers when each dimension spans `extent` (as
    /// `Problem::tile_size`), for single-rank tensors: no branch per dimension.
    #[inline]
    fn box_size(&self, extent: &[u64; MAX_DIMS]) -> u64 {
        let mut width: Widths = [1; MAX_RANKS + 1];
        for d in 0..MAX_DIMS {
            width[self.slot[d]] += self.coef[d] * (extent[d] - 1);
        }
        width.iter().product()
    }
}

impl<'a> Evaluator<'a> {
    pub fn new(arch: &'a Arch, problem: &'a Problem) -> Evaluator<'a> {
        let mut levels = [LevelConsts::default(); MAX_LEVELS];
        for (lc, level) in levels.iter_mut().zip(&arch.levels) {
            let have_words = level.effective_words();
            let positive = |bw: Option<f64>| bw.filter(|&b| b > 0.0);
            *lc = LevelConsts {
                have_words,
                min_words: have_words
                    .map_or(0, |have| ceil_u64(level.min_utilization * have as f64)),
                clusters: if level.cluster_size > 1 {
                    level.instances / level.cluster_size
                } else {
                    0
                },
                block: Block::new(level.block_size),
                read_energy_pj: action_energy(arch, level, level.read_energy_pj),
                write_energy_pj: action_energy(arch, level, level.write_energy_pj),
                update_energy_pj: action_energy(arch, level, level.update_energy_pj),
                leak_pj_per_cycle: level.leak_pj_per_cycle,
                bandwidths: [
                    positive(level.read_bw),
                    positive(level.write_bw),
                    positive(level.shared_bw),
                ],
                pipelined: level.pipelined_fill_drain,
                drain_bw: positive(level.drain_bw.or(level.read_bw)),
            };
        }
        let mut tensors = [TensorConsts::default(); MAX_TENSORS];
        for (t, tc) in tensors.iter_mut().enumerate().take(problem.num_tensors()) {
            tc.read_write = problem.tensors[t].read_write;
            tc.fills_skip_partition = tc.read_write && arch.rules == CountingRules::Timeloop;
            tc.single_rank = problem.single_rank_of(t, 0).is_some();
            tc.slot = [NO_SLOT; MAX_DIMS];
            if tc.single_rank {
                for d in 0..problem.num_dims() {
                    let (r, c) = problem.rank_of_unchecked(t, d);
                    if r != NO_RANK {
                        tc.slot[d] = r;
                        tc.coef[d] = c;
                    }
                }
            }
            tc.size = problem.tensor_size(t);
        }
        let mut grows = [[Grow::default(); MAX_TENSORS * MAX_RANKS]; MAX_DIMS];
        let mut grow_len = [0; MAX_DIMS];
        for d in 0..problem.num_dims() {
            for t in 0..problem.num_tensors() {
                for r in 0..problem.ranks(t) {
                    let coef = problem.coef(t, r, d);
                    if coef != 0 {
                        // Bounded by MAX_TENSORS and MAX_RANKS, which `Problem::new` enforces.
                        grows[d][grow_len[d]] = Grow {
                            tensor: t as u8,
                            rank: r as u8,
                            coef,
                        };
                        grow_len[d] += 1;
                    }
                }
            }
        }
        let macs = problem.macs();
        Evaluator {
            arch,
            problem,
            num_levels: arch.num_levels(),
            num_tensors: problem.num_tensors(),
            macs,
            compute_energy_pj: macs as f64 * arch.compute.energy_pj,
            area_um2: arch.area_um2(),
            latency: arch
                .levels
                .iter()
                .map(|l| l.network_fill_latency + l.network_drain_latency)
                .sum(),
            tile_overheads: arch.levels.iter().any(|l| l.tile_overhead_cycles != 0),
            pipelined: arch.levels.iter().any(|l| l.pipelined_fill_drain),
            program_overhead: arch.program_overhead_cycles,
            levels,
            tensors,
            grows,
            grow_len,
        }
    }

    pub fn arch(&self) -> &'a Arch {
        self.arch
    }

    pub fn problem(&self) -> &'a Problem {
        self.problem
    }

    /// Scores one mapping of this evaluator's problem; see [`evaluate_into`].
    pub fn evaluate_into(
        &self,
        mapping: &Mapping,
        stats: &mut Stats,
    ) -> Result<CostSummary, Infeasible> {
        let nlev = self.num_levels;
        if nlev > MAX_LEVELS {
            return Err(Infeasible::TooManyLevels);
        }
        let ntensors = self.num_tensors;

        // The nest's shape lives in the caller's scratch, so a reused `Stats` costs no
        // clearing. The pass also resets every (level, tensor) entry and sets kept tiles'
        // utilized capacities.
        if !self.nest_pass(mapping, stats) {
            return Err(Infeasible::TooManyLoops);
        }
        let shape = &stats.shape;

        // Capacity first: it is the cheapest way to reject, as Timeloop's PreEvaluationCheck.
        for (lvl, lc) in self.levels[..nlev].iter().enumerate() {
            if let Some(have) = lc.have_words {
                let used: u64 = stats.tensors[lvl][..ntensors]
                    .iter()
                    .map(|ts| ts.utilized_capacity)
                    .sum();
                if used > have {
                    return Err(Infeasible::Capacity {
                        level: lvl,
                        need_words: used,
                        have_words: have,
                    });
                }
                if used < lc.min_words {
                    return Err(Infeasible::Underused {
                        level: lvl,
                        used_words: used,
                        min_words: lc.min_words,
                    });
                }
            }
        }

        // An imperfect factorization runs the padded problem (`mapping::Padding`): the nest's
        // extents exceed the bounds, and every count below is the padded nest's. Only the
        // reported MACs and utilization count useful work.
        let dims = self.problem.num_dims();
        let padded = shape.full_extent[..dims] != self.problem.bounds[..];
        let (executed_macs, compute_energy_pj) = if padded {
            let m: u64 = shape.full_extent[..dims].iter().product();
            (m, to_f64(m) * self.arch.compute.energy_pj)
        } else {
            (self.macs, self.compute_energy_pj)
        };
        stats.executed_macs = executed_macs;
        let spatial_all = shape.spatial_above[0];
        stats.compute_utilized = spatial_all;
        let macs = self.macs;
        let per_compute = executed_macs / spatial_all;
        stats.utilized_instances[..nlev].copy_from_slice(&shape.spatial_above[1..=nlev]);

        // Words each instance of a level writes back to its parent (read-write tensors): the
        // drain stage of pipelined levels.
        let mut drains = [0u64; MAX_LEVELS];
        for (t, tc) in self.tensors[..ntensors].iter().enumerate() {
            // Walk the chain of keepers inner to outer; the compute units are the first child.
            let mut child: Option<usize> = None;
            let mut child_deltas = per_compute; // every MAC touches each operand once
            let mut child_level = 0usize; // fanouts of levels >= this one lie between child and parent
            let mut keepers = shape.keepers[t];
            while keepers != 0 {
                let lvl = keepers.trailing_zeros() as usize;
                keepers &= keepers - 1;
                // Levels from the child's parent up to this one that have spatial loops.
                let up_to_here = (2u32 << lvl) - 1;
                let below_child = (1u32 << child_level) - 1;
                let mut fanouts = shape.fanout_levels & up_to_here & !below_child;
                let mut distinct = 1u64;
                while fanouts != 0 {
                    let between = fanouts.trailing_zeros() as usize;
                    fanouts &= fanouts - 1;
                    distinct *= if tc.single_rank {
                        distinct_in_group_single_rank(tc, shape, between)
                    } else {
                        distinct_in_group(self.problem, t, shape, between)
                    };
                }
                let traffic = child_deltas * distinct;
                let tile = stats.tensors[lvl][t].utilized_capacity;
                let deltas = if tc.single_rank {
                    temporal_deltas(tc, shape, lvl, &shape.width_at_end[lvl][t], tile)
                } else {
                    temporal_deltas_multi_rank(
                        self.problem,
                        t,
                        shape,
                        lvl,
                        &shape.width_at_end[lvl][t],
                        tile,
                    )
                };
                let ts = &mut stats.tensors[lvl][t];
                if tc.read_write {
                    // Only outputs need the partition (first reads are elided); reports ask
                    // `Stats::partition_size` for the others. Without spatial loops above,
                    // one instance touches the whole tensor.
                    let partition = if shape.spatial_above[lvl + 1] == 1 {
                        if padded {
                            self.problem.tile_size(t, &shape.full_extent)
                        } else {
                            tc.size
                        }
                    } else if tc.single_rank {
                        tc.box_size(&partition_extent(shape, lvl))
                    } else {
                        self.problem.tile_size(t, &partition_extent(shape, lvl))
                    };
                    ts.partition_size = partition;
                    ts.updates = traffic;
                    ts.reads = traffic.saturating_sub(partition);
                } else {
                    ts.reads = traffic;
                }
                if let Some(c) = child {
                    if tc.read_write {
                        drains[c] += child_deltas;
                    }
                    let cs = &mut stats.tensors[c][t];
                    cs.fills = if tc.fills_skip_partition {
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

        // One pass per level: its bandwidth-bound time, and its access energy (vector
        // accesses per action, times utilized instances). Leakage needs the final cycle
        // count, so the pass records each level's leakage per cycle and the total is scaled
        // afterwards.
        let mut cycles = per_compute;
        // A level with no bandwidth limit takes as long as the compute.
        let compute_cycles = ceil_u64(to_f64(per_compute));
        let mut energy = 0.0;
        let mut leak_per_cycle = 0.0;
        for (lvl, lc) in self.levels[..nlev].iter().enumerate() {
            let utilized = stats.utilized_instances[lvl];
            // Clustered levels (one physical access serves a whole cluster of instances) are
            // charged per utilized cluster. Timeloop assumes utilized instances are spread
            // uniformly, so that is min(utilized instances, clusters).
            let charged = if lc.clusters != 0 {
                to_f64(utilized.min(lc.clusters).max(1))
            } else {
                to_f64(utilized)
            };
            let (mut r, mut w, mut fills) = (0u64, 0u64, 0u64);
            let mut any_kept = false;
            for ts in &mut stats.tensors[lvl][..ntensors] {
                if !ts.kept {
                    continue;
                }
                any_kept = true;
                r += ts.reads;
                w += ts.fills + ts.updates;
                fills += ts.fills;
                let per_instance = lc.block.vectors(ts.reads) * lc.read_energy_pj
                    + lc.block.vectors(ts.fills) * lc.write_energy_pj
                    + lc.block.vectors(ts.updates) * lc.update_energy_pj;
                ts.energy_pj = per_instance * charged;
                energy += ts.energy_pj;
            }
            let rate = if any_kept {
                lc.leak_pj_per_cycle * to_f64(utilized)
            } else {
                0.0
            };
            stats.leak_energy_pj[lvl] = rate;
            leak_per_cycle += rate;

            // A pipelined level's fills travel in their own stage (below), not beside the
            // reads and updates that serve the work under it.
            if lc.pipelined {
                w -= fills;
            }
            let c = if lc.bandwidths == [None; 3] {
                compute_cycles
            } else {
                let mut c = to_f64(per_compute);
                for (bw, words) in lc.bandwidths.into_iter().zip([r, w, r + w]) {
                    if let Some(bw) = bw {
                        c = c.max(to_f64(words) / bw);
                    }
                }
                ceil_u64(c)
            };
            stats.level_cycles[lvl] = c;
            cycles = cycles.max(c);
        }
        let steady = cycles + self.tile_overhead(mapping, nlev);
        stats.exposed_cycles = 0;
        if self.pipelined {
            let mut stages = [PipelineStages::default(); MAX_LEVELS];
            for (lvl, lc) in self.levels[..nlev].iter().enumerate() {
                if lc.pipelined {
                    let st = self.pipeline_stages(lvl, drains[lvl], stats);
                    // A pipelined level reports its slowest stage.
                    let c = &mut stats.level_cycles[lvl];
                    *c = ceil_u64(to_f64(*c).max(st.fill).max(st.drain));
                    stages[lvl] = st;
                }
            }
            stats.exposed_cycles = exposed_fill_drain(steady, &stages[..nlev]);
        }
        let cycles = steady + stats.exposed_cycles + self.latency + self.program_overhead;
        if leak_per_cycle != 0.0 {
            for leak in &mut stats.leak_energy_pj[..nlev] {
                *leak *= to_f64(cycles);
            }
            energy += leak_per_cycle * to_f64(cycles);
        }
        stats.compute_energy_pj = compute_energy_pj;
        energy += stats.compute_energy_pj;

        Ok(CostSummary {
            cycles,
            energy_pj: energy,
            macs,
            utilization: to_f64(macs) / (to_f64(self.arch.compute.instances) * to_f64(cycles)),
            area_um2: self.area_um2,
        })
    }

    /// The fill and drain stages of pipelined level `lvl`, whose counts are already in
    /// `stats`; `drains` = words per instance it writes back to its parent over the run.
    fn pipeline_stages(&self, lvl: usize, drains: u64, stats: &Stats) -> PipelineStages {
        let shape = &stats.shape;
        let lc = &self.levels[lvl];
        // Only tensors with a keeper above move between this level and its parent.
        let above = !((2u32 << lvl) - 1);
        let (mut fills, mut first_fill, mut last_drain) = (0u64, 0u64, 0u64);
        for (t, tc) in self.tensors[..self.num_tensors].iter().enumerate() {
            let ts = &stats.tensors[lvl][t];
            if !ts.kept || shape.keepers[t] & above == 0 {
                continue;
            }
            fills += ts.fills;
            // The first tile arrives whole, except partial sums that start in place.
            if !tc.fills_skip_partition {
                first_fill += ts.utilized_capacity;
            }
            if tc.read_write {
                last_drain += ts.utilized_capacity;
            }
        }
        let time = |words: u64, bw: Option<f64>| bw.map_or(0.0, |bw| to_f64(words) / bw);
        let write_bw = lc.bandwidths[1];
        let first = shape.first_temporal_above[lvl];
        let tiles = if first < shape.temporal_len {
            let outer = &shape.temporal[first];
            outer.outside * outer.bound
        } else {
            1
        };
        PipelineStages {
            pipelined: true,
            tiles,
            first_fill: time(first_fill, write_bw),
            fill: time(fills, write_bw),
            last_drain: time(last_drain, lc.drain_bw),
            drain: time(drains, lc.drain_bw),
        }
    }

    /// Σ over levels of the per-tile overhead × the number of tiles one instance of the level
    /// goes through (the product of the temporal loops above it): cycles no overlap hides.
    fn tile_overhead(&self, mapping: &Mapping, nlev: usize) -> u64 {
        if !self.tile_overheads {
            return 0;
        }
        let nest = &mapping.nest;
        let mut total = 0u64;
        // Walk outer to inner, multiplying in each level's temporal loops.
        let mut tiles = 1u64;
        for lvl in (0..nlev).rev() {
            let overhead = self.arch.levels[lvl].tile_overhead_cycles;
            total = total.saturating_add(overhead.saturating_mul(tiles));
            for l in nest.level_loops(lvl) {
                if l.space == Spacetime::Temporal {
                    tiles = tiles.saturating_mul(l.bound);
                }
            }
        }
        total
    }

    /// One pass over the nest, inner to outer, filling `stats.shape` for the first
    /// `num_levels` levels (a reused scratch needs no clearing), resetting every (level,
    /// tensor) entry and setting the utilized capacity of each kept tile. Returns false if
    /// the nest has more temporal or spatial loops than [`MAX_WALK`].
    fn nest_pass(&self, mapping: &Mapping, stats: &mut Stats) -> bool {
        let nest = &mapping.nest;
        let shape = &mut stats.shape;
        let ntensors = self.num_tensors;
        let mut width = [[1u64; MAX_RANKS + 1]; MAX_TENSORS];
        // `stride` is each dimension's extent below the current loop.
        let mut stride = [1u64; MAX_DIMS];
        let mut n = 0usize;
        let mut ns = 0usize;
        shape.keepers = [0; MAX_TENSORS];
        shape.fanout_levels = 0;
        for lvl in 0..self.num_levels {
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
                        steps: 0,
                    };
                    n += 1;
                }
                // A loop of bound b over extent e widens each rank by coef × e × (b − 1).
                let grow = stride[l.dim] * (l.bound - 1);
                for g in &self.grows[l.dim][..self.grow_len[l.dim]] {
                    width[usize::from(g.tensor)][usize::from(g.rank)] += g.coef * grow;
                }
                stride[l.dim] *= l.bound;
            }
            let keep = mapping.keep[lvl];
            for t in 0..ntensors {
                let ts = &mut stats.tensors[lvl][t];
                *ts = TensorStats::default();
                if keep & (1 << t) != 0 {
                    shape.keepers[t] |= 1 << lvl;
                    ts.kept = true;
                    // Ranks past the tensor's last, and the scratch rank, are 1 wide.
                    ts.utilized_capacity = width[t].iter().product();
                    shape.width_at_end[lvl][t] = width[t];
                }
            }
            shape.first_temporal_above[lvl] = n;
            if ns != shape.spatial_start[lvl] {
                shape.fanout_levels |= 1 << lvl;
            }
            shape.spatial_start[lvl + 1] = ns;
        }
        shape.full_extent = stride;
        shape.temporal_len = n;
        shape.spatial_len = ns;
        let mut outside = 1u64;
        for tl in shape.temporal[..n].iter_mut().rev() {
            tl.outside = outside;
            tl.steps = (tl.bound - 1) * outside;
            outside *= tl.bound;
        }
        // Spatial loops above each level's end: the utilized instances of that level.
        let mut sp = 1u64;
        for lvl in (0..self.num_levels).rev() {
            shape.spatial_above[lvl + 1] = sp;
            for l in &shape.spatial[shape.spatial_start[lvl]..shape.spatial_start[lvl + 1]] {
                sp *= l.bound;
            }
        }
        shape.spatial_above[0] = sp;
        true
    }
}

/// The fill → work → drain pipeline of one level with `pipelined_fill_drain`, in cycles per
/// instance (fills at `write_bw`, drains at `drain_bw`).
#[derive(Debug, Clone, Copy, Default)]
struct PipelineStages {
    pipelined: bool,
    /// Tiles the level goes through: the temporal loops above it.
    tiles: u64,
    /// Filling the first tile (everything it keeps, except partial sums starting in place).
    first_fill: f64,
    /// All fills of the run.
    fill: f64,
    /// Draining the last tile (its read-write tensors).
    last_drain: f64,
    /// All drains of the run.
    drain: f64,
}

/// Cycles a three-stage pipeline (fill, work, drain; double-buffered, so stages of different
/// tiles overlap) adds to `steady`, the work's bound with fills and drains overlapped for free.
/// The run takes as long as its slowest stage summed over all tiles, plus what comes before
/// that stage for the first tile and after it for the last one:
///   work-bound:  first fill + steady + last drain
///   fill-bound:  Σ fill + steady / tiles + last drain
///   drain-bound: first fill + steady / tiles + Σ drain
/// (exact for equal tiles). Fills of all pipelined levels run in parallel (own channels), as
/// do their drains, so each term takes the maximum over the levels.
fn exposed_fill_drain(steady: u64, stages: &[PipelineStages]) -> u64 {
    let work = to_f64(steady);
    let (mut first_fill, mut last_drain) = (0.0f64, 0.0f64);
    let (mut fill_path, mut drain_path) = (0.0f64, 0.0f64);
    for st in stages.iter().filter(|st| st.pipelined) {
        let work_per_tile = work / to_f64(st.tiles);
        first_fill = first_fill.max(st.first_fill);
        last_drain = last_drain.max(st.last_drain);
        fill_path = fill_path.max(st.fill + work_per_tile);
        drain_path = drain_path.max(work_per_tile + st.drain);
    }
    let total = (first_fill + work + last_drain)
        .max(fill_path + last_drain)
        .max(first_fill + drain_path);
    ceil_u64(total).saturating_sub(steady)
}

/// How a level turns scalar accesses into vector accesses: ceil(words / block), Timeloop's
/// rounding of the per-instance total. A 64-bit integer division is slow in the hot loop:
/// blocks are usually 1 or powers of two (a shift); otherwise the quotient is estimated in
/// floating point (within one of the truth) and corrected with multiplications.
#[derive(Debug, Clone, Copy)]
enum Block {
    One,
    PowerOfTwo { shift: u32, mask: u64 },
    Other(u64),
}

impl Block {
    fn new(block: u64) -> Block {
        if block == 1 {
            Block::One
        } else if block.is_power_of_two() {
            Block::PowerOfTwo {
                shift: block.trailing_zeros(),
                mask: block - 1,
            }
        } else {
            Block::Other(block)
        }
    }

    #[inline]
    fn vectors(self, words: u64) -> f64 {
        match self {
            Block::One => to_f64(words),
            Block::PowerOfTwo { shift, mask } => {
                to_f64((words >> shift) + u64::from(words & mask != 0))
            }
            Block::Other(block) => {
                let mut q = (to_f64(words) / to_f64(block)) as u64;
                if q.saturating_mul(block) < words {
                    q += 1;
                }
                if q > 0 && (q - 1).saturating_mul(block) >= words {
                    q -= 1;
                }
                to_f64(q)
            }
        }
    }
}

/// Vector accesses for `words` scalar accesses at a level with blocks of `block` words.
#[cfg(test)]
fn vectors(words: u64, block: u64) -> f64 {
    Block::new(block).vectors(words)
}

/// `x as f64`, in one instruction for x < 2^63 (every count in practice): the baseline
/// x86-64 target has only a signed conversion, and the compiler's unsigned one costs about
/// ten. Larger values are halved with the lost bit kept sticky (round to odd), converted
/// and doubled, which rounds exactly as `as` does.
#[inline]
fn to_f64(x: u64) -> f64 {
    if x <= i64::MAX as u64 {
        x as i64 as f64
    } else {
        ((x >> 1 | (x & 1)) as i64 as f64) * 2.0
    }
}

/// ceil(x) for a non-negative finite x, inline: without SSE4.1 the baseline x86-64 target
/// calls libm for `f64::ceil`.
#[inline]
fn ceil_u64(x: f64) -> u64 {
    let i = x as u64;
    if to_f64(i) < x {
        i + 1
    } else {
        i
    }
}

/// One pass over the nest, shared by every (level, tensor) computation of an evaluation.
#[derive(Debug, Clone)]
struct NestShape {
    /// Extent of every dimension over the whole nest (the product of its loops).
    full_extent: [u64; MAX_DIMS],
    /// Rank widths of each kept tile at each level (the box the loops below its end
    /// project to), plus the scratch rank. Entries of tensors a level does not keep are stale.
    width_at_end: [[Widths; MAX_TENSORS]; MAX_LEVELS],
    /// `spatial_above[0]`: all spatial loops (utilized MACs); `[l + 1]`: those above level l's
    /// end (utilized instances of level l).
    spatial_above: [u64; MAX_LEVELS + 1],
    /// The spatial loops, inner to outer, with the stride of their index in their dimension;
    /// level l's are `spatial[spatial_start[l]..spatial_start[l + 1]]`.
    spatial: [SpatialLoop; MAX_WALK],
    spatial_start: [usize; MAX_LEVELS + 1],
    spatial_len: usize,
    /// Bit l set: level l has spatial loops.
    fanout_levels: u32,
    /// Per tensor, bit l set: level l keeps it.
    keepers: [u32; MAX_TENSORS],
    /// The temporal loops, inner to outer.
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
    /// Stride of the loop's index in its dimension (the extent of the loops inside it).
    stride: u64,
    /// Iterations of the temporal loops outside it.
    outside: u64,
    /// Times it steps over the run: (bound − 1) × outside.
    steps: u64,
}

impl NestShape {
    fn empty() -> NestShape {
        NestShape {
            full_extent: [1; MAX_DIMS],
            width_at_end: [[[1; MAX_RANKS + 1]; MAX_TENSORS]; MAX_LEVELS],
            spatial_above: [1; MAX_LEVELS + 1],
            spatial: [SpatialLoop::default(); MAX_WALK],
            spatial_start: [0; MAX_LEVELS + 1],
            spatial_len: 0,
            fanout_levels: 0,
            keepers: [0; MAX_TENSORS],
            temporal: [TemporalLoop::default(); MAX_WALK],
            temporal_len: 0,
            first_temporal_above: [0; MAX_LEVELS],
        }
    }
}

/// Elements of `t` one instance of `level` ever touches.
fn partition_size(problem: &Problem, t: usize, shape: &NestShape, level: usize) -> u64 {
    problem.tile_size(t, &partition_extent(shape, level))
}

/// The extents one instance of `level` ever covers: those of every loop but the spatial
/// loops above it (each divides its dimension's full extent exactly).
#[inline]
fn partition_extent(shape: &NestShape, level: usize) -> [u64; MAX_DIMS] {
    let mut ext = shape.full_extent;
    for l in &shape.spatial[shape.spatial_start[level + 1]..shape.spatial_len] {
        ext[l.dim] /= l.bound;
    }
    ext
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

/// [`distinct_in_group`] for a tensor whose every dimension indexes at most one rank.
fn distinct_in_group_single_rank(tc: &TensorConsts, shape: &NestShape, level: usize) -> u64 {
    let loops = &shape.spatial[shape.spatial_start[level]..shape.spatial_start[level + 1]];
    let mut distinct = 1u64;
    let mut counted = 0u32; // ranks whose window is already counted
    for (i, l) in loops.iter().enumerate() {
        let r = tc.slot[l.dim];
        if r == NO_SLOT || counted & (1 << r) != 0 {
            continue; // multicast, or part of a window counted at its first loop
        }
        counted |= 1 << r;
        let mut terms = [(0u64, 0u64); 8];
        let mut n = 0;
        for m in loops[i..].iter().filter(|m| tc.slot[m.dim] == r) {
            if n < terms.len() {
                terms[n] = (tc.coef[m.dim] * m.stride, m.bound);
                n += 1;
            } else {
                distinct *= m.bound; // beyond the tracked window: assume unique
            }
        }
        distinct *= if n == 1 {
            terms[0].1
        } else {
            distinct_sums(&terms[..n])
        };
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

/// Most temporal (and spatial) loops a nest may have; the delta walk tracks them exactly.
const MAX_WALK: usize = 64;

/// Elements loaded into one instance of `level` over the whole run: its first tile plus the
/// delta at every step of the temporal loops above it, for a tensor whose every dimension
/// indexes at most one rank. `width` is the tile's rank widths, `tile` their product.
///
/// Timeloop's rule, confirmed on its reference outputs (tl04: 1152 RF input fills; Eyeriss
/// GLB: 16 whole input tiles): only the innermost temporal loop above the tile slides it and
/// loads just the new part; a step of any outer loop that moves the tile at all (its inner
/// loops wrap back) reloads the whole tile; a step that does not move it loads nothing.
fn temporal_deltas(
    tc: &TensorConsts,
    shape: &NestShape,
    level: usize,
    width: &Widths,
    tile: u64,
) -> u64 {
    let loops = &shape.temporal[shape.first_temporal_above[level]..shape.temporal_len];
    let Some((first, outer)) = loops.split_first() else {
        return tile;
    };
    // The innermost loop slides the tile by coef × stride along its rank: the new part is
    // that many slices of the rest of the box, unless it jumps past the tile's width.
    // (A dimension the tensor ignores has coefficient 0 on the 1-wide scratch rank: no move.)
    let r = tc.slot[first.dim];
    let c = tc.coef[first.dim];
    let moved = c * first.stride;
    let delta = if moved < width[r] {
        moved * (tile / width[r])
    } else {
        tile
    };
    let mut total = tile + first.steps * delta;
    // Outer loops, inner to outer. The tile moves back when the loops inside the current
    // one wrap around. Once two ranks move back the walk ends (below), so at most one rank
    // `back_rank` has moved, by `back` (≤ 0; 0 when none has).
    let mut back_rank = r;
    let mut back = -((c * (first.bound - 1) * first.stride) as i64);
    for tl in outer {
        let r = tc.slot[tl.dim];
        let c = tc.coef[tl.dim];
        let same = r == back_rank;
        let before = if same { back } else { 0 };
        let other_moved = back != 0 && !same;
        let o = before + (c * tl.stride) as i64;
        let delta = if o != 0 || other_moved { tile } else { 0 };
        let after = before - (c * (tl.bound - 1) * tl.stride) as i64;
        if other_moved && after != 0 {
            // Wraps only ever grow more negative, so with two ranks moving back no later
            // step can land the tile where it was: every remaining step reloads it. This
            // loop steps `steps` times; the loops outside it step (outside − 1) times.
            return total + tl.steps * delta + (tl.outside - 1) * tile;
        }
        if after != 0 {
            back_rank = r;
            back = after;
        }
        total += tl.steps * delta;
    }
    total
}

/// [`temporal_deltas`] for a tensor where some dimension indexes several ranks.
fn temporal_deltas_multi_rank(
    problem: &Problem,
    t: usize,
    shape: &NestShape,
    level: usize,
    width: &Widths,
    tile: u64,
) -> u64 {
    let ranks = problem.ranks(t);
    let mut wrap = [0i64; MAX_RANKS];
    let mut total = tile;
    let first_index = shape.first_temporal_above[level];
    for (j, tl) in shape.temporal[first_index..shape.temporal_len]
        .iter()
        .enumerate()
    {
        let mut moved = 0;
        let mut rank = 0;
        let mut amount = 0i64;
        for r in 0..ranks {
            let c = problem.coef(t, r, tl.dim) as i64;
            let o = wrap[r] + c * tl.stride as i64;
            if o != 0 {
                moved += 1;
                rank = r;
                amount = o;
            }
            wrap[r] -= c * ((tl.bound - 1) * tl.stride) as i64;
        }
        let delta = match moved {
            0 => 0,
            1 if j == 0 && amount.unsigned_abs() < width[rank] => {
                amount.unsigned_abs() * (tile / width[rank])
            }
            _ => tile,
        };
        total += tl.steps * delta;
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

    /// conv1d R3 P·: the buffer holds R3 P4 tiles, DRAM steps through P4 of them.
    fn p4_tiles(arch: &Arch, p: &Problem) -> Mapping {
        Mapping::from_specs(
            arch,
            p,
            &[spec("Buffer", "R3 P4", "RP"), spec("DRAM", "P4", "RP")],
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

    /// Imperfect factorization: P14 tiled as P4 in the buffer × P4 from DRAM runs the padded
    /// P16 nest (hand-counted as the P16 case above, with a P4 tile): 48 executed MACs, of
    /// which 42 useful; 16 output updates and 18 input words from DRAM (the last tile's
    /// padding included). A nest that pads a whole outer iteration is rejected.
    #[test]
    fn imperfect_factorization_runs_the_padded_nest() {
        let arch = crate::arch::tests::two_level();
        let p = conv1d(3, 14);
        let m = p4_tiles(&arch, &p);
        let mut st = Stats::default();
        let s = evaluate_into(&arch, &p, &m, &mut st).unwrap();
        assert_eq!((s.macs, st.executed_macs, s.cycles), (42, 48, 48));
        assert!((s.utilization - 42.0 / 48.0).abs() < 1e-12);
        assert!((st.compute_energy_pj - 48.0 * arch.compute.energy_pj).abs() < 1e-9);
        assert_eq!(st.tensors[1][2].updates, 16);
        assert_eq!(st.tensors[1][1].reads, 4 + 2 + 3 * 4);
        // Every count but the useful MACs is the P16 problem's.
        let full = conv1d(3, 16);
        let mut st16 = Stats::default();
        evaluate_into(&arch, &full, &m, &mut st16).unwrap();
        assert_eq!(st.tensors, st16.tensors);
        assert_eq!(st.compute_energy_pj, st16.compute_energy_pj);
        // P12 = 3 × P4 exactly: the fourth DRAM iteration would be all padding.
        let specs = [spec("Buffer", "R3 P4", "RP"), spec("DRAM", "P4", "RP")];
        let err = Mapping::from_specs(&arch, &conv1d(3, 12), &specs).unwrap_err();
        assert!(
            matches!(
                err,
                crate::mapping::MappingError::WholeIterationPadded { .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn tile_overhead_is_charged_once_per_tile_above_the_level() {
        // The same output-stationary conv1d as above: the buffer goes through 16 tiles (the
        // DRAM loop P16), so 5 cycles per buffer tile add 80; DRAM itself has one "tile".
        let mut arch = crate::arch::tests::two_level();
        arch.levels[0].tile_overhead_cycles = 5;
        let p = conv1d(3, 16);
        let m = Mapping::from_specs(
            &arch,
            &p,
            &[spec("Buffer", "R3", "RP"), spec("DRAM", "P16", "RP")],
        )
        .unwrap();
        assert_eq!(evaluate(&arch, &p, &m).unwrap().cycles, 48 + 16 * 5);
        arch.levels[1].tile_overhead_cycles = 7;
        assert_eq!(evaluate(&arch, &p, &m).unwrap().cycles, 48 + 16 * 5 + 7);
        // Splitting P between the levels changes the tile count, not the compute.
        let m = p4_tiles(&arch, &p);
        assert_eq!(evaluate(&arch, &p, &m).unwrap().cycles, 48 + 4 * 5 + 7);
    }

    /// conv1d R3 P16 on the two-level arch with the buffer's fills and drains pipelined:
    /// write_bw 1 word/cycle, drain_bw 0.5. Buffer "R3 P4" under DRAM "P4" = 4 tiles of 12
    /// MACs. A pipelined level fills the other half of its buffer through its own stage, so
    /// fills no longer share the write port with updates. Fills: weights 3 (once) + inputs 6 for the first tile and 4 new per later tile =
    /// 21 words; the first tile's 9 words take 9 cycles. Drains: 4 outputs per tile, 16 in
    /// all: the last tile 4 / 0.5 = 8 cycles, all of them 32. The work (48 MACs, 48 updates at
    /// 1/cycle) bounds the steady state at 48, 12 per tile. Paths: work 9 + 48 + 8 = 65,
    /// fill 21 + 12 + 8 = 41, drain 9 + 12 + 32 = 53 -> 65 cycles, 17 of them exposed.
    /// With drain_bw 0.25 the drains bind: 9 + 12 + 64 = 85 (work path 9 + 48 + 16 = 73).
    #[test]
    fn pipelined_level_exposes_first_fill_and_last_drain() {
        let mut arch = crate::arch::tests::two_level();
        let p = conv1d(3, 16);
        let m = p4_tiles(&arch, &p);
        // Opt-in: without the key, Timeloop's bound: fills and updates share the write port,
        // (21 + 48) / 1 = 69 cycles; the drain is not limited.
        arch.levels[0].write_bw = Some(1.0);
        arch.levels[0].drain_bw = Some(0.5);
        assert_eq!(evaluate(&arch, &p, &m).unwrap().cycles, 69);
        arch.levels[0].pipelined_fill_drain = true;
        let mut st = Stats::default();
        assert_eq!(evaluate_into(&arch, &p, &m, &mut st).unwrap().cycles, 65);
        assert_eq!(st.exposed_cycles, 17);
        // The level's reported time is its slowest stage: drains, 32 cycles < 48 of work.
        assert_eq!(st.level_cycles[0], 48);
        arch.levels[0].drain_bw = Some(0.25);
        assert_eq!(evaluate_into(&arch, &p, &m, &mut st).unwrap().cycles, 85);
        assert_eq!(st.level_cycles[0], 64);
        // Without drain_bw the drain runs at read_bw; with neither it is free.
        arch.levels[0].drain_bw = None;
        assert_eq!(evaluate(&arch, &p, &m).unwrap().cycles, 9 + 48);
        // read_bw 4: 128 reads take 32 cycles (< 48), the last 4 outputs drain in 1.
        arch.levels[0].read_bw = Some(4.0);
        assert_eq!(evaluate(&arch, &p, &m).unwrap().cycles, 9 + 48 + 1);
    }

    /// One tile: nothing overlaps, fill + work + drain in series. Buffer "R3 P16": fills 3
    /// weights + 18 inputs = 21 cycles at 1 word/cycle, work 48, drain 16 outputs at 0.5 = 32:
    /// 101 cycles.
    #[test]
    fn pipelined_level_with_one_tile_runs_in_series() {
        let mut arch = crate::arch::tests::two_level();
        arch.levels[0].pipelined_fill_drain = true;
        arch.levels[0].write_bw = Some(1.0);
        arch.levels[0].drain_bw = Some(0.5);
        let p = conv1d(3, 16);
        let m = Mapping::from_specs(&arch, &p, &[spec("Buffer", "R3 P16", "RP")]).unwrap();
        assert_eq!(evaluate(&arch, &p, &m).unwrap().cycles, 21 + 48 + 32);
    }

    /// Fill-bound: outputs bypass the buffer (no drain, no updates), fills at 0.25 words/cycle.
    /// 4 tiles as above: all fills 21 / 0.25 = 84 cycles, first fill 9 / 0.25 = 36, work 48
    /// (12 per tile). Paths: fill 84 + 12 = 96, work 36 + 48 = 84 -> 96: the last tile's work
    /// follows the last fill. Timeloop's bound without the key: max(48, 84) = 84.
    #[test]
    fn pipelined_fill_bound_level_exposes_the_last_tiles_work() {
        let mut arch = crate::arch::tests::two_level();
        arch.levels[0].write_bw = Some(0.25);
        let p = conv1d(3, 16);
        let mut buf = spec("Buffer", "R3 P4", "RP");
        buf.bypass = vec!["Outputs".into()];
        let m = Mapping::from_specs(&arch, &p, &[buf, spec("DRAM", "P4", "RP")]).unwrap();
        assert_eq!(evaluate(&arch, &p, &m).unwrap().cycles, 84);
        arch.levels[0].pipelined_fill_drain = true;
        assert_eq!(evaluate(&arch, &p, &m).unwrap().cycles, 96);
    }

    #[test]
    fn program_overhead_is_charged_once() {
        let mut arch = crate::arch::tests::two_level();
        arch.program_overhead_cycles = 10;
        let p = conv1d(3, 16);
        let m = p4_tiles(&arch, &p);
        assert_eq!(evaluate(&arch, &p, &m).unwrap().cycles, 48 + 10);
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

    /// One evaluator prepared per problem and reused for many mappings gives exactly what a
    /// fresh `evaluate` gives, stats included (ranks, partitions and walks of both problems
    /// interleaved through one scratch).
    #[test]
    fn prepared_evaluator_matches_fresh_evaluation() {
        use rand::SeedableRng;
        let arch = crate::arch::tests::two_level();
        let problems = [conv1d(3, 16), conv1d(2, 12)];
        let evaluators = [
            Evaluator::new(&arch, &problems[0]),
            Evaluator::new(&arch, &problems[1]),
        ];
        let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
        let mut reused = Stats::default();
        let mut feasible = 0;
        for i in 0..400 {
            let p = &problems[i % 2];
            let m = crate::mapspace::random_mapping(&arch, p, &mut rng);
            let mut fresh = Stats::default();
            let a = evaluate_into(&arch, p, &m, &mut fresh);
            let b = evaluators[i % 2].evaluate_into(&m, &mut reused);
            assert_eq!(a, b);
            if a.is_ok() {
                feasible += 1;
                assert_eq!(fresh.tensors, reused.tensors);
                assert_eq!(fresh.level_cycles, reused.level_cycles);
                for lvl in 0..arch.num_levels() {
                    for t in 0..p.num_tensors() {
                        assert_eq!(
                            fresh.partition_size(p, lvl, t),
                            reused.partition_size(p, lvl, t)
                        );
                    }
                }
            }
        }
        assert!(feasible > 50, "only {feasible} feasible mappings");
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
    fn fast_conversion_matches_as_f64() {
        for x in [
            0u64,
            1,
            (1 << 53) + 1,
            (1 << 63) - 1,
            1 << 63,
            (1 << 63) + 1025,
            u64::MAX,
        ] {
            assert_eq!(to_f64(x).to_bits(), (x as f64).to_bits(), "{x}");
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
