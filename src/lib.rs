//! loomap: describe an accelerator (`arch`) and a layer (`workload`), choose a `mapping`,
//! and score it with an analytical, Timeloop-exact cost `model`.
//!
//! Dependency direction: `io`/`cli` → `mapspace` → `model` → `mapping` → `arch`, `workload`.
//! `report` turns model statistics into text, JSON and CSV.

pub mod arch;
pub mod io;
pub mod mapping;
pub mod mapspace;
pub mod model;
pub mod report;
pub mod workload;
