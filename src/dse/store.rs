//! A sweep's output directory: `run.toml` (what was run), `results.csv` (one row per
//! finished (variant, layer), appended and flushed as each search ends), and at the end
//! `variants.csv` (network totals per variant) and `pareto.csv` (the front).
//!
//! Resuming: `results.csv` is read back on open; a row cut short by a kill (no final newline)
//! is dropped, every complete row counts as done and is never searched again. `run.toml` must
//! describe the same sweep (inputs fingerprint, seed, shard), so rows from different sweeps
//! never mix. These files are loomap's own output read back, which is why this module (and not
//! `io`) parses them.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::pareto::{self, Standing};
use super::{DseError, Limits, ParetoMetric, RunOptions, SweepPlan};

/// The layer name of a row that stands for a whole variant (it failed before any search).
pub const WHOLE_VARIANT: &str = "*";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowStatus {
    Ok,
    /// No mapping of the layer fits the variant.
    Infeasible,
    /// The parameters make an invalid architecture.
    Invalid,
    /// Over a hardware limit known before searching (area).
    OverLimit,
    /// The layer's map space could not be built (e.g. constraints that name a missing level).
    Error,
}

impl RowStatus {
    pub fn name(self) -> &'static str {
        match self {
            RowStatus::Ok => "ok",
            RowStatus::Infeasible => "infeasible",
            RowStatus::Invalid => "invalid",
            RowStatus::OverLimit => "over_limit",
            RowStatus::Error => "error",
        }
    }

    fn parse(s: &str) -> Option<RowStatus> {
        Some(match s {
            "ok" => RowStatus::Ok,
            "infeasible" => RowStatus::Infeasible,
            "invalid" => RowStatus::Invalid,
            "over_limit" => RowStatus::OverLimit,
            "error" => RowStatus::Error,
            _ => return None,
        })
    }
}

/// One finished (variant, layer) search.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerRow {
    pub variant: u64,
    pub layer: String,
    pub repeat: u64,
    pub status: RowStatus,
    pub reason: String,
    pub params: Vec<String>,
    pub clock_ghz: f64,
    pub cycles: u64,
    pub energy_pj: f64,
    pub area_um2: f64,
    pub utilization: f64,
    pub macs: u64,
    pub evaluations: u64,
    pub search_s: f64,
    pub optimal: bool,
    /// Per storage level (outermost first), then the MACs; one run of the layer.
    pub level_energy_pj: Vec<f64>,
}

impl LayerRow {
    /// A row for a variant or layer that produced no mapping.
    pub fn failed(variant: u64, params: Vec<String>, status: RowStatus, reason: String) -> Self {
        LayerRow {
            variant,
            layer: WHOLE_VARIANT.into(),
            repeat: 1,
            status,
            reason,
            params,
            clock_ghz: f64::NAN,
            cycles: 0,
            energy_pj: f64::NAN,
            area_um2: f64::NAN,
            utilization: f64::NAN,
            macs: 0,
            evaluations: 0,
            search_s: 0.0,
            optimal: false,
            level_energy_pj: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantStatus {
    Ok,
    /// Invalid architecture, or a layer with no feasible mapping.
    Failed,
    /// Over the area, power or throughput limit.
    OverLimit,
    /// Not every layer has a row (an interrupted run or a single shard).
    Incomplete,
}

impl VariantStatus {
    pub fn name(self) -> &'static str {
        match self {
            VariantStatus::Ok => "ok",
            VariantStatus::Failed => "failed",
            VariantStatus::OverLimit => "over_limit",
            VariantStatus::Incomplete => "incomplete",
        }
    }

    pub fn parse(s: &str) -> Option<VariantStatus> {
        Some(match s {
            "ok" => VariantStatus::Ok,
            "failed" => VariantStatus::Failed,
            "over_limit" => VariantStatus::OverLimit,
            "incomplete" => VariantStatus::Incomplete,
            _ => return None,
        })
    }
}

/// Network totals of one variant (each layer × its repeat count).
#[derive(Debug, Clone, PartialEq)]
pub struct VariantRow {
    pub variant: u64,
    pub status: VariantStatus,
    pub reason: String,
    pub params: Vec<String>,
    pub clock_ghz: f64,
    pub cycles: u64,
    pub energy_pj: f64,
    pub area_um2: f64,
    /// Cycle-weighted mean of the layers' MAC utilization.
    pub utilization: f64,
    pub level_energy_pj: Vec<f64>,
}

impl VariantRow {
    pub fn edp(&self) -> f64 {
        self.energy_pj * self.cycles as f64
    }

    pub fn seconds(&self) -> f64 {
        self.cycles as f64 / (self.clock_ghz * 1e9)
    }

    /// Average power over one run of the workload.
    pub fn power_w(&self) -> f64 {
        self.energy_pj * 1e-12 / self.seconds()
    }

    pub fn inferences_per_s(&self) -> f64 {
        1.0 / self.seconds()
    }
}

/// What `run.toml` records; also what `merge` and `plot` need to rebuild totals without the
/// sweep spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub loomap_version: String,
    pub command_line: String,
    pub sweep: String,
    pub seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    pub fingerprint: String,
    pub params: Vec<String>,
    pub layers: Vec<String>,
    pub repeats: Vec<u64>,
    pub level_names: Vec<String>,
    pub pareto: Vec<String>,
    /// The resolved sweep spec.
    pub spec: String,
    pub limits: Limits,
}

impl RunRecord {
    pub fn of(plan: &SweepPlan, opts: &RunOptions) -> RunRecord {
        RunRecord {
            loomap_version: env!("CARGO_PKG_VERSION").into(),
            command_line: opts.command_line.clone(),
            sweep: plan.name.clone(),
            seed: plan.search.seed,
            shard: opts.shard.map(|(i, n)| format!("{i}/{n}")),
            fingerprint: plan.fingerprint.clone(),
            params: plan.params.iter().map(|p| p.name.clone()).collect(),
            layers: plan.layers.iter().map(|l| l.name.clone()).collect(),
            repeats: plan.layers.iter().map(|l| l.repeat).collect(),
            level_names: plan.level_names.clone(),
            pareto: plan.pareto.iter().map(|m| m.name().to_string()).collect(),
            spec: plan.spec_text.clone(),
            limits: plan.limits,
        }
    }

    pub fn load(dir: &Path) -> Result<RunRecord, DseError> {
        let path = dir.join("run.toml");
        let text = fs::read_to_string(&path)
            .map_err(|e| DseError::Store(format!("{}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| {
            DseError::Store(format!(
                "{}: not a loomap run record: {e}\n  hint: point at a directory written by `loomap sweep`",
                path.display()
            ))
        })
    }

    pub fn pareto_metrics(&self) -> Result<Vec<ParetoMetric>, DseError> {
        self.pareto
            .iter()
            .map(|m| {
                ParetoMetric::parse(m)
                    .ok_or_else(|| DseError::Store(format!("run.toml: unknown objective `{m}`")))
            })
            .collect()
    }

    /// Columns of `results.csv`.
    pub fn results_header(&self) -> Vec<String> {
        self.header(
            &["variant", "layer", "repeat", "status", "reason"],
            &[
                "clock_ghz",
                "cycles",
                "energy_pj",
                "area_um2",
                "edp",
                "utilization",
                "macs",
                "evaluations",
                "search_s",
                "optimal",
            ],
        )
    }

    /// Columns of `variants.csv` and `pareto.csv`.
    pub fn variants_header(&self) -> Vec<String> {
        self.header(
            &["variant", "status", "reason", "pareto"],
            &[
                "clock_ghz",
                "cycles",
                "energy_pj",
                "area_um2",
                "edp",
                "power_w",
                "inferences_per_s",
                "utilization",
            ],
        )
    }

    /// Leading columns, one per parameter, the metrics, then energy per level.
    fn header(&self, leading: &[&str], metrics: &[&str]) -> Vec<String> {
        leading
            .iter()
            .map(|s| s.to_string())
            .chain(self.params.iter().cloned())
            .chain(metrics.iter().map(|s| s.to_string()))
            .chain(self.energy_columns())
            .collect()
    }

    fn energy_columns(&self) -> Vec<String> {
        self.level_names
            .iter()
            .map(|l| format!("energy_{l}_pj"))
            .chain(std::iter::once("energy_compute_pj".to_string()))
            .collect()
    }

    /// Same sweep (a resumed run may differ only in its command line).
    fn same_sweep(&self, other: &RunRecord) -> Result<(), String> {
        if self.fingerprint != other.fingerprint {
            return Err(
                "its inputs differ (sweep spec, architecture, workload or constraints changed)"
                    .into(),
            );
        }
        if self.seed != other.seed {
            return Err(format!(
                "it used --seed {}, this run {}",
                self.seed, other.seed
            ));
        }
        if self.shard != other.shard {
            return Err(format!(
                "it ran shard {}, this run {}",
                self.shard.as_deref().unwrap_or("all"),
                other.shard.as_deref().unwrap_or("all")
            ));
        }
        Ok(())
    }
}

fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        format!("{v}")
    }
}

fn parse_f64(s: &str) -> Option<f64> {
    if s.is_empty() {
        Some(f64::NAN)
    } else {
        s.parse().ok()
    }
}

fn row_record(r: &LayerRow, energy_columns: usize) -> Vec<String> {
    let mut v = vec![
        r.variant.to_string(),
        r.layer.clone(),
        r.repeat.to_string(),
        r.status.name().to_string(),
        r.reason.clone(),
    ];
    v.extend(r.params.iter().cloned());
    let ok = r.status == RowStatus::Ok;
    let int = |x: u64| if ok { x.to_string() } else { String::new() };
    v.push(fmt_f64(r.clock_ghz));
    v.push(int(r.cycles));
    v.push(fmt_f64(r.energy_pj));
    v.push(fmt_f64(r.area_um2));
    v.push(if ok {
        fmt_f64(r.energy_pj * r.cycles as f64)
    } else {
        String::new()
    });
    v.push(fmt_f64(r.utilization));
    v.push(int(r.macs));
    v.push(r.evaluations.to_string());
    v.push(format!("{:.3}", r.search_s));
    v.push(r.optimal.to_string());
    for i in 0..energy_columns {
        v.push(
            r.level_energy_pj
                .get(i)
                .map_or(String::new(), |&e| fmt_f64(e)),
        );
    }
    v
}

fn parse_row(rec: &csv::StringRecord, run: &RunRecord) -> Result<LayerRow, String> {
    let np = run.params.len();
    let ne = run.level_names.len() + 1;
    if rec.len() != 15 + np + ne {
        return Err(format!("{} fields, expected {}", rec.len(), 15 + np + ne));
    }
    let f = |i: usize| rec.get(i).unwrap_or("");
    let int = |i: usize, what: &str| -> Result<u64, String> {
        let s = f(i);
        if s.is_empty() {
            return Ok(0);
        }
        s.parse()
            .map_err(|_| format!("{what} `{s}` is not a whole number"))
    };
    let num = |i: usize, what: &str| -> Result<f64, String> {
        parse_f64(f(i)).ok_or_else(|| format!("{what} `{}` is not a number", f(i)))
    };
    let status = RowStatus::parse(f(3)).ok_or_else(|| format!("unknown status `{}`", f(3)))?;
    let base = 5 + np;
    Ok(LayerRow {
        variant: int(0, "variant")?,
        layer: f(1).to_string(),
        repeat: int(2, "repeat")?,
        status,
        reason: f(4).to_string(),
        params: (5..base).map(|i| f(i).to_string()).collect(),
        clock_ghz: num(base, "clock_ghz")?,
        cycles: int(base + 1, "cycles")?,
        energy_pj: num(base + 2, "energy_pj")?,
        area_um2: num(base + 3, "area_um2")?,
        utilization: num(base + 5, "utilization")?,
        macs: int(base + 6, "macs")?,
        evaluations: int(base + 7, "evaluations")?,
        search_s: num(base + 8, "search_s")?,
        optimal: f(base + 9) == "true",
        level_energy_pj: (0..ne)
            .map(|i| num(base + 10 + i, "energy"))
            .collect::<Result<_, _>>()?,
    })
}

/// Reads `results.csv` rows. A last line without its newline (the run was killed while
/// writing it) is cut off the file when `repair` is set, and ignored otherwise.
pub fn read_results(dir: &Path, run: &RunRecord, repair: bool) -> Result<Vec<LayerRow>, DseError> {
    let path = dir.join("results.csv");
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(DseError::Store(format!("{}: {e}", path.display()))),
    };
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    if complete < bytes.len() && repair {
        let f = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| DseError::Store(format!("{}: {e}", path.display())))?;
        f.set_len(complete as u64)
            .map_err(|e| DseError::Store(format!("{}: {e}", path.display())))?;
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(&bytes[..complete]);
    let bad = |line: u64, msg: String| {
        DseError::Store(format!(
            "{}: line {line}: {msg}\n  hint: the file was not written by this sweep; move it away or use another --out",
            path.display()
        ))
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| bad(1, e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    if complete > 0 && header != run.results_header() {
        return Err(bad(1, "its columns differ from this sweep's".into()));
    }
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| bad(line, e.to_string()))?;
        rows.push(parse_row(&rec, run).map_err(|m| bad(line, m))?);
    }
    Ok(rows)
}

struct Inner {
    file: File,
    rows: Vec<LayerRow>,
    done: HashSet<(u64, String)>,
}

/// The open output directory of a running sweep.
pub struct Store {
    dir: PathBuf,
    run: RunRecord,
    inner: Mutex<Inner>,
}

fn io_err(path: &Path, e: std::io::Error) -> DseError {
    DseError::Store(format!("{}: {e}", path.display()))
}

fn csv_line(fields: &[String]) -> Result<Vec<u8>, DseError> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(fields)
        .map_err(|e| DseError::Store(e.to_string()))?;
    w.into_inner().map_err(|e| DseError::Store(e.to_string()))
}

impl Store {
    pub fn open(plan: &SweepPlan, opts: &RunOptions) -> Result<Store, DseError> {
        let dir = opts.out.clone();
        fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        let run = RunRecord::of(plan, opts);
        let run_path = dir.join("run.toml");
        if run_path.exists() {
            let old = RunRecord::load(&dir)?;
            old.same_sweep(&run).map_err(|why| {
                DseError::Store(format!(
                    "{} holds another sweep: {why}\n  hint: use a new --out directory, or delete this one to start over",
                    dir.display()
                ))
            })?;
        } else {
            let text = toml::to_string(&run).map_err(|e| DseError::Store(e.to_string()))?;
            fs::write(&run_path, text).map_err(|e| io_err(&run_path, e))?;
        }
        let rows = read_results(&dir, &run, true)?;
        let path = dir.join("results.csv");
        let fresh = !path.exists() || fs::metadata(&path).map(|m| m.len() == 0).unwrap_or(true);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        if fresh {
            file.write_all(&csv_line(&run.results_header())?)
                .and_then(|_| file.flush())
                .map_err(|e| io_err(&path, e))?;
        }
        let done = rows.iter().map(|r| (r.variant, r.layer.clone())).collect();
        Ok(Store {
            dir,
            run,
            inner: Mutex::new(Inner { file, rows, done }),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, DseError> {
        self.inner
            .lock()
            .map_err(|_| DseError::Store("results store poisoned by a panicked worker".into()))
    }

    pub fn rows_done(&self) -> u64 {
        self.lock().map_or(0, |i| i.rows.len() as u64)
    }

    pub fn is_done(&self, variant: u64, layer: &str) -> bool {
        self.lock().is_ok_and(|i| {
            i.done.contains(&(variant, layer.to_string()))
                || i.done.contains(&(variant, WHOLE_VARIANT.to_string()))
        })
    }

    pub fn variant_failed(&self, variant: u64) -> bool {
        self.is_done(variant, WHOLE_VARIANT)
    }

    /// Appends rows and flushes them to disk before returning.
    pub fn append(&self, rows: &[LayerRow]) -> Result<(), DseError> {
        let ne = self.run.level_names.len() + 1;
        let mut bytes = Vec::new();
        for r in rows {
            bytes.extend(csv_line(&row_record(r, ne))?);
        }
        let mut inner = self.lock()?;
        let path = self.dir.join("results.csv");
        inner
            .file
            .write_all(&bytes)
            .and_then(|_| inner.file.flush())
            .map_err(|e| io_err(&path, e))?;
        for r in rows {
            inner.done.insert((r.variant, r.layer.clone()));
            inner.rows.push(r.clone());
        }
        Ok(())
    }

    /// Totals of the given variants (all when `None`) from the rows so far.
    pub fn variant_rows(&self, only: Option<&[u64]>) -> Vec<VariantRow> {
        let rows = self.lock().map(|i| i.rows.clone()).unwrap_or_default();
        let mut v = aggregate(&self.run, &rows);
        if let Some(ids) = only {
            v.retain(|r| ids.contains(&r.variant));
        }
        v
    }

    /// Rewrites `results.csv` in (variant, layer) order and writes `variants.csv` and
    /// `pareto.csv`. Returns the totals and the front's indices into them.
    pub fn finish(self) -> Result<(Vec<VariantRow>, Vec<usize>), DseError> {
        let inner = self
            .inner
            .into_inner()
            .map_err(|_| DseError::Store("results store poisoned by a panicked worker".into()))?;
        drop(inner.file);
        write_outputs(&self.dir, &self.run, inner.rows)
    }
}

/// Sorts rows the way the finished `results.csv` lists them: by variant, then layer order of
/// the workload (whole-variant rows first).
fn sort_rows(run: &RunRecord, rows: &mut [LayerRow]) {
    let pos: BTreeMap<&str, usize> = run
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i + 1))
        .collect();
    rows.sort_by_key(|r| (r.variant, pos.get(r.layer.as_str()).copied().unwrap_or(0)));
}

/// Writes the three CSVs of a finished (or merged) sweep atomically (temporary file, then
/// rename), so a kill while finishing never leaves a truncated results file.
pub fn write_outputs(
    dir: &Path,
    run: &RunRecord,
    mut rows: Vec<LayerRow>,
) -> Result<(Vec<VariantRow>, Vec<usize>), DseError> {
    sort_rows(run, &mut rows);
    let ne = run.level_names.len() + 1;
    let mut text = csv_line(&run.results_header())?;
    for r in &rows {
        text.extend(csv_line(&row_record(r, ne))?);
    }
    write_atomic(&dir.join("results.csv"), &text)?;
    let variants = aggregate(run, &rows);
    let metrics = run.pareto_metrics()?;
    let standings = standings_of(&variants, &metrics);
    let mut all = csv_line(&run.variants_header())?;
    for (v, s) in variants.iter().zip(&standings) {
        all.extend(csv_line(&variant_record(v, *s, &variants))?);
    }
    write_atomic(&dir.join("variants.csv"), &all)?;
    let front = front_of(&variants, &metrics);
    let mut pf = csv_line(&run.variants_header())?;
    for &i in &front {
        pf.extend(csv_line(&variant_record(
            &variants[i],
            Some(Standing::Front),
            &variants,
        ))?);
    }
    write_atomic(&dir.join("pareto.csv"), &pf)?;
    Ok((variants, front))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DseError> {
    let tmp = path.with_extension("csv.tmp");
    fs::write(&tmp, bytes).map_err(|e| io_err(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

fn objectives(v: &VariantRow, metrics: &[ParetoMetric]) -> Vec<f64> {
    if v.status != VariantStatus::Ok {
        return vec![f64::NAN; metrics.len()];
    }
    metrics.iter().map(|m| m.of(v)).collect()
}

/// Standing of every variant (`None` for those not compared: not ok).
pub fn standings_of(variants: &[VariantRow], metrics: &[ParetoMetric]) -> Vec<Option<Standing>> {
    let points: Vec<Vec<f64>> = variants.iter().map(|v| objectives(v, metrics)).collect();
    pareto::standings(&points)
        .into_iter()
        .zip(variants)
        .map(|(s, v)| (v.status == VariantStatus::Ok).then_some(s))
        .collect()
}

pub fn front_of(variants: &[VariantRow], metrics: &[ParetoMetric]) -> Vec<usize> {
    let points: Vec<Vec<f64>> = variants.iter().map(|v| objectives(v, metrics)).collect();
    pareto::front(&points)
}

fn variant_record(v: &VariantRow, s: Option<Standing>, all: &[VariantRow]) -> Vec<String> {
    let pareto = match s {
        Some(Standing::Front) => "front".to_string(),
        Some(Standing::Dominated) => "dominated".to_string(),
        Some(Standing::DuplicateOf(i)) => format!("duplicate_of_{}", all[i].variant),
        Some(Standing::Invalid) | None => String::new(),
    };
    let mut r = vec![
        v.variant.to_string(),
        v.status.name().to_string(),
        v.reason.clone(),
        pareto,
    ];
    r.extend(v.params.iter().cloned());
    let ok = v.status == VariantStatus::Ok || v.status == VariantStatus::OverLimit;
    let num = |x: f64| if ok { fmt_f64(x) } else { String::new() };
    r.push(fmt_f64(v.clock_ghz));
    r.push(if ok {
        v.cycles.to_string()
    } else {
        String::new()
    });
    r.push(num(v.energy_pj));
    r.push(fmt_f64(v.area_um2));
    r.push(num(v.edp()));
    r.push(num(v.power_w()));
    r.push(num(v.inferences_per_s()));
    r.push(num(v.utilization));
    for e in &v.level_energy_pj {
        r.push(num(*e));
    }
    r
}

/// Network totals per variant, ascending by variant.
pub fn aggregate(run: &RunRecord, rows: &[LayerRow]) -> Vec<VariantRow> {
    let mut by_variant: BTreeMap<u64, Vec<&LayerRow>> = BTreeMap::new();
    for r in rows {
        by_variant.entry(r.variant).or_default().push(r);
    }
    let ne = run.level_names.len() + 1;
    by_variant
        .into_iter()
        .map(|(variant, rows)| {
            let mut v = VariantRow {
                variant,
                status: VariantStatus::Ok,
                reason: String::new(),
                params: rows[0].params.clone(),
                clock_ghz: rows[0].clock_ghz,
                cycles: 0,
                energy_pj: 0.0,
                area_um2: rows[0].area_um2,
                utilization: 0.0,
                level_energy_pj: vec![0.0; ne],
            };
            if let Some(w) = rows.iter().find(|r| r.layer == WHOLE_VARIANT) {
                v.status = if w.status == RowStatus::OverLimit {
                    VariantStatus::OverLimit
                } else {
                    VariantStatus::Failed
                };
                v.reason = w.reason.clone();
                return v;
            }
            let mut weighted_util = 0.0;
            for (layer, repeat) in run.layers.iter().zip(&run.repeats) {
                let Some(r) = rows.iter().find(|r| &r.layer == layer) else {
                    let have = rows.len();
                    v.status = VariantStatus::Incomplete;
                    v.reason = format!("{have} of {} layers searched", run.layers.len());
                    return v;
                };
                if r.status != RowStatus::Ok {
                    v.status = VariantStatus::Failed;
                    v.reason = format!("layer `{layer}`: {}", r.reason);
                    return v;
                }
                v.cycles += repeat * r.cycles;
                v.energy_pj += *repeat as f64 * r.energy_pj;
                weighted_util += (repeat * r.cycles) as f64 * r.utilization;
                for (t, e) in v.level_energy_pj.iter_mut().zip(&r.level_energy_pj) {
                    *t += *repeat as f64 * e;
                }
            }
            v.utilization = weighted_util / (v.cycles.max(1) as f64);
            let limits = &run.limits;
            if let Some(max) = limits.max_power_w {
                if v.power_w() > max {
                    v.status = VariantStatus::OverLimit;
                    v.reason = format!("power {:.3} W is over the limit of {max} W", v.power_w());
                }
            }
            if let Some(min) = limits.min_inferences_per_s {
                if v.inferences_per_s() < min && v.status == VariantStatus::Ok {
                    v.status = VariantStatus::OverLimit;
                    v.reason = format!(
                        "throughput {:.3} inferences/s is under the minimum of {min}",
                        v.inferences_per_s()
                    );
                }
            }
            v
        })
        .collect()
}
