//! Reinforcement-learning search in the spirit of ConfuciuX (REINFORCE over the discrete
//! choices of a mapping) and Chameleon (adaptive sampling: cluster many policy samples and
//! evaluate one representative per cluster).
//!
//! **Policy.** Three kinds of softmax distributions, all with logits in one vector θ:
//! * *factors*: per dimension, a log-linear distribution over its legal factor vectors. Each
//!   vector scores Σ over its slots of θ[dimension, slot, index of the factor among the
//!   bound's divisors, or among every factor an imperfect space uses]. A dimension with 10^5 legal vectors therefore costs
//!   slots × divisors parameters, not 10^5, and the distribution stays exact (the driver's
//!   space already lists every legal vector, so one pass per update normalises it and builds
//!   a cumulative table for sampling by bisection);
//! * *orders*: per level, Plackett–Luce scores of the free dimensions (innermost drawn
//!   first);
//! * *keep masks*: per level, logits over the allowed masks.
//!
//! **Learning.** Reward = −ln(first metric); advantage = (reward − moving baseline) / moving
//! spread, clipped to ±3; an illegal or infeasible point gets a fixed negative advantage.
//! The gradient of Σ advantage × log π plus an entropy bonus is followed with Adam.
//!
//! **Adaptive sampling.** Each batch draws `oversample` × batch candidates, drops those
//! already evaluated and the illegal ones (fanout: known without the model; they still teach
//! the policy), clusters the rest by k-means on their log tile sizes, loop positions and
//! keep bits (deterministic farthest-point start), and asks for the medoid of each cluster.
//!
//! **Stopping.** The run converges when the mean normalised entropy of the policy falls
//! below `min_entropy`, when the best has not improved for `patience` updates, or when the
//! policy keeps proposing only points already evaluated.
//!
//! Randomness comes only from the driver's RNG and the engine's batch size is fixed, so a
//! seed gives the same run at any thread count.

use std::collections::{BTreeMap, HashSet};

use rand::Rng;

use super::{Context, Outcome, Score, Searcher};
use crate::mapspace::{MapSpace, Point, Violation};
use crate::workload::{DimId, MAX_DIMS};

/// Tunables of [`RlSearch`]; the defaults were tuned on VGG16 / ResNet-50 / MobileNetV2
/// layers on `eyeriss_like` (docs/search.md).
#[derive(Debug, Clone, PartialEq)]
pub struct RlConfig {
    /// Points evaluated per policy update.
    pub batch: usize,
    /// Candidates drawn per point asked (Chameleon's adaptive sampling).
    pub oversample: usize,
    /// Adam step size.
    pub learning_rate: f64,
    /// Weight of the entropy bonus.
    pub entropy_bonus: f64,
    /// Advantage of an illegal or infeasible point (negative).
    pub infeasible_advantage: f64,
    /// Decay of the moving reward baseline and spread per update.
    pub baseline_decay: f64,
    /// Converged when the mean normalised entropy falls below this.
    pub min_entropy: f64,
    /// Converged after this many updates without a better point.
    pub patience: usize,
    /// Logit bonus given to a warm-start point's choices.
    pub warm_strength: f64,
    /// Times a stuck policy (entropy below `min_entropy`, no improvement for `patience`
    /// updates, or only evaluated points proposed) is flattened (logits halved) before the
    /// run counts as converged.
    pub reheats: usize,
}

impl Default for RlConfig {
    fn default() -> Self {
        RlConfig {
            batch: 64,
            oversample: 4,
            learning_rate: 0.02,
            entropy_bonus: 0.0,
            infeasible_advantage: -1.0,
            baseline_decay: 0.8,
            min_entropy: 0.02,
            patience: 60,
            warm_strength: 3.0,
            reheats: 2,
        }
    }
}

/// The RL engine (`--algo rl`).
pub struct RlSearch {
    config: RlConfig,
    warm: Option<Point>,
    policy: Option<Policy>,
    /// Every point asked so far (never asked twice).
    seen: HashSet<Point>,
    /// Illegal candidates of the last draw: not evaluated, but part of the next update.
    rejected: Vec<Point>,
    rejected_by: BTreeMap<(u8, usize), u64>,
    baseline: Option<(f64, f64)>,
    best: Option<Score>,
    updates: usize,
    since_improvement: usize,
    entropy: f64,
    stop: Option<&'static str>,
    asked_medoids: u64,
    drawn: u64,
    reheated: usize,
}

impl RlSearch {
    pub fn new(config: RlConfig) -> RlSearch {
        RlSearch {
            config,
            warm: None,
            policy: None,
            seen: HashSet::new(),
            rejected: Vec::new(),
            rejected_by: BTreeMap::new(),
            baseline: None,
            best: None,
            updates: 0,
            since_improvement: 0,
            entropy: 1.0,
            stop: None,
            asked_medoids: 0,
            drawn: 0,
            reheated: 0,
        }
    }

    /// Biases the policy toward `point` (e.g. the best mapping of the previous layer, via
    /// [`MapSpace::point_of`]) and evaluates it first if it belongs to the space. A point of
    /// another shape still helps: each factor biases the nearest divisor of this layer's
    /// bound (in log2), and orders and keep masks carry over.
    pub fn warm_start(mut self, point: Point) -> RlSearch {
        self.warm = Some(point);
        self
    }

    /// Mean normalised entropy of the current policy (1 = uniform, 0 = deterministic).
    pub fn entropy(&self) -> f64 {
        self.entropy
    }
}

impl Default for RlSearch {
    fn default() -> Self {
        RlSearch::new(RlConfig::default())
    }
}

/// Feature layout and parameters of the policy.
struct Policy {
    ndims: usize,
    /// Per dimension, the factors a slot may take (`MapSpace::factor_values`, ascending).
    divisors: Vec<Vec<u64>>,
    /// Per dimension, where its (slot position × divisor) block starts in θ.
    factor_offset: Vec<usize>,
    /// θ index of level `l`'s order score of dimension `d`: `order_offset + l * ndims + d`.
    order_offset: usize,
    /// Per level, where its keep-mask logits start in θ.
    keep_offset: Vec<usize>,
    theta: Vec<f64>,
    adam_m: Vec<f64>,
    adam_v: Vec<f64>,
    adam_t: i32,
    /// Per dimension, the cumulative probability of each factor vector.
    cdf: Vec<Vec<f64>>,
    /// E_π[feature] of the factor features (the score-function baseline of a sample).
    expected: Vec<f64>,
    /// ∂(entropy)/∂θ of the current policy.
    entropy_grad: Vec<f64>,
    /// Mean normalised entropy over every distribution with more than one outcome.
    entropy: f64,
    /// Scratch: a dimension's vector scores.
    scores: Vec<f64>,
}

impl Policy {
    fn new(space: &MapSpace) -> Policy {
        let ndims = space.num_dims();
        let nlev = space.num_levels();
        let mut n = 0;
        let mut divisors = Vec::with_capacity(ndims);
        let mut factor_offset = Vec::with_capacity(ndims);
        for d in 0..ndims {
            let divs = space.factor_values(d);
            factor_offset.push(n);
            n += space.dim_slots[d].len() * divs.len();
            divisors.push(divs);
        }
        let order_offset = n;
        n += nlev * ndims;
        let mut keep_offset = Vec::with_capacity(nlev);
        for lvl in 0..nlev {
            keep_offset.push(n);
            n += space.keep_options[lvl].len();
        }
        let factor_features = order_offset;
        let mut p = Policy {
            ndims,
            divisors,
            factor_offset,
            order_offset,
            keep_offset,
            theta: vec![0.0; n],
            adam_m: vec![0.0; n],
            adam_v: vec![0.0; n],
            adam_t: 0,
            cdf: vec![Vec::new(); ndims],
            expected: vec![0.0; factor_features],
            entropy_grad: vec![0.0; n],
            entropy: 1.0,
            scores: Vec::new(),
        };
        p.refresh(space);
        p
    }

    /// θ index of dimension `d`'s factor `f` in its `j`-th slot; a factor that is not a
    /// divisor (a warm start from another shape) maps to the nearest divisor in log2.
    fn factor_feature(&self, d: DimId, j: usize, f: u64) -> usize {
        let divs = &self.divisors[d];
        let i = match divs.binary_search(&f) {
            Ok(i) => i,
            Err(_) => {
                let lf = (f.max(1) as f64).log2();
                (0..divs.len())
                    .min_by(|&a, &b| {
                        let da = ((divs[a] as f64).log2() - lf).abs();
                        let db = ((divs[b] as f64).log2() - lf).abs();
                        da.total_cmp(&db)
                    })
                    .unwrap_or(0)
            }
        };
        self.factor_offset[d] + j * divs.len() + i
    }

    /// Recomputes the factor distributions, expectations, entropy and its gradient from θ.
    fn refresh(&mut self, space: &MapSpace) {
        self.entropy_grad.iter_mut().for_each(|g| *g = 0.0);
        self.expected.iter_mut().for_each(|g| *g = 0.0);
        let mut total_h = 0.0;
        let mut parts = 0usize;
        for d in 0..self.ndims {
            let k = space.dim_slots[d].len();
            let n = space.num_choices(d);
            let list = &space.choices[d];
            let mut scores = std::mem::take(&mut self.scores);
            scores.clear();
            let mut max = f64::NEG_INFINITY;
            for i in 0..n {
                let mut s = 0.0;
                for j in 0..k {
                    s += self.theta[self.factor_feature(d, j, list[i * k + j])];
                }
                max = max.max(s);
                scores.push(s);
            }
            let z: f64 = scores.iter().map(|s| (s - max).exp()).sum();
            let log_z = max + z.ln();
            let mut h = 0.0;
            let cdf = &mut self.cdf[d];
            cdf.clear();
            let mut acc = 0.0;
            for &s in scores.iter() {
                let lp = s - log_z;
                let p = lp.exp();
                h -= p * lp;
                acc += p;
                cdf.push(acc);
            }
            // ∂H/∂θ_f = −Σ_i p_i (ln p_i + H) φ_f(i), and E[φ_f] = Σ_i p_i φ_f(i).
            for (i, &s) in scores.iter().enumerate() {
                let lp = s - log_z;
                let p = lp.exp();
                let w = -p * (lp + h);
                for j in 0..k {
                    let f = self.factor_feature(d, j, list[i * k + j]);
                    self.expected[f] += p;
                    self.entropy_grad[f] += w;
                }
            }
            if n > 1 {
                total_h += h / (n as f64).ln();
                parts += 1;
            }
            self.scores = scores;
        }
        for lvl in 0..space.num_levels() {
            // Orders: the entropy of the first (innermost) draw stands for the whole order.
            let free = &space.free_order[lvl];
            if free.len() > 1 {
                let idx: Vec<usize> = free
                    .iter()
                    .map(|&d| self.order_offset + lvl * self.ndims + d)
                    .collect();
                total_h += self.softmax_entropy(&idx) / (free.len() as f64).ln();
                parts += 1;
            }
            let opts = space.keep_options[lvl].len();
            if opts > 1 {
                let idx: Vec<usize> = (0..opts).map(|i| self.keep_offset[lvl] + i).collect();
                total_h += self.softmax_entropy(&idx) / (opts as f64).ln();
                parts += 1;
            }
        }
        self.entropy = if parts == 0 {
            0.0
        } else {
            total_h / parts as f64
        };
    }

    /// Entropy of the softmax over θ[idx], adding its gradient to `entropy_grad`.
    fn softmax_entropy(&mut self, idx: &[usize]) -> f64 {
        let max = idx
            .iter()
            .map(|&i| self.theta[i])
            .fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = idx.iter().map(|&i| (self.theta[i] - max).exp()).sum();
        let log_z = max + z.ln();
        let h: f64 = idx
            .iter()
            .map(|&i| {
                let lp = self.theta[i] - log_z;
                -lp.exp() * lp
            })
            .sum();
        for &i in idx {
            let lp = self.theta[i] - log_z;
            self.entropy_grad[i] += -lp.exp() * (lp + h);
        }
        h
    }

    fn sample<R: Rng>(&self, space: &MapSpace, rng: &mut R, free: &mut Vec<DimId>) -> Point {
        let nlev = space.num_levels();
        let mut p = Point {
            factors: vec![[1; MAX_DIMS]; space.slots.len()],
            orders: Vec::with_capacity(nlev),
            keep: Vec::with_capacity(nlev),
        };
        for d in 0..self.ndims {
            let cdf = &self.cdf[d];
            let u: f64 = rng.gen::<f64>() * cdf.last().copied().unwrap_or(1.0);
            let i = cdf.partition_point(|&c| c <= u).min(cdf.len() - 1);
            space.set_choice(&mut p, d, i);
        }
        for lvl in 0..nlev {
            free.clear();
            free.extend_from_slice(&space.free_order[lvl]);
            // Plackett–Luce, innermost first: draw among the remaining in turn.
            let start = space.constraints.levels[lvl].order_prefix.len();
            let mut order = [0 as DimId; MAX_DIMS];
            let mut n = 0;
            while !free.is_empty() {
                let w: f64 = free
                    .iter()
                    .map(|&d| self.theta[self.order_offset + lvl * self.ndims + d].exp())
                    .sum();
                let mut u = rng.gen::<f64>() * w;
                let mut pick = free.len() - 1;
                for (i, &d) in free.iter().enumerate() {
                    u -= self.theta[self.order_offset + lvl * self.ndims + d].exp();
                    if u < 0.0 {
                        pick = i;
                        break;
                    }
                }
                order[n] = free.remove(pick);
                n += 1;
            }
            let full = space.order_with(lvl, &order[..n]);
            debug_assert!(full[start..start + n]
                .iter()
                .zip(&order[..n])
                .all(|(&a, &b)| a as DimId == b));
            p.orders.push(full);
            let opts = &space.keep_options[lvl];
            let idx = self.keep_offset[lvl];
            let w: f64 = (0..opts.len()).map(|i| self.theta[idx + i].exp()).sum();
            let mut u = rng.gen::<f64>() * w;
            let mut pick = opts.len() - 1;
            for i in 0..opts.len() {
                u -= self.theta[idx + i].exp();
                if u < 0.0 {
                    pick = i;
                    break;
                }
            }
            p.keep.push(opts[pick]);
        }
        p
    }

    /// Adds `weight` × ∂ log π(p) / ∂θ to `grad`.
    fn add_log_prob_grad(&self, space: &MapSpace, p: &Point, weight: f64, grad: &mut [f64]) {
        for d in 0..self.ndims {
            for (j, &s) in space.dim_slots[d].iter().enumerate() {
                grad[self.factor_feature(d, j, p.factors[s][d])] += weight;
            }
        }
        for (f, e) in self.expected.iter().enumerate() {
            grad[f] -= weight * e;
        }
        for lvl in 0..space.num_levels() {
            let free = &space.free_order[lvl];
            if free.len() > 1 {
                let start = space.constraints.levels[lvl].order_prefix.len();
                let drawn = &p.orders[lvl][start..start + free.len()];
                for t in 0..drawn.len() - 1 {
                    let rest = &drawn[t..];
                    let idx = |d: u8| self.order_offset + lvl * self.ndims + d as usize;
                    let z: f64 = rest.iter().map(|&d| self.theta[idx(d)].exp()).sum();
                    grad[idx(drawn[t])] += weight;
                    for &d in rest {
                        grad[idx(d)] -= weight * self.theta[idx(d)].exp() / z;
                    }
                }
            }
            let opts = &space.keep_options[lvl];
            if opts.len() > 1 {
                let idx = self.keep_offset[lvl];
                let z: f64 = (0..opts.len()).map(|i| self.theta[idx + i].exp()).sum();
                for (i, &m) in opts.iter().enumerate() {
                    let chosen = if m == p.keep[lvl] { 1.0 } else { 0.0 };
                    grad[idx + i] += weight * (chosen - self.theta[idx + i].exp() / z);
                }
            }
        }
    }

    /// Halves every logit (a higher temperature) and restarts Adam's moments.
    fn reheat(&mut self, space: &MapSpace) {
        self.theta.iter_mut().for_each(|t| *t *= 0.5);
        self.adam_m.iter_mut().for_each(|m| *m = 0.0);
        self.adam_v.iter_mut().for_each(|v| *v = 0.0);
        self.adam_t = 0;
        self.refresh(space);
    }

    /// One Adam ascent step along `grad`.
    fn step(&mut self, grad: &[f64], lr: f64) {
        const B1: f64 = 0.9;
        const B2: f64 = 0.999;
        self.adam_t += 1;
        let c1 = 1.0 - B1.powi(self.adam_t);
        let c2 = 1.0 - B2.powi(self.adam_t);
        for (i, &g) in grad.iter().enumerate() {
            self.adam_m[i] = B1 * self.adam_m[i] + (1.0 - B1) * g;
            self.adam_v[i] = B2 * self.adam_v[i] + (1.0 - B2) * g * g;
            let m = self.adam_m[i] / c1;
            let v = self.adam_v[i] / c2;
            self.theta[i] += lr * m / (v.sqrt() + 1e-8);
        }
    }

    /// Adds `strength` to the logits of `p`'s choices.
    fn bias_toward(&mut self, space: &MapSpace, p: &Point, strength: f64) {
        if p.factors.len() == space.slots.len() {
            for d in 0..self.ndims {
                for (j, &s) in space.dim_slots[d].iter().enumerate() {
                    let f = self.factor_feature(d, j, p.factors[s][d]);
                    self.theta[f] += strength;
                }
            }
        }
        for lvl in 0..space.num_levels().min(p.orders.len()) {
            let free = &space.free_order[lvl];
            let n = free.len();
            let start = space.constraints.levels[lvl].order_prefix.len();
            for (rank, &d) in p.orders[lvl][start..start + n].iter().enumerate() {
                if free.contains(&(d as DimId)) {
                    // Inner positions get higher scores: Plackett–Luce draws them first.
                    self.theta[self.order_offset + lvl * self.ndims + d as usize] +=
                        strength * (n - rank) as f64 / n as f64;
                }
            }
        }
        for lvl in 0..space.num_levels().min(p.keep.len()) {
            if let Some(i) = space.keep_options[lvl]
                .iter()
                .position(|&m| m == p.keep[lvl])
            {
                self.theta[self.keep_offset[lvl] + i] += strength;
            }
        }
        self.refresh(space);
    }
}

/// Whether `p` is a point of `space` (a warm start may come from another layer).
fn in_space(space: &MapSpace, p: &Point) -> bool {
    let nlev = space.num_levels();
    if p.factors.len() != space.slots.len() || p.orders.len() != nlev || p.keep.len() != nlev {
        return false;
    }
    if !(0..space.num_dims()).all(|d| space.factors_cover(p, d)) {
        return false;
    }
    (0..nlev).all(|lvl| {
        let free = &space.free_order[lvl];
        let start = space.constraints.levels[lvl].order_prefix.len();
        let drawn: Vec<DimId> = p.orders[lvl][start..start + free.len()]
            .iter()
            .map(|&d| d as DimId)
            .collect();
        let mut sorted = drawn.clone();
        sorted.sort_unstable();
        sorted == *free
            && space.order_with(lvl, &drawn) == p.orders[lvl]
            && space.keep_options[lvl].contains(&p.keep[lvl])
    })
}

/// Features for clustering: log2 of each dimension's extent below each slot boundary, each
/// free dimension's relative loop position, and keep bits.
fn features(space: &MapSpace, p: &Point, out: &mut Vec<f64>) {
    let ndims = space.num_dims();
    let mut ext = [1u64; MAX_DIMS];
    for s in 0..space.slots.len() {
        for d in 0..ndims {
            ext[d] *= p.factors[s][d];
            out.push((ext[d] as f64).log2());
        }
    }
    for lvl in 0..space.num_levels() {
        let n = space.free_order[lvl].len();
        if n > 1 {
            let start = space.constraints.levels[lvl].order_prefix.len();
            let mut pos = [0.0; MAX_DIMS];
            for (r, &d) in p.orders[lvl][start..start + n].iter().enumerate() {
                pos[d as usize] = r as f64 / (n - 1) as f64;
            }
            for &d in &space.free_order[lvl] {
                out.push(pos[d]);
            }
        }
        if space.keep_options[lvl].len() > 1 {
            for t in 0..space.problem.num_tensors() {
                out.push(f64::from(p.keep[lvl] >> t & 1));
            }
        }
    }
}

/// Picks at most `k` representatives of `n` points (`rows` holds `n` rows of `dim`
/// features): k-means from a deterministic farthest-point start (row 0 first), then per
/// cluster the member nearest to its centroid (lowest index on ties). Returns distinct row
/// indices, one per non-empty cluster, in ascending order; all rows if `n <= k`, the first
/// `k` if no feature varies.
pub fn cluster_representatives(rows: &[f64], n: usize, dim: usize, k: usize) -> Vec<usize> {
    if n <= k || dim == 0 {
        return (0..n.min(k)).collect();
    }
    debug_assert_eq!(rows.len(), n * dim);
    let row = |i: usize| &rows[i * dim..(i + 1) * dim];
    let dist =
        |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum() };
    // Farthest-point start: each new centre is the row farthest from the chosen ones.
    let mut centres: Vec<f64> = Vec::with_capacity(k * dim);
    let mut nearest = vec![f64::INFINITY; n];
    let mut next = 0usize;
    for _ in 0..k {
        centres.extend_from_slice(row(next));
        let c = &centres[centres.len() - dim..];
        let mut far = (0usize, -1.0f64);
        for i in 0..n {
            nearest[i] = nearest[i].min(dist(row(i), c));
            if nearest[i] > far.1 {
                far = (i, nearest[i]);
            }
        }
        if far.1 <= 0.0 {
            break; // every row coincides with a centre
        }
        next = far.0;
    }
    let k = centres.len() / dim;
    let mut assign = vec![0usize; n];
    let mut sums = vec![0.0; k * dim];
    let mut counts = vec![0usize; k];
    for iter in 0..8 {
        let mut changed = false;
        for i in 0..n {
            let mut best = (0usize, f64::INFINITY);
            for c in 0..k {
                let dd = dist(row(i), &centres[c * dim..(c + 1) * dim]);
                if dd < best.1 {
                    best = (c, dd);
                }
            }
            if assign[i] != best.0 || iter == 0 {
                changed |= assign[i] != best.0;
                assign[i] = best.0;
            }
        }
        if iter > 0 && !changed {
            break;
        }
        sums.iter_mut().for_each(|s| *s = 0.0);
        counts.iter_mut().for_each(|c| *c = 0);
        for i in 0..n {
            counts[assign[i]] += 1;
            for (s, x) in sums[assign[i] * dim..(assign[i] + 1) * dim]
                .iter_mut()
                .zip(row(i))
            {
                *s += x;
            }
        }
        for c in 0..k {
            if counts[c] > 0 {
                for j in 0..dim {
                    centres[c * dim + j] = sums[c * dim + j] / counts[c] as f64;
                }
            }
        }
    }
    let mut medoid = vec![(usize::MAX, f64::INFINITY); k];
    for i in 0..n {
        let c = assign[i];
        let dd = dist(row(i), &centres[c * dim..(c + 1) * dim]);
        if dd < medoid[c].1 {
            medoid[c] = (i, dd);
        }
    }
    let mut out: Vec<usize> = medoid
        .into_iter()
        .filter(|m| m.0 != usize::MAX)
        .map(|m| m.0)
        .collect();
    out.sort_unstable();
    out
}

fn violation_key(v: Violation) -> (u8, usize) {
    match v {
        Violation::Fanout { level, .. } => (0, level),
        Violation::SpatialUnderuse { level } => (1, level),
    }
}

impl RlSearch {
    /// Draws candidates and picks the points to ask.
    fn propose(&mut self, ctx: &mut Context, want: usize) -> Vec<Point> {
        let space = ctx.space;
        let Some(policy) = self.policy.as_ref() else {
            return Vec::new();
        };
        let mut free = Vec::with_capacity(MAX_DIMS);
        let mut fresh: Vec<Point> = Vec::new();
        let mut fresh_set: HashSet<Point> = HashSet::new();
        let draws = want * self.config.oversample.max(1);
        for _ in 0..draws {
            let p = policy.sample(space, &mut ctx.rng, &mut free);
            self.drawn += 1;
            if self.seen.contains(&p) || fresh_set.contains(&p) {
                continue;
            }
            if let Err(v) = space.legal(&p) {
                *self.rejected_by.entry(violation_key(v)).or_default() += 1;
                self.rejected.push(p);
                continue;
            }
            fresh_set.insert(p.clone());
            fresh.push(p);
        }
        if fresh.len() <= want {
            return fresh;
        }
        let mut rows = Vec::new();
        for p in &fresh {
            features(space, p, &mut rows);
        }
        let dim = rows.len() / fresh.len();
        // Columns that never vary carry no distance: drop them before clustering.
        let varying: Vec<usize> = (0..dim)
            .filter(|&j| {
                let first = rows[j];
                (1..fresh.len()).any(|i| rows[i * dim + j] != first)
            })
            .collect();
        let mut packed = Vec::with_capacity(fresh.len() * varying.len());
        for i in 0..fresh.len() {
            packed.extend(varying.iter().map(|&j| rows[i * dim + j]));
        }
        let picks = cluster_representatives(&packed, fresh.len(), varying.len(), want);
        self.asked_medoids += picks.len() as u64;
        let mut fresh: Vec<Option<Point>> = fresh.into_iter().map(Some).collect();
        picks.into_iter().filter_map(|i| fresh[i].take()).collect()
    }
}

impl Searcher for RlSearch {
    fn name(&self) -> &'static str {
        "rl"
    }

    fn ask(&mut self, ctx: &mut Context, max: usize) -> Vec<Point> {
        if self.stop.is_some() {
            return Vec::new();
        }
        let space = ctx.space;
        if self.policy.is_none() {
            let mut policy = Policy::new(space);
            if let Some(w) = &self.warm {
                policy.bias_toward(space, w, self.config.warm_strength);
            }
            self.entropy = policy.entropy;
            self.policy = Some(policy);
        }
        let want = max.min(self.config.batch.max(1));
        let mut out = Vec::with_capacity(want);
        if let Some(w) = self.warm.take() {
            if in_space(space, &w) && space.legal(&w).is_ok() {
                self.seen.insert(w.clone());
                out.push(w);
            }
        }
        // A policy that only proposes evaluated points has collapsed: redraw, then reheat it
        // (halve every logit) up to `reheats` times before calling it converged.
        for attempt in 0..4 + 2 * self.config.reheats {
            if out.len() >= want {
                break;
            }
            let more = self.propose(ctx, want - out.len());
            for p in more {
                self.seen.insert(p.clone());
                out.push(p);
            }
            if !out.is_empty() {
                break;
            }
            if attempt >= 3 && self.reheated < self.config.reheats {
                self.reheated += 1;
                if let Some(policy) = self.policy.as_mut() {
                    policy.reheat(space);
                    self.entropy = policy.entropy;
                }
            }
        }
        if out.is_empty() {
            self.stop = Some("no new candidates");
        }
        out
    }

    fn tell(&mut self, ctx: &mut Context, points: &[Point], outcomes: &[Outcome]) {
        let space = ctx.space;
        let Some(policy) = self.policy.as_mut() else {
            return;
        };
        let mut improved = false;
        let rewards: Vec<Option<f64>> = outcomes
            .iter()
            .map(|o| {
                o.score().map(|s| {
                    if self.best.is_none_or(|b| s.better_than(&b)) {
                        self.best = Some(s);
                        improved = true;
                    }
                    -s.primary().max(f64::MIN_POSITIVE).ln()
                })
            })
            .collect();
        let feasible: Vec<f64> = rewards.iter().flatten().copied().collect();
        if !feasible.is_empty() {
            let mean = feasible.iter().sum::<f64>() / feasible.len() as f64;
            let var = feasible
                .iter()
                .map(|r| (r - mean) * (r - mean))
                .sum::<f64>()
                / feasible.len() as f64;
            let decay = self.config.baseline_decay;
            self.baseline = Some(match self.baseline {
                None => (mean, var.sqrt()),
                Some((m, s)) => (
                    decay * m + (1.0 - decay) * mean,
                    decay * s + (1.0 - decay) * var.sqrt(),
                ),
            });
        }
        let (base, spread) = self.baseline.unwrap_or((0.0, 1.0));
        let spread = spread.max(1e-3);
        let mut grad = vec![0.0; policy.theta.len()];
        let samples = points.len() + self.rejected.len();
        let per = 1.0 / samples.max(1) as f64;
        for (p, r) in points.iter().zip(&rewards) {
            let adv = match r {
                Some(r) => ((r - base) / spread).clamp(-3.0, 3.0),
                None => self.config.infeasible_advantage,
            };
            policy.add_log_prob_grad(space, p, adv * per, &mut grad);
        }
        for p in std::mem::take(&mut self.rejected) {
            policy.add_log_prob_grad(space, &p, self.config.infeasible_advantage * per, &mut grad);
        }
        for (g, h) in grad.iter_mut().zip(&policy.entropy_grad) {
            *g += self.config.entropy_bonus * h;
        }
        policy.step(&grad, self.config.learning_rate);
        policy.refresh(space);
        self.entropy = policy.entropy;
        self.updates += 1;
        if improved {
            self.since_improvement = 0;
        } else {
            self.since_improvement += 1;
        }
        let stuck = if self.entropy < self.config.min_entropy {
            Some("policy entropy below threshold")
        } else if self.since_improvement >= self.config.patience {
            Some("no improvement")
        } else {
            None
        };
        if stuck.is_some() && self.reheated < self.config.reheats {
            self.reheated += 1;
            policy.reheat(space);
            self.entropy = policy.entropy;
            self.since_improvement = 0;
        } else {
            self.stop = stuck;
        }
    }

    fn report(&self) -> serde_json::Value {
        serde_json::json!({
            "updates": self.updates,
            "policy_entropy": self.entropy,
            "candidates_drawn": self.drawn,
            "medoids_asked": self.asked_medoids,
            "illegal_candidates_skipped": self.rejected_by.values().sum::<u64>(),
            "reheats": self.reheated,
            "stop": self.stop,
        })
    }

    fn discarded(&self, space: &MapSpace) -> Vec<(String, u64)> {
        self.rejected_by
            .iter()
            .map(|(&(kind, level), &n)| {
                let name = &space.arch.levels[level].name;
                let why = if kind == 0 {
                    format!("fanout at {name}")
                } else {
                    format!("spatial utilization at {name}")
                };
                (why, n)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::test_support::hinted_eyeriss;
    use crate::search::Objective;
    use rand::SeedableRng;

    #[test]
    fn clustering_picks_one_medoid_per_planted_cluster() {
        // Four tight groups of 5 points in 2-D around distinct centres; the medoid of each
        // group is its middle point (offset 0).
        let centres = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0), (10.0, 10.0)];
        let offsets = [(-0.2, 0.0), (0.0, 0.1), (0.0, 0.0), (0.1, -0.1), (0.2, 0.1)];
        let mut rows = Vec::new();
        for &(cx, cy) in &centres {
            for &(dx, dy) in &offsets {
                rows.push(cx + dx);
                rows.push(cy + dy);
            }
        }
        let picks = cluster_representatives(&rows, 20, 2, 4);
        assert_eq!(picks, vec![2, 7, 12, 17]);
        // Fewer rows than clusters: every row; no varying feature: the first k.
        assert_eq!(cluster_representatives(&rows[..6], 3, 2, 4), vec![0, 1, 2]);
        assert_eq!(cluster_representatives(&[], 9, 0, 4), vec![0, 1, 2, 3]);
        // Identical rows collapse into one cluster.
        let same = vec![1.0; 2 * 7];
        assert_eq!(cluster_representatives(&same, 7, 2, 3), vec![0]);
    }

    #[test]
    fn asks_no_duplicates_and_never_twice_and_learns() {
        let (arch, problem, c) = hinted_eyeriss("vgg16", "conv5_1");
        let space = MapSpace::new(&arch, &problem, c).unwrap();
        let objective: Objective = "edp".parse().unwrap();
        let mut ctx = Context {
            space: &space,
            objective: &objective,
            rng: rand::rngs::SmallRng::seed_from_u64(3),
            evaluations: 0,
            budget: None,
        };
        let mut engine = RlSearch::default();
        let mut all = HashSet::new();
        let h0 = {
            let batch = engine.ask(&mut ctx, 1024);
            assert_eq!(batch.len(), engine.config.batch, "a full batch of medoids");
            let outcomes = crate::search::evaluate_batch(&space, &objective, &batch);
            for p in &batch {
                assert!(all.insert(p.clone()), "asked twice");
                assert!(space.legal(p).is_ok(), "illegal candidates are never asked");
            }
            engine.tell(&mut ctx, &batch, &outcomes);
            engine.entropy()
        };
        assert!(h0 > 0.5, "the first policy is near uniform: {h0}");
        for _ in 0..30 {
            let batch = engine.ask(&mut ctx, 1024);
            if batch.is_empty() {
                break;
            }
            assert!(batch.len() <= engine.config.batch);
            for p in &batch {
                assert!(all.insert(p.clone()), "asked twice");
            }
            let outcomes = crate::search::evaluate_batch(&space, &objective, &batch);
            engine.tell(&mut ctx, &batch, &outcomes);
        }
        assert!(
            engine.entropy() < h0,
            "the policy sharpens: {} -> {}",
            h0,
            engine.entropy()
        );
        // The medoids come from 4x as many candidates.
        assert!(engine.drawn >= 4 * engine.asked_medoids);
    }

    #[test]
    fn warm_start_biases_the_policy_toward_the_point() {
        let (arch, problem, c) = hinted_eyeriss("vgg16", "conv5_1");
        let space = MapSpace::new(&arch, &problem, c).unwrap();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
        let target = space.sample_legal(&mut rng, 1000).unwrap();
        assert!(in_space(&space, &target));
        let mut cold = Policy::new(&space);
        let mut warm = Policy::new(&space);
        warm.bias_toward(&space, &target, RlConfig::default().warm_strength);
        cold.refresh(&space);
        let mut free = Vec::new();
        let close = |policy: &Policy, rng: &mut rand::rngs::SmallRng, free: &mut Vec<DimId>| {
            (0..400)
                .filter(|_| {
                    let p = policy.sample(&space, rng, free);
                    // Same factors as the target in most dimensions.
                    (0..space.num_dims())
                        .filter(|&d| {
                            space
                                .slots
                                .iter()
                                .enumerate()
                                .all(|(s, _)| p.factors[s][d] == target.factors[s][d])
                        })
                        .count()
                        + 1
                        >= space.num_dims()
                })
                .count()
        };
        let near_cold = close(&cold, &mut rng, &mut free);
        let near_warm = close(&warm, &mut rng, &mut free);
        assert!(warm.entropy < cold.entropy);
        assert!(
            near_warm > 10 * near_cold.max(1),
            "warm {near_warm}, cold {near_cold} of 400"
        );
    }
}
