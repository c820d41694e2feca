//! Off-chip memory image (sparse, byte addressed, little-endian elements) and the DRAM data
//! layouts of GENESYS.md §3.5 as library functions (used by the test-vector runner and later
//! by the compiler).

use std::collections::HashMap;

const PAGE_BITS: u32 = 12;
const PAGE: usize = 1 << PAGE_BITS;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DRAM access of {len} bytes at {addr:#x} is outside the {size:#x}-byte address space")]
pub struct DramError {
    pub addr: u64,
    pub len: u64,
    pub size: u64,
}

/// Sparse DRAM: unwritten bytes read as 0, so a 32-bit address space costs nothing.
#[derive(Clone, Debug)]
pub struct Dram {
    size: u64,
    pages: HashMap<u64, Box<[u8; PAGE]>>,
}

impl Dram {
    pub fn new(size: u64) -> Dram {
        Dram {
            size,
            pages: HashMap::new(),
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    fn check(&self, addr: u64, len: usize) -> Result<(), DramError> {
        let end = addr.checked_add(len as u64);
        match end {
            Some(e) if e <= self.size => Ok(()),
            _ => Err(DramError {
                addr,
                len: len as u64,
                size: self.size,
            }),
        }
    }

    pub fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), DramError> {
        self.check(addr, out.len())?;
        let mut done = 0;
        while done < out.len() {
            let a = addr + done as u64;
            let off = (a as usize) & (PAGE - 1);
            let n = (PAGE - off).min(out.len() - done);
            match self.pages.get(&(a >> PAGE_BITS)) {
                Some(p) => out[done..done + n].copy_from_slice(&p[off..off + n]),
                None => out[done..done + n].fill(0),
            }
            done += n;
        }
        Ok(())
    }

    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), DramError> {
        self.check(addr, data.len())?;
        let mut done = 0;
        while done < data.len() {
            let a = addr + done as u64;
            let off = (a as usize) & (PAGE - 1);
            let n = (PAGE - off).min(data.len() - done);
            let page = self
                .pages
                .entry(a >> PAGE_BITS)
                .or_insert_with(|| Box::new([0u8; PAGE]));
            page[off..off + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        Ok(())
    }

    /// Write signed elements of `bytes` bytes each (1, 2 or 4), little-endian, truncating.
    pub fn write_elements(
        &mut self,
        addr: u64,
        values: &[i64],
        bytes: usize,
    ) -> Result<(), DramError> {
        self.write(addr, &pack_elements(values, bytes))
    }

    /// Read `count` signed elements of `bytes` bytes each, sign-extended.
    pub fn read_elements(
        &self,
        addr: u64,
        count: usize,
        bytes: usize,
    ) -> Result<Vec<i64>, DramError> {
        let mut raw = vec![0u8; count * bytes];
        self.read(addr, &mut raw)?;
        Ok(raw.chunks_exact(bytes).map(unpack_element).collect())
    }
}

/// Little-endian two's complement, truncated to `bytes` bytes per element.
pub fn pack_elements(values: &[i64], bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * bytes);
    for &v in values {
        out.extend_from_slice(&v.to_le_bytes()[..bytes]);
    }
    out
}

/// One little-endian element, sign-extended.
pub fn unpack_element(b: &[u8]) -> i64 {
    let mut v: i64 = 0;
    for (i, &x) in b.iter().enumerate() {
        v |= (x as i64) << (8 * i);
    }
    let bits = 8 * b.len() as u32;
    if bits < 64 {
        v = (v << (64 - bits)) >> (64 - bits);
    }
    v
}

/// "Shuffled" packed files hold 32-bit words with four int8 values each, first element in the
/// low byte (GENESYS.md §3.5): the DRAM bytes of the stream.
pub fn unpack_words(words: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(words.len() * 4);
    for &w in words {
        out.extend_from_slice(&(w as u32).to_le_bytes());
    }
    out
}

/// Shape and DRAM tiling of a conv/GEMM weight tensor `[KH, KW, IC, OC]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightLayout {
    pub kh: usize,
    pub kw: usize,
    pub ic: usize,
    pub oc: usize,
    /// On-chip (WBUF) tile sizes along IC and OC.
    pub tile_ic: usize,
    pub tile_oc: usize,
}

/// Where byte `b` of a WBUF fill group of `g` rows lands: (row within the group, bank).
/// The ParamBuf beat stream interleaves `g` consecutive rows (GENESYS.md §3.5).
pub fn wbuf_group_slot(b: usize, g: usize) -> (usize, usize) {
    (b % g, b / g)
}

/// The PE a WBUF bank feeds: (input channel = array row, output column). The array is filled
/// from the last column (GENESYS.md §3.5), so bank j holds column M-1-j/N.
pub fn wbuf_bank_pe(bank: usize, array_n: usize, array_m: usize) -> (usize, usize) {
    (bank % array_n, array_m - 1 - bank / array_n)
}

/// Reorder `[KH, KW, IC, OC]` weights (row-major) into GeneSys' DRAM stream (GENESYS.md §3.5):
/// per OC tile and IC tile, the tile's WBUF rows in order (kh, kw, IC block of `array_n`,
/// OC block of `array_m`), taken `interleave` rows at a time, each group streamed bank-major
/// with the row fastest; bank j holds the weight of input channel j mod N and output column
/// M-1-j div N. The simulator's WBUF fill is the inverse, so both share
/// [`wbuf_group_slot`] and [`wbuf_bank_pe`]. Channels beyond the tensor (padding to whole
/// blocks) are 0.
pub fn shuffle_weights(
    w: &[i64],
    l: WeightLayout,
    array_n: usize,
    array_m: usize,
    interleave: usize,
) -> Vec<i64> {
    let mut out = Vec::with_capacity(w.len());
    let row_size = array_n * array_m;
    let mut rows: Vec<(usize, usize, usize, usize)> = Vec::new();
    for oc_t in (0..l.oc).step_by(l.tile_oc.max(1)) {
        for ic_t in (0..l.ic).step_by(l.tile_ic.max(1)) {
            let blocks_ic = l.tile_ic.min(l.ic - ic_t).div_ceil(array_n);
            let blocks_oc = l.tile_oc.min(l.oc - oc_t).div_ceil(array_m);
            rows.clear();
            for kh in 0..l.kh {
                for kw in 0..l.kw {
                    for icb in 0..blocks_ic {
                        for ocb in 0..blocks_oc {
                            rows.push((kh, kw, icb, ocb));
                        }
                    }
                }
            }
            let mut r0 = 0;
            while r0 < rows.len() {
                let g = interleave.max(1).min(rows.len() - r0);
                for b in 0..g * row_size {
                    let (k, bank) = wbuf_group_slot(b, g);
                    let (kh, kw, icb, ocb) = rows[r0 + k];
                    let (ic_in, oc_col) = wbuf_bank_pe(bank, array_n, array_m);
                    let (ic, oc) = (ic_t + icb * array_n + ic_in, oc_t + ocb * array_m + oc_col);
                    let inside =
                        ic < (ic_t + l.tile_ic).min(l.ic) && oc < (oc_t + l.tile_oc).min(l.oc);
                    out.push(if inside {
                        w[((kh * l.kw + kw) * l.ic + ic) * l.oc + oc]
                    } else {
                        0
                    });
                }
                r0 += g;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_read_write_across_pages() {
        let mut d = Dram::new(1 << 20);
        d.write_elements(4094, &[-2, 300], 4).unwrap();
        assert_eq!(d.read_elements(4094, 2, 4).unwrap(), vec![-2, 300]);
        assert_eq!(d.read_elements(0, 1, 4).unwrap(), vec![0]);
        let e = d.write(1 << 20, &[1]).unwrap_err();
        assert_eq!((e.addr, e.len), (1 << 20, 1));
    }

    #[test]
    fn packing_is_little_endian_twos_complement() {
        assert_eq!(pack_elements(&[-1, 2], 2), vec![0xff, 0xff, 2, 0]);
        assert_eq!(unpack_element(&[0xfe]), -2);
        // 4193975806 = 0xF9FAFDFE: bytes -2, -3, -6, -7
        assert_eq!(unpack_words(&[4193975806]), vec![0xfe, 0xfd, 0xfa, 0xf9]);
    }

    /// A 2x2 array, interleave 2, one 1x1 kernel with IC = 2, OC = 4: hand-derived stream.
    #[test]
    fn shuffle_small_by_hand() {
        let l = WeightLayout {
            kh: 1,
            kw: 1,
            ic: 2,
            oc: 4,
            tile_ic: 2,
            tile_oc: 4,
        };
        // w[ic][oc] = 10*ic + oc
        let w: Vec<i64> = (0..2)
            .flat_map(|ic| (0..4).map(move |oc| 10 * ic + oc))
            .collect();
        // reversed within groups of 2: oc order 1,0,3,2. Stream n<2, m<2, k<2:
        // W'[m][n + 2k]: n=0: m=0: W'[0][0]=1, W'[0][2]=3; m=1: 11, 13; n=1: m=0: 0, 2; m=1: 10, 12
        assert_eq!(
            shuffle_weights(&w, l, 2, 2, 2),
            vec![1, 3, 11, 13, 0, 2, 10, 12]
        );
    }
}
