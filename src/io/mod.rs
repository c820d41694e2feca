//! Input files: the raw TOML shapes (`*Spec`, the only `Deserialize` types for inputs) and
//! their conversion into validated domain types. Every error names the file, the key path
//! or line, what was expected, and a hint.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::arch::{Arch, Compute, CountingRules, Level, LevelClass};
use crate::mapping::{Factors, LevelSpec, Mapping};
use crate::workload::{Layer, LayerShape, Problem, Workload};

pub mod constraints;
pub mod estimate_fill;
pub mod sweep;
pub mod timeloop;

pub use constraints::{load_constraints, parse_constraints, ConstraintToml, ConstraintsSpec};

/// A located input error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct InputError {
    pub file: PathBuf,
    /// `line N, column M` or a key path such as `level[2].size_words`.
    pub location: String,
    pub message: String,
    pub hint: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if !self.location.is_empty() {
            write!(f, ": {}", self.location)?;
        }
        write!(f, ": {}", self.message)?;
        if !self.hint.is_empty() {
            write!(f, "\n  hint: {}", self.hint)?;
        }
        Ok(())
    }
}

fn err(
    file: &Path,
    location: impl Into<String>,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> InputError {
    InputError {
        file: file.to_path_buf(),
        location: location.into(),
        message: message.into(),
        hint: hint.into(),
    }
}

fn read(path: &Path) -> Result<String, InputError> {
    std::fs::read_to_string(path).map_err(|e| {
        err(
            path,
            "",
            format!("cannot read the file: {e}"),
            "check the path",
        )
    })
}

/// Parses TOML into a spec type, turning serde's complaint into a located error.
fn parse_toml<T: for<'de> Deserialize<'de>>(
    text: &str,
    file: &Path,
    what: &str,
) -> Result<T, InputError> {
    toml::from_str(text).map_err(|e| {
        let location = match e.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("line {line}, column {col}")
            }
            None => String::new(),
        };
        let msg = e.message().to_string();
        let hint = if msg.contains("unknown field") {
            format!("see the documented keys of a {what} file (arch/README.md, workloads/README.md, docs/mapping.md)")
        } else if msg.contains("missing field") {
            "add the missing key".to_string()
        } else {
            format!("this file should be a loomap {what} file")
        };
        err(file, location, msg, hint)
    })
}

// ----------------------------------------------------------------------------------------
// Architecture

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ArchSpec {
    pub name: String,
    #[serde(default)]
    pub technology_nm: Option<f64>,
    #[serde(default)]
    pub clock_ghz: Option<f64>,
    /// `timeloop` (default) or `timeloop-2020`: whose counting rules the model follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<String>,
    /// `current` (default) or `accelergy-2020`: which generation of Accelergy's tables the
    /// estimated energies and areas reproduce (`estimate_fill`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_generation: Option<String>,
    /// Cycles charged once per layer that nothing overlaps (instruction fetch and decode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_overhead_cycles: Option<u64>,
    /// Outermost first.
    pub level: Vec<LevelSpecToml>,
    pub compute: ComputeSpec,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LevelSpecToml {
    pub name: String,
    pub class: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub word_bits: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_words: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh_x: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh_y: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_bw: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_bw: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_bw: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiple_buffering: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_utilization: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_energy_pj: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_energy_pj: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_energy_pj: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leak_pj_per_cycle: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area_um2: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_fill_latency: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_drain_latency: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tile_overhead_cycles: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipelined_fill_drain: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_bw: Option<f64>,
    /// Only for estimating energies/areas (docs/estimate.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banks: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dram_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ComputeSpec {
    pub name: String,
    #[serde(default)]
    pub instances: Option<u64>,
    #[serde(default)]
    pub mesh_x: Option<u64>,
    #[serde(default)]
    pub mesh_y: Option<u64>,
    #[serde(default)]
    pub word_bits: Option<u32>,
    #[serde(default)]
    pub energy_pj: Option<f64>,
    #[serde(default)]
    pub area_um2: Option<f64>,
    /// Only for estimating energies/areas: `int` (default), `fp`, `fp16`, `bf16`, `fp32`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_type: Option<String>,
}

/// Resolves `instances`, `mesh_x`, `mesh_y` with the documented defaults.
fn mesh(instances: Option<u64>, x: Option<u64>, y: Option<u64>) -> (u64, u64, u64) {
    match (instances, x, y) {
        (Some(i), None, None) => (i, i, 1),
        (Some(i), Some(x), None) => (i, x, i.checked_div(x).unwrap_or(0)),
        (Some(i), None, Some(y)) => (i, i.checked_div(y).unwrap_or(0), y),
        (Some(i), Some(x), Some(y)) => (i, x, y),
        (None, x, y) => {
            let (x, y) = (x.unwrap_or(1), y.unwrap_or(1));
            (x * y, x, y)
        }
    }
}

impl ArchSpec {
    /// Validates the spec after estimating the energies and areas it leaves out
    /// (`estimate_fill`: only when `technology_nm` is given).
    pub fn to_arch(&self, file: &Path) -> Result<Arch, InputError> {
        estimate_fill::fill(self, file)?.spec.to_arch_as_given(file)
    }

    /// Validates the spec as written: missing energies and areas are 0.
    fn to_arch_as_given(&self, file: &Path) -> Result<Arch, InputError> {
        let mut levels = Vec::new();
        for (i, l) in self.level.iter().enumerate() {
            let at = |key: &str| format!("level[{i}] (`{}`).{key}", l.name);
            let class = match l.class.to_ascii_lowercase().as_str() {
                "dram" => LevelClass::Dram,
                "sram" => LevelClass::Sram,
                "regfile" => LevelClass::Regfile,
                "dummy" => LevelClass::Dummy,
                other => {
                    return Err(err(
                        file,
                        at("class"),
                        format!("unknown level class `{other}`"),
                        "use one of dram, sram, regfile, dummy",
                    ))
                }
            };
            let mut level = Level::new(l.name.clone(), class);
            let (instances, mx, my) = mesh(l.instances, l.mesh_x, l.mesh_y);
            level.instances = instances;
            level.mesh_x = mx;
            level.mesh_y = my;
            if let Some(v) = l.word_bits {
                level.word_bits = v;
            }
            level.block_size = l.block_size.unwrap_or(1);
            level.cluster_size = l.cluster_size.unwrap_or(1);
            level.size_words = match (class, l.size_words) {
                (LevelClass::Dummy, _) => Some(0),
                (_, s) => s,
            };
            if (class == LevelClass::Sram || class == LevelClass::Regfile)
                && level.size_words.is_none()
            {
                return Err(err(
                    file,
                    at("size_words"),
                    "an SRAM or register file needs a capacity",
                    "add `size_words = <words>`",
                ));
            }
            level.read_bw = l.read_bw;
            level.write_bw = l.write_bw;
            level.shared_bw = l.shared_bw;
            level.multiple_buffering = l.multiple_buffering.unwrap_or(1.0);
            level.min_utilization = l.min_utilization.unwrap_or(0.0);
            level.read_energy_pj = l.read_energy_pj.unwrap_or(0.0);
            level.write_energy_pj = l.write_energy_pj.unwrap_or(0.0);
            level.update_energy_pj = l.update_energy_pj.unwrap_or(level.write_energy_pj);
            level.leak_pj_per_cycle = l.leak_pj_per_cycle.unwrap_or(0.0);
            level.area_um2 = l.area_um2.unwrap_or(0.0);
            level.network_fill_latency = l.network_fill_latency.unwrap_or(0);
            level.network_drain_latency = l.network_drain_latency.unwrap_or(0);
            level.tile_overhead_cycles = l.tile_overhead_cycles.unwrap_or(0);
            level.pipelined_fill_drain = l.pipelined_fill_drain.unwrap_or(false);
            level.drain_bw = l.drain_bw;
            levels.push(level);
        }
        levels.reverse(); // files list outermost first; the model indexes innermost first
        let c = &self.compute;
        let (instances, mx, my) = mesh(c.instances, c.mesh_x, c.mesh_y);
        let compute = Compute {
            name: c.name.clone(),
            instances,
            mesh_x: mx,
            mesh_y: my,
            word_bits: c.word_bits.unwrap_or(16),
            energy_pj: c.energy_pj.unwrap_or(0.0),
            area_um2: c.area_um2.unwrap_or(0.0),
        };
        let rules = match self.rules.as_deref() {
            None | Some("timeloop") => CountingRules::Timeloop,
            Some("timeloop-2020") => CountingRules::Timeloop2020,
            Some(other) => {
                return Err(err(
                    file,
                    "rules",
                    format!("unknown counting rules `{other}`"),
                    "use \"timeloop\" (today's Timeloop, the default) or \"timeloop-2020\" (files from Timeloop's 2020 releases)",
                ))
            }
        };
        let mut arch = Arch::new(self.name.clone(), self.clock_ghz.unwrap_or(1.0), self.technology_nm, levels, compute).map_err(|e| {
            err(file, "", e.to_string(), "levels are listed outermost first; inner levels' mesh must be a multiple of outer ones")
        })?;
        arch.rules = rules;
        arch.program_overhead_cycles = self.program_overhead_cycles.unwrap_or(0);
        Ok(arch)
    }
}

pub fn parse_arch(text: &str, file: &Path) -> Result<Arch, InputError> {
    let spec: ArchSpec = parse_toml(text, file, "architecture")?;
    spec.to_arch(file)
}

pub fn load_arch(path: &Path) -> Result<Arch, InputError> {
    parse_arch(&read(path)?, path)
}

// ----------------------------------------------------------------------------------------
// Workload

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    #[serde(default)]
    pub name: Option<String>,
    pub layer: Vec<LayerSpecToml>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LayerSpecToml {
    pub name: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub c: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub m: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wstride: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hstride: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wdilation: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hdilation: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub padding: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u64>,
    /// einsum only: loop bounds in factor notation, e.g. `"C32 K32 R3 P16"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dims: Option<String>,
    /// einsum only: the tensors and their projections.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tensor: Vec<TensorSpecToml>,
}

/// One tensor of an einsum layer: one projection string per rank, e.g. `["C", "2*P + R"]`.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TensorSpecToml {
    pub name: String,
    pub projection: Vec<String>,
    #[serde(default)]
    pub read_write: bool,
}

/// Parses `"2*P + R"` into (dimension, coefficient) terms.
fn parse_projection(s: &str, dims: &[(String, u64)]) -> Result<Vec<(usize, u64)>, String> {
    let mut terms = Vec::new();
    for term in s.split('+').map(str::trim) {
        let (coef, name) = match term.split_once('*') {
            Some((a, b)) => {
                let (a, b) = (a.trim(), b.trim());
                match a.parse::<u64>() {
                    Ok(c) => (c, b),
                    Err(_) => (
                        b.parse::<u64>()
                            .map_err(|_| format!("`{term}`: expected `coefficient*DIM`"))?,
                        a,
                    ),
                }
            }
            None => (1, term),
        };
        let d = dims.iter().position(|(n, _)| n == name).ok_or_else(|| {
            format!("`{name}` in projection `{s}` is not one of the layer's dims")
        })?;
        terms.push((d, coef));
    }
    Ok(terms)
}

impl LayerSpecToml {
    fn einsum(&self, file: &Path, i: usize) -> Result<Problem, InputError> {
        let at = format!("layer[{i}] (`{}`)", self.name);
        let dims: Factors = self
            .dims
            .as_deref()
            .ok_or_else(|| {
                err(
                    file,
                    at.clone(),
                    "an einsum layer needs `dims`",
                    "write dims = \"C32 K32 R3 P16\"",
                )
            })?
            .parse()
            .map_err(|m: String| {
                err(
                    file,
                    format!("{at}.dims"),
                    m,
                    "write dims = \"C32 K32 R3 P16\"",
                )
            })?;
        let mut tensors = Vec::new();
        for (j, t) in self.tensor.iter().enumerate() {
            let mut ranks = Vec::new();
            for p in &t.projection {
                let terms = parse_projection(p, &dims.0).map_err(|m| {
                    err(
                        file,
                        format!("{at}.tensor[{j}].projection"),
                        m,
                        "terms look like `2*P + R`",
                    )
                })?;
                ranks.push(crate::workload::Projection { terms });
            }
            tensors.push(crate::workload::Tensor {
                name: t.name.clone(),
                ranks,
                read_write: t.read_write,
            });
        }
        Problem::new(self.name.clone(), dims.0, tensors)
            .map_err(|e| err(file, at, e.to_string(), "see workloads/README.md (einsum)"))
    }

    fn shape(&self, file: &Path, i: usize) -> Result<LayerShape, InputError> {
        let need = |v: Option<u64>, key: &str| {
            v.ok_or_else(|| {
                err(
                    file,
                    format!("layer[{i}] (`{}`)", self.name),
                    format!("a `{}` layer needs `{key}`", self.kind),
                    "see workloads/README.md for the keys of each kind",
                )
            })
        };
        let conv = |groups: u64, k: u64, c: u64| -> Result<LayerShape, InputError> {
            Ok(LayerShape::Conv {
                n: self.n.unwrap_or(1),
                groups,
                k,
                c,
                p: need(self.p, "p")?,
                q: need(self.q, "q")?,
                r: self.r.unwrap_or(1),
                s: self.s.unwrap_or(1),
                wstride: self.wstride.unwrap_or(1),
                hstride: self.hstride.unwrap_or(1),
                wdilation: self.wdilation.unwrap_or(1),
                hdilation: self.hdilation.unwrap_or(1),
            })
        };
        match self.kind.as_str() {
            "conv2d" => conv(1, need(self.k, "k")?, need(self.c, "c")?),
            "grouped" => conv(
                need(self.groups, "groups")?,
                need(self.k, "k")?,
                need(self.c, "c")?,
            ),
            "depthwise" => conv(need(self.c, "c")?, 1, 1),
            "fc" => Ok(LayerShape::Conv {
                n: self.n.unwrap_or(1),
                groups: 1,
                k: need(self.k, "k")?,
                c: need(self.c, "c")?,
                p: 1,
                q: 1,
                r: 1,
                s: 1,
                wstride: 1,
                hstride: 1,
                wdilation: 1,
                hdilation: 1,
            }),
            "gemm" => Ok(LayerShape::Matmul {
                b: 1,
                m: need(self.m, "m")?,
                n: need(self.n, "n")?,
                k: need(self.k, "k")?,
            }),
            "bmm" => Ok(LayerShape::Matmul {
                b: need(self.b, "b")?,
                m: need(self.m, "m")?,
                n: need(self.n, "n")?,
                k: need(self.k, "k")?,
            }),
            other => Err(err(
                file,
                format!("layer[{i}] (`{}`).kind", self.name),
                format!("unknown layer kind `{other}`"),
                "use one of conv2d, depthwise, grouped, fc, gemm, bmm, einsum",
            )),
        }
    }
}

impl WorkloadSpec {
    pub fn to_workload(&self, file: &Path) -> Result<Workload, InputError> {
        let mut layers = Vec::new();
        for (i, l) in self.layer.iter().enumerate() {
            if layers.iter().any(|x: &Layer| x.name == l.name) {
                return Err(err(
                    file,
                    format!("layer[{i}].name"),
                    format!("layer name `{}` is used twice", l.name),
                    "give every layer a unique name",
                ));
            }
            let problem = if l.kind == "einsum" {
                l.einsum(file, i)?
            } else {
                l.shape(file, i)?.to_problem(&l.name).map_err(|e| {
                    err(
                        file,
                        format!("layer[{i}] (`{}`)", l.name),
                        e.to_string(),
                        "every size must be at least 1",
                    )
                })?
            };
            layers.push(Layer {
                name: l.name.clone(),
                problem,
                repeat: l.repeat.unwrap_or(1),
            });
        }
        if layers.is_empty() {
            return Err(err(
                file,
                "",
                "the workload has no layers",
                "add at least one [[layer]] table",
            ));
        }
        let name = self.name.clone().unwrap_or_else(|| {
            file.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        Ok(Workload { name, layers })
    }
}

pub fn parse_workload(text: &str, file: &Path) -> Result<Workload, InputError> {
    let spec: WorkloadSpec = parse_toml(text, file, "workload")?;
    spec.to_workload(file)
}

pub fn load_workload(path: &Path) -> Result<Workload, InputError> {
    parse_workload(&read(path)?, path)
}

/// Picks one layer: the named one, or the only one.
pub fn select_layer<'w>(
    workload: &'w Workload,
    name: Option<&str>,
    file: &Path,
) -> Result<&'w Layer, InputError> {
    match name {
        Some(n) => workload.layer(n).ok_or_else(|| {
            let names: Vec<&str> = workload
                .layers
                .iter()
                .map(|l| l.name.as_str())
                .take(12)
                .collect();
            err(
                file,
                "",
                format!("no layer named `{n}`"),
                format!("layers include: {}", names.join(", ")),
            )
        }),
        None if workload.layers.len() == 1 => Ok(&workload.layers[0]),
        None => Err(err(
            file,
            "",
            format!(
                "the workload has {} layers; say which one",
                workload.layers.len()
            ),
            format!("pass --layer NAME (first: `{}`)", workload.layers[0].name),
        )),
    }
}

// ----------------------------------------------------------------------------------------
// Mapping

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MappingSpec {
    pub level: Vec<MappingLevelToml>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MappingLevelToml {
    pub target: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub temporal: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub order: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub spatial_x: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub spatial_y: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bypass: Vec<String>,
}

/// Splits an order string: `"PRKC"` (single letters) or `"P R K C"` / `"B M N"` with spaces.
fn parse_order(s: &str) -> Vec<String> {
    if s.contains(|c: char| c.is_whitespace() || c == ',') {
        s.split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    } else {
        s.chars().map(|c| c.to_string()).collect()
    }
}

impl MappingSpec {
    pub fn to_level_specs(&self, file: &Path) -> Result<Vec<LevelSpec>, InputError> {
        let mut out = Vec::new();
        for (i, l) in self.level.iter().enumerate() {
            let f = |key: &str, s: &str| -> Result<Factors, InputError> {
                s.parse::<Factors>().map_err(|m| {
                    err(
                        file,
                        format!("level[{i}] (`{}`).{key}", l.target),
                        m,
                        "write factors like \"K16 C4 P7\"",
                    )
                })
            };
            out.push(LevelSpec {
                target: l.target.clone(),
                temporal: f("temporal", &l.temporal)?,
                order: parse_order(&l.order),
                spatial_x: f("spatial_x", &l.spatial_x)?,
                spatial_y: f("spatial_y", &l.spatial_y)?,
                keep: l.keep.clone(),
                bypass: l.bypass.clone(),
            });
        }
        Ok(out)
    }

    /// The file form of a validated mapping (outermost level first).
    pub fn from_mapping(mapping: &Mapping, arch: &Arch, problem: &Problem) -> MappingSpec {
        let level = mapping
            .to_specs(arch, problem)
            .into_iter()
            .map(|s| MappingLevelToml {
                target: s.target,
                temporal: s.temporal.to_string(),
                order: if problem.dim_names.iter().all(|n| n.len() == 1) {
                    s.order.concat()
                } else {
                    s.order.join(" ")
                },
                spatial_x: s.spatial_x.to_string(),
                spatial_y: s.spatial_y.to_string(),
                keep: s.keep,
                bypass: Vec::new(),
            })
            .collect();
        MappingSpec { level }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

pub fn parse_mapping(
    text: &str,
    file: &Path,
    arch: &Arch,
    problem: &Problem,
) -> Result<Mapping, InputError> {
    let spec: MappingSpec = parse_toml(text, file, "mapping")?;
    let specs = spec.to_level_specs(file)?;
    Mapping::from_specs(arch, problem, &specs).map_err(|e| {
        let hint = match &e {
            crate::mapping::MappingError::FactorProduct { .. } => {
                "the factors of each dimension over all levels (temporal and spatial) must multiply to its bound (or, for an imperfect factorization, cover it with only the outermost loop's last tile partial)"
            }
            crate::mapping::MappingError::WholeIterationPadded { .. } => {
                "lower the dimension's outermost factor to ceil(bound / product of its inner factors)"
            }
            crate::mapping::MappingError::Fanout { .. } => "reduce the spatial factors or map them to the other mesh axis",
            crate::mapping::MappingError::KeptNowhere(_) => "the outermost level (backing store) must keep every tensor",
            _ => "see docs/mapping.md",
        };
        err(file, "", e.to_string(), hint)
    })
}

pub fn load_mapping(path: &Path, arch: &Arch, problem: &Problem) -> Result<Mapping, InputError> {
    parse_mapping(&read(path)?, path, arch, problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARCH: &str = r#"
name = "tiny"
[[level]]
name = "DRAM"
class = "dram"
read_energy_pj = 100.0
write_energy_pj = 100.0
[[level]]
name = "Buffer"
class = "regfile"
size_words = 64
read_energy_pj = 1.0
write_energy_pj = 1.0
[compute]
name = "MAC"
energy_pj = 0.5
"#;

    /// Z[4][8] += A[4][2] × B[2][8].
    fn tiny_gemm() -> Workload {
        parse_workload(
            "[[layer]]\nname='g'\nkind='gemm'\nm=4\nn=8\nk=2\n",
            Path::new("w.toml"),
        )
        .unwrap()
    }

    #[test]
    fn arch_levels_are_reversed_to_innermost_first() {
        let a = parse_arch(ARCH, Path::new("a.toml")).unwrap();
        assert_eq!(a.levels[0].name, "Buffer");
        assert_eq!(a.levels[0].update_energy_pj, 1.0);
        assert_eq!(a.levels[1].size_words, None);
    }

    #[test]
    fn unknown_key_is_located() {
        let text = ARCH.replace("size_words = 64", "size_word = 64");
        let e = parse_arch(&text, Path::new("a.toml")).unwrap_err();
        assert!(e.location.starts_with("line 11"), "{e}");
        assert!(e.message.contains("unknown field `size_word`"), "{e}");
    }

    #[test]
    fn missing_capacity_is_an_error() {
        let text = ARCH.replace("size_words = 64", "");
        let e = parse_arch(&text, Path::new("a.toml")).unwrap_err();
        assert!(e.location.contains("size_words"), "{e}");
    }

    #[test]
    fn mapping_round_trips_through_toml() {
        let a = parse_arch(ARCH, Path::new("a.toml")).unwrap();
        let w = tiny_gemm();
        let p = &w.layers[0].problem;
        let text = "[[level]]\ntarget='Buffer'\ntemporal='K2 M2'\norder='KM'\n[[level]]\ntarget='DRAM'\ntemporal='N8 M2'\norder='MN'\n";
        let m = parse_mapping(text, Path::new("m.toml"), &a, p).unwrap();
        let again = MappingSpec::from_mapping(&m, &a, p).to_toml();
        let m2 = parse_mapping(&again, Path::new("m2.toml"), &a, p).unwrap();
        assert_eq!(m, m2);
    }

    #[test]
    fn einsum_layers_parse_projections() {
        let text = r#"
[[layer]]
name = "conv1d"
kind = "einsum"
dims = "C32 K32 R3 P16"
tensor = [
  { name = "Weights", projection = ["C", "K", "R"] },
  { name = "Inputs", projection = ["C", "R + 2*P"] },
  { name = "Outputs", projection = ["K", "P"], read_write = true },
]
"#;
        let w = parse_workload(text, Path::new("w.toml")).unwrap();
        let p = &w.layers[0].problem;
        assert_eq!(p.tensor_size(1), 32 * (2 + 30 + 1));
        let bad = text.replace("R + 2*P", "R + X");
        let e = parse_workload(&bad, Path::new("w.toml")).unwrap_err();
        assert!(e.message.contains("`X`"), "{e}");
    }

    #[test]
    fn bad_factor_product_is_explained() {
        let a = parse_arch(ARCH, Path::new("a.toml")).unwrap();
        let w = tiny_gemm();
        let e = parse_mapping(
            "[[level]]\ntarget='DRAM'\ntemporal='M4 N4 K2'\n",
            Path::new("m.toml"),
            &a,
            &w.layers[0].problem,
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("`N` multiply to 4 but the problem bound is 8"),
            "{e}"
        );
    }
}
