//! GeneSys compiler: one conv2d / FC / GEMM layer and a loomap mapping -> a GeneSys program,
//! its DRAM layout and a reference convolution to check it against (GENESYS.md §3).
//!
//! Lowering (docs/npu.md "Compiler"): the layer is read as a conv with the roles
//! OC, N, IC, KH, KW, OH, OW (GeneSys' loop ids 0–6); FC and GEMM are 1×1 convs
//! (GEMM M -> OH, N -> OC, K -> IC). The mapping's DRAM-level temporal factors are the tile
//! counts and their order the tile-loop order; everything below DRAM forms one on-chip tile,
//! swept by compute loops 7–13 (IC/OC in blocks of the array rows/columns). Each operand is
//! loaded right after the innermost tile loop that moves it, so a tile that an inner loop does
//! not touch stays on chip, as the cost model assumes.

use std::fmt::Write as _;

use crate::arch::Arch;
use crate::mapping::{Mapping, Spacetime};
use crate::workload::Problem;

use super::config::NpuConfig;
use super::dram::{wbuf_bank_pe, wbuf_group_slot, Dram, DramError};
use super::isa::Program;

/// Conv roles, numbered as GeneSys' tile-loop ids (§3.1 default order OC, N, IC, KH, KW, OH, OW).
pub const OC: usize = 0;
pub const N: usize = 1;
pub const IC: usize = 2;
pub const KH: usize = 3;
pub const KW: usize = 4;
pub const OH: usize = 5;
pub const OW: usize = 6;
pub const ROLE_NAMES: [&str; 7] = ["OC", "N", "IC", "KH", "KW", "OH", "OW"];

const BUF_WBUF: usize = 0;
const BUF_IBUF: usize = 1;
const BUF_OBUF: usize = 2;
const BUF_BBUF: usize = 3;
const BUF_NAMES: [&str; 4] = ["WBUF", "IBUF", "OBUF", "BBUF"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("layer `{layer}` cannot be compiled for GeneSys: {reason}")]
    Layer { layer: String, reason: String },
    #[error("mapping cannot be compiled for GeneSys: {0}")]
    Mapping(String),
    #[error("the architecture is not a GeneSys design point: {0}")]
    Arch(String),
    #[error("{what} = {value} does not fit the {bits}-bit field of the instruction ({hint})")]
    Field {
        what: String,
        value: u64,
        bits: u32,
        hint: &'static str,
    },
    #[error(
        "{buffer} tile needs {rows} rows but the buffer has {depth} (choose smaller on-chip tiles)"
    )]
    Capacity {
        buffer: &'static str,
        rows: u64,
        depth: u64,
    },
    #[error("internal compiler error: {0}")]
    Internal(String),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileOptions {
    /// ReLU on the SIMD unit before the output leaves (GeneSys `conv_bias_relu`).
    pub fuse_relu: bool,
}

/// The layer as a convolution (GEMM/FC lowered to 1×1). Bounds indexed by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvDims {
    pub bound: [u64; 7],
    pub stride: [u64; 2],
    pub dilation: [u64; 2],
    /// Problem dimension id of each role (`None`: absent, bound 1).
    pub dim_of_role: [Option<usize>; 7],
    /// A grouped (e.g. depthwise) conv: the N role runs over the channel groups (G) and,
    /// unlike a batch, every group has its own weights and bias. `bound[IC]`/`bound[OC]` are
    /// the channels of one group.
    pub grouped: bool,
}

impl ConvDims {
    /// Input height/width the output needs (the DRAM image holds the padded input).
    pub fn input_hw(&self) -> [u64; 2] {
        [
            (self.bound[OH] - 1) * self.stride[0] + (self.bound[KH] - 1) * self.dilation[0] + 1,
            (self.bound[OW] - 1) * self.stride[1] + (self.bound[KW] - 1) * self.dilation[1] + 1,
        ]
    }

    /// Reads a loomap problem (conv from `LayerShape::Conv`, GEMM from `LayerShape::Matmul`).
    pub fn from_problem(p: &Problem) -> Result<ConvDims, CompileError> {
        let bad = |reason: String| CompileError::Layer {
            layer: p.name.clone(),
            reason,
        };
        let dim = |name: &str| p.dim_id(name);
        let names: Vec<&str> = p.tensors.iter().map(|t| t.name.as_str()).collect();
        let mut dim_of_role = [None; 7];
        let mut stride = [1, 1];
        let mut dilation = [1, 1];
        let mut grouped = false;
        if names == ["Weights", "Inputs", "Outputs"] {
            // GeneSys' array adds up every column over all the input channels on its rows, so
            // groups cannot share one pass; they run one after another as the N (batch) tile
            // loop, whose WBUF and BBUF load strides then step to the next group's weights.
            let groups = dim("G").filter(|&g| p.bounds[g] > 1);
            let batch = dim("N").map_or(1, |d| p.bounds[d]);
            if let Some(g) = groups {
                if batch > 1 {
                    return Err(bad(format!(
                        "grouped/depthwise convolution ({} groups) with batch {batch}: the groups \
                         run as GeneSys' batch (N) loop, so there is none left for the batch; \
                         hint: compile one batch at a time",
                        p.bounds[g]
                    )));
                }
                grouped = true;
            }
            for (role, name) in [
                (N, "N"),
                (OC, "K"),
                (IC, "C"),
                (OH, "P"),
                (OW, "Q"),
                (KH, "R"),
                (KW, "S"),
            ] {
                dim_of_role[role] = dim(name);
            }
            if grouped {
                dim_of_role[N] = dim("G");
            }
            let inputs = 1;
            let (Some(dp), Some(dq), Some(dr), Some(ds)) = (dim("P"), dim("Q"), dim("R"), dim("S"))
            else {
                return Err(bad("a conv needs the dimensions N K C P Q R S".into()));
            };
            // Inputs rank 2 = R·wdilation + P·wstride, rank 3 = S·hdilation + Q·hstride (one
            // rank later when a G rank leads).
            let h = if p.ranks(inputs) == 5 { 3 } else { 2 };
            stride = [p.coef(inputs, h, dp), p.coef(inputs, h + 1, dq)];
            dilation = [p.coef(inputs, h, dr), p.coef(inputs, h + 1, ds)];
        } else if names == ["A", "B", "Z"] {
            if let Some(b) = dim("B") {
                if p.bounds[b] > 1 {
                    return Err(bad("batched matmul: compile one batch at a time".into()));
                }
            }
            dim_of_role[OH] = dim("M");
            dim_of_role[OC] = dim("N");
            dim_of_role[IC] = dim("K");
        } else {
            return Err(bad(format!(
                "tensors {names:?}: only conv2d/FC (Weights, Inputs, Outputs) and GEMM (A, B, Z) \
                 layers are supported"
            )));
        }
        let mut bound = [1; 7];
        for r in 0..7 {
            if let Some(d) = dim_of_role[r] {
                bound[r] = p.bounds[d];
            }
        }
        for (i, d) in p.dim_names.iter().enumerate() {
            if !dim_of_role.contains(&Some(i)) && p.bounds[i] > 1 {
                return Err(bad(format!("dimension `{d}` has no GeneSys role")));
            }
        }
        if stride.contains(&0) || dilation.contains(&0) {
            return Err(bad("stride and dilation must be at least 1".into()));
        }
        Ok(ConvDims {
            bound,
            stride,
            dilation,
            dim_of_role,
            grouped,
        })
    }
}

/// Where each operand lives in DRAM and how it is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DramLayout {
    pub input_base: u64,
    pub weight_base: u64,
    pub bias_base: u64,
    pub output_base: u64,
    /// Input `[N][IH][IW][C_pad]` int8; output `[N][OH][OW][K_pad]` int32; bias `[K_pad]` int32.
    /// A grouped conv's N is its groups: one bias `[K_pad]` and one weight image per group,
    /// back to back (`Compiled::place`).
    pub c_pad: u64,
    pub k_pad: u64,
    pub ih: u64,
    pub iw: u64,
    /// Channels per DRAM tile and the padded channels per tile (a tile's channels are padded
    /// to whole array rows/columns; padding lanes are zero).
    pub ic_tile: u64,
    pub ic_tile_pad: u64,
    pub oc_tile: u64,
    pub oc_tile_pad: u64,
    /// Weights: tiles (OC, IC, KH, KW) tile-major, each one contiguous WBUF image.
    pub kh_tile: u64,
    pub kw_tile: u64,
    pub tiles: [u64; 7],
    pub weight_tile_bytes: u64,
    pub end: u64,
}

/// Tiling summary (for printing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Tile-loop order, outermost first: (role, tiles).
    pub tile_order: Vec<(usize, u64)>,
    /// On-chip tile size per role.
    pub tile: [u64; 7],
    pub steps_per_tile: u64,
    pub instructions: usize,
}

#[derive(Debug, Clone)]
pub struct Compiled {
    pub program: Program,
    pub dims: ConvDims,
    pub layout: DramLayout,
    pub summary: Summary,
    pub fuse_relu: bool,
    /// Array rows and columns, and the WBUF fill interleave of the design point.
    pub array: (u64, u64),
    pub interleave: usize,
}

fn field(
    what: impl Into<String>,
    value: u64,
    bits: u32,
    hint: &'static str,
) -> Result<u64, CompileError> {
    if value >= 1u64 << bits {
        return Err(CompileError::Field {
            what: what.into(),
            value,
            bits,
            hint,
        });
    }
    Ok(value)
}

/// Assembly emitter with the field-range checks the ISA needs.
struct Asm {
    text: String,
    lines: usize,
}

impl Asm {
    fn line(&mut self, s: String) {
        self.text.push_str(&s);
        self.text.push('\n');
        self.lines += 1;
    }
    fn loop_cfg(&mut self, id: usize, trips: u64) -> Result<(), CompileError> {
        let it = field(
            format!("trip count of loop {id}"),
            trips - 1,
            16,
            "use more DRAM tiles",
        )?;
        self.line(format!("SA_LOOP_CFG 0, {id}, {it}"));
        Ok(())
    }
    fn stride(&mut self, access: &str, buf: usize, id: usize, v: u64) -> Result<(), CompileError> {
        let v = field(
            format!("{access} stride of {} loop {id}", BUF_NAMES[buf]),
            v,
            32,
            "the layer is too large for 32-bit addresses",
        )?;
        let name = BUF_NAMES[buf];
        self.line(format!(
            "SET_LOOP_STRIDE LOW, {access}, {name}, {id}, {}",
            v & 0xFFFF
        ));
        self.line(format!(
            "SET_LOOP_STRIDE HIGH, {access}, {name}, {id}, {}",
            v >> 16
        ));
        Ok(())
    }
}

/// Contiguous-run walker: dims (trips, full extent, byte stride) outermost first and the
/// innermost contiguous run in bytes; merges inner dims that are whole while the request
/// (bytes per bank) fits 16 bits. Returns (walker loops, request bytes).
fn walker(
    dims: &[(u64, u64, u64)],
    run: u64,
    full_run: bool,
    banks: u64,
) -> (Vec<(u64, u64)>, u64) {
    let mut run = run;
    let mut whole = full_run;
    let mut loops: Vec<(u64, u64)> = dims.iter().map(|&(t, _, s)| (t, s)).collect();
    let mut k = dims.len();
    while whole && k > 0 {
        let (trips, full, _) = dims[k - 1];
        if (run * trips) / banks >= 1 << 16 {
            break;
        }
        run *= trips;
        whole = trips == full;
        loops.pop();
        k -= 1;
    }
    (loops, run)
}

/// Compiles one layer with one mapping for the GeneSys design point in `arch`.
pub fn compile(
    arch: &Arch,
    problem: &Problem,
    mapping: &Mapping,
    opts: CompileOptions,
) -> Result<Compiled, CompileError> {
    let cfg = NpuConfig::from_arch(arch).map_err(|e| CompileError::Arch(e.to_string()))?;
    let dims = ConvDims::from_problem(problem)?;
    // The lowering walks DRAM tiles of equal size; a padded last tile has no lowering yet.
    for d in 0..problem.num_dims() {
        let (product, _) = mapping.nest.extent(d);
        if product != problem.bounds[d] {
            return Err(CompileError::Mapping(format!(
                "imperfect factorization of {} ({} covers {}): the GeneSys lowering needs tiles that divide every dimension; search without --imperfect",
                problem.dim_names[d], product, problem.bounds[d]
            )));
        }
    }
    let (an, am) = (cfg.array_n as u64, cfg.array_m as u64);
    let role_of_dim = |d: usize| dims.dim_of_role.iter().position(|&x| x == Some(d));

    // DRAM level = outermost level: its temporal loops are the tile loops.
    let dram = arch.levels.len() - 1;
    let mut tiles = [1u64; 7];
    let mut order: Vec<usize> = Vec::new(); // roles, innermost first
    for (level, _) in arch.levels.iter().enumerate() {
        for l in mapping.nest.level_loops(level) {
            if l.bound == 1 {
                continue; // e.g. the N of a grouped conv, whose role the groups take
            }
            let role = role_of_dim(l.dim).ok_or_else(|| {
                CompileError::Mapping(format!(
                    "dimension {} has no GeneSys role",
                    problem.dim_names[l.dim]
                ))
            })?;
            match l.space {
                Spacetime::SpatialX if role != OC => {
                    return Err(CompileError::Mapping(format!(
                        "spatial factor of {} on X at {}: GeneSys maps only output channels (K) on the array columns",
                        problem.dim_names[l.dim], arch.levels[level].name
                    )))
                }
                Spacetime::SpatialY if role != IC => {
                    return Err(CompileError::Mapping(format!(
                        "spatial factor of {} on Y at {}: GeneSys maps only input channels (C) on the array rows",
                        problem.dim_names[l.dim], arch.levels[level].name
                    )))
                }
                Spacetime::Temporal if level == dram => {
                    tiles[role] *= l.bound;
                    order.push(role);
                }
                _ => {}
            }
        }
    }
    // Roles without a DRAM loop go outside, in GeneSys' default order.
    let mut outer_first: Vec<usize> = (0..7).filter(|r| !order.contains(r)).collect();
    outer_first.extend(order.iter().rev());
    let tile: [u64; 7] = std::array::from_fn(|r| dims.bound[r] / tiles[r]);
    if dims.grouped && tile[N] > 1 {
        return Err(CompileError::Mapping(format!(
            "{} groups per on-chip tile: the groups of a grouped conv run as DRAM tiles, one \
             group's weights at a time; put all of G at the DRAM level",
            tile[N]
        )));
    }
    // Weight and bias images per group (one for an ungrouped layer).
    let groups = if dims.grouped { dims.bound[N] } else { 1 };
    let ib = tile[IC].div_ceil(an);
    let ob = tile[OC].div_ceil(am);
    let ic_tile_pad = ib * an;
    let oc_tile_pad = ob * am;
    let c_pad = ic_tile_pad * tiles[IC];
    let k_pad = oc_tile_pad * tiles[OC];
    let [ih, iw] = dims.input_hw();
    let (sh, sw) = (dims.stride[0], dims.stride[1]);
    let (dh, dw) = (dims.dilation[0], dims.dilation[1]);
    let t_ih = (tile[OH] - 1) * sh + (tile[KH] - 1) * dh + 1;
    let t_iw = (tile[OW] - 1) * sw + (tile[KW] - 1) * dw + 1;

    // On-chip capacity (the simulator fills every buffer from row 0).
    let need = [
        (BUF_IBUF, tile[N] * t_ih * t_iw * ib, cfg.ibuf_depth),
        (BUF_WBUF, tile[KH] * tile[KW] * ib * ob, cfg.wbuf_depth),
        (BUF_OBUF, tile[N] * tile[OH] * tile[OW] * ob, cfg.obuf_depth),
        (BUF_BBUF, ob, cfg.bbuf_depth),
    ];
    for (b, rows, depth) in need {
        if rows > depth as u64 {
            return Err(CompileError::Capacity {
                buffer: BUF_NAMES[b],
                rows,
                depth: depth as u64,
            });
        }
    }
    if opts.fuse_relu {
        let rows = tile[N] * tile[OH] * tile[OW] * ob;
        if rows > cfg.vmem_depth as u64 {
            return Err(CompileError::Capacity {
                buffer: "VMEM2",
                rows,
                depth: cfg.vmem_depth as u64,
            });
        }
    }

    // DRAM layout.
    let align = |x: u64| x.div_ceil(4096) * 4096;
    let input_bytes = dims.bound[N] * ih * iw * c_pad;
    let weight_tile_bytes = tile[KH] * tile[KW] * ib * ob * an * am;
    let group_weight_bytes = weight_tile_bytes * tiles[OC] * tiles[IC] * tiles[KH] * tiles[KW];
    let input_base = 0;
    let weight_base = align(input_base + input_bytes);
    let bias_base = align(weight_base + group_weight_bytes * groups);
    let output_base = align(bias_base + k_pad * 4 * groups);
    let output_bytes = dims.bound[N] * dims.bound[OH] * dims.bound[OW] * k_pad * 4;
    let end = output_base + output_bytes;
    field(
        "DRAM image size",
        end,
        32,
        "the layer does not fit GeneSys' 32-bit DRAM addresses",
    )?;
    let layout = DramLayout {
        input_base,
        weight_base,
        bias_base,
        output_base,
        c_pad,
        k_pad,
        ih,
        iw,
        ic_tile: tile[IC],
        ic_tile_pad,
        oc_tile: tile[OC],
        oc_tile_pad,
        kh_tile: tile[KH],
        kw_tile: tile[KW],
        tiles,
        weight_tile_bytes,
        end,
    };

    // DRAM byte strides of one tile step, per role: [WBUF, IBUF, OBUF, BBUF].
    let row_in = iw * c_pad;
    let img_in = ih * row_in;
    let row_out = dims.bound[OW] * k_pad * 4;
    let img_out = dims.bound[OH] * row_out;
    let w_kw = weight_tile_bytes;
    let w_kh = w_kw * tiles[KW];
    let w_ic = w_kh * tiles[KH];
    let w_oc = w_ic * tiles[IC];
    let mut tile_stride = [[0u64; 4]; 7];
    tile_stride[OC] = [w_oc, 0, oc_tile_pad * 4, oc_tile_pad * 4];
    tile_stride[N] = if dims.grouped {
        [w_oc * tiles[OC], img_in, img_out, k_pad * 4]
    } else {
        [0, img_in, img_out, 0]
    };
    tile_stride[IC] = [w_ic, ic_tile_pad, 0, 0];
    tile_stride[KH] = [w_kh, tile[KH] * dh * row_in, 0, 0];
    tile_stride[KW] = [w_kw, tile[KW] * dw * c_pad, 0, 0];
    tile_stride[OH] = [0, tile[OH] * sh * row_in, tile[OH] * row_out, 0];
    tile_stride[OW] = [0, tile[OW] * sw * c_pad, tile[OW] * k_pad * 4, 0];

    // Depth (number of tile loops above) at which each operand moves.
    let pos_of = |r: usize| outer_first.iter().position(|&x| x == r).unwrap_or(0);
    let depth_for = |roles: &[usize]| {
        roles
            .iter()
            .filter(|&&r| tiles[r] > 1)
            .map(|&r| pos_of(r) + 1)
            .max()
            .unwrap_or(0)
    };
    let (d_wbuf, d_bbuf) = if dims.grouped {
        (depth_for(&[N, OC, IC, KH, KW]), depth_for(&[N, OC]))
    } else {
        (depth_for(&[OC, IC, KH, KW]), depth_for(&[OC]))
    };
    let d_ibuf = depth_for(&[N, IC, KH, KW, OH, OW]);
    let d_out = depth_for(&[N, OC, OH, OW]);
    let reduction = [IC, KH, KW];
    let partial_sums = reduction.iter().any(|&r| tiles[r] > 1 && pos_of(r) < d_out);
    if opts.fuse_relu && partial_sums {
        return Err(CompileError::Mapping(
            "fused ReLU needs every split reduction tile loop (C, R, S) inside the output tile \
             loops at DRAM, so each output tile is final when the SIMD reads it"
                .into(),
        ));
    }

    let mut a = Asm {
        text: String::new(),
        lines: 0,
    };
    for b in [BUF_WBUF, BUF_BBUF, BUF_IBUF, BUF_OBUF] {
        let base = [weight_base, input_base, output_base, bias_base][b];
        a.line(format!(
            "SET_BASE_ADDR LOW, BUFFER, {}, 0, {}",
            BUF_NAMES[b],
            base & 0xFFFF
        ));
        a.line(format!(
            "SET_BASE_ADDR HIGH, BUFFER, {}, 0, {}",
            BUF_NAMES[b],
            base >> 16
        ));
    }
    // OBUF walker over (N, OH, OW) of the output tile, run = one pixel's OC tile (or more).
    let obuf_walk = || {
        walker(
            &[
                (tile[N], dims.bound[N], img_out),
                (tile[OH], dims.bound[OH], row_out),
                (tile[OW], dims.bound[OW], k_pad * 4),
            ],
            oc_tile_pad * 4,
            oc_tile_pad == k_pad,
            am,
        )
    };
    let obuf_request = || obuf_walk().1 / am;
    let emit_obuf_walker = |a: &mut Asm, access: &str, id0: usize| -> Result<(), CompileError> {
        let (loops, run) = obuf_walk();
        field("OBUF request", run / am, 16, "output tile rows too wide")?;
        for (i, &(t, s)) in loops.iter().enumerate() {
            a.loop_cfg(id0 + i, t)?;
            a.stride(access, BUF_OBUF, id0 + i, s)?;
        }
        Ok(())
    };
    let emit_transfers = |a: &mut Asm, depth: usize| -> Result<(), CompileError> {
        if d_bbuf == depth {
            // bias: one contiguous run of the OC tile
            a.loop_cfg(28, 1)?;
            a.stride("LD", BUF_BBUF, 28, 0)?;
            let req = field(
                "BBUF request",
                oc_tile_pad * 4 / am,
                16,
                "OC tile too large",
            )?;
            a.line(format!("LD_ST LD, BUFFER, BBUF, 28, {req}"));
        }
        if d_wbuf == depth {
            let rows = weight_tile_bytes / (an * am);
            let mut pieces = 1;
            while rows / pieces >= 1 << 16 || !rows.is_multiple_of(pieces) {
                pieces += 1;
            }
            a.loop_cfg(20, pieces)?;
            a.stride("LD", BUF_WBUF, 20, weight_tile_bytes / pieces)?;
            a.line(format!("LD_ST LD, BUFFER, WBUF, 20, {}", rows / pieces));
        }
        if d_out == depth && partial_sums {
            emit_obuf_walker(a, "LD", 24)?;
            a.line(format!("LD_ST LD, BUFFER, OBUF, 27, {}", obuf_request()));
        }
        if d_ibuf == depth {
            let (loops, run) = walker(
                &[
                    (tile[N], dims.bound[N], img_in),
                    (t_ih, ih, row_in),
                    (t_iw, iw, c_pad),
                ],
                ic_tile_pad,
                ic_tile_pad == c_pad,
                an,
            );
            for (i, &(t, s)) in loops.iter().enumerate() {
                a.loop_cfg(14 + i, t)?;
                a.stride("LD", BUF_IBUF, 14 + i, s)?;
            }
            let req = field("IBUF request", run / an, 16, "input tile rows too wide")?;
            a.line(format!("LD_ST LD, BUFFER, IBUF, 17, {req}"));
        }
        if d_out == depth && !opts.fuse_relu {
            emit_obuf_walker(a, "ST", 29)?;
            a.line(format!("LD_ST ST, BUFFER, OBUF, 32, {}", obuf_request()));
        }
        Ok(())
    };
    for (pos, &r) in outer_first.iter().enumerate() {
        emit_transfers(&mut a, pos)?;
        a.loop_cfg(r, tiles[r])?;
        if reduction.contains(&r) {
            a.line(format!("SA_REDUCTION_LOOP 32, {r}, OUTER, {}", red_name(r)));
        }
        for b in 0..4 {
            a.stride("LD", b, r, tile_stride[r][b])?;
        }
        a.stride("ST", BUF_OBUF, r, tile_stride[r][BUF_OBUF])?;
    }
    emit_transfers(&mut a, 7)?;

    // Compute loops (ids 7–13), rows per step: [IBUF, WBUF, BBUF, OBUF rd/wr].
    let trips: [u64; 7] = std::array::from_fn(|r| match r {
        IC => ib,
        OC => ob,
        _ => tile[r],
    });
    let mut rows = [[0u64; 4]; 7];
    rows[OC] = [0, 1, 1, 1];
    rows[N] = [t_ih * t_iw * ib, 0, 0, tile[OH] * tile[OW] * ob];
    rows[IC] = [1, ob, 0, 0];
    rows[KH] = [dh * t_iw * ib, tile[KW] * ib * ob, 0, 0];
    rows[KW] = [dw * ib, ib * ob, 0, 0];
    rows[OH] = [sh * t_iw * ib, 0, 0, tile[OW] * ob];
    rows[OW] = [sw * ib, 0, 0, ob];
    for r in 0..7 {
        let id = 7 + r;
        a.loop_cfg(id, trips[r])?;
        if reduction.contains(&r) {
            a.line(format!("SA_REDUCTION_LOOP 32, {r}, INNER, {}", red_name(r)));
        }
        let [ri, rw, rb, ro] = rows[r];
        a.stride("RD", BUF_IBUF, id, ri)?;
        a.stride("RD", BUF_WBUF, id, rw)?;
        a.stride("RD", BUF_BBUF, id, rb)?;
        a.stride("RD", BUF_OBUF, id, ro)?;
        a.stride("WR", BUF_OBUF, id, ro)?;
    }
    let sa_body = std::mem::take(&mut a.text);
    let sa_count = a.lines;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "SYNC_INST SYSTOLIC_ARRAY, START, EXEC, 0, 0, {sa_count}"
    );
    text.push_str(&sa_body);
    text.push_str("SYNC_INST SYSTOLIC_ARRAY, END, EXEC, 0, 0, 0\n");

    if opts.fuse_relu {
        let simd = simd_relu(
            &dims,
            &tile,
            &outer_first,
            &tiles,
            &tile_stride,
            ob,
            output_base,
            am,
            oc_tile_pad,
            k_pad,
        )?;
        let count = simd.lines().count();
        let _ = writeln!(text, "SYNC_INST SIMD, START, EXEC, 0, 0, {count}");
        text.push_str(&simd);
        text.push_str("SYNC_INST SIMD, END, EXEC, 0, 0, 0\n");
    }
    text.push_str("BLOCK_END 1\n");
    let program = Program::parse_asm(&text).map_err(|e| CompileError::Internal(e.to_string()))?;
    let steps_per_tile = trips.iter().product();
    Ok(Compiled {
        summary: Summary {
            tile_order: outer_first.iter().map(|&r| (r, tiles[r])).collect(),
            tile,
            steps_per_tile,
            instructions: program.instrs.len(),
        },
        program,
        dims,
        layout,
        fuse_relu: opts.fuse_relu,
        array: (an, am),
        interleave: cfg.wbuf_interleave(),
    })
}

fn red_name(role: usize) -> &'static str {
    match role {
        KH => "KH",
        KW => "KW",
        _ => "IC",
    }
}

/// SIMD epilogue: ReLU over the finished OBUF tile into VMEM2, then store it to DRAM (as the
/// GeneSys compiler's `conv_bias_relu`, GENESYS.md §3.2 item 5, §3.6).
#[allow(clippy::too_many_arguments)]
fn simd_relu(
    dims: &ConvDims,
    tile: &[u64; 7],
    outer_first: &[usize],
    tiles: &[u64; 7],
    tile_stride: &[[u64; 4]; 7],
    ob: u64,
    output_base: u64,
    am: u64,
    oc_tile_pad: u64,
    k_pad: u64,
) -> Result<String, CompileError> {
    let mut s = String::new();
    let mut l = |x: String| {
        s.push_str(&x);
        s.push('\n');
    };
    l("DTYPE_CFG 32FXP, 0, 0, 0".into());
    l(format!(
        "ST_CONFIG_BASE_ADDR LSB, VMEM2, 0, {}",
        output_base & 0xFFFF
    ));
    l(format!(
        "ST_CONFIG_BASE_ADDR MSB, VMEM2, 0, {}",
        output_base >> 16
    ));
    // One base iteration per output tile, in the systolic array's output-tile order.
    for &r in outer_first.iter().filter(|r| [N, OC, OH, OW].contains(r)) {
        let st = tile_stride[r][BUF_OBUF];
        l(format!(
            "ST_CONFIG_BASE_LOOP_ITER 0, VMEM2, {r}, {}",
            tiles[r] - 1
        ));
        l(format!(
            "ST_CONFIG_BASE_LOOP_STRIDE LSB, VMEM2, {r}, {}",
            st & 0xFFFF
        ));
        l(format!(
            "ST_CONFIG_BASE_LOOP_STRIDE MSB, VMEM2, {r}, {}",
            st >> 16
        ));
    }
    // Iterators in rows: OC block, N, OH, OW (the OBUF tile layout, same in VMEM2).
    let iters = [
        (ob, 1),
        (tile[N], tile[OH] * tile[OW] * ob),
        (tile[OH], tile[OW] * ob),
        (tile[OW], ob),
    ];
    for ns in ["OBUF", "VMEM2"] {
        for (i, &(_, stride)) in iters.iter().enumerate() {
            l(format!("BASE_ZEROFILL {ns}, {i}, 0"));
            l(format!("STRIDE_LOW {ns}, {i}, {}", stride & 0xFFFF));
            l(format!("STRIDE_HIGH {ns}, {i}, {}", stride >> 16));
        }
    }
    for (i, &(trips, _)) in iters.iter().enumerate() {
        field("SIMD loop trips", trips, 16, "smaller output tile")?;
        l(format!("SET_ITER {i}, 0, {trips}"));
        l(format!("SET_INDEX VMEM2, {i}, OBUF, {i}, IMM, 0"));
    }
    l("SET_INST 1, 0, 1".into());
    l("RELU VMEM2, 0, OBUF, 0, IMM, 0".into());
    l("SYNC_INST SIMD, END, BUF, 0, 0, 0".into());
    l("ST_CONFIG_TILE_ADDR LSB, VMEM2, 0, 0".into());
    l("ST_CONFIG_TILE_ADDR MSB, VMEM2, 0, 0".into());
    let row_out = dims.bound[OW] * k_pad * 4;
    let (loops, run) = walker(
        &[
            (tile[N], dims.bound[N], dims.bound[OH] * row_out),
            (tile[OH], dims.bound[OH], row_out),
            (tile[OW], dims.bound[OW], k_pad * 4),
        ],
        oc_tile_pad * 4,
        oc_tile_pad == k_pad,
        am,
    );
    for (i, &(t, st)) in loops.iter().enumerate() {
        let id = 16 + i;
        l(format!(
            "ST_CONFIG_TILE_LOOP_ITER 0, VMEM2, {id}, {}",
            t - 1
        ));
        l(format!(
            "ST_CONFIG_TILE_LOOP_STRIDE LSB, VMEM2, {id}, {}",
            st & 0xFFFF
        ));
        l(format!(
            "ST_CONFIG_TILE_LOOP_STRIDE MSB, VMEM2, {id}, {}",
            st >> 16
        ));
    }
    let req = field(
        "SIMD store request",
        run / am,
        16,
        "output tile rows too wide",
    )?;
    l(format!("ST_START 0, VMEM2, 31, {req}"));
    Ok(s)
}

impl Compiled {
    /// Writes the operands into a DRAM image: input `[N][IH][IW][C]`, weights `[KH][KW][C][K]`
    /// (GeneSys' order), bias `[K]`; lengths must match the layer. A grouped conv's N is its
    /// groups: input `[G][IH][IW][C/G]` (group-major: each group's channels are one image),
    /// weights `[G][KH][KW][C/G][K/G]`, bias `[G][K/G]`, output `[G][OH][OW][K/G]`.
    pub fn place(
        &self,
        dram: &mut Dram,
        input: &[i8],
        weights: &[i8],
        bias: &[i32],
    ) -> Result<(), DramError> {
        let d = &self.dims;
        let lay = &self.layout;
        let c = d.bound[IC];
        let ch_in = |ch: u64| (ch / lay.ic_tile) * lay.ic_tile_pad + ch % lay.ic_tile;
        let ch_out = |ch: u64| (ch / lay.oc_tile) * lay.oc_tile_pad + ch % lay.oc_tile;
        let mut img = vec![0u8; (d.bound[N] * lay.ih * lay.iw * lay.c_pad) as usize];
        for (i, &v) in input.iter().enumerate() {
            let i = i as u64;
            let pix = i / c;
            img[(pix * lay.c_pad + ch_in(i % c)) as usize] = v as u8;
        }
        dram.write(lay.input_base, &img)?;
        let k = d.bound[OC] as usize;
        let mut b = vec![0i64; lay.k_pad as usize];
        for (g, group_bias) in bias.chunks(k.max(1)).enumerate() {
            b.iter_mut().for_each(|x| *x = 0);
            for (ch, &v) in group_bias.iter().enumerate() {
                b[ch_out(ch as u64) as usize] = v as i64;
            }
            dram.write_elements(lay.bias_base + g as u64 * lay.k_pad * 4, &b, 4)?;
        }
        let per_group = (d.bound[KH] * d.bound[KW] * d.bound[IC] * d.bound[OC]) as usize;
        let mut base = lay.weight_base;
        for group_weights in weights.chunks(per_group.max(1)) {
            let image = self.weight_image(group_weights);
            dram.write(base, &image)?;
            base += image.len() as u64;
        }
        Ok(())
    }

    /// The weight tiles as the WBUF fill expects them: per tile, rows
    /// ((kh·T_KW + kw)·Ib + icb)·Ob + ocb of N·M PEs, then the inverse of the simulator's
    /// (and GeneSys') interleaved bank fill (§3.5).
    fn weight_image(&self, w: &[i8]) -> Vec<u8> {
        let d = &self.dims;
        let lay = &self.layout;
        let (kw_all, c, k) = (d.bound[KW], d.bound[IC], d.bound[OC]);
        let t = &lay.tiles;
        let (n, m) = self.array;
        let ib = lay.ic_tile_pad / n;
        let ob = lay.oc_tile_pad / m;
        let row_size = (n * m) as usize;
        let rows = (lay.kh_tile * lay.kw_tile * ib * ob) as usize;
        let il = self.interleave;
        let mut out =
            vec![0u8; lay.weight_tile_bytes as usize * (t[OC] * t[IC] * t[KH] * t[KW]) as usize];
        let mut tile_rows = vec![0i8; rows * row_size];
        let mut off = 0usize;
        for oct in 0..t[OC] {
            for ict in 0..t[IC] {
                for kht in 0..t[KH] {
                    for kwt in 0..t[KW] {
                        tile_rows.iter_mut().for_each(|x| *x = 0);
                        for kh in 0..lay.kh_tile {
                            for kw in 0..lay.kw_tile {
                                for icb in 0..ib {
                                    for ocb in 0..ob {
                                        let row = (((kh * lay.kw_tile + kw) * ib + icb) * ob + ocb)
                                            as usize;
                                        for oc in 0..m {
                                            for ic in 0..n {
                                                let oc_in = ocb * m + oc;
                                                let ic_in = icb * n + ic;
                                                if oc_in >= lay.oc_tile || ic_in >= lay.ic_tile {
                                                    continue;
                                                }
                                                let (gk, gc) = (
                                                    oct * lay.oc_tile + oc_in,
                                                    ict * lay.ic_tile + ic_in,
                                                );
                                                let (gh, gw) = (
                                                    kht * lay.kh_tile + kh,
                                                    kwt * lay.kw_tile + kw,
                                                );
                                                let src = (((gh * kw_all + gw) * c + gc) * k + gk)
                                                    as usize;
                                                tile_rows
                                                    [row * row_size + (oc * n + ic) as usize] =
                                                    w[src];
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        // inverse of the bank fill: stream byte b of a group -> (row, bank)
                        let mut row0 = 0;
                        while row0 < rows {
                            let g = il.min(rows - row0);
                            for b in 0..g * row_size {
                                let (kk, bank) = wbuf_group_slot(b, g);
                                let (ic, oc) = wbuf_bank_pe(bank, n as usize, m as usize);
                                out[off + row0 * row_size + b] =
                                    tile_rows[(row0 + kk) * row_size + oc * n as usize + ic] as u8;
                            }
                            row0 += g;
                        }
                        off += lay.weight_tile_bytes as usize;
                    }
                }
            }
        }
        out
    }
}

impl Compiled {
    /// Reads the output `[N][OH][OW][K]` back from the DRAM image.
    pub fn read_output(&self, dram: &Dram) -> Result<Vec<i32>, DramError> {
        let d = &self.dims;
        let lay = &self.layout;
        let pixels = d.bound[N] * d.bound[OH] * d.bound[OW];
        let all = dram.read_elements(lay.output_base, (pixels * lay.k_pad) as usize, 4)?;
        let k = d.bound[OC];
        let mut out = Vec::with_capacity((pixels * k) as usize);
        for p in 0..pixels {
            for ch in 0..k {
                let dch = (ch / lay.oc_tile) * lay.oc_tile_pad + ch % lay.oc_tile;
                out.push(all[(p * lay.k_pad + dch) as usize] as i32);
            }
        }
        Ok(out)
    }
}

/// Direct convolution with GeneSys' arithmetic (GENESYS.md §1.3): int8 × int8 products summed
/// with the int32 bias in a 32-bit wrapping accumulator; ReLU clamps negatives to 0.
/// Input `[N][IH][IW][C]` (already padded), weights `[KH][KW][C][K]`, output `[N][OH][OW][K]`;
/// a grouped conv's N is its groups, each with its own weights and bias (`Compiled::place`).
pub fn reference_conv(
    d: &ConvDims,
    input: &[i8],
    weights: &[i8],
    bias: &[i32],
    relu: bool,
) -> Vec<i32> {
    let [ih, iw] = d.input_hw();
    let (n, k, c) = (d.bound[N], d.bound[OC], d.bound[IC]);
    let (oh, ow, kh, kw) = (d.bound[OH], d.bound[OW], d.bound[KH], d.bound[KW]);
    let mut out = Vec::with_capacity((n * oh * ow * k) as usize);
    for b in 0..n {
        let g = if d.grouped { b } else { 0 };
        let (weights, bias) = (
            &weights[(g * kh * kw * c * k) as usize..],
            &bias[(g * k) as usize..],
        );
        for y in 0..oh {
            for x in 0..ow {
                for o in 0..k {
                    let mut acc = bias[o as usize];
                    for r in 0..kh {
                        for s in 0..kw {
                            let iy = y * d.stride[0] + r * d.dilation[0];
                            let ix = x * d.stride[1] + s * d.dilation[1];
                            let ibase = ((b * ih + iy) * iw + ix) * c;
                            let wbase = (r * kw + s) * c * k + o;
                            for ch in 0..c {
                                let p = input[(ibase + ch) as usize] as i32
                                    * weights[(wbase + ch * k) as usize] as i32;
                                acc = acc.wrapping_add(p);
                            }
                        }
                    }
                    out.push(if relu { acc.max(0) } else { acc });
                }
            }
        }
    }
    out
}

/// Seeded random operands for a layer: int8 input (padded image) and weights, int32 bias in
/// ±2^16 (so ReLU sees both signs; any int32 would be exact too, the accumulator wraps alike).
pub fn random_operands(d: &ConvDims, seed: u64) -> (Vec<i8>, Vec<i8>, Vec<i32>) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let [ih, iw] = d.input_hw();
    let n_in = d.bound[N] * ih * iw * d.bound[IC];
    let groups = if d.grouped { d.bound[N] } else { 1 };
    let n_w = d.bound[KH] * d.bound[KW] * d.bound[IC] * d.bound[OC] * groups;
    let input = (0..n_in).map(|_| rng.gen::<i8>()).collect();
    let weights = (0..n_w).map(|_| rng.gen::<i8>()).collect();
    let bias = (0..d.bound[OC] * groups)
        .map(|_| rng.gen_range(-(1 << 16)..(1 << 16)))
        .collect();
    (input, weights, bias)
}

/// Outcome of running a compiled program on random operands.
#[derive(Debug, Clone)]
pub struct Verification {
    pub compared: usize,
    pub mismatches: usize,
    /// (output index, expected, got), first 10.
    pub first_mismatches: Vec<(usize, i32, i32)>,
    pub report: super::RunReport,
}

impl Verification {
    pub fn passed(&self) -> bool {
        self.mismatches == 0
    }
}

/// Why a verification run could not complete.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("simulator trap: {0}")]
    Trap(#[from] super::Trap),
    #[error("DRAM image: {0}")]
    Dram(#[from] DramError),
}

/// Runs `program` (normally `self.program`, or one read back from a file) on seeded random
/// operands placed by this compilation's layout and compares with [`reference_conv`].
pub fn verify(
    compiled: &Compiled,
    cfg: &NpuConfig,
    program: &Program,
    seed: u64,
) -> Result<Verification, VerifyError> {
    let (input, weights, bias) = random_operands(&compiled.dims, seed);
    let mut dram = Dram::new(cfg.dram_bytes.max(compiled.layout.end));
    compiled.place(&mut dram, &input, &weights, &bias)?;
    let mut sim = super::Simulator::new(cfg.clone(), dram);
    let report = sim.run(program)?;
    let got = compiled.read_output(&sim.dram)?;
    let want = reference_conv(&compiled.dims, &input, &weights, &bias, compiled.fuse_relu);
    let mut first = Vec::new();
    let mut mismatches = 0;
    for (i, (&w, &g)) in want.iter().zip(&got).enumerate() {
        if w != g {
            mismatches += 1;
            if first.len() < 10 {
                first.push((i, w, g));
            }
        }
    }
    Ok(Verification {
        compared: want.len(),
        mismatches,
        first_mismatches: first,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{Factors, LevelSpec};
    use crate::workload::LayerShape;

    fn arch(size: u32) -> Arch {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("arch/genesys_{size}x{size}.toml"));
        crate::io::load_arch(&path).unwrap()
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(k: u64, c: u64, p: u64, r: u64, stride: u64, dilation: u64) -> Problem {
        LayerShape::Conv {
            n: 1,
            groups: 1,
            k,
            c,
            p,
            q: p,
            r,
            s: r,
            wstride: stride,
            hstride: stride,
            wdilation: dilation,
            hdilation: dilation,
        }
        .to_problem("t")
        .unwrap()
    }

    fn level(target: &str, temporal: &str, order: &str, sx: &str, sy: &str) -> LevelSpec {
        LevelSpec {
            target: target.into(),
            temporal: temporal.parse::<Factors>().unwrap(),
            order: order.chars().map(|c| c.to_string()).collect(),
            spatial_x: sx.parse::<Factors>().unwrap(),
            spatial_y: sy.parse::<Factors>().unwrap(),
            keep: None,
            bypass: Vec::new(),
        }
    }

    /// DRAM factors/order (innermost first), WBUF temporal, spatial K/C at IBUF.
    fn mapping(
        a: &Arch,
        p: &Problem,
        dram: &str,
        order: &str,
        wbuf: &str,
        sx: &str,
        sy: &str,
    ) -> Mapping {
        Mapping::from_specs(
            a,
            p,
            &[
                level("DRAM", dram, order, "", ""),
                level("IBUF", "", "", sx, sy),
                level("WBUF", wbuf, "", "", ""),
            ],
        )
        .unwrap()
    }

    fn check(a: &Arch, p: &Problem, m: &Mapping, relu: bool) -> Compiled {
        let c = compile(a, p, m, CompileOptions { fuse_relu: relu }).unwrap();
        let cfg = NpuConfig::from_arch(a).unwrap();
        for seed in 0..2 {
            let v = verify(&c, &cfg, &c.program, seed).unwrap();
            assert!(v.passed(), "{:?}", v.first_mismatches);
        }
        c
    }

    #[test]
    fn reference_conv_by_hand() {
        // 1 output channel, 2 input channels, 2×2 filter, stride 1, 3×3 input -> 2×2 output
        let p = conv(1, 2, 2, 2, 1, 1);
        let d = ConvDims::from_problem(&p).unwrap();
        assert_eq!(d.input_hw(), [3, 3]);
        let input: Vec<i8> = (0..18).map(|i| i as i8).collect(); // [h][w][c]
        let weights: Vec<i8> = vec![1, -1, 2, 0, 0, 1, -2, 3]; // [r][s][c][k=1]
        let out = reference_conv(&d, &input, &weights, &[10], false);
        // out(0,0) = 10 + (0·1 + 1·−1) + (2·2 + 3·0) + (6·0 + 7·1) + (8·−2 + 9·3) = 31
        assert_eq!(out[0], 31);
        // each output step right adds 2 to every input: Σw = 4 -> +8 per step
        assert_eq!(out[1], 39);
        assert_eq!(out[2], 31 + 3 * 8);
        let relu = reference_conv(&d, &input, &weights, &[-1000], true);
        assert!(relu.iter().all(|&v| v == 0));
        // 32-bit wrap, as the accumulator
        let w = reference_conv(&d, &input, &weights, &[i32::MAX], false);
        assert_eq!(w[0], i32::MAX.wrapping_add(21));
    }

    #[test]
    fn partial_sums_kh_tiles_strides_and_dilation_are_exact() {
        let a = arch(8);
        // IC split outside the output split: partial sums go to DRAM and come back
        let p = conv(16, 32, 6, 3, 1, 1);
        let m = mapping(&a, &p, "P2 C2 R3", "PCR", "K2 C2 P3 Q6 S3", "K8", "C8");
        let c = check(&a, &p, &m, false);
        assert!(c.program.to_asm().contains("LD_ST LD, BUFFER, OBUF"));
        // stride 2 with a K split outermost and Q split innermost
        let p = conv(16, 16, 5, 3, 2, 1);
        let m = mapping(&a, &p, "Q5 K2", "QK", "C2 P5 R3 S3", "K8", "C8");
        check(&a, &p, &m, false);
        // dilation 2, channels that do not fill the array (padded per tile)
        let p = conv(6, 5, 4, 3, 1, 2);
        let m = mapping(&a, &p, "P2", "P", "P2 Q4 R3 S3", "K6", "C5");
        check(&a, &p, &m, true);
    }

    #[allow(clippy::too_many_arguments)]
    fn grouped(groups: u64, k: u64, c: u64, p: u64, r: u64, stride: u64) -> Problem {
        LayerShape::Conv {
            n: 1,
            groups,
            k,
            c,
            p,
            q: p,
            r,
            s: r,
            wstride: stride,
            hstride: stride,
            wdilation: 1,
            hdilation: 1,
        }
        .to_problem("g")
        .unwrap()
    }

    /// Grouped convs run their groups as the N tile loop, whose WBUF/BBUF load strides step
    /// to the next group's weights and bias (docs/npu.md "Depthwise"): bit-exact against the
    /// grouped reference, with each group's own weights.
    #[test]
    fn grouped_and_depthwise_convs_compile_and_run_exactly() {
        let a = arch(8);
        // depthwise 3×3, 8 channels, 4×4 outputs: one step per MAC, one PE busy
        let dw = grouped(8, 1, 1, 4, 3, 1);
        let m = mapping(&a, &dw, "G8", "G", "P4 Q4 R3 S3", "", "");
        let c = check(&a, &dw, &m, false);
        assert!(c.dims.grouped);
        let cfg = NpuConfig::from_arch(&a).unwrap();
        let v = verify(&c, &cfg, &c.program, 7).unwrap();
        assert_eq!(v.report.systolic_steps, 8 * 4 * 4 * 3 * 3);
        assert_eq!(v.report.systolic_tiles, 8);
        // with ReLU, stride 2 and the output split inside each group
        let dw = grouped(4, 1, 1, 4, 3, 2);
        let m = mapping(&a, &dw, "P2 G4", "PG", "P2 Q4 R3 S3", "", "");
        check(&a, &dw, &m, true);
        // 2 groups of 4 -> 6 channels (neither fills the array), K split in each group
        let g = grouped(2, 6, 4, 4, 3, 1);
        let m = mapping(&a, &g, "K2 G2", "KG", "P4 Q4 R3 S3", "K3", "C4");
        check(&a, &g, &m, false);
        // a reduction split at DRAM (psums leave and come back) inside the group loop
        let g = grouped(2, 8, 16, 2, 1, 1);
        let m = mapping(&a, &g, "C2 G2", "CG", "P2 Q2", "K8", "C8");
        check(&a, &g, &m, false);
    }

    #[test]
    fn unsupported_layers_and_mappings_are_rejected_with_a_reason() {
        let a = arch(8);
        let dw = grouped(8, 1, 1, 4, 3, 1);
        // The groups may not also share an on-chip tile (one group's weights at a time).
        let m = mapping(&a, &dw, "G4", "G", "G2 P4 Q4 R3 S3", "", "");
        let e = compile(&a, &dw, &m, CompileOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 groups per on-chip tile"), "{e}");
        // Batch and groups cannot both use the N loop.
        let dw2 = LayerShape::Conv {
            n: 2,
            groups: 8,
            k: 1,
            c: 1,
            p: 4,
            q: 4,
            r: 3,
            s: 3,
            wstride: 1,
            hstride: 1,
            wdilation: 1,
            hdilation: 1,
        }
        .to_problem("dw2")
        .unwrap();
        let e = ConvDims::from_problem(&dw2).unwrap_err().to_string();
        assert!(
            e.contains("depthwise") && e.contains("one batch at a time"),
            "{e}"
        );

        let p = conv(8, 8, 4, 1, 1, 1);
        let m = mapping(&a, &p, "", "", "K8 P4", "Q4", "C8");
        let e = compile(&a, &p, &m, CompileOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("spatial factor of Q on X") && e.contains("output channels"),
            "{e}"
        );

        // fused ReLU with the reduction split outside the output split
        let p = conv(8, 16, 4, 1, 1, 1);
        let m = mapping(&a, &p, "P2 C2", "PC", "P2 Q4", "K8", "C8");
        let e = compile(&a, &p, &m, CompileOptions { fuse_relu: true })
            .unwrap_err()
            .to_string();
        assert!(e.contains("fused ReLU"), "{e}");

        // an on-chip tile larger than IBUF (8x8: 4096 rows)
        let p = conv(8, 8, 80, 1, 1, 1);
        let m = mapping(&a, &p, "", "", "P80 Q80", "K8", "C8");
        let e = compile(&a, &p, &m, CompileOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("IBUF tile needs 6400 rows"), "{e}");
    }

    #[test]
    fn walker_merges_whole_inner_dims_only() {
        // whole rows of a full-width tile merge into one request
        // (a partial outer dim still merges: its rows are consecutive; nothing beyond it does)
        let (loops, run) = walker(&[(2, 2, 640), (4, 8, 80), (10, 10, 8)], 8, true, 8);
        assert_eq!(loops, vec![(2, 640)]);
        assert_eq!(run, 320);
        // a partial channel tile stops merging at once
        let (loops, run) = walker(&[(2, 2, 1000), (3, 3, 50)], 16, false, 16);
        assert_eq!(loops.len(), 2);
        assert_eq!(run, 16);
    }
}
