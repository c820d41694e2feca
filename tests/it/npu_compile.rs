//! GeneSys compiler (`npu::compile`): the shipped conv_relu_test reproduced from a loomap
//! mapping, and the compile -> simulate -> compare loop on searched mappings.

use std::path::{Path, PathBuf};

use loomap::io;
use loomap::npu::compile::{self, CompileOptions};
use loomap::npu::testcase::read_numbers;
use loomap::npu::{Dram, NpuConfig, Simulator};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// `../shared/reference/genesys` beside the repo, or two levels up from a worktree.
fn genesys_root() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        root.join("../shared/reference/genesys"),
        root.join("../../shared/reference/genesys"),
    ]
    .into_iter()
    .find(|p| p.is_dir())
}

#[test]
fn conv_relu_test_from_a_loomap_mapping_matches_the_golden_output() {
    let Some(root) = genesys_root() else {
        eprintln!("skipping: ../shared/reference/genesys not found");
        return;
    };
    let dir = root.join("conv_relu_test/data");
    let arch = io::load_arch(&repo("arch/genesys_16x16.toml")).unwrap();
    let wl = io::load_workload(&repo("workloads/genesys_tests.toml")).unwrap();
    let layer = wl.layer("conv_relu_test").unwrap();
    let mapping = io::load_mapping(
        &repo("mappings/genesys_conv_relu_test.toml"),
        &arch,
        &layer.problem,
    )
    .unwrap();
    let c = compile::compile(
        &arch,
        &layer.problem,
        &mapping,
        CompileOptions { fuse_relu: true },
    )
    .unwrap();
    let i8s = |f: &str| -> Vec<i8> {
        read_numbers(&dir.join(f))
            .unwrap()
            .into_iter()
            .map(|v| v as i8)
            .collect()
    };
    let input = i8s("data/data_raw.txt");
    let weights = i8s("weight/weight_raw.txt");
    let bias: Vec<i32> = read_numbers(&dir.join("bias.txt"))
        .unwrap()
        .into_iter()
        .map(|v| v as i32)
        .collect();
    let golden: Vec<i32> = read_numbers(&dir.join("out.txt"))
        .unwrap()
        .into_iter()
        .map(|v| v as i32)
        .collect();
    let mut dram = Dram::new(1 << 32);
    c.place(&mut dram, &input, &weights, &bias).unwrap();
    let mut sim = Simulator::new(NpuConfig::from_arch(&arch).unwrap(), dram);
    let report = sim.run(&c.program).unwrap();
    let out = c.read_output(&sim.dram).unwrap();
    assert_eq!(out.len(), golden.len());
    let bad = out.iter().zip(&golden).filter(|(a, b)| a != b).count();
    assert_eq!(bad, 0, "{bad} of {} outputs differ", golden.len());
    // the independent Rust reference agrees too
    let reference = compile::reference_conv(&c.dims, &input, &weights, &bias, true);
    assert_eq!(reference, golden);
    eprintln!(
        "conv_relu_test compiled: {} instructions, {} cycles",
        c.program.instrs.len(),
        report.cycles
    );
}
