//! Unconstrained random mappings straight from prime factors (used by `loomap bench`, the
//! criterion benchmark and the model's property tests; searches use [`super::MapSpace`]).

use rand::seq::SliceRandom;
use rand::Rng;

use crate::arch::{Arch, LevelClass};
use crate::mapping::{Loop, LoopNest, Mapping, Spacetime};
use crate::workload::Problem;

/// Prime factors of `n`, smallest first.
pub fn prime_factors(mut n: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut p = 2;
    while p * p <= n {
        while n.is_multiple_of(p) {
            out.push(p);
            n /= p;
        }
        p += 1;
    }
    if n > 1 {
        out.push(n);
    }
    out
}

/// A random mapping: each prime factor of each dimension goes to a random slot (a level's
/// temporal loops or, if the fanout allows, its spatial X/Y loops); orders are shuffled; each
/// inner non-dummy level keeps each tensor with probability 1/2 (Timeloop's bypass sub-space),
/// the backing store keeps all. It may still overflow a buffer: the model says so.
pub fn random_mapping<R: Rng>(arch: &Arch, problem: &Problem, rng: &mut R) -> Mapping {
    let nlev = arch.num_levels();
    let ndims = problem.num_dims();
    // factor[level][slot][dim], slot 0 temporal, 1 spatial X, 2 spatial Y
    let mut factor = vec![[[1u64; crate::workload::MAX_DIMS]; 3]; nlev];
    let mut used = vec![[1u64; 3]; nlev];
    for d in 0..ndims {
        for p in prime_factors(problem.bounds[d]) {
            let lvl = rng.gen_range(0..nlev);
            let (fx, fy) = arch.fanout(lvl);
            let slot = match rng.gen_range(0..3) {
                1 if used[lvl][1] * p <= fx => 1,
                2 if used[lvl][2] * p <= fy => 2,
                _ => 0,
            };
            factor[lvl][slot][d] *= p;
            used[lvl][slot] *= p;
        }
    }
    let mut loops = Vec::new();
    let mut level_start = Vec::with_capacity(nlev + 1);
    let mut keep = Vec::with_capacity(nlev);
    let all = ((1u16 << problem.num_tensors()) - 1) as u8;
    let mut order: Vec<usize> = (0..ndims).collect();
    for lvl in 0..nlev {
        level_start.push(loops.len());
        for (slot, space) in [
            (1, Spacetime::SpatialX),
            (2, Spacetime::SpatialY),
            (0, Spacetime::Temporal),
        ] {
            order.shuffle(rng);
            for &d in &order {
                let b = factor[lvl][slot][d];
                if b > 1 {
                    loops.push(Loop {
                        dim: d,
                        bound: b,
                        space,
                    });
                }
            }
        }
        keep.push(if arch.levels[lvl].class == LevelClass::Dummy {
            0
        } else {
            all
        });
    }
    level_start.push(loops.len());
    Mapping {
        nest: LoopNest { loops, level_start },
        keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn random_mappings_are_structurally_legal() {
        let arch = crate::arch::tests::two_level();
        let p = crate::workload::LayerShape::Matmul {
            b: 1,
            m: 12,
            n: 8,
            k: 18,
        }
        .to_problem("g")
        .unwrap();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        for _ in 0..100 {
            let m = random_mapping(&arch, &p, &mut rng);
            m.check(&arch, &p).unwrap();
        }
        assert_eq!(prime_factors(360), vec![2, 2, 2, 3, 3, 5]);
    }
}
