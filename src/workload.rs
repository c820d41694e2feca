//! Problems (one layer) as einsum-style loop nests with affine tensor projections, and
//! workloads (named lists of layers). Conv2d, depthwise/grouped conv, FC, GEMM and batched
//! matmul are all built as a [`Problem`]; the cost model only ever sees that one shape.
//!
//! Owns no IO and no serde: `io` builds these through the constructors below.

use std::fmt;

/// Most loop dimensions a problem may have (grouped conv needs 8: G N K C P Q R S).
pub const MAX_DIMS: usize = 8;
/// Most tensors (data spaces) a problem may have.
pub const MAX_TENSORS: usize = 4;
/// Most ranks (axes) one tensor may have.
pub const MAX_RANKS: usize = 6;

/// Index of a loop dimension inside its problem.
pub type DimId = usize;
/// Index of a tensor inside its problem.
pub type TensorId = usize;

/// One rank of a tensor: index = Σ coef × dim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    pub terms: Vec<(DimId, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    pub name: String,
    pub ranks: Vec<Projection>,
    /// True for the output (partial sums are read, updated and written back).
    pub read_write: bool,
}

/// One layer: named loop bounds and the tensors they index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub name: String,
    pub dim_names: Vec<String>,
    pub bounds: Vec<u64>,
    pub tensors: Vec<Tensor>,
    /// Dense copy of the projections for the hot path: `coef[t][rank][dim]`.
    coef: [[[u64; MAX_DIMS]; MAX_RANKS]; MAX_TENSORS],
    /// `rank_of[t][d]`: the one rank of `t` that dimension `d` indexes (with its coefficient),
    /// `NO_RANK` if none. Valid only where `single_rank[t]` (every dim in at most one rank).
    rank_of: [[(usize, u64); MAX_DIMS]; MAX_TENSORS],
    single_rank: [bool; MAX_TENSORS],
}

/// Marks a dimension that indexes no rank of a tensor.
pub const NO_RANK: usize = usize::MAX;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProblemError {
    #[error("problem has {0} dimensions; at most {MAX_DIMS} are supported")]
    TooManyDims(usize),
    #[error("problem has {0} tensors; at most {MAX_TENSORS} are supported")]
    TooManyTensors(usize),
    #[error("tensor `{0}` has too many ranks; at most {MAX_RANKS} are supported")]
    TooManyRanks(String),
    #[error("dimension `{0}` has bound 0; every bound must be at least 1")]
    ZeroBound(String),
    #[error("dimension name `{0}` is used twice")]
    DuplicateDim(String),
    #[error("tensor `{tensor}` refers to dimension #{dim}, which does not exist")]
    UnknownDim { tensor: String, dim: usize },
    #[error("exactly one tensor must be read_write (the output); found {0}")]
    OutputCount(usize),
    #[error("dimension `{0}` indexes no tensor")]
    UnusedDim(String),
}

impl Problem {
    pub fn new(
        name: impl Into<String>,
        dims: Vec<(String, u64)>,
        tensors: Vec<Tensor>,
    ) -> Result<Problem, ProblemError> {
        if dims.len() > MAX_DIMS {
            return Err(ProblemError::TooManyDims(dims.len()));
        }
        if tensors.len() > MAX_TENSORS {
            return Err(ProblemError::TooManyTensors(tensors.len()));
        }
        for (i, (n, b)) in dims.iter().enumerate() {
            if *b == 0 {
                return Err(ProblemError::ZeroBound(n.clone()));
            }
            if dims[..i].iter().any(|(m, _)| m == n) {
                return Err(ProblemError::DuplicateDim(n.clone()));
            }
        }
        let outputs = tensors.iter().filter(|t| t.read_write).count();
        if outputs != 1 {
            return Err(ProblemError::OutputCount(outputs));
        }
        let mut coef = [[[0u64; MAX_DIMS]; MAX_RANKS]; MAX_TENSORS];
        for (t, tensor) in tensors.iter().enumerate() {
            if tensor.ranks.len() > MAX_RANKS {
                return Err(ProblemError::TooManyRanks(tensor.name.clone()));
            }
            for (r, proj) in tensor.ranks.iter().enumerate() {
                for &(d, c) in &proj.terms {
                    if d >= dims.len() {
                        return Err(ProblemError::UnknownDim {
                            tensor: tensor.name.clone(),
                            dim: d,
                        });
                    }
                    coef[t][r][d] += c;
                }
            }
        }
        for (d, (n, _)) in dims.iter().enumerate() {
            let used = (0..tensors.len()).any(|t| (0..MAX_RANKS).any(|r| coef[t][r][d] != 0));
            if !used {
                return Err(ProblemError::UnusedDim(n.clone()));
            }
        }
        let mut rank_of = [[(NO_RANK, 0u64); MAX_DIMS]; MAX_TENSORS];
        let mut single_rank = [true; MAX_TENSORS];
        for t in 0..tensors.len() {
            for d in 0..dims.len() {
                for r in 0..MAX_RANKS {
                    if coef[t][r][d] != 0 {
                        if rank_of[t][d].0 != NO_RANK {
                            single_rank[t] = false;
                        }
                        rank_of[t][d] = (r, coef[t][r][d]);
                    }
                }
            }
        }
        let (dim_names, bounds) = dims.into_iter().unzip();
        Ok(Problem {
            name: name.into(),
            dim_names,
            bounds,
            tensors,
            coef,
            rank_of,
            single_rank,
        })
    }

    pub fn num_dims(&self) -> usize {
        self.bounds.len()
    }

    pub fn num_tensors(&self) -> usize {
        self.tensors.len()
    }

    pub fn dim_id(&self, name: &str) -> Option<DimId> {
        self.dim_names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
    }

    pub fn tensor_id(&self, name: &str) -> Option<TensorId> {
        self.tensors
            .iter()
            .position(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// The output (read-write) tensor.
    pub fn output(&self) -> TensorId {
        self.tensors.iter().position(|t| t.read_write).unwrap_or(0)
    }

    /// Multiply-accumulates: the product of all bounds.
    pub fn macs(&self) -> u64 {
        self.bounds.iter().product()
    }

    #[inline]
    pub fn coef(&self, tensor: TensorId, rank: usize, dim: DimId) -> u64 {
        self.coef[tensor][rank][dim]
    }

    #[inline]
    pub fn ranks(&self, tensor: TensorId) -> usize {
        self.tensors[tensor].ranks.len()
    }

    /// Size in elements of the box a tensor covers when dimension `d` spans `extent[d]`
    /// (the axis-aligned hyper-rectangle of the projection, as Timeloop computes it).
    /// The rank (and coefficient) dimension `d` indexes in `tensor`, when every dimension
    /// indexes at most one rank (`None` otherwise; `Some((NO_RANK, 0))` if it indexes none).
    #[inline]
    pub fn single_rank_of(&self, tensor: TensorId, d: DimId) -> Option<(usize, u64)> {
        self.single_rank[tensor].then(|| self.rank_of[tensor][d])
    }

    /// `rank_of[t][d]` without the single-rank check; only meaningful when
    /// [`Problem::single_rank_of`] returns `Some`.
    #[inline]
    pub fn rank_of_unchecked(&self, tensor: TensorId, d: DimId) -> (usize, u64) {
        self.rank_of[tensor][d]
    }

    #[inline]
    pub fn tile_size(&self, tensor: TensorId, extent: &[u64; MAX_DIMS]) -> u64 {
        self.rank_widths(tensor, extent)[..self.ranks(tensor)]
            .iter()
            .product()
    }

    /// Width of every rank of the box `tensor` covers (ranks past its last are 1).
    #[inline]
    pub fn rank_widths(&self, tensor: TensorId, extent: &[u64; MAX_DIMS]) -> [u64; MAX_RANKS] {
        let mut width = [1u64; MAX_RANKS];
        if self.single_rank[tensor] {
            for d in 0..self.num_dims() {
                let (r, c) = self.rank_of[tensor][d];
                if r != NO_RANK {
                    width[r] += c * (extent[d] - 1);
                }
            }
        } else {
            for (r, w) in width.iter_mut().enumerate().take(self.ranks(tensor)) {
                *w = self.rank_width(tensor, r, extent);
            }
        }
        width
    }

    #[inline]
    pub fn rank_width(&self, tensor: TensorId, rank: usize, extent: &[u64; MAX_DIMS]) -> u64 {
        let c = &self.coef[tensor][rank];
        let mut w = 1u64;
        for d in 0..self.num_dims() {
            w += c[d] * (extent[d] - 1);
        }
        w
    }

    /// Full size of every tensor (elements).
    pub fn tensor_size(&self, tensor: TensorId) -> u64 {
        let mut ext = [1u64; MAX_DIMS];
        ext[..self.num_dims()].copy_from_slice(&self.bounds);
        self.tile_size(tensor, &ext)
    }
}

/// Shapes users write; each lowers to a [`Problem`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerShape {
    /// Grouped convolution; `groups == 1` is a plain conv2d, `k == c == 1` per group is depthwise.
    Conv {
        n: u64,
        groups: u64,
        k: u64,
        c: u64,
        p: u64,
        q: u64,
        r: u64,
        s: u64,
        wstride: u64,
        hstride: u64,
        wdilation: u64,
        hdilation: u64,
    },
    /// `Z[b][m][n] += A[b][m][k] × B[b][k][n]`; `b == 1` is a plain GEMM.
    Matmul { b: u64, m: u64, n: u64, k: u64 },
}

fn proj(terms: &[(DimId, u64)]) -> Projection {
    Projection {
        terms: terms.to_vec(),
    }
}

fn tensor(name: &str, ranks: Vec<Projection>, read_write: bool) -> Tensor {
    Tensor {
        name: name.to_string(),
        ranks,
        read_write,
    }
}

impl LayerShape {
    /// Lowers the shape to a problem. Unit dimensions that only exist for generality
    /// (groups = 1, batch = 1 for GEMM) are dropped so mappings stay short.
    pub fn to_problem(&self, name: &str) -> Result<Problem, ProblemError> {
        match *self {
            LayerShape::Conv {
                n,
                groups,
                k,
                c,
                p,
                q,
                r,
                s,
                wstride,
                hstride,
                wdilation,
                hdilation,
            } => {
                let mut dims: Vec<(String, u64)> = Vec::new();
                let mut add = |label: &str, b: u64| {
                    dims.push((label.to_string(), b));
                    dims.len() - 1
                };
                let g = if groups > 1 {
                    Some(add("G", groups))
                } else {
                    None
                };
                let dn = add("N", n);
                let dk = add("K", k);
                let dc = add("C", c);
                let dp = add("P", p);
                let dq = add("Q", q);
                let dr = add("R", r);
                let ds = add("S", s);
                let with_g = |mut v: Vec<Projection>| {
                    if let Some(g) = g {
                        v.insert(0, proj(&[(g, 1)]));
                    }
                    v
                };
                let weights = with_g(vec![
                    proj(&[(dk, 1)]),
                    proj(&[(dc, 1)]),
                    proj(&[(dr, 1)]),
                    proj(&[(ds, 1)]),
                ]);
                let inputs = with_g(vec![
                    proj(&[(dn, 1)]),
                    proj(&[(dc, 1)]),
                    proj(&[(dr, wdilation), (dp, wstride)]),
                    proj(&[(ds, hdilation), (dq, hstride)]),
                ]);
                let outputs = with_g(vec![
                    proj(&[(dn, 1)]),
                    proj(&[(dk, 1)]),
                    proj(&[(dq, 1)]),
                    proj(&[(dp, 1)]),
                ]);
                Problem::new(
                    name,
                    dims,
                    vec![
                        tensor("Weights", weights, false),
                        tensor("Inputs", inputs, false),
                        tensor("Outputs", outputs, true),
                    ],
                )
            }
            LayerShape::Matmul { b, m, n, k } => {
                let mut dims = Vec::new();
                if b > 1 {
                    dims.push(("B".to_string(), b));
                }
                let off = dims.len();
                dims.push(("M".to_string(), m));
                dims.push(("N".to_string(), n));
                dims.push(("K".to_string(), k));
                let (dm, dn, dk) = (off, off + 1, off + 2);
                let with_b = |mut v: Vec<Projection>| {
                    if b > 1 {
                        v.insert(0, proj(&[(0, 1)]));
                    }
                    v
                };
                Problem::new(
                    name,
                    dims,
                    vec![
                        tensor("A", with_b(vec![proj(&[(dm, 1)]), proj(&[(dk, 1)])]), false),
                        tensor("B", with_b(vec![proj(&[(dk, 1)]), proj(&[(dn, 1)])]), false),
                        tensor("Z", with_b(vec![proj(&[(dm, 1)]), proj(&[(dn, 1)])]), true),
                    ],
                )
            }
        }
    }
}

/// A named layer of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub name: String,
    pub problem: Problem,
    /// How many times the layer occurs (for network totals).
    pub repeat: u64,
}

/// A network: layers in execution order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub name: String,
    pub layers: Vec<Layer>,
}

impl Workload {
    pub fn layer(&self, name: &str) -> Option<&Layer> {
        self.layers.iter().find(|l| l.name == name)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.name)?;
        for (n, b) in self.dim_names.iter().zip(&self.bounds) {
            write!(f, " {n}={b}")?;
        }
        for t in &self.tensors {
            write!(f, "; {}[", t.name)?;
            for (i, r) in t.ranks.iter().enumerate() {
                if i > 0 {
                    write!(f, "][")?;
                }
                for (j, (d, c)) in r.terms.iter().enumerate() {
                    if j > 0 {
                        write!(f, "+")?;
                    }
                    if *c != 1 {
                        write!(f, "{c}*")?;
                    }
                    write!(f, "{}", self.dim_names[*d])?;
                }
            }
            write!(f, "]{}", if t.read_write { " (rw)" } else { "" })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(p: u64, r: u64, stride: u64) -> Problem {
        LayerShape::Conv {
            n: 1,
            groups: 1,
            k: 4,
            c: 3,
            p,
            q: p,
            r,
            s: r,
            wstride: stride,
            hstride: stride,
            wdilation: 1,
            hdilation: 1,
        }
        .to_problem("t")
        .unwrap()
    }

    #[test]
    fn conv_tensor_sizes_follow_sliding_windows() {
        // Timeloop's default problem: P=112, stride 2, R=3 -> input width 225.
        let p = conv(112, 3, 2);
        assert_eq!(p.tensor_size(p.tensor_id("Inputs").unwrap()), 3 * 225 * 225);
        assert_eq!(p.tensor_size(p.tensor_id("Weights").unwrap()), 4 * 3 * 9);
        assert_eq!(p.tensor_size(p.output()), 4 * 112 * 112);
        assert_eq!(p.macs(), 4 * 3 * 112 * 112 * 9);
    }

    #[test]
    fn bad_problems_are_rejected() {
        let t = vec![tensor("Z", vec![proj(&[(0, 1)])], true)];
        assert_eq!(
            Problem::new("x", vec![("M".into(), 0)], t.clone()),
            Err(ProblemError::ZeroBound("M".into()))
        );
        assert_eq!(
            Problem::new("x", vec![("M".into(), 2), ("N".into(), 2)], t),
            Err(ProblemError::UnusedDim("N".into()))
        );
    }
}
