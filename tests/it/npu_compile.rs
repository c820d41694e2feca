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

/// `../shared/reference/genesys`, beside the repo or above a worktree.
fn genesys_root() -> Option<PathBuf> {
    crate::reference::shared_reference("genesys")
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

fn loomap(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loomap"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn cli_compile_then_simulate_passes_detects_a_damaged_program_and_rejects_bad_input() {
    let dir = std::env::temp_dir().join(format!("loomap_compile_cli_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prog = dir.join("prog.bin");
    let prog_s = prog.to_str().unwrap();
    let common = [
        "--arch",
        "arch/genesys_16x16.toml",
        "--workload",
        "workloads/genesys_tests.toml",
    ];
    let mut args = vec!["compile"];
    args.extend(common);
    args.extend([
        "--layer",
        "conv_relu_test",
        "--mapping",
        "mappings/genesys_conv_relu_test.toml",
        "--relu",
        "--out",
        prog_s,
    ]);
    let (code, text) = loomap(&args);
    assert_eq!(code, 0, "{text}");
    let mut sim = vec!["simulate", "--program", prog_s, "--seed", "3"];
    sim.extend(common);
    let (code, text) = loomap(&sim);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("PASS") && text.contains("sim/model"),
        "{text}"
    );

    // Flip the ReLU into ABS (CALCULUS fn 0 -> 2): the check must catch it (exit 1).
    let words = std::fs::read_to_string(&prog).unwrap();
    let relu = loomap::npu::isa::encode(
        &loomap::npu::isa::assemble("RELU VMEM2, 0, OBUF, 0, IMM, 0").unwrap(),
    )
    .unwrap();
    let abs = loomap::npu::isa::encode(
        &loomap::npu::isa::assemble("ABS VMEM2, 0, OBUF, 0, IMM, 0").unwrap(),
    )
    .unwrap();
    let damaged = words.replace(&format!("{relu:032b}"), &format!("{abs:032b}"));
    assert_ne!(damaged, words);
    std::fs::write(&prog, damaged).unwrap();
    let (code, text) = loomap(&sim);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("FAIL") && text.contains("expected"), "{text}");

    // the side file records the layout for genesys_16x16: another arch is refused (exit 2)
    let (code, text) = loomap(&[
        "simulate",
        "--program",
        prog_s,
        "--arch",
        "arch/genesys_8x8.toml",
        "--workload",
        "workloads/genesys_tests.toml",
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("prog.bin.toml"), "{text}");

    // --program without --workload is a clear usage error
    let (code, text) = loomap(&["simulate", "--program", prog_s]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--workload"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The EDP-optimal mapping (exhaustive search) under the GeneSys constraints.
fn searched_mapping(
    arch: &loomap::arch::Arch,
    problem: &loomap::workload::Problem,
    size: u64,
) -> loomap::mapping::Mapping {
    use loomap::io::constraints as cio;
    use loomap::mapspace::MapSpace;
    use loomap::search::{Algo, Driver, SearchConfig};
    let gemm = problem.dim_id("M").is_some();
    let (path, extra) = if problem.dim_id("G").is_some() {
        (
            repo("arch/genesys_depthwise.constraints.toml"),
            String::new(),
        )
    } else if gemm {
        (
            repo("arch/genesys_gemm.constraints.toml"),
            format!(
                "\n[[constraint]]\ntarget = \"IBUF\"\ntype = \"spatial\"\nfactors = \"N{size} K{size}\"\n"
            ),
        )
    } else {
        (
            repo(&format!("arch/genesys_{size}x{size}.constraints.toml")),
            String::new(),
        )
    };
    let text = std::fs::read_to_string(&path).unwrap() + &extra;
    let spec = cio::parse_constraints(&text, &path).unwrap();
    let constraints = cio::resolve(&spec, &path, arch, problem).unwrap();
    let space = MapSpace::new(arch, problem, constraints).unwrap();
    let mut engine = Algo::Exhaustive.engine(&space).unwrap();
    let config = SearchConfig::new("edp".parse().unwrap());
    let result = Driver::run(&space, engine.as_mut(), &config, None);
    result
        .best
        .unwrap_or_else(|| panic!("no mapping for {} on {}", problem.name, arch.name))
        .mapping
}

/// ResNet-18-shaped convs (3×3 s1, 3×3 s2, 1×1 s2 downsample), a ResNet-50 bottleneck 1×1
/// expansion, a GEMM, an FC and a
/// MobileNetV2-shaped 3×3 depthwise conv on the 8×8,
/// 16×16 and 32×32 design points: searched mapping -> compile -> simulate on random operands;
/// every output bit-exact, and simulated cycles within 5% of the model's (docs/npu.md,
/// "Simulated vs modelled cycles").
#[test]
fn searched_mappings_compile_and_simulate_exactly_on_three_array_sizes() {
    let wl = io::load_workload(&repo("workloads/genesys_tests.toml")).unwrap();
    let mut rows = Vec::new();
    for size in [8u64, 16, 32] {
        let arch = io::load_arch(&repo(&format!("arch/genesys_{size}x{size}.toml"))).unwrap();
        let cfg = NpuConfig::from_arch(&arch).unwrap();
        for name in [
            "r18_3x3_s1",
            "r18_3x3_s2",
            "r18_1x1_down",
            "r50_1x1_expand",
            "gemm",
            "fc",
            "dw_3x3_s1",
        ] {
            let layer = wl.layer(name).unwrap();
            let mapping = searched_mapping(&arch, &layer.problem, size);
            let c = compile::compile(&arch, &layer.problem, &mapping, CompileOptions::default())
                .unwrap_or_else(|e| panic!("{name} on {}: {e}", arch.name));
            let v = compile::verify(&c, &cfg, &c.program, size).unwrap();
            assert!(
                v.passed(),
                "{name} on {}: {} of {} differ, first {:?}",
                arch.name,
                v.mismatches,
                v.compared,
                v.first_mismatches
            );
            let mut stats = loomap::model::Stats::default();
            let model = loomap::model::evaluate_into(&arch, &layer.problem, &mapping, &mut stats)
                .unwrap()
                .cycles;
            let ratio = v.report.cycles as f64 / model as f64;
            rows.push((
                size,
                name,
                v.report.cycles,
                model,
                stats.exposed_cycles,
                ratio,
            ));
        }
    }
    for (size, name, sim, model, exposed, ratio) in &rows {
        eprintln!(
            "{size}x{size} {name:14} sim {sim:8} model {model:8} (exposed fill/drain {exposed:5}) ratio {ratio:.3}"
        );
    }
    for &(size, name, sim, model, _, ratio) in &rows {
        // The model leaves out the bias loads and the few instructions each DRAM tile loop
        // adds to the program, so it never exceeds the simulation; everything else it charges
        // (program fetch/decode, systolic fill/drain per tile, the first tile's loads and the
        // last tile's store that double buffering cannot hide, the slowest stage in between).
        assert!(
            sim >= model,
            "{size}x{size} {name}: sim {sim} < model {model}"
        );
        // The issue asks for 10% with 5% as the target; every pair meets the target.
        assert!(ratio <= 1.05, "{size}x{size} {name}: ratio {ratio:.3}");
    }
}

/// SCALE-Sim v3 (32×32, weight stationary, CALC = zero-stall bandwidth) vs the simulator's
/// systolic busy cycles for the same ResNet-18 layers on genesys_32x32 (exhaustive EDP
/// mapping). Both fold C onto 32 rows and K onto 32 columns, so the MAC steps agree exactly;
/// the difference is pipeline overhead: SCALE-Sim pays ~2·rows+cols per fold (weight preload,
/// skew, drain), GeneSys (N−1)+(M−1) per DRAM tile with weights read from per-PE WBUF banks.
#[test]
fn scalesim_weight_stationary_compute_cycles_cross_check() {
    let Some(root) = genesys_root() else {
        eprintln!("skipping: ../shared/reference not found");
        return;
    };
    let csv = root.join("../scalesim/scalesim_resnet18.csv");
    let Ok(text) = std::fs::read_to_string(&csv) else {
        eprintln!("skipping: {} not found", csv.display());
        return;
    };
    let arch = io::load_arch(&repo("arch/genesys_32x32.toml")).unwrap();
    let cfg = NpuConfig::from_arch(&arch).unwrap();
    // (SCALE-Sim layer, H, W, R, C, M, stride), inputs unpadded as SCALE-Sim ran them
    let layers = [
        ("Conv2_1a", 56, 3, 64, 64, 1),
        ("Conv3_1a", 56, 3, 64, 128, 2),
        // Conv3_s (1×1) is left out: its EDP-optimal mapping has 784 one-pixel tiles, where
        // our per-tile fill/drain dominates (a cost-model blind spot, docs/npu.md), so it
        // says nothing about systolic compute timing.
        ("Conv4_1b", 14, 3, 256, 256, 1),
    ];
    for (name, h, r, c, m, stride) in layers {
        let row = text
            .lines()
            .find(|l| l.starts_with("resnet18_r32x32_ws_CALC") && l.split(',').nth(7) == Some(name))
            .unwrap_or_else(|| panic!("{name} not in {}", csv.display()));
        let scalesim: u64 = row.split(',').nth(11).unwrap().parse::<f64>().unwrap() as u64;
        let o = (h - r) / stride + 1;
        let problem = loomap::workload::LayerShape::Conv {
            n: 1,
            groups: 1,
            k: m,
            c,
            p: o,
            q: o,
            r,
            s: r,
            wstride: stride,
            hstride: stride,
            wdilation: 1,
            hdilation: 1,
        }
        .to_problem(name)
        .unwrap();
        let mapping = searched_mapping(&arch, &problem, 32);
        let compiled =
            compile::compile(&arch, &problem, &mapping, CompileOptions::default()).unwrap();
        let v = compile::verify(&compiled, &cfg, &compiled.program, 1).unwrap();
        assert!(v.passed(), "{name}: {} mismatches", v.mismatches);
        let folded_steps = c.div_ceil(32) * m.div_ceil(32) * r * r * o * o;
        assert_eq!(v.report.systolic_steps, folded_steps, "{name}");
        let ours = v.report.busy("systolic");
        let ratio = ours as f64 / scalesim as f64;
        let folds = c.div_ceil(32) * r * r * m.div_ceil(32);
        eprintln!(
            "{name:9} SCALE-Sim ws {scalesim:7} ({folds} folds, {:.0} overhead cycles each)  ours {ours:7} ({} tiles, {} each)  ratio {ratio:.3}",
            (scalesim - folded_steps) as f64 / folds as f64,
            v.report.systolic_tiles,
            2 * 32 - 2
        );
        // Same MAC steps; ours adds less pipeline overhead (per DRAM tile, not per fold), so
        // it lies between the bare steps and SCALE-Sim's cycles, within 5% of SCALE-Sim when
        // a fold is long (Conv2_1a: 2916 pixels per fold).
        assert!(
            folded_steps <= ours && ours <= scalesim,
            "{name}: {ours} vs {scalesim}"
        );
        if name == "Conv2_1a" {
            assert!((ratio - 1.0).abs() <= 0.05, "{name}: ratio {ratio:.3}");
        }
    }
}

/// Changing only the arch text retargets compiler and simulator: halving the IBUF and WBUF
/// fill bandwidths (the AXI channels) doubles their transfer cycles and changes the WBUF bank
/// interleave of the weight layout; results stay exact.
#[test]
fn arch_fill_bandwidths_retarget_compiler_and_simulator() {
    let path = repo("arch/genesys_16x16.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let narrow = text
        .replace("write_bw = 64.0", "write_bw = 32.0")
        .replace("write_bw = 0.25", "write_bw = 0.125");
    assert_ne!(narrow, text);
    let wl = io::load_workload(&repo("workloads/genesys_tests.toml")).unwrap();
    let layer = wl.layer("conv_relu_test").unwrap();
    let mut busy = Vec::new();
    for t in [&text, &narrow] {
        let arch = io::parse_arch(t, &path).unwrap();
        let cfg = NpuConfig::from_arch(&arch).unwrap();
        let mapping = io::load_mapping(
            &repo("mappings/genesys_conv_relu_test.toml"),
            &arch,
            &layer.problem,
        )
        .unwrap();
        let c =
            compile::compile(&arch, &layer.problem, &mapping, CompileOptions::default()).unwrap();
        let v = compile::verify(&c, &cfg, &c.program, 5).unwrap();
        assert!(v.passed(), "{:?}", v.first_mismatches);
        busy.push((
            cfg.ibuf_channel_bits,
            cfg.param_channel_bits,
            v.report.busy("dram.ibuf"),
            v.report.busy("dram.param"),
        ));
    }
    assert_eq!((busy[0].0, busy[0].1), (512, 512));
    assert_eq!((busy[1].0, busy[1].1), (256, 256));
    assert_eq!(busy[1].2, 2 * busy[0].2);
    assert_eq!(busy[1].3, 2 * busy[0].3);
}
