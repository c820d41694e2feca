//! The GeneSys instruction set: one table ([`SPECS`]) defines every instruction (opcode,
//! function code, fields with widths and symbolic names, MSB first), and the encoder, decoder,
//! assembler and disassembler are all driven by it.
//!
//! Source: GENESYS.md §2 (compiler HEAD layout, checked word by word against the shipped
//! `conv_relu_test` and `add_test` programs). Every word is 32 bits: `opcode[31:28]`, then the
//! fields of the table packed MSB first down to bit 0.
//!
//! Text syntax (`*_string_final.txt`): `MNEMONIC f1, f2, ...` with one value per printed field
//! (enumerated fields by name, the rest as unsigned decimals); leading tabs (loop depth) are
//! ignored by the assembler and not produced by the disassembler.

use std::fmt;

/// How a field is written and checked.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Unsigned number.
    Num,
    /// Enumerated: index = value; a value without a name prints as its number.
    Enum(&'static [&'static str]),
    /// Printed, but must hold this value (selects the instruction among its opcode's siblings).
    Const(u32),
    /// Not printed, must hold this value (SIMD function codes, reserved zero bits).
    Hidden(u32),
}

#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub bits: u32,
    pub kind: Kind,
}

/// One row of the ISA table.
#[derive(Debug)]
pub struct Spec {
    pub mnemonic: &'static str,
    pub opcode: u32,
    /// Fields after the opcode, MSB first; widths sum to 28.
    pub fields: &'static [Field],
}

const fn num(name: &'static str, bits: u32) -> Field {
    Field {
        name,
        bits,
        kind: Kind::Num,
    }
}
const fn en(name: &'static str, bits: u32, names: &'static [&'static str]) -> Field {
    Field {
        name,
        bits,
        kind: Kind::Enum(names),
    }
}
const fn cst(name: &'static str, bits: u32, v: u32) -> Field {
    Field {
        name,
        bits,
        kind: Kind::Const(v),
    }
}
const fn hid(name: &'static str, bits: u32, v: u32) -> Field {
    Field {
        name,
        bits,
        kind: Kind::Hidden(v),
    }
}

/// Systolic buffer ids (2 bits wherever they appear; 4-bit fields keep the upper bits 0).
pub const SA_BUFFERS: &[&str] = &["WBUF", "IBUF", "OBUF", "BBUF"];
/// SIMD namespaces ([ISA-xlsx] sheet NAMESPACES).
pub const NAMESPACES: &[&str] = &["OBUF", "IBUF", "VMEM1", "VMEM2", "IMM"];
const LOW_HIGH: &[&str] = &["LOW", "HIGH"];
const LSB_MSB: &[&str] = &["LSB", "MSB"];
const ACCESS: &[&str] = &["LD", "ST", "RD", "WR"];
const MEM_TYPE: &[&str] = &["BUFFER", "IMEM"];
const LD_ST: &[&str] = &["LD", "ST"];
const TARGET: &[&str] = &["SYSTOLIC_ARRAY", "SIMD"];
const START_END: &[&str] = &["START", "END"];
const EXEC_BUF: &[&str] = &["EXEC", "BUF"];
const INNER_OUTER: &[&str] = &["INNER", "OUTER"];
const RED_DIM: &[&str] = &["IC", "KW", "KH"];
/// DATATYPE_CONFIG type codes; only `8FXP` and `32FXP` are seen in public programs.
const DTYPES: &[&str] = &["32FXP", "16FXP", "8FXP", "32FP", "16FP"];

const COMPUTE_FIELDS_AFTER_FN: [Field; 6] = [
    en("DST_NS", 3, NAMESPACES),
    num("DST_IDX", 5),
    en("SRC1_NS", 3, NAMESPACES),
    num("SRC1_IDX", 5),
    en("SRC2_NS", 3, NAMESPACES),
    num("SRC2_IDX", 5),
];

macro_rules! compute {
    ($fn:expr) => {
        &[
            hid("FN", 4, $fn),
            COMPUTE_FIELDS_AFTER_FN[0],
            COMPUTE_FIELDS_AFTER_FN[1],
            COMPUTE_FIELDS_AFTER_FN[2],
            COMPUTE_FIELDS_AFTER_FN[3],
            COMPUTE_FIELDS_AFTER_FN[4],
            COMPUTE_FIELDS_AFTER_FN[5],
        ]
    };
}
macro_rules! simd_ldst {
    ($fn:expr, $first:expr, $third:expr) => {
        &[
            hid("FN", 4, $fn),
            $first,
            en("NS", 2, NAMESPACES),
            $third,
            num("VALUE", 16),
        ]
    };
}
macro_rules! iter_cfg {
    ($fn:expr) => {
        &[
            hid("FN", 4, $fn),
            en("NS", 3, NAMESPACES),
            num("NS_INDEX", 5),
            num("IMM", 16),
        ]
    };
}

macro_rules! ops {
    ($($variant:ident = $mn:literal, $opc:literal, $fields:expr;)*) => {
        /// Every instruction, in table order.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Op { $($variant,)* }
        /// The ISA table, indexed by `Op as usize`.
        pub static SPECS: &[Spec] = &[
            $(Spec { mnemonic: $mn, opcode: $opc, fields: $fields },)*
        ];
        const ALL_OPS: &[Op] = &[$(Op::$variant,)*];
    };
}

ops! {
    // SIMD ALU (opcode 0)
    Add = "ADD", 0, compute!(0);
    Sub = "SUB", 0, compute!(1);
    Mul = "MUL", 0, compute!(2);
    Macc = "MACC", 0, compute!(3);
    Div = "DIV", 0, compute!(4);
    Max = "MAX", 0, compute!(5);
    Min = "MIN", 0, compute!(6);
    Rshift = "RSHIFT", 0, compute!(7);
    Lshift = "LSHIFT", 0, compute!(8);
    Move = "MOVE", 0, compute!(9);
    CondMoveTrue = "COND_MOVE_TRUE", 0, compute!(10);
    CondMoveFalse = "COND_MOVE_FALSE", 0, compute!(11);
    Not = "NOT", 0, compute!(12);
    And = "AND", 0, compute!(13);
    Or = "OR", 0, compute!(14);
    // NOP prints its (zero) operand fields as numbers, not namespace names
    Nop = "NOP", 0, &[hid("FN", 4, 15), num("DST_NS", 3), num("DST_IDX", 5), num("SRC1_NS", 3), num("SRC1_IDX", 5), num("SRC2_NS", 3), num("SRC2_IDX", 5)];
    // SIMD CALCULUS (opcode 1), compiler numbering (GENESYS.md §2.4; the ISA sheet differs,
    // see `CalculusNumbering`)
    Relu = "RELU", 1, compute!(0);
    LeakyRelu = "LEAKY_RELU", 1, compute!(1);
    Abs = "ABS", 1, compute!(2);
    Sign = "SIGN", 1, compute!(3);
    Sigmoid = "SIGMOID", 1, compute!(4);
    Tanh = "TANH", 1, compute!(5);
    Exp = "EXP", 1, compute!(6);
    Ln = "LN", 1, compute!(7);
    Sqrt = "SQRT", 1, compute!(8);
    InvSqrt = "INV_SQRT", 1, compute!(9);
    Log2 = "LOG2", 1, compute!(10);
    // SIMD COMPARISON (opcode 2)
    Eq = "EQ", 2, compute!(0);
    Neq = "NEQ", 2, compute!(1);
    Gt = "GT", 2, compute!(2);
    Gte = "GTE", 2, compute!(3);
    Lt = "LT", 2, compute!(4);
    Lte = "LTE", 2, compute!(5);
    // SIMD DATATYPE_CAST (opcode 3)
    CastFxp32Fxp16 = "FXP32_FXP16", 3, compute!(0);
    CastFxp32Fxp8 = "FXP32_FXP8", 3, compute!(1);
    CastFxp32Fxp4 = "FXP32_FXP4", 3, compute!(2);
    CastFxp16Fxp32 = "FXP16_FXP32", 3, compute!(3);
    CastFxp8Fxp32 = "FXP8_FXP32", 3, compute!(4);
    CastFxp4Fxp32 = "FXP4_FXP32", 3, compute!(5);
    CastFp32Fp16 = "FP32_FP16", 3, compute!(6);
    CastFp16Fp32 = "FP16_FP32", 3, compute!(7);
    Floor = "FLOOR", 3, compute!(8);
    Ceil = "CEIL", 3, compute!(9);
    CastFp32Bf16 = "FP32_BF16", 3, compute!(10);
    CastBf16Fp32 = "BF16_FP32", 3, compute!(11);
    // SIMD DATATYPE_CONFIG (opcode 4): the function nibble is the type and is printed
    DtypeCfg = "DTYPE_CFG", 4, &[en("TYPE", 4, DTYPES), num("DST_BITS", 8), num("SRC1_BITS", 8), num("SRC2_BITS", 8)];
    // SIMD off-chip LD/ST (opcode 5): fn = (ST ? 8 : 0) + sub-function
    LdConfigBaseAddr = "LD_CONFIG_BASE_ADDR", 5, simd_ldst!(0, en("LSB_MSB", 1, LSB_MSB), num("LOOP_INDEX", 5));
    LdConfigBaseLoopIter = "LD_CONFIG_BASE_LOOP_ITER", 5, simd_ldst!(1, num("LSB_MSB", 1), num("LOOP_INDEX", 5));
    LdConfigBaseLoopStride = "LD_CONFIG_BASE_LOOP_STRIDE", 5, simd_ldst!(2, en("LSB_MSB", 1, LSB_MSB), num("LOOP_INDEX", 5));
    LdConfigTileLoopIter = "LD_CONFIG_TILE_LOOP_ITER", 5, simd_ldst!(3, num("LSB_MSB", 1), num("LOOP_INDEX", 5));
    LdConfigTileLoopStride = "LD_CONFIG_TILE_LOOP_STRIDE", 5, simd_ldst!(4, en("LSB_MSB", 1, LSB_MSB), num("LOOP_INDEX", 5));
    LdStart = "LD_START", 5, simd_ldst!(5, num("LSB_MSB", 1), num("DATA_WIDTH", 5));
    LdConfigTileAddr = "LD_CONFIG_TILE_ADDR", 5, simd_ldst!(6, en("LSB_MSB", 1, LSB_MSB), num("LOOP_INDEX", 5));
    StConfigBaseAddr = "ST_CONFIG_BASE_ADDR", 5, simd_ldst!(8, en("LSB_MSB", 1, LSB_MSB), num("LOOP_INDEX", 5));
    StConfigBaseLoopIter = "ST_CONFIG_BASE_LOOP_ITER", 5, simd_ldst!(9, num("LSB_MSB", 1), num("LOOP_INDEX", 5));
    StConfigBaseLoopStride = "ST_CONFIG_BASE_LOOP_STRIDE", 5, simd_ldst!(10, en("LSB_MSB", 1, LSB_MSB), num("LOOP_INDEX", 5));
    StConfigTileLoopIter = "ST_CONFIG_TILE_LOOP_ITER", 5, simd_ldst!(11, num("LSB_MSB", 1), num("LOOP_INDEX", 5));
    StConfigTileLoopStride = "ST_CONFIG_TILE_LOOP_STRIDE", 5, simd_ldst!(12, en("LSB_MSB", 1, LSB_MSB), num("LOOP_INDEX", 5));
    StStart = "ST_START", 5, simd_ldst!(13, num("LSB_MSB", 1), num("DATA_WIDTH", 5));
    StConfigTileAddr = "ST_CONFIG_TILE_ADDR", 5, simd_ldst!(14, en("LSB_MSB", 1, LSB_MSB), num("LOOP_INDEX", 5));
    // SIMD ITERATOR_CONFIG (opcode 6)
    BaseSignExt = "BASE_SIGN_EXT", 6, iter_cfg!(0);
    BaseLow = "BASE_LOW", 6, iter_cfg!(1);
    BaseHigh = "BASE_HIGH", 6, iter_cfg!(2);
    BaseZeroFill = "BASE_ZEROFILL", 6, iter_cfg!(3);
    StrideSignExt = "STRIDE_SIGN_EXT", 6, iter_cfg!(4);
    StrideLow = "STRIDE_LOW", 6, iter_cfg!(5);
    StrideHigh = "STRIDE_HIGH", 6, iter_cfg!(6);
    StrideZeroFill = "STRIDE_ZEROFILL", 6, iter_cfg!(7);
    SetImmLow = "SET_IMM_LOW", 6, iter_cfg!(8);
    SetImmHigh = "SET_IMM_HIGH", 6, iter_cfg!(9);
    ImmSignExt = "IMM_SIGN_EXT", 6, iter_cfg!(10);
    // SIMD LOOP (opcode 7)
    SetIndex = "SET_INDEX", 7, compute!(0);
    SetIter = "SET_ITER", 7, &[hid("FN", 4, 1), num("LOOP_ID", 3), num("ZERO", 5), num("NUM_ITER", 16)];
    SetInst = "SET_INST", 7, &[hid("FN", 4, 2), num("SINGLE_NESTED", 3), num("ZERO", 5), num("NUM_INSTR", 16)];
    // SIMD PERMUTATION (opcode 8)
    PermSetBaseAddr = "PERM_SET_BASE_ADDR", 8, &[hid("FN", 4, 0), num("RD_WR", 3), num("ZERO", 5), num("ADDR", 16)];
    PermSetLoopIter = "PERM_SET_LOOP_ITER", 8, &[hid("FN", 4, 1), num("RD_WR", 3), num("LOOP_IDX", 5), num("NUM_ITER", 16)];
    PermSetLoopStride = "PERM_SET_LOOP_STRIDE", 8, &[hid("FN", 4, 2), num("RD_WR", 3), num("LOOP_IDX", 5), num("STRIDE", 16)];
    PermStart = "PERM_START", 8, &[hid("FN", 4, 3), en("DST_NS", 3, NAMESPACES), num("ZERO", 5), en("SRC_NS", 3, NAMESPACES), num("ZERO2", 12), num("SHUFFLE_BANKS", 1)];
    // Systolic array (opcode 9): op_spec bit 5 selects the reduction marker
    SaLoopCfg = "SA_LOOP_CFG", 9, &[cst("LOOP_CFG", 6, 0), num("LOOP_ID", 6), num("NUM_ITERATIONS", 16)];
    SaReductionLoop = "SA_REDUCTION_LOOP", 9, &[cst("OP_SPEC", 6, 32), num("LOOP_ID", 6), en("LOOP_TYPE", 14, INNER_OUTER), en("LOOP_DIM", 2, RED_DIM)];
    // Shared control (opcodes 10, 11)
    SyncInst = "SYNC_INST", 10, &[en("TARGET", 1, TARGET), en("START_END", 1, START_END), en("EXEC_BUF", 1, EXEC_BUF), num("NULL", 3), num("GROUP_NUM", 6), num("NUM_INSTR", 16)];
    BlockEnd = "BLOCK_END", 11, &[hid("ZERO", 12, 0), num("IS_END", 16)];
    // Systolic array (opcodes 12-14)
    SetLoopStride = "SET_LOOP_STRIDE", 12, &[en("LOW_HIGH", 1, LOW_HIGH), en("ACCESS", 3, ACCESS), en("BUFFER", 2, SA_BUFFERS), num("LOOP_ID", 6), num("STRIDE", 16)];
    SetBaseAddr = "SET_BASE_ADDR", 13, &[en("LOW_HIGH", 1, LOW_HIGH), en("MEM_TYPE", 1, MEM_TYPE), en("BUFFER", 4, SA_BUFFERS), num("NULL", 6), num("BASE_ADDR", 16)];
    LdSt = "LD_ST", 14, &[en("ACCESS", 1, LD_ST), en("MEM_TYPE", 1, MEM_TYPE), en("BUFFER", 4, SA_BUFFERS), num("LOOP_ID", 6), num("REQUEST_SIZE", 16)];
}

/// Most printed fields of any instruction.
pub const MAX_ARGS: usize = 6;

/// One decoded instruction: the table row and its printed field values in table order
/// (unused trailing slots are 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instr {
    pub op: Op,
    pub args: [u32; MAX_ARGS],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsaError {
    #[error("opcode {opcode} (word {word:#010x}) is not a GeneSys instruction (opcodes 0-14)")]
    BadOpcode { word: u32, opcode: u32 },
    #[error(
        "word {word:#010x}: opcode {opcode} has no instruction with these function/selector bits"
    )]
    NoMatch { word: u32, opcode: u32 },
    #[error("{mnemonic}: field {field} = {value} does not fit in {bits} bits")]
    FieldTooWide {
        mnemonic: &'static str,
        field: &'static str,
        value: u32,
        bits: u32,
    },
    #[error("{mnemonic}: field {field} must be {expected}, got {value}")]
    FixedField {
        mnemonic: &'static str,
        field: &'static str,
        expected: u32,
        value: u32,
    },
    #[error("unknown mnemonic `{0}` (hint: see docs/npu.md for the instruction table)")]
    UnknownMnemonic(String),
    #[error("{mnemonic} takes {expected} fields, got {got}")]
    FieldCount {
        mnemonic: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{mnemonic}: field {field}: `{text}` is neither a number nor one of {choices}")]
    BadValue {
        mnemonic: &'static str,
        field: &'static str,
        text: String,
        choices: String,
    },
}

impl Op {
    pub fn spec(self) -> &'static Spec {
        &SPECS[self as usize]
    }
    pub fn all() -> &'static [Op] {
        ALL_OPS
    }
    pub fn from_mnemonic(m: &str) -> Option<Op> {
        ALL_OPS.iter().copied().find(|op| op.spec().mnemonic == m)
    }
}

impl Spec {
    /// The fields that appear in the text form (all but `Hidden`).
    pub fn printed(&self) -> impl Iterator<Item = &Field> {
        self.fields
            .iter()
            .filter(|f| !matches!(f.kind, Kind::Hidden(_)))
    }
}

fn mask(bits: u32) -> u32 {
    if bits >= 32 {
        u32::MAX
    } else {
        (1u32 << bits) - 1
    }
}

/// Decode one 32-bit word.
pub fn decode(word: u32) -> Result<Instr, IsaError> {
    let opcode = word >> 28;
    if opcode == 15 {
        return Err(IsaError::BadOpcode { word, opcode });
    }
    'specs: for (i, spec) in SPECS.iter().enumerate() {
        if spec.opcode != opcode {
            continue;
        }
        let mut shift = 28;
        let mut args = [0u32; MAX_ARGS];
        let mut n = 0;
        for f in spec.fields {
            shift -= f.bits;
            let v = (word >> shift) & mask(f.bits);
            match f.kind {
                Kind::Hidden(c) => {
                    if v != c {
                        continue 'specs;
                    }
                    continue;
                }
                Kind::Const(c) if v != c => continue 'specs,
                _ => {}
            }
            args[n] = v;
            n += 1;
        }
        return Ok(Instr {
            op: ALL_OPS[i],
            args,
        });
    }
    Err(IsaError::NoMatch { word, opcode })
}

/// Encode one instruction; fails when a field value does not fit or a fixed field differs.
pub fn encode(instr: &Instr) -> Result<u32, IsaError> {
    let spec = instr.op.spec();
    let mut word = spec.opcode << 28;
    let mut shift = 28;
    let mut n = 0;
    for f in spec.fields {
        shift -= f.bits;
        let v = match f.kind {
            Kind::Hidden(c) => c,
            _ => {
                let v = instr.args[n];
                n += 1;
                if let Kind::Const(c) = f.kind {
                    if v != c {
                        return Err(IsaError::FixedField {
                            mnemonic: spec.mnemonic,
                            field: f.name,
                            expected: c,
                            value: v,
                        });
                    }
                }
                v
            }
        };
        if v > mask(f.bits) {
            return Err(IsaError::FieldTooWide {
                mnemonic: spec.mnemonic,
                field: f.name,
                value: v,
                bits: f.bits,
            });
        }
        word |= v << shift;
    }
    Ok(word)
}

/// Parse one assembly line (`MNEMONIC a, b, ...`; surrounding whitespace ignored).
pub fn assemble(line: &str) -> Result<Instr, IsaError> {
    let line = line.trim();
    let (mn, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let op = Op::from_mnemonic(mn).ok_or_else(|| IsaError::UnknownMnemonic(mn.to_string()))?;
    let spec = op.spec();
    let texts: Vec<&str> = if rest.trim().is_empty() {
        Vec::new()
    } else {
        rest.split(',').map(str::trim).collect()
    };
    let printed: Vec<&Field> = spec.printed().collect();
    if texts.len() != printed.len() {
        return Err(IsaError::FieldCount {
            mnemonic: spec.mnemonic,
            expected: printed.len(),
            got: texts.len(),
        });
    }
    let mut args = [0u32; MAX_ARGS];
    for (i, (f, t)) in printed.iter().zip(&texts).enumerate() {
        let named = match f.kind {
            Kind::Enum(names) => names.iter().position(|n| n == t).map(|p| p as u32),
            _ => None,
        };
        args[i] = match named.or_else(|| t.parse::<u32>().ok()) {
            Some(v) => v,
            None => {
                let choices = match f.kind {
                    Kind::Enum(names) => names.join("/"),
                    _ => "a number".to_string(),
                };
                return Err(IsaError::BadValue {
                    mnemonic: spec.mnemonic,
                    field: f.name,
                    text: t.to_string(),
                    choices,
                });
            }
        };
    }
    let instr = Instr { op, args };
    // Range and fixed-field checks live in the encoder.
    encode(&instr)?;
    Ok(instr)
}

impl fmt::Display for Instr {
    /// The `*_string_final.txt` syntax (without the loop-depth indentation).
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spec = self.op.spec();
        out.write_str(spec.mnemonic)?;
        for (i, f) in spec.printed().enumerate() {
            out.write_str(if i == 0 { " " } else { ", " })?;
            let v = self.args[i];
            match f.kind {
                Kind::Enum(names) if (v as usize) < names.len() => {
                    out.write_str(names[v as usize])?
                }
                _ => write!(out, "{v}")?,
            }
        }
        Ok(())
    }
}

/// A program: decoded instructions in issue order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Program {
    pub instrs: Vec<Instr>,
}

/// A located parse failure in a program file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {source}")]
pub struct ProgramError {
    pub line: usize,
    #[source]
    pub source: LineError,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("{0}")]
    Isa(#[from] IsaError),
    #[error("`{0}` is not a 32-character binary word")]
    NotBinary(String),
    #[error("`{0}` is not an unsigned 32-bit decimal word")]
    NotDecimal(String),
}

impl Program {
    pub fn words(&self) -> Result<Vec<u32>, IsaError> {
        self.instrs.iter().map(encode).collect()
    }

    pub fn from_words(words: &[u32]) -> Result<Program, ProgramError> {
        let instrs = words
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                decode(w).map_err(|e| ProgramError {
                    line: i + 1,
                    source: e.into(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Program { instrs })
    }

    fn parse_lines(
        text: &str,
        word: impl Fn(&str) -> Result<Instr, LineError>,
    ) -> Result<Program, ProgramError> {
        let mut instrs = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() {
                continue;
            }
            instrs.push(word(t).map_err(|source| ProgramError {
                line: i + 1,
                source,
            })?);
        }
        Ok(Program { instrs })
    }

    /// `*_binary.txt`: one 32-character 0/1 word per line.
    pub fn parse_binary(text: &str) -> Result<Program, ProgramError> {
        Self::parse_lines(text, |t| {
            if t.len() != 32 {
                return Err(LineError::NotBinary(t.to_string()));
            }
            let w = u32::from_str_radix(t, 2).map_err(|_| LineError::NotBinary(t.to_string()))?;
            Ok(decode(w)?)
        })
    }

    /// `*_decimal.txt`: one unsigned decimal word per line.
    pub fn parse_decimal(text: &str) -> Result<Program, ProgramError> {
        Self::parse_lines(text, |t| {
            let w = t
                .parse::<u32>()
                .map_err(|_| LineError::NotDecimal(t.to_string()))?;
            Ok(decode(w)?)
        })
    }

    /// `*_string_final.txt`: assembly, one instruction per line.
    pub fn parse_asm(text: &str) -> Result<Program, ProgramError> {
        Self::parse_lines(text, |t| Ok(assemble(t)?))
    }

    pub fn to_asm(&self) -> String {
        let mut s = String::new();
        for i in &self.instrs {
            s.push_str(&i.to_string());
            s.push('\n');
        }
        s
    }

    pub fn to_binary(&self) -> Result<String, IsaError> {
        Ok(self
            .words()?
            .iter()
            .map(|w| format!("{w:032b}\n"))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    #[test]
    fn table_fields_fill_28_bits_and_mnemonics_are_unique() {
        for spec in SPECS {
            let bits: u32 = spec.fields.iter().map(|f| f.bits).sum();
            assert_eq!(bits, 28, "{}", spec.mnemonic);
            assert!(spec.printed().count() <= MAX_ARGS);
            let same = SPECS.iter().filter(|s| s.mnemonic == spec.mnemonic).count();
            assert_eq!(same, 1, "{}", spec.mnemonic);
        }
    }

    /// GENESYS.md §2.6 worked decodes.
    #[test]
    fn worked_decodes() {
        let cases = [
            (
                "SYNC_INST SYSTOLIC_ARRAY, START, EXEC, 0, 0, 180",
                "10100000000000000000000010110100",
            ),
            (
                "SET_BASE_ADDR HIGH, BUFFER, IBUF, 0, 65",
                "11011000010000000000000001000001",
            ),
            ("SA_LOOP_CFG 0, 13, 11", "10010000000011010000000000001011"),
            (
                "SA_REDUCTION_LOOP 32, 2, OUTER, IC",
                "10011000000000100000000000000100",
            ),
            (
                "SET_LOOP_STRIDE LOW, RD, WBUF, 9, 4",
                "11000010000010010000000000000100",
            ),
            (
                "LD_ST LD, BUFFER, IBUF, 17, 288",
                "11100000010100010000000100100000",
            ),
            (
                "ST_START 0, VMEM2, 31, 1152",
                "01011101011111110000010010000000",
            ),
            (
                "SET_INDEX VMEM2, 0, OBUF, 0, IMM, 0",
                "01110000011000000000000010000000",
            ),
            (
                "RELU VMEM2, 0, OBUF, 0, IMM, 0",
                "00010000011000000000000010000000",
            ),
            ("BLOCK_END 1", "10110000000000000000000000000001"),
        ];
        for (asm, bin) in cases {
            let w = u32::from_str_radix(bin, 2).unwrap();
            let i = assemble(asm).unwrap();
            assert_eq!(encode(&i).unwrap(), w, "{asm}");
            assert_eq!(decode(w).unwrap().to_string(), asm);
        }
    }

    /// Property: every word that decodes re-encodes to itself, and every instruction built
    /// from random in-range fields survives encode → decode → print → assemble.
    #[test]
    fn round_trip_random_instructions() {
        let mut rng = SmallRng::seed_from_u64(0x06e9_e5e5);
        let mut decoded = 0;
        for _ in 0..200_000 {
            let w: u32 = rng.gen();
            if let Ok(i) = decode(w) {
                decoded += 1;
                assert_eq!(encode(&i).unwrap(), w);
            }
        }
        assert!(decoded > 50_000, "{decoded}");
        for &op in Op::all() {
            for _ in 0..200 {
                let mut args = [0u32; MAX_ARGS];
                for (a, f) in args.iter_mut().zip(op.spec().printed()) {
                    *a = match f.kind {
                        Kind::Const(c) => c,
                        _ => rng.gen::<u32>() & mask(f.bits),
                    };
                }
                let x = Instr { op, args };
                let w = encode(&x).unwrap();
                assert_eq!(decode(w).unwrap(), x);
                assert_eq!(assemble(&x.to_string()).unwrap(), x);
            }
        }
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            decode(0xF000_0000),
            Err(IsaError::BadOpcode {
                word: 0xF000_0000,
                opcode: 15
            })
        );
        // BLOCK_END with reserved bits set
        assert!(matches!(decode(0xB010_0001), Err(IsaError::NoMatch { .. })));
        assert!(matches!(
            assemble("FOO 1"),
            Err(IsaError::UnknownMnemonic(_))
        ));
        assert!(matches!(
            assemble("SA_LOOP_CFG 0, 64, 0"),
            Err(IsaError::FieldTooWide {
                field: "LOOP_ID",
                ..
            })
        ));
        assert!(matches!(
            assemble("SET_LOOP_STRIDE LOWER, RD, WBUF, 9, 4"),
            Err(IsaError::BadValue {
                field: "LOW_HIGH",
                ..
            })
        ));
        assert!(matches!(
            assemble("BLOCK_END"),
            Err(IsaError::FieldCount {
                expected: 1,
                got: 0,
                ..
            })
        ));
        let e = Program::parse_binary("1011000000000000000000000000000\n").unwrap_err();
        assert_eq!(e.line, 1);
    }
}
