//! Exhaustive search with pruning that provably keeps the optimum (see
//! `mapspace::enumerate`): a walker thread streams the pruned space in a fixed order and the
//! driver evaluates it in batches. If the walk ends, the best point is optimal.

use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

use super::{Context, Outcome, Searcher};
use crate::mapspace::enumerate::{walk, WalkStats};
use crate::mapspace::{MapSpace, Point};

pub struct Exhaustive {
    rx: Option<Receiver<Vec<Point>>>,
    walker: Option<JoinHandle<WalkStats>>,
    pending: Vec<Point>,
    stats: Option<WalkStats>,
    done: bool,
}

/// Points per message from the walker thread.
const CHUNK: usize = 512;

impl Exhaustive {
    pub fn new(space: &MapSpace) -> Exhaustive {
        // The walker owns copies of what it needs: the space borrows the caller's arch and
        // problem, so clone them into the thread.
        let arch = space.arch.clone();
        let problem = space.problem.clone();
        let constraints = space.constraints.clone();
        let (tx, rx) = sync_channel::<Vec<Point>>(8);
        let walker = std::thread::spawn(move || {
            let Ok(space) = MapSpace::new(&arch, &problem, constraints) else {
                return WalkStats::default();
            };
            let mut chunk = Vec::with_capacity(CHUNK);
            let mut open = true;
            let mut stats = walk(&space, &mut |p| {
                chunk.push(p.clone());
                if chunk.len() == CHUNK {
                    open = tx
                        .send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))
                        .is_ok();
                }
                open
            });
            if open && !chunk.is_empty() {
                open = tx.send(chunk).is_ok();
            }
            stats.completed &= open;
            stats
        });
        Exhaustive {
            rx: Some(rx),
            walker: Some(walker),
            pending: Vec::new(),
            stats: None,
            done: false,
        }
    }

    fn finish(&mut self) {
        self.rx = None;
        if let Some(w) = self.walker.take() {
            self.stats = w.join().ok();
        }
        self.done = true;
    }
}

impl Drop for Exhaustive {
    fn drop(&mut self) {
        // Closing the channel makes the walker stop at its next point.
        self.rx = None;
        if let Some(w) = self.walker.take() {
            let _ = w.join();
        }
    }
}

impl Searcher for Exhaustive {
    fn name(&self) -> &'static str {
        "exhaustive"
    }

    fn ask(&mut self, _: &mut Context, max: usize) -> Vec<Point> {
        while self.pending.len() < max && !self.done {
            match self.rx.as_ref().and_then(|rx| rx.recv().ok()) {
                Some(chunk) => self.pending.extend(chunk),
                None => self.finish(),
            }
        }
        let n = max.min(self.pending.len());
        self.pending.drain(..n).collect()
    }

    fn tell(&mut self, _: &mut Context, _: &[Point], _: &[Outcome]) {}

    fn proves_optimality(&self) -> bool {
        self.done && self.stats.is_some_and(|s| s.completed)
    }

    fn report(&self) -> serde_json::Value {
        match self.stats {
            Some(s) => serde_json::json!({
                "pruned_space_visited": s.visited,
                "capacity_cuts": s.capacity_cuts,
                "fanout_cuts": s.fanout_cuts,
                "walk_completed": s.completed,
            }),
            None => serde_json::json!({ "walk_completed": false }),
        }
    }

    /// The walk's cuts, so that a space where nothing fits still says why.
    fn discarded(&self, space: &MapSpace) -> Vec<(String, u64)> {
        let Some(s) = self.stats else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (lvl, level) in space.arch.levels.iter().enumerate() {
            for (what, n) in [
                ("capacity", s.capacity_cuts_at[lvl]),
                ("fanout", s.fanout_cuts_at[lvl]),
                ("spatial utilization", s.underuse_at[lvl]),
            ] {
                if n > 0 {
                    out.push((format!("{what} at {}", level.name), n));
                }
            }
        }
        out
    }
}
