//! The bundled presets with Timeloop's own mappings reproduce Timeloop's reference statistics
//! (`../shared/reference/timeloop/{summary,per_level_stats}.csv`): every per-level, per-tensor
//! read, fill and update count within 0.5%, cycles within 0.5%, total energy within 1%.

use std::path::{Path, PathBuf};

use loomap::{io, model};

fn reference_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/timeloop");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: {} is absent", dir.display());
        None
    }
}

/// Rows of a CSV file as maps from header to value (the reference files quote no commas in
/// the columns we read, but may in notes, so split carefully).
fn read_csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).expect("reference csv readable");
    let mut lines = text.lines();
    let header: Vec<String> = split_csv(lines.next().unwrap_or_default());
    lines
        .map(|l| header.iter().cloned().zip(split_csv(l)).collect())
        .collect()
}

fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn close(ours: f64, theirs: f64, rel: f64) -> bool {
    (ours - theirs).abs() <= rel * theirs.abs().max(1.0)
}

fn check_case(case: &str, arch: &str, mapping: &str) {
    let Some(refdir) = reference_dir() else {
        return;
    };
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
        .find(|r| r["case"] == case)
        .expect("case in summary.csv");
    let cycles: f64 = row["cycles"].parse().unwrap();
    let energy: f64 = row["energy_pJ_derived"].parse().unwrap();
    if !close(summary.cycles as f64, cycles, 0.005) {
        failures.push(format!("cycles: ours {} theirs {cycles}", summary.cycles));
    }
    if !close(summary.energy_pj, energy, 0.01) {
        failures.push(format!(
            "energy: ours {} theirs {energy}",
            summary.energy_pj
        ));
    }
    let mut rows = 0;
    for r in read_csv(&refdir.join("per_level_stats.csv"))
        .iter()
        .filter(|r| r["case"] == case)
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
            if !close(ours as f64, theirs, 0.005) {
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
