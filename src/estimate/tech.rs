//! Process-node scaling of energy and area, relative to the 45 nm node at which every
//! component model in this module is calibrated.
//!
//! Source: A. Stillmaker and B. Baas, "Scaling equations for the accurate prediction of CMOS
//! device performance from 180 nm to 7 nm", Integration 58 (2017) 74–81. The same tables
//! drive Accelergy's library and table plug-ins; the reference ERTs confirm the numbers:
//! 45 → 32 nm scales Accelergy's library regfile and intmac energies by 0.659 and their areas
//! by 0.46 (`ert-summary.csv`, `tla_eyeriss_intmac` vs `ed_eyeriss_like`), which is what the
//! tables below give.

use super::EstimateError;

/// Table nodes in nm, largest first.
const NODES_NM: [f64; 10] = [130.0, 90.0, 65.0, 45.0, 32.0, 20.0, 16.0, 14.0, 10.0, 7.0];

/// Energy per operation at each node as a quadratic in supply voltage,
/// `a·Vdd² + b·Vdd + c` (Stillmaker & Baas 2017, fitted energy equations per node).
const ENERGY_POLY: [[f64; 3]; 10] = [
    [7.171, -6.709, 2.904],
    [4.762, -4.781, 2.092],
    [3.755, -4.398, 1.975],
    [1.103, -0.362, 0.2767],
    [0.9559, -0.7823, 0.471],
    [0.373, -0.1582, 0.04104],
    [0.2958, -0.1241, 0.03024],
    [0.2363, -0.09675, 0.02239],
    [0.2068, -0.09311, 0.02375],
    [0.1776, -0.09097, 0.02447],
];

/// Area at each node relative to 45 nm (Stillmaker & Baas 2017, area scaling table, row
/// "from 45 nm").
const AREA_FROM_45: [f64; 10] = [6.4, 2.8, 1.5, 1.0, 0.46, 0.21, 0.19, 0.17, 0.1, 0.059];

/// Supply voltage at which the energy polynomials are evaluated. 0.8 V is Accelergy's
/// default when an architecture gives none; only the ratio between nodes matters here.
pub const DEFAULT_VDD: f64 = 0.8;

/// The node every component constant is calibrated at.
pub const CALIBRATION_NM: f64 = 45.0;

/// A process node with its energy and area factors relative to 45 nm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Technology {
    pub node_nm: f64,
    /// Multiply a 45 nm energy (or leakage) by this.
    pub energy_scale: f64,
    /// Multiply a 45 nm area by this.
    pub area_scale: f64,
}

impl Technology {
    /// Any node from 7 to 130 nm; nodes between table entries are interpolated linearly.
    pub fn new(node_nm: f64) -> Result<Technology, EstimateError> {
        let at45 = energy_at(3);
        let (i, frac) = locate(node_nm)?;
        let lerp = |lo: f64, hi: f64| lo + (hi - lo) * frac;
        let energy = lerp(energy_at(i), energy_at((i + 1).min(NODES_NM.len() - 1)));
        let area = lerp(
            AREA_FROM_45[i],
            AREA_FROM_45[(i + 1).min(NODES_NM.len() - 1)],
        );
        Ok(Technology {
            node_nm,
            energy_scale: energy / at45,
            area_scale: area,
        })
    }

    /// The calibration node itself (factors exactly 1).
    pub fn nm45() -> Technology {
        Technology {
            node_nm: CALIBRATION_NM,
            energy_scale: 1.0,
            area_scale: 1.0,
        }
    }

    pub fn supported_range_nm() -> (f64, f64) {
        (NODES_NM[NODES_NM.len() - 1], NODES_NM[0])
    }
}

fn energy_at(i: usize) -> f64 {
    let [a, b, c] = ENERGY_POLY[i];
    a * DEFAULT_VDD * DEFAULT_VDD + b * DEFAULT_VDD + c
}

/// Index of the table node at or above `nm` and the fraction of the way to the next one.
fn locate(nm: f64) -> Result<(usize, f64), EstimateError> {
    let (lo, hi) = Technology::supported_range_nm();
    if !(nm.is_finite() && nm >= lo && nm <= hi) {
        return Err(EstimateError::UnsupportedNode { nm, lo, hi });
    }
    for i in 0..NODES_NM.len() - 1 {
        let (big, small) = (NODES_NM[i], NODES_NM[i + 1]);
        if nm <= big && nm >= small {
            return Ok((i, (big - nm) / (big - small)));
        }
    }
    Ok((NODES_NM.len() - 1, 0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_node_is_identity() {
        let t = Technology::new(45.0).unwrap();
        assert!((t.energy_scale - 1.0).abs() < 1e-12);
        assert!((t.area_scale - 1.0).abs() < 1e-12);
    }

    #[test]
    fn matches_the_accelergy_45_to_32_ratios_in_the_reference_erts() {
        // 0.207692 / 0.315 (intmac energy) and 191.82 / 417.0 (its area), ert-summary.csv.
        let t = Technology::new(32.0).unwrap();
        assert!((t.energy_scale - 0.207692 / 0.315).abs() < 0.002, "{t:?}");
        assert!((t.area_scale - 191.82 / 417.0).abs() < 0.001, "{t:?}");
    }

    #[test]
    fn energy_and_area_shrink_monotonically_with_the_node() {
        let nodes = [
            130.0, 90.0, 65.0, 45.0, 40.0, 32.0, 28.0, 22.0, 16.0, 12.0, 7.0,
        ];
        for w in nodes.windows(2) {
            let (big, small) = (
                Technology::new(w[0]).unwrap(),
                Technology::new(w[1]).unwrap(),
            );
            assert!(small.energy_scale < big.energy_scale, "{big:?} {small:?}");
            assert!(small.area_scale < big.area_scale, "{big:?} {small:?}");
        }
    }

    #[test]
    fn required_nodes_are_supported() {
        for nm in [65.0, 45.0, 32.0, 22.0, 16.0, 7.0] {
            let t = Technology::new(nm).unwrap();
            assert!(t.energy_scale > 0.0 && t.area_scale > 0.0);
        }
        // 22 nm lies between the 32 and 20 nm rows: 1/6 of the way from 20 to 32.
        let t = Technology::new(22.0).unwrap();
        let expected = 0.21 + (0.46 - 0.21) * (2.0 / 12.0);
        assert!((t.area_scale - expected).abs() < 1e-12);
    }

    #[test]
    fn nodes_outside_the_tables_are_errors() {
        for nm in [5.0, 180.0, 0.0, -3.0, f64::NAN] {
            assert!(matches!(
                Technology::new(nm),
                Err(EstimateError::UnsupportedNode { .. })
            ));
        }
    }
}
