//! The real binary, run the way users run it: exit codes, JSON keys, located errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn loomap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loomap"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("binary runs")
}

/// A fresh scratch directory per test.
fn scratch(name: &str) -> PathBuf {
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
            if path.extension().is_some_and(|e| e == "toml") {
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
