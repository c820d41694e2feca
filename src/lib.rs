//! loomap: describe an accelerator (`arch`) and a layer (`workload`), choose a `mapping`,
//! and score it with an analytical, Timeloop-exact cost `model`.
//!
//! Dependency direction: `io`/`cli` → `dse` → `search` → `mapspace` → `model` → `mapping` →
//! `arch`, `workload`.
//! `report` turns model statistics into text, JSON and CSV; `plot` draws sweep results as PNG
//! or SVG from plain data. `estimate` (energy/area component library, used by `io` to fill
//! what arch files leave out) depends only on `arch`. `npu` (GeneSys ISA, simulator, test
//! vectors) uses only `arch`, so it checks the model independently.

// Index loops over parallel fixed-size arrays (levels × tensors × dims) read better than zips.
#![allow(clippy::needless_range_loop)]

pub mod arch;
pub mod dse;
pub mod estimate;
pub mod io;
pub mod mapping;
pub mod mapspace;
pub mod model;
pub mod npu;
pub mod plot;
pub mod report;
pub mod search;
pub mod workload;
