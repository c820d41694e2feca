//! Resolved mapspace constraints: partial mappings that narrow the space, per storage level
//! (Timeloop's `mapspace.constraints`). `io::constraints` reads them from `constraints.toml`
//! and names the file and key in its errors; this module only holds and checks them.

use crate::arch::Arch;
use crate::workload::{DimId, Problem, MAX_DIMS};

/// Limits on one dimension's factor at one (level, temporal|spatial) place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactorLimit {
    /// The factor must be exactly this (Timeloop's `X=n`; `X=0` is resolved to the bound).
    pub exact: Option<u64>,
    pub min: u64,
    pub max: u64,
}

impl Default for FactorLimit {
    fn default() -> Self {
        FactorLimit {
            exact: None,
            min: 1,
            max: u64::MAX,
        }
    }
}

impl FactorLimit {
    pub fn allows(&self, f: u64) -> bool {
        self.exact.is_none_or(|e| e == f) && f >= self.min && f <= self.max
    }
}

/// Which mesh axis a dimension's spatial factor may use at a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    X,
    Y,
}

/// Constraints on one storage level. The default constrains nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelConstraints {
    pub temporal: [FactorLimit; MAX_DIMS],
    /// On the product of the level's X and Y factors of each dimension.
    pub spatial: [FactorLimit; MAX_DIMS],
    /// Temporal loop order: these dimensions innermost, in this order (innermost first)...
    pub order_prefix: Vec<DimId>,
    /// ...and these outermost, in this order (innermost first). The rest are free between.
    pub order_suffix: Vec<DimId>,
    /// `Some(axis)`: the dimension's spatial factor may only use that axis (Timeloop `split`).
    pub spatial_axis: [Option<Axis>; MAX_DIMS],
    /// Order of the spatial loops (innermost first); dimensions not listed follow in index order.
    pub spatial_order: Vec<DimId>,
    /// Tensors the level must keep / must bypass (bit masks).
    pub keep: u8,
    pub bypass: u8,
    /// Minimum fraction of the fanout below this level that the mapping must use.
    pub min_spatial_utilization: f64,
}

impl Default for LevelConstraints {
    fn default() -> Self {
        LevelConstraints {
            temporal: [FactorLimit::default(); MAX_DIMS],
            spatial: [FactorLimit::default(); MAX_DIMS],
            order_prefix: Vec::new(),
            order_suffix: Vec::new(),
            spatial_axis: [None; MAX_DIMS],
            spatial_order: Vec::new(),
            keep: 0,
            bypass: 0,
            min_spatial_utilization: 0.0,
        }
    }
}

/// Constraints for every storage level of an architecture (index 0 innermost).
#[derive(Debug, Clone, PartialEq)]
pub struct Constraints {
    pub levels: Vec<LevelConstraints>,
    /// Admit imperfect factorizations (`mapping::Padding::LastTile`): each dimension's
    /// factors may multiply to more than its bound, the outermost one being the ceiling.
    pub imperfect: bool,
}

/// Constraints that cannot all hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    #[error("`{level}`: {what}")]
    Contradiction { level: String, what: String },
    #[error("dimension `{dim}`: the fixed factors multiply to {fixed}, which does not divide its bound {bound}")]
    FixedFactorsExceed { dim: String, fixed: u64, bound: u64 },
    #[error("constraints have {got} levels but the architecture has {want}")]
    LevelCount { got: usize, want: usize },
}

impl Constraints {
    /// No constraints at all.
    pub fn none(arch: &Arch) -> Constraints {
        Constraints {
            levels: vec![LevelConstraints::default(); arch.num_levels()],
            imperfect: false,
        }
    }

    /// Rejects constraints that contradict each other or the problem, naming what conflicts.
    pub fn check(&self, arch: &Arch, problem: &Problem) -> Result<(), ConstraintError> {
        if self.levels.len() != arch.num_levels() {
            return Err(ConstraintError::LevelCount {
                got: self.levels.len(),
                want: arch.num_levels(),
            });
        }
        let tensor = |t: usize| problem.tensors[t].name.clone();
        let mut fixed = [1u64; MAX_DIMS];
        for (lvl, c) in self.levels.iter().enumerate() {
            let name = &arch.levels[lvl].name;
            let contra = |what: String| ConstraintError::Contradiction {
                level: name.clone(),
                what,
            };
            let both = c.keep & c.bypass;
            if both != 0 {
                let t = both.trailing_zeros() as usize;
                return Err(contra(format!(
                    "`keep` and `bypass` both list tensor `{}`",
                    tensor(t)
                )));
            }
            if lvl + 1 == arch.num_levels() && c.bypass != 0 {
                let t = c.bypass.trailing_zeros() as usize;
                return Err(contra(format!(
                    "the outermost level must keep every tensor, but `bypass` lists `{}`",
                    tensor(t)
                )));
            }
            for d in 0..problem.num_dims() {
                let dn = &problem.dim_names[d];
                for (kind, lim) in [("temporal", &c.temporal[d]), ("spatial", &c.spatial[d])] {
                    if lim.min > lim.max {
                        return Err(contra(format!(
                            "{kind} factor of `{dn}`: minimum {} above maximum {}",
                            lim.min, lim.max
                        )));
                    }
                    if let Some(e) = lim.exact {
                        if !lim.allows(e) {
                            return Err(contra(format!(
                                "{kind} factor of `{dn}` is fixed to {e} but limited to {}..={}",
                                lim.min, lim.max
                            )));
                        }
                        fixed[d] = fixed[d].saturating_mul(e);
                    }
                }
                if let Some(e) = c.spatial[d].exact {
                    let (fx, fy) = arch.fanout(lvl);
                    let room = match c.spatial_axis[d] {
                        Some(Axis::X) => fx,
                        Some(Axis::Y) => fy,
                        None => fx.saturating_mul(fy),
                    };
                    if e > room {
                        return Err(contra(format!(
                            "spatial factor of `{dn}` is fixed to {e} but the fanout there is {room}"
                        )));
                    }
                }
            }
            for d in &c.order_prefix {
                if c.order_suffix.contains(d) {
                    return Err(contra(format!(
                        "permutation fixes `{}` both innermost and outermost",
                        problem.dim_names[*d]
                    )));
                }
            }
        }
        for d in 0..problem.num_dims() {
            // Imperfect factors need not divide: a fixed set that cannot cover the bound
            // without a padded iteration leaves no factor vector (`NoFactorization`).
            if !self.imperfect && !problem.bounds[d].is_multiple_of(fixed[d]) {
                return Err(ConstraintError::FixedFactorsExceed {
                    dim: problem.dim_names[d].clone(),
                    fixed: fixed[d],
                    bound: problem.bounds[d],
                });
            }
        }
        Ok(())
    }
}
