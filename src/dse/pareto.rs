//! Non-dominated sets (minimisation over every objective).
//!
//! Determinism: points are visited in lexicographic order of their objective vectors, ties by
//! index, so the front and the duplicate links never depend on the input's order beyond the
//! index tie-break. A point that equals a front point exactly is a duplicate of the one with
//! the lowest index and is not itself on the front.

use std::cmp::Ordering;

/// Where one point stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// On the front.
    Front,
    /// Equal in every objective to the front point with this index.
    DuplicateOf(usize),
    /// Some front point is at least as good everywhere and better somewhere.
    Dominated,
    /// A value is NaN or infinite: not comparable, never on the front.
    Invalid,
}

fn lex(a: &[f64], b: &[f64]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| *o != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

/// `a` is no worse than `b` everywhere and strictly better somewhere.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    let mut better = false;
    for (x, y) in a.iter().zip(b) {
        if x > y {
            return false;
        }
        better |= x < y;
    }
    better
}

/// The standing of every point; all points must have the same number of objectives.
pub fn standings(points: &[Vec<f64>]) -> Vec<Standing> {
    let mut out = vec![Standing::Invalid; points.len()];
    let mut order: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].iter().all(|v| v.is_finite()))
        .collect();
    order.sort_by(|&a, &b| lex(&points[a], &points[b]).then(a.cmp(&b)));
    // Only a point earlier in lexicographic order can dominate or equal a later one, and a
    // point dominated by a dominated point is dominated by a front point, so comparing with
    // the front found so far is enough.
    let mut front: Vec<usize> = Vec::new();
    for &i in &order {
        let p = &points[i];
        out[i] = Standing::Front;
        for &f in &front {
            if points[f] == *p {
                out[i] = Standing::DuplicateOf(f);
                break;
            }
            if dominates(&points[f], p) {
                out[i] = Standing::Dominated;
                break;
            }
        }
        if out[i] == Standing::Front {
            front.push(i);
        }
    }
    out
}

/// Indices of the front, in lexicographic order of their objectives (ties by index).
pub fn front(points: &[Vec<f64>]) -> Vec<usize> {
    let s = standings(points);
    let mut f: Vec<usize> = (0..points.len())
        .filter(|&i| s[i] == Standing::Front)
        .collect();
    f.sort_by(|&a, &b| lex(&points[a], &points[b]).then(a.cmp(&b)));
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn brute_force(points: &[Vec<f64>]) -> Vec<bool> {
        (0..points.len())
            .map(|i| {
                points[i].iter().all(|v| v.is_finite())
                    && !(0..points.len()).any(|j| {
                        points[j].iter().all(|v| v.is_finite())
                            && (dominates(&points[j], &points[i])
                                || (j < i && points[j] == points[i]))
                    })
            })
            .collect()
    }

    #[test]
    fn small_front_by_hand() {
        let p = vec![
            vec![1.0, 5.0],      // front
            vec![2.0, 2.0],      // front
            vec![3.0, 3.0],      // dominated by [2, 2]
            vec![2.0, 2.0],      // duplicate of 1
            vec![5.0, 1.0],      // front
            vec![f64::NAN, 0.0], // invalid
            vec![1.0, 6.0],      // dominated by [1, 5]
        ];
        let s = standings(&p);
        assert_eq!(
            s,
            vec![
                Standing::Front,
                Standing::Front,
                Standing::Dominated,
                Standing::DuplicateOf(1),
                Standing::Front,
                Standing::Invalid,
                Standing::Dominated
            ]
        );
        assert_eq!(front(&p), vec![0, 1, 4]);
    }

    #[test]
    fn matches_brute_force_on_random_points() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for case in 0..200 {
            let dims = 1 + case % 4;
            let n = rng.gen_range(1..60);
            // Few distinct values so ties and duplicates are common.
            let p: Vec<Vec<f64>> = (0..n)
                .map(|_| (0..dims).map(|_| rng.gen_range(0..5) as f64).collect())
                .collect();
            let s = standings(&p);
            let on_front: Vec<bool> = s.iter().map(|x| *x == Standing::Front).collect();
            assert_eq!(on_front, brute_force(&p), "case {case}: {p:?}");
            // Shuffling the input permutes the front, nothing else (up to which duplicate
            // represents a group: the lowest index).
            let f: Vec<Vec<f64>> = front(&p).iter().map(|&i| p[i].clone()).collect();
            let mut q = p.clone();
            q.reverse();
            let g: Vec<Vec<f64>> = front(&q).iter().map(|&i| q[i].clone()).collect();
            assert_eq!(f, g);
        }
    }
}
