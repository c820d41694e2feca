//! The `rl` and `heuristic` engines: determinism across thread counts, distance to the
//! optimum that `exhaustive` proves, warm start, stop reasons, and that every best lowers
//! to a mapping the model accepts.
//!
//! Print the tables with `cargo test --release --test it rl_heuristic -- --nocapture`.

use loomap::mapspace::{Constraints, MapSpace};
use loomap::model;
use loomap::search::heuristic::Heuristic;
use loomap::search::rl::RlSearch;
use loomap::search::{Algo, Driver, Objective, SearchConfig, SearchResult, StopReason};

use crate::reference::table;
use crate::search::{
    arch_2level_x, arch_2level_xy, arch_3level, conv1d, conv1d_ic, gemm, mixed_constraints, run,
    same_at_one_and_two_threads,
};

/// Largest gaps to the optimum (relative, first metric) allowed at a budget of 10^4, seed 1.
/// Tiny spaces (measured: rl 0% except 9.1% on conv1d_ic for energy; heuristic 0%).
const RL_TINY_TOLERANCE: f64 = 0.10;
const HEURISTIC_TINY_TOLERANCE: f64 = 1e-9;
/// Eyeriss layers with row stationary + Timeloop's hints (measured on 18 VGG16 / ResNet-50 /
/// MobileNetV2 layers, docs/search.md: rl at most 3.0% over seeds 1-3, heuristic at most
/// 0.88%; on the layers below, rl 0-1.6% and heuristic 0%).
const RL_EYERISS_TOLERANCE: f64 = 0.05;
const HEURISTIC_EYERISS_TOLERANCE: f64 = 0.01;

fn run_seeded(
    space: &MapSpace,
    algo: Algo,
    objective: &Objective,
    budget: Option<u64>,
    seed: u64,
) -> SearchResult {
    let mut engine = algo.engine(space).unwrap();
    let mut config = SearchConfig::new(objective.clone());
    config.budget = budget;
    config.seed = seed;
    Driver::run(space, engine.as_mut(), &config, None)
}

/// The reported best is its point's mapping, passes the mapping checks and evaluates to
/// the reported summary.
fn check_best_lowers(name: &str, space: &MapSpace, r: &SearchResult) {
    let b = r
        .best
        .as_ref()
        .unwrap_or_else(|| panic!("{name}: nothing found"));
    assert_eq!(b.mapping, space.to_mapping(&b.point), "{name}");
    b.mapping
        .check(space.arch, space.problem)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let again = model::evaluate(space.arch, space.problem, &b.mapping)
        .unwrap_or_else(|e| panic!("{name}: the model rejects the best: {e:?}"));
    assert_eq!(again, b.summary, "{name}");
}

fn gap(r: &SearchResult, optimum: f64) -> f64 {
    r.best.as_ref().map_or(f64::INFINITY, |b| b.score.primary()) / optimum - 1.0
}

#[test]
fn rl_and_heuristic_do_not_depend_on_the_thread_count() {
    let a3 = arch_3level();
    let p = conv1d(2, 2, 3, 2);
    let tiny = MapSpace::new(&a3, &p, Constraints::none(&a3)).unwrap();
    let (arch, problem, c) = crate::engines::eyeriss_hinted("vgg16", "conv5_1");
    let eyeriss = MapSpace::new(&arch, &problem, c).unwrap();
    let edp: Objective = "edp".parse().unwrap();
    let lat_en: Objective = "latency,energy".parse().unwrap();
    let runs: Vec<(&str, &MapSpace, Algo, &Objective, Option<u64>)> = vec![
        ("tiny rl", &tiny, Algo::Rl, &lat_en, None),
        ("tiny heuristic", &tiny, Algo::Heuristic, &edp, None),
        ("eyeriss rl", &eyeriss, Algo::Rl, &edp, Some(1500)),
        (
            "eyeriss heuristic",
            &eyeriss,
            Algo::Heuristic,
            &edp,
            Some(1500),
        ),
    ];
    for (name, space, algo, objective, budget) in runs {
        same_at_one_and_two_threads(name, space, algo, objective, budget);
    }
}

#[test]
fn rl_and_heuristic_reach_the_optimum_of_tiny_spaces() {
    let a2x = arch_2level_x();
    let a2xy = arch_2level_xy();
    let a3 = arch_3level();
    let p_conv = conv1d(4, 3, 4, 1);
    let p_conv_s2 = conv1d(2, 2, 3, 2);
    let p_gemm = gemm(2, 4, 2);
    let p_ic = conv1d_ic(2, 2, 2, 2);
    let cases: Vec<(&str, MapSpace)> = vec![
        (
            "conv1d K4 R3 P4 / 2 levels",
            MapSpace::new(&a2x, &p_conv, Constraints::none(&a2x)).unwrap(),
        ),
        (
            "conv1d_ic K2 C2 R2 P2 / 2 levels",
            MapSpace::new(&a2x, &p_ic, Constraints::none(&a2x)).unwrap(),
        ),
        (
            "gemm M2 N4 K2 / fanout 2x2",
            MapSpace::new(&a2xy, &p_gemm, Constraints::none(&a2xy)).unwrap(),
        ),
        (
            "conv1d stride 2 / 3 levels",
            MapSpace::new(&a3, &p_conv_s2, Constraints::none(&a3)).unwrap(),
        ),
        (
            "conv1d stride 2 / 3 levels, mixed constraints",
            MapSpace::new(&a3, &p_conv_s2, mixed_constraints(&a3, &p_conv_s2)).unwrap(),
        ),
    ];
    let mut rows = vec![vec![
        "case".to_string(),
        "objective".into(),
        "optimum".into(),
        "rl gap (evals, stop)".into(),
        "heuristic gap (evals, stop)".into(),
    ]];
    let mut failures = Vec::new();
    for (name, space) in &cases {
        for objective in ["edp", "energy"] {
            let o: Objective = objective.parse().unwrap();
            let opt = run(space, Algo::Exhaustive, &o, None, 1024);
            let best = opt.best.as_ref().unwrap().score.primary();
            let mut row = vec![name.to_string(), objective.into(), format!("{best:.6e}")];
            for algo in [Algo::Rl, Algo::Heuristic] {
                let r = run_seeded(space, algo, &o, Some(10_000), 1);
                let what = format!("{name} {objective} {}", algo.name());
                check_best_lowers(&what, space, &r);
                if algo == Algo::Heuristic {
                    assert_eq!(r.stop_reason, StopReason::Converged, "{what}");
                }
                let g = gap(&r, best);
                let tolerance = if algo == Algo::Rl {
                    RL_TINY_TOLERANCE
                } else {
                    HEURISTIC_TINY_TOLERANCE
                };
                if g > tolerance {
                    failures.push(format!("{what}: gap {:.2}%", 100.0 * g));
                }
                row.push(format!(
                    "{:.3}% ({}, {})",
                    100.0 * g,
                    r.evaluations,
                    r.stop_reason.name()
                ));
            }
            rows.push(row);
        }
    }
    println!(
        "rl and heuristic vs the exhaustive optimum (tiny spaces):\n{}",
        table(&rows)
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Searches each layer with `algo` (budget 10^4, seed 1) and compares with the optimum.
fn check_eyeriss_layers(algo: Algo, layers: &[(&str, &str)], tolerance: f64) {
    let edp: Objective = "edp".parse().unwrap();
    let mut rows = vec![vec![
        "layer".to_string(),
        "log10 space".into(),
        "exhaustive evals".into(),
        format!("{} gap", algo.name()),
        "evals".into(),
        "stop".into(),
    ]];
    let mut failures = Vec::new();
    for &(net, layer) in layers {
        let (arch, problem, c) = crate::engines::eyeriss_hinted(net, layer);
        let space = MapSpace::new(&arch, &problem, c).unwrap();
        let opt = run(&space, Algo::Exhaustive, &edp, None, 1024);
        assert!(opt.optimal);
        let best = opt.best.as_ref().unwrap().score.primary();
        let r = run_seeded(&space, algo, &edp, Some(10_000), 1);
        let what = format!("{net} {layer} {}", algo.name());
        check_best_lowers(&what, &space, &r);
        let g = gap(&r, best);
        if g > tolerance {
            failures.push(format!("{what}: gap {:.2}%", 100.0 * g));
        }
        rows.push(vec![
            format!("{net} {layer}"),
            format!("{:.1}", space.log10_size()),
            opt.evaluations.to_string(),
            format!("{:.2}%", 100.0 * g),
            r.evaluations.to_string(),
            r.stop_reason.name().into(),
        ]);
    }
    println!(
        "{} vs the exhaustive optimum (eyeriss_like + hints, EDP, budget 10^4):\n{}",
        algo.name(),
        table(&rows)
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rl_reaches_the_optimum_of_eyeriss_layers() {
    check_eyeriss_layers(
        Algo::Rl,
        &[("vgg16", "conv5_1"), ("resnet50", "layer3.1.conv2")],
        RL_EYERISS_TOLERANCE,
    );
}

#[test]
fn heuristic_reaches_the_optimum_of_eyeriss_layers() {
    check_eyeriss_layers(
        Algo::Heuristic,
        &[
            ("vgg16", "conv5_1"),
            ("resnet50", "layer3.1.conv2"),
            ("mobilenet_v2", "features.14.conv.1.0"),
        ],
        HEURISTIC_EYERISS_TOLERANCE,
    );
}

#[test]
fn rl_warm_started_from_the_optimum_finds_it_in_the_first_batch() {
    let edp: Objective = "edp".parse().unwrap();
    let (arch, problem, c) = crate::engines::eyeriss_hinted("resnet50", "layer3.1.conv2");
    let space = MapSpace::new(&arch, &problem, c).unwrap();
    let opt = run(&space, Algo::Exhaustive, &edp, None, 1024);
    let best = opt.best.as_ref().unwrap();
    // From the mapping, as a caller that saved the previous layer's mapping file would.
    let point = space
        .point_of(&best.mapping)
        .expect("the optimum's mapping is in the space");
    let mut engine = RlSearch::default().warm_start(point);
    let mut config = SearchConfig::new(edp.clone());
    config.budget = Some(10_000);
    let r = Driver::run(&space, &mut engine, &config, None);
    let found = r.best.as_ref().unwrap();
    assert_eq!(found.score, best.score);
    assert!(
        found.found_at <= 64,
        "found after {} evaluations",
        found.found_at
    );
    check_best_lowers("warm start", &space, &r);

    // Across layers (the use case): warm-started from another layer's optimum, rl gets at
    // least as close as a cold run with the same seed and budget in this case. Reported.
    let (arch2, problem2, c2) = crate::engines::eyeriss_hinted("resnet50", "layer2.1.conv2");
    let next = MapSpace::new(&arch2, &problem2, c2).unwrap();
    let opt2 = run(&next, Algo::Exhaustive, &edp, None, 1024);
    let best2 = opt2.best.as_ref().unwrap().score.primary();
    config.budget = Some(3_000);
    let mut warm = RlSearch::default().warm_start(best.point.clone());
    let w = Driver::run(&next, &mut warm, &config, None);
    let mut cold = RlSearch::default();
    let c = Driver::run(&next, &mut cold, &config, None);
    check_best_lowers("warm start across layers", &next, &w);
    println!(
        "resnet50 layer2.1.conv2 warm-started from layer3.1.conv2's optimum: gap {:.2}% ({} evals) vs cold {:.2}% ({} evals)",
        100.0 * gap(&w, best2),
        w.evaluations,
        100.0 * gap(&c, best2),
        c.evaluations
    );
}

#[test]
fn rl_and_heuristic_stop_for_the_right_reason() {
    let edp: Objective = "edp".parse().unwrap();
    let (arch, problem, c) = crate::engines::eyeriss_hinted("vgg16", "conv5_1");
    let space = MapSpace::new(&arch, &problem, c).unwrap();
    for algo in [Algo::Rl, Algo::Heuristic] {
        let free = run_seeded(&space, algo, &edp, None, 1);
        assert_eq!(free.stop_reason, StopReason::Converged, "{}", algo.name());
        assert!(!free.optimal, "{} proves nothing", algo.name());
        assert!(
            (free.evaluations as u128) < space.size().unwrap(),
            "{}",
            algo.name()
        );
        let cut = run_seeded(&space, algo, &edp, Some(50), 1);
        assert_eq!(cut.stop_reason, StopReason::Budget, "{}", algo.name());
        assert_eq!(cut.evaluations, 50);
    }
    // The engines report what they did.
    let mut h = Heuristic::new();
    let r = Driver::run(&space, &mut h, &SearchConfig::new(edp.clone()), None);
    assert!(r.engine["off_chip_candidates"].as_u64().unwrap() > 0);
    assert!(r.engine["on_chip_candidates"].as_u64().unwrap() > 0);
    let r = run_seeded(&space, Algo::Rl, &edp, None, 1);
    assert!(r.engine["updates"].as_u64().unwrap() > 0);
    assert!(r.engine["stop"].is_string());
}
