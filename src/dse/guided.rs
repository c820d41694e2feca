//! Guided hardware search over the sweep's grid: genetic, simulated annealing and an RL-like
//! policy (REINFORCE over one categorical choice per parameter, as ConfuciuX does for PE and
//! buffer sizes). Each proposes batches of variants never proposed before; [`GuidedSearch::learn`]
//! receives their network totals.
//!
//! What is minimised: the sum of the logarithms of the sweep's Pareto objectives (the log of
//! their product, so no objective's unit dominates); a failed or over-limit variant scores
//! +∞. Randomness comes only from the seed, and learning sees batches in proposal order, so
//! the variants chosen do not depend on the thread count.

use std::collections::HashSet;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::{ParetoMetric, SweepPlan, VariantRow, VariantStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuidedKind {
    Genetic,
    Anneal,
    Rl,
}

impl GuidedKind {
    pub fn parse(s: &str) -> Option<GuidedKind> {
        Some(match s {
            "genetic" => GuidedKind::Genetic,
            "anneal" => GuidedKind::Anneal,
            "rl" => GuidedKind::Rl,
            _ => return None,
        })
    }
}

/// Variants per proposal: enough to keep both cores busy with layer searches, few enough that
/// learning happens often.
const BATCH: usize = 8;

pub struct GuidedSearch {
    kind: GuidedKind,
    radix: Vec<usize>,
    metrics: Vec<ParetoMetric>,
    rng: SmallRng,
    seen: HashSet<Vec<usize>>,
    /// Every evaluated variant and its score, in evaluation order.
    history: Vec<(Vec<usize>, f64)>,
    /// Annealing: the current state of each chain and its score, and the temperature.
    chains: Vec<(Vec<usize>, f64)>,
    temperature: f64,
    /// RL: logits per parameter value, and the running reward baseline.
    logits: Vec<Vec<f64>>,
    baseline: Option<f64>,
}

impl GuidedSearch {
    pub fn new(kind: GuidedKind, plan: &SweepPlan, seed: u64) -> GuidedSearch {
        let radix: Vec<usize> = plan.params.iter().map(|p| p.labels.len()).collect();
        GuidedSearch {
            kind,
            logits: radix.iter().map(|&n| vec![0.0; n]).collect(),
            radix,
            metrics: plan.pareto.clone(),
            rng: SmallRng::seed_from_u64(seed ^ 0x6775_6964_6564),
            seen: HashSet::new(),
            history: Vec::new(),
            chains: Vec::new(),
            temperature: 1.0,
            baseline: None,
        }
    }

    fn grid_size(&self) -> u128 {
        self.radix.iter().map(|&n| n as u128).product()
    }

    fn id_of(&self, idx: &[usize]) -> u64 {
        self.radix
            .iter()
            .zip(idx)
            .fold(0u64, |acc, (&n, &i)| acc * n as u64 + i as u64)
    }

    fn random_point(&mut self) -> Vec<usize> {
        let radix = self.radix.clone();
        radix.iter().map(|&n| self.rng.gen_range(0..n)).collect()
    }

    /// One or two parameters moved by one step (or redrawn with probability 1/4).
    fn neighbour(&mut self, p: &[usize]) -> Vec<usize> {
        let mut q = p.to_vec();
        let moves = 1 + usize::from(self.rng.gen_bool(0.3));
        for _ in 0..moves {
            let i = self.rng.gen_range(0..q.len());
            let n = self.radix[i];
            if n < 2 {
                continue;
            }
            q[i] = if self.rng.gen_bool(0.25) {
                self.rng.gen_range(0..n)
            } else if q[i] == 0 || (q[i] + 1 < n && self.rng.gen_bool(0.5)) {
                q[i] + 1
            } else {
                q[i] - 1
            };
        }
        q
    }

    fn score(&self, v: &VariantRow) -> f64 {
        if v.status != VariantStatus::Ok {
            return f64::INFINITY;
        }
        self.metrics.iter().map(|m| m.of(v).max(1e-300).ln()).sum()
    }

    /// Picks the better of two random evaluated variants.
    fn tournament(&mut self) -> Vec<usize> {
        let n = self.history.len();
        let a = self.rng.gen_range(0..n);
        let b = self.rng.gen_range(0..n);
        let pick = if self.history[a].1 <= self.history[b].1 {
            a
        } else {
            b
        };
        self.history[pick].0.clone()
    }

    fn sample_policy(&mut self) -> Vec<usize> {
        let logits = self.logits.clone();
        logits
            .iter()
            .map(|l| {
                let probs = softmax(l);
                let mut u: f64 = self.rng.gen();
                for (i, p) in probs.iter().enumerate() {
                    if u < *p {
                        return i;
                    }
                    u -= p;
                }
                probs.len() - 1
            })
            .collect()
    }

    fn candidate(&mut self) -> Vec<usize> {
        match self.kind {
            _ if self.history.is_empty() && self.kind != GuidedKind::Rl => self.random_point(),
            GuidedKind::Genetic => {
                let a = self.tournament();
                let b = self.tournament();
                let mut child: Vec<usize> = a
                    .iter()
                    .zip(&b)
                    .map(|(&x, &y)| if self.rng.gen_bool(0.5) { x } else { y })
                    .collect();
                if self.rng.gen_bool(0.5) {
                    child = self.neighbour(&child);
                }
                child
            }
            GuidedKind::Anneal => {
                if self.chains.is_empty() {
                    return self.random_point();
                }
                let c = self.rng.gen_range(0..self.chains.len());
                let state = self.chains[c].0.clone();
                self.neighbour(&state)
            }
            GuidedKind::Rl => self.sample_policy(),
        }
    }

    /// Up to `max` variants never proposed before (empty when the grid is exhausted).
    pub fn propose(&mut self, max: usize) -> Vec<u64> {
        let want = max.min(BATCH);
        let mut out = Vec::with_capacity(want);
        let mut tries = 0;
        while out.len() < want && (self.seen.len() as u128) < self.grid_size() && tries < 64 * want
        {
            tries += 1;
            let mut p = self.candidate();
            if self.seen.contains(&p) && tries > 16 * want {
                // The operators keep revisiting: fall back to a fresh random point.
                p = self.random_point();
            }
            if self.seen.insert(p.clone()) {
                out.push(self.id_of(&p));
            }
        }
        out
    }

    /// The totals of the variants of the last proposal, in any order.
    pub fn learn(&mut self, batch: &[u64], totals: &[VariantRow]) {
        let mut scored: Vec<(Vec<usize>, f64)> = Vec::with_capacity(batch.len());
        for &id in batch {
            let s = totals
                .iter()
                .find(|v| v.variant == id)
                .map_or(f64::INFINITY, |v| self.score(v));
            scored.push((self.indices(id), s));
        }
        match self.kind {
            GuidedKind::Genetic => {}
            GuidedKind::Anneal => self.anneal_step(&scored),
            GuidedKind::Rl => self.reinforce(&scored),
        }
        self.history.extend(scored);
    }

    fn indices(&self, mut id: u64) -> Vec<usize> {
        let mut idx = vec![0; self.radix.len()];
        for (i, &n) in self.radix.iter().enumerate().rev() {
            idx[i] = (id % n as u64) as usize;
            id /= n as u64;
        }
        idx
    }

    fn anneal_step(&mut self, scored: &[(Vec<usize>, f64)]) {
        if self.chains.is_empty() {
            self.chains = scored.to_vec();
            return;
        }
        // Each proposal competes with a chain (round robin): Metropolis acceptance on the log
        // score, so the temperature is in units of "factor e" of the objectives' product.
        for (k, (p, s)) in scored.iter().enumerate() {
            let c = k % self.chains.len();
            let cur = self.chains[c].1;
            let accept = *s <= cur
                || (s.is_finite() && self.rng.gen::<f64>() < (-(s - cur) / self.temperature).exp());
            if accept {
                self.chains[c] = (p.clone(), *s);
            }
        }
        self.temperature = (self.temperature * 0.85).max(1e-3);
    }

    fn reinforce(&mut self, scored: &[(Vec<usize>, f64)]) {
        let finite: Vec<f64> = scored
            .iter()
            .map(|x| x.1)
            .filter(|s| s.is_finite())
            .collect();
        if finite.is_empty() {
            return;
        }
        let worst = finite.iter().cloned().fold(f64::MIN, f64::max);
        // Reward: lower score is better; failures get the batch's worst minus a margin.
        let rewards: Vec<f64> = scored
            .iter()
            .map(|(_, s)| if s.is_finite() { -s } else { -worst - 1.0 })
            .collect();
        let mean = rewards.iter().sum::<f64>() / rewards.len() as f64;
        let base = *self.baseline.get_or_insert(mean);
        let spread = (rewards.iter().map(|r| (r - mean).powi(2)).sum::<f64>()
            / rewards.len() as f64)
            .sqrt()
            .max(1e-9);
        const LEARNING_RATE: f64 = 0.5;
        for ((p, _), r) in scored.iter().zip(&rewards) {
            let advantage = (r - base) / spread;
            for (i, &choice) in p.iter().enumerate() {
                let probs = softmax(&self.logits[i]);
                for (j, l) in self.logits[i].iter_mut().enumerate() {
                    let grad = if j == choice { 1.0 } else { 0.0 } - probs[j];
                    *l += LEARNING_RATE * advantage * grad / scored.len() as f64;
                }
            }
        }
        self.baseline = Some(0.8 * base + 0.2 * mean);
    }
}

fn softmax(l: &[f64]) -> Vec<f64> {
    let m = l.iter().cloned().fold(f64::MIN, f64::max);
    let e: Vec<f64> = l.iter().map(|x| (x - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}
