//! Mappings: tiling, loop order, spatial split and bypass of one problem on one architecture.
//!
//! The canonical form is a flat [`LoopNest`] (innermost loop first) cut into storage levels,
//! plus a keep mask per level. Everything else (the per-level TOML notation, later MAESTRO
//! directives and search points) lowers to it. Unit loops are dropped on construction.

use std::fmt;
use std::str::FromStr;

use crate::arch::Arch;
use crate::workload::{DimId, Problem, MAX_TENSORS};

/// How a dimension's loop bounds cover its bound. A factorization is *perfect* when they
/// multiply to it; an *imperfect* one multiplies to more, and the nest runs the padded
/// dimension: every tile has the full size and the last tile along the dimension holds
/// padding (zeros), as systolic arrays and GeneSys run non-dividing tiles. Only the
/// outermost loop of the dimension may be partial, so no whole iteration is padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// The loops multiply to the bound.
    None,
    /// The loops multiply to more than the bound and the outermost loop's last iteration is
    /// the only partial one: outermost = ceil(bound / inner tile).
    LastTile,
    /// The loops multiply to less than the bound.
    Short,
    /// The loops pad the bound by a whole outermost iteration or more.
    WholeIteration,
}

/// Classifies loops of product `product` whose outermost loop has bound `outermost` over a
/// dimension of bound `bound`.
pub fn padding(bound: u64, product: u64, outermost: u64) -> Padding {
    if product == bound {
        Padding::None
    } else if product < bound {
        Padding::Short
    } else if outermost > 1 && (product / outermost) * (outermost - 1) < bound {
        Padding::LastTile
    } else {
        Padding::WholeIteration
    }
}

/// Where a loop runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Spacetime {
    Temporal,
    SpatialX,
    SpatialY,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Loop {
    pub dim: DimId,
    pub bound: u64,
    pub space: Spacetime,
}

/// Loops innermost first. Level `i` owns `loops[level_start[i]..level_start[i + 1]]`; within a
/// level, spatial loops sit inside (before) the temporal ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopNest {
    pub loops: Vec<Loop>,
    pub level_start: Vec<usize>,
}

impl LoopNest {
    pub fn level_loops(&self, level: usize) -> &[Loop] {
        &self.loops[self.level_start[level]..self.level_start[level + 1]]
    }
    /// One past the last loop of `level`: the tile held at `level` spans `loops[..end]`.
    pub fn level_end(&self, level: usize) -> usize {
        self.level_start[level + 1]
    }

    /// The extent the nest covers along dimension `d` (the product of its loops) and the
    /// bound of its outermost loop (1 if it has none).
    pub fn extent(&self, d: DimId) -> (u64, u64) {
        let mut product = 1u64;
        let mut outermost = 1u64;
        for l in self.loops.iter().filter(|l| l.dim == d) {
            product = product.saturating_mul(l.bound);
            outermost = l.bound;
        }
        (product, outermost)
    }
}

/// A validated mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub nest: LoopNest,
    /// Bit `t` of `keep[level]` set = tensor `t` is stored at that level.
    pub keep: Vec<u8>,
}

/// Dimension factors in the compact notation `"K16 C4 P7"` (order kept as written).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Factors(pub Vec<(String, u64)>);

impl FromStr for Factors {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for tok in s
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
        {
            let split = tok.find(|c: char| c.is_ascii_digit() || c == '=').ok_or_else(|| {
                format!("`{tok}` has no number; write a dimension letter followed by its factor, e.g. `K16`")
            })?;
            let (name, rest) = tok.split_at(split);
            let num = rest.trim_start_matches('=');
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
                return Err(format!(
                    "`{tok}`: expected a dimension name before the factor, e.g. `K16`"
                ));
            }
            let value: u64 = num
                .parse()
                .map_err(|_| format!("`{tok}`: `{num}` is not a whole number"))?;
            out.push((name.to_string(), value));
        }
        Ok(Factors(out))
    }
}

impl fmt::Display for Factors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (d, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{d}{v}")?;
        }
        Ok(())
    }
}

/// What a user writes for one storage level (the TOML `[[level]]` table, already parsed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LevelSpec {
    pub target: String,
    pub temporal: Factors,
    /// Dimension names innermost first; unnamed dimensions go outside, in problem order.
    pub order: Vec<String>,
    pub spatial_x: Factors,
    pub spatial_y: Factors,
    /// `None` = keep every tensor.
    pub keep: Option<Vec<String>>,
    pub bypass: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("mapping targets `{0}`, which is not a storage level of the architecture")]
    UnknownLevel(String),
    #[error("level `{0}` is mapped twice")]
    DuplicateLevel(String),
    #[error("level `{level}`: `{dim}` is not a dimension of the problem (it has {known})")]
    UnknownDim {
        level: String,
        dim: String,
        known: String,
    },
    #[error("level `{level}`: `{tensor}` is not a tensor of the problem (it has {known})")]
    UnknownTensor {
        level: String,
        tensor: String,
        known: String,
    },
    #[error("level `{level}`: factor of `{dim}` is 0; factors must be at least 1")]
    ZeroFactor { level: String, dim: String },
    #[error("factors of `{dim}` multiply to {product} but the problem bound is {bound}")]
    FactorProduct {
        dim: String,
        product: u64,
        bound: u64,
    },
    #[error("factors of `{dim}` multiply to {product}, padding its bound {bound} by at least one whole iteration of its outermost loop (bound {outermost}); the outermost factor must be ceil({bound} / inner tile)")]
    WholeIterationPadded {
        dim: String,
        product: u64,
        bound: u64,
        outermost: u64,
    },
    #[error("level `{level}`: spatial {axis} factors multiply to {used} but the fanout below it is only {available}")]
    Fanout {
        level: String,
        axis: char,
        used: u64,
        available: u64,
    },
    #[error("tensor `{0}` is kept at no level; the outermost level must keep every tensor")]
    KeptNowhere(String),
    #[error("level `{level}` is a dummy level and cannot keep `{tensor}`")]
    DummyKeeps { level: String, tensor: String },
    #[error("level `{level}`: dimension `{dim}` appears twice in `{what}`")]
    Repeated {
        level: String,
        dim: String,
        what: &'static str,
    },
}

impl Mapping {
    /// Builds and validates a mapping from per-level specs (any order, by level name).
    pub fn from_specs(
        arch: &Arch,
        problem: &Problem,
        specs: &[LevelSpec],
    ) -> Result<Mapping, MappingError> {
        let nlev = arch.num_levels();
        let mut per_level: Vec<Option<&LevelSpec>> = vec![None; nlev];
        for s in specs {
            let id = arch
                .level_id(&s.target)
                .ok_or_else(|| MappingError::UnknownLevel(s.target.clone()))?;
            if per_level[id].is_some() {
                return Err(MappingError::DuplicateLevel(s.target.clone()));
            }
            per_level[id] = Some(s);
        }
        let dim_list = problem.dim_names.join(" ");
        let tensor_list = problem
            .tensors
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut loops = Vec::new();
        let mut level_start = Vec::with_capacity(nlev + 1);
        let mut keep = Vec::with_capacity(nlev);
        let all_tensors: u8 = ((1u16 << problem.num_tensors()) - 1) as u8;
        for (lvl, spec) in per_level.iter().enumerate() {
            level_start.push(loops.len());
            let level_name = &arch.levels[lvl].name;
            let Some(spec) = spec else {
                keep.push(
                    if arch.levels[lvl].class == crate::arch::LevelClass::Dummy {
                        0
                    } else {
                        all_tensors
                    },
                );
                continue;
            };
            let resolve = |name: &str| {
                problem
                    .dim_id(name)
                    .ok_or_else(|| MappingError::UnknownDim {
                        level: level_name.clone(),
                        dim: name.to_string(),
                        known: dim_list.clone(),
                    })
            };
            let (fx, fy) = arch.fanout(lvl);
            for (axis, factors, space, avail) in [
                ('X', &spec.spatial_x, Spacetime::SpatialX, fx),
                ('Y', &spec.spatial_y, Spacetime::SpatialY, fy),
            ] {
                let mut used = 1u64;
                let mut seen = 0u32;
                for (name, v) in &factors.0 {
                    let dim = resolve(name)?;
                    if *v == 0 {
                        return Err(MappingError::ZeroFactor {
                            level: level_name.clone(),
                            dim: name.clone(),
                        });
                    }
                    if seen & (1 << dim) != 0 {
                        return Err(MappingError::Repeated {
                            level: level_name.clone(),
                            dim: name.clone(),
                            what: "spatial factors",
                        });
                    }
                    seen |= 1 << dim;
                    used = used.saturating_mul(*v);
                    if *v > 1 {
                        loops.push(Loop {
                            dim,
                            bound: *v,
                            space,
                        });
                    }
                }
                if used > avail {
                    return Err(MappingError::Fanout {
                        level: level_name.clone(),
                        axis,
                        used,
                        available: avail,
                    });
                }
            }
            let mut temporal = [0u64; crate::workload::MAX_DIMS];
            for (name, v) in &spec.temporal.0 {
                let dim = resolve(name)?;
                if *v == 0 {
                    return Err(MappingError::ZeroFactor {
                        level: level_name.clone(),
                        dim: name.clone(),
                    });
                }
                if temporal[dim] != 0 {
                    return Err(MappingError::Repeated {
                        level: level_name.clone(),
                        dim: name.clone(),
                        what: "temporal factors",
                    });
                }
                temporal[dim] = *v;
            }
            let mut placed = 0u32;
            let mut order = Vec::with_capacity(problem.num_dims());
            for name in &spec.order {
                let dim = resolve(name)?;
                if placed & (1 << dim) != 0 {
                    return Err(MappingError::Repeated {
                        level: level_name.clone(),
                        dim: name.clone(),
                        what: "order",
                    });
                }
                placed |= 1 << dim;
                order.push(dim);
            }
            order.extend((0..problem.num_dims()).filter(|d| placed & (1 << d) == 0));
            for dim in order {
                if temporal[dim] > 1 {
                    loops.push(Loop {
                        dim,
                        bound: temporal[dim],
                        space: Spacetime::Temporal,
                    });
                }
            }
            let tensor_mask = |names: &[String]| -> Result<u8, MappingError> {
                let mut m = 0u8;
                for n in names {
                    let t = problem
                        .tensor_id(n)
                        .ok_or_else(|| MappingError::UnknownTensor {
                            level: level_name.clone(),
                            tensor: n.clone(),
                            known: tensor_list.clone(),
                        })?;
                    m |= 1 << t;
                }
                Ok(m)
            };
            let base = match &spec.keep {
                Some(k) => tensor_mask(k)?,
                None if arch.levels[lvl].class == crate::arch::LevelClass::Dummy => 0,
                None => all_tensors,
            };
            keep.push(base & !tensor_mask(&spec.bypass)?);
        }
        level_start.push(loops.len());
        let mapping = Mapping {
            nest: LoopNest { loops, level_start },
            keep,
        };
        mapping.check(arch, problem)?;
        Ok(mapping)
    }

    /// Rules every mapping must satisfy, however it was built.
    pub fn check(&self, arch: &Arch, problem: &Problem) -> Result<(), MappingError> {
        for d in 0..problem.num_dims() {
            let (product, outermost) = self.nest.extent(d);
            let bound = problem.bounds[d];
            match padding(bound, product, outermost) {
                Padding::Short => {
                    return Err(MappingError::FactorProduct {
                        dim: problem.dim_names[d].clone(),
                        product,
                        bound,
                    })
                }
                Padding::WholeIteration => {
                    return Err(MappingError::WholeIterationPadded {
                        dim: problem.dim_names[d].clone(),
                        product,
                        bound,
                        outermost,
                    })
                }
                Padding::None | Padding::LastTile => {}
            }
        }
        for (lvl, level) in arch.levels.iter().enumerate() {
            if level.class == crate::arch::LevelClass::Dummy && self.keep[lvl] != 0 {
                let t = self.keep[lvl].trailing_zeros() as usize;
                return Err(MappingError::DummyKeeps {
                    level: level.name.clone(),
                    tensor: problem.tensors[t].name.clone(),
                });
            }
        }
        let top = *self.keep.last().unwrap_or(&0);
        for t in 0..problem.num_tensors().min(MAX_TENSORS) {
            if top & (1 << t) == 0 {
                return Err(MappingError::KeptNowhere(problem.tensors[t].name.clone()));
            }
        }
        Ok(())
    }

    /// Back to per-level specs (the inverse of [`Mapping::from_specs`], up to unit factors).
    pub fn to_specs(&self, arch: &Arch, problem: &Problem) -> Vec<LevelSpec> {
        let mut out = Vec::new();
        for lvl in (0..arch.num_levels()).rev() {
            let mut spec = LevelSpec {
                target: arch.levels[lvl].name.clone(),
                ..LevelSpec::default()
            };
            for l in self.nest.level_loops(lvl) {
                let entry = (problem.dim_names[l.dim].clone(), l.bound);
                match l.space {
                    Spacetime::Temporal => {
                        spec.order.push(problem.dim_names[l.dim].clone());
                        spec.temporal.0.push(entry);
                    }
                    Spacetime::SpatialX => spec.spatial_x.0.push(entry),
                    Spacetime::SpatialY => spec.spatial_y.0.push(entry),
                }
            }
            let kept: Vec<String> = (0..problem.num_tensors())
                .filter(|t| self.keep[lvl] & (1 << t) != 0)
                .map(|t| problem.tensors[t].name.clone())
                .collect();
            spec.keep = Some(kept);
            out.push(spec);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_notation_round_trips() {
        for s in ["K16 C4 P7", "R3", ""] {
            let f: Factors = s.parse().unwrap();
            assert_eq!(f.to_string(), s);
        }
        let f: Factors = "R=3,P=16".parse().unwrap();
        assert_eq!(f.to_string(), "R3 P16");
        assert!("K".parse::<Factors>().unwrap_err().contains("no number"));
        assert!("Kx".parse::<Factors>().is_err());
    }
}
