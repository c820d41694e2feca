//! Arithmetic and wires: integer and floating-point MACs, adders, multipliers, wire / NoC hop.
//! Constants are at 45 nm; [`Technology`] scales them.

use super::memory::positive;
use super::{EstimateError, Technology};

/// Integer adder: energy and area per bit at 45 nm. From the reference `intmac` entries
/// that (through an Accelergy bug, fixed Dec 2024) are an 8-bit plus a 16-bit Library adder:
/// 0.315 pJ and 417 µm² for 24 adder bits (`ert-summary.csv`, e.g. `ed_simba_like`).
const ADDER_PJ_PER_BIT: f64 = 0.315 / 24.0;
const ADDER_UM2_PER_BIT: f64 = 417.0 / 24.0;

/// Aladdin's 45 nm integer adder, per bit: the accumulator of Aladdin's `intmac`. Read off
/// the address generators of the smartbuffer entries in the references (an 8-bit one costs
/// 0.0525 pJ and 89.5 µm², a 14-bit one 0.091875 pJ and 156.625 µm²). It is smaller than
/// the 2024 Library adder above (17.4 µm²/bit), which is a different table.
pub(crate) const ALADDIN_ADDER_PJ_PER_BIT: f64 = 0.0065625;
pub(crate) const ALADDIN_ADDER_UM2_PER_BIT: f64 = 11.1875;

/// Integer array multiplier: energy and area grow with the square of the operand width
/// (b² partial-product cells). Calibrated so that a 16-bit multiplier plus a 16-bit Aladdin
/// adder is Accelergy's Aladdin 16-bit `intmac` (2.2 pJ per MAC, 1239.5 µm²; `acc_01`,
/// `acc_04`). With the Aladdin adder (not the Library one) as the accumulator the 8-bit
/// Aladdin intmac is predicted within 2.7 % (energy) and 6.7 % (area), not 7.4 / 14.2 %.
const MULT_PJ_PER_BIT2: f64 = (2.2 - 16.0 * ALADDIN_ADDER_PJ_PER_BIT) / 256.0;
const MULT_UM2_PER_BIT2: f64 = (1239.5 - 16.0 * ALADDIN_ADDER_UM2_PER_BIT) / 256.0;

/// fp32 fused multiply-add at 45 nm: Accelergy's Aladdin fpadder + fpmultiplier
/// (`tla_eyeriss_fpmac`: 51.979 pJ per MAC, 4120 µm²).
const FP32_MAC_PJ: f64 = 51.979;
const FP32_MAC_UM2: f64 = 4120.0;

/// On-chip wire energy per bit per mm at 45 nm. Keckler et al., "GPUs and the future of
/// parallel computing", IEEE Micro 2011, give about 0.1 pJ/bit/mm for global on-chip wires
/// at 40 nm. Wires occupy metal layers above the logic, so no area is charged.
const WIRE_PJ_PER_BIT_MM: f64 = 0.1;

/// Floating-point MAC formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FpFormat {
    Fp16,
    Bf16,
    Fp32,
}

impl FpFormat {
    /// (energy, area) relative to fp32, from the 45 nm operation costs in M. Horowitz,
    /// "Computing's energy problem", ISSCC 2014: fp16 add 0.4 pJ / 1360 µm², fp16 mult
    /// 1.1 pJ / 1640 µm², fp32 add 0.9 pJ / 4184 µm², fp32 mult 3.7 pJ / 7700 µm².
    /// bf16 is not in that table: its multiplier is the fp16 one scaled by the squared
    /// mantissa width (8/11)², its adder taken equal to fp16's.
    fn relative_to_fp32(self) -> (f64, f64) {
        let fp32 = (0.9 + 3.7, 4184.0 + 7700.0);
        let mantissa = (8.0f64 / 11.0).powi(2);
        let (e, a) = match self {
            FpFormat::Fp32 => fp32,
            FpFormat::Fp16 => (0.4 + 1.1, 1360.0 + 1640.0),
            FpFormat::Bf16 => (0.4 + 1.1 * mantissa, 1360.0 + 1640.0 * mantissa),
        };
        (e / fp32.0, a / fp32.1)
    }

    pub fn name(self) -> &'static str {
        match self {
            FpFormat::Fp16 => "fp16",
            FpFormat::Bf16 => "bf16",
            FpFormat::Fp32 => "fp32",
        }
    }
}

/// What a compute unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacKind {
    Int { bits: u32 },
    Fp(FpFormat),
}

impl MacKind {
    pub const NAMES: &'static str =
        "int, fp (fp16 for 16-bit words, fp32 for 32), fp16, bf16, fp32";

    /// From an arch file's `mac_type` and the unit's word size.
    pub fn from_name(name: &str, word_bits: u32) -> Result<MacKind, EstimateError> {
        match name.to_ascii_lowercase().as_str() {
            "int" => Ok(MacKind::Int { bits: word_bits }),
            "fp" => match word_bits {
                16 => Ok(MacKind::Fp(FpFormat::Fp16)),
                32 => Ok(MacKind::Fp(FpFormat::Fp32)),
                bits => Err(EstimateError::UnsupportedFp { bits }),
            },
            "fp16" => Ok(MacKind::Fp(FpFormat::Fp16)),
            "bf16" => Ok(MacKind::Fp(FpFormat::Bf16)),
            "fp32" => Ok(MacKind::Fp(FpFormat::Fp32)),
            _ => Err(EstimateError::Unknown {
                what: "mac_type",
                value: name.to_string(),
                expected: MacKind::NAMES,
            }),
        }
    }
}

/// Energy of one operation and area of one unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogicEstimate {
    pub energy_pj: f64,
    pub area_um2: f64,
}

fn scaled(energy_pj: f64, area_um2: f64, tech: &Technology) -> LogicEstimate {
    LogicEstimate {
        energy_pj: energy_pj * tech.energy_scale,
        area_um2: area_um2 * tech.area_scale,
    }
}

pub fn adder(bits: u32, tech: &Technology) -> Result<LogicEstimate, EstimateError> {
    positive("bits", u64::from(bits))?;
    let b = f64::from(bits);
    Ok(scaled(b * ADDER_PJ_PER_BIT, b * ADDER_UM2_PER_BIT, tech))
}

pub fn multiplier(bits: u32, tech: &Technology) -> Result<LogicEstimate, EstimateError> {
    positive("bits", u64::from(bits))?;
    let b2 = f64::from(bits).powi(2);
    Ok(scaled(b2 * MULT_PJ_PER_BIT2, b2 * MULT_UM2_PER_BIT2, tech))
}

/// One multiply-accumulate: a `bits`-wide multiplier and a `bits`-wide accumulating Aladdin
/// adder (Aladdin's intmac accumulates at the operand width).
pub fn mac(kind: MacKind, tech: &Technology) -> Result<LogicEstimate, EstimateError> {
    match kind {
        MacKind::Int { bits } => {
            let m = multiplier(bits, tech)?;
            let b = f64::from(bits);
            let acc = scaled(
                b * ALADDIN_ADDER_PJ_PER_BIT,
                b * ALADDIN_ADDER_UM2_PER_BIT,
                tech,
            );
            Ok(LogicEstimate {
                energy_pj: m.energy_pj + acc.energy_pj,
                area_um2: m.area_um2 + acc.area_um2,
            })
        }
        MacKind::Fp(f) => {
            let (e, a) = f.relative_to_fp32();
            Ok(scaled(FP32_MAC_PJ * e, FP32_MAC_UM2 * a, tech))
        }
    }
}

/// Moving `bits` over `length_mm` of on-chip wire.
pub fn wire(bits: u32, length_mm: f64, tech: &Technology) -> Result<f64, EstimateError> {
    positive("bits", u64::from(bits))?;
    if !(length_mm.is_finite() && length_mm >= 0.0) {
        return Err(EstimateError::BadNumber {
            what: "length_mm",
            value: length_mm,
        });
    }
    Ok(WIRE_PJ_PER_BIT_MM * f64::from(bits) * length_mm * tech.energy_scale)
}

/// One hop of a mesh NoC: the wire between neighbouring tiles of pitch `hop_mm`. Router
/// energy is not modelled (Timeloop's legacy network charges none unless given).
pub fn noc_hop(bits: u32, hop_mm: f64, tech: &Technology) -> Result<f64, EstimateError> {
    wire(bits, hop_mm, tech)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_int_mac_is_the_aladdin_table_value() {
        let m = mac(MacKind::Int { bits: 16 }, &Technology::nm45()).unwrap();
        assert!((m.energy_pj - 2.2).abs() < 1e-9 && (m.area_um2 - 1239.5).abs() < 1e-9);
    }

    #[test]
    fn eight_bit_int_mac_is_within_ten_percent_of_aladdin() {
        // legacy2020_simba_like: Aladdin 8-bit intmac 0.561 pJ, 332.25 µm² (not used in the
        // calibration): 0.5763 pJ (+2.7 %) and 354.6 µm² (+6.7 %).
        let m = mac(MacKind::Int { bits: 8 }, &Technology::nm45()).unwrap();
        assert!((m.energy_pj / 0.561 - 1.0).abs() < 0.03, "{m:?}");
        assert!((m.area_um2 / 332.25 - 1.0).abs() < 0.07, "{m:?}");
    }

    #[test]
    fn mac_energy_grows_with_width_and_format() {
        let t = Technology::nm45();
        let e = |k| mac(k, &t).unwrap().energy_pj;
        assert!(e(MacKind::Int { bits: 4 }) < e(MacKind::Int { bits: 8 }));
        assert!(e(MacKind::Int { bits: 8 }) < e(MacKind::Int { bits: 16 }));
        assert!(e(MacKind::Fp(FpFormat::Bf16)) < e(MacKind::Fp(FpFormat::Fp16)));
        assert!(e(MacKind::Fp(FpFormat::Fp16)) < e(MacKind::Fp(FpFormat::Fp32)));
        assert_eq!(e(MacKind::Fp(FpFormat::Fp32)), 51.979);
    }

    #[test]
    fn mac_names_resolve_with_the_word_size() {
        assert_eq!(
            MacKind::from_name("int", 8).unwrap(),
            MacKind::Int { bits: 8 }
        );
        assert_eq!(
            MacKind::from_name("FP", 16).unwrap(),
            MacKind::Fp(FpFormat::Fp16)
        );
        assert!(matches!(
            MacKind::from_name("fp", 8),
            Err(EstimateError::UnsupportedFp { bits: 8 })
        ));
        assert!(matches!(
            MacKind::from_name("posit", 8),
            Err(EstimateError::Unknown { .. })
        ));
    }

    #[test]
    fn wires_are_linear_in_bits_and_length() {
        let t = Technology::nm45();
        assert!((wire(64, 1.0, &t).unwrap() - 6.4).abs() < 1e-12);
        assert!((noc_hop(32, 0.5, &t).unwrap() - 1.6).abs() < 1e-12);
        assert!(wire(8, -1.0, &t).is_err());
        assert!(adder(0, &t).is_err());
    }
}
