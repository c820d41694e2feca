//! GeneSys test vectors from `../shared/reference/genesys` (skipped with a message when the
//! folder is absent): the three program encodings agree word for word through our decoder and
//! assembler, our weight shuffle reproduces the shipped DRAM-ordered files, and both cases run
//! bit-exactly through the library and the CLI.

use std::path::{Path, PathBuf};

use loomap::npu::dram::{shuffle_weights, unpack_words, WeightLayout};
use loomap::npu::testcase::{read_numbers, TestCase};
use loomap::npu::Program;

use crate::cli::loomap;

/// `../shared/reference/genesys`, beside the repo or above a worktree.
fn genesys_root() -> Option<PathBuf> {
    crate::reference::shared_reference("genesys")
}

fn cases() -> Vec<PathBuf> {
    match genesys_root() {
        Some(r) => vec![r.join("conv_relu_test"), r.join("add_test")],
        None => {
            eprintln!("skipping: ../shared/reference/genesys not found");
            Vec::new()
        }
    }
}

fn file_with_suffix(dir: &Path, suffix: &str) -> PathBuf {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(v.len(), 1, "{suffix} in {}", dir.display());
    v.pop().unwrap()
}

/// A writable copy of a test case (its directory and `data/` files; sub-folders of `data/`
/// are left out, so tensors are read in their raw form).
fn copy_case(src: &Path, name: &str) -> PathBuf {
    let dst = crate::cli::scratch(name);
    for sub in ["", "data"] {
        std::fs::create_dir_all(dst.join(sub)).unwrap();
        for e in std::fs::read_dir(src.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                // read + write, not copy: the reference files are read-only
                let bytes = std::fs::read(&p).unwrap();
                std::fs::write(dst.join(sub).join(p.file_name().unwrap()), bytes).unwrap();
            }
        }
    }
    dst
}

#[test]
fn binary_decimal_and_assembly_agree_word_for_word() {
    for dir in cases() {
        let read = |s: &str| std::fs::read_to_string(file_with_suffix(&dir, s)).unwrap();
        let bin = Program::parse_binary(&read("_binary.txt")).unwrap();
        let dec = Program::parse_decimal(&read("_decimal.txt")).unwrap();
        let asm_text = read("_string_final.txt");
        let asm = Program::parse_asm(&asm_text).unwrap();
        assert_eq!(
            bin.words().unwrap(),
            dec.words().unwrap(),
            "{}",
            dir.display()
        );
        assert_eq!(
            bin.words().unwrap(),
            asm.words().unwrap(),
            "{}",
            dir.display()
        );
        // the disassembler prints each shipped line (without its loop-depth tabs)
        let shipped: Vec<&str> = asm_text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let ours = bin.to_asm();
        let ours: Vec<&str> = ours.lines().collect();
        assert_eq!(ours.len(), shipped.len());
        for (i, (a, b)) in ours.iter().zip(&shipped).enumerate() {
            assert_eq!(a, b, "{} line {}", dir.display(), i + 1);
        }
        // and the binary file is what our encoder prints
        let bin_text: Vec<String> = read("_binary.txt")
            .lines()
            .map(|l| l.trim().to_string())
            .collect();
        let ours_bin: Vec<String> = bin
            .to_binary()
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(ours_bin, bin_text);
    }
}

#[test]
fn weight_shuffle_reproduces_the_shipped_dram_order() {
    let Some(root) = genesys_root() else {
        eprintln!("skipping: ../shared/reference/genesys not found");
        return;
    };
    let w = root.join("conv_relu_test/data/weight");
    let raw = read_numbers(&w.join("weight_raw.txt")).unwrap();
    let layout = WeightLayout {
        kh: 1,
        kw: 1,
        ic: 64,
        oc: 64,
        tile_ic: 64,
        tile_oc: 64,
    };
    let ours = shuffle_weights(&raw, layout, 16, 16, 4);
    assert_eq!(
        ours,
        read_numbers(&w.join("weight_shuffled_raw.txt")).unwrap()
    );
    let packed = unpack_words(&read_numbers(&w.join("weight_shuffled.txt")).unwrap());
    let ours_bytes: Vec<u8> = ours.iter().map(|&v| v as i8 as u8).collect();
    assert_eq!(ours_bytes, packed);
    // packed input activations are the raw NHWC bytes
    let d = root.join("conv_relu_test/data/data");
    let raw: Vec<u8> = read_numbers(&d.join("data_raw.txt"))
        .unwrap()
        .iter()
        .map(|&v| v as i8 as u8)
        .collect();
    assert_eq!(
        raw,
        unpack_words(&read_numbers(&d.join("data_shuffled.txt")).unwrap())
    );
}

#[test]
fn shipped_test_vectors_pass_bit_exactly_via_the_library() {
    for dir in cases() {
        let case = TestCase::load(&dir).unwrap();
        let out = case.run().unwrap();
        assert!(
            out.passed(),
            "{}: {} mismatches, first {:?}",
            dir.display(),
            out.mismatches,
            out.first_mismatches
        );
        assert_eq!(out.compared, case.expected.len());
        assert!(out.compared >= 2048);
        assert!(out.report.cycles > 0);
    }
}

/// The SIMD-only add test's cycles by the documented formula: block fetch ceil(67·32/512) = 5
/// and decode 67; one base iteration: loads 2 × 8192 B and store 8192 B at 64 B/cycle
/// (3 × 128), ADD 128 vectors × 1 cycle + pipeline (6-1)+(16-1) = 148. Total 604.
#[test]
fn add_test_cycles_by_hand() {
    let Some(root) = genesys_root() else {
        eprintln!("skipping: ../shared/reference/genesys not found");
        return;
    };
    let out = TestCase::load(&root.join("add_test"))
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(out.report.cycles, 5 + 67 + 3 * 128 + 148);
    assert_eq!(out.report.busy("simd"), 148);
    assert_eq!(out.report.simd_vector_ops, 128);
}

#[test]
fn conv_counts_match_the_layer() {
    let Some(root) = genesys_root() else {
        eprintln!("skipping: ../shared/reference/genesys not found");
        return;
    };
    let out = TestCase::load(&root.join("conv_relu_test"))
        .unwrap()
        .run()
        .unwrap();
    // 1x1 conv 64 -> 64 over 12x12: 64·64·144 MACs, all on the array (no padding)
    assert_eq!(out.report.macs, 64 * 64 * 144);
    assert_eq!(out.report.systolic_steps, 64 * 64 * 144 / 256);
    // 2 OH tiles, each 4 OC blocks x 4 IC blocks x 6 x 12 steps
    assert_eq!(out.report.systolic_tiles, 2);
    // ReLU: 4 x 6 x 12 vectors per tile
    assert_eq!(out.report.simd_vector_ops, 2 * 288);
    // Cycles by the documented model: fetch ceil(248·32/512) = 16, decode 248. Tile 0 loads
    // IBUF 4608 B (72 cycles at 64 B/cycle) while BBUF 256 B + WBUF 4096 B share ParamBuf
    // (4 + 64 = 68); computes 1152 steps + 15 + 15 fill/drain = 1182. Tile 1 reloads only IBUF
    // (hidden under tile 0's compute) and computes right after tile 0. The SIMD ReLU of a tile
    // (288 vectors + 5 + 15 pipeline, then a 18432 B store = 288 cycles) overlaps the next
    // tile's compute; the last one ends the group. The 106-word IMEM prefetch (7 cycles on
    // the instruction channel) runs while the group executes (IMEM is double-buffered, §1.1),
    // so it adds nothing.
    let simd_tile = 288 + 5 + 15 + 288;
    assert_eq!(out.report.cycles, 16 + 248 + 72 + 1182 + 1182 + simd_tile);
    assert_eq!(out.report.busy("dram.instr"), 16 + 7);
}

#[test]
fn cli_simulate_passes_and_reports_cycles() {
    for dir in cases() {
        let out = loomap(&["simulate", "--genesys-testcase", dir.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.starts_with("PASS"), "{stdout}");
        assert!(stdout.contains("cycles"), "{stdout}");
    }
}

#[test]
fn cli_simulate_reports_mismatches_with_exit_1_and_bad_input_with_exit_2() {
    let Some(root) = genesys_root() else {
        eprintln!("skipping: ../shared/reference/genesys not found");
        return;
    };
    // a copy of add_test whose golden output has one wrong value
    let dst = copy_case(&root.join("add_test"), "npu-mismatch");
    let out_txt = dst.join("data/out.txt");
    let text = std::fs::read_to_string(&out_txt).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[3] = "12345".into();
    std::fs::write(&out_txt, lines.join("\n")).unwrap();
    let out = loomap(&["simulate", "--genesys-testcase", dst.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("1 of 2048") && stdout.contains("[3] expected 12345"),
        "{stdout}"
    );

    // a corrupted program word: exit 2 naming the file and line
    let bin = dst.join("elem_add2d2d5_binary.txt");
    let text = std::fs::read_to_string(&bin).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[1] = "1111".repeat(8);
    std::fs::write(&bin, lines.join("\n")).unwrap();
    let out = loomap(&["simulate", "--genesys-testcase", dst.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("elem_add2d2d5_binary.txt")
            && stderr.contains("line 2")
            && stderr.contains("opcode 15"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dst);

    let out = loomap(&["simulate", "--genesys-testcase", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The shipped programs with random damage (words replaced within their opcode, bits
/// flipped) end in a report or a trap with an index inside the program, never a panic.
#[test]
fn damaged_shipped_programs_trap_instead_of_panicking() {
    use loomap::npu::Simulator;
    use rand::{rngs::SmallRng, Rng, SeedableRng};
    let mut rng = SmallRng::seed_from_u64(3);
    for dir in cases() {
        let case = TestCase::load(&dir).unwrap();
        let base = case.program.words().unwrap();
        for _ in 0..150 {
            let mut words = base.clone();
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..words.len());
                if rng.gen_bool(0.5) {
                    words[i] ^= 1 << rng.gen_range(0..32);
                } else {
                    words[i] = (words[i] & 0xF000_0000) | (rng.gen::<u32>() & 0x0FFF_FFFF);
                }
            }
            let mut sim = Simulator::new(case.cfg.clone(), case.dram.clone());
            sim.work_limit = 200_000;
            if let Err(t) = sim.run_words(&words) {
                assert!(t.index < words.len(), "{t}");
            }
        }
    }
}

/// Retargeting: the conv case under a GeneSys JSON config with the test-vector depths and
/// 256-bit channels still passes (weights re-laid out for interleave 2), and its transfers
/// take twice the cycles of the 512-bit default; `--arch` with the bundled loomap arch passes.
#[test]
fn conv_case_retargets_from_json_config_and_loomap_arch() {
    let Some(root) = genesys_root() else {
        eprintln!("skipping: ../shared/reference/genesys not found");
        return;
    };
    let src = root.join("conv_relu_test");
    let base = TestCase::load(&src).unwrap().run().unwrap();
    let dst = copy_case(&src, "npu-retarget");
    std::fs::write(
        dst.join("custom_arch_cfg.json"),
        r#"{"ARRAY_N": 16, "ARRAY_M": 16, "IBUF_DEPTH": 16384, "WBUF_DEPTH": 262144,
            "OBUF_DEPTH": 16384, "BBUF_DEPTH": 8192, "PARAM_BUF_CHANNEL_BW": 256,
            "IBUF_CHANNEL_BW": 256, "OBUF_CHANNEL_BW": 256, "SIMD_CHANNEL_BW": 256}"#,
    )
    .unwrap();
    let case = TestCase::load(&dst).unwrap();
    assert_eq!(
        (case.cfg.wbuf_depth, case.cfg.wbuf_interleave()),
        (262144, 2)
    );
    let out = case.run().unwrap();
    assert!(out.passed(), "{:?}", out.first_mismatches);
    for unit in ["dram.param", "dram.ibuf", "dram.simd"] {
        assert_eq!(out.report.busy(unit), 2 * base.report.busy(unit), "{unit}");
    }
    let _ = std::fs::remove_dir_all(&dst);

    let out = loomap(&[
        "simulate",
        "--genesys-testcase",
        src.to_str().unwrap(),
        "--arch",
        "arch/genesys_16x16.toml",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A case whose tensors are missing fails with the operand, the file names tried and exit 2.
#[test]
fn missing_tensor_is_a_located_error() {
    let Some(root) = genesys_root() else {
        eprintln!("skipping: ../shared/reference/genesys not found");
        return;
    };
    let dst = copy_case(&root.join("add_test"), "npu-missing");
    std::fs::remove_file(dst.join("data/op2.txt")).unwrap();
    let e = TestCase::load(&dst).err().expect("load fails");
    assert!(e.message.contains("no data file for input `op2`"), "{e}");
    assert!(e.hint.contains("op2/op2_raw.txt"), "{e}");
    let out = loomap(&["simulate", "--genesys-testcase", dst.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("op2"));
    let _ = std::fs::remove_dir_all(&dst);
}

/// The conv case with its tensors only in DRAM-ordered forms (packed `*_shuffled.txt` for data
/// and weights, `weight_shuffled_raw.txt` variant too) passes like the raw one.
#[test]
fn conv_case_passes_from_shuffled_tensor_files() {
    let Some(root) = genesys_root() else {
        eprintln!("skipping: ../shared/reference/genesys not found");
        return;
    };
    let src = root.join("conv_relu_test");
    for weight_file in ["weight_shuffled.txt", "weight_shuffled_raw.txt"] {
        let dst = crate::cli::scratch(&format!("npu-shuffled-{weight_file}"));
        let copy = |from: PathBuf, to: PathBuf| {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::write(to, std::fs::read(from).unwrap()).unwrap();
        };
        for f in ["conv_bias_relu1_binary.txt", "conv_bias_relu1_json.json"] {
            copy(src.join(f), dst.join(f));
        }
        for f in ["bias.txt", "out.txt", "data/data_shuffled.txt"] {
            copy(src.join("data").join(f), dst.join("data").join(f));
        }
        let w = format!("weight/{weight_file}");
        copy(src.join("data").join(&w), dst.join("data").join(&w));
        let out = TestCase::load(&dst).unwrap().run().unwrap();
        assert!(out.passed(), "{weight_file}: {:?}", out.first_mismatches);
        let _ = std::fs::remove_dir_all(&dst);
    }
}

/// Without the compiler JSON the runner falls back to the conv codelet's operand names, the
/// weight shape and tile from `*_operations_idx.txt`, and the output store the program uses.
#[test]
fn conv_case_runs_without_the_compiler_json() {
    let Some(root) = genesys_root() else {
        eprintln!("skipping: ../shared/reference/genesys not found");
        return;
    };
    let dst = copy_case(&root.join("conv_relu_test"), "npu-nojson");
    std::fs::remove_file(dst.join("conv_bias_relu1_json.json")).unwrap();
    let case = TestCase::load(&dst).unwrap();
    assert_eq!(case.output.buffer, "VMEM2");
    let out = case.run().unwrap();
    assert!(out.passed(), "{:?}", out.first_mismatches);
    let _ = std::fs::remove_dir_all(&dst);
}
