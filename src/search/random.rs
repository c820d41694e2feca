//! Random search, as Timeloop's `random` (uniform points of the whole space) and
//! `random_pruned` (a random factorization, then several random orders and keep masks of it).

use rand::Rng;

use super::{Context, Outcome, Searcher};
use crate::mapspace::Point;

pub struct RandomSearch {
    /// Orders and keep masks tried per factorization; 1 = plain uniform sampling.
    per_factorization: usize,
}

impl RandomSearch {
    pub fn uniform() -> RandomSearch {
        RandomSearch {
            per_factorization: 1,
        }
    }

    /// Timeloop's default for `random_pruned` is 16 permutations per factorization.
    pub fn pruned(per_factorization: usize) -> RandomSearch {
        RandomSearch {
            per_factorization: per_factorization.max(1),
        }
    }
}

impl Searcher for RandomSearch {
    fn name(&self) -> &'static str {
        if self.per_factorization == 1 {
            "random"
        } else {
            "random-pruned"
        }
    }

    fn ask(&mut self, ctx: &mut Context, max: usize) -> Vec<Point> {
        let space = ctx.space;
        let mut out = Vec::with_capacity(max);
        while out.len() < max {
            let base = space.sample(&mut ctx.rng);
            for _ in 1..self.per_factorization.min(max - out.len()) {
                let mut p = space.sample(&mut ctx.rng);
                p.factors.clone_from(&base.factors);
                if ctx.rng.gen_bool(0.5) {
                    p.keep.clone_from(&base.keep);
                }
                out.push(p);
            }
            out.push(base);
        }
        out
    }

    fn tell(&mut self, _: &mut Context, _: &[Point], _: &[Outcome]) {}
}
