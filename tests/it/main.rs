//! The single integration-test binary (`cargo test --test it`). One module per topic.

mod cli;
mod engines;
mod estimate;
mod imperfect;
// The oracle indexes parallel per-level/per-tensor tables by position on purpose.
mod npu;
mod npu_compile;
#[allow(clippy::needless_range_loop)]
mod oracle;
mod presets;
mod reference;
mod rl_heuristic;
mod search;
mod sweep;
