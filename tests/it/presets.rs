//! The bundled presets with Timeloop's own mappings reproduce Timeloop's reference statistics
//! (`../shared/reference/timeloop/{summary,per_level_stats}.csv`): every per-level, per-tensor
//! read, fill and update count within 0.5%, cycles within 0.5%, total energy within 1%.

use std::path::Path;

use loomap::{io, model};

use crate::reference::{close, read_csv, reference_root, COUNT_TOL, CYCLES_TOL, ENERGY_TOL};

fn check_case(case: &str, arch: &str, mapping: &str) {
    let refdir = reference_root();
    if !refdir.is_dir() {
        eprintln!("skipping {case}: {} is absent", refdir.display());
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let arch = io::load_arch(&root.join(arch)).unwrap();
    let net = io::load_workload(&root.join("workloads/timeloop_default_conv.toml")).unwrap();
    let problem = &net.layers[0].problem;
    let m = io::load_mapping(&root.join(mapping), &arch, problem).unwrap();
    let mut stats = model::Stats::default();
    let summary = model::evaluate_into(&arch, problem, &m, &mut stats).unwrap();

    let mut failures = Vec::new();
    let sum = read_csv(&refdir.join("summary.csv"));
    let row = sum
        .iter()
        .find(|r| r.get("case").map(String::as_str) == Some(case))
        .expect("case in summary.csv");
    let cycles: f64 = row["cycles"].parse().unwrap();
    let energy: f64 = row["energy_pJ_derived"].parse().unwrap();
    if !close(summary.cycles as f64, cycles, CYCLES_TOL) {
        failures.push(format!("cycles: ours {} theirs {cycles}", summary.cycles));
    }
    if !close(summary.energy_pj, energy, ENERGY_TOL) {
        failures.push(format!(
            "energy: ours {} theirs {energy}",
            summary.energy_pj
        ));
    }
    let mut rows = 0;
    for r in read_csv(&refdir.join("per_level_stats.csv"))
        .iter()
        .filter(|r| r.get("case").map(String::as_str) == Some(case))
    {
        if r["dataspace"] == "(compute)" {
            continue;
        }
        let lvl = arch
            .level_id(&r["level"])
            .unwrap_or_else(|| panic!("level {} in the preset", r["level"]));
        let t = problem.tensor_id(&r["dataspace"]).expect("tensor");
        let s = &stats.tensors[lvl][t];
        for (what, ours, key) in [
            ("reads", s.reads, "reads_per_instance"),
            ("fills", s.fills, "fills_per_instance"),
            ("updates", s.updates, "updates_per_instance"),
        ] {
            let theirs: f64 = r[key].parse().unwrap();
            if !close(ours as f64, theirs, COUNT_TOL) {
                failures.push(format!(
                    "{} {} {what}: ours {ours} theirs {theirs}",
                    r["level"], r["dataspace"]
                ));
            }
        }
        rows += 1;
    }
    assert!(rows >= 5, "{case}: only {rows} reference rows found");
    assert!(
        failures.is_empty(),
        "{case} differs from Timeloop:\n{}",
        failures.join("\n")
    );
}

#[test]
fn eyeriss_like_matches_timeloop() {
    check_case(
        "ed_eyeriss_like",
        "arch/eyeriss_like.toml",
        "mappings/eyeriss_like_default_conv.toml",
    );
}

#[test]
fn simba_like_matches_timeloop() {
    check_case(
        "ed_simba_like",
        "arch/simba_like.toml",
        "mappings/simba_like_default_conv.toml",
    );
}
