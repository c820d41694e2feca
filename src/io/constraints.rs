//! Mapspace constraints (`constraints.toml`): per-level directives that narrow the set of
//! mappings a mapper may consider. Written by `loomap import timeloop` from Timeloop
//! constraint files; read by the mapper. The notation matches the mapping files.
//!
//! ```toml
//! [[constraint]]
//! target = "weights_spad"      # a storage level of the architecture
//! type = "temporal"            # temporal | spatial | bypass | utilization | (other Timeloop types kept verbatim)
//! factors = "N1 M1 P1 Q1 S1 R0" # fixed factors; `X0` = the full bound of X; `X<=8`, `X>=2` = limits
//! permutation = "NMPQS CR"     # innermost first; listed dims are fixed, as Timeloop reads them
//! split = 4                    # spatial only: loops at permutation positions < split go to mesh X
//! keep = ["Weights"]           # bypass only
//! bypass = ["Inputs", "Outputs"]
//! min = 0.5                    # utilization only: minimum fraction of compute units used
//! source = "architecture"      # architecture (what the hardware can do) | mapspace (search hints)
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{err, parse_toml, read, InputError};
use crate::arch::Arch;
use crate::mapspace::{Axis, Constraints};
use crate::workload::Problem;

#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConstraintsSpec {
    /// `true`: admit imperfect (padded last tile) factorizations (`mapping::Padding`).
    /// `false`: forbid them even when the search asks (a back end that cannot run them).
    /// Absent: perfect only, unless the search asks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imperfect: Option<bool>,
    #[serde(default)]
    pub constraint: Vec<ConstraintToml>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConstraintToml {
    pub target: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub factors: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub permutation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bypass: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

impl ConstraintsSpec {
    /// Applies a search's request for imperfect factorizations (`--imperfect`, a sweep's
    /// `search.imperfect`) to constraints resolved from this spec, refusing it if the file
    /// says `imperfect = false`.
    pub fn admit_imperfect(&self, file: &Path, c: &mut Constraints) -> Result<(), InputError> {
        if self.imperfect == Some(false) {
            return Err(err(
                file,
                "imperfect",
                "these constraints forbid imperfect factorizations, but the search asks for them",
                "drop --imperfect (or `imperfect = true` in the sweep's [search]); the target cannot run padded tiles",
            ));
        }
        c.imperfect = true;
        Ok(())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

pub fn parse_constraints(text: &str, file: &Path) -> Result<ConstraintsSpec, InputError> {
    parse_toml(text, file, "constraints")
}

pub fn load_constraints(path: &Path) -> Result<ConstraintsSpec, InputError> {
    parse_constraints(&read(path)?, path)
}

/// Resolves constraints against an architecture and a problem: level and dimension names
/// become indices, several entries for one level merge, and anything contradictory or
/// unknown is an error naming `constraint[i].key` in `file`.
///
/// Entry types other than temporal, spatial, bypass and utilization (Timeloop knobs such as
/// `no_reuse` that the importer keeps verbatim) do not narrow the space and are skipped.
pub fn resolve(
    spec: &ConstraintsSpec,
    file: &Path,
    arch: &Arch,
    problem: &Problem,
) -> Result<Constraints, InputError> {
    let mut out = Constraints::none(arch);
    out.imperfect = spec.imperfect == Some(true);
    let levels = arch
        .levels
        .iter()
        .map(|l| l.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    // Which entry fixed what, to name both sides of a conflict.
    let mut order_set: Vec<Option<usize>> = vec![None; arch.num_levels()];
    for (i, c) in spec.constraint.iter().enumerate() {
        let at = |key: &str| format!("constraint[{i}].{key}");
        let lvl = arch.level_id(&c.target).ok_or_else(|| {
            err(
                file,
                at("target"),
                format!("`{}` is not a storage level of {}", c.target, arch.name),
                format!("levels: {levels}"),
            )
        })?;
        let lc = &mut out.levels[lvl];
        match c.kind.as_str() {
            "temporal" | "spatial" => {
                let spatial = c.kind == "spatial";
                for (d, rel, v) in parse_factor_limits(&c.factors, problem).map_err(|m| {
                    err(
                        file,
                        at("factors"),
                        m,
                        "write e.g. \"N1 K0 C<=8 P>=2\" (0 = the full bound)",
                    )
                })? {
                    let v = if v == 0 {
                        problem.bounds[d]
                    } else {
                        v.min(problem.bounds[d])
                    };
                    let lim = if spatial {
                        &mut lc.spatial[d]
                    } else {
                        &mut lc.temporal[d]
                    };
                    match rel {
                        Rel::Eq => {
                            if let Some(prev) = lim.exact.filter(|&p| p != v) {
                                return Err(err(file, at("factors"), format!("`{}` at `{}` is fixed to {v} here but to {prev} by an earlier constraint", problem.dim_names[d], c.target), "remove one of the two"));
                            }
                            lim.exact = Some(v);
                        }
                        Rel::Le => lim.max = lim.max.min(v),
                        Rel::Ge => lim.min = lim.min.max(v),
                    }
                }
                if !c.permutation.is_empty() {
                    let (prefix, suffix) = parse_permutation(&c.permutation, problem).map_err(|m| {
                        err(file, at("permutation"), m, "list dimension names innermost first, e.g. \"NMPQS CR\"; `_` separates a fixed outermost part")
                    })?;
                    if spatial {
                        if let Some(split) = c.split {
                            for (pos, &d) in prefix.iter().enumerate() {
                                lc.spatial_axis[d] = Some(if (pos as u64) < split {
                                    Axis::X
                                } else {
                                    Axis::Y
                                });
                            }
                        }
                        lc.spatial_order = prefix;
                    } else {
                        if let Some(prev) = order_set[lvl] {
                            if lc.order_prefix != prefix || lc.order_suffix != suffix {
                                return Err(err(file, at("permutation"), format!("conflicts with the permutation of constraint[{prev}] for `{}`", c.target), "keep one permutation per level"));
                            }
                        }
                        order_set[lvl] = Some(i);
                        lc.order_prefix = prefix;
                        lc.order_suffix = suffix;
                    }
                }
            }
            "bypass" => {
                let mask = |names: &[String], key: &str| -> Result<u8, InputError> {
                    let mut m = 0u8;
                    for n in names {
                        let t = problem.tensor_id(n).ok_or_else(|| {
                            let known = problem
                                .tensors
                                .iter()
                                .map(|t| t.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ");
                            err(
                                file,
                                at(key),
                                format!("`{n}` is not a tensor of {}", problem.name),
                                format!("tensors: {known}"),
                            )
                        })?;
                        m |= 1 << t;
                    }
                    Ok(m)
                };
                let keep = mask(c.keep.as_deref().unwrap_or(&[]), "keep")?;
                let bypass = mask(&c.bypass, "bypass")?;
                lc.keep |= keep;
                lc.bypass |= bypass;
                if lc.keep & lc.bypass != 0 {
                    let t = (lc.keep & lc.bypass).trailing_zeros() as usize;
                    return Err(err(
                        file,
                        at("keep"),
                        format!(
                            "tensor `{}` is both kept and bypassed at `{}`",
                            problem.tensors[t].name, c.target
                        ),
                        "a tensor is either kept or bypassed at a level",
                    ));
                }
            }
            "utilization" => {
                if let Some(min) = c.min {
                    if !(0.0..=1.0).contains(&min) {
                        return Err(err(
                            file,
                            at("min"),
                            format!("{min} is not a fraction"),
                            "write a number between 0 and 1",
                        ));
                    }
                    lc.min_spatial_utilization = lc.min_spatial_utilization.max(min);
                }
            }
            _ => {}
        }
    }
    out.check(arch, problem).map_err(|e| {
        err(
            file,
            "",
            e.to_string(),
            "the constraints cannot all hold; relax one of them",
        )
    })?;
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rel {
    Eq,
    Le,
    Ge,
}

/// "N1 K0 C<=8 P>=2 R=3" → (dim, relation, value).
fn parse_factor_limits(s: &str, problem: &Problem) -> Result<Vec<(usize, Rel, u64)>, String> {
    let mut out = Vec::new();
    for tok in s
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
    {
        let cut = tok
            .find(|c: char| c.is_ascii_digit() || c == '=' || c == '<' || c == '>')
            .ok_or_else(|| format!("`{tok}` has no number"))?;
        let (name, rest) = tok.split_at(cut);
        let (rel, num) = if let Some(n) = rest.strip_prefix("<=") {
            (Rel::Le, n)
        } else if let Some(n) = rest.strip_prefix(">=") {
            (Rel::Ge, n)
        } else {
            (Rel::Eq, rest.trim_start_matches('='))
        };
        let d = problem.dim_id(name).ok_or_else(|| {
            format!(
                "`{name}` is not a dimension of {} ({})",
                problem.name,
                problem.dim_names.join(" ")
            )
        })?;
        let v: u64 = num
            .parse()
            .map_err(|_| format!("`{tok}`: `{num}` is not a whole number"))?;
        out.push((d, rel, v));
    }
    Ok(out)
}

/// "NMPQS CR" or "N M _ C" → (innermost fixed prefix, outermost fixed suffix), both innermost
/// first. Tokens that are not dimension names are read letter by letter.
fn parse_permutation(s: &str, problem: &Problem) -> Result<(Vec<usize>, Vec<usize>), String> {
    let mut prefix = Vec::new();
    let mut suffix = Vec::new();
    let mut in_suffix = false;
    let mut push = |d: usize, in_suffix: bool| -> Result<(), String> {
        if prefix.contains(&d) || suffix.contains(&d) {
            return Err(format!("`{}` appears twice", problem.dim_names[d]));
        }
        if in_suffix {
            suffix.push(d)
        } else {
            prefix.push(d)
        }
        Ok(())
    };
    for tok in s
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
    {
        if let Some(d) = problem.dim_id(tok) {
            push(d, in_suffix)?;
            continue;
        }
        for ch in tok.chars() {
            if ch == '_' {
                in_suffix = true;
                continue;
            }
            let d = problem.dim_id(&ch.to_string()).ok_or_else(|| {
                format!(
                    "`{ch}` is not a dimension of {} ({})",
                    problem.name,
                    problem.dim_names.join(" ")
                )
            })?;
            push(d, in_suffix)?;
        }
    }
    Ok((prefix, suffix))
}
