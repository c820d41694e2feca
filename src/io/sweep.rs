//! Sweep specs (`sweeps/*.toml`): which architecture parameters to vary over which values, on
//! which workload, with which inner mapping search, limits and Pareto objectives. Resolved
//! into a [`dse::SweepPlan`] whose variant builder edits the base architecture's spec and runs
//! it through [`ArchSpec::to_arch`], the same validation as a user's file. The format is
//! documented in `docs/sweep.md`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{constraints as cio, err, parse_toml, read, ArchSpec, InputError};
use crate::arch::Arch;
use crate::dse::guided::GuidedKind;
use crate::dse::{Limits, Param, ParetoMetric, Strategy, SweepPlan};
use crate::mapspace::Constraints;
use crate::search::{Algo, Objective, SearchConfig};
use crate::workload::Problem;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    pub name: String,
    /// Base architecture, relative to the spec file.
    pub arch: String,
    pub workload: String,
    /// Layers to include (default: all).
    #[serde(default)]
    pub layers: Option<Vec<String>>,
    /// Mapping constraints for every variant (constraints.toml).
    #[serde(default)]
    pub constraints: Option<String>,
    /// Network totals the front is over.
    #[serde(default = "default_objectives")]
    pub objectives: Vec<String>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub search: SearchSpec,
    #[serde(default)]
    pub strategy: StrategySpec,
    #[serde(default)]
    pub limits: Limits,
    /// `swept` (default): energies and areas of what a parameter resizes are re-estimated
    /// (needs `technology_nm`); `none`: the base file's values are kept as they are.
    #[serde(default)]
    pub estimate: Option<String>,
    #[serde(default)]
    pub param: Vec<ParamSpec>,
}

fn default_objectives() -> Vec<String> {
    vec!["latency".into(), "energy".into(), "area".into()]
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSpec {
    #[serde(default = "default_algo")]
    pub algo: String,
    #[serde(default = "default_objective")]
    pub objective: String,
    #[serde(default)]
    pub budget: Option<u64>,
    #[serde(default)]
    pub time_limit_s: Option<f64>,
    /// Also search imperfect (padded last tile) factorizations, as `loomap search --imperfect`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub imperfect: bool,
}

fn default_algo() -> String {
    "exhaustive".into()
}
fn default_objective() -> String {
    "edp".into()
}

impl Default for SearchSpec {
    fn default() -> Self {
        SearchSpec {
            algo: default_algo(),
            objective: default_objective(),
            budget: None,
            time_limit_s: None,
            imperfect: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StrategySpec {
    /// grid | random | genetic | anneal | rl
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Variants to evaluate (random and guided strategies).
    #[serde(default)]
    pub variants: Option<u64>,
}

fn default_kind() -> String {
    "grid".into()
}

impl Default for StrategySpec {
    fn default() -> Self {
        StrategySpec {
            kind: default_kind(),
            variants: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// Column name in the results.
    pub name: String,
    /// What it sets: `pe_array` ("RxC"), `pe_rows`, `pe_cols`, `clock_ghz`, `technology_nm`,
    /// `level.NAME.KEY`, `compute.KEY`.
    pub target: String,
    #[serde(default)]
    pub values: Option<Vec<toml::Value>>,
    #[serde(default)]
    pub range: Option<RangeSpec>,
}

/// `from` to `to` inclusive, by adding `step` or multiplying by `factor`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    pub from: f64,
    pub to: f64,
    #[serde(default)]
    pub step: Option<f64>,
    #[serde(default)]
    pub factor: Option<f64>,
}

/// Level keys a parameter may set, and whether they are whole numbers.
const LEVEL_KEYS: &[(&str, bool)] = &[
    ("size_words", true),
    ("size_kib", false),
    ("word_bits", true),
    ("block_size", true),
    ("mesh_x", true),
    ("mesh_y", true),
    ("read_bw", false),
    ("write_bw", false),
    ("shared_bw", false),
    ("multiple_buffering", false),
    ("read_energy_pj", false),
    ("write_energy_pj", false),
    ("update_energy_pj", false),
    ("leak_pj_per_cycle", false),
    ("area_um2", false),
];
const COMPUTE_KEYS: &[(&str, bool)] = &[
    ("word_bits", true),
    ("energy_pj", false),
    ("area_um2", false),
];

/// A resolved parameter target.
#[derive(Debug, Clone)]
enum Target {
    PeArray,
    PeRows,
    PeCols,
    Clock,
    Technology,
    Level(usize, &'static str),
    Compute(&'static str),
}

/// A parameter value: a number, or rows × columns for `pe_array`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Value {
    Num(f64),
    Array(u64, u64),
}

fn label(v: Value) -> String {
    match v {
        Value::Num(x) => format!("{x}"),
        Value::Array(r, c) => format!("{r}x{c}"),
    }
}

/// Loads a sweep spec and everything it names.
pub fn load_sweep(path: &Path) -> Result<SweepPlan, InputError> {
    let text = read(path)?;
    let spec: SweepSpec = parse_toml(&text, path, "sweep")?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let rel = |p: &str| -> PathBuf { dir.join(p) };

    let arch_path = rel(&spec.arch);
    let arch_text = read(&arch_path)?;
    let base: ArchSpec = parse_toml(&arch_text, &arch_path, "architecture")?;
    let base_arch = base.to_arch(&arch_path)?;

    let workload_path = rel(&spec.workload);
    let workload_text = read(&workload_path)?;
    let workload = super::parse_workload(&workload_text, &workload_path)?;
    let layers = match &spec.layers {
        None => workload.layers.clone(),
        Some(names) => {
            let mut out = Vec::new();
            for (i, n) in names.iter().enumerate() {
                let l = workload.layer(n).ok_or_else(|| {
                    err(
                        path,
                        format!("layers[{i}]"),
                        format!("`{n}` is not a layer of {}", workload_path.display()),
                        format!(
                            "layers: {}",
                            workload
                                .layers
                                .iter()
                                .map(|l| l.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
                out.push(l.clone());
            }
            out
        }
    };
    if layers.is_empty() {
        return Err(err(
            path,
            "layers",
            "no layer to search",
            "list at least one layer",
        ));
    }

    let constraints_text;
    let imperfect = spec.search.imperfect;
    let constraints: Box<crate::dse::LayerConstraints> = match &spec.constraints {
        None => {
            constraints_text = String::new();
            Box::new(move |arch: &Arch, _: &Problem| {
                Ok(Constraints {
                    imperfect,
                    ..Constraints::none(arch)
                })
            })
        }
        Some(p) => {
            let cpath = rel(p);
            constraints_text = read(&cpath)?;
            let cspec = cio::parse_constraints(&constraints_text, &cpath)?;
            // Constraints name levels and dimensions: check them on the base architecture now,
            // so a typo stops the sweep before any work.
            for l in &layers {
                let mut c = cio::resolve(&cspec, &cpath, &base_arch, &l.problem)?;
                if imperfect {
                    cspec.admit_imperfect(&cpath, &mut c)?;
                }
            }
            Box::new(move |arch: &Arch, problem: &Problem| {
                let mut c =
                    cio::resolve(&cspec, &cpath, arch, problem).map_err(|e| e.to_string())?;
                if imperfect {
                    cspec
                        .admit_imperfect(&cpath, &mut c)
                        .map_err(|e| e.to_string())?;
                }
                Ok(c)
            })
        }
    };

    let algo: Algo = spec
        .search
        .algo
        .parse()
        .map_err(|m: String| err(path, "search.algo", m, ""))?;
    let objective: Objective = spec
        .search
        .objective
        .parse()
        .map_err(|m: String| err(path, "search.objective", m, ""))?;
    let mut search = SearchConfig::new(objective);
    search.budget = spec.search.budget;
    search.seed = spec.seed.unwrap_or(1);
    if let Some(t) = spec.search.time_limit_s {
        if !(t.is_finite() && t > 0.0) {
            return Err(err(
                path,
                "search.time_limit_s",
                "must be a positive number of seconds",
                "omit it for no limit (a time limit makes results depend on machine speed)",
            ));
        }
        search.time_limit = Some(Duration::from_secs_f64(t));
    }
    if algo != Algo::Exhaustive
        && spec.search.budget.is_none()
        && spec.search.time_limit_s.is_none()
    {
        return Err(err(
            path,
            "search.budget",
            format!("`{}` needs an evaluation budget", algo.name()),
            "add e.g. `budget = 5000` to [search]",
        ));
    }

    let mut pareto = Vec::new();
    for (i, o) in spec.objectives.iter().enumerate() {
        let m = ParetoMetric::parse(o).ok_or_else(|| {
            err(
                path,
                format!("objectives[{i}]"),
                format!("unknown objective `{o}`"),
                format!("use any of {}", ParetoMetric::NAMES),
            )
        })?;
        if pareto.contains(&m) {
            return Err(err(
                path,
                format!("objectives[{i}]"),
                format!("`{o}` is listed twice"),
                "",
            ));
        }
        pareto.push(m);
    }
    if pareto.is_empty() {
        return Err(err(
            path,
            "objectives",
            "no objective",
            "e.g. [\"latency\", \"energy\", \"area\"]",
        ));
    }
    for (key, v) in [
        ("limits.max_area_mm2", spec.limits.max_area_mm2),
        ("limits.max_power_w", spec.limits.max_power_w),
        (
            "limits.min_inferences_per_s",
            spec.limits.min_inferences_per_s,
        ),
    ] {
        if v.is_some_and(|x| !(x.is_finite() && x > 0.0)) {
            return Err(err(path, key, "must be a positive number", ""));
        }
    }

    let mut params = Vec::new();
    let mut targets = Vec::new();
    let mut values: Vec<Vec<Value>> = Vec::new();
    for (i, p) in spec.param.iter().enumerate() {
        let at = |k: &str| format!("param[{i}].{k}");
        if params.iter().any(|q: &Param| q.name == p.name) {
            return Err(err(
                path,
                at("name"),
                format!("`{}` is used twice", p.name),
                "give each parameter its own name",
            ));
        }
        let target =
            resolve_target(&p.target, &base).map_err(|(m, h)| err(path, at("target"), m, h))?;
        let vals = param_values(p, &target).map_err(|(k, m, h)| err(path, at(k), m, h))?;
        params.push(Param {
            name: p.name.clone(),
            labels: vals.iter().map(|v| label(*v)).collect(),
            numeric: vals
                .iter()
                .map(|v| match v {
                    Value::Num(x) => *x,
                    Value::Array(r, c) => (r * c) as f64,
                })
                .collect(),
        });
        targets.push(target);
        values.push(vals);
    }
    if params.is_empty() {
        return Err(err(
            path,
            "param",
            "no parameter to sweep",
            "add a [[param]] table (see docs/sweep.md)",
        ));
    }
    let strategy = match spec.strategy.kind.as_str() {
        "grid" => Strategy::Grid,
        "random" => Strategy::Random {
            samples: need_variants(&spec, path)?,
        },
        k => match GuidedKind::parse(k) {
            Some(kind) => Strategy::Guided {
                kind,
                variants: need_variants(&spec, path)?,
            },
            None => {
                return Err(err(
                    path,
                    "strategy.kind",
                    format!("unknown strategy `{k}`"),
                    "use grid, random, genetic, anneal or rl",
                ))
            }
        },
    };

    let reestimate = match spec.estimate.as_deref() {
        None | Some("swept") => true,
        Some("none") => false,
        Some(other) => {
            return Err(err(
                path,
                "estimate",
                format!("unknown estimate mode `{other}`"),
                "use \"swept\" (re-estimate what a parameter resizes) or \"none\"",
            ))
        }
    };
    if reestimate && base.technology_nm.is_none() {
        if let Some(i) = targets.iter().position(|t| resizes(t).is_some()) {
            return Err(err(
                path,
                format!("param[{i}].target"),
                format!(
                    "`{}` changes a component's size, whose energy and area must then be re-estimated, but {} has no technology_nm",
                    spec.param[i].target,
                    arch_path.display()
                ),
                "add technology_nm to the architecture, or set estimate = \"none\" to keep its energies and areas as they are",
            ));
        }
    }
    let base_mesh = compute_mesh(&base);
    let arch_file = arch_path.clone();
    let base_for_build = base.clone();
    let build = move |idx: &[usize]| -> Result<Arch, String> {
        let mut a = base_for_build.clone();
        for ((t, vals), &i) in targets.iter().zip(&values).zip(idx) {
            apply(&mut a, t, vals[i], base_mesh)?;
            if reestimate {
                forget_costs(&mut a, t);
            }
        }
        a.to_arch(&arch_file)
            .map_err(|e| format!("{} {}", e.message, e.location).trim().to_string())
    };

    let spec_text = toml::to_string(&spec).unwrap_or_default();
    let fingerprint = fingerprint(&[&text, &arch_text, &workload_text, &constraints_text]);
    Ok(SweepPlan {
        name: spec.name.clone(),
        params,
        layers,
        strategy,
        algo,
        search,
        limits: spec.limits,
        pareto,
        level_names: base_arch
            .levels
            .iter()
            .rev()
            .map(|l| l.name.clone())
            .collect(),
        build: Box::new(build),
        constraints,
        fingerprint,
        spec_text,
    })
}

fn need_variants(spec: &SweepSpec, path: &Path) -> Result<u64, InputError> {
    match spec.strategy.variants {
        Some(n) if n > 0 => Ok(n),
        _ => Err(err(
            path,
            "strategy.variants",
            format!(
                "strategy `{}` needs the number of variants to evaluate",
                spec.strategy.kind
            ),
            "add e.g. `variants = 64` to [strategy]",
        )),
    }
}

/// FNV-1a over the inputs: identifies a sweep so a resumed run never mixes two of them.
fn fingerprint(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn resolve_target(t: &str, base: &ArchSpec) -> Result<Target, (String, String)> {
    let parts: Vec<&str> = t.split('.').collect();
    let keys = |list: &[(&str, bool)]| list.iter().map(|k| k.0).collect::<Vec<_>>().join(", ");
    match parts.as_slice() {
        ["pe_array"] => Ok(Target::PeArray),
        ["pe_rows"] => Ok(Target::PeRows),
        ["pe_cols"] => Ok(Target::PeCols),
        ["clock_ghz"] => Ok(Target::Clock),
        ["technology_nm"] => Ok(Target::Technology),
        ["level", name, key] => {
            let lvl = base.level.iter().position(|l| l.name == *name).ok_or_else(|| {
                (
                    format!("the architecture has no level `{name}`"),
                    format!(
                        "levels: {}",
                        base.level.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )
            })?;
            let k = LEVEL_KEYS.iter().find(|k| k.0 == *key).ok_or_else(|| {
                (format!("`{key}` cannot be swept"), format!("level keys: {}", keys(LEVEL_KEYS)))
            })?;
            Ok(Target::Level(lvl, k.0))
        }
        ["compute", key] => {
            let k = COMPUTE_KEYS.iter().find(|k| k.0 == *key).ok_or_else(|| {
                (format!("`{key}` cannot be swept"), format!("compute keys: {}", keys(COMPUTE_KEYS)))
            })?;
            Ok(Target::Compute(k.0))
        }
        _ => Err((
            format!("unknown target `{t}`"),
            "use pe_array, pe_rows, pe_cols, clock_ghz, technology_nm, level.NAME.KEY or compute.KEY".into(),
        )),
    }
}

fn is_integer_target(t: &Target) -> bool {
    match t {
        Target::PeRows | Target::PeCols | Target::PeArray => true,
        Target::Level(_, k) => LEVEL_KEYS.iter().any(|x| x.0 == *k && x.1),
        Target::Compute(k) => COMPUTE_KEYS.iter().any(|x| x.0 == *k && x.1),
        Target::Clock | Target::Technology => false,
    }
}

type ParamErr = (&'static str, String, String);

fn param_values(p: &ParamSpec, t: &Target) -> Result<Vec<Value>, ParamErr> {
    let integer = is_integer_target(t);
    let vals = match (&p.values, &p.range) {
        (Some(_), Some(_)) | (None, None) => {
            return Err((
                "values",
                "give exactly one of `values` or `range`".into(),
                "e.g. values = [64, 128] or range = { from = 64, to = 1024, factor = 2 }".into(),
            ))
        }
        (Some(list), None) => list
            .iter()
            .enumerate()
            .map(|(i, v)| {
                parse_value(v, t).map_err(|m| ("values", format!("value {i}: {m}"), String::new()))
            })
            .collect::<Result<Vec<_>, _>>()?,
        (None, Some(r)) => range_values(r)
            .map_err(|(m, h)| ("range", m, h))?
            .into_iter()
            .map(Value::Num)
            .collect(),
    };
    if vals.is_empty() {
        return Err(("values", "no values".into(), "list at least one".into()));
    }
    for v in &vals {
        match *v {
            Value::Num(x) if !(x.is_finite() && x > 0.0) => {
                return Err((
                    "values",
                    format!("{x} is not a positive number"),
                    String::new(),
                ))
            }
            Value::Num(x) if integer && x.fract() != 0.0 => {
                return Err((
                    "values",
                    format!("{x} must be a whole number for `{}`", p.target),
                    String::new(),
                ))
            }
            _ => {}
        }
    }
    let mut seen = Vec::new();
    for v in &vals {
        if seen.contains(v) {
            return Err((
                "values",
                format!("{} is listed twice", label(*v)),
                String::new(),
            ));
        }
        seen.push(*v);
    }
    Ok(vals)
}

fn parse_value(v: &toml::Value, t: &Target) -> Result<Value, String> {
    match (t, v) {
        (Target::PeArray, toml::Value::String(s)) => {
            let (r, c) = s
                .split_once(['x', 'X', '×'])
                .ok_or_else(|| format!("`{s}` is not ROWSxCOLS such as \"16x16\""))?;
            let n = |x: &str| x.trim().parse::<u64>().ok().filter(|&v| v > 0);
            match (n(r), n(c)) {
                (Some(r), Some(c)) => Ok(Value::Array(r, c)),
                _ => Err(format!(
                    "`{s}` is not ROWSxCOLS with positive whole numbers"
                )),
            }
        }
        (Target::PeArray, toml::Value::Integer(n)) if *n > 0 => {
            Ok(Value::Array(*n as u64, *n as u64))
        }
        (Target::PeArray, _) => Err("expected \"ROWSxCOLS\" or a whole number N for N×N".into()),
        (_, toml::Value::Integer(n)) => Ok(Value::Num(*n as f64)),
        (_, toml::Value::Float(x)) => Ok(Value::Num(*x)),
        _ => Err("expected a number".into()),
    }
}

fn range_values(r: &RangeSpec) -> Result<Vec<f64>, (String, String)> {
    const MAX: usize = 100_000;
    if !(r.from.is_finite() && r.to.is_finite() && r.from > 0.0 && r.to >= r.from) {
        return Err((
            "`from` and `to` must be positive with from <= to".into(),
            String::new(),
        ));
    }
    let mut out = Vec::new();
    let mut x = r.from;
    // A relative epsilon keeps `to` itself despite rounding in repeated steps.
    let end = r.to * (1.0 + 1e-9);
    match (r.step, r.factor) {
        (Some(s), None) if s > 0.0 => {
            let mut k = 0.0;
            while x <= end && out.len() <= MAX {
                out.push(x);
                k += 1.0;
                x = r.from + k * s;
            }
        }
        (None, Some(f)) if f > 1.0 => {
            while x <= end && out.len() <= MAX {
                out.push(x);
                x *= f;
            }
        }
        _ => {
            return Err((
                "give exactly one of `step` (> 0) or `factor` (> 1)".into(),
                "e.g. range = { from = 8, to = 64, factor = 2 }".into(),
            ))
        }
    }
    if out.len() > MAX {
        return Err((
            format!("more than {MAX} values"),
            "use a larger step or factor".into(),
        ));
    }
    Ok(out)
}

/// The base architecture's compute mesh (columns = X, rows = Y).
fn compute_mesh(a: &ArchSpec) -> (u64, u64) {
    let (_, x, y) = super::mesh(a.compute.instances, a.compute.mesh_x, a.compute.mesh_y);
    (x, y)
}

/// Sets one parameter on an architecture spec.
fn apply(a: &mut ArchSpec, t: &Target, v: Value, base_mesh: (u64, u64)) -> Result<(), String> {
    let num = match v {
        Value::Num(x) => x,
        Value::Array(..) => 0.0,
    };
    match *t {
        Target::PeArray => {
            if let Value::Array(rows, cols) = v {
                resize_array(a, base_mesh, Some(cols), Some(rows));
            }
        }
        Target::PeRows => resize_array(a, base_mesh, None, Some(num as u64)),
        Target::PeCols => resize_array(a, base_mesh, Some(num as u64), None),
        Target::Clock => a.clock_ghz = Some(num),
        Target::Technology => a.technology_nm = Some(num),
        Target::Compute(key) => match key {
            "word_bits" => a.compute.word_bits = Some(num as u32),
            "energy_pj" => a.compute.energy_pj = Some(num),
            _ => a.compute.area_um2 = Some(num),
        },
        Target::Level(i, key) => {
            let l = &mut a.level[i];
            match key {
                "size_words" => l.size_words = Some(num as u64),
                "size_kib" => {
                    let bits = num * 1024.0 * 8.0;
                    let word = f64::from(l.word_bits.unwrap_or(16));
                    let words = bits / word;
                    if words.fract() != 0.0 {
                        return Err(format!(
                            "{} KiB is not a whole number of {}-bit words at `{}`",
                            num, word, l.name
                        ));
                    }
                    l.size_words = Some(words as u64);
                }
                "word_bits" => l.word_bits = Some(num as u32),
                "block_size" => l.block_size = Some(num as u64),
                "mesh_x" | "mesh_y" => {
                    let (_, x, y) = super::mesh(l.instances, l.mesh_x, l.mesh_y);
                    let (x, y) = if key == "mesh_x" {
                        (num as u64, y)
                    } else {
                        (x, num as u64)
                    };
                    l.mesh_x = Some(x);
                    l.mesh_y = Some(y);
                    l.instances = Some(x * y);
                }
                "read_bw" => l.read_bw = Some(num),
                "write_bw" => l.write_bw = Some(num),
                "shared_bw" => l.shared_bw = Some(num),
                "multiple_buffering" => l.multiple_buffering = Some(num),
                "read_energy_pj" => l.read_energy_pj = Some(num),
                "write_energy_pj" => l.write_energy_pj = Some(num),
                "update_energy_pj" => l.update_energy_pj = Some(num),
                "leak_pj_per_cycle" => l.leak_pj_per_cycle = Some(num),
                _ => l.area_um2 = Some(num),
            }
        }
    }
    Ok(())
}

/// Resizes the PE array: the compute mesh, and along each axis every level replicated per PE
/// on that axis. A level is replicated per PE along X when its mesh X equals the base array's
/// columns (and the array is wider than one column, or the level has one instance per MAC);
/// likewise along Y. Levels shared by the whole array (DRAM, global buffers) keep their mesh.
fn resize_array(a: &mut ArchSpec, base: (u64, u64), cols: Option<u64>, rows: Option<u64>) {
    let (bx, by) = base;
    let (bi, _, _) = super::mesh(a.compute.instances, a.compute.mesh_x, a.compute.mesh_y);
    let scale = |x: u64, y: u64, inst: u64| -> (u64, u64) {
        let per_pe = inst == bi;
        let nx = match cols {
            Some(c) if x == bx && (bx > 1 || per_pe) => c,
            _ => x,
        };
        let ny = match rows {
            Some(r) if y == by && (by > 1 || per_pe) => r,
            _ => y,
        };
        (nx, ny)
    };
    for l in &mut a.level {
        let (i, x, y) = super::mesh(l.instances, l.mesh_x, l.mesh_y);
        let (nx, ny) = scale(x, y, i);
        l.mesh_x = Some(nx);
        l.mesh_y = Some(ny);
        l.instances = Some(nx * ny);
    }
    let (i, x, y) = super::mesh(a.compute.instances, a.compute.mesh_x, a.compute.mesh_y);
    let (nx, ny) = scale(x, y, i);
    a.compute.mesh_x = Some(nx);
    a.compute.mesh_y = Some(ny);
    a.compute.instances = Some(nx * ny);
}

/// What a parameter resizes, so that its per-access energies and area no longer hold: one
/// level, or every component (a technology change).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Resized {
    Level(usize),
    Everything,
}

fn resizes(t: &Target) -> Option<Resized> {
    match *t {
        Target::Level(i, "size_words" | "size_kib" | "word_bits" | "block_size") => {
            Some(Resized::Level(i))
        }
        Target::Technology => Some(Resized::Everything),
        _ => None,
    }
}

/// Drops the explicit energies and areas a parameter invalidated, so `ArchSpec::to_arch`
/// estimates them for the new size. Parameters that set an energy or area explicitly apply
/// after this only if listed after the resizing one.
fn forget_costs(a: &mut ArchSpec, t: &Target) {
    let clear = |l: &mut super::LevelSpecToml| {
        l.read_energy_pj = None;
        l.write_energy_pj = None;
        l.update_energy_pj = None;
        l.leak_pj_per_cycle = None;
        l.area_um2 = None;
    };
    match resizes(t) {
        Some(Resized::Level(i)) => clear(&mut a.level[i]),
        Some(Resized::Everything) => {
            a.level.iter_mut().for_each(clear);
            a.compute.energy_pj = None;
            a.compute.area_um2 = None;
        }
        None => {}
    }
}
