//! Storage components: SRAM, register file, DRAM. All constants are per access of one full
//! row (`width_bits`), at 45 nm and 1 GHz, and scaled by [`Technology`] and the clock.
//!
//! The SRAM and register-file constants are least-squares fits (in log space) to the 45 nm
//! Accelergy v0.4 ERT/ART entries of `../shared/reference/timeloop/ert-summary.csv`
//! (`scripts/fit_estimate.py` re-derives them and prints every residual). docs/estimate.md
//! lists the fitted points and the errors.

use super::logic::{ALADDIN_ADDER_PJ_PER_BIT, ALADDIN_ADDER_UM2_PER_BIT};
use super::sram::{array as sram_array, SramConstants, SRAM_45NM, SRAM_45NM_ACCELERGY_2020};
use super::{EstimateError, StorageEstimate, Technology};

/// Read energy of an SRAM row at 45 nm (smooth law, kept over the organisation model's read
/// because it is more accurate on the references: 5.6 % vs 9.1 % max, docs/estimate.md):
/// `w · (w/64)^SRAM_READ_WIDTH_EXP · (R0 + R1 · s(d))` pJ, where
/// `s(d) = 1 / (1 + (R_HALF / d)^R_EXP)` rises from 0 to 1 as the array deepens: bit-line
/// load grows with depth until CACTI splits the array (see `estimate::sram`). Includes the
/// address generator (fitted on the compound entries). Fit (5 parameters) to the 7 CactiSRAM
/// geometries (depth 192–16384, width 16–256).
const SRAM_READ_FLOOR_PJ_PER_BIT: f64 = 0.0372161;
const SRAM_READ_SPAN_PJ_PER_BIT: f64 = 0.5813755;
const SRAM_READ_HALF_DEPTH: f64 = 5205.62;
const SRAM_READ_EXP: f64 = 1.17804;
const SRAM_READ_WIDTH_EXP: f64 = 0.0943826;
/// Row width at which the width correction is 1.
const SRAM_WIDTH_REF_BITS: f64 = 64.0;

/// SRAM write energy and area follow the organisation model of `estimate::sram` (module);
/// what it does not cover:
///
/// Address generator of Accelergy's `smartbuffer_SRAM` (what a Timeloop storage level is):
/// one Aladdin adder as wide as the row address, used once per access (the references show
/// 0.0525 pJ and 89.5 µm² for 192 rows, 0.0919 pJ and 156.6 µm² for 12800 and 16384 rows).
const ADDRESS_GEN_PJ_PER_BIT: f64 = ALADDIN_ADDER_PJ_PER_BIT;
const ADDRESS_GEN_UM2_PER_BIT: f64 = ALADDIN_ADDER_UM2_PER_BIT;

/// SRAM leakage at 45 nm and 1 GHz: per bit plus a fixed part (the address generators of
/// Accelergy's `smartbuffer_SRAM`). Leakage in the references varies ±50 % between runs of
/// the same geometry (0.003351 vs 0.005353 pJ/cycle for 16384 × 64), so this is a rough fit.
const SRAM_LEAK_PJ_PER_BIT_CYCLE: f64 = 4.0429e-9;
const SRAM_LEAK_FIXED_PJ_PER_CYCLE: f64 = 9.0774e-4;

/// Register file (flip-flop array with read mux), as Accelergy's `smartbuffer_RF`:
/// `width · k · depth^e` pJ per row access. The exponents are close to the 0.78 depth
/// exponent Accelergy uses for regfile energy. Fit to 16 Library-estimated regfile entries
/// (12–8192 deep, 8–64 wide): within 5 % for the Eyeriss-style buffers (depth ≤ 256), up to
/// 25–31 % for Simba's 4096 × 64 and the sparse tutorial's 2048 × 8.
const RF_READ_PJ_PER_BIT: f64 = 0.0024814;
const RF_READ_DEPTH_EXP: f64 = 0.823473;
const RF_WRITE_PJ_PER_BIT: f64 = 0.0020413;
const RF_WRITE_DEPTH_EXP: f64 = 0.847675;

/// Register-file area per bit, rising with depth (read-mux tree) and saturating:
/// `RF_AREA_FLOOR + RF_AREA_SPAN / (1 + (RF_AREA_HALF_DEPTH / d)^RF_AREA_EXP)` µm²/bit.
/// Fit to 13 entries: within ±40 % (Accelergy's compound regfile scales area with width
/// twice, which a per-bit law cannot follow). Kept per bit so wide or deep files extrapolate
/// physically.
const RF_AREA_FLOOR_UM2_PER_BIT: f64 = 0.89983;
const RF_AREA_SPAN_UM2_PER_BIT: f64 = 4.2136;
const RF_AREA_HALF_DEPTH: f64 = 38.29;
const RF_AREA_EXP: f64 = 2.70941;

/// Register-file leakage at 45 nm and 1 GHz: `k · width · depth^e`. Rough (±65 %).
const RF_LEAK_PJ_PER_BIT_CYCLE: f64 = 1.6051e-6;
const RF_LEAK_DEPTH_EXP: f64 = 0.900843;

/// Each port beyond the first: an extra word line and bit-line pair per cell. Assumption,
/// not fitted (the references have 1 or 2 ports with no visible effect): +35 % area and
/// leakage per extra port, in line with the usual 8T-vs-6T cell growth; access energy is
/// per port access and unchanged.
const EXTRA_PORT_AREA_FACTOR: f64 = 0.35;

/// DRAM interface kinds with their access energy per bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DramType {
    Lpddr4,
    Ddr4,
    Gddr5,
    Hbm2,
}

impl DramType {
    /// pJ per bit transferred. LPDDR4 8: Accelergy's CACTI DRAM plug-in, confirmed by every
    /// reference ERT (512 pJ per 64-bit access, 2048 per 256-bit). GDDR5 14 and HBM2 3.9:
    /// O'Connor et al., "Fine-grained DRAM: energy-efficient DRAM for extreme bandwidth
    /// systems", MICRO 2017. DDR4 15: the commonly quoted DIMM access energy including I/O;
    /// the least certain of the four (no reference entry uses it).
    pub fn pj_per_bit(self) -> f64 {
        match self {
            DramType::Lpddr4 => 8.0,
            DramType::Ddr4 => 15.0,
            DramType::Gddr5 => 14.0,
            DramType::Hbm2 => 3.9,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DramType::Lpddr4 => "lpddr4",
            DramType::Ddr4 => "ddr4",
            DramType::Gddr5 => "gddr5",
            DramType::Hbm2 => "hbm2",
        }
    }

    pub const NAMES: &'static str = "lpddr4, ddr4, gddr5, hbm2";
}

impl std::str::FromStr for DramType {
    type Err = EstimateError;
    fn from_str(s: &str) -> Result<DramType, EstimateError> {
        match s.to_ascii_lowercase().as_str() {
            "lpddr4" => Ok(DramType::Lpddr4),
            "ddr4" => Ok(DramType::Ddr4),
            "gddr5" => Ok(DramType::Gddr5),
            "hbm2" => Ok(DramType::Hbm2),
            _ => Err(EstimateError::Unknown {
                what: "dram_type",
                value: s.to_string(),
                expected: DramType::NAMES,
            }),
        }
    }
}

/// Shape of an on-chip memory: one access moves one row of `width_bits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryShape {
    pub width_bits: u64,
    /// Rows.
    pub depth: u64,
    /// Banks the macro is built of (CACTI's UCA banks: each holds `depth / banks` rows with
    /// its own periphery, joined by a bus). Arch-file levels pass 1, see `storage_level`.
    pub banks: u64,
    /// Read/write ports.
    pub ports: u64,
}

impl MemoryShape {
    pub fn new(width_bits: u64, depth: u64) -> MemoryShape {
        MemoryShape {
            width_bits,
            depth,
            banks: 1,
            ports: 1,
        }
    }

    pub(crate) fn check(&self) -> Result<(), EstimateError> {
        positive("width_bits", self.width_bits)?;
        positive("depth", self.depth)?;
        positive("banks", self.banks)?;
        positive("ports", self.ports)?;
        if self.banks > self.depth {
            return Err(EstimateError::TooManyBanks {
                banks: self.banks,
                depth: self.depth,
            });
        }
        Ok(())
    }

    fn port_factor(&self) -> f64 {
        1.0 + EXTRA_PORT_AREA_FACTOR * (self.ports - 1) as f64
    }
}

pub(crate) fn positive(what: &'static str, value: u64) -> Result<(), EstimateError> {
    if value == 0 {
        Err(EstimateError::NotPositive { what, value })
    } else {
        Ok(())
    }
}

pub(crate) fn check_clock(clock_ghz: f64) -> Result<(), EstimateError> {
    if clock_ghz.is_finite() && clock_ghz > 0.0 {
        Ok(())
    } else {
        Err(EstimateError::BadNumber {
            what: "clock_ghz",
            value: clock_ghz,
        })
    }
}

fn rising(depth: f64, half: f64, exp: f64) -> f64 {
    1.0 / (1.0 + (half / depth).powf(exp))
}

/// SRAM buffer (Accelergy's `smartbuffer_SRAM`): write energy and area from the organisation
/// model's macro with [`SRAM_45NM`] plus the address generator, read energy from the smooth
/// law above; energies per row access, leakage per cycle, area.
pub fn sram(
    shape: &MemoryShape,
    tech: &Technology,
    clock_ghz: f64,
) -> Result<StorageEstimate, EstimateError> {
    sram_with(&SRAM_45NM, shape, tech, clock_ghz)
}

fn sram_read_smooth(width_bits: u64, depth: u64) -> f64 {
    let (w, d) = (width_bits as f64, depth as f64);
    w * (w / SRAM_WIDTH_REF_BITS).powf(SRAM_READ_WIDTH_EXP)
        * (SRAM_READ_FLOOR_PJ_PER_BIT
            + SRAM_READ_SPAN_PJ_PER_BIT * rising(d, SRAM_READ_HALF_DEPTH, SRAM_READ_EXP))
}

/// Read energy of the organisation model alone (array + address generator), pJ at 45 nm:
/// reported beside the smooth read law by the validation.
pub fn sram_read_organisation_model(
    constants: &SramConstants,
    shape: &MemoryShape,
) -> Result<f64, EstimateError> {
    shape.check()?;
    let array = sram_array(constants, shape.width_bits, shape.depth, shape.banks);
    Ok(array.read_pj + ADDRESS_GEN_PJ_PER_BIT * (shape.depth as f64).log2().ceil())
}

/// [`sram`] with other organisation-model constants (the validation refits them).
pub fn sram_with(
    constants: &SramConstants,
    shape: &MemoryShape,
    tech: &Technology,
    clock_ghz: f64,
) -> Result<StorageEstimate, EstimateError> {
    shape.check()?;
    check_clock(clock_ghz)?;
    let array = sram_array(constants, shape.width_bits, shape.depth, shape.banks);
    let address_bits = (shape.depth as f64).log2().ceil();
    let address_pj = ADDRESS_GEN_PJ_PER_BIT * address_bits;
    let read = sram_read_smooth(shape.width_bits, shape.depth);
    let write = array.write_pj + address_pj;
    let bits = shape.width_bits as f64 * shape.depth as f64;
    let leak_1ghz =
        (SRAM_LEAK_PJ_PER_BIT_CYCLE * bits + SRAM_LEAK_FIXED_PJ_PER_CYCLE) * shape.port_factor();
    let area = (array.area_um2 + ADDRESS_GEN_UM2_PER_BIT * address_bits) * shape.port_factor();
    Ok(StorageEstimate {
        read_pj: read * tech.energy_scale,
        write_pj: write * tech.energy_scale,
        update_pj: write * tech.energy_scale,
        leak_pj_per_cycle: leak_1ghz * tech.energy_scale / clock_ghz,
        area_um2: area * tech.area_scale,
    })
}

/// SRAM buffer as the 2019–20 Accelergy estimated it (`estimate_generation =
/// "accelergy-2020"`): read, write and area all from the organisation model with
/// [`SRAM_45NM_ACCELERGY_2020`] (the smooth read law is a fit to the 2024 tables), with
/// `banks` passed to the macro as that generation's smartbuffer did, plus the same address
/// generator as [`sram`]. Leakage and the port factor are [`sram`]'s (not recalibrated).
pub fn sram_accelergy_2020(
    shape: &MemoryShape,
    tech: &Technology,
    clock_ghz: f64,
) -> Result<StorageEstimate, EstimateError> {
    let current = sram_with(&SRAM_45NM_ACCELERGY_2020, shape, tech, clock_ghz)?;
    let array = sram_array(
        &SRAM_45NM_ACCELERGY_2020,
        shape.width_bits,
        shape.depth,
        shape.banks,
    );
    let address_pj = ADDRESS_GEN_PJ_PER_BIT * (shape.depth as f64).log2().ceil();
    Ok(StorageEstimate {
        read_pj: (array.read_pj + address_pj) * tech.energy_scale,
        ..current
    })
}

/// Flip-flop register file.
pub fn regfile(
    shape: &MemoryShape,
    tech: &Technology,
    clock_ghz: f64,
) -> Result<StorageEstimate, EstimateError> {
    shape.check()?;
    check_clock(clock_ghz)?;
    let (w, d) = (shape.width_bits as f64, shape.depth as f64);
    let read = w * RF_READ_PJ_PER_BIT * d.powf(RF_READ_DEPTH_EXP);
    let write = w * RF_WRITE_PJ_PER_BIT * d.powf(RF_WRITE_DEPTH_EXP);
    let per_bit_area = RF_AREA_FLOOR_UM2_PER_BIT
        + RF_AREA_SPAN_UM2_PER_BIT * rising(d, RF_AREA_HALF_DEPTH, RF_AREA_EXP);
    let leak_1ghz = RF_LEAK_PJ_PER_BIT_CYCLE * w * d.powf(RF_LEAK_DEPTH_EXP) * shape.port_factor();
    Ok(StorageEstimate {
        read_pj: read * tech.energy_scale,
        write_pj: write * tech.energy_scale,
        update_pj: write * tech.energy_scale,
        leak_pj_per_cycle: leak_1ghz * tech.energy_scale / clock_ghz,
        area_um2: per_bit_area * w * d * shape.port_factor() * tech.area_scale,
    })
}

/// Off-chip DRAM: energy per access of `width_bits`, no on-chip area, no leakage charged
/// (as Accelergy's CACTI DRAM plug-in). Not scaled with the logic node: the interface
/// energy belongs to the DRAM part, and the references give 8 pJ/bit at 32, 40, 45 and 65 nm.
pub fn dram(kind: DramType, width_bits: u64) -> Result<StorageEstimate, EstimateError> {
    positive("width_bits", width_bits)?;
    let e = kind.pj_per_bit() * width_bits as f64;
    Ok(StorageEstimate {
        read_pj: e,
        write_pj: e,
        update_pj: e,
        leak_pj_per_cycle: 0.0,
        area_um2: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a / b - 1.0).abs() <= tol
    }

    #[test]
    fn sram_reproduces_the_45nm_cacti_glb_within_the_fit_error() {
        // tla_eyeriss_intmac shared_glb: 16384 × 64, read 32.342452, write 26.121552 pJ.
        let e = sram(&MemoryShape::new(64, 16384), &Technology::nm45(), 1.0).unwrap();
        assert!(close(e.read_pj, 32.342452, 0.02), "{e:?}");
        assert!(close(e.write_pj, 26.121552, 0.04), "{e:?}");
        assert!(close(e.area_um2, 429751.9, 0.17), "{e:?}");
    }

    #[test]
    fn sram_energy_grows_with_width_and_depth() {
        let t = Technology::nm45();
        let mut last = 0.0;
        for d in [16, 64, 256, 1024, 4096, 16384, 65536] {
            let e = sram(&MemoryShape::new(64, d), &t, 1.0).unwrap();
            assert!(e.read_pj > last && e.write_pj > 0.0 && e.area_um2 > 0.0);
            last = e.read_pj;
        }
        // Twice the width: at least twice the bits moved, plus longer word lines and H-tree,
        // but not more than the 2048 × 256 vs 512 × 128 references' ratio per bit (1.4).
        let mut last = 0.0;
        for w in [8, 16, 32, 64, 128, 256, 512, 1024] {
            let e = sram(&MemoryShape::new(w, 1024), &t, 1.0).unwrap();
            assert!(e.read_pj > last && e.write_pj > 0.0, "{w}: {e:?}");
            if w >= 64 {
                assert!(e.read_pj < 2.0 * 1.4 * last, "{w}: {e:?} vs {last}");
            }
            last = e.read_pj;
        }
    }

    #[test]
    fn leakage_per_cycle_halves_when_the_clock_doubles() {
        let t = Technology::nm45();
        let a = regfile(&MemoryShape::new(16, 64), &t, 1.0).unwrap();
        let b = regfile(&MemoryShape::new(16, 64), &t, 2.0).unwrap();
        assert!((a.leak_pj_per_cycle / b.leak_pj_per_cycle - 2.0).abs() < 1e-12);
        assert_eq!(a.read_pj, b.read_pj);
    }

    #[test]
    fn ports_add_area_not_access_energy() {
        let t = Technology::nm45();
        let one = sram(&MemoryShape::new(64, 1024), &t, 1.0).unwrap();
        let two = sram(
            &MemoryShape {
                ports: 2,
                ..MemoryShape::new(64, 1024)
            },
            &t,
            1.0,
        )
        .unwrap();
        assert_eq!(one.read_pj, two.read_pj);
        assert!((two.area_um2 / one.area_um2 - 1.35).abs() < 1e-12);
    }

    #[test]
    fn dram_is_energy_per_bit_times_width() {
        // Every LPDDR4 entry in the references: 64-bit access 512 pJ.
        let e = dram(DramType::Lpddr4, 64).unwrap();
        assert_eq!((e.read_pj, e.write_pj, e.area_um2), (512.0, 512.0, 0.0));
        assert_eq!(dram(DramType::Hbm2, 64).unwrap().read_pj, 3.9 * 64.0);
        assert!(dram(DramType::Ddr4, 0).is_err());
        assert_eq!("HBM2".parse::<DramType>().unwrap(), DramType::Hbm2);
        assert!(matches!(
            "ddr9".parse::<DramType>(),
            Err(EstimateError::Unknown { .. })
        ));
    }

    #[test]
    fn invalid_shapes_are_typed_errors() {
        let t = Technology::nm45();
        assert!(matches!(
            sram(&MemoryShape::new(64, 0), &t, 1.0),
            Err(EstimateError::NotPositive { what: "depth", .. })
        ));
        assert!(matches!(
            regfile(&MemoryShape::new(0, 8), &t, 1.0),
            Err(EstimateError::NotPositive {
                what: "width_bits",
                ..
            })
        ));
        let banked = MemoryShape {
            banks: 16,
            ..MemoryShape::new(8, 8)
        };
        assert!(matches!(
            sram(&banked, &t, 1.0),
            Err(EstimateError::TooManyBanks { .. })
        ));
        assert!(matches!(
            sram(&MemoryShape::new(8, 8), &t, 0.0),
            Err(EstimateError::BadNumber { .. })
        ));
    }
}
