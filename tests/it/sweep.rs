//! Hardware sweeps end to end: rows per (variant, layer), totals and the front recomputed
//! independently, resume after a kill, thread-count independence, shards + merge, failed
//! variants and located spec errors.

use std::fs;
use std::path::{Path, PathBuf};

use loomap::io;
use loomap::mapspace::MapSpace;
use loomap::search::{Algo, Driver, Objective, SearchConfig};

use crate::cli::{loomap, root, scratch};

/// A small sweep: 2 arrays × 2 buffer sizes (one of which makes an invalid architecture)
/// over two ResNet-18 layers on the Eyeriss-like design.
fn write_spec(dir: &Path, extra: &str) -> PathBuf {
    let r = root().display().to_string();
    let spec = format!(
        r#"name = "tiny"
arch = "{r}/arch/eyeriss_like.toml"
workload = "{r}/workloads/resnet18.toml"
layers = ["layer1.0.conv1", "layer2.0.downsample.0", "layer1.1.conv1"]
constraints = "{r}/arch/eyeriss_like_hints.constraints.toml"
objectives = ["latency", "energy"]
{extra}
[search]
algo = "exhaustive"
objective = "edp"

[[param]]
name = "pe"
target = "pe_array"
values = ["8x8", "12x14"]

[[param]]
name = "glb_kib"
target = "level.shared_glb.size_kib"
values = [32, 64, 0.1]
"#
    );
    let path = dir.join("spec.toml");
    fs::write(&path, spec).unwrap();
    path
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn col(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// Every column but the search time.
fn without_time(path: &Path) -> Vec<Vec<String>> {
    let (h, rows) = read_csv(path);
    let t = h.iter().position(|c| c == "search_s");
    rows.into_iter()
        .map(|mut r| {
            if let Some(t) = t {
                r.remove(t);
            }
            r
        })
        .collect()
}

fn sweep(spec: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "sweep",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-plots",
    ];
    args.extend(extra);
    loomap(&args)
}

#[test]
fn sweep_rows_totals_and_front_are_consistent() {
    let dir = scratch("sweep-basic");
    let spec = write_spec(&dir, "");
    let out = dir.join("out");
    let o = sweep(&spec, &out, &["--threads", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let (h, rows) = read_csv(&out.join("results.csv"));
    // 2 valid variants × 3 layers, plus one row per invalid variant (0.1 KiB is not a whole
    // number of 8-bit words).
    let status = col(&h, "status");
    let ok: Vec<&Vec<String>> = rows.iter().filter(|r| r[status] == "ok").collect();
    let invalid: Vec<&Vec<String>> = rows.iter().filter(|r| r[status] == "invalid").collect();
    assert_eq!(ok.len(), 4 * 3);
    assert_eq!(invalid.len(), 2);
    assert!(invalid[0][col(&h, "reason")].contains("whole number"));
    assert_eq!(invalid[0][col(&h, "layer")], "*");

    // One row checked against an independent search of the same variant built by hand.
    // Resizing the buffer re-estimates its energies and area (the base sets technology_nm):
    // a bigger buffer is bigger.
    let area_of = |pe: &str, kib: &str| -> f64 {
        ok.iter()
            .find(|r| r[col(&h, "pe")] == pe && r[col(&h, "glb_kib")] == kib)
            .map(|r| r[col(&h, "area_um2")].parse().unwrap())
            .unwrap()
    };
    assert!(area_of("8x8", "64") > area_of("8x8", "32") * 1.05);
    assert!(area_of("12x14", "32") > area_of("8x8", "32") * 1.5);
    let v = ok
        .iter()
        .find(|r| r[col(&h, "pe")] == "8x8" && r[col(&h, "glb_kib")] == "32")
        .copied()
        .filter(|r| r[col(&h, "layer")] == "layer1.0.conv1")
        .unwrap();
    // The same variant by hand: the buffer resized, its energies and area left to the
    // estimator.
    let base = fs::read_to_string(root().join("arch/eyeriss_like.toml")).unwrap();
    let glb = base.find("name = \"shared_glb\"").unwrap();
    let glb_end = glb + base[glb..].find("[[level]]").unwrap();
    let glb_text: String = base[glb..glb_end]
        .lines()
        .filter(|l| {
            ![
                "read_energy_pj",
                "write_energy_pj",
                "update_energy_pj",
                "leak_pj",
                "area_um2",
            ]
            .iter()
            .any(|k| l.starts_with(k))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let text = format!("{}{}{}", &base[..glb], glb_text, &base[glb_end..])
        .replace("size_words = 131072", "size_words = 32768")
        .replace("mesh_x = 14\nmesh_y = 12", "mesh_x = 8\nmesh_y = 8")
        .replace("instances = 168", "instances = 64")
        .replace("instances = 14\nmesh_x = 14", "instances = 8\nmesh_x = 8");
    let arch = io::parse_arch(&text, Path::new("by-hand.toml")).unwrap();
    assert_eq!(arch.compute.instances, 64);
    let net = io::load_workload(&root().join("workloads/resnet18.toml")).unwrap();
    let layer = net.layer("layer1.0.conv1").unwrap();
    let cpath = root().join("arch/eyeriss_like_hints.constraints.toml");
    let cspec = io::load_constraints(&cpath).unwrap();
    let c = io::constraints::resolve(&cspec, &cpath, &arch, &layer.problem).unwrap();
    let space = MapSpace::new(&arch, &layer.problem, c).unwrap();
    let mut engine = Algo::Exhaustive.engine(&space).unwrap();
    let config = SearchConfig::new("edp".parse::<Objective>().unwrap());
    let r = Driver::run(&space, engine.as_mut(), &config, None);
    let best = r.best.unwrap();
    assert_eq!(v[col(&h, "cycles")], best.summary.cycles.to_string());
    let e: f64 = v[col(&h, "energy_pj")].parse().unwrap();
    assert!((e - best.summary.energy_pj).abs() <= 1e-9 * e);
    let a: f64 = v[col(&h, "area_um2")].parse().unwrap();
    assert!((a - arch.area_um2()).abs() <= 1e-9 * a);
    // The energy breakdown adds up to the total.
    let parts: f64 = h
        .iter()
        .enumerate()
        .filter(|(_, c)| c.starts_with("energy_") && c.ends_with("_pj") && *c != "energy_pj")
        .map(|(i, _)| v[i].parse::<f64>().unwrap())
        .sum();
    assert!((parts - e).abs() <= 1e-6 * e, "{parts} vs {e}");

    // Totals: the sum over layers, recomputed here from results.csv.
    let (vh, variants) = read_csv(&out.join("variants.csv"));
    assert_eq!(variants.len(), 6);
    for var in &variants {
        let id = &var[col(&vh, "variant")];
        let mine: Vec<&&Vec<String>> = ok.iter().filter(|r| &r[0] == id).collect();
        if var[col(&vh, "status")] != "ok" {
            assert!(mine.is_empty());
            assert_eq!(var[col(&vh, "status")], "failed");
            continue;
        }
        let cycles: u64 = mine
            .iter()
            .map(|r| r[col(&h, "cycles")].parse::<u64>().unwrap())
            .sum();
        let energy: f64 = mine
            .iter()
            .map(|r| r[col(&h, "energy_pj")].parse::<f64>().unwrap())
            .sum();
        assert_eq!(var[col(&vh, "cycles")], cycles.to_string());
        let got: f64 = var[col(&vh, "energy_pj")].parse().unwrap();
        assert!((got - energy).abs() <= 1e-9 * energy);
        let power: f64 = var[col(&vh, "power_w")].parse().unwrap();
        assert!((power - energy * 1e-12 / (cycles as f64 * 1e-9)).abs() <= 1e-9 * power);
    }

    // The front, recomputed by pairwise comparison of (cycles, energy).
    let pts: Vec<(String, f64, f64)> = variants
        .iter()
        .filter(|v| v[col(&vh, "status")] == "ok")
        .map(|v| {
            (
                v[0].clone(),
                v[col(&vh, "cycles")].parse().unwrap(),
                v[col(&vh, "energy_pj")].parse().unwrap(),
            )
        })
        .collect();
    let mut expected: Vec<String> = pts
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            !pts.iter().enumerate().any(|(j, b)| {
                (b.1 <= a.1 && b.2 <= a.2 && (b.1 < a.1 || b.2 < a.2))
                    || (j < *i && b.1 == a.1 && b.2 == a.2)
            })
        })
        .map(|(_, a)| a.0.clone())
        .collect();
    let (_, front) = read_csv(&out.join("pareto.csv"));
    let mut got: Vec<String> = front.iter().map(|r| r[0].clone()).collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    assert!(!got.is_empty());
    // Plots come from the CSVs alone.
    let o = loomap(&["plot", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for name in ["pareto", "sweep", "energy_breakdown", "utilization"] {
        let png = fs::read(out.join(format!("{name}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}.png");
        let svg = fs::read_to_string(out.join(format!("{name}.svg"))).unwrap();
        assert!(svg.contains("<svg"), "{name}.svg");
    }
    let run = fs::read_to_string(out.join("run.toml")).unwrap();
    for key in [
        "seed = 1",
        "fingerprint",
        "command_line",
        "loomap_version",
        "[limits]",
    ] {
        assert!(run.contains(key), "run.toml lacks {key}");
    }
}

#[test]
fn a_killed_sweep_resumes_without_losing_or_repeating_rows() {
    let dir = scratch("sweep-resume");
    let spec = write_spec(&dir, "");
    let full = dir.join("full");
    assert!(sweep(&spec, &full, &["--threads", "1"]).status.success());

    // Simulate a kill: keep the header and 5 rows, and half of the 6th (no newline).
    let text = fs::read_to_string(full.join("results.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let partial = format!(
        "{}\n{}",
        lines[..6].join("\n"),
        &lines[6][..lines[6].len() / 2]
    );
    let cut = dir.join("cut");
    fs::create_dir_all(&cut).unwrap();
    fs::copy(full.join("run.toml"), cut.join("run.toml")).unwrap();
    fs::write(cut.join("results.csv"), partial).unwrap();
    let o = sweep(&spec, &cut, &["--threads", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("5 rows were already done"));
    for f in ["results.csv", "variants.csv", "pareto.csv"] {
        assert_eq!(
            without_time(&full.join(f)),
            without_time(&cut.join(f)),
            "{f}"
        );
    }
    // A finished sweep run again does nothing.
    let o = sweep(&spec, &cut, &[]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("0 layer searches"));

    // Another sweep in the same directory is refused, naming why.
    let other = write_spec(&dir, "[limits]\nmax_area_mm2 = 1.0\n");
    let o = sweep(&other, &cut, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds another sweep"));
}

#[test]
fn shards_merge_into_the_unsharded_result() {
    let dir = scratch("sweep-shards");
    let spec = write_spec(&dir, "");
    let whole = dir.join("whole");
    assert!(sweep(&spec, &whole, &[]).status.success());
    let mut dirs = Vec::new();
    for i in 0..3 {
        let d = dir.join(format!("shard{i}"));
        let shard = format!("{i}/3");
        let o = sweep(&spec, &d, &["--shard", &shard]);
        assert!(
            o.status.code().is_some_and(|c| c <= 1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        dirs.push(d.to_str().unwrap().to_string());
    }
    let merged = dir.join("merged");
    let mut args = vec!["merge"];
    args.extend(dirs.iter().map(String::as_str));
    args.extend(["--out", merged.to_str().unwrap(), "--no-plots"]);
    let o = loomap(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["results.csv", "variants.csv", "pareto.csv"] {
        assert_eq!(
            without_time(&whole.join(f)),
            without_time(&merged.join(f)),
            "{f}"
        );
    }
}

#[test]
fn limits_mark_variants_and_keep_them_off_the_front() {
    let dir = scratch("sweep-limits");
    let spec = write_spec(&dir, "[limits]\nmax_area_mm2 = 1.0\n");
    let out = dir.join("out");
    let o = sweep(&spec, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (vh, variants) = read_csv(&out.join("variants.csv"));
    let over: Vec<&Vec<String>> = variants
        .iter()
        .filter(|v| v[col(&vh, "status")] == "over_limit")
        .collect();
    // The 12×14 array is over 1 mm² (Eyeriss-like PEs are ~6000 µm² each).
    assert_eq!(over.len(), 2);
    assert!(over.iter().all(|v| v[col(&vh, "pe")] == "12x14"));
    assert!(over[0][col(&vh, "reason")].contains("area"));
    let (_, front) = read_csv(&out.join("pareto.csv"));
    assert!(front.iter().all(|r| r[col(&vh, "pe")] == "8x8"));
}

#[test]
fn same_seed_same_rows_at_any_thread_count() {
    let dir = scratch("sweep-threads");
    let spec = write_spec(&dir, "[strategy]\nkind = \"genetic\"\nvariants = 4\n");
    let a = dir.join("a");
    let b = dir.join("b");
    assert!(sweep(&spec, &a, &["--threads", "1", "--seed", "5"])
        .status
        .success());
    assert!(sweep(&spec, &b, &["--threads", "2", "--seed", "5"])
        .status
        .success());
    for f in ["results.csv", "variants.csv", "pareto.csv"] {
        assert_eq!(without_time(&a.join(f)), without_time(&b.join(f)), "{f}");
    }
    let (_, v) = read_csv(&a.join("variants.csv"));
    assert_eq!(v.len(), 4);
}

#[test]
fn spec_errors_stop_before_any_work_with_a_location() {
    let dir = scratch("sweep-errors");
    let cases = [
        (
            "target = \"pe_array\"",
            "target = \"level.GLB.size_kib\"",
            "param[0].target",
            "no level `GLB`",
        ),
        (
            "values = [\"8x8\", \"12x14\"]",
            "values = [\"8by8\"]",
            "param[0].values",
            "ROWSxCOLS",
        ),
        (
            "algo = \"exhaustive\"",
            "algo = \"random\"",
            "search.budget",
            "budget",
        ),
        (
            "objectives = [\"latency\", \"energy\"]",
            "objectives = [\"speed\"]",
            "objectives[0]",
            "unknown objective",
        ),
    ];
    for (from, to, location, message) in cases {
        let spec = write_spec(&dir, "");
        let text = fs::read_to_string(&spec).unwrap().replacen(from, to, 1);
        fs::write(&spec, text).unwrap();
        let out = dir.join("never");
        let o = sweep(&spec, &out, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(location) && err.contains(message), "{err}");
        assert!(!out.exists(), "no work before the spec is valid");
    }
}
