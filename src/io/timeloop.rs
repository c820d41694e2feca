//! Importer for Timeloop and Accelergy YAML files, as users have them.
//!
//! Reads any mix of:
//! * Timeloop v0.4 `parsed-processed-input.yaml` (what timeloopfe writes next to its outputs:
//!   `architecture.subtree[].local[]` with `Name[1..N]` instance ranges), or a raw v0.4
//!   `architecture.nodes` list (`!Container` / `!Component` / `!Parallel`, no Jinja, no
//!   expressions); v0.3 / 2020 legacy trees (nested `subtree`/`local`, `PE[0..167]`,
//!   hyphenated keys such as `word-bits`);
//! * a `problem` (`shape` with dimensions, coefficients and data spaces, plus `instance`);
//! * a `mapping` list (`temporal` / `spatial` / `datatype` / `bypass` directives), e.g. from
//!   a `*.map.yaml`;
//! * constraints (`architecture_constraints`, `mapspace_constraints`, `constraints`, or
//!   embedded in v0.4 nodes);
//! * Accelergy `*.ERT.yaml` / `*.ART.yaml` tables.
//!
//! and produces loomap's spec structs ([`ArchSpec`], [`WorkloadSpec`], [`MappingSpec`],
//! [`ConstraintsSpec`]). Conversion rules (see also `docs/FORMATS-draft.md`):
//! * storage levels are written outermost first; the arithmetic component (class `mac`,
//!   `intmac`, `fpmac`, `compute`) becomes `[compute]` wherever it sits in the tree;
//! * `inter_*_spatial` levels (class `dummy_storage`) stay as `dummy` levels, since they carry
//!   a spatial fanout of their own;
//! * `size_words = depth × block_size`, `block_size = width / (datawidth × cluster_size)`
//!   unless given; DRAM is unbounded; `instances` from the `[a..b]` ranges (multiplied down
//!   nested subtrees), `mesh_x` from `meshX`;
//! * energies per vector access from the ERT, by component name: the maximum over argument
//!   variants of each action (as Timeloop does); fill = `fill` or `write`, update = `update`
//!   or the fill energy; compute = `compute` (legacy: `mac_random`); leakage from `leak`;
//!   areas per instance from the ART. Components missing from the ERT get zero;
//! * workloads become one `einsum` layer, coefficients (`Wstride`, ...) substituted from
//!   `instance` or their shape defaults;
//! * mappings: factor 0 = full bound; spatial loops at permutation positions `< split` go to
//!   mesh X, the rest to Y; without `split`, all go to X (Timeloop's default) unless the X
//!   fanout is 1 and Y is not. A target naming a container (`PE`) means its
//!   `inter_PE_spatial` level.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

use super::constraints::{ConstraintToml, ConstraintsSpec};
use super::{
    err, read, ArchSpec, ComputeSpec, InputError, LayerSpecToml, LevelSpecToml, MappingLevelToml,
    MappingSpec, TensorSpecToml, WorkloadSpec,
};

/// What one import produced, ready to be written as loomap TOML files.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    pub arch: Option<ArchSpec>,
    pub workload: Option<WorkloadSpec>,
    pub mapping: Option<MappingSpec>,
    pub constraints: Option<ConstraintsSpec>,
    /// Every file read, including Accelergy tables found next to the inputs.
    pub sources: Vec<PathBuf>,
    /// Things worth telling the user: defaults taken, sections ignored, approximations.
    pub notes: Vec<String>,
}

impl Imported {
    /// The output files as (file name, TOML text), in the order arch, workload, mapping,
    /// constraints; absent parts are left out.
    pub fn files(&self) -> Vec<(&'static str, String)> {
        let header = |what: &str| {
            let mut h = format!("# loomap {what}, imported by `loomap import timeloop` from:\n");
            for s in &self.sources {
                h.push_str(&format!("#   {}\n", s.display()));
            }
            h.push('\n');
            h
        };
        let mut out = Vec::new();
        if let Some(a) = &self.arch {
            let text = toml::to_string(a).unwrap_or_default();
            out.push(("arch.toml", header("architecture") + &text));
        }
        if let Some(w) = &self.workload {
            let text = toml::to_string(w).unwrap_or_default();
            out.push(("workload.toml", header("workload") + &text));
        }
        if let Some(m) = &self.mapping {
            out.push((
                "mapping.toml",
                header("mapping (orders innermost first)") + &m.to_toml(),
            ));
        }
        if let Some(c) = &self.constraints {
            out.push((
                "constraints.toml",
                header(
                    "mapspace constraints (input for the mapper; format: docs/import-timeloop.md)",
                ) + &c.to_toml(),
            ));
        }
        out
    }

    /// Writes [`Imported::files`] into `dir` (created if needed); returns the paths written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, InputError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            err(
                dir,
                "",
                format!("cannot create the output folder: {e}"),
                "check the --out path and its permissions",
            )
        })?;
        let mut written = Vec::new();
        for (name, text) in self.files() {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| {
                err(
                    &path,
                    "",
                    format!("cannot write: {e}"),
                    "check the --out path and its permissions",
                )
            })?;
            written.push(path);
        }
        Ok(written)
    }
}

/// Imports Timeloop/Accelergy files. When no ERT/ART is among them, a single `*.ERT.yaml` /
/// `*.ART.yaml` in the folder of an input is used (as Timeloop writes them into its output
/// folder next to `parsed-processed-input.yaml`).
pub fn import(files: &[PathBuf]) -> Result<Imported, InputError> {
    let mut inputs = Vec::new();
    for f in files {
        inputs.push((f.clone(), read(f)?));
    }
    let mut notes = Vec::new();
    for (suffix, key) in [(".ERT.yaml", "ERT"), (".ART.yaml", "ART")] {
        let given = inputs
            .iter()
            .any(|(p, t)| file_name(p).ends_with(suffix) || t.contains(&format!("{key}:")));
        if given {
            continue;
        }
        let mut found: Vec<PathBuf> = Vec::new();
        for f in files {
            let dir = match f.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut here: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| file_name(p).ends_with(suffix))
                .collect();
            here.sort();
            for p in here {
                if !found.contains(&p) {
                    found.push(p);
                }
            }
        }
        if let Some(p) = found.first() {
            if found.len() > 1 {
                notes.push(format!(
                    "several {suffix} files next to the inputs; using {} (pass the right one explicitly)",
                    p.display()
                ));
            } else {
                notes.push(format!("using {} found next to the inputs", p.display()));
            }
            inputs.push((p.clone(), read(p)?));
        }
    }
    let mut imported = import_texts(&inputs)?;
    notes.append(&mut imported.notes);
    imported.notes = notes;
    Ok(imported)
}

/// As [`import`], from texts already in memory (no folder search).
pub fn import_texts(inputs: &[(PathBuf, String)]) -> Result<Imported, InputError> {
    let mut docs = Vec::new();
    let mut map_txt: Option<(&Path, &str)> = None;
    for (path, text) in inputs {
        if file_name(path).ends_with(".txt") {
            map_txt = Some((path.as_path(), text.as_str()));
            continue;
        }
        let parsed = YamlLoader::load_from_str(text).map_err(|e| {
            let m = e.marker();
            err(
                path,
                format!("line {}, column {}", m.line(), m.col() + 1),
                format!("not valid YAML: {}", e.info()),
                "check the indentation and the `key: value` syntax around this place",
            )
        })?;
        for y in parsed {
            docs.push((path.as_path(), y));
        }
    }
    let mut notes = Vec::new();
    let parts = gather(&docs, &mut notes)?;
    let mut out = Imported {
        sources: inputs.iter().map(|(p, _)| p.clone()).collect(),
        ..Imported::default()
    };
    if parts.arch.is_none()
        && parts.problem.is_none()
        && parts.mapping.is_none()
        && map_txt.is_none()
    {
        let file = inputs.first().map(|(p, _)| p.clone()).unwrap_or_default();
        return Err(err(
            &file,
            "",
            "found no `architecture`, `problem` or `mapping` to import",
            "pass Timeloop YAML files: an architecture, a problem, a mapping (*.map.yaml), or the parsed-processed-input.yaml Timeloop writes next to its outputs",
        ));
    }
    let tables = Tables::read(&parts.ert, &parts.art)?;

    let mut arch_info: Option<(ArchInfo, crate::arch::Arch)> = None;
    if let Some(a) = &parts.arch {
        let (spec, info, embedded) = convert_arch(a, &tables, &mut notes)?;
        let arch = spec.to_arch(a.file).map_err(|e| {
            err(
                a.file,
                e.location,
                format!(
                    "the imported architecture is not valid for loomap: {}",
                    e.message
                ),
                e.hint,
            )
        })?;
        out.arch = Some(spec);
        let mut all = embedded;
        all.extend(parts.constraints.iter().cloned());
        if !all.is_empty() {
            out.constraints = Some(convert_constraints(&all, Some(&info))?);
        }
        arch_info = Some((info, arch));
        if !tables.have_ert {
            notes.push(
                "no Accelergy ERT given: every energy is 0 (pass the *.ERT.yaml Timeloop wrote)"
                    .to_string(),
            );
        }
    } else if !parts.constraints.is_empty() {
        out.constraints = Some(convert_constraints(&parts.constraints, None)?);
    }

    let mut problem_info: Option<(ProblemInfo, crate::workload::Problem)> = None;
    if let Some(p) = &parts.problem {
        let (layer, info) = convert_problem(p, &mut notes)?;
        let spec = WorkloadSpec {
            name: Some(layer.name.clone()),
            layer: vec![layer],
        };
        let mut workload = spec.to_workload(p.file).map_err(|e| {
            err(
                p.file,
                e.location,
                format!(
                    "the imported problem is not valid for loomap: {}",
                    e.message
                ),
                e.hint,
            )
        })?;
        out.workload = Some(spec);
        problem_info = Some((info, workload.layers.swap_remove(0).problem));
    }

    let mapping_file = match (&parts.mapping, map_txt) {
        (Some(m), _) => Some(m.file),
        (None, Some((file, _))) => Some(file),
        (None, None) => None,
    };
    if let Some(file) = mapping_file {
        let (Some((info, arch)), Some((pinfo, problem))) = (&arch_info, &problem_info) else {
            return Err(err(
                file,
                "",
                "a mapping needs its architecture and problem to be imported",
                "pass the architecture and problem files (or parsed-processed-input.yaml) too",
            ));
        };
        let spec = match &parts.mapping {
            Some(m) => {
                if let Some((t, _)) = map_txt {
                    notes.push(format!(
                        "{} ignored: the YAML mapping in {} is used",
                        t.display(),
                        m.file.display()
                    ));
                }
                convert_mapping(m, info, pinfo, &mut notes)?
            }
            None => convert_map_txt(map_txt.map_or("", |(_, t)| t), file, info, pinfo)?,
        };
        let specs = spec.to_level_specs(file)?;
        crate::mapping::Mapping::from_specs(arch, problem, &specs).map_err(|e| {
            err(
                file,
                "",
                format!("the imported mapping is not valid: {e}"),
                "Timeloop mappings must factor every dimension exactly and fit the fanouts",
            )
        })?;
        out.mapping = Some(spec);
    }
    out.notes = notes;
    Ok(out)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

// ----------------------------------------------------------------------------------------
// YAML access with key paths for errors

#[derive(Clone)]
struct Node<'a> {
    y: &'a Yaml,
    file: &'a Path,
    path: String,
}

/// Timeloop accepts `word-bits` for `word_bits`.
fn norm_key(k: &str) -> String {
    k.replace('-', "_")
}

fn kind_of(y: &Yaml) -> &'static str {
    match y {
        Yaml::Real(_) | Yaml::Integer(_) => "a number",
        Yaml::String(_) => "a string",
        Yaml::Boolean(_) => "a boolean",
        Yaml::Array(_) => "a list",
        Yaml::Hash(_) => "a mapping",
        Yaml::Null => "nothing (null)",
        _ => "an unsupported value",
    }
}

const EXPR_HINT: &str = "expressions and variables are not evaluated; use the parsed-processed-input.yaml that timeloopfe writes next to its outputs";

impl<'a> Node<'a> {
    fn new(y: &'a Yaml, file: &'a Path, path: impl Into<String>) -> Node<'a> {
        Node {
            y,
            file,
            path: path.into(),
        }
    }

    fn err(&self, message: impl Into<String>, hint: impl Into<String>) -> InputError {
        err(self.file, self.path.clone(), message, hint)
    }

    fn child(&self, y: &'a Yaml, key: &str) -> Node<'a> {
        let path = if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        };
        Node::new(y, self.file, path)
    }

    /// The value of `key` (hyphens and underscores are the same); `null` counts as absent.
    fn get(&self, key: &str) -> Option<Node<'a>> {
        let Yaml::Hash(h) = self.y else {
            return None;
        };
        let want = norm_key(key);
        h.iter().find_map(|(k, v)| {
            let ks = k.as_str()?;
            (norm_key(ks) == want && !matches!(v, Yaml::Null)).then(|| self.child(v, ks))
        })
    }

    fn req(&self, key: &str, hint: &str) -> Result<Node<'a>, InputError> {
        self.get(key)
            .ok_or_else(|| self.err(format!("missing key `{key}`"), hint))
    }

    fn is_list(&self) -> bool {
        matches!(self.y, Yaml::Array(_))
    }

    fn is_hash(&self) -> bool {
        matches!(self.y, Yaml::Hash(_))
    }

    fn list(&self) -> Result<Vec<Node<'a>>, InputError> {
        let Yaml::Array(a) = self.y else {
            return Err(self.err(
                format!("expected a list, found {}", kind_of(self.y)),
                "write a YAML list (one `- item` per line)",
            ));
        };
        Ok(a.iter()
            .enumerate()
            .map(|(i, y)| {
                let mut path = format!("{}[{i}]", self.path);
                if let Some(n) = y["name"].as_str().or(y["target"].as_str()) {
                    path.push_str(&format!(" (`{n}`)"));
                }
                Node::new(y, self.file, path)
            })
            .collect())
    }

    fn entries(&self) -> Result<Vec<(String, Node<'a>)>, InputError> {
        let Yaml::Hash(h) = self.y else {
            return Err(self.err(
                format!(
                    "expected a mapping of `key: value`, found {}",
                    kind_of(self.y)
                ),
                "write `key: value` lines",
            ));
        };
        Ok(h.iter()
            .filter_map(|(k, v)| {
                let ks = scalar_text(k)?;
                Some((ks.clone(), self.child(v, &ks)))
            })
            .collect())
    }

    fn text(&self) -> Option<String> {
        scalar_text(self.y)
    }

    fn string(&self) -> Result<String, InputError> {
        self.text().ok_or_else(|| {
            self.err(
                format!("expected a string, found {}", kind_of(self.y)),
                "write a plain value",
            )
        })
    }

    fn f64(&self) -> Result<f64, InputError> {
        let v = match self.y {
            Yaml::Integer(i) => Some(*i as f64),
            Yaml::Real(s) | Yaml::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        v.filter(|v| v.is_finite()).ok_or_else(|| {
            let found = self
                .text()
                .map_or(kind_of(self.y).to_string(), |t| format!("`{t}`"));
            self.err(format!("expected a number, found {found}"), EXPR_HINT)
        })
    }

    fn u64(&self) -> Result<u64, InputError> {
        let v = self.f64()?;
        if v < 0.0 || v.fract() != 0.0 || v > u64::MAX as f64 {
            return Err(self.err(
                format!("expected a whole number ≥ 0, found {v}"),
                "counts and sizes are whole numbers",
            ));
        }
        Ok(v as u64)
    }

    /// A list of names, or one name.
    fn names(&self) -> Result<Vec<String>, InputError> {
        if self.is_list() {
            self.list()?.iter().map(|n| n.string()).collect()
        } else {
            let s = self.string()?;
            Ok(s.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect())
        }
    }

    /// A factor or permutation string, also accepted as a list (`[N=1, C=1]`).
    fn joined(&self) -> Result<String, InputError> {
        if self.is_list() {
            Ok(self
                .list()?
                .iter()
                .map(|n| n.string())
                .collect::<Result<Vec<_>, _>>()?
                .join(" "))
        } else {
            self.string()
        }
    }
}

fn scalar_text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

// ----------------------------------------------------------------------------------------
// Top-level sections

/// Where constraints come from.
#[derive(Clone)]
enum ConSrc<'a> {
    /// A `targets` list (or `{targets: [...]}`) and its source label.
    Section(Node<'a>, &'static str),
    /// Embedded in a v0.4 node: target level, constraint type, the node's sub-table.
    Embedded(String, &'static str, Node<'a>),
}

#[derive(Default)]
struct Parts<'a> {
    arch: Option<Node<'a>>,
    problem: Option<Node<'a>>,
    mapping: Option<Node<'a>>,
    constraints: Vec<ConSrc<'a>>,
    ert: Vec<Node<'a>>,
    art: Vec<Node<'a>>,
}

fn gather<'a>(
    docs: &'a [(&'a Path, Yaml)],
    notes: &mut Vec<String>,
) -> Result<Parts<'a>, InputError> {
    let mut parts = Parts::default();
    for (file, y) in docs {
        let root = Node::new(y, file, "");
        if matches!(y, Yaml::Null) {
            continue;
        }
        let entries = root.entries().map_err(|_| {
            err(
                file,
                "",
                format!("expected a YAML mapping at the top, found {}", kind_of(y)),
                "a Timeloop file starts with keys such as `architecture:`, `problem:` or `mapping:`",
            )
        })?;
        for (key, node) in entries {
            let slot = match norm_key(&key).as_str() {
                "architecture" => &mut parts.arch,
                "problem" => &mut parts.problem,
                "mapping" => {
                    if node.is_list() && node.list()?.is_empty() {
                        continue;
                    }
                    &mut parts.mapping
                }
                "architecture_constraints" => {
                    parts
                        .constraints
                        .push(ConSrc::Section(node, "architecture"));
                    continue;
                }
                "mapspace_constraints" | "constraints" => {
                    parts.constraints.push(ConSrc::Section(node, "mapspace"));
                    continue;
                }
                "ERT" => {
                    parts.ert.push(node);
                    continue;
                }
                "ART" => {
                    parts.art.push(node);
                    continue;
                }
                "sparse_optimizations" => {
                    if node
                        .get("targets")
                        .is_some_and(|t| t.list().is_ok_and(|l| !l.is_empty()))
                    {
                        notes.push(format!(
                            "{}: `sparse_optimizations` ignored (loomap models dense tensors)",
                            file.display()
                        ));
                    }
                    continue;
                }
                "ERT_summary"
                | "ART_summary"
                | "compound_components"
                | "components"
                | "mapper"
                | "globals"
                | "variables"
                | "mapspace"
                | "dumped_by_timeloop_front_end"
                | "version"
                | "model"
                | "includes" => continue,
                _ => {
                    notes.push(format!("{}: top-level key `{key}` ignored", file.display()));
                    continue;
                }
            };
            if let Some(old) = slot.as_ref() {
                notes.push(format!(
                    "`{key}` given in both {} and {}; using the latter",
                    old.file.display(),
                    file.display()
                ));
            }
            *slot = Some(node);
        }
    }
    Ok(parts)
}

// ----------------------------------------------------------------------------------------
// Accelergy tables

#[derive(Default)]
struct Tables {
    /// component → action → max energy (pJ) over argument variants.
    energy: BTreeMap<String, BTreeMap<String, f64>>,
    /// component → area per instance (µm²).
    area: BTreeMap<String, f64>,
    have_ert: bool,
    have_art: bool,
}

/// `system.eyeriss.PE[0..167].mac` → `mac`.
fn component_key(name: &str) -> String {
    let mut plain = String::new();
    let mut depth = 0;
    for c in name.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    plain.rsplit('.').next().unwrap_or("").to_string()
}

impl Tables {
    fn read(ert: &[Node], art: &[Node]) -> Result<Tables, InputError> {
        let mut t = Tables::default();
        for e in ert {
            t.have_ert = true;
            let tables = e.req(
                "tables",
                "an ERT has `tables:` with one entry per component",
            )?;
            for comp in tables.list()? {
                let name =
                    component_key(&comp.req("name", "each ERT table has a `name`")?.string()?);
                let entry = t.energy.entry(name).or_default();
                let Some(actions) = comp.get("actions") else {
                    continue;
                };
                for a in actions.list()? {
                    let action = a.req("name", "each action has a `name`")?.string()?;
                    let energy = a
                        .req("energy", "each action has an `energy` in pJ")?
                        .f64()?;
                    let slot = entry.entry(action).or_insert(f64::NEG_INFINITY);
                    *slot = slot.max(energy);
                }
            }
        }
        for a in art {
            t.have_art = true;
            let tables = a.req(
                "tables",
                "an ART has `tables:` with one entry per component",
            )?;
            for comp in tables.list()? {
                let name =
                    component_key(&comp.req("name", "each ART table has a `name`")?.string()?);
                let area = comp
                    .req("area", "each ART table has an `area` in µm²")?
                    .f64()?;
                t.area.insert(name, area);
            }
        }
        Ok(t)
    }
}

// ----------------------------------------------------------------------------------------
// Architecture

/// One component of the flattened tree.
struct Comp<'a> {
    name: String,
    node: Node<'a>,
    class: String,
    subclass: String,
    instances: u64,
    /// Set when the mesh came from v0.4 containers rather than attributes.
    mesh: Option<(u64, u64)>,
    /// Own attributes over inherited ones (keys normalized).
    attrs: BTreeMap<String, Node<'a>>,
    dummy: bool,
}

impl<'a> Comp<'a> {
    fn attr(&self, keys: &[&str]) -> Option<&Node<'a>> {
        keys.iter().find_map(|k| self.attrs.get(&norm_key(k)))
    }
    fn attr_u64(&self, keys: &[&str]) -> Result<Option<u64>, InputError> {
        self.attr(keys).map(|n| n.u64()).transpose()
    }
    fn attr_f64(&self, keys: &[&str]) -> Result<Option<f64>, InputError> {
        self.attr(keys).map(|n| n.f64()).transpose()
    }
    fn is_compute(&self) -> bool {
        let is = |c: &str| {
            let c = c.to_ascii_lowercase();
            matches!(c.as_str(), "mac" | "intmac" | "fpmac" | "compute")
                || c.ends_with("_mac")
                || c.ends_with("intmac")
                || c.ends_with("fpmac")
        };
        !self.dummy && (is(&self.class) || is(&self.subclass))
    }
    fn level_class(&self) -> &'static str {
        let c = self.class.to_ascii_lowercase();
        let s = self.subclass.to_ascii_lowercase();
        let tech_dram = self
            .attr(&["technology"])
            .and_then(|n| n.text())
            .is_some_and(|t| t.eq_ignore_ascii_case("dram"));
        if self.dummy || c.contains("dummy") {
            "dummy"
        } else if c.contains("dram") || s.contains("dram") || tech_dram {
            "dram"
        } else if [&c, &s]
            .iter()
            .any(|x| x.contains("regfile") || x.ends_with("_rf") || x.contains("reg"))
        {
            "regfile"
        } else {
            "sram"
        }
    }
}

type Attrs<'a> = BTreeMap<String, Node<'a>>;

fn merge_attrs<'a>(into: &mut Attrs<'a>, node: &Node<'a>) -> Result<(), InputError> {
    if let Some(a) = node.get("attributes") {
        for (k, v) in a.entries()? {
            if !matches!(v.y, Yaml::Null) {
                into.insert(norm_key(&k), v);
            }
        }
    }
    Ok(())
}

/// `PE[0..167]` → (`PE`, 168).
fn split_range(node: &Node, name: &str) -> Result<(String, u64), InputError> {
    let Some(open) = name.find('[') else {
        return Ok((name.to_string(), 1));
    };
    let bad = || {
        node.err(
            format!("cannot read the instance range in `{name}`"),
            "write ranges as `Name[0..N-1]` or `Name[1..N]`",
        )
    };
    let inner = name[open + 1..].strip_suffix(']').ok_or_else(bad)?;
    let (a, b) = inner.split_once("..").ok_or_else(bad)?;
    let (a, b): (u64, u64) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if b < a {
        return Err(bad());
    }
    Ok((name[..open].to_string(), b - a + 1))
}

fn walk_subtree<'a>(
    node: &Node<'a>,
    mult: u64,
    inherited: &Attrs<'a>,
    out: &mut Vec<Comp<'a>>,
) -> Result<(), InputError> {
    let full = node
        .get("name")
        .map(|n| n.string())
        .transpose()?
        .unwrap_or_default();
    let (_, count) = split_range(node, &full)?;
    let mult = mult.saturating_mul(count);
    let mut attrs = inherited.clone();
    merge_attrs(&mut attrs, node)?;
    if let Some(locals) = node.get("local") {
        for l in locals.list()? {
            if l.get("enabled").and_then(|e| e.y.as_bool()) == Some(false) {
                continue;
            }
            let full = l.req("name", "every component has a `name`")?.string()?;
            let (name, n) = split_range(&l, &full)?;
            let class = l
                .get("class")
                .map(|c| c.string())
                .transpose()?
                .unwrap_or_default();
            let subclass = l
                .get("subclass")
                .map(|c| c.string())
                .transpose()?
                .unwrap_or_default();
            let mut own = attrs.clone();
            merge_attrs(&mut own, &l)?;
            out.push(Comp {
                dummy: class.to_ascii_lowercase().contains("dummy"),
                name,
                node: l,
                class,
                subclass,
                instances: mult.saturating_mul(n),
                mesh: None,
                attrs: own,
            });
        }
    }
    if let Some(subs) = node.get("subtree") {
        for s in subs.list()? {
            walk_subtree(&s, mult, &attrs, out)?;
        }
    }
    Ok(())
}

fn spatial_of(node: &Node) -> Result<(u64, u64), InputError> {
    let Some(s) = node.get("spatial") else {
        return Ok((1, 1));
    };
    let x = s.get("meshX").map(|n| n.u64()).transpose()?.unwrap_or(1);
    let y = s.get("meshY").map(|n| n.u64()).transpose()?.unwrap_or(1);
    if x == 0 || y == 0 {
        return Err(s.err(
            "meshX and meshY must be at least 1",
            "write e.g. `spatial: {meshX: 14}`",
        ));
    }
    Ok((x, y))
}

/// Raw v0.4 `nodes`: containers open a scope for everything after them in the same list.
fn walk_nodes<'a>(
    list: &Node<'a>,
    mut mesh: (u64, u64),
    mut attrs: Attrs<'a>,
    out: &mut Vec<Comp<'a>>,
    cons: &mut Vec<ConSrc<'a>>,
) -> Result<(), InputError> {
    for n in list.list()? {
        if n.get("enabled").and_then(|e| e.y.as_bool()) == Some(false) {
            continue;
        }
        if let Some(inner) = n.get("nodes") {
            walk_nodes(&inner, mesh, attrs.clone(), out, cons)?;
            continue;
        }
        let Some(name) = n.get("name").map(|x| x.string()).transpose()? else {
            continue; // !Nothing
        };
        let (sx, sy) = spatial_of(&n)?;
        if let Some(class) = n.get("class") {
            let class = class.string()?;
            let subclass = n
                .get("subclass")
                .map(|c| c.string())
                .transpose()?
                .unwrap_or_default();
            mesh = (mesh.0.saturating_mul(sx), mesh.1.saturating_mul(sy));
            let mut own = attrs.clone();
            merge_attrs(&mut own, &n)?;
            if let Some(c) = n.get("constraints") {
                embedded_constraints(&c, &name, cons)?;
            }
            out.push(Comp {
                dummy: class.to_ascii_lowercase().contains("dummy"),
                name,
                node: n,
                class,
                subclass,
                instances: mesh.0.saturating_mul(mesh.1),
                mesh: Some(mesh),
                attrs: own,
            });
        } else {
            // A container: its attributes and fanout apply to everything after it.
            merge_attrs(&mut attrs, &n)?;
            if sx.saturating_mul(sy) > 1 {
                let dummy = format!("inter_{name}_spatial");
                if let Some(c) = n.get("constraints") {
                    embedded_constraints(&c, &dummy, cons)?;
                }
                out.push(Comp {
                    name: dummy,
                    node: n.clone(),
                    class: "dummy_storage".into(),
                    subclass: String::new(),
                    instances: mesh.0.saturating_mul(mesh.1),
                    mesh: Some(mesh),
                    attrs: BTreeMap::new(),
                    dummy: true,
                });
                mesh = (mesh.0.saturating_mul(sx), mesh.1.saturating_mul(sy));
            }
        }
    }
    Ok(())
}

fn embedded_constraints<'a>(
    c: &Node<'a>,
    target: &str,
    cons: &mut Vec<ConSrc<'a>>,
) -> Result<(), InputError> {
    for (key, kind) in [
        ("dataspace", "bypass"),
        ("temporal", "temporal"),
        ("spatial", "spatial"),
    ] {
        if let Some(n) = c.get(key) {
            cons.push(ConSrc::Embedded(target.to_string(), kind, n));
        }
    }
    Ok(())
}

/// What mapping and constraint conversion need to know about the imported architecture.
struct ArchInfo {
    /// Outermost first.
    names: Vec<String>,
    /// Children per instance along (X, Y) below each level (outermost first).
    fanout: Vec<(u64, u64)>,
}

impl ArchInfo {
    fn resolve(&self, node: &Node, target: &Node) -> Result<usize, InputError> {
        if let Yaml::Integer(id) = target.y {
            // Timeloop storage level ids count from the innermost level.
            let n = self.names.len() as i64;
            if *id >= 0 && *id < n {
                return Ok((n - 1 - id) as usize);
            }
        }
        let t = target.string()?;
        if let Some(i) = self.names.iter().position(|n| *n == t) {
            return Ok(i);
        }
        let spatial = format!("inter_{t}_spatial");
        if let Some(i) = self.names.iter().position(|n| *n == spatial) {
            return Ok(i);
        }
        Err(node.err(
            format!("target `{t}` is not a storage level of the architecture"),
            format!("levels are: {}", self.names.join(", ")),
        ))
    }
}

fn mesh_of(c: &Comp) -> Result<(u64, u64), InputError> {
    if let Some(m) = c.mesh {
        return Ok(m);
    }
    let i = c.instances;
    let mx = c.attr_u64(&["meshX"])?;
    let my = c.attr_u64(&["meshY"])?;
    let bad = |what: String| {
        c.node.err(
            what,
            "meshX × meshY must equal the number of instances (the `[a..b]` ranges)",
        )
    };
    match (mx, my) {
        (Some(x), Some(y)) if x.checked_mul(y) == Some(i) => Ok((x, y)),
        (Some(x), Some(y)) => Err(bad(format!("meshX {x} × meshY {y} ≠ {i} instances"))),
        (Some(x), None) if x > 0 && i.is_multiple_of(x) => Ok((x, i / x)),
        (None, Some(y)) if y > 0 && i.is_multiple_of(y) => Ok((i / y, y)),
        (Some(x), None) => Err(bad(format!("{i} instances do not fill meshX {x}"))),
        (None, Some(y)) => Err(bad(format!("{i} instances do not fill meshY {y}"))),
        (None, None) => Ok((i, 1)),
    }
}

fn technology_nm(c: &Comp) -> Option<f64> {
    let t = c.attr(&["technology"])?.text()?;
    let t = t.trim().trim_end_matches("nm").trim();
    t.parse::<f64>().ok().filter(|v| *v > 0.0)
}

/// Max energy of the first action present; `None` when the component or actions are absent.
fn action(table: Option<&BTreeMap<String, f64>>, names: &[&str]) -> Option<f64> {
    let t = table?;
    names.iter().find_map(|n| t.get(*n).copied())
}

fn convert_arch<'a>(
    a: &Node<'a>,
    tables: &Tables,
    notes: &mut Vec<String>,
) -> Result<(ArchSpec, ArchInfo, Vec<ConSrc<'a>>), InputError> {
    let mut comps = Vec::new();
    let mut embedded: Vec<ConSrc<'a>> = Vec::new();
    let mut arch_name = String::new();
    if let Some(subs) = a.get("subtree") {
        for s in subs.list()? {
            if arch_name.is_empty() {
                arch_name = s.get("name").and_then(|n| n.text()).unwrap_or_default();
                arch_name = split_range(&s, &arch_name)?.0;
            }
            walk_subtree(&s, 1, &BTreeMap::new(), &mut comps)?;
        }
    } else if let Some(nodes) = a.get("nodes") {
        if let Some(first) = nodes.list()?.first() {
            arch_name = first.get("name").and_then(|n| n.text()).unwrap_or_default();
        }
        walk_nodes(&nodes, (1, 1), BTreeMap::new(), &mut comps, &mut embedded)?;
    } else {
        return Err(a.err(
            "expected `subtree` (v0.3 / parsed-processed-input.yaml) or `nodes` (v0.4)",
            "pass the architecture YAML, or the parsed-processed-input.yaml Timeloop writes",
        ));
    }
    if arch_name.is_empty() {
        arch_name = "timeloop".into();
    }

    let computes: Vec<&Comp> = comps.iter().filter(|c| c.is_compute()).collect();
    let compute = match computes.as_slice() {
        [c] => *c,
        [] => {
            return Err(a.err(
                "the architecture has no arithmetic component",
                "the innermost component needs class `intmac`, `mac`, `fpmac` or `compute`",
            ))
        }
        [_, second, ..] => {
            return Err(second.node.err(
                "a second arithmetic component; loomap models one compute array",
                "keep one component of class mac/intmac/fpmac/compute",
            ))
        }
    };
    if comps.last().map(|c| c.name.as_str()) != Some(compute.name.as_str()) {
        notes.push(format!(
            "the arithmetic component `{}` is not the innermost one; the storage levels listed after it sit between it and the levels above (as Timeloop reads them)",
            compute.name
        ));
    }

    let storage: Vec<&Comp> = comps.iter().filter(|c| !c.is_compute()).collect();
    if storage.is_empty() {
        return Err(a.err(
            "the architecture has no storage level",
            "add at least a backing store (class DRAM)",
        ));
    }
    let meshes: Vec<(u64, u64)> = storage
        .iter()
        .map(|c| mesh_of(c))
        .collect::<Result<_, _>>()?;
    let compute_mesh = mesh_of(compute)?;

    let mut levels = Vec::new();
    let mut technology = None;
    for (i, c) in storage.iter().enumerate() {
        let (mx, my) = meshes[i];
        let class = c.level_class();
        let mut l = LevelSpecToml {
            name: c.name.clone(),
            class: String::new(),
            instances: Some(c.instances),
            mesh_x: Some(mx),
            mesh_y: Some(my),
            ..LevelSpecToml::default()
        };
        if class == "dummy" {
            l.class = class.into();
            levels.push(l);
            continue;
        }
        if technology.is_none() {
            technology = technology_nm(c);
        }
        let word_bits = c
            .attr_u64(&["datawidth", "word_bits", "word_width"])?
            .unwrap_or(16);
        if word_bits == 0 || word_bits > u64::from(u32::MAX) {
            return Err(c
                .attr(&["datawidth", "word_bits", "word_width"])
                .unwrap_or(&c.node)
                .err("word width must be at least 1 bit", "set `datawidth`"));
        }
        let cluster = c.attr_u64(&["cluster_size"])?.unwrap_or(1).max(1);
        let width = c.attr_u64(&["width", "memory_width", "data_storage_width"])?;
        let block = match (c.attr_u64(&["block_size", "n_words"])?, width) {
            (Some(b), _) => b.max(1),
            (None, Some(w)) => {
                let per = word_bits.saturating_mul(cluster);
                if w % per != 0 {
                    notes.push(format!(
                        "`{}`: width {w} is not a multiple of datawidth × cluster_size = {per}; block_size rounded down",
                        c.name
                    ));
                }
                (w / per).max(1)
            }
            (None, None) => 1,
        };
        let depth = c.attr_u64(&["depth", "memory_depth"])?;
        let size = if let Some(d) = depth {
            Some(d.saturating_mul(block))
        } else if let Some(e) = c.attr_u64(&["entries"])? {
            Some(e)
        } else {
            c.attr_f64(&["sizeKB"])?
                .map(|kb| (kb * 8192.0 / word_bits as f64).floor() as u64)
        };
        if class == "dram" {
            l.size_words = None;
        } else {
            l.size_words = Some(size.ok_or_else(|| {
                c.node.err(
                    format!("storage `{}` has no capacity", c.name),
                    "give `depth` (rows; with `width` and `datawidth`), `entries` or `sizeKB`",
                )
            })?);
        }
        l.class = class.into();
        l.word_bits = Some(word_bits as u32);
        l.block_size = Some(block);
        if cluster != 1 {
            l.cluster_size = Some(cluster);
        }
        l.read_bw = c.attr_f64(&["read_bandwidth", "read_bw"])?;
        l.write_bw = c.attr_f64(&["write_bandwidth", "write_bw"])?;
        l.shared_bw = c.attr_f64(&["shared_bandwidth", "shared_bw"])?;
        if let Some(bw) = c.attr_f64(&["bandwidth"])? {
            // Legacy: one bandwidth, split evenly between reads and writes.
            l.read_bw = l.read_bw.or(Some(bw / 2.0));
            l.write_bw = l.write_bw.or(Some(bw / 2.0));
        }
        // Timeloop treats a bandwidth of 0 as unspecified.
        for bw in [&mut l.read_bw, &mut l.write_bw, &mut l.shared_bw] {
            if *bw == Some(0.0) {
                *bw = None;
            }
        }
        l.multiple_buffering = c.attr_f64(&["multiple_buffering"])?.filter(|v| *v != 1.0);
        l.min_utilization = c.attr_f64(&["min_utilization"])?.filter(|v| *v != 0.0);
        l.network_fill_latency = c.attr_u64(&["network_fill_latency"])?.filter(|v| *v != 0);
        l.network_drain_latency = c.attr_u64(&["network_drain_latency"])?.filter(|v| *v != 0);

        let table = tables.energy.get(&c.name);
        if tables.have_ert && table.is_none() {
            notes.push(format!(
                "`{}` is not in the ERT: its energies are 0",
                c.name
            ));
        }
        let read_e = action(table, &["read", "access"]).unwrap_or(0.0);
        let fill_e = action(table, &["fill", "write", "access"]).unwrap_or(0.0);
        let update_e = action(table, &["update", "fill", "write", "access"]).unwrap_or(0.0);
        let (read_e, fill_e, update_e) = match c.attr_f64(&["vector_access_energy"])? {
            Some(v) => (v, v, v),
            None => (read_e, fill_e, update_e),
        };
        l.read_energy_pj = Some(read_e);
        l.write_energy_pj = Some(fill_e);
        l.update_energy_pj = Some(update_e);
        l.leak_pj_per_cycle = Some(action(table, &["leak"]).unwrap_or(0.0));
        l.area_um2 = Some(tables.area.get(&c.name).copied().unwrap_or_else(|| {
            if tables.have_art {
                notes.push(format!("`{}` is not in the ART: its area is 0", c.name));
            }
            0.0
        }));
        levels.push(l);
    }

    let ctable = tables.energy.get(&compute.name);
    let compute_e = action(ctable, &["compute", "mac_random"]).or_else(|| {
        ctable.and_then(|t| {
            t.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "idle" | "leak")
                        && !k.contains("gated")
                        && !k.contains("skipped")
                })
                .map(|(_, v)| *v)
                .reduce(f64::max)
        })
    });
    if tables.have_ert && compute_e.is_none() {
        notes.push(format!(
            "no `compute` energy for `{}` in the ERT: compute energy is 0",
            compute.name
        ));
    }
    let (cx, cy) = compute_mesh;
    let compute_spec = ComputeSpec {
        name: compute.name.clone(),
        instances: Some(compute.instances),
        mesh_x: Some(cx),
        mesh_y: Some(cy),
        word_bits: compute
            .attr_u64(&["datawidth", "word_bits"])?
            .map(|v| v.clamp(1, u64::from(u32::MAX)) as u32),
        energy_pj: Some(compute_e.unwrap_or(0.0)),
        area_um2: Some(tables.area.get(&compute.name).copied().unwrap_or(0.0)),
        ..ComputeSpec::default()
    };
    if technology.is_none() {
        technology = technology_nm(compute);
    }
    let clock_ghz = storage
        .first()
        .and_then(|c| c.attr(&["global_cycle_seconds"]))
        .and_then(|n| n.f64().ok())
        .filter(|s| *s > 0.0)
        .map(|s| 1e-9 / s);

    // Children per instance along X and Y below each level.
    let mut fanout = Vec::new();
    for i in 0..meshes.len() {
        let child = meshes.get(i + 1).copied().unwrap_or(compute_mesh);
        let (px, py) = meshes[i];
        fanout.push((child.0 / px.max(1), child.1 / py.max(1)));
    }
    let info = ArchInfo {
        names: levels.iter().map(|l| l.name.clone()).collect(),
        fanout,
    };
    let spec = ArchSpec {
        name: arch_name,
        technology_nm: technology,
        clock_ghz,
        rules: None,
        estimate_generation: None,
        program_overhead_cycles: None,
        level: levels,
        compute: compute_spec,
    };
    Ok((spec, info, embedded))
}

// ----------------------------------------------------------------------------------------
// Problem

struct ProblemInfo {
    dims: Vec<(String, u64)>,
    tensors: Vec<String>,
}

/// Timeloop's built-in `cnn-layer` shape.
const CNN_LAYER: &str = r#"
name: CNN-Layer
dimensions: [C, M, R, S, N, P, Q]
coefficients:
  - {name: Wstride, default: 1}
  - {name: Hstride, default: 1}
  - {name: Wdilation, default: 1}
  - {name: Hdilation, default: 1}
data_spaces:
  - name: Weights
    projection: [[[C]], [[M]], [[R]], [[S]]]
  - name: Inputs
    projection: [[[N]], [[C]], [[R, Wdilation], [P, Wstride]], [[S, Hdilation], [Q, Hstride]]]
  - name: Outputs
    projection: [[[N]], [[M]], [[Q]], [[P]]]
    read_write: true
"#;

fn convert_problem(
    p: &Node,
    notes: &mut Vec<String>,
) -> Result<(LayerSpecToml, ProblemInfo), InputError> {
    let builtin;
    let shape_node = p.req(
        "shape",
        "a problem has a `shape` (dimensions, data spaces) and an `instance` (bounds)",
    )?;
    let shape = match shape_node.text() {
        Some(s) if matches!(s.to_ascii_lowercase().as_str(), "cnn-layer" | "cnn_layer") => {
            builtin = YamlLoader::load_from_str(CNN_LAYER).expect("built-in shape parses");
            Node::new(&builtin[0], p.file, shape_node.path.clone())
        }
        Some(s) => {
            return Err(shape_node.err(
                format!("unknown built-in shape `{s}`"),
                "write the shape out (dimensions, data_spaces), or use `cnn-layer`",
            ))
        }
        None => shape_node,
    };
    let instance = p.get("instance").unwrap_or_else(|| p.clone());
    let mut values: BTreeMap<String, (u64, Node)> = BTreeMap::new();
    for (k, v) in instance.entries()? {
        if k == "densities" {
            if v.entries().is_ok_and(|e| !e.is_empty()) {
                notes.push("`instance.densities` ignored (loomap models dense tensors)".into());
            }
            continue;
        }
        if k == "shape" || k == "version" {
            continue;
        }
        if let Ok(n) = v.u64() {
            values.insert(k, (n, v));
        }
    }

    let mut dims = Vec::new();
    for d in shape
        .req(
            "dimensions",
            "list the loop dimensions, e.g. `dimensions: [C, K, R, P]`",
        )?
        .names()?
    {
        if d.is_empty() || !d.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
            return Err(shape.err(
                format!("dimension name `{d}` is not supported"),
                "loomap dimension names are letters (and `_`), e.g. `C` or `K`",
            ));
        }
        let bound = match values.get(&d) {
            Some((v, n)) if *v == 0 => {
                return Err(n.err(
                    format!("bound of `{d}` is 0"),
                    "every bound must be at least 1",
                ))
            }
            Some((v, _)) => *v,
            None => {
                notes.push(format!("no bound for `{d}` in `instance`; using 1"));
                1
            }
        };
        dims.push((d, bound));
    }
    let mut coefs: BTreeMap<String, u64> = BTreeMap::new();
    if let Some(cs) = shape.get("coefficients") {
        for c in cs.list()? {
            let name = c.req("name", "each coefficient has a `name`")?.string()?;
            let default = c.get("default").map(|d| d.u64()).transpose()?.unwrap_or(1);
            let v = values.get(&name).map_or(default, |(v, _)| *v);
            coefs.insert(name, v);
        }
    }

    let mut tensors = Vec::new();
    let spaces = shape.req("data_spaces", "list the tensors under `data_spaces`")?;
    for ds in spaces.list()? {
        let name = ds.req("name", "each data space has a `name`")?.string()?;
        let read_write = ds
            .get("read_write")
            .map(|n| match n.y {
                Yaml::Boolean(b) => Ok(*b),
                _ => match n.text().map(|t| t.to_ascii_lowercase()) {
                    Some(t) if t == "true" => Ok(true),
                    Some(t) if t == "false" => Ok(false),
                    _ => Err(n.err(
                        "expected true or false",
                        "write `read_write: true` for the output",
                    )),
                },
            })
            .transpose()?
            .unwrap_or(false);
        let proj = ds.req("projection", "each data space has a `projection`")?;
        let ranks = projection_ranks(&proj, &dims, &coefs)?;
        tensors.push(TensorSpecToml {
            name,
            projection: ranks,
            read_write,
        });
    }
    let name = shape
        .get("name")
        .and_then(|n| n.text())
        .unwrap_or_else(|| "layer".to_string());
    let info = ProblemInfo {
        dims: dims.clone(),
        tensors: tensors.iter().map(|t| t.name.clone()).collect(),
    };
    let layer = LayerSpecToml {
        name,
        kind: "einsum".into(),
        dims: Some(
            dims.iter()
                .map(|(d, b)| format!("{d}{b}"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        tensor: tensors,
        ..LayerSpecToml::default()
    };
    Ok((layer, info))
}

/// One projection string per rank, coefficients substituted: `["C", "R + 2*P"]`.
fn projection_ranks(
    proj: &Node,
    dims: &[(String, u64)],
    coefs: &BTreeMap<String, u64>,
) -> Result<Vec<String>, InputError> {
    let is_dim = |s: &str| dims.iter().any(|(d, _)| d == s);
    let value = |n: &Node, s: &str| -> Result<u64, InputError> {
        if let Some(v) = coefs.get(s) {
            return Ok(*v);
        }
        s.parse::<u64>().map_err(|_| {
            n.err(
                format!("`{s}` is neither a dimension nor a coefficient of the shape"),
                "dimensions are listed in `dimensions`, coefficients in `coefficients`",
            )
        })
    };
    // One term: factors whose product is coefficient × one dimension.
    let term = |n: &Node, factors: &[String]| -> Result<Option<(String, u64)>, InputError> {
        let mut dim = None;
        let mut coef = 1u64;
        for f in factors {
            if is_dim(f) {
                if dim.is_some() {
                    return Err(n.err(
                        format!("term `{}` multiplies two dimensions", factors.join("*")),
                        "each term is one dimension times constant coefficients",
                    ));
                }
                dim = Some(f.clone());
            } else {
                coef = coef.saturating_mul(value(n, f)?);
            }
        }
        let dim = dim.ok_or_else(|| {
            n.err(
                format!("term `{}` has no dimension", factors.join("*")),
                "each term is one dimension times constant coefficients",
            )
        })?;
        Ok((coef != 0).then_some((dim, coef)))
    };
    let render = |n: &Node, terms: Vec<(String, u64)>| -> Result<String, InputError> {
        if terms.is_empty() {
            return Err(n.err(
                "this rank has no term left (all coefficients are 0)",
                "check the coefficient values in `instance`",
            ));
        }
        Ok(terms
            .iter()
            .map(|(d, c)| {
                if *c == 1 {
                    d.clone()
                } else {
                    format!("{c}*{d}")
                }
            })
            .collect::<Vec<_>>()
            .join(" + "))
    };
    let expr = |n: &Node, s: &str| -> Result<String, InputError> {
        let mut terms = Vec::new();
        for t in s.split('+').map(str::trim).filter(|t| !t.is_empty()) {
            let factors: Vec<String> = t.split('*').map(|f| f.trim().to_string()).collect();
            if let Some(x) = term(n, &factors)? {
                terms.push(x);
            }
        }
        render(n, terms)
    };

    if let Some(s) = proj.text() {
        // `"[ C, R + 2*P ]"`
        let inner = s.trim().trim_start_matches('[').trim_end_matches(']');
        return inner.split(',').map(|r| expr(proj, r)).collect();
    }
    let mut out = Vec::new();
    for rank in proj.list()? {
        if let Some(s) = rank.text() {
            out.push(expr(&rank, &s)?);
            continue;
        }
        let mut terms = Vec::new();
        for t in rank.list()? {
            let factors = if let Some(s) = t.text() {
                vec![s]
            } else {
                t.list()?
                    .iter()
                    .map(|f| f.string())
                    .collect::<Result<Vec<_>, _>>()?
            };
            if let Some(x) = term(&t, &factors)? {
                terms.push(x);
            }
        }
        out.push(render(&rank, terms)?);
    }
    Ok(out)
}

// ----------------------------------------------------------------------------------------
// Mapping

/// Parses Timeloop factors (`R=3 P=1`, `R3,P1`, `C1 M8`) into (dimension, value, relation),
/// relation one of `=`, `<=`, `>=`.
fn factor_tokens(node: &Node, text: &str) -> Result<Vec<(String, String, u64)>, InputError> {
    let bad = |why: String| {
        node.err(
            why,
            "write factors as `R=3 P=16` or `R3 P16` (one per dimension)",
        )
    };
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let skip = |i: &mut usize| {
        while *i < chars.len() && (chars[*i].is_whitespace() || chars[*i] == ',') {
            *i += 1;
        }
    };
    loop {
        skip(&mut i);
        if i >= chars.len() {
            break;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_alphabetic() || chars[i] == '_') {
            i += 1;
        }
        if start == i {
            return Err(bad(format!(
                "unexpected `{}` in factors `{text}`",
                chars[i]
            )));
        }
        let name: String = chars[start..i].iter().collect();
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let mut rel = String::from("=");
        if i < chars.len() && matches!(chars[i], '<' | '>') {
            rel = format!("{}=", chars[i]);
            i += 1;
            if i < chars.len() && chars[i] == '=' {
                i += 1;
            }
        } else {
            while i < chars.len() && chars[i] == '=' {
                i += 1;
            }
        }
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let ns = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        if ns == i {
            return Err(bad(format!("`{name}` has no factor in `{text}`")));
        }
        let value: u64 = chars[ns..i]
            .iter()
            .collect::<String>()
            .parse()
            .map_err(|_| bad(format!("factor of `{name}` is too large")))?;
        // `N=6,2` is a Ruby residual (imperfect) factor.
        let mut j = i;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        if j + 1 < chars.len()
            && chars[j] == ','
            && chars[j + 1..]
                .iter()
                .find(|c| !c.is_whitespace())
                .is_some_and(|c| c.is_ascii_digit())
        {
            return Err(node.err(
                format!("`{name}` has a residual factor in `{text}` (imperfect factorization)"),
                "Ruby's residual loops (a shorter last iteration) have no loomap equivalent; write the padded factor instead (loomap runs a non-dividing last tile padded, docs/search.md \"Imperfect factorizations\")",
            ));
        }
        out.push((name, rel, value));
    }
    Ok(out)
}

/// Permutation text or list → dimension names, innermost first.
fn permutation(node: &Node, dims: &[(String, u64)]) -> Result<Vec<String>, InputError> {
    let single = dims.iter().all(|(d, _)| d.len() == 1);
    let names: Vec<String> = if node.is_list() {
        node.names()?
    } else {
        let s = node.string()?;
        if single {
            s.chars()
                .filter(|c| !c.is_whitespace() && *c != ',' && *c != '_')
                .map(|c| c.to_string())
                .collect()
        } else {
            s.split(|c: char| c.is_whitespace() || c == ',')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        }
    };
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !dims.iter().any(|(d, _)| *d == n) {
            return Err(node.err(
                format!("`{n}` in the permutation is not a dimension of the problem"),
                format!(
                    "dimensions are: {}",
                    dims.iter()
                        .map(|(d, _)| d.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            ));
        }
        if out.contains(&n) {
            return Err(node.err(
                format!("`{n}` appears twice in the permutation"),
                "list each dimension once, innermost first",
            ));
        }
        out.push(n);
    }
    Ok(out)
}

/// A spatial directive: factors, permutation, split, and its key path for notes.
type SpatialDirective = (BTreeMap<String, u64>, Vec<String>, Option<u64>, String);

#[derive(Default)]
struct LevelAcc {
    temporal: Option<(BTreeMap<String, u64>, Vec<String>)>,
    spatial: Option<SpatialDirective>,
    keep: Vec<String>,
    bypass: Vec<String>,
    datatype: bool,
}

fn convert_mapping(
    m: &Node,
    arch: &ArchInfo,
    problem: &ProblemInfo,
    notes: &mut Vec<String>,
) -> Result<MappingSpec, InputError> {
    let list = if m.is_hash() {
        m.get("targets").unwrap_or_else(|| m.clone())
    } else {
        m.clone()
    };
    let mut acc: Vec<LevelAcc> = (0..arch.names.len()).map(|_| LevelAcc::default()).collect();
    for d in list.list()? {
        let target = d.req("target", "each mapping directive names its `target` level")?;
        let lvl = arch.resolve(&d, &target)?;
        let kind = d
            .req(
                "type",
                "each directive has a `type`: temporal, spatial or datatype",
            )?
            .string()?;
        match kind.as_str() {
            "temporal" | "spatial" => {
                let mut factors: BTreeMap<String, u64> = BTreeMap::new();
                if let Some(f) = d.get("factors") {
                    let text = f.joined()?;
                    for (name, rel, v) in factor_tokens(&f, &text)? {
                        let Some((_, bound)) = problem.dims.iter().find(|(n, _)| *n == name) else {
                            return Err(f.err(
                                format!("`{name}` is not a dimension of the problem"),
                                format!(
                                    "dimensions are: {}",
                                    problem
                                        .dims
                                        .iter()
                                        .map(|(d, _)| d.as_str())
                                        .collect::<Vec<_>>()
                                        .join(" ")
                                ),
                            ));
                        };
                        if rel != "=" {
                            return Err(f.err(
                                format!("`{name}{rel}{v}` is a limit, not a factor"),
                                "a mapping fixes every factor; limits belong in constraints",
                            ));
                        }
                        let v = if v == 0 {
                            *bound
                        } else if v > *bound {
                            notes.push(format!(
                                "{}: factor {name}={v} exceeds the bound {bound}; using {bound} (as Timeloop does)",
                                f.path
                            ));
                            *bound
                        } else {
                            v
                        };
                        if factors.insert(name.clone(), v).is_some() {
                            return Err(f.err(
                                format!("`{name}` is given twice"),
                                "give each dimension one factor per directive",
                            ));
                        }
                    }
                }
                let mut perm = match d.get("permutation") {
                    Some(p) => permutation(&p, &problem.dims)?,
                    None => Vec::new(),
                };
                for (dname, _) in &problem.dims {
                    if !perm.contains(dname) {
                        perm.push(dname.clone());
                    }
                }
                let a = &mut acc[lvl];
                let dup = if kind == "temporal" {
                    a.temporal.replace((factors, perm)).is_some()
                } else {
                    let split = d.get("split").map(|s| s.u64()).transpose()?;
                    a.spatial
                        .replace((factors, perm, split, d.path.clone()))
                        .is_some()
                };
                if dup {
                    return Err(d.err(
                        format!("a second `{kind}` directive for `{}`", arch.names[lvl]),
                        "give one temporal and at most one spatial directive per level",
                    ));
                }
            }
            "datatype" | "dataspace" | "bypass" | "bypassing" => {
                let a = &mut acc[lvl];
                a.datatype = true;
                for (key, into) in [("keep", &mut a.keep), ("bypass", &mut a.bypass)] {
                    if let Some(k) = d.get(key) {
                        for t in k.names()? {
                            if !problem.tensors.contains(&t) {
                                return Err(k.err(
                                    format!("`{t}` is not a data space of the problem"),
                                    format!("data spaces are: {}", problem.tensors.join(", ")),
                                ));
                            }
                            into.push(t);
                        }
                    }
                }
            }
            other => {
                return Err(d.err(
                    format!("unknown directive type `{other}`"),
                    "use temporal, spatial, datatype (or bypass)",
                ))
            }
        }
    }

    let mut levels = Vec::new();
    for (lvl, a) in acc.into_iter().enumerate() {
        if a.temporal.is_none() && a.spatial.is_none() && !a.datatype {
            continue;
        }
        let mut out = MappingLevelToml {
            target: arch.names[lvl].clone(),
            ..MappingLevelToml::default()
        };
        let render = |f: &BTreeMap<String, u64>, order: &[String]| {
            order
                .iter()
                .filter_map(|d| f.get(d).filter(|v| **v > 1).map(|v| format!("{d}{v}")))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let sep = if problem.dims.iter().all(|(d, _)| d.len() == 1) {
            ""
        } else {
            " "
        };
        if let Some((f, perm)) = &a.temporal {
            out.temporal = render(f, perm);
            out.order = perm
                .iter()
                .filter(|d| f.get(*d).is_some_and(|v| *v > 1))
                .cloned()
                .collect::<Vec<_>>()
                .join(sep);
        }
        if let Some((f, perm, split, path)) = &a.spatial {
            let (fx, fy) = arch.fanout[lvl];
            let split = match split {
                Some(s) => *s as usize,
                None if fx <= 1 && fy > 1 => {
                    notes.push(format!(
                        "{path}: no `split`, and `{}` fans out only along Y: spatial loops mapped to Y",
                        arch.names[lvl]
                    ));
                    0
                }
                None => perm.len(),
            };
            let (x, y) = perm.split_at(split.min(perm.len()));
            out.spatial_x = render(f, x);
            out.spatial_y = render(f, y);
        }
        if a.datatype {
            // Timeloop keeps whatever is not bypassed.
            out.keep = Some(
                problem
                    .tensors
                    .iter()
                    .filter(|t| !a.bypass.contains(t))
                    .cloned()
                    .collect(),
            );
        }
        levels.push(out);
    }
    Ok(MappingSpec { level: levels })
}

/// Timeloop's pretty loop nest (`*.map.txt`): one header per storage level
/// (`shared_glb [ Inputs:2497 Outputs:5280 ]`, the kept tensors), then its loops outer to
/// inner (`| for P in [0:55)`, spatial ones tagged `(Spatial-X)` / `(Spatial-Y)`).
fn convert_map_txt(
    text: &str,
    file: &Path,
    arch: &ArchInfo,
    problem: &ProblemInfo,
) -> Result<MappingSpec, InputError> {
    struct Lvl {
        index: usize,
        keep: Vec<String>,
        /// (dim, bound, axis: 0 temporal, 1 X, 2 Y), outer to inner.
        loops: Vec<(String, u64, u8)>,
    }
    let mut levels: Vec<Lvl> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let at = |msg: String, hint: &str| err(file, format!("line {}", n + 1), msg, hint);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('-') {
            continue;
        }
        if let Some(body) = line.strip_prefix('|') {
            let body = body.trim();
            if body.starts_with("<<") {
                continue;
            }
            let Some(cur) = levels.last_mut() else {
                return Err(at(
                    "a loop before any level header".into(),
                    "a map.txt starts with the outermost level, e.g. `DRAM [ Weights:864 ]`",
                ));
            };
            let bad = || {
                at(
                    format!("cannot read the loop `{body}`"),
                    "loops look like `for P in [0:55)` or `for M in [0:12) (Spatial-X)`",
                )
            };
            let rest = body.strip_prefix("for ").ok_or_else(bad)?;
            let (dim, rest) = rest.split_once(" in [").ok_or_else(bad)?;
            let (range, tail) = rest.split_once(')').ok_or_else(bad)?;
            let (lo, hi) = range.split_once(':').ok_or_else(bad)?;
            if hi.contains(',') {
                return Err(at(
                    format!("`{body}` has a residual (imperfect) factor"),
                    "Ruby's residual loops have no loomap equivalent; write the padded factor (docs/search.md \"Imperfect factorizations\")",
                ));
            }
            let (lo, hi): (u64, u64) = (
                lo.trim().parse().map_err(|_| bad())?,
                hi.trim().parse().map_err(|_| bad())?,
            );
            let dim = dim.trim().to_string();
            if !problem.dims.iter().any(|(d, _)| *d == dim) {
                return Err(at(
                    format!("`{dim}` is not a dimension of the problem"),
                    "use the map.txt written for this problem",
                ));
            }
            let axis = match tail.trim() {
                "" => 0,
                "(Spatial-X)" => 1,
                "(Spatial-Y)" => 2,
                other => {
                    return Err(at(
                        format!("unknown loop tag `{other}`"),
                        "expected (Spatial-X) or (Spatial-Y)",
                    ))
                }
            };
            if hi.saturating_sub(lo) > 1 {
                cur.loops.push((dim, hi - lo, axis));
            }
            continue;
        }
        let Some((name, body)) = line.split_once('[') else {
            return Err(at(
                format!("cannot read `{line}`"),
                "expected a level header such as `shared_glb [ Inputs:2497 ]`, a `---` line or a `| for` loop",
            ));
        };
        let name = name.trim();
        let index = arch.names.iter().position(|l| l == name).ok_or_else(|| {
            at(
                format!("`{name}` is not a storage level of the architecture"),
                &format!("levels are: {}", arch.names.join(", ")),
            )
        })?;
        let mut keep = Vec::new();
        for tok in body.trim_end_matches(']').split_whitespace() {
            if let Some((t, _)) = tok.split_once(':') {
                if !problem.tensors.iter().any(|x| x == t) {
                    return Err(at(
                        format!("`{t}` is not a data space of the problem"),
                        &format!("data spaces are: {}", problem.tensors.join(", ")),
                    ));
                }
                keep.push(t.to_string());
            }
        }
        levels.push(Lvl {
            index,
            keep,
            loops: Vec::new(),
        });
    }
    let sep = if problem.dims.iter().all(|(d, _)| d.len() == 1) {
        ""
    } else {
        " "
    };
    let mut out: Vec<MappingLevelToml> = Vec::new();
    levels.sort_by_key(|l| l.index);
    for l in levels {
        let pick = |axis: u8| -> Vec<(String, u64)> {
            l.loops
                .iter()
                .rev()
                .filter(|x| x.2 == axis)
                .map(|x| (x.0.clone(), x.1))
                .collect()
        };
        let fmt = |v: &[(String, u64)]| {
            v.iter()
                .map(|(d, b)| format!("{d}{b}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let temporal = pick(0);
        out.push(MappingLevelToml {
            target: arch.names[l.index].clone(),
            temporal: fmt(&temporal),
            order: temporal
                .iter()
                .map(|(d, _)| d.as_str())
                .collect::<Vec<_>>()
                .join(sep),
            spatial_x: fmt(&pick(1)),
            spatial_y: fmt(&pick(2)),
            keep: Some(l.keep),
            bypass: Vec::new(),
        });
    }
    Ok(MappingSpec { level: out })
}

// ----------------------------------------------------------------------------------------
// Constraints

fn convert_constraints(
    sources: &[ConSrc],
    arch: Option<&ArchInfo>,
) -> Result<ConstraintsSpec, InputError> {
    let mut out = Vec::new();
    for src in sources {
        let (section, source) = match src {
            ConSrc::Embedded(target, kind, node) => {
                out.push(constraint(
                    node,
                    target.clone(),
                    kind.to_string(),
                    "architecture",
                    arch,
                )?);
                continue;
            }
            ConSrc::Section(node, source) => (node, *source),
        };
        let list = if section.is_hash() {
            match section
                .get("targets")
                .or_else(|| section.get("constraints"))
            {
                Some(l) => l,
                None => continue,
            }
        } else {
            section.clone()
        };
        for c in list.list()? {
            let target = c.req("target", "each constraint names its `target` level")?;
            let name = match arch {
                Some(a) => a.names[a.resolve(&c, &target)?].clone(),
                None => target.string()?,
            };
            let kind = c.req("type", "each constraint has a `type`")?.string()?;
            out.push(constraint(&c, name, kind, source, arch)?);
        }
    }
    Ok(ConstraintsSpec {
        imperfect: None,
        constraint: out,
    })
}

fn constraint(
    c: &Node,
    target: String,
    kind: String,
    source: &str,
    arch: Option<&ArchInfo>,
) -> Result<ConstraintToml, InputError> {
    let kind = match kind.as_str() {
        "datatype" | "dataspace" | "bypassing" => "bypass".to_string(),
        "parallelism" => "utilization".to_string(),
        _ => kind,
    };
    if let Some(a) = arch {
        if !a.names.contains(&target) {
            return Err(c.err(
                format!("target `{target}` is not a storage level of the architecture"),
                format!("levels are: {}", a.names.join(", ")),
            ));
        }
    }
    let factors = match c.get("factors") {
        Some(f) => {
            let text = f.joined()?;
            factor_tokens(&f, &text)?
                .into_iter()
                .map(|(d, rel, v)| {
                    if rel == "=" {
                        format!("{d}{v}")
                    } else {
                        format!("{d}{rel}{v}")
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        }
        None => String::new(),
    };
    let permutation = match c.get("permutation") {
        Some(p) if p.is_list() => p.names()?.join(" "),
        Some(p) => p.string()?.trim().to_string(),
        None => String::new(),
    };
    Ok(ConstraintToml {
        target,
        kind,
        factors,
        permutation,
        split: c.get("split").map(|s| s.u64()).transpose()?,
        keep: c.get("keep").map(|k| k.names()).transpose()?,
        bypass: c
            .get("bypass")
            .map(|k| k.names())
            .transpose()?
            .unwrap_or_default(),
        min: c.get("min").map(|m| m.f64()).transpose()?,
        source: source.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(files: &[(&str, &str)]) -> Result<Imported, InputError> {
        let inputs: Vec<(PathBuf, String)> = files
            .iter()
            .map(|(n, t)| (PathBuf::from(n), t.to_string()))
            .collect();
        import_texts(&inputs)
    }

    const PROCESSED: &str = r#"
architecture:
  version: '0.4'
  subtree:
    - name: System_top_level
      attributes: {technology: "40nm", global_cycle_seconds: 1e-9}
      local:
        - name: MainMemory[1..1]
          class: DRAM
          attributes: {width: 256, datawidth: 8, meshX: 1, meshY: 1}
        - name: inter_PE_spatial[1..1]
          class: dummy_storage
          attributes: {width: 1, depth: 1, datawidth: 1, meshX: 1, meshY: 1}
        - name: GlobalBuffer[1..16]
          class: SRAM
          attributes: {depth: 32768, width: 64, datawidth: 8, meshX: 16, meshY: 1}
        - name: RegisterFile[1..16]
          class: regfile
          attributes: {depth: 64, width: 8, datawidth: 8, meshX: 16, meshY: 1, read_bandwidth: 2}
        - name: MACC[1..16]
          class: intmac
          attributes: {width: 8, meshX: 16, meshY: 1}
problem:
  shape:
    name: Conv1D_OC
    dimensions: [C, K, R, P]
    coefficients: [{name: Wstride, default: 2}]
    data_spaces:
      - name: Weights
        projection: [[[C]], [[K]], [[R]]]
      - name: Inputs
        projection:
          - [[C]]
          - [[R], [P, Wstride]]
      - name: Outputs
        projection: [[[K]], [[P]]]
        read_write: True
  instance: {C: 32, K: 32, R: 3, P: 16, densities: {}}
mapping:
  - target: MainMemory
    type: temporal
    factors: R=1,P=1,K=1,C=1
    permutation: PRKC
  - type: spatial
    target: PE
    factors: R1 P1 K1 C16
    permutation: PRKC
  - target: inter_PE_spatial
    type: bypass
    bypass: [Weights, Inputs, Outputs]
  - target: GlobalBuffer
    type: temporal
    factors: R=3 P=1 K=32 C=2
    permutation: PRKC
  - target: RegisterFile
    type: temporal
    factors: R=1 P=0 K=1 C=1
    permutation: RPKC
  - target: RegisterFile
    type: datatype
    keep: [Inputs]
    bypass: [Weights]
"#;

    const ERT: &str = r#"
ERT:
  version: '0.4'
  tables:
    - name: System_top_level.MainMemory[1..1]
      actions:
        - {name: read, arguments: {a: 0}, energy: 2048.0}
        - {name: write, energy: 2048.0}
        - {name: leak, energy: 0.0}
    - name: System_top_level.GlobalBuffer[1..16]
      actions:
        - {name: read, arguments: {d: 0}, energy: 10.0}
        - {name: read, arguments: {d: 1}, energy: 43.35}
        - {name: write, energy: 30.8}
        - {name: update, energy: 31.0}
        - {name: leak, energy: 0.008}
    - name: System_top_level.RegisterFile[1..16]
      actions:
        - {name: read, energy: 0.42}
        - {name: write, energy: 0.41}
    - name: System_top_level.MACC[1..16]
      actions:
        - {name: compute, energy: 0.845}
        - {name: leak, energy: 0.5}
"#;

    const ART: &str = r#"
ART:
  tables:
    - {name: "System_top_level.GlobalBuffer[1..16]", area: 707084.0}
    - {name: "System_top_level.MACC[1..16]", area: 332.25}
"#;

    #[test]
    fn processed_input_with_tables() {
        let imp = run(&[
            ("p.yaml", PROCESSED),
            ("t.ERT.yaml", ERT),
            ("t.ART.yaml", ART),
        ])
        .unwrap();
        let a = imp.arch.as_ref().unwrap();
        assert_eq!(a.name, "System_top_level");
        assert_eq!(a.technology_nm, Some(40.0));
        assert_eq!(a.clock_ghz, Some(1.0));
        let names: Vec<&str> = a.level.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "MainMemory",
                "inter_PE_spatial",
                "GlobalBuffer",
                "RegisterFile"
            ]
        );
        let dram = &a.level[0];
        assert_eq!(
            (dram.class.as_str(), dram.block_size, dram.size_words),
            ("dram", Some(32), None)
        );
        assert_eq!(a.level[1].class, "dummy");
        let glb = &a.level[2];
        assert_eq!(glb.size_words, Some(32768 * 8));
        assert_eq!(
            (glb.instances, glb.mesh_x, glb.mesh_y),
            (Some(16), Some(16), Some(1))
        );
        // Max over argument variants; update falls back to write when absent.
        assert_eq!(glb.read_energy_pj, Some(43.35));
        assert_eq!(glb.update_energy_pj, Some(31.0));
        assert_eq!(glb.area_um2, Some(707084.0));
        let rf = &a.level[3];
        assert_eq!(
            (rf.class.as_str(), rf.size_words, rf.read_bw),
            ("regfile", Some(64), Some(2.0))
        );
        assert_eq!(rf.update_energy_pj, Some(0.41));
        assert_eq!(rf.leak_pj_per_cycle, Some(0.0));
        assert!(imp
            .notes
            .iter()
            .any(|n| n.contains("RegisterFile") && n.contains("ART")));
        // Arithmetic leak is ignored; compute energy is the `compute` action.
        assert_eq!(a.compute.energy_pj, Some(0.845));
        assert_eq!(
            (a.compute.instances, a.compute.mesh_x),
            (Some(16), Some(16))
        );

        let l = &imp.workload.as_ref().unwrap().layer[0];
        assert_eq!(l.kind, "einsum");
        assert_eq!(l.dims.as_deref(), Some("C32 K32 R3 P16"));
        assert_eq!(l.tensor[1].projection, ["C", "R + 2*P"]);
        assert!(l.tensor[2].read_write);

        let m = imp.mapping.as_ref().unwrap();
        let by = |t: &str| m.level.iter().find(|l| l.target == t).unwrap();
        assert_eq!(by("inter_PE_spatial").spatial_x, "C16"); // no split: all X
        assert_eq!(by("inter_PE_spatial").keep, Some(vec![]));
        assert_eq!(by("GlobalBuffer").temporal, "R3 K32 C2");
        assert_eq!(by("GlobalBuffer").order, "RKC");
        assert_eq!(by("RegisterFile").temporal, "P16"); // 0 = full bound
        assert_eq!(
            by("RegisterFile").keep,
            Some(vec!["Inputs".to_string(), "Outputs".to_string()])
        );
        // Everything written parses back.
        for (name, text) in imp.files() {
            assert!(text.starts_with("# loomap"), "{name}");
        }
        let files = imp.files();
        let arch = crate::io::parse_arch(&files[0].1, Path::new("arch.toml")).unwrap();
        let w = crate::io::parse_workload(&files[1].1, Path::new("w.toml")).unwrap();
        crate::io::parse_mapping(
            &files[2].1,
            Path::new("m.toml"),
            &arch,
            &w.layers[0].problem,
        )
        .unwrap();
    }

    #[test]
    fn split_sends_leading_permutation_positions_to_x() {
        let text = PROCESSED.replace(
            "- type: spatial\n    target: PE\n    factors: R1 P1 K1 C16\n    permutation: PRKC",
            "- type: spatial\n    target: PE\n    factors: R1 P1 K1 C16\n    permutation: PRKC\n    split: 3",
        );
        let imp = run(&[("p.yaml", &text)]).unwrap_err();
        // C is at position 3 -> Y, but the fanout is along X only.
        assert!(imp.message.contains("spatial Y"), "{imp}");
        assert!(imp.message.contains("mapping is not valid"), "{imp}");
    }

    #[test]
    fn legacy_tree_multiplies_ranges_and_reads_hyphenated_keys() {
        let arch = r#"
architecture:
  version: 0.3
  subtree:
    - name: system
      local:
        - name: DRAM
          class: DRAM
          attributes: {width: 64, block-size: 4, word-bits: 16}
      subtree:
        - name: chip
          attributes: {technology: 45nm}
          local:
            - name: glb
              class: smartbuffer_SRAM
              attributes: {memory_depth: 16384, memory_width: 64, block-size: 4, word-bits: 16}
            - name: Dummy[0..13]
              class: regfile
              attributes: {depth: 16, width: 16, word-bits: 16, block-size: 1, meshX: 14}
          subtree:
            - name: PE[0..167]
              local:
                - name: spad
                  class: smartbuffer_RF
                  attributes: {memory_depth: 12, memory_width: 16, block-size: 1, word-bits: 16, meshX: 14}
                - name: mac
                  class: intmac
                  attributes: {datawidth: 16, meshX: 14}
                - name: reg
                  class: reg_storage
                  attributes: {depth: 1, width: 16, meshX: 14}
"#;
        let ert = r#"
ERT:
  version: 0.3
  tables:
  - name: system.chip.PE[0..167].mac
    actions:
    - {name: mac_random, arguments: null, energy: 2.2}
    - {name: mac_reused, arguments: null, energy: 1.877}
  - name: system.chip.PE[0..167].reg
    actions:
    - {name: access, arguments: null, energy: 0.009}
"#;
        let imp = run(&[("a.yaml", arch), ("e.ERT.yaml", ert)]).unwrap();
        let a = imp.arch.unwrap();
        let names: Vec<&str> = a.level.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["DRAM", "glb", "Dummy", "spad", "reg"]);
        assert_eq!(a.level[0].block_size, Some(4));
        assert_eq!(a.level[1].size_words, Some(16384 * 4));
        assert_eq!(
            (a.level[2].instances, a.level[2].mesh_x),
            (Some(14), Some(14))
        );
        assert_eq!(
            (a.level[3].instances, a.level[3].mesh_y),
            (Some(168), Some(12))
        );
        assert_eq!(a.level[4].class, "regfile");
        assert_eq!(a.level[4].read_energy_pj, Some(0.009));
        assert_eq!(a.compute.energy_pj, Some(2.2));
        assert_eq!(a.technology_nm, Some(45.0));
        assert!(imp.notes.iter().any(|n| n.contains("not the innermost")));
    }

    #[test]
    fn raw_v04_nodes_insert_spatial_dummies_and_collect_constraints() {
        let text = r#"
architecture:
  version: 0.4
  nodes:
  - !Container
    name: system
    attributes: {technology: "32nm"}
  - !Component
    name: DRAM
    class: DRAM
    attributes: {width: 64, datawidth: 8}
  - !Container
    name: PE
    spatial: {meshX: 4}
    constraints:
      spatial: {factors: [N=1, C=1], permutation: [K, C, N], split: 1}
  - !Parallel
    nodes:
    - !Component
      name: buf
      class: smartbuffer_RF
      attributes: {depth: 12, width: 16, datawidth: 8}
      constraints:
        dataspace: {keep: [Inputs]}
    - !Nothing {}
  - !Component
    name: mac
    class: intmac
    attributes: {multiplier_width: 8}
"#;
        let imp = run(&[("a.yaml", text)]).unwrap();
        let a = imp.arch.unwrap();
        let names: Vec<&str> = a.level.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["DRAM", "inter_PE_spatial", "buf"]);
        assert_eq!(a.level[1].instances, Some(1));
        assert_eq!(
            (
                a.level[2].instances,
                a.level[2].block_size,
                a.level[2].size_words
            ),
            (Some(4), Some(2), Some(24))
        );
        assert_eq!(a.compute.mesh_x, Some(4));
        let c = imp.constraints.unwrap().constraint;
        assert_eq!(c[0].target, "inter_PE_spatial");
        assert_eq!(
            (
                c[0].kind.as_str(),
                c[0].factors.as_str(),
                c[0].permutation.as_str()
            ),
            ("spatial", "N1 C1", "K C N")
        );
        assert_eq!(c[0].split, Some(1));
        assert_eq!(
            (c[1].target.as_str(), c[1].kind.as_str()),
            ("buf", "bypass")
        );
        assert_eq!(c[1].keep, Some(vec!["Inputs".to_string()]));
        assert!(imp.notes.iter().any(|n| n.contains("no Accelergy ERT")));
    }

    #[test]
    fn constraint_files_keep_limits_and_full_bound_markers() {
        let arch = PROCESSED.split("problem:").next().unwrap();
        let cons = r#"
architecture_constraints:
  targets:
  - target: RegisterFile
    type: temporal
    permutation: NCPQRS M
    factors: C=1 R=0 K<=8
  - target: GlobalBuffer
    type: bypass
    bypass: [Weights]
    keep: [Inputs, Outputs]
mapspace_constraints:
  targets:
  - {target: PE, type: spatial, factors: C>=2, split: 0}
  - {target: RegisterFile, type: utilization, min: 0.5}
"#;
        let imp = run(&[("a.yaml", arch), ("c.yaml", cons)]).unwrap();
        let c = imp.constraints.unwrap().constraint;
        assert_eq!(c.len(), 4);
        assert_eq!(
            (c[0].factors.as_str(), c[0].permutation.as_str()),
            ("C1 R0 K<=8", "NCPQRS M")
        );
        assert_eq!(c[1].bypass, ["Weights"]);
        assert_eq!(
            (
                c[2].target.as_str(),
                c[2].factors.as_str(),
                c[2].source.as_str()
            ),
            ("inter_PE_spatial", "C>=2", "mapspace")
        );
        assert_eq!(c[3].min, Some(0.5));
        let text = ConstraintsSpec {
            imperfect: None,
            constraint: c,
        }
        .to_toml();
        let back = crate::io::constraints::parse_constraints(&text, Path::new("c.toml")).unwrap();
        assert_eq!(back.constraint.len(), 4);
    }

    #[test]
    fn errors_are_located_and_never_panic() {
        // Bad YAML.
        let e = run(&[("bad.yaml", "architecture: [1, 2\nproblem: 3")]).unwrap_err();
        assert!(e.location.starts_with("line 2"), "{e}");
        // A string where a number is needed.
        let text = PROCESSED.replace("depth: 32768", "depth: lots");
        let e = run(&[("p.yaml", &text)]).unwrap_err();
        assert!(
            e.location.contains("GlobalBuffer") && e.location.ends_with("attributes.depth"),
            "{e}"
        );
        assert!(e.message.contains("`lots`"), "{e}");
        // Unknown dimension in a mapping.
        let text = PROCESSED.replace("R=3 P=1 K=32 C=2", "R=3 X=1 K=32 C=2");
        let e = run(&[("p.yaml", &text)]).unwrap_err();
        assert!(e.message.contains("`X` is not a dimension"), "{e}");
        // Unknown target.
        let text = PROCESSED.replace("target: GlobalBuffer", "target: GLB");
        let e = run(&[("p.yaml", &text)]).unwrap_err();
        assert!(e.hint.contains("MainMemory"), "{e}");
        // Imperfect (Ruby) factors.
        let text = PROCESSED.replace("R=3 P=1 K=32 C=2", "R=3 P=1 K=32,2 C=2");
        let e = run(&[("p.yaml", &text)]).unwrap_err();
        assert!(e.message.contains("residual"), "{e}");
        // Bad range.
        let text = PROCESSED.replace("GlobalBuffer[1..16]", "GlobalBuffer[1..x]");
        assert!(run(&[("p.yaml", &text)])
            .unwrap_err()
            .message
            .contains("range"));
        // Nothing importable.
        let e = run(&[("m.yaml", "mapper: {algorithm: hybrid}")]).unwrap_err();
        assert!(e.message.contains("found no"), "{e}");
        // Garbage shapes never panic.
        for junk in [
            "[]",
            "3",
            "architecture: 3",
            "problem: {shape: {}}",
            "mapping: [1]",
            "architecture: {subtree: [{local: 3}]}",
        ] {
            assert!(run(&[("j.yaml", junk)]).is_err(), "{junk}");
        }
    }

    #[test]
    fn cnn_layer_builtin_shape_and_string_projections() {
        let p = "problem:\n  shape: cnn-layer\n  R: 3\n  S: 3\n  P: 8\n  Q: 8\n  C: 4\n  M: 8\n  N: 1\n  Wstride: 2\n";
        let imp = run(&[("p.yaml", p)]).unwrap();
        let l = &imp.workload.unwrap().layer[0];
        assert_eq!(l.dims.as_deref(), Some("C4 M8 R3 S3 N1 P8 Q8"));
        assert_eq!(l.tensor[1].projection, ["N", "C", "R + 2*P", "S + Q"]);
        let p = "problem:\n  shape:\n    dimensions: [M, K]\n    data_spaces:\n      - {name: A, projection: '[M, K]'}\n      - {name: Z, projection: [M], read-write: true}\n  instance: {M: 4, K: 2}\n";
        let imp = run(&[("p.yaml", p)]).unwrap();
        let l = &imp.workload.unwrap().layer[0];
        assert_eq!(l.tensor[0].projection, ["M", "K"]);
        assert_eq!(l.tensor[1].projection, ["M"]);
    }

    #[test]
    fn map_txt_loop_nests_import_like_yaml_mappings() {
        let arch_and_problem = PROCESSED.split("mapping:").next().unwrap();
        let txt = "MainMemory [ Weights:3072 (3072) Inputs:576 (576) Outputs:512 (512) ] \n\
inter_PE_spatial [ ] \n\
--------------------\n\
| for C in [0:16) (Spatial-X)\n\n\
GlobalBuffer [ Weights:192 (192) Inputs:36 (36) Outputs:512 (512) ] \n\
-------------------------------------------------------------------\n\
|   for C in [0:2)\n\
|     for K in [0:32)\n\
|       for R in [0:3)\n\n\
RegisterFile [ Inputs:16 (16) Outputs:16 (16) ] \n\
-------------------------------------------------------------\n\
|         for P in [0:16)\n\
|           << Compute >>\n";
        let imp = run(&[("p.yaml", arch_and_problem), ("t.map.txt", txt)]).unwrap();
        let m = imp.mapping.unwrap();
        let by = |t: &str| m.level.iter().find(|l| l.target == t).unwrap();
        assert_eq!(by("inter_PE_spatial").spatial_x, "C16");
        assert_eq!(
            (
                by("GlobalBuffer").temporal.as_str(),
                by("GlobalBuffer").order.as_str()
            ),
            ("R3 K32 C2", "RKC")
        );
        assert_eq!(
            by("RegisterFile").keep,
            Some(vec!["Inputs".to_string(), "Outputs".to_string()])
        );
        // Located errors.
        let bad = txt.replace("for K in [0:32)", "for X in [0:32)");
        let e = run(&[("p.yaml", arch_and_problem), ("t.map.txt", &bad)]).unwrap_err();
        assert_eq!(e.location, "line 9", "{e}");
        let bad = txt.replace("GlobalBuffer [", "GLB [");
        let e = run(&[("p.yaml", arch_and_problem), ("t.map.txt", &bad)]).unwrap_err();
        assert!(e.message.contains("`GLB`"), "{e}");
    }

    /// Every truncation and every single-line deletion of a valid input imports or fails
    /// with an error, never a panic.
    #[test]
    fn damaged_inputs_never_panic() {
        let full = format!("{PROCESSED}{ERT}{ART}");
        let lines: Vec<&str> = full.lines().collect();
        for i in 0..lines.len() {
            let cut = lines[..i].join("\n");
            let _ = run(&[("p.yaml", &cut)]);
            let mut without = lines.clone();
            without.remove(i);
            let _ = run(&[("p.yaml", &without.join("\n"))]);
            let doubled = lines[i].replace(|c: char| c.is_ascii_digit(), "99999999999999999999");
            let mut big = lines.clone();
            big[i] = &doubled;
            let _ = run(&[("p.yaml", &big.join("\n"))]);
        }
        let huge = PROCESSED.replace(
            "GlobalBuffer[1..16]",
            "GlobalBuffer[1..18446744073709551615]",
        );
        assert!(run(&[("p.yaml", &huge)]).is_err());
    }

    #[test]
    fn component_keys_strip_prefixes_and_ranges() {
        assert_eq!(component_key("system.eyeriss.PE[0..167].mac"), "mac");
        assert_eq!(
            component_key("System_top_level.GlobalBuffer[1..16]"),
            "GlobalBuffer"
        );
        assert_eq!(component_key("DRAM"), "DRAM");
    }
}
