//! Validation against Timeloop's reference outputs (`../shared/reference/timeloop`).
//!
//! Every dense case is imported with `loomap import timeloop` (the library call), its
//! reference mapping evaluated with the model, and the result compared with `summary.csv`
//! (cycles within 0.5 %, total energy within 1 % of `energy_pJ_derived`) and
//! `per_level_stats.csv` (reads, fills and updates per instance, per level and tensor,
//! within 0.5 %). All mismatches of all cases are printed as one table.
//!
//! Cases the model does not match yet are listed in [`KNOWN_MODEL_GAPS`]: they are reported as
//! `gap` but do not fail the test. A listed case that matches fails the test, so that the list
//! shrinks as the model is fixed. See everything with
//! `cargo test --test it reference -- --nocapture`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use loomap::{io, model};

/// Cases whose mismatches are known model gaps (case, reason). Remove an entry once the model
/// matches the case; the test then asserts it.
const KNOWN_MODEL_GAPS: &[(&str, &str)] = &[];

pub(crate) const CYCLES_TOL: f64 = 0.005;
pub(crate) const ENERGY_TOL: f64 = 0.01;
pub(crate) const COUNT_TOL: f64 = 0.005;

/// `../shared/reference/timeloop` beside the project; from a git worktree two levels down
/// (`wt/NAME`), the shared folder is one level further up.
pub(crate) fn reference_root() -> PathBuf {
    shared_reference("timeloop").unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/timeloop")
    })
}

/// `../shared/reference/<sub>` beside the repo, or two levels up from a git worktree; `None`
/// when neither exists (tests then skip with a message).
pub(crate) fn shared_reference(sub: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        root.join("../shared/reference").join(sub),
        root.join("../../shared/reference").join(sub),
    ]
    .into_iter()
    .find(|p| p.is_dir())
}

/// A case to validate: its name, the files to import, and Timeloop's pretty-printed mapping
/// (`*.map.txt`), which must import to the same mapping as the YAML one.
struct Case {
    name: String,
    files: Vec<PathBuf>,
    map_txt: Option<PathBuf>,
    /// Counting rules written into the imported arch file (`rules = ...`), if not today's.
    rules: Option<&'static str>,
}

pub(crate) fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml") {
            out.push(p);
        }
    }
}

pub(crate) fn with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut all = Vec::new();
    yaml_files(dir, &mut all);
    all.into_iter()
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect()
}

fn with_suffix_txt(dir: &Path) -> Option<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".map.txt"))
        .collect();
    paths.sort();
    paths.into_iter().next()
}

/// The dense cases with a reference mapping, and the skipped ones with the reason.
fn cases(root: &Path) -> (Vec<Case>, Vec<(String, String)>) {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut cases = Vec::new();
    let mut skipped = Vec::new();
    for name in names {
        let dir = root.join(&name);
        let (inputs, refs) = (dir.join("inputs"), dir.join("ref_output"));
        let tables = || {
            let mut t = with_suffix(&refs, ".ERT.yaml");
            t.extend(with_suffix(&refs, ".ART.yaml"));
            t
        };
        let given = ["tl00", "tl01", "tl02", "tl03", "tl04"]
            .iter()
            .any(|p| name.starts_with(p));
        let mapper = ["tl05_", "tl06_", "tla_", "ed_"]
            .iter()
            .any(|p| name.starts_with(p));
        if name == "ed_sparse_tensor_core_like" {
            skipped.push((name, "sparse (Sparseloop) case".into()));
        } else if given || mapper {
            let mut files = vec![refs.join("parsed-processed-input.yaml")];
            if given {
                files.extend(with_suffix(&inputs, ".map.yaml"));
            } else {
                files.extend(with_suffix(&refs, ".map.yaml"));
            }
            files.extend(tables());
            let map_txt = with_suffix_txt(&refs);
            cases.push(Case {
                name,
                files,
                map_txt,
                rules: None,
            });
        } else if name.starts_with("legacy2020_") {
            let maps: Vec<PathBuf> = with_suffix(&dir, ".map.yaml");
            if maps.is_empty() {
                skipped.push((name, "no *.map.yaml (only map.txt)".into()));
                continue;
            }
            let mut files = Vec::new();
            yaml_files(&inputs, &mut files);
            files.extend(maps);
            files.extend(tables());
            let map_txt = with_suffix_txt(&refs);
            cases.push(Case {
                name,
                files,
                map_txt,
                rules: None,
            });
        }
    }
    (cases, skipped)
}

/// Minimal CSV reader (quoted fields may hold commas and doubled quotes).
pub(crate) fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut rows: Vec<Vec<String>> = Vec::new();
    let (mut row, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            ('\r', false) => {}
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    let header = rows.first().cloned().unwrap_or_default();
    rows.into_iter()
        .skip(1)
        .map(|r| header.iter().cloned().zip(r).collect())
        .collect()
}

struct Mismatch {
    case: String,
    level: String,
    tensor: String,
    quantity: String,
    ours: String,
    theirs: String,
}

fn num(row: &BTreeMap<String, String>, key: &str) -> Option<f64> {
    row.get(key).and_then(|v| v.trim().parse::<f64>().ok())
}

pub(crate) fn close(ours: f64, theirs: f64, tol: f64) -> bool {
    if theirs == 0.0 {
        ours == 0.0
    } else {
        ((ours - theirs) / theirs).abs() <= tol
    }
}

/// The imported architecture against the specs Timeloop printed: instances and mesh, size,
/// word bits and block size of every level listed in `per_level_stats.csv`.
fn check_arch(
    case: &str,
    arch: &loomap::arch::Arch,
    levels: &[&BTreeMap<String, String>],
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for row in levels {
        let name = row.get("level").cloned().unwrap_or_default();
        if row.get("dataspace").map(String::as_str) == Some("(compute)") {
            continue;
        }
        let Some(l) = arch.level_id(&name).map(|i| &arch.levels[i]) else {
            continue; // reported by the count comparison
        };
        let mut expect = |q: &str, ours: String, theirs: Option<String>| {
            if let Some(theirs) = theirs {
                if ours != theirs {
                    out.push(Mismatch {
                        case: case.into(),
                        level: name.clone(),
                        tensor: "-".into(),
                        quantity: q.into(),
                        ours,
                        theirs,
                    });
                }
            }
        };
        let mesh = format!("{} ({}*{})", l.instances, l.mesh_x, l.mesh_y);
        expect("instances", mesh, row.get("instances").cloned());
        let size = l.size_words.map_or("-".to_string(), |s| s.to_string());
        let theirs_size = row.get("size_words").cloned();
        // A bounded backing store is imported as a DRAM that keeps its capacity.
        expect("size_words", size, theirs_size);
        expect(
            "word_bits",
            l.word_bits.to_string(),
            row.get("word_bits").cloned(),
        );
        expect(
            "block_size",
            l.block_size.to_string(),
            row.get("block_size").cloned(),
        );
    }
    out
}

/// Imports, evaluates and compares one case; returns its mismatches (an error is one too).
fn check_case(
    case: &Case,
    summary: &BTreeMap<String, String>,
    levels: &[&BTreeMap<String, String>],
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let miss = |out: &mut Vec<Mismatch>,
                level: &str,
                tensor: &str,
                quantity: &str,
                ours: String,
                theirs: String| {
        out.push(Mismatch {
            case: case.name.clone(),
            level: level.into(),
            tensor: tensor.into(),
            quantity: quantity.into(),
            ours,
            theirs,
        })
    };
    let imported = match io::timeloop::import(&case.files) {
        Ok(i) => i,
        Err(e) => {
            miss(&mut out, "-", "-", "import", e.to_string(), "ok".into());
            return out;
        }
    };
    let files: BTreeMap<&str, String> = imported.files().into_iter().collect();
    let (Some(a), Some(w), Some(m)) = (
        files.get("arch.toml"),
        files.get("workload.toml"),
        files.get("mapping.toml"),
    ) else {
        miss(
            &mut out,
            "-",
            "-",
            "import",
            "arch, workload or mapping missing".into(),
            "all three".into(),
        );
        return out;
    };
    // A user of a 2020 Timeloop release adds `rules = "timeloop-2020"` to the imported file.
    let a = match case.rules {
        Some(r) => a.replacen("\nname = ", &format!("\nrules = \"{r}\"\nname = "), 1),
        None => a.clone(),
    };
    // Through the written TOML, as a user would load it.
    let loaded = io::parse_arch(&a, Path::new("arch.toml")).and_then(|arch| {
        let workload = io::parse_workload(w, Path::new("workload.toml"))?;
        let problem = workload.layers[0].problem.clone();
        let mapping = io::parse_mapping(m, Path::new("mapping.toml"), &arch, &problem)?;
        Ok((arch, problem, mapping))
    });
    let (arch, problem, mapping) = match loaded {
        Ok(x) => x,
        Err(e) => {
            miss(&mut out, "-", "-", "load TOML", e.to_string(), "ok".into());
            return out;
        }
    };
    out.extend(check_arch(&case.name, &arch, levels));

    // The pretty-printed loop nest must describe the same mapping.
    if let Some(txt) = &case.map_txt {
        let mut files: Vec<PathBuf> = case
            .files
            .iter()
            .filter(|p| !p.to_string_lossy().ends_with(".map.yaml"))
            .cloned()
            .collect();
        files.push(txt.clone());
        let again = io::timeloop::import(&files).and_then(|i| {
            let text = i.files().into_iter().find(|(n, _)| *n == "mapping.toml");
            let text = text.map(|(_, t)| t).unwrap_or_default();
            io::parse_mapping(&text, txt, &arch, &problem)
        });
        match again {
            Ok(m) if m == mapping => {}
            Ok(_) => miss(
                &mut out,
                "-",
                "-",
                "map.txt mapping",
                "differs".into(),
                "same as map.yaml".into(),
            ),
            Err(e) => miss(
                &mut out,
                "-",
                "-",
                "map.txt import",
                e.to_string(),
                "ok".into(),
            ),
        }
    }

    let mut stats = model::Stats::default();
    let summary_ours = match model::evaluate_into(&arch, &problem, &mapping, &mut stats) {
        Ok(s) => s,
        Err(why) => {
            miss(
                &mut out,
                "-",
                "-",
                "evaluate",
                why.describe(&arch),
                "feasible".into(),
            );
            return out;
        }
    };

    if let Some(cycles) = num(summary, "cycles") {
        if !close(summary_ours.cycles as f64, cycles, CYCLES_TOL) {
            miss(
                &mut out,
                "(total)",
                "-",
                "cycles",
                summary_ours.cycles.to_string(),
                format!("{cycles}"),
            );
        }
    }
    if let Some(energy) = num(summary, "energy_pJ_derived") {
        if !close(summary_ours.energy_pj, energy, ENERGY_TOL) {
            miss(
                &mut out,
                "(total)",
                "-",
                "energy_pJ",
                format!("{:.3}", summary_ours.energy_pj),
                format!("{energy:.3}"),
            );
        }
    }
    for row in levels {
        let level = row.get("level").cloned().unwrap_or_default();
        let tensor = row.get("dataspace").cloned().unwrap_or_default();
        if tensor == "(compute)" {
            continue;
        }
        let Some(lvl) = arch.level_id(&level) else {
            miss(
                &mut out,
                &level,
                &tensor,
                "level",
                "absent".into(),
                "present".into(),
            );
            continue;
        };
        let Some(t) = problem.tensor_id(&tensor) else {
            miss(
                &mut out,
                &level,
                &tensor,
                "tensor",
                "absent".into(),
                "present".into(),
            );
            continue;
        };
        let ts = &stats.tensors[lvl][t];
        if !ts.kept {
            miss(
                &mut out,
                &level,
                &tensor,
                "kept",
                "bypassed".into(),
                "kept".into(),
            );
            continue;
        }
        for (q, ours) in [
            ("reads", ts.reads),
            ("fills", ts.fills),
            ("updates", ts.updates),
        ] {
            let Some(theirs) = num(row, &format!("{q}_per_instance")) else {
                continue;
            };
            if !close(ours as f64, theirs, COUNT_TOL) {
                miss(
                    &mut out,
                    &level,
                    &tensor,
                    q,
                    ours.to_string(),
                    format!("{theirs}"),
                );
            }
        }
    }
    out
}

pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = String::new();
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            let pad = width[c].saturating_sub(cell.chars().count());
            let _ = write!(s, "{cell}{}  ", " ".repeat(pad));
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
    }
    s
}

#[test]
fn dense_cases_match_timeloop() {
    let root = reference_root();
    if !root.is_dir() {
        println!(
            "SKIPPED: Timeloop reference data not found at {} (expected ../shared/reference/timeloop next to the project)",
            root.display()
        );
        return;
    }
    let summary = read_csv(&root.join("summary.csv"));
    let per_level = read_csv(&root.join("per_level_stats.csv"));
    let (cases, skipped) = cases(&root);
    assert!(
        !cases.is_empty(),
        "no reference cases found under {}",
        root.display()
    );

    let mut mismatches = Vec::new();
    let mut status = vec![vec![
        "case".to_string(),
        "status".into(),
        "mismatches".into(),
        "note".into(),
    ]];
    let mut failures = Vec::new();
    for case in &cases {
        let Some(sum) = summary.iter().find(|r| r.get("case") == Some(&case.name)) else {
            failures.push(format!("{}: no row in summary.csv", case.name));
            continue;
        };
        let levels: Vec<&BTreeMap<String, String>> = per_level
            .iter()
            .filter(|r| r.get("case") == Some(&case.name))
            .collect();
        let found = check_case(case, sum, &levels);
        let gap = KNOWN_MODEL_GAPS.iter().find(|(c, _)| *c == case.name);
        let (state, note) = match (found.is_empty(), gap) {
            (true, None) => ("pass", String::new()),
            (false, Some((_, why))) => ("gap", why.to_string()),
            (false, None) => {
                failures.push(format!("{}: {} mismatch(es)", case.name, found.len()));
                ("FAIL", String::new())
            }
            (true, Some(_)) => {
                failures.push(format!(
                    "{}: matches now; remove it from KNOWN_MODEL_GAPS",
                    case.name
                ));
                ("FIXED", "remove from KNOWN_MODEL_GAPS".to_string())
            }
        };
        status.push(vec![
            case.name.clone(),
            state.into(),
            found.len().to_string(),
            note,
        ]);
        mismatches.extend(found);
    }
    for (name, why) in &skipped {
        status.push(vec![
            name.clone(),
            "skipped".into(),
            "-".into(),
            why.clone(),
        ]);
    }

    println!("Timeloop reference validation ({})\n", root.display());
    print!("{}", table(&status));
    if !mismatches.is_empty() {
        println!(
            "\nMismatches (all cases):\n{}",
            mismatch_table(&mismatches, "theirs")
        );
    }
    assert!(
        failures.is_empty(),
        "reference validation failed:\n  {}",
        failures.join("\n  ")
    );
}

/// The raw v0.4 inputs of the tutorial cases (`!Container`/`!Component` nodes, problem and
/// mapping files as the user wrote them) import to the same architecture, problem and mapping
/// as the `parsed-processed-input.yaml` Timeloop resolved from them.
#[test]
fn raw_v04_inputs_import_like_processed_ones() {
    let root = reference_root();
    if !root.is_dir() {
        println!("SKIPPED: no Timeloop reference data at {}", root.display());
        return;
    }
    let load = |files: Vec<PathBuf>| {
        let imported = io::timeloop::import(&files).unwrap_or_else(|e| panic!("{e}"));
        let f: BTreeMap<&str, String> = imported.files().into_iter().collect();
        let mut arch = io::parse_arch(&f["arch.toml"], Path::new("arch.toml")).unwrap();
        arch.name.clear(); // `System` vs the resolved `System_top_level`
        let w = io::parse_workload(&f["workload.toml"], Path::new("w.toml")).unwrap();
        let p = w.layers[0].problem.clone();
        let m = io::parse_mapping(&f["mapping.toml"], Path::new("m.toml"), &arch, &p).unwrap();
        (arch, p, m)
    };
    let mut checked = 0;
    for case in ["tl00", "tl01", "tl02", "tl03", "tl04"] {
        let Ok(rd) = std::fs::read_dir(&root) else {
            return;
        };
        let mut dirs: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(case))
            })
            .collect();
        dirs.sort();
        for dir in dirs {
            let refs = dir.join("ref_output");
            let mut tables = with_suffix(&refs, ".ERT.yaml");
            tables.extend(with_suffix(&refs, ".ART.yaml"));
            let mut raw = Vec::new();
            yaml_files(&dir.join("inputs"), &mut raw);
            let mut processed = vec![refs.join("parsed-processed-input.yaml")];
            processed.extend(with_suffix(&dir.join("inputs"), ".map.yaml"));
            raw.extend(tables.iter().cloned());
            processed.extend(tables);
            let (a, p, m) = load(raw);
            let (a2, p2, m2) = load(processed);
            assert_eq!(a, a2, "{}: architecture", dir.display());
            assert_eq!(p, p2, "{}: problem", dir.display());
            assert_eq!(m, m2, "{}: mapping", dir.display());
            checked += 1;
        }
    }
    assert!(checked > 0, "no tutorial case tl00-tl04 found");
    println!("raw v0.4 inputs import like the processed ones: {checked} cases");
}

/// The 2020 (v0.3) cases have no `*.map.yaml`; their mapping is imported from the
/// pretty-printed `*.map.txt`. They are evaluated under Timeloop's 2020 counting rules
/// (`rules = "timeloop-2020"`: a read-write tensor's fills include the first tile) and must
/// match like the dense cases: cycles, energy and every per-level count within the same
/// tolerances. Under today's rules the output fills differ, which shows the rule is what
/// makes them match.
#[test]
fn legacy_v03_cases_match_timeloop_2020() {
    let root = reference_root();
    if !root.is_dir() {
        println!("SKIPPED: no Timeloop reference data at {}", root.display());
        return;
    }
    let summary = read_csv(&root.join("summary.csv"));
    let per_level = read_csv(&root.join("per_level_stats.csv"));
    let Ok(rd) = std::fs::read_dir(&root) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("legacy2020_"))
        })
        .collect();
    dirs.sort();
    let mut mismatches = Vec::new();
    let mut under_today = Vec::new();
    let mut compared = 0;
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let refs = dir.join("ref_output");
        let mut files = Vec::new();
        yaml_files(&dir.join("inputs"), &mut files);
        files.extend(with_suffix_txt(&refs));
        files.extend(with_suffix(&refs, ".ERT.yaml"));
        files.extend(with_suffix(&refs, ".ART.yaml"));
        let Some(sum) = summary.iter().find(|r| r.get("case") == Some(&name)) else {
            continue;
        };
        let levels: Vec<&BTreeMap<String, String>> = per_level
            .iter()
            .filter(|r| r.get("case") == Some(&name))
            .collect();
        let mut case = Case {
            name: name.clone(),
            files,
            map_txt: None,
            rules: Some("timeloop-2020"),
        };
        mismatches.extend(check_case(&case, sum, &levels));
        case.rules = None;
        under_today.extend(check_case(&case, sum, &levels));
        compared += 1;
    }
    let rows = |ms: &[Mismatch]| mismatch_table(ms, "theirs (2020)");
    println!("legacy 2020 cases compared: {compared}");
    assert!(
        mismatches.is_empty(),
        "legacy 2020 mismatches:\n{}",
        rows(&mismatches)
    );
    if compared > 0 {
        assert!(
            under_today.iter().any(|m| m.quantity == "fills"),
            "today's rules should differ from 2020's on output fills"
        );
    }
}

/// One row per mismatch, with a header.
fn mismatch_table(ms: &[Mismatch], theirs_label: &str) -> String {
    let mut rows = vec![
        ["case", "level", "tensor", "quantity", "ours", theirs_label]
            .map(String::from)
            .to_vec(),
    ];
    rows.extend(ms.iter().map(|m| {
        vec![
            m.case.clone(),
            m.level.clone(),
            m.tensor.clone(),
            m.quantity.clone(),
            m.ours.clone(),
            m.theirs.clone(),
        ]
    }));
    table(&rows)
}
