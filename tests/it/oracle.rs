//! Brute-force oracle: for tiny problems, materialize every tile as an explicit set of tensor
//! coordinates at every time step, count the loads and compare per-level reads, fills and
//! updates with the closed-form model on random mappings and architectures.
//!
//! The oracle shares no code with `model`: it enumerates loop indices, projects each point
//! and compares sets. It encodes the same Timeloop counting rules (stated below), so it checks
//! the model's arithmetic: tile shapes, sliding windows, step counts, multicast detection,
//! partition sizes and the output read-modify-write rules.

use std::collections::BTreeSet;

use loomap::arch::{Arch, Compute, Level, LevelClass};
use loomap::mapping::{Loop, LoopNest, Mapping, Spacetime};
use loomap::model::{evaluate_into, Stats};
use loomap::workload::{LayerShape, Problem};
use rand::{Rng, SeedableRng};

type Point = Vec<u64>;

/// Indices of every loop for one point of the iteration space, innermost first.
fn for_each_index(bounds: &[u64], mut f: impl FnMut(&[u64])) {
    let mut idx = vec![0u64; bounds.len()];
    loop {
        f(&idx);
        let mut k = 0;
        loop {
            if k == bounds.len() {
                return;
            }
            idx[k] += 1;
            if idx[k] < bounds[k] {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
    }
}

/// Tensor coordinates of one iteration point.
fn project(p: &Problem, t: usize, loops: &[Loop], idx: &[u64]) -> Point {
    let mut dim = vec![0u64; p.num_dims()];
    let mut stride = vec![1u64; p.num_dims()];
    for (l, &i) in loops.iter().zip(idx) {
        dim[l.dim] += i * stride[l.dim];
        stride[l.dim] *= l.bound;
    }
    (0..p.ranks(t))
        .map(|r| (0..p.num_dims()).map(|d| p.coef(t, r, d) * dim[d]).sum())
        .collect()
}

/// The coordinates of `t` held for loops `[0, end)` when the loops at `end..` sit at `outer`:
/// the bounding box of every projected point, materialized point by point. Timeloop tiles are
/// such boxes (AAHRs), so strided windows with gaps count the gaps too.
fn tile(p: &Problem, t: usize, loops: &[Loop], end: usize, outer: &[u64]) -> BTreeSet<Point> {
    let inner_bounds: Vec<u64> = loops[..end].iter().map(|l| l.bound).collect();
    let ranks = p.ranks(t);
    let (mut lo, mut hi) = (vec![u64::MAX; ranks], vec![0u64; ranks]);
    for_each_index(&inner_bounds, |inner| {
        let idx: Vec<u64> = inner.iter().chain(outer.iter()).copied().collect();
        for (r, c) in project(p, t, loops, &idx).into_iter().enumerate() {
            lo[r] = lo[r].min(c);
            hi[r] = hi[r].max(c);
        }
    });
    let extent: Vec<u64> = (0..ranks).map(|r| hi[r] - lo[r] + 1).collect();
    let mut set = BTreeSet::new();
    for_each_index(&extent, |off| {
        set.insert((0..ranks).map(|r| lo[r] + off[r]).collect::<Point>());
    });
    set
}

/// Counts for one keeper: loads into one instance over time (`deltas`), its partition size
/// and its tile size. Rule: the first tile loads whole; a step of the innermost temporal loop
/// above loads what is new; a step of any outer loop loads nothing if the tile is unchanged
/// and the whole tile otherwise.
fn instance_history(p: &Problem, t: usize, loops: &[Loop], end: usize) -> (u64, u64, u64) {
    let above: Vec<usize> = (end..loops.len())
        .filter(|&i| loops[i].space == Spacetime::Temporal)
        .collect();
    let bounds: Vec<u64> = above.iter().map(|&i| loops[i].bound).collect();
    let mut outer = vec![0u64; loops.len() - end];
    let mut prev: Option<(BTreeSet<Point>, Vec<u64>)> = None;
    let mut loads = 0u64;
    let mut partition = BTreeSet::new();
    let mut capacity = 0;
    for_each_index(&bounds, |it| {
        for (k, &i) in above.iter().enumerate() {
            outer[i - end] = it[k];
        }
        let cur = tile(p, t, loops, end, &outer);
        partition.extend(cur.iter().cloned());
        loads += match &prev {
            None => {
                capacity = cur.len() as u64;
                cur.len() as u64
            }
            Some((old, old_it)) => {
                let innermost_step = old_it.first() != it.first();
                if innermost_step && it.first() != Some(&0) {
                    cur.difference(old).count() as u64
                } else if cur == *old {
                    0
                } else {
                    cur.len() as u64
                }
            }
        };
        prev = Some((cur, it.to_vec()));
    });
    (loads, partition.len() as u64, capacity)
}

/// Distinct tiles among the children of one instance of `level` (its spatial loops), found by
/// comparing the children's coordinate sets at time 0.
fn distinct_children(p: &Problem, t: usize, nest: &LoopNest, level: usize) -> u64 {
    let (start, end) = (nest.level_start[level], nest.level_start[level + 1]);
    let loops = &nest.loops;
    let spatial: Vec<usize> = (start..end)
        .filter(|&i| loops[i].space != Spacetime::Temporal)
        .collect();
    let bounds: Vec<u64> = spatial.iter().map(|&i| loops[i].bound).collect();
    let mut seen = BTreeSet::new();
    for_each_index(&bounds, |child| {
        let mut outer = vec![0u64; loops.len() - start];
        for (k, &i) in spatial.iter().enumerate() {
            outer[i - start] = child[k];
        }
        seen.insert(tile(p, t, loops, start, &outer));
    });
    seen.len() as u64
}

/// (reads, fills, updates) per (level, tensor), per instance, by the oracle.
fn oracle(p: &Problem, arch: &Arch, m: &Mapping) -> Vec<Vec<(u64, u64, u64)>> {
    let nest = &m.nest;
    let nlev = arch.num_levels();
    let mut out = vec![vec![(0, 0, 0); p.num_tensors()]; nlev];
    let spatial_all: u64 = nest
        .loops
        .iter()
        .filter(|l| l.space != Spacetime::Temporal)
        .map(|l| l.bound)
        .product();
    for t in 0..p.num_tensors() {
        let rw = p.tensors[t].read_write;
        let mut child: Option<(usize, u64, u64)> = None; // (level, deltas, partition)
        let mut from_level = 0;
        let mut child_deltas = p.macs() / spatial_all;
        for lvl in 0..nlev {
            if m.keep[lvl] & (1 << t) == 0 {
                continue;
            }
            let distinct: u64 = (from_level..=lvl)
                .map(|l| distinct_children(p, t, nest, l))
                .product();
            let (deltas, partition, _) = instance_history(p, t, &nest.loops, nest.level_end(lvl));
            let traffic = child_deltas * distinct;
            out[lvl][t] = if rw {
                (traffic - partition, 0, traffic)
            } else {
                (traffic, 0, 0)
            };
            if let Some((c, cd, cpart)) = child {
                out[c][t].1 = if rw { cd - cpart } else { cd };
            }
            child = Some((lvl, deltas, partition));
            child_deltas = deltas;
            from_level = lvl + 1;
        }
    }
    out
}

fn random_arch(rng: &mut impl Rng) -> Arch {
    let nlev = rng.gen_range(2..=3);
    let mut levels = Vec::new();
    let mut mesh = (rng.gen_range(1..=4u64), rng.gen_range(1..=2u64));
    let compute_mesh = mesh;
    for i in 0..nlev {
        let top = i == nlev - 1;
        let mut l = Level::new(
            format!("L{i}"),
            if top {
                LevelClass::Dram
            } else {
                LevelClass::Sram
            },
        );
        if !top {
            l.size_words = Some(1 << 20);
            // Some levels share one instance among all children below (a fanout here).
            if rng.gen_bool(0.5) {
                mesh = (1, 1);
            }
        } else {
            mesh = (1, 1);
        }
        l.mesh_x = mesh.0;
        l.mesh_y = mesh.1;
        l.instances = mesh.0 * mesh.1;
        levels.push(l);
    }
    let compute = Compute {
        name: "MAC".into(),
        instances: compute_mesh.0 * compute_mesh.1,
        mesh_x: compute_mesh.0,
        mesh_y: compute_mesh.1,
        word_bits: 16,
        energy_pj: 1.0,
        area_um2: 1.0,
    };
    Arch::new("rand", 1.0, None, levels, compute).expect("random arch is valid")
}

fn random_problem(rng: &mut impl Rng) -> Problem {
    if rng.gen_bool(0.7) {
        let stride = rng.gen_range(1..=2);
        LayerShape::Conv {
            n: 1,
            groups: 1,
            k: rng.gen_range(1..=2),
            c: rng.gen_range(1..=2),
            p: rng.gen_range(1..=4),
            q: rng.gen_range(1..=2),
            r: rng.gen_range(1..=3),
            s: rng.gen_range(1..=2),
            wstride: stride,
            hstride: 1,
            wdilation: rng.gen_range(1..=2),
            hdilation: 1,
        }
        .to_problem("conv")
        .unwrap()
    } else {
        LayerShape::Matmul {
            b: 1,
            m: rng.gen_range(1..=4),
            n: rng.gen_range(1..=4),
            k: rng.gen_range(1..=4),
        }
        .to_problem("gemm")
        .unwrap()
    }
}

#[test]
fn model_matches_brute_force_on_random_tiny_mappings() {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(20261123);
    let mut checked = 0;
    let mut spatial_cases = 0;
    for case in 0..3000 {
        let arch = random_arch(&mut rng);
        let p = random_problem(&mut rng);
        let mut m = loomap::mapspace::random_mapping(&arch, &p, &mut rng);
        // Random bypass of inner levels (the backing store keeps everything).
        for lvl in 0..arch.num_levels() - 1 {
            m.keep[lvl] &= rng.gen::<u8>();
        }
        let mut stats = Stats::default();
        let Ok(_) = evaluate_into(&arch, &p, &m, &mut stats) else {
            continue;
        };
        let expect = oracle(&p, &arch, &m);
        for lvl in 0..arch.num_levels() {
            for t in 0..p.num_tensors() {
                let s = &stats.tensors[lvl][t];
                let got = (s.reads, s.fills, s.updates);
                assert_eq!(
                    got, expect[lvl][t],
                    "case {case}: level {lvl} tensor {} (reads, fills, updates)\nproblem {p}\nnest {:?}\nkeep {:?}",
                    p.tensors[t].name, m.nest, m.keep
                );
            }
        }
        checked += 1;
        spatial_cases += m.nest.loops.iter().any(|l| l.space != Spacetime::Temporal) as usize;
    }
    assert!(
        spatial_cases > 500,
        "only {spatial_cases} cases had a spatial fanout"
    );
    assert!(checked > 1500, "only {checked} random cases were feasible");
}

/// Imperfect factorizations run the padded nest (`mapping::Padding`): for a random mapping of
/// a problem, shrink each dimension's bound anywhere the outermost loop still needs all its
/// iterations; the model on the shrunk problem must give the brute-force counts of the nest
/// (the padded problem), and report the shrunk problem's MACs as the useful ones.
#[test]
fn imperfect_factorizations_count_the_padded_nest() {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(20261201);
    let mut padded_cases = 0;
    for case in 0..5000 {
        let arch = random_arch(&mut rng);
        let nest_problem = random_problem(&mut rng);
        let mut m = loomap::mapspace::random_mapping(&arch, &nest_problem, &mut rng);
        for lvl in 0..arch.num_levels() - 1 {
            m.keep[lvl] &= rng.gen::<u8>();
        }
        let mut real = nest_problem.clone();
        for d in 0..real.num_dims() {
            let Some(outer) = m.nest.loops.iter().rev().find(|l| l.dim == d) else {
                continue;
            };
            let tile = real.bounds[d] / outer.bound;
            real.bounds[d] = rng.gen_range((outer.bound - 1) * tile + 1..=real.bounds[d]);
        }
        m.check(&arch, &real)
            .unwrap_or_else(|e| panic!("case {case}: a last-tile padding is legal: {e}"));
        let mut stats = Stats::default();
        let Ok(summary) = evaluate_into(&arch, &real, &m, &mut stats) else {
            continue;
        };
        assert_eq!(summary.macs, real.macs(), "case {case}");
        assert_eq!(stats.executed_macs, nest_problem.macs(), "case {case}");
        let expect = oracle(&nest_problem, &arch, &m);
        for lvl in 0..arch.num_levels() {
            for t in 0..real.num_tensors() {
                let s = &stats.tensors[lvl][t];
                assert_eq!(
                    (s.reads, s.fills, s.updates),
                    expect[lvl][t],
                    "case {case}: level {lvl} tensor {} (reads, fills, updates)\nreal {real}\nnest {:?}\nkeep {:?}",
                    real.tensors[t].name,
                    m.nest,
                    m.keep
                );
            }
        }
        padded_cases += usize::from(real.macs() < nest_problem.macs());
    }
    assert!(padded_cases > 500, "only {padded_cases} padded cases");
}
