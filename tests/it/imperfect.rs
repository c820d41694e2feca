//! Imperfect factorizations end to end: the search finds non-dividing tiles when they pay,
//! the winning mapping evaluates back to the same score, and malformed padding is rejected.

use crate::cli::{json_of, loomap, scratch};

const ARCH: &str = "arch/eyeriss_like.toml";
const HINTS: &str = "arch/eyeriss_like_hints.constraints.toml";

fn search(extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "search",
        "--arch",
        ARCH,
        "--workload",
        "workloads/alexnet.toml",
        "--layer",
        "conv1",
        "--algo",
        "exhaustive",
        "--objective",
        "edp",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    json_of(&loomap(&args))
}

/// AlexNet conv1 has P = Q = 55 = 5 × 11 on Eyeriss's 14-wide PE rows: a perfect
/// factorization can put at most 11 of Q on a row (utilization 0.72 at best), an imperfect
/// one 14 (Q14 × Q4 = 56, one padded column). Both spaces are searched to the end.
#[test]
fn imperfect_space_beats_the_perfect_optimum_when_dimensions_do_not_divide() {
    let perfect = search(&["--constraints", HINTS]);
    let padded = search(&["--constraints", HINTS, "--imperfect"]);
    for v in [&perfect, &padded] {
        assert_eq!(v["stop_reason"], "exhausted", "{v}");
    }
    let edp = |v: &serde_json::Value| v["best"]["edp"].as_f64().unwrap();
    assert!(
        edp(&padded) < 0.9 * edp(&perfect),
        "imperfect {:e} vs perfect {:e}",
        edp(&padded),
        edp(&perfect)
    );

    // The same switch from the constraints file.
    let dir = scratch("imperfect-constraints");
    let file = dir.join("c.toml");
    let text = std::fs::read_to_string(crate::cli::root().join(HINTS)).unwrap();
    std::fs::write(&file, format!("imperfect = true\n{text}")).unwrap();
    let out = dir.join("out");
    let from_file = search(&[
        "--constraints",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    for key in ["cycles", "energy_pj", "found_at_evaluation"] {
        assert_eq!(from_file["best"][key], padded["best"][key], "{key}");
    }

    // The winning mapping evaluates back to the same score and reports its padding.
    let mapping = out.join("best_mapping.toml");
    let eval_args = |format: &'static str| {
        vec![
            "eval".to_string(),
            "--arch".into(),
            ARCH.into(),
            "--workload".into(),
            "workloads/alexnet.toml".into(),
            "--layer".into(),
            "conv1".into(),
            "--mapping".into(),
            mapping.to_string_lossy().into_owned(),
            "--format".into(),
            format.into(),
        ]
    };
    let args = eval_args("json");
    let eval = json_of(&loomap(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert_eq!(eval["cycles"], padded["best"]["cycles"]);
    assert!(eval["executed_macs"].as_u64().unwrap() > eval["macs"].as_u64().unwrap());
    let args = eval_args("text");
    let text = loomap(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains("of them on padding"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A mapping whose outermost loop of a dimension is entirely padding in its last iteration
/// is an input error naming the dimension and the rule.
#[test]
fn a_whole_padded_iteration_is_rejected_with_the_rule() {
    let dir = scratch("imperfect-whole");
    let file = dir.join("m.toml");
    // Timeloop's default conv has P = 112: P3 × P38 = 114 pads part of the last tile, P3 ×
    // P39 = 117 a whole iteration (3 × 38 = 114 ≥ 112).
    let mapping = |outer: &str, inner: &str| {
        format!(
            "[[level]]\ntarget = \"DRAM\"\ntemporal = \"K32 C3 Q112 R3 S3 {outer}\"\n\n[[level]]\ntarget = \"shared_glb\"\ntemporal = \"{inner}\"\n"
        )
    };
    let run = |text: String| {
        std::fs::write(&file, text).unwrap();
        loomap(&[
            "eval",
            "--arch",
            "arch/simple_weight_stationary.toml",
            "--workload",
            "workloads/timeloop_default_conv.toml",
            "--mapping",
            file.to_str().unwrap(),
        ])
    };
    // The legal padding passes the mapping rules (these tiles then overflow the registers:
    // a model verdict, exit 1, not an input error).
    let good = run(mapping("P38", "P3"));
    assert_ne!(good.status.code(), Some(2), "{good:?}");
    assert!(!String::from_utf8_lossy(&good.stderr).contains("padding"));
    let bad = run(mapping("P39", "P3"));
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("m.toml"), "{err}");
    assert!(err.contains("`P`") && err.contains("padding"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The GeneSys lowering needs equal DRAM tiles: an imperfect mapping is refused by name.
#[test]
fn genesys_compile_refuses_a_padded_mapping_by_name() {
    let dir = scratch("imperfect-genesys");
    let shipped =
        std::fs::read_to_string(crate::cli::root().join("mappings/genesys_conv_relu_test.toml"))
            .unwrap();
    // P12 as P3 × P5 = 15 (last tile 2 of 5).
    let text = shipped
        .replace("temporal = \"P2\"", "temporal = \"P3\"")
        .replace("temporal = \"C4 K4 Q12 P6\"", "temporal = \"C4 K4 Q12 P5\"");
    assert_ne!(text, shipped);
    let file = dir.join("m.toml");
    std::fs::write(&file, text).unwrap();
    let out = loomap(&[
        "compile",
        "--arch",
        "arch/genesys_16x16.toml",
        "--workload",
        "workloads/genesys_tests.toml",
        "--layer",
        "conv_relu_test",
        "--mapping",
        file.to_str().unwrap(),
        "--out",
        dir.join("p.bin").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("imperfect factorization of P (15 covers 12)"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `imperfect = true` in a sweep's [search] reaches every (variant, layer) search: AlexNet
/// conv1 on the 12 × 14 Eyeriss array runs in fewer cycles than with perfect tiles only.
#[test]
fn sweep_search_takes_the_imperfect_switch() {
    let dir = scratch("imperfect-sweep");
    let r = crate::cli::root().display().to_string();
    let cycles = |imperfect: bool| -> f64 {
        let spec = dir.join(format!("spec-{imperfect}.toml"));
        std::fs::write(
            &spec,
            format!(
                r#"name = "imperfect"
arch = "{r}/arch/eyeriss_like.toml"
workload = "{r}/workloads/alexnet.toml"
layers = ["conv1"]
constraints = "{r}/{HINTS}"

[search]
algo = "exhaustive"
objective = "edp"
imperfect = {imperfect}

[[param]]
name = "pe"
target = "pe_array"
values = ["12x14"]
"#
            ),
        )
        .unwrap();
        let out = dir.join(format!("out-{imperfect}"));
        let o = loomap(&[
            "sweep",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--no-plots",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read_to_string(out.join("results.csv")).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let row: Vec<&str> = lines.next().unwrap().split(',').collect();
        let c = header.iter().position(|h| *h == "cycles").unwrap();
        row[c].parse().unwrap()
    };
    let (perfect, padded) = (cycles(false), cycles(true));
    assert!(
        padded < 0.9 * perfect,
        "imperfect {padded} vs perfect {perfect}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The GeneSys constraints say `imperfect = false`, so the map space refuses `--imperfect`
/// before any search: every mapping a GeneSys search returns compiles.
#[test]
fn genesys_constraints_refuse_the_imperfect_switch() {
    let out = loomap(&[
        "search",
        "--arch",
        "arch/genesys_16x16.toml",
        "--workload",
        "workloads/genesys_tests.toml",
        "--layer",
        "r18_3x3_s2",
        "--constraints",
        "arch/genesys_16x16.constraints.toml",
        "--imperfect",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("genesys_16x16.constraints.toml: imperfect: these constraints forbid"),
        "{err}"
    );
}

/// MobileNetV2's depthwise G = 576 over Eyeriss's nine usable slots has more than 2^20
/// imperfect factor vectors: the space keeps that dimension's temporal inner factors to
/// divisors (non-dividing factors only in spatial slots and the outermost one) instead of
/// failing, and annealing moves respect the same rule. G = 960 is too large even for that
/// and keeps perfect factorizations.
#[test]
fn large_dimensions_fall_back_to_narrower_imperfect_rules() {
    use loomap::io::constraints as cio;
    use loomap::mapping::Spacetime;
    use loomap::mapspace::{ImperfectRule, MapSpace};
    use rand::SeedableRng;
    let root = crate::cli::root();
    let arch = loomap::io::load_arch(&root.join(ARCH)).unwrap();
    let wl = loomap::io::load_workload(&root.join("workloads/mobilenet_v2.toml")).unwrap();
    let problem = &wl.layer("features.12.conv.1.0").unwrap().problem;
    let path = root.join(HINTS);
    let spec = cio::load_constraints(&path).unwrap();
    let mut c = cio::resolve(&spec, &path, &arch, problem).unwrap();
    spec.admit_imperfect(&path, &mut c).unwrap();
    let space = MapSpace::new(&arch, problem, c).unwrap();
    let g = problem.dim_id("G").unwrap();
    assert_eq!(space.imperfect_rule[g], ImperfectRule::SpatialOnly);
    assert_eq!(
        space.imperfect_rule[problem.dim_id("P").unwrap()],
        ImperfectRule::Full
    );
    let bound = problem.bounds[g];
    let ds = &space.dim_slots[g];
    let k = ds.len();
    let temporal_inner: Vec<usize> = (0..k - 1)
        .filter(|&j| space.slots[ds[j]].space == Spacetime::Temporal)
        .collect();
    for v in space.choices[g].chunks(k) {
        for &j in &temporal_inner {
            assert_eq!(bound % v[j], 0, "choice {v:?}");
        }
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
    let mut p = space.sample(&mut rng);
    let mut legal = 0;
    for _ in 0..2000 {
        p = space.neighbour(&p, &mut rng);
        assert!((0..space.num_dims()).all(|d| space.factors_cover(&p, d)));
        // Moves may exceed a fanout (the driver rejects those); legal points are choices.
        if space.legal(&p).is_ok() {
            legal += 1;
            assert!(space.point_of(&space.to_mapping(&p)).is_some());
        }
    }
    assert!(legal > 100, "only {legal} legal points");

    let problem = &wl.layer("features.15.conv.1.0").unwrap().problem;
    let mut c = cio::resolve(&spec, &path, &arch, problem).unwrap();
    spec.admit_imperfect(&path, &mut c).unwrap();
    let space = MapSpace::new(&arch, problem, c).unwrap();
    let g = problem.dim_id("G").unwrap();
    assert_eq!(problem.bounds[g], 960);
    assert_eq!(space.imperfect_rule[g], ImperfectRule::Perfect);
    let k = space.dim_slots[g].len();
    assert!(space.choices[g]
        .chunks(k)
        .all(|v| v.iter().product::<u64>() == 960));
}
