//! GeneSys NPU back end: ISA, cycle-level simulator and test-vector runner.
//!
//! GeneSys (actlab-genesys) is an open DNN accelerator: an N×M weight-stationary systolic array
//! (input channels on rows, output channels on columns) fed from IBUF/WBUF/BBUF and
//! accumulating into OBUF, plus an M-lane SIMD vector unit ("Tandem processor") working on
//! OBUF/VMEM1/VMEM2/IMM through iterator tables, all driven by 32-bit instructions that
//! configure hardware loop nests and DRAM address walkers (see
//! `../shared/reference/genesys/GENESYS.md`).
//!
//! Modelled: every instruction of the public ISA table ([`isa`]); the functional state
//! (sparse DRAM image, all on-chip buffers with configured depths and widths, systolic math
//! with the product/PE/accumulator widths, SIMD integer and fixed-point ops, loops, iterators,
//! walkers); a cycle model with double-buffered loads, systolic fill/drain, the OBUF hand-off to
//! the SIMD, per-channel DRAM bandwidth and per-unit utilization ([`sim`], docs/npu.md).
//! Not modelled: the permutation engine, floating-point SIMD types, DRAM latency and bank
//! conflicts. This module never uses `model`: it is an independent check of the cost model.

pub mod compile;
pub mod config;
pub mod dram;
pub mod isa;
pub mod sim;
pub mod testcase;

pub use config::{CalculusNumbering, NpuConfig};
pub use dram::Dram;
pub use isa::{Instr, Op, Program};
pub use sim::{RunReport, Simulator, Trap, TrapReason};
