//! The accelerator: a chain of storage levels above a spatial array of compute units.
//!
//! Index 0 is the innermost storage level (next to the MACs); the last level is the
//! backing store (usually DRAM). Energies are Accelergy-style per-action values.
//! Owns no IO: `io` parses files and calls [`Arch::new`], which checks every cross-field rule.

/// What a level is built from; only changes defaults and reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelClass {
    Dram,
    Sram,
    Regfile,
    /// Holds nothing and only carries a spatial fanout (Timeloop's `inter_*_spatial`).
    Dummy,
}

impl LevelClass {
    pub fn name(self) -> &'static str {
        match self {
            LevelClass::Dram => "dram",
            LevelClass::Sram => "sram",
            LevelClass::Regfile => "regfile",
            LevelClass::Dummy => "dummy",
        }
    }
}

/// One storage level. Bandwidths are words/cycle per instance; `None` = unlimited.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub name: String,
    pub class: LevelClass,
    /// Capacity in words; `None` = unbounded.
    pub size_words: Option<u64>,
    pub word_bits: u32,
    /// Words per physical access; energies are per such vector access.
    pub block_size: u64,
    pub cluster_size: u64,
    pub instances: u64,
    pub mesh_x: u64,
    pub mesh_y: u64,
    pub read_bw: Option<f64>,
    pub write_bw: Option<f64>,
    pub shared_bw: Option<f64>,
    pub multiple_buffering: f64,
    pub min_utilization: f64,
    pub read_energy_pj: f64,
    pub write_energy_pj: f64,
    pub update_energy_pj: f64,
    pub leak_pj_per_cycle: f64,
    pub area_um2: f64,
    pub network_fill_latency: u64,
    pub network_drain_latency: u64,
    /// Cycles added each time a new tile of this level starts (per iteration of the temporal
    /// loops above it) that no overlap hides, e.g. a systolic array's fill and drain per
    /// buffer tile. 0 (Timeloop has no such term).
    pub tile_overhead_cycles: u64,
    /// The level's fills from its parent and drains to it run as pipeline stages of their
    /// own beside the work below it (double-buffered DMA): the first tile's fill and the last
    /// tile's drain cannot overlap anything, and the slowest of fill, work and drain bounds the
    /// steady state. `false` (Timeloop overlaps all of it for free). See `model` docs.
    pub pipelined_fill_drain: bool,
    /// Words/cycle per instance a pipelined level drains to its parent (its write-back
    /// channel); `None` = the level's `read_bw`. Only read when `pipelined_fill_drain` is set.
    pub drain_bw: Option<f64>,
}

impl Level {
    /// A level with neutral defaults: one instance, 16-bit words, no energy, unbounded.
    pub fn new(name: impl Into<String>, class: LevelClass) -> Level {
        Level {
            name: name.into(),
            class,
            size_words: if class == LevelClass::Dummy {
                Some(0)
            } else {
                None
            },
            word_bits: 16,
            block_size: 1,
            cluster_size: 1,
            instances: 1,
            mesh_x: 1,
            mesh_y: 1,
            read_bw: None,
            write_bw: None,
            shared_bw: None,
            multiple_buffering: 1.0,
            min_utilization: 0.0,
            read_energy_pj: 0.0,
            write_energy_pj: 0.0,
            update_energy_pj: 0.0,
            leak_pj_per_cycle: 0.0,
            area_um2: 0.0,
            network_fill_latency: 0,
            network_drain_latency: 0,
            tile_overhead_cycles: 0,
            pipelined_fill_drain: false,
            drain_bw: None,
        }
    }

    /// Usable capacity once multiple buffering is accounted for (Timeloop: floor(size / factor)).
    pub fn effective_words(&self) -> Option<u64> {
        self.size_words
            .map(|s| (s as f64 / self.multiple_buffering) as u64) // truncation is floor here
    }
}

/// The spatial array of multiply-accumulate units.
#[derive(Debug, Clone, PartialEq)]
pub struct Compute {
    pub name: String,
    pub instances: u64,
    pub mesh_x: u64,
    pub mesh_y: u64,
    pub word_bits: u32,
    pub energy_pj: f64,
    pub area_um2: f64,
}

/// Which Timeloop version's counting rules the model follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CountingRules {
    /// Today's Timeloop (v0.4 / 2024 references): a read-write tensor's fills exclude the
    /// first tile, whose partial sums start in place.
    #[default]
    Timeloop,
    /// Timeloop of 2020 (the `legacy2020_*` references): a read-write tensor's fills include
    /// that first tile.
    Timeloop2020,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arch {
    pub name: String,
    pub clock_ghz: f64,
    pub technology_nm: Option<f64>,
    /// Innermost first.
    pub levels: Vec<Level>,
    pub compute: Compute,
    pub rules: CountingRules,
    /// Cycles charged once per layer before any tile starts and that nothing overlaps, e.g.
    /// fetching and decoding an accelerator's program. 0 (Timeloop has no such term).
    pub program_overhead_cycles: u64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArchError {
    #[error("the architecture has no storage level; at least a backing store is needed")]
    NoLevels,
    #[error("level `{0}` is named twice")]
    DuplicateName(String),
    #[error("`{name}`: {field} must be at least 1, got {value}")]
    NotPositive {
        name: String,
        field: &'static str,
        value: u64,
    },
    #[error("`{name}`: mesh_x × mesh_y = {mesh} but instances = {instances}")]
    MeshMismatch {
        name: String,
        mesh: u64,
        instances: u64,
    },
    #[error("`{inner}` ({inner_mesh}) is not a whole multiple of the level above it, `{outer}` ({outer_mesh}), along mesh {axis}")]
    FanoutNotIntegral {
        inner: String,
        outer: String,
        axis: char,
        inner_mesh: u64,
        outer_mesh: u64,
    },
    #[error("`{name}`: {field} must be a finite number ≥ 0, got {value}")]
    BadNumber {
        name: String,
        field: &'static str,
        value: f64,
    },
    #[error("`{0}`: multiple_buffering must be ≥ 1")]
    BadBuffering(String),
}

impl Arch {
    /// Checks every rule that ties fields together. Levels are given innermost first.
    pub fn new(
        name: impl Into<String>,
        clock_ghz: f64,
        technology_nm: Option<f64>,
        levels: Vec<Level>,
        compute: Compute,
    ) -> Result<Arch, ArchError> {
        if levels.is_empty() {
            return Err(ArchError::NoLevels);
        }
        let check_num = |name: &str, field: &'static str, value: f64| {
            if value.is_finite() && value >= 0.0 {
                Ok(())
            } else {
                Err(ArchError::BadNumber {
                    name: name.to_string(),
                    field,
                    value,
                })
            }
        };
        let positive = |name: &str, field: &'static str, value: u64| {
            if value >= 1 {
                Ok(())
            } else {
                Err(ArchError::NotPositive {
                    name: name.to_string(),
                    field,
                    value,
                })
            }
        };
        check_num("clock", "clock_ghz", clock_ghz)?;
        for (i, l) in levels.iter().enumerate() {
            if levels[..i].iter().any(|m| m.name == l.name) || l.name == compute.name {
                return Err(ArchError::DuplicateName(l.name.clone()));
            }
            positive(&l.name, "instances", l.instances)?;
            positive(&l.name, "block_size", l.block_size)?;
            positive(&l.name, "cluster_size", l.cluster_size)?;
            positive(&l.name, "word_bits", u64::from(l.word_bits))?;
            if l.mesh_x * l.mesh_y != l.instances {
                return Err(ArchError::MeshMismatch {
                    name: l.name.clone(),
                    mesh: l.mesh_x * l.mesh_y,
                    instances: l.instances,
                });
            }
            for (field, v) in [
                ("read_energy_pj", l.read_energy_pj),
                ("write_energy_pj", l.write_energy_pj),
                ("update_energy_pj", l.update_energy_pj),
                ("leak_pj_per_cycle", l.leak_pj_per_cycle),
                ("area_um2", l.area_um2),
                ("min_utilization", l.min_utilization),
                ("read_bw", l.read_bw.unwrap_or(0.0)),
                ("write_bw", l.write_bw.unwrap_or(0.0)),
                ("shared_bw", l.shared_bw.unwrap_or(0.0)),
                ("drain_bw", l.drain_bw.unwrap_or(0.0)),
            ] {
                check_num(&l.name, field, v)?;
            }
            if l.multiple_buffering.is_nan() || l.multiple_buffering < 1.0 {
                return Err(ArchError::BadBuffering(l.name.clone()));
            }
        }
        positive(&compute.name, "instances", compute.instances)?;
        if compute.mesh_x * compute.mesh_y != compute.instances {
            return Err(ArchError::MeshMismatch {
                name: compute.name.clone(),
                mesh: compute.mesh_x * compute.mesh_y,
                instances: compute.instances,
            });
        }
        check_num(&compute.name, "energy_pj", compute.energy_pj)?;
        check_num(&compute.name, "area_um2", compute.area_um2)?;
        let meshes: Vec<(&str, u64, u64)> =
            std::iter::once((compute.name.as_str(), compute.mesh_x, compute.mesh_y))
                .chain(levels.iter().map(|l| (l.name.as_str(), l.mesh_x, l.mesh_y)))
                .collect();
        for w in meshes.windows(2) {
            let ((inner, ix, iy), (outer, ox, oy)) = (w[0], w[1]);
            for (axis, i, o) in [('X', ix, ox), ('Y', iy, oy)] {
                if i % o != 0 {
                    return Err(ArchError::FanoutNotIntegral {
                        inner: inner.to_string(),
                        outer: outer.to_string(),
                        axis,
                        inner_mesh: i,
                        outer_mesh: o,
                    });
                }
            }
        }
        Ok(Arch {
            name: name.into(),
            clock_ghz,
            technology_nm,
            levels,
            compute,
            rules: CountingRules::default(),
            program_overhead_cycles: 0,
        })
    }

    pub fn num_levels(&self) -> usize {
        self.levels.len()
    }

    pub fn level_id(&self, name: &str) -> Option<usize> {
        self.levels.iter().position(|l| l.name == name)
    }

    /// Spatial fanout below level `i` along (X, Y): children per instance.
    pub fn fanout(&self, i: usize) -> (u64, u64) {
        let (cx, cy) = if i == 0 {
            (self.compute.mesh_x, self.compute.mesh_y)
        } else {
            (self.levels[i - 1].mesh_x, self.levels[i - 1].mesh_y)
        };
        (cx / self.levels[i].mesh_x, cy / self.levels[i].mesh_y)
    }

    /// Total area: every instance of every level and compute unit (Timeloop's ART sum).
    pub fn area_um2(&self) -> f64 {
        self.levels
            .iter()
            .map(|l| l.area_um2 * l.instances as f64)
            .sum::<f64>()
            + self.compute.area_um2 * self.compute.instances as f64
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// DRAM -> 64-word buffer -> 1 MAC, the shape of Timeloop's tutorial 2-level design.
    pub(crate) fn two_level() -> Arch {
        let mut buf = Level::new("Buffer", LevelClass::Regfile);
        buf.size_words = Some(64);
        buf.read_energy_pj = 1.0;
        buf.write_energy_pj = 1.0;
        buf.update_energy_pj = 1.0;
        let mut dram = Level::new("DRAM", LevelClass::Dram);
        dram.read_energy_pj = 100.0;
        dram.write_energy_pj = 100.0;
        dram.update_energy_pj = 100.0;
        let mac = Compute {
            name: "MAC".into(),
            instances: 1,
            mesh_x: 1,
            mesh_y: 1,
            word_bits: 16,
            energy_pj: 0.5,
            area_um2: 10.0,
        };
        Arch::new("t", 1.0, None, vec![buf, dram], mac).unwrap()
    }

    #[test]
    fn fanout_must_divide() {
        let mut a = two_level();
        a.compute.instances = 6;
        a.compute.mesh_x = 6;
        a.levels[0].instances = 4;
        a.levels[0].mesh_x = 4;
        let err = Arch::new("t", 1.0, None, a.levels.clone(), a.compute.clone()).unwrap_err();
        assert!(
            matches!(err, ArchError::FanoutNotIntegral { axis: 'X', .. }),
            "{err}"
        );
    }

    #[test]
    fn fanout_is_per_axis_ratio() {
        let mut a = two_level();
        a.compute.instances = 16;
        a.compute.mesh_x = 4;
        a.compute.mesh_y = 4;
        let a = Arch::new("t", 1.0, None, a.levels, a.compute).unwrap();
        assert_eq!(a.fanout(0), (4, 4));
        assert_eq!(a.fanout(1), (1, 1));
    }
}
