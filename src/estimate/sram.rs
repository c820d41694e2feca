//! CACTI-like SRAM model: a macro of `depth` rows × `width` bits is built from sub-arrays;
//! every candidate organisation is costed with a small physical model and the one CACTI's
//! default objective would pick is reported (docs/estimate.md, "SRAM organisation model").
//!
//! Organisation (CACTI's terms): each bank of `rows` × `width` is folded by a column-mux
//! degree `mux` (Nspd: `mux` words share a physical row, so a physical row has `width · mux`
//! cells and there are `rows / mux` of them), then cut into `ndbl` sub-arrays along the bit
//! lines and `ndwl` along the word lines. A sub-array has `sub_rows = rows / (mux · ndbl)`
//! rows and `sub_cols = width · mux / ndwl` columns; an access activates one row of `ndwl`
//! sub-arrays, i.e. `width · mux` bit lines of `sub_rows` cells each.
//!
//! Choice: the Accelergy CACTI plug-in runs CACTI with the design objective "leakage only"
//! (weights 0:0:1000000:0:0) under a 20 % access-time deviation. Leakage is proportional to
//! transistor area (cells plus periphery), so we pick the **smallest-area** organisation
//! among those CACTI's delay limits allow, which we express as sub-array limits:
//! `sub_rows` ≤ [`MAX_SUB_ROWS`], `sub_cols` ≤ [`MAX_SUB_COLS`], `mux` ≤ [`MAX_MUX`] (the
//! limits were chosen by the fit, from the usual CACTI range, see docs). Ties go to the
//! shorter bit-line load per bit read (`mux · sub_rows`), then fewer word-line splits, then
//! the deeper column mux.
//!
//! Everything here is per bank access at 45 nm; `memory::sram` adds ports, address
//! generators, leakage and technology scaling.

/// Sub-array limits standing in for CACTI's access-time constraint (long bit lines and word
/// lines are slow). Chosen by the fit: of 11 combinations tried (rows 256–1024, columns
/// 512–2048, mux 8–32), 512 × 1024 × 16 had the lowest worst-case error (docs/estimate.md).
pub const MAX_SUB_ROWS: u64 = 512;
pub const MAX_SUB_COLS: u64 = 1024;
pub const MAX_MUX: u64 = 16;
/// Below this a sub-array is not split further (CACTI's minimum sub-array dimension).
const MIN_SUB_DIM: u64 = 16;

/// Accelergy's CACTI plug-in never asks CACTI for a line narrower than 32 bits or fewer than
/// 64 rows per bank: it builds that minimum macro and scales the result, dynamic energy by
/// `(0.7 · w/w_macro + 0.3) · (d/d_macro)^0.78`, area and leakage linearly (hwcomponents-cacti,
/// `_interp_size`, "found empirically by testing different inputs with CACTI"). The
/// references of narrow buffers (192 × 16, metadata 128 × 4, 1 × 8) are such scaled macros.
const MIN_MACRO_WIDTH_BITS: u64 = 32;
const MIN_MACRO_ROWS_PER_BANK: u64 = 64;
const NARROW_ENERGY_FIXED_SHARE: f64 = 0.3;
const SHALLOW_ENERGY_DEPTH_EXP: f64 = 0.78;

/// Area constants (µm², 45 nm). Fitted (see [`SRAM_45NM`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SramAreaConstants {
    /// Per cell: the 6T cell with its share of wiring.
    pub cell: f64,
    /// Per sub-array row: word-line driver and last decoder stage.
    pub row: f64,
    /// Per sub-array column: precharge, equaliser, column-mux transistor.
    pub column: f64,
    /// Per sense amplifier (one per `mux` columns, after the column mux).
    pub sense_amp: f64,
    /// Per sub-array: its share of predecoders, control and the mat H-tree node.
    pub subarray: f64,
    /// Inter-bank bus per bit routed (data + address) per µm of macro side, banks > 1 only.
    pub bank_bus: f64,
}

/// Dynamic-energy constants (pJ, 45 nm) of one access; the same six terms for read and write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SramEnergyConstants {
    /// Per cell on a switched bit line: read swings all `width · mux` bit lines of the row
    /// (partial swing), write drives the `width` written ones full swing.
    pub bitline_cell: f64,
    /// Per activated column (`width · mux`): word-line segment, precharge, mux, sense.
    pub column: f64,
    /// Per data bit: output/input drivers, write drivers.
    pub bit: f64,
    /// Per data bit per µm of macro side: data H-tree.
    pub data_wire: f64,
    /// Per address bit per µm of macro side: address H-tree and predecode.
    pub addr_wire: f64,
    /// Per activated sub-array per address bit it decodes (`ndwl · log2 sub_rows`).
    pub decoder: f64,
    /// Per data bit per µm of inter-bank route (macro side minus one bank's side, banks > 1
    /// only), on top of `data_wire`: the 2019-20 CACTI's energy grows with the bank count
    /// far faster than the 2024 one's (0 in [`SRAM_45NM`]).
    pub bank_wire: f64,
}

/// Number of energy terms (the length of [`SramActivity::read`]).
pub const ENERGY_TERMS: usize = 7;

/// All constants of the organisation model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SramConstants {
    pub area: SramAreaConstants,
    pub read: SramEnergyConstants,
    pub write: SramEnergyConstants,
}

/// The 45 nm constants: fitted to the raw CactiSRAM results of the 2024 references (the
/// Accelergy logs of 10 single-bank macros, 64–16384 rows × 32–256 bits, and the 2-bank
/// 512 × 128 `dse2024_tutorial` buffer): area constants by Nelder–Mead on the worst and mean
/// log error (they also decide the organisation), the energy constants of each action by
/// non-negative minimax least squares given the chosen organisations.
/// `cargo test --release --test it refit_sram_constants -- --ignored --nocapture` reruns
/// the fit. Terms fitted to zero are kept so read and write share one form.
pub const SRAM_45NM: SramConstants = SramConstants {
    area: SramAreaConstants {
        cell: 0.400034,
        row: 0.423582,
        column: 0.423582,
        sense_amp: 0.392855,
        subarray: 121.665,
        bank_bus: 0.711168,
    },
    read: SramEnergyConstants {
        bitline_cell: 2.56900e-5,
        column: 6.19101e-3,
        bit: 0.0,
        data_wire: 2.17737e-4,
        addr_wire: 3.37824e-4,
        decoder: 0.0,
        bank_wire: 0.0,
    },
    write: SramEnergyConstants {
        bitline_cell: 2.74236e-4,
        column: 0.0,
        bit: 7.34089e-3,
        data_wire: 2.62420e-4,
        addr_wire: 4.75348e-4,
        decoder: 6.65770e-2,
        bank_wire: 0.0,
    },
};

/// The 45 nm constants of the 2019–20 Accelergy generation (`estimate_generation =
/// "accelergy-2020"`): the same model and fit procedure as [`SRAM_45NM`], started from it,
/// fitted to the six distinct 45 nm CACTI macros of the `acc_*` and `legacy2020_*`
/// references (1024 × 32 in 1 and 4 banks, 1024 × 64 in 2, 12800 × 64 in 25, 16384 × 64 in
/// 32, 192 × 16; targets: the ERT's largest argument variant minus the address generators'
/// baseline, see `legacy_cacti_macros` in tests/it/estimate.rs). In sample: read 11.2 %,
/// write 4.4 %, area 11.3 % max error; leave-one-geometry-out up to 48 / 53 / 18 % (six
/// points only). That generation's cells are ~2.5× larger (`cell` 0.98 vs 0.40 µm²) and its
/// energy grows with the route between banks (`bank_wire`), which the 2024 one does not
/// show. `cargo test --release --test it refit_sram_constants_2020 -- --ignored
/// --nocapture` reruns the fit.
pub const SRAM_45NM_ACCELERGY_2020: SramConstants = SramConstants {
    area: SramAreaConstants {
        cell: 0.981251,
        row: 0.503404,
        column: 0.342365,
        sense_amp: 0.472293,
        subarray: 90.3955,
        bank_bus: 0.833337,
    },
    read: SramEnergyConstants {
        bitline_cell: 6.32691e-5,
        column: 0.0,
        bit: 0.0,
        data_wire: 0.0,
        addr_wire: 1.22473e-3,
        decoder: 0.0,
        bank_wire: 8.76422e-4,
    },
    write: SramEnergyConstants {
        bitline_cell: 0.0,
        column: 3.48129e-3,
        bit: 0.0,
        data_wire: 0.0,
        addr_wire: 1.89109e-3,
        decoder: 0.0,
        bank_wire: 8.32796e-4,
    },
};

/// One organisation of a bank.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Organisation {
    pub mux: u64,
    pub ndbl: u64,
    pub ndwl: u64,
    pub sub_rows: u64,
    pub sub_cols: u64,
    /// Area of the bank, µm².
    pub area_um2: f64,
}

impl Organisation {
    /// Cells on the bit lines switched per bit read.
    pub fn bitline_load(&self) -> u64 {
        self.mux * self.sub_rows
    }
}

/// Energy and area of a macro at 45 nm, before ports, address generators and node scaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SramArray {
    pub read_pj: f64,
    pub write_pj: f64,
    pub area_um2: f64,
    /// Leakage and area scale linearly from the minimum macro; this is that factor.
    pub linear_scale: f64,
    pub organisation: Organisation,
}

/// What the energy constants multiply: one activation of the chosen organisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SramActivity {
    /// `[bitline cells, columns, bits, data bit·µm, address bit·µm, decoder bits, data
    /// bit·µm between banks]` for a read and for a write, already multiplied by the
    /// minimum-macro energy scale.
    pub read: [f64; ENERGY_TERMS],
    pub write: [f64; ENERGY_TERMS],
    pub area_um2: f64,
    pub linear_scale: f64,
    pub organisation: Organisation,
}

fn bank_area(a: &SramAreaConstants, mux: u64, ndbl: u64, ndwl: u64, rows: u64, cols: u64) -> f64 {
    let (r, c) = (rows as f64, cols as f64);
    ndbl as f64
        * ndwl as f64
        * (r * c * a.cell + r * a.row + c * a.column + c / mux as f64 * a.sense_amp + a.subarray)
}

/// Smallest-area organisation of a bank of `rows` × `width` bits within the sub-array
/// limits; enumerates at most a few hundred candidates, no allocation.
pub fn organise(a: &SramAreaConstants, width: u64, rows: u64) -> Organisation {
    let mut best = Organisation {
        mux: 1,
        ndbl: 1,
        ndwl: 1,
        sub_rows: rows,
        sub_cols: width,
        area_um2: bank_area(a, 1, 1, 1, rows, width),
    };
    let mut found = false;
    // Saturating steps: absurd user geometries (u64-sized rows or widths) end the loops
    // instead of overflowing.
    let mut mux: u64 = 1;
    while mux <= MAX_MUX && mux <= rows {
        let mut ndbl: u64 = 1;
        while let Some(folds) = mux.checked_mul(ndbl).filter(|f| *f <= rows) {
            let sub_rows = rows.div_ceil(folds);
            let rows_ok = sub_rows >= MIN_SUB_DIM || (mux == 1 && ndbl == 1);
            if sub_rows <= MAX_SUB_ROWS && rows_ok {
                let physical_cols = width.saturating_mul(mux);
                let mut ndwl: u64 = 1;
                while ndwl <= physical_cols {
                    let sub_cols = physical_cols.div_ceil(ndwl);
                    if sub_cols <= MAX_SUB_COLS && (sub_cols >= MIN_SUB_DIM || ndwl == 1) {
                        let area_um2 = bank_area(a, mux, ndbl, ndwl, sub_rows, sub_cols);
                        let candidate = Organisation {
                            mux,
                            ndbl,
                            ndwl,
                            sub_rows,
                            sub_cols,
                            area_um2,
                        };
                        if !found || better(&candidate, &best) {
                            (best, found) = (candidate, true);
                        }
                    }
                    let Some(next) = ndwl.checked_mul(2) else {
                        break;
                    };
                    ndwl = next;
                }
            }
            let Some(next) = ndbl.checked_mul(2) else {
                break;
            };
            ndbl = next;
        }
        mux *= 2;
    }
    best
}

/// Smaller area first, then the shorter bit-line load, then fewer word-line splits, then
/// the deeper column mux (fewer, shorter bit lines per sense amplifier). Areas within a
/// relative 1e-6 tie: a sub-array of r × c and one of c × r differ only by the row and
/// column periphery constants, which the fit cannot tell apart (they came out equal), so
/// the orientation is decided by the rule, not by rounding.
fn better(a: &Organisation, b: &Organisation) -> bool {
    const TIE: f64 = 1e-6;
    if a.area_um2 < b.area_um2 * (1.0 - TIE) {
        return true;
    }
    if a.area_um2 > b.area_um2 * (1.0 + TIE) {
        return false;
    }
    (a.bitline_load(), a.ndwl, std::cmp::Reverse(a.mux))
        < (b.bitline_load(), b.ndwl, std::cmp::Reverse(b.mux))
}

/// The chosen organisation of a `depth` × `width_bits` macro of `banks` banks and what one
/// access switches. Inputs must be ≥ 1 (checked by the caller).
pub fn activity(a: &SramAreaConstants, width_bits: u64, depth: u64, banks: u64) -> SramActivity {
    let width = width_bits
        .div_ceil(8)
        .saturating_mul(8)
        .max(MIN_MACRO_WIDTH_BITS);
    let macro_rows = depth.max(MIN_MACRO_ROWS_PER_BANK.saturating_mul(banks));
    let width_share = width_bits as f64 / width as f64;
    let depth_share = depth as f64 / macro_rows as f64;
    let energy_scale = (NARROW_ENERGY_FIXED_SHARE
        + (1.0 - NARROW_ENERGY_FIXED_SHARE) * width_share)
        * depth_share.powf(SHALLOW_ENERGY_DEPTH_EXP);
    let org = organise(a, width, macro_rows.div_ceil(banks));
    let core = banks as f64 * org.area_um2;
    let addr_bits = (macro_rows as f64).log2().ceil();
    let w = width as f64;
    let area = if banks > 1 {
        core + a.bank_bus * (w + addr_bits) * core.sqrt()
    } else {
        core
    };
    let side = area.sqrt();
    let (mux, sub_rows) = (org.mux as f64, org.sub_rows as f64);
    let decode = org.ndwl as f64 * sub_rows.log2().max(0.0);
    let between_banks = if banks > 1 {
        (side - org.area_um2.sqrt()).max(0.0)
    } else {
        0.0
    };
    let common = [
        w * mux,
        w,
        w * side,
        addr_bits * side,
        decode,
        w * between_banks,
    ];
    let terms = |bitline: f64| {
        [
            bitline * energy_scale,
            common[0] * energy_scale,
            common[1] * energy_scale,
            common[2] * energy_scale,
            common[3] * energy_scale,
            common[4] * energy_scale,
            common[5] * energy_scale,
        ]
    };
    SramActivity {
        read: terms(w * mux * sub_rows),
        write: terms(w * sub_rows),
        area_um2: area * width_share * depth_share,
        linear_scale: width_share * depth_share,
        organisation: org,
    }
}

fn dot(k: &SramEnergyConstants, x: &[f64; ENERGY_TERMS]) -> f64 {
    k.to_array().iter().zip(x).map(|(k, x)| k * x).sum()
}

impl SramEnergyConstants {
    /// The constants in the order of [`SramActivity::read`].
    pub fn to_array(&self) -> [f64; ENERGY_TERMS] {
        [
            self.bitline_cell,
            self.column,
            self.bit,
            self.data_wire,
            self.addr_wire,
            self.decoder,
            self.bank_wire,
        ]
    }

    pub fn from_array(k: [f64; ENERGY_TERMS]) -> SramEnergyConstants {
        SramEnergyConstants {
            bitline_cell: k[0],
            column: k[1],
            bit: k[2],
            data_wire: k[3],
            addr_wire: k[4],
            decoder: k[5],
            bank_wire: k[6],
        }
    }
}

impl SramAreaConstants {
    pub fn to_array(&self) -> [f64; 6] {
        [
            self.cell,
            self.row,
            self.column,
            self.sense_amp,
            self.subarray,
            self.bank_bus,
        ]
    }

    pub fn from_array(a: [f64; 6]) -> SramAreaConstants {
        SramAreaConstants {
            cell: a[0],
            row: a[1],
            column: a[2],
            sense_amp: a[3],
            subarray: a[4],
            bank_bus: a[5],
        }
    }
}

/// Read/write energy and area of a macro with the given constants (45 nm, one port, no
/// address generators).
pub fn array(k: &SramConstants, width_bits: u64, depth: u64, banks: u64) -> SramArray {
    let act = activity(&k.area, width_bits, depth, banks);
    SramArray {
        read_pj: dot(&k.read, &act.read),
        write_pj: dot(&k.write, &act.write),
        area_um2: act.area_um2,
        linear_scale: act.linear_scale,
        organisation: act.organisation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a() -> SramAreaConstants {
        SRAM_45NM.area
    }

    #[test]
    fn small_macros_are_one_subarray_and_deep_ones_fold_and_split() {
        // 64 × 32: fits one sub-array unfolded or folded once; the smaller one wins.
        let o = organise(&a(), 32, 64);
        assert_eq!(o.ndbl * o.ndwl, 1, "{o:?}");
        // 16384 × 64: a million cells cannot sit in one 512 × 1024 sub-array.
        let o = organise(&a(), 64, 16384);
        assert!(o.ndbl * o.ndwl >= 2, "{o:?}");
        assert!(o.sub_rows <= MAX_SUB_ROWS && o.sub_cols <= MAX_SUB_COLS && o.mux <= MAX_MUX);
        assert_eq!(o.mux * o.ndbl * o.sub_rows, 16384);
    }

    #[test]
    fn the_chosen_organisation_has_the_smallest_area_of_all_candidates() {
        // Brute force over the same space with an independent loop.
        for (w, d) in [(32, 512), (256, 2048), (64, 12800), (40, 1000)] {
            let best = organise(&a(), w, d);
            for mux in [1, 2, 4, 8, 16] {
                for ndbl in (0..16).map(|i| 1u64 << i) {
                    for ndwl in (0..12).map(|i| 1u64 << i) {
                        let r = d.div_ceil(mux * ndbl);
                        let c = (w * mux).div_ceil(ndwl);
                        let ok = mux * ndbl <= d
                            && ndwl <= w * mux
                            && r <= MAX_SUB_ROWS
                            && c <= MAX_SUB_COLS
                            && (r >= MIN_SUB_DIM || mux * ndbl == 1)
                            && (c >= MIN_SUB_DIM || ndwl == 1);
                        if ok {
                            let area = bank_area(&a(), mux, ndbl, ndwl, r, c);
                            assert!(area >= best.area_um2 * (1.0 - 1e-9), "{w}x{d}: {best:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn area_per_bit_is_the_cell_plus_periphery() {
        let x = array(&SRAM_45NM, 64, 16384, 1);
        let per_bit = x.area_um2 / (64.0 * 16384.0);
        assert!(per_bit > SRAM_45NM.area.cell && per_bit < 2.0 * SRAM_45NM.area.cell);
    }

    #[test]
    fn narrow_and_shallow_macros_are_scaled_from_the_minimum_macro() {
        // 192 × 16 is a 192 × 32 macro: energy × (0.3 + 0.7 · 0.5), area × 0.5.
        let narrow = array(&SRAM_45NM, 16, 192, 1);
        let full = array(&SRAM_45NM, 32, 192, 1);
        assert!((narrow.read_pj / full.read_pj - 0.65).abs() < 1e-12);
        assert!((narrow.area_um2 / full.area_um2 - 0.5).abs() < 1e-12);
        // 1 × 8 is a 64 × 32 macro: energy × 0.475 · (1/64)^0.78.
        let tiny = array(&SRAM_45NM, 8, 1, 1);
        let base = array(&SRAM_45NM, 32, 64, 1);
        let scale = 0.475 * (1.0f64 / 64.0).powf(0.78);
        assert!((tiny.write_pj / base.write_pj - scale).abs() < 1e-12);
    }

    #[test]
    fn absurd_geometries_neither_overflow_nor_hang() {
        for (w, d) in [(u64::MAX, 1), (8, u64::MAX), (u64::MAX / 2, u64::MAX / 3)] {
            let x = array(&SRAM_45NM, w, d, 1);
            assert!(
                x.read_pj.is_finite() && x.area_um2.is_finite(),
                "{w} {d}: {x:?}"
            );
        }
    }

    #[test]
    fn a_second_bank_adds_periphery_and_bus_area() {
        let one = array(&SRAM_45NM, 128, 512, 1);
        let two = array(&SRAM_45NM, 128, 512, 2);
        assert!(two.area_um2 > one.area_um2);
        assert!(two.read_pj > 0.0 && two.write_pj > 0.0);
    }
}
