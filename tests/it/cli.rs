//! The real binary, run the way users run it: exit codes, JSON keys, located errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn loomap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loomap"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("binary runs")
}

/// A fresh scratch directory per test.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loomap-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const EVAL: [&str; 7] = [
    "eval",
    "--arch",
    "arch/eyeriss_like.toml",
    "--workload",
    "workloads/timeloop_default_conv.toml",
    "--mapping",
    "mappings/eyeriss_like_default_conv.toml",
];

#[test]
fn eval_json_has_the_documented_keys() {
    let mut args = EVAL.to_vec();
    args.extend(["--format", "json"]);
    let out = loomap(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "cycles",
        "energy_pj",
        "macs",
        "utilization",
        "area_um2",
        "levels",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["cycles"], 86016);
    let level = &v["levels"][0];
    assert_eq!(level["name"], "DRAM");
    assert!(level["energy_pj"].is_number());
    let t = &level["tensors"][0];
    for key in ["reads", "fills", "updates"] {
        assert!(t.get(key).is_some(), "missing tensor key {key}");
    }
}

#[test]
fn eval_text_and_csv_render() {
    let out = loomap(&EVAL);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("cycles 86016"));
    let mut args = EVAL.to_vec();
    args.extend(["--format", "csv"]);
    let out = loomap(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("layer,level,tensor,"), "{text}");
    assert_eq!(
        text.lines().count(),
        1 + 8,
        "one row per kept (level, tensor)"
    );
}

#[test]
fn infeasible_mapping_exits_1_and_names_the_level() {
    let dir = scratch("infeasible");
    let mapping = dir.join("m.toml");
    // Everything at the 24-word ifmap scratchpad cannot fit.
    std::fs::write(&mapping, "[[level]]\ntarget = \"ifmap_spad\"\ntemporal = \"K32 C3 P112 Q112 R3 S3\"\nkeep = [\"Inputs\"]\n").unwrap();
    let mut args = EVAL.to_vec();
    args[6] = mapping.to_str().unwrap();
    let out = loomap(&args);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("capacity at ifmap_spad"), "{err}");
}

#[test]
fn bad_inputs_exit_2_with_location_and_hint() {
    let dir = scratch("bad");
    let arch = dir.join("a.toml");
    let text = std::fs::read_to_string(root().join("arch/eyeriss_like.toml"))
        .unwrap()
        .replacen("\nblock_size", "\nblok_size", 1);
    std::fs::write(&arch, text).unwrap();
    let out = loomap(&["check", "--arch", arch.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a.toml: line")
            && err.contains("unknown field `blok_size`")
            && err.contains("hint:"),
        "{err}"
    );

    let mapping = dir.join("m.toml");
    std::fs::write(
        &mapping,
        "[[level]]\ntarget = \"DRAM\"\ntemporal = \"K16 C3 P112 Q112 R3 S3\"\n",
    )
    .unwrap();
    let mut args = EVAL.to_vec();
    args[6] = mapping.to_str().unwrap();
    let out = loomap(&args);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("factors of `K` multiply to 16 but the problem bound is 32"),
        "{err}"
    );

    std::fs::write(
        &mapping,
        "[[level]]\ntarget = \"inter_PE_column_spatial\"\nspatial_x = \"Q16\"\n",
    )
    .unwrap();
    let out = loomap(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fanout below it is only 14"));
}

#[test]
fn check_prints_every_bundled_input() {
    for (dir, flag) in [("arch", "--arch"), ("workloads", "--workload")] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            // Constraint presets are resolved against their architecture in `search`.
            let preset = path.to_string_lossy().ends_with(".constraints.toml");
            if path.extension().is_some_and(|e| e == "toml") && !preset {
                let out = loomap(&["check", flag, path.to_str().unwrap()]);
                assert!(
                    out.status.success(),
                    "{}: {}",
                    path.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

const SEARCH: [&str; 9] = [
    "search",
    "--arch",
    "arch/eyeriss_like.toml",
    "--constraints",
    "arch/eyeriss_like.constraints.toml",
    "--workload",
    "workloads/timeloop_default_conv.toml",
    "--budget",
    "3000",
];

pub(crate) fn json_of(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn search_json_has_the_documented_keys() {
    let mut args = SEARCH.to_vec();
    args.extend(["--format", "json"]);
    let v = json_of(&loomap(&args));
    for key in [
        "algo",
        "objective",
        "evaluations",
        "wall_s",
        "stop_reason",
        "best",
        "mapping",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["algo"], "exhaustive");
    assert_eq!(v["objective"], "edp");
    assert_eq!(v["evaluations"], 3000);
    assert_eq!(v["stop_reason"], "budget");
    for key in ["cycles", "energy_pj", "edp"] {
        assert!(v["best"][key].is_number(), "missing best.{key}");
    }
    let edp = v["best"]["energy_pj"].as_f64().unwrap() * v["best"]["cycles"].as_f64().unwrap();
    assert!((v["best"]["edp"].as_f64().unwrap() - edp).abs() <= 1e-9 * edp);
    assert!(v["mapping"]
        .as_str()
        .is_some_and(|m| m.contains("target = \"psum_spad\"")));
}

#[test]
fn search_out_writes_a_mapping_that_eval_accepts() {
    let dir = scratch("search-out");
    let mut args = SEARCH.to_vec();
    args.extend([
        "--objective",
        "energy",
        "--format",
        "json",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let found = json_of(&loomap(&args));
    let mapping = dir.join("best_mapping.toml");
    assert!(mapping.is_file(), "no best_mapping.toml");
    assert!(dir.join("result.json").is_file(), "no result.json");
    let eval = json_of(&loomap(&[
        "eval",
        "--arch",
        "arch/eyeriss_like.toml",
        "--workload",
        "workloads/timeloop_default_conv.toml",
        "--mapping",
        mapping.to_str().unwrap(),
        "--format",
        "json",
    ]));
    assert_eq!(eval["cycles"], found["best"]["cycles"]);
    let (a, b) = (
        eval["energy_pj"].as_f64().unwrap(),
        found["best"]["energy_pj"].as_f64().unwrap(),
    );
    assert!((a - b).abs() <= 1e-12 * b, "eval {a} pJ, search {b} pJ");
}

const TINY_ARCH: &str = r#"
name = "tiny2"

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
size_words = 16
instances = 1
read_energy_pj = 1.0
write_energy_pj = 1.0
leak_pj_per_cycle = 0.0
area_um2 = 0.0

[compute]
name = "mac"
instances = 2
mesh_x = 2
mesh_y = 1
word_bits = 16
energy_pj = 1.0
area_um2 = 0.0
"#;

#[test]
fn network_search_writes_per_layer_results_and_dedups_shapes() {
    let dir = scratch("network");
    let arch = dir.join("arch.toml");
    let workload = dir.join("net.toml");
    let out = dir.join("out");
    std::fs::write(&arch, TINY_ARCH).unwrap();
    std::fs::write(
        &workload,
        "name = \"net\"\n\n\
         [[layer]]\nname = \"first\"\nkind = \"gemm\"\nm = 4\nn = 4\nk = 2\n\n\
         [[layer]]\nname = \"second\"\nkind = \"gemm\"\nm = 2\nn = 4\nk = 4\n\n\
         [[layer]]\nname = \"again\"\nkind = \"gemm\"\nm = 4\nn = 4\nk = 2\n",
    )
    .unwrap();
    let v = json_of(&loomap(&[
        "search",
        "--arch",
        arch.to_str().unwrap(),
        "--workload",
        workload.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]));
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    assert_eq!(layers[0]["same_as"], serde_json::Value::Null);
    assert_eq!(layers[1]["same_as"], serde_json::Value::Null);
    assert_eq!(layers[2]["same_as"], "first");
    assert_eq!(layers[2]["best"], layers[0]["best"]);
    assert_eq!(v["total"]["unique_shapes"], 2);
    for l in layers {
        assert_eq!(l["stop_reason"], "exhausted", "{}", l["layer"]);
    }
    let cycles: u64 = layers
        .iter()
        .map(|l| l["best"]["cycles"].as_u64().unwrap())
        .sum();
    assert_eq!(v["total"]["cycles"], cycles);

    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("layer,repeat,same_as,"), "{csv}");
    assert!(lines[1].starts_with("first,1,,exhaustive,"), "{csv}");
    assert!(lines[3].starts_with("again,1,first,exhaustive,"), "{csv}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["layers"][2]["same_as"], "first");
    assert!(out.join("first.toml").is_file() && out.join("second.toml").is_file());
    assert!(
        !out.join("again.toml").exists(),
        "a duplicate is not searched again"
    );
}

#[test]
fn unknown_algo_or_objective_exits_2_listing_the_names() {
    let mut args = SEARCH.to_vec();
    args.extend(["--algo", "hillclimb"]);
    let out = loomap(&args);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for name in [
        "hillclimb",
        "exhaustive",
        "random",
        "random-pruned",
        "heuristic",
        "genetic",
        "anneal",
        "rl",
    ] {
        assert!(err.contains(name), "`{name}` missing from: {err}");
    }

    let mut args = SEARCH.to_vec();
    args.extend(["--objective", "latency,speed"]);
    let out = loomap(&args);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for name in ["speed", "edp", "energy", "latency", "area", "edap"] {
        assert!(err.contains(name), "`{name}` missing from: {err}");
    }
}
