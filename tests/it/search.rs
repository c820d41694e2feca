//! Validation of the mapping search.
//!
//! * Brute force: on tiny problems and architectures, every point of the *unpruned* space
//!   (every factor vector of every dimension, every permutation of every level's free
//!   dimensions, every allowed keep mask) is evaluated here, independently of the search
//!   code, and the exhaustive engine must reach the same optimum for several objectives.
//! * Timeloop: for the mapper reference cases, loomap searches under the same constraints
//!   and must do at least as well as Timeloop's own result, both evaluated by loomap.
//! * Determinism across thread counts, constraint errors, the bundled constraint presets.
//!
//! Print the tables with `cargo test --release --test it search -- --nocapture`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use loomap::arch::{Arch, Compute, Level, LevelClass};
use loomap::io;
use loomap::mapping::{Mapping, Spacetime};
use loomap::mapspace::enumerate::walk;
use loomap::mapspace::{
    Axis, ConstraintError, Constraints, LevelConstraints, MapSpace, MapSpaceError, Point,
};
use loomap::model::{self, Stats};
use loomap::search::{Algo, Driver, Objective, Score, SearchConfig, SearchResult, StopReason};
use loomap::workload::{DimId, LayerShape, Problem, Projection, Tensor, MAX_DIMS};
use rayon::prelude::*;

use crate::cli::{loomap as run_loomap, scratch};
use crate::reference::{read_csv, reference_root, table, with_suffix, yaml_files};

// ------------------------------------------------------------------------------------------
// Tiny problems and architectures

/// Conv1D with output channels: `Outputs[K][P] += Weights[K][R] × Inputs[R + stride·P]`.
pub(crate) fn conv1d(k: u64, r: u64, p: u64, stride: u64) -> Problem {
    conv_like(
        "conv1d",
        &[("K", k), ("R", r), ("P", p)],
        vec![
            ("Weights", vec![vec![(0, 1)], vec![(1, 1)]], false),
            ("Inputs", vec![vec![(1, 1), (2, stride)]], false),
            ("Outputs", vec![vec![(0, 1)], vec![(2, 1)]], true),
        ],
    )
}

/// Conv1D with input and output channels (4 dimensions: K C R P).
pub(crate) fn conv1d_ic(k: u64, c: u64, r: u64, p: u64) -> Problem {
    conv_like(
        "conv1d_ic",
        &[("K", k), ("C", c), ("R", r), ("P", p)],
        vec![
            (
                "Weights",
                vec![vec![(0, 1)], vec![(1, 1)], vec![(2, 1)]],
                false,
            ),
            ("Inputs", vec![vec![(1, 1)], vec![(2, 1), (3, 1)]], false),
            ("Outputs", vec![vec![(0, 1)], vec![(3, 1)]], true),
        ],
    )
}

type TensorDef<'a> = (&'a str, Vec<Vec<(DimId, u64)>>, bool);

fn conv_like(name: &str, dims: &[(&str, u64)], tensors: Vec<TensorDef>) -> Problem {
    Problem::new(
        name,
        dims.iter().map(|(n, b)| (n.to_string(), *b)).collect(),
        tensors
            .into_iter()
            .map(|(n, ranks, rw)| Tensor {
                name: n.to_string(),
                ranks: ranks
                    .into_iter()
                    .map(|terms| Projection { terms })
                    .collect(),
                read_write: rw,
            })
            .collect(),
    )
    .unwrap()
}

pub(crate) fn gemm(m: u64, n: u64, k: u64) -> Problem {
    LayerShape::Matmul { b: 1, m, n, k }
        .to_problem("gemm")
        .unwrap()
}

/// A storage level with distinct energies and limited bandwidth, so that every objective
/// distinguishes mappings.
fn level(name: &str, class: LevelClass, size: Option<u64>, mesh: (u64, u64), e: f64) -> Level {
    let mut l = Level::new(name, class);
    l.size_words = size;
    l.mesh_x = mesh.0;
    l.mesh_y = mesh.1;
    l.instances = mesh.0 * mesh.1;
    if class != LevelClass::Dummy {
        l.read_energy_pj = e;
        l.write_energy_pj = 1.3 * e;
        l.update_energy_pj = 1.7 * e;
        l.leak_pj_per_cycle = 0.01 * e;
        l.read_bw = Some(if class == LevelClass::Dram { 0.5 } else { 2.0 });
        l.write_bw = Some(if class == LevelClass::Dram { 0.5 } else { 1.0 });
    }
    l
}

fn dram() -> Level {
    let mut l = level("DRAM", LevelClass::Dram, None, (1, 1), 100.0);
    l.block_size = 2;
    l
}

fn compute(mesh: (u64, u64)) -> Compute {
    Compute {
        name: "MAC".into(),
        instances: mesh.0 * mesh.1,
        mesh_x: mesh.0,
        mesh_y: mesh.1,
        word_bits: 16,
        energy_pj: 0.5,
        area_um2: 1.0,
    }
}

/// DRAM -> Buf (6 words) -> 2 MACs along X.
pub(crate) fn arch_2level_x() -> Arch {
    let buf = level("Buf", LevelClass::Sram, Some(6), (1, 1), 2.0);
    Arch::new("t2x", 1.0, None, vec![buf, dram()], compute((2, 1))).unwrap()
}

/// DRAM -> Buf (8 words, at least 2 used) -> 2 × 2 MACs (fanout on both axes).
pub(crate) fn arch_2level_xy() -> Arch {
    let mut buf = level("Buf", LevelClass::Sram, Some(8), (1, 1), 2.0);
    buf.min_utilization = 0.25;
    Arch::new("t2xy", 1.0, None, vec![buf, dram()], compute((2, 2))).unwrap()
}

/// DRAM -> GLB (12 words, double-buffered) -> 2 × RF (3 words) -> 2 MACs.
pub(crate) fn arch_3level() -> Arch {
    let rf = level("RF", LevelClass::Regfile, Some(3), (2, 1), 0.5);
    let mut glb = level("GLB", LevelClass::Sram, Some(24), (1, 1), 4.0);
    glb.multiple_buffering = 2.0;
    glb.block_size = 2;
    Arch::new("t3", 1.0, None, vec![rf, glb, dram()], compute((2, 1))).unwrap()
}

/// DRAM -> GLB (16 words) -> dummy (fanout 2 along Y, as Timeloop's inter_*_spatial) ->
/// 2 × RF (4 words) -> 2 MACs.
fn arch_dummy() -> Arch {
    let rf = level("RF", LevelClass::Regfile, Some(4), (1, 2), 0.5);
    let dummy = level("inter_RF_spatial", LevelClass::Dummy, Some(0), (1, 1), 0.0);
    let glb = level("GLB", LevelClass::Sram, Some(16), (1, 1), 4.0);
    Arch::new(
        "tdummy",
        1.0,
        None,
        vec![rf, dummy, glb, dram()],
        compute((1, 2)),
    )
    .unwrap()
}

/// Timeloop's constraints on a dummy level: no temporal loops (fixed order), keeps nothing.
fn dummy_constraints(arch: &Arch, problem: &Problem) -> Constraints {
    let mut c = Constraints::none(arch);
    for (lvl, l) in arch.levels.iter().enumerate() {
        if l.class == LevelClass::Dummy {
            let lc = &mut c.levels[lvl];
            for d in 0..problem.num_dims() {
                lc.temporal[d].exact = Some(1);
            }
            lc.order_prefix = (0..problem.num_dims()).collect();
        }
    }
    c
}

/// Constraints of every kind on `arch_3level` and `conv1d`.
pub(crate) fn mixed_constraints(arch: &Arch, p: &Problem) -> Constraints {
    let (rf, glb, top) = (0, 1, 2);
    let (k, r, pp) = (0, 1, 2);
    let (w, i) = (0, 1);
    let mut c = Constraints::none(arch);
    c.levels[rf].keep = 1 << w; // RF must keep Weights
    c.levels[glb].bypass = 1 << i; // GLB must bypass Inputs
    c.levels[rf].temporal[pp].max = 2; // at most P2 at the RF
    c.levels[glb].spatial_axis[r] = Some(Axis::X);
    c.levels[glb].spatial[pp].max = 1; // P never spatial
    c.levels[glb].min_spatial_utilization = 1.0; // the fanout of 2 is always used
    c.levels[top].order_prefix = vec![pp]; // P innermost at DRAM
    c.levels[top].order_suffix = vec![k]; // K outermost at DRAM
    c.check(arch, p).unwrap();
    c
}

// ------------------------------------------------------------------------------------------
// Brute force over the unpruned space

const OBJECTIVES: [&str; 4] = ["energy", "latency", "edp", "latency,energy"];

fn objectives() -> Vec<Objective> {
    OBJECTIVES.iter().map(|o| o.parse().unwrap()).collect()
}

/// Every permutation of `v` (Heap's algorithm).
fn permutations(v: &[DimId]) -> Vec<Vec<DimId>> {
    fn heap(k: usize, a: &mut Vec<DimId>, out: &mut Vec<Vec<DimId>>) {
        if k <= 1 {
            out.push(a.clone());
            return;
        }
        for i in 0..k {
            heap(k - 1, a, out);
            if k.is_multiple_of(2) {
                a.swap(i, k - 1);
            } else {
                a.swap(0, k - 1);
            }
        }
    }
    let mut out = Vec::new();
    heap(v.len(), &mut v.to_vec(), &mut out);
    out
}

/// What the brute force found.
#[derive(Debug, Clone)]
struct Brute {
    points: u64,
    legal: u64,
    feasible: u64,
    /// Per objective, the best score.
    best: Vec<Option<Score>>,
}

fn better(a: Option<Score>, b: Option<Score>) -> Option<Score> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.better_than(&x) { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Evaluates every point of the space: radix digits are each dimension's factor vector,
/// each level's permutation of its free dimensions, each level's keep mask.
fn brute_force(space: &MapSpace, objectives: &[Objective]) -> Brute {
    let ndims = space.num_dims();
    let nlev = space.num_levels();
    let perms: Vec<Vec<Vec<DimId>>> = (0..nlev)
        .map(|l| permutations(&space.free_order[l]))
        .collect();
    let mut radix: Vec<u64> = (0..ndims).map(|d| space.choice_count[d] as u64).collect();
    radix.extend(perms.iter().map(|p| p.len() as u64));
    radix.extend(space.keep_options.iter().map(|k| k.len() as u64));
    let total: u64 = radix.iter().product();
    let point_at = |mut idx: u64| -> Point {
        let mut digit = Vec::with_capacity(radix.len());
        for &r in &radix {
            digit.push((idx % r) as usize);
            idx /= r;
        }
        let mut p = Point {
            factors: vec![[1; MAX_DIMS]; space.slots.len()],
            orders: Vec::with_capacity(nlev),
            keep: Vec::with_capacity(nlev),
        };
        for (d, &choice) in digit[..ndims].iter().enumerate() {
            let k = space.dim_slots[d].len();
            for (j, &s) in space.dim_slots[d].iter().enumerate() {
                p.factors[s][d] = space.choices[d][choice * k + j];
            }
        }
        for l in 0..nlev {
            let c = &space.constraints.levels[l];
            let order: Vec<DimId> = c
                .order_prefix
                .iter()
                .chain(&perms[l][digit[ndims + l]])
                .chain(&c.order_suffix)
                .copied()
                .collect();
            assert_eq!(order.len(), ndims, "an order covers every dimension");
            let mut o = [0u8; MAX_DIMS];
            for (n, d) in order.into_iter().enumerate() {
                o[n] = d as u8;
            }
            p.orders.push(o);
            p.keep.push(space.keep_options[l][digit[ndims + nlev + l]]);
        }
        p
    };
    let empty = || Brute {
        points: 0,
        legal: 0,
        feasible: 0,
        best: vec![None; objectives.len()],
    };
    (0..total)
        .into_par_iter()
        .fold(
            || (Stats::default(), empty()),
            |(mut stats, mut acc), idx| {
                let p = point_at(idx);
                acc.points += 1;
                if space.legal(&p).is_ok() {
                    acc.legal += 1;
                    let m = space.to_mapping(&p);
                    // `evaluate` with a reused scratch (`evaluate` allocates a fresh one).
                    if let Ok(s) = model::evaluate_into(space.arch, space.problem, &m, &mut stats) {
                        acc.feasible += 1;
                        for (o, b) in objectives.iter().zip(acc.best.iter_mut()) {
                            *b = better(*b, Some(o.score(&s)));
                        }
                    }
                }
                (stats, acc)
            },
        )
        .map(|(_, b)| b)
        .reduce(empty, |mut a, b| {
            a.points += b.points;
            a.legal += b.legal;
            a.feasible += b.feasible;
            for (x, y) in a.best.iter_mut().zip(b.best) {
                *x = better(*x, y);
            }
            a
        })
}

/// The space's factor vectors, keep masks and free orders, against this file's own reading
/// of the constraints (every divisor assignment over every slot, filtered).
fn check_space_definition(space: &MapSpace) {
    let arch = space.arch;
    let c = &space.constraints;
    // Slots: a level's temporal loops, plus X / Y where it fans out.
    let mut want_slots = Vec::new();
    for lvl in 0..arch.num_levels() {
        let (fx, fy) = arch.fanout(lvl);
        if fx > 1 {
            want_slots.push((lvl, Spacetime::SpatialX));
        }
        if fy > 1 {
            want_slots.push((lvl, Spacetime::SpatialY));
        }
        want_slots.push((lvl, Spacetime::Temporal));
    }
    let have: Vec<(usize, Spacetime)> = space.slots.iter().map(|s| (s.level, s.space)).collect();
    assert_eq!(have, want_slots, "slots");
    let allows = |lim: &loomap::mapspace::FactorLimit, f: u64| {
        lim.exact.is_none_or(|e| e == f) && f >= lim.min && f <= lim.max
    };
    for d in 0..space.num_dims() {
        let bound = space.problem.bounds[d];
        let n = space.slots.len();
        let mut mine = BTreeSet::new();
        let mut cur = vec![1u64; n];
        fn rec(j: usize, rem: u64, cur: &mut Vec<u64>, out: &mut Vec<Vec<u64>>) {
            if j == cur.len() {
                if rem == 1 {
                    out.push(cur.clone());
                }
                return;
            }
            for f in 1..=rem {
                if rem.is_multiple_of(f) {
                    cur[j] = f;
                    rec(j + 1, rem / f, cur, out);
                }
            }
        }
        let mut all = Vec::new();
        if c.imperfect {
            // Every vector of factors up to twice the bound whose product covers it with
            // only the outermost non-unit factor's last iteration partial.
            let mut v = vec![1u64; n];
            loop {
                let product: u64 = v.iter().product();
                let outer = v.iter().rev().copied().find(|&f| f > 1).unwrap_or(1);
                let tile = product / outer;
                if product == bound || (product > bound && outer > 1 && tile * (outer - 1) < bound)
                {
                    all.push(v.clone());
                }
                let mut j = 0;
                while j < n && v[j] == 2 * bound {
                    v[j] = 1;
                    j += 1;
                }
                if j == n {
                    break;
                }
                v[j] += 1;
            }
        } else {
            rec(0, bound, &mut cur, &mut all);
        }
        for v in all {
            let mut ok = true;
            for lvl in 0..arch.num_levels() {
                let lc = &c.levels[lvl];
                let (fx, fy) = arch.fanout(lvl);
                let mut xy = 1;
                for (s, &(l, sp)) in want_slots.iter().enumerate() {
                    if l != lvl {
                        continue;
                    }
                    match sp {
                        Spacetime::Temporal => ok &= allows(&lc.temporal[d], v[s]),
                        Spacetime::SpatialX => {
                            ok &= v[s] <= fx && (v[s] == 1 || lc.spatial_axis[d] != Some(Axis::Y));
                            xy *= v[s];
                        }
                        Spacetime::SpatialY => {
                            ok &= v[s] <= fy && (v[s] == 1 || lc.spatial_axis[d] != Some(Axis::X));
                            xy *= v[s];
                        }
                    }
                }
                ok &= allows(&lc.spatial[d], xy);
            }
            if ok {
                mine.insert(v);
            }
        }
        let k = space.dim_slots[d].len();
        let theirs: BTreeSet<Vec<u64>> = (0..space.choice_count[d])
            .map(|i| {
                let mut v = vec![1u64; n];
                for (j, &s) in space.dim_slots[d].iter().enumerate() {
                    v[s] = space.choices[d][i * k + j];
                }
                v
            })
            .collect();
        assert_eq!(
            theirs.len(),
            space.choice_count[d],
            "dimension {d}: duplicate factor vectors"
        );
        assert_eq!(theirs, mine, "dimension {d}: factor vectors");
    }
    let all = (1u8 << space.problem.num_tensors()) - 1;
    for lvl in 0..arch.num_levels() {
        let lc = &c.levels[lvl];
        let want: Vec<u8> = if lvl + 1 == arch.num_levels() {
            vec![all]
        } else if arch.levels[lvl].class == LevelClass::Dummy {
            vec![lc.keep]
        } else {
            (0..=all)
                .filter(|m| m & lc.keep == lc.keep && m & lc.bypass == 0)
                .collect()
        };
        assert_eq!(space.keep_options[lvl], want, "keep masks at level {lvl}");
        let free: Vec<DimId> = (0..space.num_dims())
            .filter(|d| !lc.order_prefix.contains(d) && !lc.order_suffix.contains(d))
            .collect();
        assert_eq!(space.free_order[lvl], free, "free order at level {lvl}");
    }
}

pub(crate) fn run(
    space: &MapSpace,
    algo: Algo,
    objective: &Objective,
    budget: Option<u64>,
    batch: usize,
) -> SearchResult {
    let mut engine = algo.engine(space).unwrap();
    let mut config = SearchConfig::new(objective.clone());
    config.budget = budget;
    config.batch = batch;
    Driver::run(space, engine.as_mut(), &config, None)
}

fn same_score(a: &Score, b: &Score, n: usize) -> bool {
    (0..n).all(|i| {
        let (x, y) = (a.0[i], b.0[i]);
        x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
    })
}

/// Exhaustive = brute force on one space, for every objective.
fn check_against_brute_force(name: &str, space: &MapSpace) -> Vec<String> {
    check_space_definition(space);
    let objs = objectives();
    let brute = brute_force(space, &objs);
    let size = space.size().expect("tiny space");
    assert_eq!(
        brute.points as u128, size,
        "{name}: MapSpace::size counts the unpruned space"
    );
    assert!(
        brute.feasible > 0,
        "{name}: the brute force found no feasible mapping"
    );
    assert!(
        brute.feasible < brute.legal,
        "{name}: no point overflowed a buffer; make the buffers smaller"
    );
    let mut row = vec![
        name.to_string(),
        brute.points.to_string(),
        brute.legal.to_string(),
        brute.feasible.to_string(),
    ];
    for (o, want) in objs.iter().zip(&brute.best) {
        let r = run(space, Algo::Exhaustive, o, None, 1024);
        assert_eq!(r.stop_reason, StopReason::Exhausted, "{name} {o}");
        assert!(r.optimal, "{name} {o}: not optimal");
        assert!(
            r.evaluations <= brute.points,
            "{name} {o}: the walk evaluated {} points, the unpruned space has {}",
            r.evaluations,
            brute.points
        );
        let best = r.best.as_ref().expect("exhaustive found a mapping");
        let want = want.expect("brute force found a mapping");
        let n = o.metrics.len();
        assert!(
            same_score(&best.score, &want, n),
            "{name}, objective {o}: exhaustive best {:?}, brute force {:?}",
            &best.score.0[..n],
            &want.0[..n]
        );
        // The reported best is what its mapping evaluates to.
        assert_eq!(best.mapping, space.to_mapping(&best.point));
        let again = model::evaluate(space.arch, space.problem, &best.mapping).unwrap();
        assert_eq!(again, best.summary);
        row.push(format!("{} ({})", r.evaluations, fmt_score(&best.score, n)));
    }
    row
}

fn fmt_score(s: &Score, n: usize) -> String {
    s.0[..n]
        .iter()
        .map(|v| format!("{v:.6e}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn exhaustive_matches_brute_force_on_tiny_spaces() {
    let a2x = arch_2level_x();
    let a2xy = arch_2level_xy();
    let a3 = arch_3level();
    let ad = arch_dummy();
    let p_conv = conv1d(4, 3, 4, 1);
    let p_conv_s2 = conv1d(2, 2, 3, 2);
    let p_gemm = gemm(2, 4, 2);
    let p_ic = conv1d_ic(2, 2, 2, 2);
    let p_small = conv1d(2, 2, 2, 1);
    let p_odd = conv1d(3, 3, 5, 1);
    let p_gemm_odd = gemm(3, 3, 2);
    let imperfect = |arch: &Arch| Constraints {
        imperfect: true,
        ..Constraints::none(arch)
    };
    let cases: Vec<(&str, MapSpace)> = vec![
        (
            "conv1d K4 R3 P4 / 2 levels, fanout 2x1",
            MapSpace::new(&a2x, &p_conv, Constraints::none(&a2x)).unwrap(),
        ),
        (
            "conv1d_ic K2 C2 R2 P2 / 2 levels, fanout 2x1",
            MapSpace::new(&a2x, &p_ic, Constraints::none(&a2x)).unwrap(),
        ),
        (
            "gemm M2 N4 K2 / 2 levels, fanout 2x2, min utilization",
            MapSpace::new(&a2xy, &p_gemm, Constraints::none(&a2xy)).unwrap(),
        ),
        (
            "conv1d K2 R2 P3 stride 2 / 3 levels",
            MapSpace::new(&a3, &p_conv_s2, Constraints::none(&a3)).unwrap(),
        ),
        (
            "conv1d K2 R2 P3 stride 2 / 3 levels, mixed constraints",
            MapSpace::new(&a3, &p_conv_s2, mixed_constraints(&a3, &p_conv_s2)).unwrap(),
        ),
        (
            "conv1d K2 R2 P2 / 4 levels, dummy fanout 1x2",
            MapSpace::new(&ad, &p_small, dummy_constraints(&ad, &p_small)).unwrap(),
        ),
        (
            "imperfect conv1d K3 R3 P5 / 2 levels, fanout 2x1",
            MapSpace::new(&a2x, &p_odd, imperfect(&a2x)).unwrap(),
        ),
        (
            "imperfect gemm M3 N3 K2 / 2 levels, fanout 2x2",
            MapSpace::new(&a2xy, &p_gemm_odd, imperfect(&a2xy)).unwrap(),
        ),
    ];
    let mut rows = vec![vec![
        "case".to_string(),
        "points".into(),
        "legal".into(),
        "feasible".into(),
    ]];
    rows[0].extend(OBJECTIVES.iter().map(|o| format!("exhaustive evals ({o})")));
    for (name, space) in &cases {
        rows.push(check_against_brute_force(name, space));
    }
    println!(
        "exhaustive vs brute force (unpruned space):\n{}",
        table(&rows)
    );
}

// ------------------------------------------------------------------------------------------
// Timeloop mapper references

/// `true` if `ours` is no worse than `theirs` lexicographically, with relative tolerance.
fn no_worse(ours: &Score, theirs: &Score, n: usize, tol: f64) -> bool {
    for i in 0..n {
        let (a, b) = (ours.0[i], theirs.0[i]);
        let slack = tol * a.abs().max(b.abs());
        if a < b - slack {
            return true;
        }
        if a > b + slack {
            return false;
        }
    }
    true
}

/// The mapper's `optimization_metrics` as a loomap objective, and a note on where it came from.
fn mapper_objective(files: &[PathBuf]) -> (String, String) {
    use yaml_rust2::{Yaml, YamlLoader};
    for f in files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let Ok(docs) = YamlLoader::load_from_str(&text) else {
            continue;
        };
        for doc in docs {
            let mapper = &doc["mapper"];
            if mapper.is_badvalue() {
                continue;
            }
            let list = ["optimization_metrics", "optimization-metrics"]
                .iter()
                .map(|k| &mapper[*k])
                .find(|v| !v.is_badvalue());
            let Some(Yaml::Array(items)) = list else {
                if !mapper["optimization_metric"].is_badvalue() {
                    return (
                        "edp".into(),
                        "`optimization_metric` (singular) is ignored by Timeloop: edp".into(),
                    );
                }
                return (
                    "edp".into(),
                    "no optimization_metrics: Timeloop's edp".into(),
                );
            };
            let names: Vec<&str> = items
                .iter()
                .filter_map(|m| m.as_str())
                .map(|m| match m {
                    "delay" => "latency",
                    other => other,
                })
                .collect();
            return (names.join(","), format!("mapper: {names:?}"));
        }
    }
    (
        "edp".into(),
        "no mapper section: Timeloop's default edp".into(),
    )
}

/// Imports a case and returns (arch, problem, Timeloop's mapping, constraints).
fn import_case(files: &[PathBuf]) -> Result<(Arch, Problem, Mapping, Constraints), String> {
    let imported = io::timeloop::import(files).map_err(|e| e.to_string())?;
    let f: BTreeMap<&str, String> = imported.files().into_iter().collect();
    let (Some(a), Some(w), Some(m)) = (
        f.get("arch.toml"),
        f.get("workload.toml"),
        f.get("mapping.toml"),
    ) else {
        return Err("the import has no architecture, problem or mapping".into());
    };
    let arch = io::parse_arch(a, Path::new("arch.toml")).map_err(|e| e.to_string())?;
    let workload = io::parse_workload(w, Path::new("workload.toml")).map_err(|e| e.to_string())?;
    let problem = workload.layers[0].problem.clone();
    let mapping = io::parse_mapping(m, Path::new("mapping.toml"), &arch, &problem)
        .map_err(|e| e.to_string())?;
    let constraints = match f.get("constraints.toml") {
        Some(text) => {
            let file = Path::new("constraints.toml");
            let spec = io::constraints::parse_constraints(text, file).map_err(|e| e.to_string())?;
            io::constraints::resolve(&spec, file, &arch, &problem).map_err(|e| e.to_string())?
        }
        None => Constraints::none(&arch),
    };
    Ok((arch, problem, mapping, constraints))
}

/// Most pruned points an exhaustive run in this file may walk without a budget.
const EXHAUST_LIMIT: u64 = 300_000;
/// Budget of the (reported, not asserted) search of a space too large to exhaust.
const FULL_BUDGET: u64 = 100_000;

/// Points of the pruned walk, or `None` if more than `limit`.
fn pruned_size(space: &MapSpace, limit: u64) -> Option<u64> {
    let mut n = 0u64;
    let stats = walk(space, &mut |_| {
        n += 1;
        n <= limit
    });
    stats.completed.then_some(n)
}

/// Narrows `c` around `point` until the pruned walk has at most `limit` points: first every
/// level's free loop order is fixed to the point's, then the temporal factors of the levels
/// from the outermost inward. Returns the constraints and what was fixed.
fn narrow_around(
    arch: &Arch,
    problem: &Problem,
    c: &Constraints,
    point: &Point,
    limit: u64,
) -> (Constraints, String) {
    let space = MapSpace::new(arch, problem, c.clone()).unwrap();
    let ndims = problem.num_dims();
    let mut out = c.clone();
    for lvl in 0..arch.num_levels() {
        let free = &space.free_order[lvl];
        let order: Vec<DimId> = point.orders[lvl][..ndims]
            .iter()
            .map(|&d| d as DimId)
            .filter(|d| free.contains(d))
            .collect();
        out.levels[lvl].order_prefix.extend(order);
    }
    let mut what = vec!["loop orders".to_string()];
    for lvl in (0..arch.num_levels()).rev() {
        let s = MapSpace::new(arch, problem, out.clone()).unwrap();
        if pruned_size(&s, limit).is_some() {
            break;
        }
        let t = space.level_slots[lvl][2].expect("every level has temporal loops");
        for d in 0..ndims {
            out.levels[lvl].temporal[d].exact = Some(point.factors[t][d]);
        }
        what.push(format!("{} factors", arch.levels[lvl].name));
    }
    (out, what.join(" + "))
}

struct CaseResult {
    row: Vec<String>,
    failure: Option<String>,
}

/// Searches one case and compares with Timeloop's mapping (both evaluated by loomap).
fn check_mapper_case(
    name: &str,
    objective_text: &str,
    arch: &Arch,
    problem: &Problem,
    theirs_mapping: &Mapping,
    constraints: &Constraints,
) -> CaseResult {
    let objective: Objective = objective_text.parse().unwrap();
    let n = objective.metrics.len();
    let theirs_summary = match model::evaluate(arch, problem, theirs_mapping) {
        Ok(s) => s,
        Err(e) => {
            return CaseResult {
                row: vec![name.into(), objective_text.into()],
                failure: Some(format!(
                    "{name}: Timeloop's mapping is infeasible for loomap: {}",
                    e.describe(arch)
                )),
            }
        }
    };
    let theirs = objective.score(&theirs_summary);
    let space = MapSpace::new(arch, problem, constraints.clone()).unwrap();
    let in_space = space.point_of(theirs_mapping);
    let fmt = |s: &Score| fmt_score(s, n);
    let mut row = vec![
        name.to_string(),
        objective_text.to_string(),
        format!("{:.1}", space.log10_size()),
        if in_space.is_some() { "yes" } else { "no" }.into(),
    ];
    let mut failure = None;
    let mut check = |what: &str, r: &SearchResult, row: &mut Vec<String>| {
        let best = r.best.as_ref().map(|b| b.score);
        row.push(r.evaluations.to_string());
        row.push(best.as_ref().map_or("none".into(), fmt));
        row.push(
            if r.optimal {
                "yes"
            } else {
                r.stop_reason.name()
            }
            .into(),
        );
        if !best.is_some_and(|b| no_worse(&b, &theirs, n, 1e-9)) {
            failure = Some(format!(
                "{name}: loomap's {what} best {} is worse than Timeloop's mapping {}",
                best.as_ref().map_or("none".into(), fmt),
                fmt(&theirs)
            ));
        }
    };
    if pruned_size(&space, EXHAUST_LIMIT).is_some() {
        let r = run(&space, Algo::Exhaustive, &objective, None, 1024);
        assert!(r.optimal, "{name}: exhaustive did not finish");
        row.push("-".into());
        check("exhaustive", &r, &mut row);
    } else {
        // Too large to exhaust here: report a budgeted run of the whole space, then exhaust
        // the part of it around Timeloop's mapping (which must be in the space) and assert.
        let full = run(
            &space,
            Algo::Exhaustive,
            &objective,
            Some(FULL_BUDGET),
            1024,
        );
        let Some(point) = in_space else {
            row.push("-".into());
            return CaseResult {
                row,
                failure: Some(format!(
                    "{name}: Timeloop's mapping is not in loomap's space under the imported constraints"
                )),
            };
        };
        let (narrow, fixed) = narrow_around(arch, problem, constraints, &point, EXHAUST_LIMIT);
        let sub = MapSpace::new(arch, problem, narrow).unwrap();
        assert!(
            sub.point_of(theirs_mapping).is_some(),
            "{name}: the narrowed space lost Timeloop's mapping"
        );
        let r = run(&sub, Algo::Exhaustive, &objective, None, 1024);
        assert!(
            r.optimal,
            "{name}: exhaustive did not finish on the narrowed space"
        );
        row.push(format!(
            "10^{:.1} with {fixed} fixed; whole space, budget {FULL_BUDGET}: {}",
            sub.log10_size(),
            full.best.as_ref().map_or("none".into(), |b| fmt(&b.score))
        ));
        check("exhaustive (narrowed space)", &r, &mut row);
    }
    row.push(fmt(&theirs));
    CaseResult { row, failure }
}

fn mapper_case_files(dir: &Path) -> Option<Vec<PathBuf>> {
    let name = dir.file_name()?.to_string_lossy().into_owned();
    let refs = dir.join("ref_output");
    if name.starts_with("legacy2020_") {
        let mut files = Vec::new();
        yaml_files(&dir.join("inputs"), &mut files);
        let map_txt = refs.join("timeloop-mapper.map.txt");
        if !map_txt.is_file() {
            return None;
        }
        files.push(map_txt);
        files.extend(with_suffix(&refs, ".ERT.yaml"));
        files.extend(with_suffix(&refs, ".ART.yaml"));
        Some(files)
    } else {
        let processed = refs.join("parsed-processed-input.yaml");
        let maps = with_suffix(&refs, ".map.yaml");
        if !processed.is_file() || maps.is_empty() {
            return None;
        }
        let mut files = vec![processed];
        files.extend(maps);
        Some(files)
    }
}

const MAPPER_TABLE_HEADER: [&str; 10] = [
    "case",
    "objective",
    "log10 space",
    "TL map in space",
    "narrowed space (asserted) / whole space (reported)",
    "evaluations",
    "loomap best",
    "optimal",
    "Timeloop's mapping",
    "",
];

#[test]
fn search_is_no_worse_than_timeloop_mapper() {
    let root = reference_root();
    if !root.is_dir() {
        println!(
            "SKIPPED: Timeloop reference data not found at {}",
            root.display()
        );
        return;
    }
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            ["tl05_", "tl06_", "tla_", "ed_", "legacy2020_"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .collect();
    names.sort();
    let mut rows = vec![MAPPER_TABLE_HEADER[..9]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()];
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    let mut checked = 0;
    for name in &names {
        if name == "ed_sparse_tensor_core_like" {
            skipped.push(format!(
                "{name}: sparse (Sparseloop) case; loomap models dense tensors"
            ));
            continue;
        }
        let dir = root.join(name);
        let Some(files) = mapper_case_files(&dir) else {
            skipped.push(format!("{name}: no Timeloop mapping in ref_output"));
            continue;
        };
        let (objective, note) = mapper_objective(&files);
        let (arch, problem, mapping, constraints) = match import_case(&files) {
            Ok(x) => x,
            Err(e) => {
                skipped.push(format!("{name}: cannot be imported: {e}"));
                continue;
            }
        };
        let r = check_mapper_case(name, &objective, &arch, &problem, &mapping, &constraints);
        let mut row = r.row;
        row[1] = format!("{} ({note})", row[1]);
        rows.push(row);
        failures.extend(r.failure);
        checked += 1;
    }
    println!(
        "loomap search vs Timeloop's mapper (both evaluated by loomap; scores in objective order)\n{}",
        table(&rows)
    );
    for s in &skipped {
        println!("skipped {s}");
    }
    assert!(checked >= 9, "only {checked} mapper cases were checked");
    assert!(skipped.len() <= 1, "skipped: {skipped:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The three ResNet/VGG layers Timeloop's mapper searched on the 2020 Eyeriss exercise with
/// row-stationary constraints (`../shared/reference/peers`).
#[test]
fn energy_is_no_worse_than_timeloop_on_peer_problems() {
    let peers = reference_root().join("../peers");
    let inputs = peers.join("timeloop_inputs");
    if !inputs.is_dir() {
        println!(
            "SKIPPED: peer reference data not found at {}",
            peers.display()
        );
        return;
    }
    let runs = read_csv(&peers.join("timeloop_mapper_runs.csv"));
    let ex = inputs.join("eyeriss_ex06");
    let mut common = vec![ex.join("arch/eyeriss_like.yaml")];
    for sub in ["arch/components", "constraints", "ert"] {
        yaml_files(&ex.join(sub), &mut common);
    }
    let mut rows = vec![vec![
        "problem".to_string(),
        "log10 space".into(),
        "evaluations".into(),
        "optimal".into(),
        "loomap best pJ/MAC".into(),
        "TL best mapping, loomap pJ/MAC".into(),
        "Timeloop reported pJ/MAC".into(),
    ]];
    let mut failures = Vec::new();
    for prob in ["resnet18_conv2_1", "VGG02_layer5", "resnet50_conv4_x_3x3"] {
        let mut files = common.clone();
        files.push(inputs.join(format!("prob/{prob}.yaml")));
        files.push(inputs.join(format!("best_mappings/best_{prob}_fixed20k.map.yaml")));
        let (arch, problem, mapping, constraints) =
            import_case(&files).unwrap_or_else(|e| panic!("{prob}: {e}"));
        let objective: Objective = "energy".parse().unwrap();
        let space = MapSpace::new(&arch, &problem, constraints).unwrap();
        assert!(
            space.point_of(&mapping).is_some(),
            "{prob}: Timeloop's best mapping is not in the space"
        );
        let theirs = model::evaluate(&arch, &problem, &mapping).unwrap();
        let r = run(&space, Algo::Exhaustive, &objective, None, 1024);
        assert_eq!(r.stop_reason, StopReason::Exhausted, "{prob}");
        let best = r.best.as_ref().expect("a feasible mapping");
        let macs = problem.macs() as f64;
        let tag = format!("{prob}_fixed20k_1t");
        let reported = runs
            .iter()
            .find(|row| row.get("tag").map(String::as_str) == Some(tag.as_str()))
            .and_then(|row| row.get("best_pJ_per_compute").cloned())
            .unwrap_or_else(|| "?".into());
        rows.push(vec![
            prob.to_string(),
            format!("{:.1}", space.log10_size()),
            r.evaluations.to_string(),
            r.optimal.to_string(),
            format!("{:.4}", best.summary.energy_pj / macs),
            format!("{:.4}", theirs.energy_pj / macs),
            reported,
        ]);
        if best.summary.energy_pj > theirs.energy_pj * (1.0 + 1e-9) {
            failures.push(format!(
                "{prob}: loomap's best {} pJ > Timeloop's mapping {} pJ",
                best.summary.energy_pj, theirs.energy_pj
            ));
        }
    }
    println!(
        "energy on the peer problems (Eyeriss, row stationary, exhaustive):\n{}",
        table(&rows)
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ------------------------------------------------------------------------------------------
// Determinism

/// What must not depend on the thread count.
pub(crate) fn fingerprint(r: &SearchResult) -> String {
    let best = r
        .best
        .as_ref()
        .map(|b| format!("{:?} {:?} {:?} {}", b.point, b.score, b.summary, b.found_at));
    let trace: Vec<(u64, [u64; 4])> = r
        .trace
        .iter()
        .map(|t| (t.evaluations, t.score.0.map(f64::to_bits)))
        .collect();
    format!(
        "{:?} evals {} legal {} feasible {} best {best:?} failures {:?} trace {trace:?}",
        r.stop_reason, r.evaluations, r.legal, r.feasible, r.failures
    )
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let a3 = arch_3level();
    let p = conv1d(2, 2, 3, 2);
    let tiny = MapSpace::new(&a3, &p, Constraints::none(&a3)).unwrap();
    let eyeriss = io::load_arch(&root.join("arch/eyeriss_like.toml")).unwrap();
    let conv = io::load_workload(&root.join("workloads/timeloop_default_conv.toml")).unwrap();
    let cpath = root.join("arch/eyeriss_like.constraints.toml");
    let spec = io::constraints::load_constraints(&cpath).unwrap();
    let problem = &conv.layers[0].problem;
    let c = io::constraints::resolve(&spec, &cpath, &eyeriss, problem).unwrap();
    let big = MapSpace::new(&eyeriss, problem, c).unwrap();
    let edp: Objective = "edp".parse().unwrap();
    let lat_en: Objective = "latency,energy".parse().unwrap();
    let runs: Vec<(&str, &MapSpace, Algo, &Objective, Option<u64>)> = vec![
        ("tiny exhaustive", &tiny, Algo::Exhaustive, &edp, None),
        (
            "tiny exhaustive",
            &tiny,
            Algo::Exhaustive,
            &lat_en,
            Some(777),
        ),
        ("tiny random", &tiny, Algo::Random, &edp, Some(3001)),
        (
            "tiny random-pruned",
            &tiny,
            Algo::RandomPruned,
            &lat_en,
            Some(2500),
        ),
        (
            "eyeriss exhaustive",
            &big,
            Algo::Exhaustive,
            &edp,
            Some(4000),
        ),
        ("eyeriss random", &big, Algo::Random, &edp, Some(3333)),
        (
            "eyeriss random-pruned",
            &big,
            Algo::RandomPruned,
            &edp,
            Some(3000),
        ),
    ];
    for (name, space, algo, objective, budget) in runs {
        let r = same_at_one_and_two_threads(name, space, algo, objective, budget);
        let expected = if budget.is_none() {
            StopReason::Exhausted
        } else {
            StopReason::Budget
        };
        assert_eq!(r.stop_reason, expected, "{name}");
    }
}

/// Runs `algo` on 1 and 2 threads (batches of 100), asserts both find something and agree on
/// everything [`fingerprint`] covers, and returns the 1-thread result.
pub(crate) fn same_at_one_and_two_threads(
    name: &str,
    space: &MapSpace,
    algo: Algo,
    objective: &Objective,
    budget: Option<u64>,
) -> SearchResult {
    let results: Vec<SearchResult> = [1, 2]
        .into_iter()
        .map(|threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let r = pool.install(|| run(space, algo, objective, budget, 100));
            assert!(r.best.is_some(), "{name}: nothing feasible found");
            r
        })
        .collect();
    assert_eq!(
        fingerprint(&results[0]),
        fingerprint(&results[1]),
        "{name} ({budget:?}): 1 vs 2 threads"
    );
    results.into_iter().next().unwrap()
}

// ------------------------------------------------------------------------------------------
// Constraint errors

fn resolve_text(text: &str, arch: &Arch, p: &Problem) -> Result<Constraints, String> {
    let file = Path::new("c.toml");
    let spec = io::constraints::parse_constraints(text, file).map_err(|e| e.to_string())?;
    io::constraints::resolve(&spec, file, arch, p).map_err(|e| e.to_string())
}

#[test]
fn contradictory_constraints_name_what_conflicts() {
    let arch = arch_3level();
    let p = conv1d(6, 2, 4, 1);
    let expect_err = |text: &str, needles: &[&str]| {
        let e = resolve_text(text, &arch, &p).expect_err(text);
        for n in needles {
            assert!(e.contains(n), "`{n}` missing from: {e}");
        }
    };
    // A tensor both kept and bypassed, in one entry and across two.
    expect_err(
        "[[constraint]]\ntarget = \"GLB\"\ntype = \"bypass\"\nkeep = [\"Weights\"]\nbypass = [\"Weights\", \"Inputs\"]\n",
        &["c.toml", "constraint[0].keep", "`Weights`", "GLB"],
    );
    expect_err(
        "[[constraint]]\ntarget = \"RF\"\ntype = \"bypass\"\nkeep = [\"Outputs\"]\n\n[[constraint]]\ntarget = \"RF\"\ntype = \"bypass\"\nbypass = [\"Outputs\"]\n",
        &["constraint[1]", "`Outputs`", "RF"],
    );
    // One dimension fixed to two factors at one level by two entries.
    expect_err(
        "[[constraint]]\ntarget = \"GLB\"\ntype = \"temporal\"\nfactors = \"K2\"\n\n[[constraint]]\ntarget = \"GLB\"\ntype = \"temporal\"\nfactors = \"K3 R1\"\n",
        &["constraint[1].factors", "`K`", "3", "2"],
    );
    // Fixed factors whose product does not divide the bound (K = 6: 2 × 2 = 4).
    expect_err(
        "[[constraint]]\ntarget = \"GLB\"\ntype = \"temporal\"\nfactors = \"K2\"\n\n[[constraint]]\ntarget = \"RF\"\ntype = \"temporal\"\nfactors = \"K2\"\n",
        &["`K`", "multiply to 4", "bound 6"],
    );
    // Minimum above maximum; a spatial factor larger than the fanout; the backing store
    // bypassing a tensor.
    expect_err(
        "[[constraint]]\ntarget = \"RF\"\ntype = \"temporal\"\nfactors = \"P>=4 P<=2\"\n",
        &["`P`", "minimum 4 above maximum 2"],
    );
    expect_err(
        "[[constraint]]\ntarget = \"GLB\"\ntype = \"spatial\"\nfactors = \"K3\"\n",
        &["`K`", "fixed to 3", "fanout there is 2"],
    );
    expect_err(
        "[[constraint]]\ntarget = \"DRAM\"\ntype = \"bypass\"\nbypass = [\"Inputs\"]\n",
        &["DRAM", "`Inputs`"],
    );
    // Unknown names.
    expect_err(
        "[[constraint]]\ntarget = \"L2\"\ntype = \"bypass\"\nkeep = [\"Inputs\"]\n",
        &["constraint[0].target", "`L2`", "RF, GLB, DRAM"],
    );
    expect_err(
        "[[constraint]]\ntarget = \"GLB\"\ntype = \"temporal\"\nfactors = \"M2\"\n",
        &["constraint[0].factors", "`M`"],
    );

    // The library checks the same rules on constraints built in code.
    let mut c = Constraints::none(&arch);
    c.levels[1] = LevelConstraints {
        keep: 0b100,
        bypass: 0b100,
        ..LevelConstraints::default()
    };
    match MapSpace::new(&arch, &p, c) {
        Err(MapSpaceError::Constraint(ConstraintError::Contradiction { level, what })) => {
            assert_eq!(level, "GLB");
            assert!(what.contains("`Outputs`"), "{what}");
        }
        other => panic!("expected a contradiction, got {other:?}"),
    }
    let mut c = Constraints::none(&arch);
    c.levels[0].temporal[0].exact = Some(4);
    assert_eq!(
        MapSpace::new(&arch, &p, c).err(),
        Some(MapSpaceError::Constraint(
            ConstraintError::FixedFactorsExceed {
                dim: "K".into(),
                fixed: 4,
                bound: 6
            }
        ))
    );
    // Consistent constraints resolve and build a space.
    let ok = resolve_text(
        "[[constraint]]\ntarget = \"GLB\"\ntype = \"temporal\"\nfactors = \"K2 R1\"\npermutation = \"P K\"\n\n[[constraint]]\ntarget = \"GLB\"\ntype = \"temporal\"\nfactors = \"K2\"\n",
        &arch,
        &p,
    )
    .unwrap();
    assert!(MapSpace::new(&arch, &p, ok).is_ok());
}

const TINY_ARCH: &str = r#"
name = "tiny"

[[level]]
name = "DRAM"
class = "dram"
read_energy_pj = 100.0
write_energy_pj = 100.0
leak_pj_per_cycle = 0.0
area_um2 = 0.0

[[level]]
name = "Buf"
class = "sram"
size_words = 2
read_energy_pj = 1.0
write_energy_pj = 1.0
leak_pj_per_cycle = 0.0
area_um2 = 0.0

[compute]
name = "mac"
instances = 1
mesh_x = 1
mesh_y = 1
word_bits = 16
energy_pj = 1.0
area_um2 = 0.0
"#;

/// Regression: the exhaustive walk cuts overflowing subtrees without evaluating them, and
/// used to report "no candidate failed" when nothing fit.
#[test]
fn nothing_fits_exits_1_with_failures_by_reason() {
    // The library: the walk's cuts are the run's failures.
    let buf = level("Buf", LevelClass::Sram, Some(2), (1, 1), 1.0);
    let arch = Arch::new("t", 1.0, None, vec![buf, dram()], compute((1, 1))).unwrap();
    let p = gemm(4, 4, 4);
    let mut c = Constraints::none(&arch);
    c.levels[0].keep = 0b111;
    let space = MapSpace::new(&arch, &p, c).unwrap();
    let r = run(
        &space,
        Algo::Exhaustive,
        &"edp".parse().unwrap(),
        None,
        1024,
    );
    assert_eq!(r.stop_reason, StopReason::Exhausted);
    assert!(r.best.is_none() && r.evaluations == 0);
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    assert_eq!(r.failures[0].0, "capacity at Buf");
    assert!(r.failures[0].1 > 0);
    assert_eq!(r.failure_summary(), "100% capacity at Buf");

    // The CLI.
    let dir = scratch("nothing-fits");
    let arch = dir.join("arch.toml");
    let workload = dir.join("w.toml");
    let constraints = dir.join("c.toml");
    std::fs::write(&arch, TINY_ARCH).unwrap();
    std::fs::write(
        &workload,
        "name = \"w\"\n\n[[layer]]\nname = \"g\"\nkind = \"gemm\"\nm = 4\nn = 4\nk = 4\n",
    )
    .unwrap();
    // Buf holds 2 words but must keep all three tensors.
    std::fs::write(
        &constraints,
        "[[constraint]]\ntarget = \"Buf\"\ntype = \"bypass\"\nkeep = [\"A\", \"B\", \"Z\"]\n",
    )
    .unwrap();
    for extra in [
        &["--algo", "exhaustive"][..],
        &["--algo", "random", "--budget", "300"],
    ] {
        let mut args = vec![
            "search",
            "--arch",
            arch.to_str().unwrap(),
            "--workload",
            workload.to_str().unwrap(),
            "--constraints",
            constraints.to_str().unwrap(),
        ];
        args.extend(extra);
        let out = run_loomap(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {err}");
        assert!(
            err.contains("no feasible mapping of `g`") && err.contains("100% capacity at Buf"),
            "{extra:?}: {err}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// Bundled constraint presets

fn load_preset(arch: &str) -> (Arch, io::constraints::ConstraintsSpec, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let a = io::load_arch(&root.join(format!("arch/{arch}.toml"))).unwrap();
    let path = root.join(format!("arch/{arch}.constraints.toml"));
    let spec = io::constraints::load_constraints(&path).unwrap();
    (a, spec, path)
}

/// Timeloop's search hints for Eyeriss row stationary (`eyeriss_like_map_constraints.yaml`
/// of the 2020 exercise in `../shared/reference/peers/timeloop_inputs/eyeriss_ex06`, M → K):
/// they narrow the space enough to exhaust.
const EYERISS_HINTS: &str = r#"
[[constraint]]
target = "shared_glb"
type = "temporal"
factors = "Q1 R1 S1 P0"
permutation = "QRSC PNK"

[[constraint]]
target = "DRAM"
type = "temporal"
factors = "R1 S1 P1"
permutation = "RSP CKNQ"
"#;

#[test]
fn constraint_presets_cover_vgg16_and_resnet50() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut rows = vec![vec![
        "preset".to_string(),
        "layers".into(),
        "log10 space (min..max)".into(),
    ]];
    for preset in ["eyeriss_like", "simba_like"] {
        let (arch, spec, path) = load_preset(preset);
        let (mut lo, mut hi, mut n) = (f64::MAX, 0.0f64, 0);
        for net in ["vgg16", "resnet50"] {
            let w = io::load_workload(&root.join(format!("workloads/{net}.toml"))).unwrap();
            for l in &w.layers {
                let c = io::constraints::resolve(&spec, &path, &arch, &l.problem)
                    .unwrap_or_else(|e| panic!("{preset} {net} {}: {e}", l.name));
                let space = MapSpace::new(&arch, &l.problem, c)
                    .unwrap_or_else(|e| panic!("{preset} {net} {}: {e}", l.name));
                lo = lo.min(space.log10_size());
                hi = hi.max(space.log10_size());
                n += 1;
            }
        }
        // 13 + 3 (VGG16 conv + fc), 53 + 1 (ResNet-50 conv + fc).
        assert_eq!(n, 16 + 54, "{preset}: layers");
        rows.push(vec![
            preset.into(),
            n.to_string(),
            format!("{lo:.1}..{hi:.1}"),
        ]);

        // Timeloop's own mapping of the reference case lies in the preset's space (checks
        // the M -> K renaming and the level names).
        let conv = io::load_workload(&root.join("workloads/timeloop_default_conv.toml")).unwrap();
        let p = &conv.layers[0].problem;
        let m = io::load_mapping(
            &root.join(format!("mappings/{preset}_default_conv.toml")),
            &arch,
            p,
        )
        .unwrap();
        let c = io::constraints::resolve(&spec, &path, &arch, p).unwrap();
        let space = MapSpace::new(&arch, p, c).unwrap();
        assert!(
            space.point_of(&m).is_some(),
            "{preset}: the reference mapping is outside the preset's space"
        );
    }
    println!(
        "bundled constraint presets, every VGG16 / ResNet-50 layer:\n{}",
        table(&rows)
    );

    // Exhaustive finishes on two representative layers (Eyeriss preset with Timeloop's
    // row-stationary search hints; the preset alone leaves 10^13+ points per conv layer).
    let (arch, spec, path) = load_preset("eyeriss_like");
    let hints = io::constraints::parse_constraints(EYERISS_HINTS, Path::new("hints")).unwrap();
    let mut both = spec.clone();
    both.constraint.extend(hints.constraint);
    let edp: Objective = "edp".parse().unwrap();
    for (net, layer) in [("vgg16", "conv3_1"), ("resnet50", "layer3.1.conv2")] {
        let w = io::load_workload(&root.join(format!("workloads/{net}.toml"))).unwrap();
        let l = w.layer(layer).unwrap();
        let c = io::constraints::resolve(&both, &path, &arch, &l.problem).unwrap();
        let space = MapSpace::new(&arch, &l.problem, c).unwrap();
        let r = run(&space, Algo::Exhaustive, &edp, None, 1024);
        assert_eq!(r.stop_reason, StopReason::Exhausted, "{net} {layer}");
        let b = r.best.as_ref().expect("a feasible mapping");
        println!(
            "eyeriss_like + hints, {net} {layer}: 10^{:.1} points, {} evaluated, optimal EDP {:.4e} ({} cycles, {:.3} pJ/MAC)",
            space.log10_size(),
            r.evaluations,
            b.summary.edp(),
            b.summary.cycles,
            b.summary.energy_pj / b.summary.macs as f64
        );
    }
}
