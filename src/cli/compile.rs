//! `loomap compile`: one layer + one mapping -> a GeneSys program (`*_binary.txt` format, one
//! 32-bit word per line) and a side file `<out>.toml` recording the layer, the mapping and
//! the DRAM layout, read back by `loomap simulate --program`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use loomap::io;
use loomap::npu::compile::{self, CompileOptions, ROLE_NAMES};

#[derive(clap::Args)]
pub struct Args {
    /// GeneSys architecture (arch/genesys_*.toml).
    #[arg(long)]
    arch: PathBuf,
    /// Workload file (workloads/*.toml).
    #[arg(long)]
    workload: PathBuf,
    /// Layer name; may be omitted when the workload has one layer.
    #[arg(long)]
    layer: Option<String>,
    /// Mapping file (e.g. written by `loomap search --out`).
    #[arg(long)]
    mapping: PathBuf,
    /// Fuse a ReLU on the SIMD unit before the output leaves.
    #[arg(long)]
    relu: bool,
    /// Program file (binary text, one word per line); `<out>.toml` is written beside it.
    #[arg(long)]
    out: PathBuf,
    /// Also write the program as assembly.
    #[arg(long)]
    asm: Option<PathBuf>,
}

/// The side file: everything `simulate --program` needs besides arch and workload.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct SideFile {
    pub layer: String,
    pub relu: bool,
    pub arch: String,
    /// The mapping, in loomap's mapping TOML.
    pub mapping: String,
    pub layout: LayoutToml,
}

#[derive(serde::Serialize, serde::Deserialize, PartialEq, Eq, Debug)]
pub struct LayoutToml {
    pub input_base: u64,
    pub weight_base: u64,
    pub bias_base: u64,
    pub output_base: u64,
    pub input_shape_nhwc_padded: [u64; 4],
    pub output_shape_nhwc_padded: [u64; 4],
    pub weight_tile_bytes: u64,
    pub end: u64,
}

impl LayoutToml {
    pub fn of(c: &compile::Compiled) -> LayoutToml {
        let l = &c.layout;
        let b = &c.dims.bound;
        LayoutToml {
            input_base: l.input_base,
            weight_base: l.weight_base,
            bias_base: l.bias_base,
            output_base: l.output_base,
            input_shape_nhwc_padded: [b[compile::N], l.ih, l.iw, l.c_pad],
            output_shape_nhwc_padded: [b[compile::N], b[compile::OH], b[compile::OW], l.k_pad],
            weight_tile_bytes: l.weight_tile_bytes,
            end: l.end,
        }
    }
}

pub fn side_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".toml");
    PathBuf::from(s)
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let arch = io::load_arch(&a.arch)?;
    let workload = io::load_workload(&a.workload)?;
    let layer = io::select_layer(&workload, a.layer.as_deref(), &a.workload)?;
    let mapping = io::load_mapping(&a.mapping, &arch, &layer.problem)?;
    let c = compile::compile(
        &arch,
        &layer.problem,
        &mapping,
        CompileOptions { fuse_relu: a.relu },
    )
    .with_context(|| format!("{}: layer `{}`", a.mapping.display(), layer.name))?;
    let binary = c.program.to_binary()?;
    std::fs::write(&a.out, binary).with_context(|| format!("cannot write {}", a.out.display()))?;
    let side = SideFile {
        layer: layer.name.clone(),
        relu: a.relu,
        arch: arch.name.clone(),
        mapping: std::fs::read_to_string(&a.mapping)?,
        layout: LayoutToml::of(&c),
    };
    let side_file = side_path(&a.out);
    std::fs::write(&side_file, toml::to_string(&side)?)
        .with_context(|| format!("cannot write {}", side_file.display()))?;
    if let Some(p) = &a.asm {
        std::fs::write(p, c.program.to_asm())
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    let order: Vec<String> = c
        .summary
        .tile_order
        .iter()
        .map(|&(r, t)| format!("{}{}", ROLE_NAMES[r], t))
        .collect();
    let tile: Vec<String> = (0..7)
        .map(|r| format!("{}{}", ROLE_NAMES[r], c.summary.tile[r]))
        .collect();
    println!(
        "compiled layer `{}` for {}: {} instructions -> {} (+ {})",
        layer.name,
        arch.name,
        c.summary.instructions,
        a.out.display(),
        side_file.display()
    );
    println!("  DRAM tile loops (outer -> inner): {}", order.join(" "));
    println!(
        "  on-chip tile: {}; {} array steps per tile",
        tile.join(" "),
        c.summary.steps_per_tile
    );
    Ok(ExitCode::SUCCESS)
}
