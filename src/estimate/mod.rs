//! Accelergy-style energy and area estimation: a built-in component library (SRAM, register
//! file, DRAM, integer / floating-point MAC, adder, multiplier, wire / NoC hop) calibrated at
//! 45 nm, with technology scaling from 130 to 7 nm.
//!
//! Pure functions of numbers and `arch` types; no IO. `io::estimate_fill` fills the energies
//! and areas an arch file leaves out, and `loomap estimate` prints the resulting ERT/ART.
//! Every constant names its source next to it; docs/estimate.md collects them with the
//! validation errors against the Accelergy reference tables.

pub mod logic;
pub mod memory;
pub mod sram;
pub mod tech;

pub use logic::{adder, mac, multiplier, noc_hop, wire, FpFormat, LogicEstimate, MacKind};
pub use memory::{
    dram, regfile, sram, sram_accelergy_2020, sram_read_organisation_model, sram_with, DramType,
    MemoryShape,
};
pub use tech::Technology;

use crate::arch::LevelClass;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EstimateError {
    #[error("technology node {nm} nm is outside the supported range {lo}–{hi} nm")]
    UnsupportedNode { nm: f64, lo: f64, hi: f64 },
    #[error("{what} must be at least 1, got {value}")]
    NotPositive { what: &'static str, value: u64 },
    #[error("{what} must be a finite number > 0, got {value}")]
    BadNumber { what: &'static str, value: f64 },
    #[error("{banks} banks cannot split {depth} rows")]
    TooManyBanks { banks: u64, depth: u64 },
    #[error("no floating-point MAC of {bits} bits is modelled (fp16, bf16 and fp32 are)")]
    UnsupportedFp { bits: u32 },
    #[error("unknown {what} `{value}` (expected one of: {expected})")]
    Unknown {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// Energies per access of one row (vector), leakage per cycle and area, of one instance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StorageEstimate {
    pub read_pj: f64,
    pub write_pj: f64,
    pub update_pj: f64,
    pub leak_pj_per_cycle: f64,
    pub area_um2: f64,
}

impl StorageEstimate {
    pub const ZERO: StorageEstimate = StorageEstimate {
        read_pj: 0.0,
        write_pj: 0.0,
        update_pj: 0.0,
        leak_pj_per_cycle: 0.0,
        area_um2: 0.0,
    };
}

/// What an arch level looks like to the estimator. Mirrors the arch-file keys.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelShape {
    pub class: LevelClass,
    /// Capacity per instance in words; `None` only for DRAM.
    pub size_words: Option<u64>,
    pub word_bits: u32,
    pub block_size: u64,
    pub cluster_size: u64,
    pub banks: u64,
    pub ports: u64,
    pub dram_type: DramType,
}

impl LevelShape {
    /// Bits of one physical row: `cluster_size` instances share a row of `block_size` words
    /// each (Timeloop: width = datawidth × block_size × cluster_size).
    pub fn row_bits(&self) -> u64 {
        u64::from(self.word_bits)
            .saturating_mul(self.block_size)
            .saturating_mul(self.cluster_size)
    }

    /// Rows: capacity / words per row (Timeloop: size = depth × block_size), rounded up.
    pub fn rows(&self) -> Option<u64> {
        let per_row = self.block_size.max(1);
        self.size_words.map(|s| s.div_ceil(per_row))
    }
}

/// Which generation of Accelergy's reference tables the estimates reproduce. The two differ
/// by the CACTI wrapper, not by physics: the same 16384 × 64 GLB is 74.1 pJ per read in the
/// 2020 tables and 32.3 pJ in the 2024 ones (docs/estimate.md, "Generations").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Generation {
    /// Accelergy v0.4 with the hwcomponents plug-ins (the 2024 references).
    #[default]
    Current,
    /// Accelergy of 2019–20 (the `acc_*` and `legacy2020_*` references): its own fitted SRAM
    /// constants, and a level's `banks` reaches CACTI.
    Accelergy2020,
}

impl Generation {
    pub const NAMES: &'static str = "current, accelergy-2020";

    pub fn name(self) -> &'static str {
        match self {
            Generation::Current => "current",
            Generation::Accelergy2020 => "accelergy-2020",
        }
    }
}

impl std::str::FromStr for Generation {
    type Err = EstimateError;
    fn from_str(s: &str) -> Result<Generation, EstimateError> {
        match s {
            "current" => Ok(Generation::Current),
            "accelergy-2020" => Ok(Generation::Accelergy2020),
            _ => Err(EstimateError::Unknown {
                what: "estimate_generation",
                value: s.to_string(),
                expected: Generation::NAMES,
            }),
        }
    }
}

/// Estimates one storage level at `tech` and `clock_ghz` ([`Generation::Current`]).
pub fn storage_level(
    shape: &LevelShape,
    tech: &Technology,
    clock_ghz: f64,
) -> Result<StorageEstimate, EstimateError> {
    storage_level_for(shape, tech, clock_ghz, Generation::Current)
}

/// Estimates one storage level as the given generation of Accelergy would.
pub fn storage_level_for(
    shape: &LevelShape,
    tech: &Technology,
    clock_ghz: f64,
    generation: Generation,
) -> Result<StorageEstimate, EstimateError> {
    memory::positive("word_bits", u64::from(shape.word_bits))?;
    memory::positive("block_size", shape.block_size)?;
    memory::positive("cluster_size", shape.cluster_size)?;
    let width_bits = shape.row_bits();
    let mem = |depth: Option<u64>| MemoryShape {
        width_bits,
        depth: depth.unwrap_or(0),
        banks: shape.banks,
        ports: shape.ports,
    };
    let array = match shape.class {
        LevelClass::Dummy => return Ok(StorageEstimate::ZERO),
        LevelClass::Dram => dram(shape.dram_type, width_bits)?,
        LevelClass::Sram if generation == Generation::Accelergy2020 => {
            // The 2019-20 smartbuffer_SRAM passed n_banks to CACTI (its ERT splits the
            // address part of an access over `address_delta` = 0..n_banks).
            sram_accelergy_2020(&mem(shape.rows()), tech, clock_ghz)?
        }
        LevelClass::Sram => {
            // A level's `banks` (Timeloop's n_banks) is checked but not modelled: Accelergy's
            // smartbuffer_SRAM does not pass it to CACTI, so the banked reference buffers
            // (the 32-bank Eyeriss GLB) are single-bank macros.
            mem(shape.rows()).check()?;
            sram(
                &MemoryShape {
                    banks: 1,
                    ..mem(shape.rows())
                },
                tech,
                clock_ghz,
            )?
        }
        LevelClass::Regfile => regfile(&mem(shape.rows()), tech, clock_ghz)?,
    };
    // `cluster_size` instances share one physical array: an access moves the whole shared
    // row (Timeloop charges it per utilized cluster), but each instance owns only its share
    // of the array's leakage and area.
    let share = shape.cluster_size as f64;
    Ok(StorageEstimate {
        leak_pj_per_cycle: array.leak_pj_per_cycle / share,
        area_um2: array.area_um2 / share,
        ..array
    })
}

/// ERT actions, named as in Accelergy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
    Update,
    Leak,
    Compute,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Update => "update",
            Action::Leak => "leak",
            Action::Compute => "compute",
        }
    }
}

/// Where a table value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Written in the arch file.
    Explicit,
    /// Computed by this module's models.
    Estimated,
    /// Absent and not estimated (no `technology_nm`, or a dummy level): the documented default.
    Default,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Explicit => "explicit",
            Source::Estimated => "estimated",
            Source::Default => "default",
        }
    }
}

/// One energy-reference-table row: pJ per action (leak: pJ per cycle).
#[derive(Debug, Clone, PartialEq)]
pub struct ErtRow {
    pub component: String,
    pub class: String,
    pub action: Action,
    pub energy_pj: f64,
    pub source: Source,
}

/// One area-reference-table row: µm² per instance.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtRow {
    pub component: String,
    pub class: String,
    pub instances: u64,
    pub area_um2: f64,
    pub source: Source,
}

/// An architecture's ERT and ART, innermost component last (file order).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tables {
    pub technology_nm: Option<f64>,
    pub ert: Vec<ErtRow>,
    pub art: Vec<ArtRow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(class: LevelClass, size: Option<u64>) -> LevelShape {
        LevelShape {
            class,
            size_words: size,
            word_bits: 8,
            block_size: 8,
            cluster_size: 1,
            banks: 1,
            ports: 1,
            dram_type: DramType::Lpddr4,
        }
    }

    #[test]
    fn levels_use_row_width_and_rows() {
        let t = Technology::nm45();
        // 128 KiB of 8-bit words in 64-bit rows = 16384 × 64, the Eyeriss GLB geometry.
        let s = shape(LevelClass::Sram, Some(131072));
        assert_eq!((s.row_bits(), s.rows()), (64, Some(16384)));
        let e = storage_level(&s, &t, 1.0).unwrap();
        let direct = sram(&MemoryShape::new(64, 16384), &t, 1.0).unwrap();
        assert_eq!(e, direct);
        let d = storage_level(&shape(LevelClass::Dram, None), &t, 1.0).unwrap();
        assert_eq!(d.read_pj, 512.0);
        let z = storage_level(&shape(LevelClass::Dummy, Some(0)), &t, 1.0).unwrap();
        assert_eq!(z, StorageEstimate::ZERO);
    }

    #[test]
    fn clustered_instances_share_the_array_area_and_leakage() {
        let t = Technology::nm45();
        // simba_like PEWeightRegs: one 8-bit word per instance, 64 instances per 512-bit row.
        let mut s = shape(LevelClass::Regfile, Some(1));
        (s.block_size, s.cluster_size) = (1, 64);
        let e = storage_level(&s, &t, 1.0).unwrap();
        let row = regfile(&MemoryShape::new(512, 1), &t, 1.0).unwrap();
        assert_eq!(e.read_pj, row.read_pj);
        assert!((e.area_um2 * 64.0 - row.area_um2).abs() < 1e-9 * row.area_um2);
        assert!((e.leak_pj_per_cycle * 64.0 - row.leak_pj_per_cycle).abs() < 1e-15);
    }

    #[test]
    fn the_2020_generation_uses_its_constants_and_the_level_banks() {
        let t = Technology::nm45();
        let mut s = shape(LevelClass::Sram, Some(131072));
        s.banks = 32;
        let now = storage_level(&s, &t, 1.0).unwrap();
        let then = storage_level_for(&s, &t, 1.0, Generation::Accelergy2020).unwrap();
        let direct = sram_accelergy_2020(
            &MemoryShape {
                banks: 32,
                ..MemoryShape::new(64, 16384)
            },
            &t,
            1.0,
        )
        .unwrap();
        assert_eq!(then, direct);
        // The 2020 tables: 74.144 pJ and 1162549 µm² for this GLB, 2.3× and 2.7× the 2024 ones.
        assert!((then.read_pj / 74.144 - 1.0).abs() < 0.12, "{then:?}");
        assert!((then.area_um2 / 1162549.0 - 1.0).abs() < 0.12, "{then:?}");
        assert!(then.read_pj > 2.0 * now.read_pj);
        // Regfiles, DRAM and a 1-bank level's validity checks are shared.
        let r = shape(LevelClass::Regfile, Some(64));
        assert_eq!(
            storage_level(&r, &t, 1.0),
            storage_level_for(&r, &t, 1.0, Generation::Accelergy2020)
        );
        s.banks = 1 << 20;
        assert!(matches!(
            storage_level_for(&s, &t, 1.0, Generation::Accelergy2020),
            Err(EstimateError::TooManyBanks { .. })
        ));
        assert_eq!("accelergy-2020".parse(), Ok(Generation::Accelergy2020));
        assert_eq!("current".parse(), Ok(Generation::Current));
        assert!(matches!(
            "2020".parse::<Generation>(),
            Err(EstimateError::Unknown { .. })
        ));
    }

    #[test]
    fn zero_capacity_is_an_error_not_a_panic() {
        let t = Technology::nm45();
        for class in [LevelClass::Sram, LevelClass::Regfile] {
            assert!(matches!(
                storage_level(&shape(class, Some(0)), &t, 1.0),
                Err(EstimateError::NotPositive { what: "depth", .. })
            ));
            assert!(storage_level(&shape(class, None), &t, 1.0).is_err());
        }
        let mut s = shape(LevelClass::Sram, Some(64));
        s.word_bits = 0;
        assert!(storage_level(&s, &t, 1.0).is_err());
    }

    #[test]
    fn every_estimate_shrinks_from_65_to_7_nm() {
        let nodes = [65.0, 45.0, 32.0, 22.0, 16.0, 7.0];
        let mut last: Option<(StorageEstimate, StorageEstimate, LogicEstimate)> = None;
        for nm in nodes {
            let t = Technology::new(nm).unwrap();
            let s = storage_level(&shape(LevelClass::Sram, Some(8192)), &t, 1.0).unwrap();
            let r = storage_level(&shape(LevelClass::Regfile, Some(64)), &t, 1.0).unwrap();
            let m = mac(MacKind::Int { bits: 8 }, &t).unwrap();
            if let Some((ps, pr, pm)) = last {
                assert!(s.read_pj < ps.read_pj && s.area_um2 < ps.area_um2, "{nm}");
                assert!(s.leak_pj_per_cycle < ps.leak_pj_per_cycle, "{nm}");
                assert!(r.write_pj < pr.write_pj && r.area_um2 < pr.area_um2, "{nm}");
                assert!(
                    m.energy_pj < pm.energy_pj && m.area_um2 < pm.area_um2,
                    "{nm}"
                );
            }
            last = Some((s, r, m));
        }
    }
}
