//! loomap: describe an accelerator (`arch`) and a layer (`workload`), choose a `mapping`,
//! and score it with an analytical, Timeloop-exact cost `model`.
//!
//! Dependency direction: `io`/`cli` → `search` → `mapspace` → `model` → `mapping` → `arch`,
//! `workload`.
//! `report` turns model statistics into text, JSON and CSV. `npu` (GeneSys ISA, simulator,
//! test vectors) uses only `arch`, so it checks the model independently.

// Index loops over parallel fixed-size arrays (levels × tensors × dims) read better than zips.
#![allow(clippy::needless_range_loop)]

pub mod arch;
pub mod io;
pub mod mapping;
pub mod mapspace;
pub mod model;
pub mod npu;
pub mod report;
pub mod search;
pub mod workload;
