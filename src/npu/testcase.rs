//! GeneSys test-case directories as published (`misc/testcases/*`, GENESYS.md §6): read the
//! program, the optional `*arch_cfg.json`, the compiler's `*_json.json` (operands, dtypes,
//! shapes, data paths, tiling) and the tensors, lay the tensors out in DRAM as the hardware
//! expects (§3.5), run, and compare the output with the shipped `out.txt`.
//!
//! Nothing about a particular case is built in: each operand's buffer comes from its
//! `data_path`, its DRAM base from the program's own base-address instructions, its element
//! size from its dtype, and the weight reordering from its shape and on-chip tiling.

use std::path::{Path, PathBuf};

use super::config::NpuConfig;
use super::dram::{pack_elements, shuffle_weights, unpack_words, Dram, WeightLayout};
use super::isa::{Op, Program, SA_BUFFERS};
use super::sim::{RunReport, Simulator, Trap};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message} (hint: {hint})", path.display())]
pub struct TestCaseError {
    pub path: PathBuf,
    pub message: String,
    pub hint: String,
}

fn err(path: &Path, message: impl Into<String>, hint: impl Into<String>) -> TestCaseError {
    TestCaseError {
        path: path.to_path_buf(),
        message: message.into(),
        hint: hint.into(),
    }
}

/// Where one tensor went.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    pub name: String,
    pub buffer: String,
    pub dram_addr: u64,
    pub bytes: usize,
    pub file: PathBuf,
}

pub struct TestCase {
    pub dir: PathBuf,
    pub program_file: PathBuf,
    pub program: Program,
    pub cfg: NpuConfig,
    pub dram: Dram,
    pub inputs: Vec<Placement>,
    pub output: Placement,
    pub output_elem_bytes: usize,
    pub expected: Vec<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub index: usize,
    pub expected: i64,
    pub got: i64,
}

pub struct Outcome {
    pub report: RunReport,
    pub compared: usize,
    pub mismatches: usize,
    /// The first few mismatches, in element order.
    pub first_mismatches: Vec<Mismatch>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.mismatches == 0
    }
}

struct Operand {
    name: String,
    dtype: String,
    shape: serde_json::Map<String, serde_json::Value>,
    data_path: Vec<String>,
    tiling: serde_json::Map<String, serde_json::Value>,
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn find_suffix(dirs: &[PathBuf], suffix: &str) -> Option<PathBuf> {
    dirs.iter()
        .flat_map(|d| files_in(d))
        .find(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
}

/// One integer per line (blank lines ignored).
pub fn read_numbers(path: &Path) -> Result<Vec<i64>, TestCaseError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(path, format!("cannot read: {e}"), "check the path"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        out.push(t.parse::<i64>().map_err(|_| {
            err(
                path,
                format!("line {}: `{t}` is not an integer", i + 1),
                "tensor files hold one decimal integer per line",
            )
        })?);
    }
    Ok(out)
}

fn dtype_bytes(dtype: &str, path: &Path, name: &str) -> Result<usize, TestCaseError> {
    match dtype {
        "FXP8" | "INT8" => Ok(1),
        "FXP16" | "INT16" => Ok(2),
        "FXP32" | "INT32" => Ok(4),
        _ => Err(err(
            path,
            format!("operand {name}: dtype {dtype} is not supported"),
            "supported: FXP8, FXP16, FXP32",
        )),
    }
}

/// DRAM base the program gives a buffer: systolic `SET_BASE_ADDR` (buffer ids), SIMD
/// `LD/ST_CONFIG_BASE_ADDR` (VMEM namespaces); the first LOW/LSB and HIGH/MSB halves.
fn program_base(prog: &Program, buffer: &str, store: bool) -> Option<u64> {
    let (mut low, mut high) = (None, None);
    for ins in &prog.instrs {
        let a = ins.args;
        let hit = match ins.op {
            Op::SetBaseAddr => a[1] == 0 && SA_BUFFERS.get(a[2] as usize) == Some(&buffer),
            Op::LdConfigBaseAddr if !store => {
                super::isa::NAMESPACES.get(a[1] as usize) == Some(&buffer) && a[2] == 0
            }
            Op::StConfigBaseAddr if store => {
                super::isa::NAMESPACES.get(a[1] as usize) == Some(&buffer) && a[2] == 0
            }
            _ => false,
        };
        if hit {
            let slot = if a[0] == 1 { &mut high } else { &mut low };
            if slot.is_none() {
                *slot = Some(a[if ins.op == Op::SetBaseAddr { 4 } else { 3 }] as u64);
            }
        }
    }
    if low.is_none() && high.is_none() {
        return None;
    }
    Some(low.unwrap_or(0) | (high.unwrap_or(0) << 16))
}

fn dim(map: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<usize> {
    map.get(key).and_then(|v| v.as_u64()).map(|v| v as usize)
}

/// How a tensor file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorForm {
    /// One element per line in the tensor's own order (NHWC, `[KH, KW, IC, OC]`, ...).
    Raw,
    /// One element per line, already in DRAM order (`*_shuffled_raw.txt`).
    DramElements,
    /// Packed 32-bit words in DRAM order, four int8 each (`*_shuffled.txt`).
    PackedWords,
}

/// Where a tensor's values are: `name.txt` or `name/name_raw.txt` (raw),
/// `name/name_shuffled.txt` or `name_shuffled.txt` (packed words), `name_shuffled_raw.txt`
/// (DRAM-ordered elements), in DIR or DIR/data; names from `data_locations.json` are tried
/// too. Raw forms come first, so the runner lays them out itself.
fn find_tensor(
    dir: &Path,
    name: &str,
    locations: &serde_json::Value,
) -> Option<(PathBuf, TensorForm)> {
    let roots = [dir.join("data"), dir.to_path_buf()];
    let mut names = vec![name.to_string()];
    if let Some(p) = locations
        .get(name)
        .and_then(|e| e.get("path"))
        .and_then(|p| p.as_str())
    {
        if let Some(stem) = Path::new(p).file_stem().and_then(|s| s.to_str()) {
            names.push(stem.to_string());
        }
    }
    for n in &names {
        for r in &roots {
            use TensorForm::*;
            for (p, form) in [
                (r.join(format!("{n}.txt")), Raw),
                (r.join(n).join(format!("{n}_raw.txt")), Raw),
                (r.join(format!("{n}_raw.txt")), Raw),
                (
                    r.join(n).join(format!("{n}_shuffled_raw.txt")),
                    DramElements,
                ),
                (r.join(format!("{n}_shuffled_raw.txt")), DramElements),
                (r.join(n).join(format!("{n}_shuffled.txt")), PackedWords),
                (r.join(format!("{n}_shuffled.txt")), PackedWords),
            ] {
                if p.is_file() {
                    return Some((p, form));
                }
            }
        }
    }
    None
}

fn load_operands(path: &Path) -> Result<(Vec<Operand>, Vec<Operand>), TestCaseError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(path, format!("cannot read: {e}"), "check the file"))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        err(
            path,
            format!("not valid JSON: {e}"),
            "the compiler's *_json.json",
        )
    })?;
    let prog = v.get("program").and_then(|p| p.as_array()).ok_or_else(|| {
        err(
            path,
            "no `program` array",
            "the compiler's *_json.json has {\"program\": [...]}",
        )
    })?;
    let parse = |o: &serde_json::Value, key: &str| -> Result<Operand, TestCaseError> {
        let s = |k: &str| o.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let obj = |k: &str| {
            o.get(k)
                .and_then(|x| x.as_object())
                .cloned()
                .unwrap_or_default()
        };
        Ok(Operand {
            name: s("name").ok_or_else(|| {
                err(
                    path,
                    format!("an entry of `{key}` has no name"),
                    "operands have name, dtype, shape_symbols, data_path",
                )
            })?,
            dtype: s("dtype").unwrap_or_default(),
            shape: obj("shape_symbols"),
            data_path: o
                .get("data_path")
                .and_then(|x| x.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            tiling: obj("tiling"),
        })
    };
    let (mut ins, mut outs) = (Vec::new(), Vec::new());
    for layer in prog {
        for (key, dst) in [("inputs", &mut ins), ("outputs", &mut outs)] {
            for o in layer
                .get(key)
                .and_then(|x| x.as_array())
                .into_iter()
                .flatten()
            {
                dst.push(parse(o, key)?);
            }
        }
    }
    Ok((ins, outs))
}

impl TestCase {
    pub fn load(dir: &Path) -> Result<TestCase, TestCaseError> {
        if !dir.is_dir() {
            return Err(err(
                dir,
                "not a directory",
                "pass a GeneSys test-case directory (with *_binary.txt or *_decimal.txt and data/)",
            ));
        }
        let dirs = [dir.to_path_buf(), dir.join("data")];
        let (program_file, program) = if let Some(p) = find_suffix(&dirs[..1], "_binary.txt") {
            let t = std::fs::read_to_string(&p)
                .map_err(|e| err(&p, format!("cannot read: {e}"), "check the file"))?;
            let prog = Program::parse_binary(&t)
                .map_err(|e| err(&p, e.to_string(), "one 32-character 0/1 word per line"))?;
            (p, prog)
        } else if let Some(p) = find_suffix(&dirs[..1], "_decimal.txt") {
            let t = std::fs::read_to_string(&p)
                .map_err(|e| err(&p, format!("cannot read: {e}"), "check the file"))?;
            let prog = Program::parse_decimal(&t)
                .map_err(|e| err(&p, e.to_string(), "one unsigned 32-bit decimal per line"))?;
            (p, prog)
        } else {
            return Err(err(
                dir,
                "no *_binary.txt or *_decimal.txt program",
                "a test case ships its program as binary or decimal words",
            ));
        };
        let cfg = match find_suffix(&dirs, "arch_cfg.json") {
            Some(p) => {
                let t = std::fs::read_to_string(&p)
                    .map_err(|e| err(&p, format!("cannot read: {e}"), "check the file"))?;
                NpuConfig::from_genesys_json(&t, &p.display().to_string())
                    .map_err(|e| err(&p, e.to_string(), "see GENESYS.md §1.7"))?
            }
            None => NpuConfig::default(),
        };
        let locations = match find_suffix(&dirs, "data_locations.json") {
            Some(p) => {
                let t = std::fs::read_to_string(&p)
                    .map_err(|e| err(&p, format!("cannot read: {e}"), "check the file"))?;
                serde_json::from_str(&t).map_err(|e| {
                    err(
                        &p,
                        format!("not valid JSON: {e}"),
                        "data_locations.json maps operand names to files",
                    )
                })?
            }
            None => serde_json::Value::Null,
        };
        let json = find_suffix(&dirs[..1], "_json.json");
        let (ins, outs) = match &json {
            Some(p) => load_operands(p)?,
            None => default_operands(&cfg, &program, &dirs),
        };
        let meta = json.clone().unwrap_or_else(|| dir.to_path_buf());
        let mut dram = Dram::new(cfg.dram_bytes);
        let mut inputs = Vec::new();
        for op in &ins {
            let buffer = op.data_path.get(1).cloned().unwrap_or_default();
            let Some((file, form)) = find_tensor(dir, &op.name, &locations) else {
                if op.data_path.first().map(String::as_str) == Some("DRAM") && json.is_some() {
                    return Err(err(dir, format!("no data file for input `{}`", op.name), format!("expected {0}.txt, {0}/{0}_raw.txt, {0}_shuffled_raw.txt or {0}_shuffled.txt (also under {0}/) in the directory or data/", op.name)));
                }
                continue;
            };
            let addr = program_base(&program, &buffer, false).ok_or_else(|| {
                err(&program_file, format!("input `{}` goes to {buffer}, but the program never sets a DRAM base for {buffer}", op.name), "the test case's program and operand list disagree")
            })?;
            let values = read_numbers(&file)?;
            let bytes = if form == TensorForm::PackedWords {
                unpack_words(&values)
            } else if form == TensorForm::DramElements {
                pack_elements(&values, dtype_bytes(&op.dtype, &meta, &op.name)?)
            } else {
                let eb = dtype_bytes(&op.dtype, &meta, &op.name)?;
                if buffer == "WBUF" {
                    let layout = weight_layout(op, &meta, values.len())?;
                    let s = shuffle_weights(
                        &values,
                        layout,
                        cfg.array_n,
                        cfg.array_m,
                        cfg.wbuf_interleave(),
                    );
                    pack_elements(&s, eb)
                } else {
                    pack_elements(&values, eb)
                }
            };
            dram.write(addr, &bytes).map_err(|e| {
                err(
                    &file,
                    e.to_string(),
                    "the program's base address is outside DRAM",
                )
            })?;
            inputs.push(Placement {
                name: op.name.clone(),
                buffer,
                dram_addr: addr,
                bytes: bytes.len(),
                file,
            });
        }
        let out_op = outs.first().ok_or_else(|| {
            err(
                &meta,
                "no output operand",
                "the compiler's JSON lists `outputs`",
            )
        })?;
        let out_buffer = out_op
            .data_path
            .iter()
            .rev()
            .nth(1)
            .cloned()
            .unwrap_or_default();
        let (out_file, _) = find_tensor(dir, "out", &locations)
            .or_else(|| find_tensor(dir, &out_op.name, &locations))
            .ok_or_else(|| {
                err(
                    dir,
                    "no out.txt with the expected output",
                    "a test case ships its golden output as out.txt",
                )
            })?;
        let out_addr = program_base(&program, &out_buffer, true).ok_or_else(|| {
            err(&program_file, format!("output `{}` leaves through {out_buffer}, but the program sets no store base for it", out_op.name), "the test case's program and operand list disagree")
        })?;
        let expected = read_numbers(&out_file)?;
        let output_elem_bytes = dtype_bytes(&out_op.dtype, &meta, &out_op.name)?;
        let output = Placement {
            name: out_op.name.clone(),
            buffer: out_buffer,
            dram_addr: out_addr,
            bytes: expected.len() * output_elem_bytes,
            file: out_file,
        };
        Ok(TestCase {
            dir: dir.to_path_buf(),
            program_file,
            program,
            cfg,
            dram,
            inputs,
            output,
            output_elem_bytes,
            expected,
        })
    }

    /// Simulate and compare with the golden output.
    pub fn run(&self) -> Result<Outcome, Trap> {
        let mut sim = Simulator::new(self.cfg.clone(), self.dram.clone());
        let report = sim.run(&self.program)?;
        let got = sim
            .dram
            .read_elements(
                self.output.dram_addr,
                self.expected.len(),
                self.output_elem_bytes,
            )
            .map_err(|e| Trap {
                index: self.program.instrs.len().saturating_sub(1),
                instr: None,
                reason: e.into(),
            })?;
        let mut first = Vec::new();
        let mut mismatches = 0;
        for (index, (&e, &g)) in self.expected.iter().zip(&got).enumerate() {
            if e != g {
                mismatches += 1;
                if first.len() < 10 {
                    first.push(Mismatch {
                        index,
                        expected: e,
                        got: g,
                    });
                }
            }
        }
        Ok(Outcome {
            report,
            compared: self.expected.len(),
            mismatches,
            first_mismatches: first,
        })
    }
}

/// Weight shape `[KH, KW, IC, OC]` (GEMM `[N, P]` as 1×1×N×P) and its on-chip tile.
fn weight_layout(op: &Operand, meta: &Path, count: usize) -> Result<WeightLayout, TestCaseError> {
    let s = &op.shape;
    let (kh, kw, ic, oc) = match (dim(s, "KH"), dim(s, "KW"), dim(s, "IC"), dim(s, "OC")) {
        (Some(a), Some(b), Some(c), Some(d)) => (a, b, c, d),
        _ => match (dim(s, "N"), dim(s, "P")) {
            (Some(n), Some(p)) => (1, 1, n, p),
            _ => {
                return Err(err(
                    meta,
                    format!("weight `{}`: shape needs KH, KW, IC, OC (or N, P)", op.name),
                    "or ship the DRAM-ordered `weight_shuffled.txt`",
                ))
            }
        },
    };
    if kh * kw * ic * oc != count {
        return Err(err(
            meta,
            format!(
                "weight `{}`: shape {kh}x{kw}x{ic}x{oc} but {count} values",
                op.name
            ),
            "the data file and the JSON shape must agree",
        ));
    }
    let tile = op.tiling.get("WBUF").and_then(|t| t.as_object());
    let td = |k: &str, alt: &str, full: usize| {
        tile.and_then(|t| dim(t, k).or_else(|| dim(t, alt)))
            .unwrap_or(full)
    };
    Ok(WeightLayout {
        kh,
        kw,
        ic,
        oc,
        tile_ic: td("IC", "N", ic),
        tile_oc: td("OC", "P", oc),
    })
}

/// Full size and tile size of every loop dimension from the compiler's
/// `*_operations_idx.txt` (`(OC)loop0[0]: START=0; STOP=64; STRIDE=64; ...`): the first loop
/// of a dimension is its outer tile loop, so STOP is the size and STRIDE the tile.
fn dims_from_operations(text: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut dims = serde_json::Map::new();
    for line in text.lines() {
        let t = line.trim_start_matches(|c: char| c.is_ascii_digit() || c.is_whitespace());
        let Some(rest) = t.strip_prefix('(') else {
            continue;
        };
        let Some((dim, rest)) = rest.split_once(')') else {
            continue;
        };
        let field = |key: &str| {
            rest.split(';').find_map(|f| {
                f.trim()
                    .strip_prefix(key)
                    .and_then(|v| v.trim().parse::<u64>().ok())
            })
        };
        if let (Some(stop), Some(stride)) = (field("STOP="), field("STRIDE=")) {
            if !dims.contains_key(dim) {
                dims.insert(dim.to_string(), serde_json::json!([stop, stride]));
            }
        }
    }
    dims
}

/// Without the compiler JSON: the conv codelet's names (GENESYS.md §6): data → IBUF,
/// weight → WBUF, bias → BBUF; the output leaves through the program's SIMD store if it has
/// one, else through OBUF. Weight shape and tile come from `*_operations_idx.txt`.
fn default_operands(
    cfg: &NpuConfig,
    prog: &Program,
    dirs: &[PathBuf],
) -> (Vec<Operand>, Vec<Operand>) {
    let mut shape = serde_json::Map::new();
    let mut tile = serde_json::Map::new();
    if let Some(text) =
        find_suffix(dirs, "_operations_idx.txt").and_then(|p| std::fs::read_to_string(p).ok())
    {
        for (dim, v) in dims_from_operations(&text) {
            if ["KH", "KW", "IC", "OC"].contains(&dim.as_str()) {
                shape.insert(dim.clone(), v[0].clone());
                tile.insert(dim, v[1].clone());
            }
        }
    }
    let out_buffer = prog
        .instrs
        .iter()
        .find(|i| i.op == Op::StStart)
        .and_then(|i| super::isa::NAMESPACES.get(i.args[1] as usize))
        .copied()
        .unwrap_or("OBUF");
    let mk = |name: &str, dtype: String, path: &[&str]| Operand {
        name: name.into(),
        dtype,
        shape: if name == "weight" {
            shape.clone()
        } else {
            Default::default()
        },
        data_path: path.iter().map(|s| s.to_string()).collect(),
        tiling: if name == "weight" {
            [("WBUF".to_string(), serde_json::Value::Object(tile.clone()))]
                .into_iter()
                .collect()
        } else {
            Default::default()
        },
    };
    let fxp = |w: u32| format!("FXP{w}");
    (
        vec![
            mk("data", fxp(cfg.data_width), &["DRAM", "IBUF"]),
            mk("weight", fxp(cfg.wgt_width), &["DRAM", "WBUF"]),
            mk("bias", fxp(cfg.bias_width), &["DRAM", "BBUF"]),
        ],
        vec![mk("out", fxp(cfg.acc_width), &[out_buffer, "DRAM"])],
    )
}
