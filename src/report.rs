//! Presenting one evaluation: the full [`CostReport`] built from the model's [`Stats`], as a
//! per-level text table for people, JSON or CSV for tools. Never recomputes the model.

use std::fmt::Write as _;

use serde::Serialize;

use crate::arch::Arch;
use crate::model::{CostSummary, Stats};
use crate::workload::Problem;

#[derive(Debug, Clone, Serialize)]
pub struct TensorReport {
    pub tensor: String,
    pub partition_size: u64,
    pub utilized_capacity: u64,
    /// Per instance, as Timeloop prints them.
    pub reads: u64,
    pub fills: u64,
    pub updates: u64,
    pub energy_pj: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LevelReport {
    pub name: String,
    pub class: String,
    pub instances: u64,
    pub utilized_instances: u64,
    pub cycles: u64,
    pub energy_pj: f64,
    pub leak_energy_pj: f64,
    pub area_um2: f64,
    pub tensors: Vec<TensorReport>,
}

/// The full breakdown of one mapping's cost.
#[derive(Debug, Clone, Serialize)]
pub struct CostReport {
    pub arch: String,
    pub layer: String,
    pub cycles: u64,
    pub energy_pj: f64,
    pub macs: u64,
    /// MACs the nest runs: more than `macs` under an imperfect (padded) factorization.
    pub executed_macs: u64,
    pub utilization: f64,
    pub area_um2: f64,
    pub edp: f64,
    pub pj_per_mac: f64,
    pub compute_energy_pj: f64,
    pub compute_utilized_instances: u64,
    /// Outermost first.
    pub levels: Vec<LevelReport>,
}

impl CostReport {
    pub fn new(arch: &Arch, problem: &Problem, summary: &CostSummary, stats: &Stats) -> CostReport {
        let mut levels = Vec::new();
        for (lvl, level) in arch.levels.iter().enumerate().rev() {
            let tensors: Vec<TensorReport> = (0..problem.num_tensors())
                .filter(|&t| stats.tensors[lvl][t].kept)
                .map(|t| {
                    let s = &stats.tensors[lvl][t];
                    TensorReport {
                        tensor: problem.tensors[t].name.clone(),
                        partition_size: stats.partition_size(problem, lvl, t),
                        utilized_capacity: s.utilized_capacity,
                        reads: s.reads,
                        fills: s.fills,
                        updates: s.updates,
                        energy_pj: s.energy_pj,
                    }
                })
                .collect();
            let energy: f64 =
                tensors.iter().map(|t| t.energy_pj).sum::<f64>() + stats.leak_energy_pj[lvl];
            levels.push(LevelReport {
                name: level.name.clone(),
                class: level.class.name().to_string(),
                instances: level.instances,
                utilized_instances: stats.utilized_instances[lvl],
                cycles: stats.level_cycles[lvl],
                energy_pj: energy,
                leak_energy_pj: stats.leak_energy_pj[lvl],
                area_um2: level.area_um2 * level.instances as f64,
                tensors,
            });
        }
        CostReport {
            arch: arch.name.clone(),
            layer: problem.name.clone(),
            cycles: summary.cycles,
            energy_pj: summary.energy_pj,
            macs: summary.macs,
            executed_macs: stats.executed_macs,
            utilization: summary.utilization,
            area_um2: summary.area_um2,
            edp: summary.edp(),
            pj_per_mac: summary.energy_pj / summary.macs as f64,
            compute_energy_pj: stats.compute_energy_pj,
            compute_utilized_instances: stats.compute_utilized,
            levels,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// One row per (level, tensor), with the totals repeated on every row.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("layer,level,tensor,partition_size,utilized_capacity,reads,fills,updates,energy_pj,total_cycles,total_energy_pj\n");
        for l in &self.levels {
            for t in &l.tensors {
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{:.6},{},{:.6}",
                    self.layer,
                    l.name,
                    t.tensor,
                    t.partition_size,
                    t.utilized_capacity,
                    t.reads,
                    t.fills,
                    t.updates,
                    t.energy_pj,
                    self.cycles,
                    self.energy_pj
                );
            }
        }
        out
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{} on {}", self.layer, self.arch);
        let _ = writeln!(
            out,
            "cycles {}  energy {:.2} pJ ({:.3} pJ/MAC)  MACs {}  utilization {:.2}%  area {:.0} um^2",
            self.cycles,
            self.energy_pj,
            self.pj_per_mac,
            self.macs,
            self.utilization * 100.0,
            self.area_um2
        );
        if self.executed_macs > self.macs {
            let _ = writeln!(
                out,
                "imperfect factorization: {} MACs executed, {:.2}% of them on padding",
                self.executed_macs,
                100.0 * (self.executed_macs - self.macs) as f64 / self.executed_macs as f64
            );
        }
        let _ = writeln!(
            out,
            "\n{:<24} {:<10} {:>10} {:>12} {:>12} {:>12} {:>12} {:>14}",
            "level", "tensor", "instances", "capacity", "reads", "fills", "updates", "energy pJ"
        );
        for l in &self.levels {
            for (i, t) in l.tensors.iter().enumerate() {
                let (name, inst) = if i == 0 {
                    (l.name.as_str(), l.utilized_instances.to_string())
                } else {
                    ("", String::new())
                };
                let _ = writeln!(
                    out,
                    "{:<24} {:<10} {:>10} {:>12} {:>12} {:>12} {:>12} {:>14.2}",
                    name,
                    t.tensor,
                    inst,
                    t.utilized_capacity,
                    t.reads,
                    t.fills,
                    t.updates,
                    t.energy_pj
                );
            }
            if l.leak_energy_pj > 0.0 {
                let _ = writeln!(
                    out,
                    "{:<24} {:<10} {:>75.2}",
                    "", "(leak)", l.leak_energy_pj
                );
            }
        }
        let _ = writeln!(
            out,
            "{:<24} {:<10} {:>10} {:>65.2}",
            "compute", "MAC", self.compute_utilized_instances, self.compute_energy_pj
        );
        out
    }
}
