//! Cycle-level GeneSys simulator: functional state (DRAM image, IBUF/WBUF/BBUF/OBUF, VMEM1/2,
//! IMM, iterator tables) and a timing model (docs/npu.md "Timing model").
//!
//! Execution model (GENESYS.md §1.1, §3.1-3.7): the program is cut into blocks at BLOCK_END;
//! a block holds SYNC_INST-bracketed groups. A systolic group is decoded whole into a loop
//! nest: SA_LOOP_CFG issue order is nesting order; loops with RD/WR strides are compute loops;
//! the loops issued right before an LD_ST whose only strides are for that LD_ST's buffer are
//! its address walker; the other loops are tile loops over DRAM. A transfer runs at the depth
//! of the tile loops issued before it. A SIMD group that follows a systolic group in the same
//! block runs one iteration of its base (DRAM tile) loop nest per finished output tile, reading
//! the OBUF tile the array just produced (the OBUF hand-off of §3.6).

use std::fmt;

use super::config::{CalculusNumbering, NpuConfig};
use super::dram::{unpack_element, wbuf_bank_pe, wbuf_group_slot, Dram, DramError};
use super::isa::{Op, Program, NAMESPACES, SA_BUFFERS};

const WBUF: usize = 0;
const IBUF: usize = 1;
const OBUF: usize = 2;
const BBUF: usize = 3;
const LD: usize = 0;
const ST: usize = 1;
const RD: usize = 2;
const WR: usize = 3;

const NS_OBUF: usize = 0;
const NS_IBUF: usize = 1;
const NS_VMEM1: usize = 2;
const NS_VMEM2: usize = 3;
const NS_IMM: usize = 4;

/// SIMD pipeline depth (DOC21/SimDIT: 6 stages), charged once per loop body with the lane
/// skew: (6 - 1) + (M - 1) cycles.
const SIMD_PIPELINE_STAGES: u64 = 6;

/// Why execution stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrapReason {
    #[error("illegal instruction: {0}")]
    Illegal(#[from] super::isa::IsaError),
    #[error("{0}")]
    Dram(#[from] DramError),
    #[error("{buffer} overflow: row {row} is outside its {depth} rows")]
    BufferOverflow {
        buffer: &'static str,
        row: i64,
        depth: usize,
    },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("malformed program: {0}")]
    Malformed(String),
    #[error("work limit of {0} systolic steps + SIMD vectors + transfer requests exceeded")]
    WorkLimit(u64),
}

/// A stop: the instruction index (0-based, in program order) and the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Trap {
    pub index: usize,
    pub instr: Option<String>,
    pub reason: TrapReason,
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.instr {
            Some(i) => write!(
                f,
                "trap at instruction {} (`{}`): {}",
                self.index, i, self.reason
            ),
            None => write!(f, "trap at instruction {}: {}", self.index, self.reason),
        }
    }
}

impl std::error::Error for Trap {}

/// Busy cycles of one unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitBusy {
    pub name: &'static str,
    pub busy_cycles: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    pub cycles: u64,
    pub instructions: u64,
    pub blocks: u64,
    pub macs: u64,
    pub systolic_steps: u64,
    pub systolic_tiles: u64,
    pub simd_vector_ops: u64,
    pub dram_read_bytes: u64,
    pub dram_write_bytes: u64,
    /// PEs in the array (for MAC utilization).
    pub pes: u64,
    pub units: Vec<UnitBusy>,
}

impl RunReport {
    pub fn busy(&self, unit: &str) -> u64 {
        self.units
            .iter()
            .find(|u| u.name == unit)
            .map_or(0, |u| u.busy_cycles)
    }

    pub fn utilization(&self, unit: &str) -> f64 {
        if self.cycles == 0 {
            0.0
        } else {
            self.busy(unit) as f64 / self.cycles as f64
        }
    }

    /// MACs / (PEs × cycles).
    pub fn mac_utilization(&self) -> f64 {
        if self.cycles == 0 {
            0.0
        } else {
            self.macs as f64 / (self.pes as f64 * self.cycles as f64)
        }
    }

    pub fn to_text(&self) -> String {
        let mut s = format!(
            "cycles {}\ninstructions {} in {} block(s)\nMACs {} ({} systolic steps, {} tiles), MAC utilization {:.1} %\nSIMD vector ops {}\nDRAM read {} B, written {} B\n",
            self.cycles,
            self.instructions,
            self.blocks,
            self.macs,
            self.systolic_steps,
            self.systolic_tiles,
            100.0 * self.mac_utilization(),
            self.simd_vector_ops,
            self.dram_read_bytes,
            self.dram_write_bytes
        );
        s.push_str("unit          busy cycles  utilization\n");
        for u in &self.units {
            s.push_str(&format!(
                "{:<12} {:>12} {:>11.1} %\n",
                u.name,
                u.busy_cycles,
                100.0 * self.utilization(u.name)
            ));
        }
        s
    }
}

/// Per-unit busy counters, in report order.
#[derive(Default, Clone, Copy)]
struct Busy {
    decode: u64,
    systolic: u64,
    simd: u64,
    ch_ibuf: u64,
    ch_param: u64,
    ch_obuf: u64,
    ch_simd: u64,
    ch_instr: u64,
}

#[derive(Clone, Copy, Default)]
struct SaLoop {
    trips: u64,
    instr: usize,
    reduction: bool,
    walker: bool,
    /// strides[buffer][access]
    strides: [[u32; 4]; 4],
    /// bit (buffer * 4 + access) set when any half of that stride was given
    set: u16,
}

impl SaLoop {
    fn has_access(&self, access: usize) -> bool {
        (0..4).any(|b| self.set & (1 << (b * 4 + access)) != 0)
    }
    fn only_buffer(&self, buf: usize) -> bool {
        self.set & !(0xF << (buf * 4)) == 0
    }
}

struct Transfer {
    instr: usize,
    store: bool,
    buf: usize,
    /// (trips, byte stride), outermost first
    walker: Vec<(u64, u64)>,
    request: u64,
    issue_pos: usize,
    depth: usize,
}

struct ComputeLoop {
    trips: u64,
    reduction: bool,
    /// row strides: IBUF RD, WBUF RD, BBUF RD, OBUF RD, OBUF WR
    strides: [i64; 5],
}

/// A decoded systolic group.
struct SaPlan {
    base: [u64; 4],
    /// tile loops: (trips, reduction, strides[buf][LD/ST])
    tiles: Vec<(u64, bool, [[u64; 2]; 4])>,
    transfers: Vec<Transfer>,
    compute: Vec<ComputeLoop>,
    imem_words: u64,
    end_instr: usize,
}

/// One operand binding of a SIMD loop level.
#[derive(Clone, Copy, Default)]
struct Level {
    trips: u64,
    idx: [(usize, usize); 3],
}

#[derive(Clone, Copy, Default)]
struct IterEntry {
    base: i64,
    stride: i64,
}

/// SIMD off-chip walker state for one (direction, namespace).
#[derive(Clone, Default)]
struct SimdPort {
    base: u32,
    base_stride: [u32; 32],
    base_set: u32,
    tile_trips: [u64; 32],
    tile_stride: [u32; 32],
    tile_order: Vec<usize>,
    tile_addr: u32,
}

#[derive(Default)]
struct SimdState {
    iter: Vec<[IterEntry; 32]>,
    ports: Vec<SimdPort>,
    levels: Vec<Level>,
    /// DTYPE_CFG fraction bits (dst, src1, src2)
    frac: [u32; 3],
    /// base-loop index (5-bit loop id) -> current index
    base_idx: [u64; 32],
}

/// Timing of one SIMD base iteration.
#[derive(Default, Clone, Copy)]
struct SimdCost {
    compute: u64,
    transfer: u64,
}

pub struct Simulator {
    pub cfg: NpuConfig,
    pub dram: Dram,
    ibuf: Vec<i32>,
    /// [row][oc][ic]: weights per PE, transposed from the bank order at load time
    wbuf: Vec<i32>,
    bbuf: Vec<i32>,
    obuf: Vec<i32>,
    vmem: [Vec<i32>; 2],
    imm: Vec<i32>,
    scratch: Vec<u8>,
    /// Stop with `TrapReason::WorkLimit` after this many systolic steps, SIMD vector ops and
    /// transfer requests (default: unlimited); a guard for untrusted or fuzzed programs.
    pub work_limit: u64,
    work: u64,
    busy: Busy,
    report: RunReport,
    /// Instruction words an `LD_ST … IMEM` of the block before loaded into the other IMEM
    /// half, and the cycle they are in: the next block needs no fetch of its own if they
    /// cover it (§1.1, §3.2).
    prefetched: Option<(u64, u64)>,
}

impl Simulator {
    fn charge(&mut self, prog: &Program, index: usize, amount: u64) -> Result<(), Trap> {
        self.work = self.work.saturating_add(amount);
        if self.work > self.work_limit {
            return Err(trap(prog, index, TrapReason::WorkLimit(self.work_limit)));
        }
        Ok(())
    }
}

fn trap(prog: &Program, index: usize, reason: TrapReason) -> Trap {
    Trap {
        index,
        instr: prog.instrs.get(index).map(|i| i.to_string()),
        reason,
    }
}

fn set_half(v: &mut u32, high: bool, half: u32) {
    if high {
        *v = (*v & 0xFFFF) | (half << 16);
    } else {
        *v = (*v & 0xFFFF_0000) | (half & 0xFFFF);
    }
}

fn wrap(v: i64, bits: u32) -> i64 {
    if bits >= 64 {
        v
    } else {
        (v << (64 - bits)) >> (64 - bits)
    }
}

fn grow(v: &mut Vec<i32>, len: usize) {
    if v.len() < len {
        v.resize(len, 0);
    }
}

fn sat_product(it: impl Iterator<Item = u64>) -> u64 {
    it.fold(1u64, |a, b| a.saturating_mul(b))
}

fn div_ceil(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

impl Simulator {
    pub fn new(cfg: NpuConfig, dram: Dram) -> Simulator {
        let (n, m) = (cfg.array_n, cfg.array_m);
        Simulator {
            // Buffers grow on first touch (up to their configured depth, which is checked on
            // every access), so large design points cost only the rows a program uses.
            ibuf: Vec::new(),
            wbuf: Vec::new(),
            bbuf: Vec::new(),
            obuf: Vec::new(),
            vmem: [Vec::new(), Vec::new()],
            imm: vec![0; cfg.imm_depth],
            scratch: Vec::new(),
            work_limit: u64::MAX,
            work: 0,
            prefetched: None,
            busy: Busy::default(),
            report: RunReport {
                cycles: 0,
                instructions: 0,
                blocks: 0,
                macs: 0,
                systolic_steps: 0,
                systolic_tiles: 0,
                simd_vector_ops: 0,
                dram_read_bytes: 0,
                dram_write_bytes: 0,
                pes: (n * m) as u64,
                units: Vec::new(),
            },
            cfg,
            dram,
        }
    }

    /// Decode and run raw instruction words; an undecodable word traps at its index.
    pub fn run_words(&mut self, words: &[u32]) -> Result<RunReport, Trap> {
        let mut prog = Program::default();
        for (index, &w) in words.iter().enumerate() {
            let instr = super::isa::decode(w).map_err(|e| Trap {
                index,
                instr: None,
                reason: e.into(),
            })?;
            prog.instrs.push(instr);
        }
        self.run(&prog)
    }

    /// Run a whole program; DRAM holds the results afterwards.
    pub fn run(&mut self, prog: &Program) -> Result<RunReport, Trap> {
        // The fields are public, so a hand-built config is checked here rather than in `new`.
        if let Err(e) = self.cfg.validate("simulator configuration") {
            return Err(Trap {
                index: 0,
                instr: None,
                reason: TrapReason::Malformed(e.to_string()),
            });
        }
        self.prefetched = None;
        let mut now = 0u64;
        let mut start = 0;
        let mut blocks = 0;
        while start < prog.instrs.len() {
            let end = (start..prog.instrs.len())
                .find(|&i| prog.instrs[i].op == Op::BlockEnd)
                .ok_or_else(|| {
                    trap(
                        prog,
                        prog.instrs.len() - 1,
                        TrapReason::Malformed("the program ends without BLOCK_END".into()),
                    )
                })?;
            now = self.run_block(prog, start, end, now)?;
            blocks += 1;
            // IS_END is not a stop: the multi-layer `resnet50_conv_0` vector ends every
            // layer's block with BLOCK_END 1 and still runs the next one.
            start = end + 1;
        }
        let b = self.busy;
        let mut r = self.report.clone();
        r.cycles = now;
        r.instructions = prog.instrs.len() as u64;
        r.blocks = blocks;
        r.units = vec![
            UnitBusy {
                name: "decode",
                busy_cycles: b.decode,
            },
            UnitBusy {
                name: "systolic",
                busy_cycles: b.systolic,
            },
            UnitBusy {
                name: "simd",
                busy_cycles: b.simd,
            },
            UnitBusy {
                name: "dram.ibuf",
                busy_cycles: b.ch_ibuf,
            },
            UnitBusy {
                name: "dram.param",
                busy_cycles: b.ch_param,
            },
            UnitBusy {
                name: "dram.obuf",
                busy_cycles: b.ch_obuf,
            },
            UnitBusy {
                name: "dram.simd",
                busy_cycles: b.ch_simd,
            },
            UnitBusy {
                name: "dram.instr",
                busy_cycles: b.ch_instr,
            },
        ];
        Ok(r)
    }

    /// One block [start, end] (end = its BLOCK_END); returns the cycle it finishes.
    fn run_block(
        &mut self,
        prog: &Program,
        start: usize,
        end: usize,
        now: u64,
    ) -> Result<u64, Trap> {
        // Groups: (is_simd, start index of SYNC START, index of SYNC END EXEC)
        let mut groups: Vec<(bool, usize, usize)> = Vec::new();
        let mut open: Option<(bool, usize)> = None;
        for i in start..end {
            let ins = &prog.instrs[i];
            if ins.op == Op::SyncInst {
                let (simd, is_end, buf) = (ins.args[0] == 1, ins.args[1] == 1, ins.args[2] == 1);
                match (open, is_end) {
                    (None, false) => open = Some((simd, i)),
                    (Some((s, o)), true) if s == simd && !buf => {
                        groups.push((s, o, i));
                        open = None;
                    }
                    (Some(_), true) if buf => {}
                    _ => {
                        return Err(trap(
                            prog,
                            i,
                            TrapReason::Malformed("SYNC_INST START/END do not pair up".into()),
                        ))
                    }
                }
            } else if open.is_none() {
                return Err(trap(
                    prog,
                    i,
                    TrapReason::Malformed(
                        "instruction outside a SYNC_INST START ... END group".into(),
                    ),
                ));
            }
        }
        if let Some((_, o)) = open {
            return Err(trap(
                prog,
                o,
                TrapReason::Malformed("SYNC_INST START without END EXEC".into()),
            ));
        }
        // Decode: one instruction per cycle, after the block arrived over the instruction
        // channel, either fetched now or prefetched by the block before while it executed
        // (IMEM is double-buffered, §1.1).
        let n_instr = (end - start + 1) as u64;
        let arrived = match self.prefetched.take() {
            Some((words, ready)) if words >= n_instr => now.max(ready),
            _ => {
                let fetch = div_ceil(n_instr * 32, self.cfg.instr_channel_bits as u64);
                self.busy.ch_instr += fetch;
                now + fetch
            }
        };
        self.busy.decode += n_instr;
        let mut t = arrived + n_instr;
        let mut g = 0;
        while g < groups.len() {
            let (simd, s, e) = groups[g];
            if simd {
                t = self.run_simd_alone(prog, s, e, t)?;
                g += 1;
            } else {
                let paired = groups
                    .get(g + 1)
                    .filter(|x| x.0)
                    .map(|&(_, s2, e2)| (s2, e2));
                t = self.run_sa(prog, s, e, paired, t)?;
                g += if paired.is_some() { 2 } else { 1 };
            }
        }
        Ok(t)
    }

    fn decode_sa(&self, prog: &Program, s: usize, e: usize) -> Result<SaPlan, Trap> {
        let mut loops = [SaLoop::default(); 64];
        let mut configured = [false; 64];
        let mut issued: Vec<usize> = Vec::new();
        let mut base = [0u32; 4];
        let mut transfers = Vec::new();
        let mut last_transfer_pos = 0;
        let mut imem_words = 0;
        for i in s + 1..e {
            let ins = &prog.instrs[i];
            let a = ins.args;
            match ins.op {
                Op::SaLoopCfg => {
                    let id = a[1] as usize;
                    if configured[id] {
                        return Err(trap(
                            prog,
                            i,
                            TrapReason::Malformed(format!(
                                "loop {id} configured twice in one group"
                            )),
                        ));
                    }
                    configured[id] = true;
                    loops[id].trips = a[2] as u64 + 1;
                    loops[id].instr = i;
                    issued.push(id);
                }
                Op::SaReductionLoop => match issued.last() {
                    // The marker follows the SA_LOOP_CFG of the loop it marks (its LOOP_ID
                    // field names the dimension's tile loop, also for inner loops).
                    Some(&id) => loops[id].reduction = true,
                    None => {
                        return Err(trap(
                            prog,
                            i,
                            TrapReason::Malformed(
                                "SA_REDUCTION_LOOP before any SA_LOOP_CFG".into(),
                            ),
                        ))
                    }
                },
                Op::SetLoopStride => {
                    let (high, access, buf, id) =
                        (a[0] == 1, a[1] as usize, a[2] as usize, a[3] as usize);
                    if access > 3 {
                        return Err(trap(
                            prog,
                            i,
                            TrapReason::Malformed(format!("access type {access}")),
                        ));
                    }
                    set_half(&mut loops[id].strides[buf][access], high, a[4]);
                    loops[id].set |= 1 << (buf * 4 + access);
                }
                Op::SetBaseAddr => {
                    let (high, imem, buf) = (a[0] == 1, a[1] == 1, a[2] as usize);
                    if !imem {
                        if buf > 3 {
                            return Err(trap(
                                prog,
                                i,
                                TrapReason::Malformed(format!("buffer id {buf}")),
                            ));
                        }
                        set_half(&mut base[buf], high, a[4]);
                    }
                }
                Op::LdSt => {
                    let (store, imem, buf, request) =
                        (a[0] == 1, a[1] == 1, a[2] as usize, a[4] as u64);
                    if imem {
                        imem_words += request;
                        continue;
                    }
                    if buf > 3 {
                        return Err(trap(
                            prog,
                            i,
                            TrapReason::Malformed(format!("buffer id {buf}")),
                        ));
                    }
                    if store && buf != OBUF {
                        return Err(trap(
                            prog,
                            i,
                            TrapReason::Unsupported(format!(
                                "store from {} (only OBUF can store)",
                                SA_BUFFERS[buf]
                            )),
                        ));
                    }
                    let access = if store { ST } else { LD };
                    let mut first = issued.len();
                    while first > last_transfer_pos {
                        let l = &loops[issued[first - 1]];
                        if !l.only_buffer(buf) || l.has_access(RD) || l.has_access(WR) {
                            break;
                        }
                        first -= 1;
                    }
                    let walker = issued[first..]
                        .iter()
                        .map(|&id| {
                            loops[id].walker = true;
                            (loops[id].trips, loops[id].strides[buf][access] as u64)
                        })
                        .collect();
                    transfers.push(Transfer {
                        instr: i,
                        store,
                        buf,
                        walker,
                        request,
                        issue_pos: issued.len(),
                        depth: 0,
                    });
                    last_transfer_pos = issued.len();
                }
                Op::SyncInst | Op::Nop => {}
                _ => {
                    return Err(trap(
                        prog,
                        i,
                        TrapReason::Malformed(format!(
                            "{} inside a systolic group",
                            ins.op.spec().mnemonic
                        )),
                    ));
                }
            }
        }
        let mut tiles = Vec::new();
        let mut tile_pos = Vec::new();
        let mut compute = Vec::new();
        for (pos, &id) in issued.iter().enumerate() {
            let l = &loops[id];
            if l.walker {
                continue;
            }
            if l.has_access(RD) || l.has_access(WR) {
                let st = |b: usize, acc: usize| l.strides[b][acc] as i32 as i64;
                compute.push(ComputeLoop {
                    trips: l.trips,
                    reduction: l.reduction,
                    strides: [
                        st(IBUF, RD),
                        st(WBUF, RD),
                        st(BBUF, RD),
                        st(OBUF, RD),
                        st(OBUF, WR),
                    ],
                });
            } else {
                let mut s = [[0u64; 2]; 4];
                for (b, sb) in s.iter_mut().enumerate() {
                    *sb = [l.strides[b][LD] as u64, l.strides[b][ST] as u64];
                }
                tiles.push((l.trips, l.reduction, s));
                tile_pos.push(pos);
            }
        }
        for t in &mut transfers {
            t.depth = tile_pos.iter().filter(|&&p| p < t.issue_pos).count();
        }
        Ok(SaPlan {
            base: base.map(|b| b as u64),
            tiles,
            transfers,
            compute,
            imem_words,
            end_instr: e,
        })
    }

    /// Systolic group, optionally with the SIMD group that consumes its output tiles.
    fn run_sa(
        &mut self,
        prog: &Program,
        s: usize,
        e: usize,
        simd: Option<(usize, usize)>,
        t0: u64,
    ) -> Result<u64, Trap> {
        let plan = self.decode_sa(prog, s, e)?;
        let cfg = self.cfg.clone();
        let fill = (cfg.array_n as u64 - 1) + (cfg.array_m as u64 - 1);
        // `LD_ST … IMEM` prefetches the next block into the other IMEM half over the
        // instruction channel while this group executes (§1.1, §3.2).
        let imem = div_ceil(plan.imem_words * 32, cfg.instr_channel_bits as u64);
        self.busy.ch_instr += imem;
        if plan.imem_words > 0 {
            self.prefetched = Some((plan.imem_words, t0 + imem));
        }

        let mut simd_state = SimdState::default();
        let mut simd_nest: Vec<(usize, u64)> = Vec::new();
        if let Some((ss, se)) = simd {
            simd_nest = simd_base_nest(prog, ss, se);
            simd_state.init();
        }
        let simd_total = sat_product(simd_nest.iter().map(|x| x.1));
        let mut simd_done = 0u64;

        let nt = plan.tiles.len();
        let total = sat_product(plan.tiles.iter().map(|x| x.0));
        let steps_per_tile = sat_product(plan.compute.iter().map(|c| c.trips));
        let mut idx = vec![0u64; nt];
        // timing state
        let (mut load_end, mut comp_end, mut comp_end2, mut store_end) = (t0, t0, t0, t0);
        let (mut free1, mut free2, mut simd_end) = (t0, t0, t0);
        let mut end_time = t0;
        for t in 0..total {
            let changed = if t == 0 {
                0
            } else {
                // odometer increment; `changed` = outermost loop whose index moved
                let mut l = nt;
                loop {
                    l -= 1;
                    idx[l] += 1;
                    if idx[l] < plan.tiles[l].0 {
                        break;
                    }
                    idx[l] = 0;
                }
                l
            };
            let first_reduction = plan.tiles.iter().zip(&idx).all(|(tl, &i)| !tl.1 || i == 0);
            let last_reduction = plan
                .tiles
                .iter()
                .zip(&idx)
                .all(|(tl, &i)| !tl.1 || i + 1 == tl.0);
            let next_changed = (0..nt).rev().find(|&l| idx[l] + 1 < plan.tiles[l].0);
            let mut ch = [0u64; 3]; // ibuf, param, obuf channel cycles of this tile's loads
            for tr in plan.transfers.iter().filter(|tr| !tr.store) {
                if !(t == 0 || changed < tr.depth) {
                    continue;
                }
                if tr.buf == OBUF && first_reduction {
                    // First reduction iteration: bias replaces the partial sums (§3.7).
                    continue;
                }
                let bytes = self.sa_transfer(prog, &plan, tr, &idx)?;
                let (k, bits) = match tr.buf {
                    IBUF => (0, cfg.ibuf_channel_bits),
                    WBUF | BBUF => (1, cfg.param_channel_bits),
                    _ => (2, cfg.obuf_channel_bits),
                };
                ch[k] += div_ceil(bytes * 8, bits as u64);
            }
            self.busy.ch_ibuf += ch[0];
            self.busy.ch_param += ch[1];
            self.busy.ch_obuf += ch[2];
            self.charge(prog, plan.end_instr, steps_per_tile)?;
            self.sa_compute(prog, &plan, first_reduction)?;
            self.report.systolic_tiles += 1;
            self.report.systolic_steps += steps_per_tile;
            self.report.macs += steps_per_tile * (cfg.array_n * cfg.array_m) as u64;
            let mut store_cycles = 0;
            for tr in plan.transfers.iter().filter(|tr| tr.store) {
                let runs = match next_changed {
                    None => true,
                    Some(l) => l < tr.depth,
                };
                if runs {
                    let bytes = self.sa_transfer(prog, &plan, tr, &idx)?;
                    store_cycles += div_ceil(bytes * 8, cfg.obuf_channel_bits as u64);
                }
            }
            self.busy.ch_obuf += store_cycles;
            // timing: double-buffered loads (2 tags), compute waits for its data and for the
            // OBUF half of output tile o-2 to be released
            let load = ch.iter().copied().max().unwrap_or(0);
            let load_start = load_end.max(comp_end2);
            load_end = load_start + load;
            let comp = steps_per_tile + fill;
            self.busy.systolic += comp;
            let comp_start = load_end.max(comp_end).max(free2);
            comp_end2 = comp_end;
            comp_end = comp_start + comp;
            let st_start = comp_end.max(store_end);
            store_end = st_start + store_cycles;
            end_time = end_time.max(store_end).max(comp_end);
            if last_reduction {
                let mut release = if store_cycles > 0 {
                    store_end
                } else {
                    comp_end
                };
                if simd.is_some() && simd_done < simd_total {
                    let (ss, se) = simd.unwrap_or((0, 0));
                    let cost =
                        self.simd_iteration(prog, ss, se, &simd_nest, simd_done, &mut simd_state)?;
                    simd_done += 1;
                    let st = comp_end.max(simd_end);
                    simd_end = st + cost.compute + cost.transfer;
                    release = simd_end;
                    end_time = end_time.max(simd_end);
                }
                free2 = free1;
                free1 = release;
            }
        }
        if let Some((ss, _)) = simd {
            if simd_done != simd_total {
                return Err(trap(
                    prog,
                    ss,
                    TrapReason::Malformed(format!(
                        "the SIMD group has {simd_total} base iterations but the systolic group produced {simd_done} output tiles"
                    )),
                ));
            }
        }
        Ok(end_time.max(t0 + imem))
    }

    /// One systolic transfer at the current tile indices; returns the bytes moved.
    fn sa_transfer(
        &mut self,
        prog: &Program,
        plan: &SaPlan,
        tr: &Transfer,
        idx: &[u64],
    ) -> Result<u64, Trap> {
        self.charge(prog, tr.instr, sat_product(tr.walker.iter().map(|w| w.0)))?;
        let cfg = &self.cfg;
        let (n, m) = (cfg.array_n, cfg.array_m);
        let dir = if tr.store { 1 } else { 0 };
        let mut addr = plan.base[tr.buf];
        for (l, tl) in plan.tiles.iter().enumerate().take(tr.depth) {
            addr += idx[l] * tl.2[tr.buf][dir];
        }
        let banks = match tr.buf {
            IBUF => n,
            WBUF => n * m,
            _ => m,
        } as u64;
        let req_bytes = tr.request * banks;
        let requests = sat_product(tr.walker.iter().map(|w| w.0));
        // saturating: an absurd walker must end in the overflow trap below, not a wrapped size
        let total = req_bytes
            .saturating_mul(requests)
            .min(usize::MAX as u64 / 4) as usize;
        let elem_bytes = match tr.buf {
            IBUF => cfg.data_width,
            WBUF => cfg.wgt_width,
            OBUF => cfg.acc_width,
            _ => cfg.bias_width,
        } as usize
            / 8;
        let (depth, row_elems) = match tr.buf {
            IBUF => (cfg.ibuf_depth, n),
            WBUF => (cfg.wbuf_depth, n * m),
            OBUF => (cfg.obuf_depth, m),
            _ => (cfg.bbuf_depth, m),
        };
        let elems = total / elem_bytes;
        let rows = elems.div_ceil(row_elems);
        if rows > depth {
            return Err(trap(
                prog,
                tr.instr,
                TrapReason::BufferOverflow {
                    buffer: SA_BUFFERS[tr.buf],
                    row: rows as i64 - 1,
                    depth,
                },
            ));
        }
        let mut wi = vec![0u64; tr.walker.len()];
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.resize(total, 0);
        if tr.store {
            grow(&mut self.obuf, elems);
            let src = &self.obuf;
            for (e, chunk) in scratch.chunks_exact_mut(elem_bytes).enumerate() {
                chunk.copy_from_slice(&(src[e] as i64).to_le_bytes()[..elem_bytes]);
            }
        }
        for r in 0..requests as usize {
            let off: u64 = tr.walker.iter().zip(&wi).map(|(w, &i)| w.1 * i).sum();
            let span = r * req_bytes as usize..(r + 1) * req_bytes as usize;
            let res = if tr.store {
                self.dram.write(addr + off, &scratch[span])
            } else {
                self.dram.read(addr + off, &mut scratch[span])
            };
            res.map_err(|e| trap(prog, tr.instr, e.into()))?;
            for l in (0..wi.len()).rev() {
                wi[l] += 1;
                if wi[l] < tr.walker[l].0 {
                    break;
                }
                wi[l] = 0;
            }
        }
        if tr.store {
            self.report.dram_write_bytes += total as u64;
        } else {
            self.report.dram_read_bytes += total as u64;
            let vals = scratch
                .chunks_exact(elem_bytes)
                .map(|c| unpack_element(c) as i32);
            match tr.buf {
                IBUF => grow(&mut self.ibuf, elems),
                OBUF => grow(&mut self.obuf, elems),
                BBUF => grow(&mut self.bbuf, elems),
                _ => grow(&mut self.wbuf, rows * row_elems),
            }
            match tr.buf {
                IBUF => self.ibuf.iter_mut().zip(vals).for_each(|(d, v)| *d = v),
                OBUF => self.obuf.iter_mut().zip(vals).for_each(|(d, v)| *d = v),
                BBUF => self.bbuf.iter_mut().zip(vals).for_each(|(d, v)| *d = v),
                _ => {
                    // WBUF: the inverse of `dram::shuffle_weights` (GENESYS.md §3.5),
                    // stored as [row][oc][ic] so the systolic step reads contiguous weights.
                    let il = cfg.wbuf_interleave();
                    let vals: Vec<i32> = vals.collect();
                    let row_size = n * m;
                    let rows = vals.len().div_ceil(row_size);
                    let mut row0 = 0;
                    while row0 < rows {
                        let g = il.min(rows - row0);
                        for b in 0..g * row_size {
                            let Some(&v) = vals.get(row0 * row_size + b) else {
                                break;
                            };
                            let (k, bank) = wbuf_group_slot(b, g);
                            let (ic, oc) = wbuf_bank_pe(bank, n, m);
                            self.wbuf[(row0 + k) * row_size + oc * n + ic] = v;
                        }
                        row0 += g;
                    }
                }
            }
        }
        self.scratch = scratch;
        Ok(total as u64)
    }

    /// All compute steps of one tile.
    fn sa_compute(
        &mut self,
        prog: &Program,
        plan: &SaPlan,
        first_reduction_tile: bool,
    ) -> Result<(), Trap> {
        let cfg = &self.cfg;
        let (n, m) = (cfg.array_n, cfg.array_m);
        let pe_bits =
            cfg.data_width + cfg.wgt_width + (n as u32).next_power_of_two().trailing_zeros();
        let acc_bits = cfg.acc_width;
        let depths = [
            cfg.ibuf_depth,
            cfg.wbuf_depth,
            cfg.bbuf_depth,
            cfg.obuf_depth,
            cfg.obuf_depth,
        ];
        let names = ["IBUF", "WBUF", "BBUF", "OBUF", "OBUF"];
        let nl = plan.compute.len();
        let trips: Vec<u64> = plan.compute.iter().map(|c| c.trips).collect();
        let total = sat_product(trips.iter().copied());
        // Rows are affine in the loop indices, so the extremes over the whole nest bound every
        // access: check them once instead of per step.
        let (mut lo, mut hi) = ([0i64; 5], [0i64; 5]);
        for c in &plan.compute {
            for k in 0..5 {
                let span = c.strides[k].saturating_mul(c.trips as i64 - 1);
                lo[k] = lo[k].saturating_add(span.min(0));
                hi[k] = hi[k].saturating_add(span.max(0));
            }
        }
        for k in 0..5 {
            let bad = if lo[k] < 0 {
                Some(lo[k])
            } else if hi[k] as u64 >= depths[k] as u64 {
                Some(hi[k])
            } else {
                None
            };
            if let Some(row) = bad {
                return Err(trap(
                    prog,
                    plan.end_instr,
                    TrapReason::BufferOverflow {
                        buffer: names[k],
                        row,
                        depth: depths[k],
                    },
                ));
            }
        }
        let row_elems = [n, n * m, m, m, m];
        grow(&mut self.ibuf, (hi[0] as usize + 1) * row_elems[0]);
        grow(&mut self.wbuf, (hi[1] as usize + 1) * row_elems[1]);
        grow(&mut self.bbuf, (hi[2] as usize + 1) * row_elems[2]);
        grow(&mut self.obuf, (hi[3].max(hi[4]) as usize + 1) * m);
        let mut idx = vec![0u64; nl];
        let mut rows = [0i64; 5];
        let mut red_nonzero = 0u32;
        let ibuf = &self.ibuf;
        let wbuf = &self.wbuf;
        let bbuf = &self.bbuf;
        let obuf = &mut self.obuf;
        let mut acc = vec![0i64; m];
        for step in 0..total {
            if step > 0 {
                let mut l = nl;
                loop {
                    l -= 1;
                    let c = &plan.compute[l];
                    idx[l] += 1;
                    for (r, s) in rows.iter_mut().zip(c.strides) {
                        *r += s;
                    }
                    if c.reduction && idx[l] == 1 {
                        red_nonzero += 1;
                    }
                    if idx[l] < trips[l] {
                        break;
                    }
                    let back = trips[l] as i64;
                    for (r, s) in rows.iter_mut().zip(c.strides) {
                        *r -= s * back;
                    }
                    if c.reduction {
                        red_nonzero -= 1;
                    }
                    idx[l] = 0;
                }
            }
            let first = first_reduction_tile && red_nonzero == 0;
            let (ir, wr, br, orr, ow) = (
                rows[0] as usize * n,
                rows[1] as usize * n * m,
                rows[2] as usize * m,
                rows[3] as usize * m,
                rows[4] as usize * m,
            );
            let input = &ibuf[ir..ir + n];
            let src = if first {
                &bbuf[br..br + m]
            } else {
                &obuf[orr..orr + m]
            };
            for (a, &s) in acc.iter_mut().zip(src) {
                *a = s as i64;
            }
            for (oc, a) in acc.iter_mut().enumerate() {
                let w = &wbuf[wr + oc * n..wr + oc * n + n];
                let mut sum = 0i64;
                for (x, y) in input.iter().zip(w) {
                    sum += *x as i64 * *y as i64;
                }
                *a = wrap(*a + wrap(sum, pe_bits), acc_bits);
            }
            for (d, &a) in obuf[ow..ow + m].iter_mut().zip(&acc) {
                *d = a as i32;
            }
        }
        Ok(())
    }

    fn run_simd_alone(&mut self, prog: &Program, s: usize, e: usize, t0: u64) -> Result<u64, Trap> {
        let nest = simd_base_nest(prog, s, e);
        let total = sat_product(nest.iter().map(|x| x.1));
        let mut st = SimdState::default();
        st.init();
        let mut t = t0;
        for k in 0..total {
            let c = self.simd_iteration(prog, s, e, &nest, k, &mut st)?;
            t += c.compute + c.transfer;
        }
        Ok(t)
    }

    /// Interpret the SIMD group once, at base-loop iteration `k`.
    fn simd_iteration(
        &mut self,
        prog: &Program,
        s: usize,
        e: usize,
        nest: &[(usize, u64)],
        k: u64,
        st: &mut SimdState,
    ) -> Result<SimdCost, Trap> {
        self.charge(prog, s, 1)?;
        let mut rem = k;
        for &(id, trips) in nest.iter().rev() {
            st.base_idx[id] = rem % trips;
            rem /= trips;
        }
        let m = self.cfg.array_m as u64;
        let mut cost = SimdCost::default();
        let mut i = s + 1;
        while i < e {
            let ins = prog.instrs[i];
            let a = ins.args;
            let spec_op = ins.op;
            let opcode = spec_op.spec().opcode;
            match spec_op {
                Op::DtypeCfg => st.frac = [a[1], a[2], a[3]],
                Op::SyncInst | Op::Nop => {}
                Op::SetIter => st.levels.push(Level {
                    trips: a[2] as u64,
                    ..Level::default()
                }),
                Op::SetIndex => match st.levels.last_mut() {
                    Some(l) => {
                        l.idx = [
                            (a[0] as usize, a[1] as usize),
                            (a[2] as usize, a[3] as usize),
                            (a[4] as usize, a[5] as usize),
                        ]
                    }
                    None => {
                        return Err(trap(
                            prog,
                            i,
                            TrapReason::Malformed("SET_INDEX without SET_ITER".into()),
                        ))
                    }
                },
                Op::SetInst => {
                    let count = a[2] as usize;
                    if i + count >= e {
                        return Err(trap(
                            prog,
                            i,
                            TrapReason::Malformed(format!(
                                "SET_INST body of {count} runs past the group end"
                            )),
                        ));
                    }
                    let levels = std::mem::take(&mut st.levels);
                    for b in i + 1..=i + count {
                        cost.compute += self.simd_compute(prog, b, &levels, st)?;
                    }
                    cost.compute += (SIMD_PIPELINE_STAGES - 1) + (m - 1);
                    i += count;
                }
                _ if opcode <= 3 => {
                    cost.compute += self.simd_compute(prog, i, &[], st)?;
                }
                Op::BaseSignExt
                | Op::BaseLow
                | Op::BaseHigh
                | Op::BaseZeroFill
                | Op::StrideSignExt
                | Op::StrideLow
                | Op::StrideHigh
                | Op::StrideZeroFill => {
                    let (ns, idx, imm) = (a[0] as usize, a[1] as usize, a[2]);
                    if ns > NS_IMM {
                        return Err(trap(
                            prog,
                            i,
                            TrapReason::Malformed(format!("namespace {ns}")),
                        ));
                    }
                    let e = &mut st.iter[ns][idx];
                    let slot = if matches!(
                        spec_op,
                        Op::BaseSignExt | Op::BaseLow | Op::BaseHigh | Op::BaseZeroFill
                    ) {
                        &mut e.base
                    } else {
                        &mut e.stride
                    };
                    *slot = match spec_op {
                        Op::BaseSignExt | Op::StrideSignExt => imm as u16 as i16 as i64,
                        Op::BaseZeroFill | Op::StrideZeroFill => imm as i64,
                        Op::BaseLow | Op::StrideLow => {
                            ((*slot as u32 & 0xFFFF_0000) | imm) as i32 as i64
                        }
                        _ => (((*slot as u32) & 0xFFFF) | (imm << 16)) as i32 as i64,
                    };
                }
                Op::SetImmLow | Op::SetImmHigh | Op::ImmSignExt => {
                    let idx = a[1] as usize;
                    let Some(slot) = self.imm.get_mut(idx) else {
                        return Err(trap(
                            prog,
                            i,
                            TrapReason::BufferOverflow {
                                buffer: "IMM",
                                row: idx as i64,
                                depth: self.cfg.imm_depth,
                            },
                        ));
                    };
                    let imm = a[2];
                    *slot = match spec_op {
                        Op::ImmSignExt => imm as u16 as i16 as i32,
                        Op::SetImmLow => ((*slot as u32 & 0xFFFF_0000) | imm) as i32,
                        _ => ((*slot as u32 & 0xFFFF) | (imm << 16)) as i32,
                    };
                }
                _ if opcode == 5 => cost.transfer += self.simd_ldst(prog, i, st)?,
                _ => {
                    return Err(trap(
                        prog,
                        i,
                        TrapReason::Unsupported(format!(
                            "{} in a SIMD group",
                            spec_op.spec().mnemonic
                        )),
                    ));
                }
            }
            i += 1;
        }
        self.busy.simd += cost.compute;
        Ok(cost)
    }

    fn simd_ldst(&mut self, prog: &Program, i: usize, st: &mut SimdState) -> Result<u64, Trap> {
        let ins = prog.instrs[i];
        let a = ins.args;
        let fn_code = ins.op as usize - Op::LdConfigBaseAddr as usize;
        let (store, sub) = if fn_code >= 7 {
            (true, fn_code - 7)
        } else {
            (false, fn_code)
        };
        let (msb, ns, field) = (a[0] == 1, a[1] as usize, a[2] as usize);
        if ns != NS_VMEM1 && ns != NS_VMEM2 {
            return Err(trap(
                prog,
                i,
                TrapReason::Unsupported(format!(
                    "SIMD LD/ST to namespace {} (only VMEM1/VMEM2)",
                    NAMESPACES.get(ns).unwrap_or(&"?")
                )),
            ));
        }
        let port = &mut st.ports[(store as usize) * 5 + ns];
        let v = a[3];
        match sub {
            0 => set_half(&mut port.base, msb, v),
            // Base-loop trip counts form the group's repeat nest (`simd_base_nest`).
            1 => {}
            2 => {
                set_half(&mut port.base_stride[field], msb, v);
                port.base_set |= 1 << field;
            }
            3 => {
                port.tile_trips[field] = v as u64 + 1;
                if !port.tile_order.contains(&field) {
                    port.tile_order.push(field);
                }
            }
            4 => {
                set_half(&mut port.tile_stride[field], msb, v);
                if !port.tile_order.contains(&field) {
                    port.tile_order.push(field);
                }
            }
            6 => set_half(&mut port.tile_addr, msb, v),
            _ => {
                // START: DATA_WIDTH = element bits - 1, REQUEST_SIZE in bytes per bank
                let elem_bytes = (field + 1) / 8;
                if !matches!(elem_bytes, 1 | 2 | 4) || (field + 1) % 8 != 0 {
                    return Err(trap(
                        prog,
                        i,
                        TrapReason::Unsupported(format!(
                            "SIMD transfer of {}-bit elements",
                            field + 1
                        )),
                    ));
                }
                let mut addr = port.base as u64;
                for l in 0..32 {
                    if port.base_set & (1 << l) != 0 {
                        addr += st.base_idx[l] * port.base_stride[l] as u64;
                    }
                }
                let lanes = self.cfg.array_m;
                let req_bytes = v as usize * lanes;
                let walker: Vec<(u64, u64)> = port
                    .tile_order
                    .iter()
                    .map(|&l| (port.tile_trips[l].max(1), port.tile_stride[l] as u64))
                    .collect();
                port.tile_order.clear();
                let row0 = port.tile_addr as usize;
                let requests = sat_product(walker.iter().map(|w| w.0));
                self.charge(prog, i, requests)?;
                let total = (req_bytes as u64)
                    .saturating_mul(requests)
                    .min(usize::MAX as u64 / 4) as usize;
                let elems = total / elem_bytes;
                let depth = self.cfg.vmem_depth;
                let end = (row0 * lanes).saturating_add(elems);
                if end > depth * lanes {
                    return Err(trap(
                        prog,
                        i,
                        TrapReason::BufferOverflow {
                            buffer: NAMESPACES[ns],
                            row: end.div_ceil(lanes) as i64 - 1,
                            depth,
                        },
                    ));
                }
                let vm = &mut self.vmem[ns - NS_VMEM1];
                grow(vm, end);
                let mut buf = vec![0u8; total];
                if store {
                    for (e, c) in buf.chunks_exact_mut(elem_bytes).enumerate() {
                        c.copy_from_slice(
                            &(vm[row0 * lanes + e] as i64).to_le_bytes()[..elem_bytes],
                        );
                    }
                }
                let mut wi = vec![0u64; walker.len()];
                for r in 0..requests as usize {
                    let off: u64 = walker.iter().zip(&wi).map(|(w, &x)| w.1 * x).sum();
                    let span = r * req_bytes..(r + 1) * req_bytes;
                    let res = if store {
                        self.dram.write(addr + off, &buf[span])
                    } else {
                        self.dram.read(addr + off, &mut buf[span])
                    };
                    res.map_err(|e| trap(prog, i, e.into()))?;
                    for l in (0..wi.len()).rev() {
                        wi[l] += 1;
                        if wi[l] < walker[l].0 {
                            break;
                        }
                        wi[l] = 0;
                    }
                }
                if store {
                    self.report.dram_write_bytes += total as u64;
                } else {
                    self.report.dram_read_bytes += total as u64;
                    for (e, c) in buf.chunks_exact(elem_bytes).enumerate() {
                        vm[row0 * lanes + e] = unpack_element(c) as i32;
                    }
                }
                let cycles =
                    requests * div_ceil(req_bytes as u64 * 8, self.cfg.simd_channel_bits as u64);
                self.busy.ch_simd += cycles;
                return Ok(cycles);
            }
        }
        Ok(0)
    }

    /// One SIMD compute instruction over the loop nest `levels` (empty: a single vector op at
    /// the operands' own iterator entries). Returns its cycles.
    fn simd_compute(
        &mut self,
        prog: &Program,
        i: usize,
        levels: &[Level],
        st: &SimdState,
    ) -> Result<u64, Trap> {
        let ins = prog.instrs[i];
        let a = ins.args;
        let ops = [
            (a[0] as usize, a[1] as usize),
            (a[2] as usize, a[3] as usize),
            (a[4] as usize, a[5] as usize),
        ];
        for &(ns, _) in &ops {
            if ns > NS_IMM {
                return Err(trap(
                    prog,
                    i,
                    TrapReason::Malformed(format!("namespace {ns}")),
                ));
            }
        }
        let kind = simd_kind(ins.op, self.cfg.calculus);
        if let SimdKind::Unsupported(what) = kind {
            return Err(trap(prog, i, TrapReason::Unsupported(what.into())));
        }
        if kind == SimdKind::Nop {
            return Ok(0);
        }
        let latency = match kind {
            SimdKind::Div => 9,
            SimdKind::Exp => 3,
            SimdKind::InvSqrt => 13,
            _ => 1,
        };
        // operand address = base of the entry bound at the outermost level + Σ i_l · stride of
        // the entry bound at level l (GENESYS.md §3.6, confirmed by add_test's output rows)
        let mut base = [0i64; 3];
        let mut strides: Vec<[i64; 3]> = Vec::with_capacity(levels.len());
        for o in 0..3 {
            let ns = ops[o].0;
            let first = levels.first().map_or(ops[o].1, |l| l.idx[o].1);
            base[o] = st.iter[ns][first].base;
        }
        for l in levels {
            let mut s = [0i64; 3];
            for o in 0..3 {
                s[o] = st.iter[ops[o].0][l.idx[o].1].stride;
            }
            strides.push(s);
        }
        let trips: Vec<u64> = levels.iter().map(|l| l.trips).collect();
        let total = sat_product(trips.iter().copied());
        self.charge(prog, i, total)?;
        let m = self.cfg.array_m;
        let frac = st.frac;
        let mut idx = vec![0u64; levels.len()];
        let mut addr = base;
        let mut s1 = vec![0i32; m];
        let mut s2 = vec![0i32; m];
        let mut dst = vec![0i32; m];
        for it in 0..total {
            if it > 0 {
                let mut l = levels.len();
                loop {
                    l -= 1;
                    idx[l] += 1;
                    for o in 0..3 {
                        addr[o] += strides[l][o];
                    }
                    if idx[l] < trips[l] {
                        break;
                    }
                    for o in 0..3 {
                        addr[o] -= strides[l][o] * trips[l] as i64;
                    }
                    idx[l] = 0;
                }
            }
            self.read_ns(prog, i, ops[1].0, addr[1], &mut s1)?;
            self.read_ns(prog, i, ops[2].0, addr[2], &mut s2)?;
            self.read_ns(prog, i, ops[0].0, addr[0], &mut dst)?;
            for lane in 0..m {
                dst[lane] = simd_apply(kind, dst[lane], s1[lane], s2[lane], frac);
            }
            self.write_ns(prog, i, ops[0].0, addr[0], &dst)?;
        }
        self.report.simd_vector_ops += total;
        Ok(total * latency)
    }

    fn ns_row(&self, prog: &Program, i: usize, ns: usize, row: i64) -> Result<usize, Trap> {
        let depth = match ns {
            NS_OBUF => self.cfg.obuf_depth,
            NS_IBUF => self.cfg.ibuf_depth,
            NS_IMM => self.cfg.imm_depth,
            _ => self.cfg.vmem_depth,
        };
        if row < 0 || row as usize >= depth {
            return Err(trap(
                prog,
                i,
                TrapReason::BufferOverflow {
                    buffer: NAMESPACES[ns],
                    row,
                    depth,
                },
            ));
        }
        Ok(row as usize)
    }

    /// Make row `r` (already checked against the depth) of a namespace addressable.
    fn grow_ns(&mut self, ns: usize, r: usize) {
        let (n, m) = (self.cfg.array_n, self.cfg.array_m);
        match ns {
            NS_OBUF => grow(&mut self.obuf, (r + 1) * m),
            NS_IBUF => grow(&mut self.ibuf, (r + 1) * n),
            NS_VMEM1 | NS_VMEM2 => grow(&mut self.vmem[ns - NS_VMEM1], (r + 1) * m),
            _ => {}
        }
    }

    fn read_ns(
        &mut self,
        prog: &Program,
        i: usize,
        ns: usize,
        row: i64,
        out: &mut [i32],
    ) -> Result<(), Trap> {
        let r = self.ns_row(prog, i, ns, row)?;
        let m = out.len();
        self.grow_ns(ns, r);
        match ns {
            NS_OBUF => out.copy_from_slice(&self.obuf[r * m..r * m + m]),
            NS_IMM => out.fill(self.imm[r]),
            NS_IBUF => {
                let n = self.cfg.array_n;
                for (lane, o) in out.iter_mut().enumerate() {
                    *o = if lane < n { self.ibuf[r * n + lane] } else { 0 };
                }
            }
            _ => out.copy_from_slice(&self.vmem[ns - NS_VMEM1][r * m..r * m + m]),
        }
        Ok(())
    }

    fn write_ns(
        &mut self,
        prog: &Program,
        i: usize,
        ns: usize,
        row: i64,
        v: &[i32],
    ) -> Result<(), Trap> {
        let r = self.ns_row(prog, i, ns, row)?;
        let m = v.len();
        self.grow_ns(ns, r);
        match ns {
            NS_OBUF => {
                return Err(trap(
                    prog,
                    i,
                    TrapReason::Malformed("the SIMD may only read OBUF".into()),
                ));
            }
            NS_IMM => self.imm[r] = v[0],
            NS_IBUF => {
                let n = self.cfg.array_n;
                for (lane, &x) in v.iter().enumerate().take(n) {
                    self.ibuf[r * n + lane] = wrap(x as i64, self.cfg.data_width) as i32;
                }
            }
            _ => self.vmem[ns - NS_VMEM1][r * m..r * m + m].copy_from_slice(v),
        }
        Ok(())
    }
}

impl SimdState {
    fn init(&mut self) {
        self.iter = vec![[IterEntry::default(); 32]; 5];
        self.ports = vec![SimdPort::default(); 10];
        self.frac = [0; 3];
    }
}

/// The SIMD group's base (DRAM tile) loop nest: (loop index, trips), outermost first, from
/// every LD/ST_CONFIG_BASE_LOOP_ITER in the group (the largest count where ports differ).
fn simd_base_nest(prog: &Program, s: usize, e: usize) -> Vec<(usize, u64)> {
    let mut nest: Vec<(usize, u64)> = Vec::new();
    for ins in &prog.instrs[s + 1..e] {
        if matches!(ins.op, Op::LdConfigBaseLoopIter | Op::StConfigBaseLoopIter) {
            let (id, trips) = (ins.args[2] as usize, ins.args[3] as u64 + 1);
            match nest.iter_mut().find(|x| x.0 == id) {
                Some(x) => x.1 = x.1.max(trips),
                None => nest.push((id, trips)),
            }
        }
    }
    nest
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SimdKind {
    Add,
    Sub,
    Mul,
    Macc,
    Div,
    Max,
    Min,
    Rshift,
    Lshift,
    Move,
    CondTrue,
    CondFalse,
    Not,
    And,
    Or,
    Nop,
    Relu,
    LeakyRelu,
    Abs,
    Sign,
    Sigmoid,
    Tanh,
    Exp,
    Ln,
    Sqrt,
    InvSqrt,
    Log2,
    Cmp(u8),
    Floor,
    Ceil,
    Saturate(u32),
    Unsupported(&'static str),
}

fn simd_kind(op: Op, numbering: CalculusNumbering) -> SimdKind {
    use SimdKind as K;
    if (Op::Relu as usize..=Op::Log2 as usize).contains(&(op as usize)) {
        let calc_fn = op as usize - Op::Relu as usize;
        let table: &[SimdKind] = match numbering {
            CalculusNumbering::Compiler => &[
                K::Relu,
                K::LeakyRelu,
                K::Abs,
                K::Sign,
                K::Sigmoid,
                K::Tanh,
                K::Exp,
                K::Ln,
                K::Sqrt,
                K::InvSqrt,
                K::Log2,
            ],
            CalculusNumbering::Sheet => &[
                K::Relu,
                K::LeakyRelu,
                K::Sigmoid,
                K::Tanh,
                K::Exp,
                K::Ln,
                K::Sqrt,
                K::InvSqrt,
                K::Log2,
            ],
        };
        return table.get(calc_fn).copied().unwrap_or(K::Unsupported(
            "CALCULUS function code not in the ISA sheet numbering",
        ));
    }
    match op {
        Op::Add => K::Add,
        Op::Sub => K::Sub,
        Op::Mul => K::Mul,
        Op::Macc => K::Macc,
        Op::Div => K::Div,
        Op::Max => K::Max,
        Op::Min => K::Min,
        Op::Rshift => K::Rshift,
        Op::Lshift => K::Lshift,
        Op::Move => K::Move,
        Op::CondMoveTrue => K::CondTrue,
        Op::CondMoveFalse => K::CondFalse,
        Op::Not => K::Not,
        Op::And => K::And,
        Op::Or => K::Or,
        Op::Nop => K::Nop,
        Op::Eq | Op::Neq | Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
            K::Cmp((op as usize - Op::Eq as usize) as u8)
        }
        Op::Floor => K::Floor,
        Op::Ceil => K::Ceil,
        Op::CastFxp32Fxp16 => K::Saturate(16),
        Op::CastFxp32Fxp8 => K::Saturate(8),
        Op::CastFxp32Fxp4 => K::Saturate(4),
        Op::CastFxp16Fxp32 | Op::CastFxp8Fxp32 | Op::CastFxp4Fxp32 => K::Move,
        _ => K::Unsupported("floating-point casts are not modelled"),
    }
}

fn sat32(v: i64) -> i32 {
    v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// One lane of one SIMD op. Fixed-point ops use the fraction bits of DTYPE_CFG's SRC1 field;
/// transcendental functions are computed exactly in f64 (the hardware uses piecewise-linear
/// approximations, GENESYS.md §1.5), so they are approximations of the hardware.
fn simd_apply(kind: SimdKind, dst: i32, a: i32, b: i32, frac: [u32; 3]) -> i32 {
    use SimdKind as K;
    let f = frac[1].min(31);
    let to_f = |x: i32| x as f64 / (1u64 << f) as f64;
    let from_f = |x: f64| sat32((x * (1u64 << f) as f64).round() as i64);
    let (a64, b64) = (a as i64, b as i64);
    match kind {
        K::Add => a.wrapping_add(b),
        K::Sub => a.wrapping_sub(b),
        K::Mul => sat32((a64 * b64) >> f),
        K::Macc => sat32(dst as i64 + ((a64 * b64) >> f)),
        K::Div => {
            if b == 0 {
                if a < 0 {
                    i32::MIN
                } else {
                    i32::MAX
                }
            } else {
                sat32((a64 << f) / b64)
            }
        }
        K::Max => a.max(b),
        K::Min => a.min(b),
        K::Rshift => a >> (b & 31),
        K::Lshift => a.wrapping_shl((b & 31) as u32),
        K::Move => a,
        K::CondTrue => {
            if b != 0 {
                a
            } else {
                dst
            }
        }
        K::CondFalse => {
            if b == 0 {
                a
            } else {
                dst
            }
        }
        K::Not => !a,
        K::And => a & b,
        K::Or => a | b,
        K::Nop => dst,
        K::Relu => a.max(0),
        K::LeakyRelu => {
            if a < 0 {
                sat32((a64 * b64) >> f)
            } else {
                a
            }
        }
        K::Abs => a.wrapping_abs(),
        K::Sign => a.signum(),
        K::Sigmoid => from_f(1.0 / (1.0 + (-to_f(a)).exp())),
        K::Tanh => from_f(to_f(a).tanh()),
        K::Exp => from_f(to_f(a).exp()),
        K::Ln => from_f(to_f(a).ln()),
        K::Sqrt => from_f(to_f(a).sqrt()),
        K::InvSqrt => from_f(1.0 / to_f(a).sqrt()),
        K::Log2 => from_f(to_f(a).log2()),
        K::Cmp(c) => {
            let r = match c {
                0 => a == b,
                1 => a != b,
                2 => a > b,
                3 => a >= b,
                4 => a < b,
                _ => a <= b,
            };
            r as i32
        }
        K::Floor => a & !((1i32 << f) - 1),
        K::Ceil => {
            let mask = (1i32 << f) - 1;
            if a & mask == 0 {
                a
            } else {
                (a & !mask).wrapping_add(mask + 1)
            }
        }
        K::Saturate(bits) => {
            let shift = frac[1].saturating_sub(frac[0]);
            let v = a64 >> shift;
            let hi = (1i64 << (bits - 1)) - 1;
            v.clamp(-hi - 1, hi) as i32
        }
        K::Unsupported(_) => dst,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-written systolic program on the default 16x16 design: `tiles` tile iterations
    /// (IBUF moves 64 B per tile, output 256 B per tile); per tile it loads one WBUF row
    /// (256 B) and 4 IBUF rows (64 B), runs 4 compute steps and stores 4 OBUF rows (256 B).
    fn tiny_program(tiles: u32) -> Program {
        let asm = format!(
            "SYNC_INST SYSTOLIC_ARRAY, START, EXEC, 0, 0, 21
SET_BASE_ADDR LOW, BUFFER, IBUF, 0, 0
SET_BASE_ADDR LOW, BUFFER, WBUF, 0, 4096
SET_BASE_ADDR LOW, BUFFER, OBUF, 0, 8192
SA_LOOP_CFG 0, 0, {}
SET_LOOP_STRIDE LOW, LD, IBUF, 0, 64
SET_LOOP_STRIDE LOW, ST, OBUF, 0, 256
SA_LOOP_CFG 0, 23, 0
SET_LOOP_STRIDE LOW, LD, WBUF, 23, 256
LD_ST LD, BUFFER, WBUF, 23, 1
SA_LOOP_CFG 0, 14, 0
SET_LOOP_STRIDE LOW, LD, IBUF, 14, 64
LD_ST LD, BUFFER, IBUF, 14, 4
SA_LOOP_CFG 0, 7, 3
SET_LOOP_STRIDE LOW, RD, IBUF, 7, 1
SET_LOOP_STRIDE LOW, RD, WBUF, 7, 0
SET_LOOP_STRIDE LOW, RD, OBUF, 7, 1
SET_LOOP_STRIDE LOW, WR, OBUF, 7, 1
SA_LOOP_CFG 0, 29, 0
SET_LOOP_STRIDE LOW, ST, OBUF, 29, 256
LD_ST ST, BUFFER, OBUF, 29, 16
SYNC_INST SYSTOLIC_ARRAY, END, EXEC, 0, 0, 0
BLOCK_END 1
",
            tiles - 1
        );
        Program::parse_asm(&asm).unwrap()
    }

    /// DRAM: inputs x[p][ic] = p + ic at 0 (int8), an identity weight block at 4096 in the
    /// hardware's bank order (bank (M-1-oc)·N + ic, one row, so no interleave).
    fn tiny_dram(tiles: usize) -> Dram {
        let mut d = Dram::new(1 << 20);
        let x: Vec<i64> = (0..tiles * 4)
            .flat_map(|p| (0..16).map(move |ic| (p + ic) as i64))
            .collect();
        d.write_elements(0, &x, 1).unwrap();
        let mut w = vec![0i64; 256];
        for k in 0..16 {
            w[(15 - k) * 16 + k] = 1;
        }
        d.write_elements(4096, &w, 1).unwrap();
        d
    }

    #[test]
    fn tiny_program_functional() {
        let mut sim = Simulator::new(NpuConfig::default(), tiny_dram(2));
        let r = sim.run(&tiny_program(2)).unwrap();
        // identity weights: out[p][oc] = x[p][oc] = p + oc, bias 0
        let out = sim.dram.read_elements(8192, 2 * 4 * 16, 4).unwrap();
        let want: Vec<i64> = (0..8)
            .flat_map(|p| (0..16).map(move |oc| (p + oc) as i64))
            .collect();
        assert_eq!(out, want);
        assert_eq!(r.macs, 2 * 4 * 256);
        assert_eq!((r.systolic_tiles, r.systolic_steps), (2, 8));
    }

    /// Timing formula (docs/npu.md): t0 = ceil(23 instr · 32 b / 512 b) + 23 decode = 25.
    /// Per tile: load = max(IBUF 64 B / 64 B per cycle = 1, WBUF 256 B / 64 = 4) = 4;
    /// compute = 4 steps + (16-1) + (16-1) fill/drain = 34; store 256 B / 64 = 4.
    /// One tile: 25 + 4 + 34 + 4 = 67. Two tiles: tile 1 loads during tile 0's compute
    /// (double buffering), computes right after it, then stores: 25 + 4 + 34 + 34 + 4 = 101.
    #[test]
    fn tiny_program_cycles_by_hand() {
        for (tiles, cycles) in [(1usize, 67u64), (2, 101)] {
            let mut sim = Simulator::new(NpuConfig::default(), tiny_dram(tiles));
            let r = sim.run(&tiny_program(tiles as u32)).unwrap();
            assert_eq!(r.cycles, cycles, "{tiles} tiles");
            assert_eq!(r.busy("systolic"), 34 * tiles as u64);
            assert_eq!(r.busy("dram.param"), 4 * tiles as u64);
            assert_eq!(r.busy("dram.obuf"), 4 * tiles as u64);
            assert_eq!(r.busy("decode"), 23);
            let util = r.mac_utilization();
            assert!((util - (tiles * 4 * 256) as f64 / (256.0 * cycles as f64)).abs() < 1e-12);
        }
    }

    /// A GEMM out[p][oc] = bias[oc] + Σ_ic x[p][ic]·W[ic][oc] as one systolic tile with loops
    /// OC block, pixel, IC block (reduction, bias on the first); weights laid out by
    /// `dram::shuffle_weights`. Covers OC block counts below, at and above the interleave.
    #[test]
    fn random_gemm_matches_direct_computation() {
        use crate::npu::dram::{shuffle_weights, WeightLayout};
        use rand::{rngs::SmallRng, Rng, SeedableRng};
        let mut rng = SmallRng::seed_from_u64(5);
        for (ic, oc, pixels) in [
            (64usize, 16usize, 5usize),
            (32, 64, 3),
            (48, 32, 2),
            (16, 128, 1),
        ] {
            let (ib, ob) = (ic / 16, oc / 16);
            let asm = format!(
                "SYNC_INST SYSTOLIC_ARRAY, START, EXEC, 0, 0, 0
SET_BASE_ADDR LOW, BUFFER, IBUF, 0, 0
SET_BASE_ADDR HIGH, BUFFER, WBUF, 0, 1
SET_BASE_ADDR HIGH, BUFFER, BBUF, 0, 2
SET_BASE_ADDR HIGH, BUFFER, OBUF, 0, 3
SA_LOOP_CFG 0, 0, 0
SET_LOOP_STRIDE LOW, LD, IBUF, 0, 0
SET_LOOP_STRIDE LOW, LD, WBUF, 0, 0
SA_LOOP_CFG 0, 28, 0
SET_LOOP_STRIDE LOW, LD, BBUF, 28, 0
LD_ST LD, BUFFER, BBUF, 28, {bbuf_req}
SA_LOOP_CFG 0, 23, 0
SET_LOOP_STRIDE LOW, LD, WBUF, 23, 0
LD_ST LD, BUFFER, WBUF, 23, {wbuf_req}
SA_LOOP_CFG 0, 14, 0
SET_LOOP_STRIDE LOW, LD, IBUF, 14, 0
LD_ST LD, BUFFER, IBUF, 14, {ibuf_req}
SA_LOOP_CFG 0, 7, {ob1}
SET_LOOP_STRIDE LOW, RD, IBUF, 7, 0
SET_LOOP_STRIDE LOW, RD, WBUF, 7, 1
SET_LOOP_STRIDE LOW, RD, BBUF, 7, 1
SET_LOOP_STRIDE LOW, RD, OBUF, 7, 1
SET_LOOP_STRIDE LOW, WR, OBUF, 7, 1
SA_LOOP_CFG 0, 8, {p1}
SET_LOOP_STRIDE LOW, RD, IBUF, 8, {ib}
SET_LOOP_STRIDE LOW, RD, OBUF, 8, {ob}
SET_LOOP_STRIDE LOW, WR, OBUF, 8, {ob}
SA_LOOP_CFG 0, 9, {ib1}
SA_REDUCTION_LOOP 32, 2, INNER, IC
SET_LOOP_STRIDE LOW, RD, IBUF, 9, 1
SET_LOOP_STRIDE LOW, RD, WBUF, 9, {ob}
SA_LOOP_CFG 0, 29, 0
SET_LOOP_STRIDE LOW, ST, OBUF, 29, 0
LD_ST ST, BUFFER, OBUF, 29, {obuf_req}
SYNC_INST SYSTOLIC_ARRAY, END, EXEC, 0, 0, 0
BLOCK_END 1
",
                bbuf_req = oc * 4 / 16,
                wbuf_req = ic * oc / 256,
                ibuf_req = pixels * ic / 16,
                obuf_req = pixels * oc * 4 / 16,
                ob1 = ob - 1,
                p1 = pixels - 1,
                ib1 = ib - 1,
            );
            let prog = Program::parse_asm(&asm).unwrap();
            let x: Vec<i64> = (0..pixels * ic).map(|_| rng.gen_range(-128..128)).collect();
            let w: Vec<i64> = (0..ic * oc).map(|_| rng.gen_range(-128..128)).collect();
            let bias: Vec<i64> = (0..oc).map(|_| rng.gen_range(-100_000..100_000)).collect();
            let cfg = NpuConfig::default();
            let mut d = Dram::new(1 << 20);
            d.write_elements(0, &x, 1).unwrap();
            let layout = WeightLayout {
                kh: 1,
                kw: 1,
                ic,
                oc,
                tile_ic: ic,
                tile_oc: oc,
            };
            d.write_elements(
                1 << 16,
                &shuffle_weights(&w, layout, 16, 16, cfg.wbuf_interleave()),
                1,
            )
            .unwrap();
            d.write_elements(2 << 16, &bias, 4).unwrap();
            let mut sim = Simulator::new(cfg, d);
            let r = sim.run(&prog).unwrap();
            let got = sim.dram.read_elements(3 << 16, pixels * oc, 4).unwrap();
            for p in 0..pixels {
                for o in 0..oc {
                    let want =
                        bias[o] + (0..ic).map(|i| x[p * ic + i] * w[i * oc + o]).sum::<i64>();
                    assert_eq!(got[p * oc + o], want, "ic {ic} oc {oc}: pixel {p} oc {o}");
                }
            }
            assert_eq!(r.macs, (pixels * ib * ob * 256) as u64);
        }
    }

    /// Damaged programs (random words swapped in, random bits flipped) end in a report or a
    /// trap, never a panic; the work limit bounds runaway loop nests.
    #[test]
    fn mutated_programs_never_panic() {
        use rand::{rngs::SmallRng, Rng, SeedableRng};
        let mut rng = SmallRng::seed_from_u64(11);
        let base = tiny_program(2).words().unwrap();
        let mut traps = 0;
        for _ in 0..3000 {
            let mut words = base.clone();
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..words.len());
                if rng.gen_bool(0.5) {
                    words[i] ^= 1 << rng.gen_range(0..32);
                } else {
                    words[i] = (words[i] & 0xF000_0000) | (rng.gen::<u32>() & 0x0FFF_FFFF);
                }
            }
            let cfg = NpuConfig {
                dram_bytes: 1 << 24,
                ..NpuConfig::default()
            };
            let mut sim = Simulator::new(cfg, tiny_dram(2));
            sim.work_limit = 100_000;
            if sim.run_words(&words).is_err() {
                traps += 1;
            }
        }
        assert!(traps > 100, "{traps}");
    }

    /// Lane semantics of the SIMD ops (docs/npu.md), with 4 fraction bits where fixed point
    /// matters: 2.0 = 32, 0.5 = 8.
    #[test]
    fn simd_lane_semantics() {
        use SimdKind as K;
        let f = [4, 4, 4];
        let cases = [
            (K::Add, 0, i32::MAX, 1, i32::MIN),
            (K::Sub, 0, 5, 7, -2),
            (K::Mul, 0, 32, 8, 16),
            (K::Macc, 100, 32, 8, 116),
            (K::Macc, i32::MAX, 32, 32, i32::MAX),
            (K::Div, 0, 32, 8, 64),
            (K::Div, 0, -3, 0, i32::MIN),
            (K::Max, 0, -3, 2, 2),
            (K::Min, 0, -3, 2, -3),
            (K::Rshift, 0, -16, 2, -4),
            (K::Lshift, 0, 3, 33, 6),
            (K::CondTrue, 9, 1, 0, 9),
            (K::CondFalse, 9, 1, 0, 1),
            (K::Relu, 0, -5, 0, 0),
            (K::Relu, 0, 5, 0, 5),
            (K::LeakyRelu, 0, -32, 8, -16),
            (K::Abs, 0, -7, 0, 7),
            (K::Sign, 0, -7, 0, -1),
            (K::Cmp(2), 0, 3, 2, 1),
            (K::Cmp(4), 0, 3, 2, 0),
            (K::Floor, 0, 37, 0, 32),
            (K::Ceil, 0, 37, 0, 48),
            (K::Saturate(8), 0, 1000, 0, 127),
            (K::Sqrt, 0, 64, 0, 32),
        ];
        for (kind, dst, a, b, want) in cases {
            assert_eq!(
                simd_apply(kind, dst, a, b, f),
                want,
                "{kind:?}({dst}, {a}, {b})"
            );
        }
        // CALCULUS numbering by configuration (GENESYS.md §2.7 item 4): fn 2 is ABS in the
        // compiler's table and SIGMOID in the ISA sheet's.
        assert_eq!(simd_kind(Op::Abs, CalculusNumbering::Compiler), K::Abs);
        assert_eq!(simd_kind(Op::Abs, CalculusNumbering::Sheet), K::Sigmoid);
        assert!(matches!(
            simd_kind(Op::Log2, CalculusNumbering::Sheet),
            K::Unsupported(_)
        ));
    }

    /// Two blocks that both end with BLOCK_END 1 (as the public multi-layer vector does) both
    /// run, one after the other.
    #[test]
    fn every_block_runs_even_after_is_end() {
        let mut p = tiny_program(1);
        p.instrs.extend(tiny_program(1).instrs);
        let r = Simulator::new(NpuConfig::default(), tiny_dram(1))
            .run(&p)
            .unwrap();
        assert_eq!((r.blocks, r.systolic_tiles, r.cycles), (2, 2, 2 * 67));
    }

    /// Block 1 = the one-tile program plus `SET_BASE_ADDR IMEM` + `LD_ST LD IMEM` of block 2's
    /// 23 words: 25 instructions, fetch ceil(25·32/512) = 2 + decode 25 = 27; the prefetch
    /// (ceil(23·32/512) = 2 cycles) runs beside the tile's 4 + 34 + 4 = 42 cycles, so block 1
    /// ends at 69. Block 2 is already in IMEM: decode 23 + 42 = 134 (fetching it again after
    /// block 1, and the prefetch serialised after the tile, gave 138).
    #[test]
    fn prefetched_block_skips_its_fetch_and_the_prefetch_overlaps_execution() {
        let mut p = tiny_program(1);
        let prefetch = Program::parse_asm(
            "SET_BASE_ADDR LOW, IMEM, IBUF, 0, 0\nLD_ST LD, IMEM, IBUF, 0, 23\n",
        )
        .unwrap();
        p.instrs.splice(1..1, prefetch.instrs);
        p.instrs[0].args[5] += 2; // SYNC START counts the group's instructions
        let first_block = p.instrs.len() as u64;
        p.instrs.extend(tiny_program(1).instrs);
        let r = Simulator::new(NpuConfig::default(), tiny_dram(1))
            .run(&p)
            .unwrap();
        assert_eq!(first_block, 25);
        assert_eq!((r.blocks, r.systolic_tiles, r.cycles), (2, 2, 134));
        // Only block 1 is fetched; block 2's words come once, through the prefetch.
        assert_eq!(r.busy("dram.instr"), 2 + 2);
        assert_eq!(r.busy("decode"), 25 + 23);
    }

    #[test]
    fn illegal_opcode_traps_at_its_index() {
        let mut words = tiny_program(1).words().unwrap();
        words[5] = 0xF000_0000;
        let mut sim = Simulator::new(NpuConfig::default(), tiny_dram(1));
        let t = sim.run_words(&words).unwrap_err();
        assert_eq!(t.index, 5);
        assert!(matches!(t.reason, TrapReason::Illegal(_)), "{t}");
    }

    #[test]
    fn buffer_overflow_traps_at_the_transfer() {
        // IBUF of 2 rows cannot take the 4-row tile loaded by instruction 12.
        let cfg = NpuConfig {
            ibuf_depth: 2,
            ..NpuConfig::default()
        };
        let mut sim = Simulator::new(cfg, tiny_dram(1));
        let t = sim.run(&tiny_program(1)).unwrap_err();
        assert_eq!(t.index, 12);
        assert_eq!(
            t.reason,
            TrapReason::BufferOverflow {
                buffer: "IBUF",
                row: 3,
                depth: 2
            }
        );
        assert!(
            t.to_string().contains("LD_ST LD, BUFFER, IBUF, 14, 4"),
            "{t}"
        );
    }

    #[test]
    fn out_of_range_dram_traps_at_the_transfer() {
        // DRAM of 4 KiB: the WBUF base 4096 (instruction 9's transfer) is outside it.
        let cfg = NpuConfig {
            dram_bytes: 4096,
            ..NpuConfig::default()
        };
        let mut d = Dram::new(4096);
        d.write_elements(0, &[1; 64], 1).unwrap();
        let mut sim = Simulator::new(cfg, d);
        let t = sim.run(&tiny_program(1)).unwrap_err();
        assert_eq!(t.index, 9);
        assert!(
            matches!(
                t.reason,
                TrapReason::Dram(DramError {
                    addr: 4096,
                    len: 256,
                    ..
                })
            ),
            "{t}"
        );
    }

    #[test]
    fn compute_row_out_of_range_traps() {
        // The 4th compute step reads and writes OBUF row 3 of 3; compute faults are reported
        // at the group's SYNC_INST END EXEC (index 21), where the group executes.
        let cfg = NpuConfig {
            obuf_depth: 3,
            ..NpuConfig::default()
        };
        let mut sim = Simulator::new(cfg, tiny_dram(1));
        let t = sim.run(&tiny_program(1)).unwrap_err();
        assert_eq!(t.index, 21);
        assert_eq!(
            t.reason,
            TrapReason::BufferOverflow {
                buffer: "OBUF",
                row: 3,
                depth: 3
            }
        );
    }

    #[test]
    fn missing_block_end_is_malformed() {
        let mut p = tiny_program(1);
        p.instrs.pop();
        let t = Simulator::new(NpuConfig::default(), tiny_dram(1))
            .run(&p)
            .unwrap_err();
        assert!(matches!(t.reason, TrapReason::Malformed(_)));
    }
}
