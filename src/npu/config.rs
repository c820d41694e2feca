//! `NpuConfig`: one GeneSys design point (array, buffer depths, widths, channel bandwidths),
//! built from loomap's `Arch`, from GeneSys' own JSON configuration, or from the compiler's
//! `benchmark_16x16.json` defaults (GENESYS.md §1.4, §1.7).

use crate::arch::Arch;

/// Which CALCULUS function numbering the SIMD uses (GENESYS.md §2.7 item 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CalculusNumbering {
    /// Compiler HEAD: 0 RELU, 1 LEAKY_RELU, 2 ABS, 3 SIGN, 4 SIGMOID, ... (test vectors).
    #[default]
    Compiler,
    /// ISA sheet: 0 RELU, 1 LEAKY_RELU, 2 SIGMOID, 3 TANH, 4 EXP, 5 LN, 6 SQRT, 7 INV_SQRT, 8 LOG2.
    Sheet,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NpuConfig {
    /// Systolic rows (input channels / GEMM N).
    pub array_n: usize,
    /// Systolic columns (output channels / GEMM P) = SIMD lanes.
    pub array_m: usize,
    /// Rows per bank.
    pub ibuf_depth: usize,
    pub wbuf_depth: usize,
    pub obuf_depth: usize,
    pub bbuf_depth: usize,
    pub vmem_depth: usize,
    pub imm_depth: usize,
    pub instr_depth: usize,
    pub data_width: u32,
    pub wgt_width: u32,
    pub acc_width: u32,
    pub bias_width: u32,
    /// AXI data bits per cycle of each DRAM channel.
    pub ibuf_channel_bits: u32,
    pub param_channel_bits: u32,
    pub obuf_channel_bits: u32,
    pub simd_channel_bits: u32,
    pub instr_channel_bits: u32,
    /// Addressable DRAM bytes (the ISA sets 32-bit bases).
    pub dram_bytes: u64,
    pub calculus: CalculusNumbering,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("{source_name}: {message} (hint: {hint})")]
    Invalid {
        source_name: String,
        message: String,
        hint: String,
    },
}

fn invalid(source_name: &str, message: String, hint: &str) -> ConfigError {
    ConfigError::Invalid {
        source_name: source_name.to_string(),
        message,
        hint: hint.to_string(),
    }
}

impl Default for NpuConfig {
    /// The compiler's `benchmark_16x16.json` (GENESYS.md §1.4 table), 512-bit channels.
    fn default() -> NpuConfig {
        NpuConfig {
            array_n: 16,
            array_m: 16,
            ibuf_depth: 4096,
            wbuf_depth: 4096,
            obuf_depth: 2048,
            bbuf_depth: 1024,
            vmem_depth: 2048 / 2 - 1,
            imm_depth: 64,
            instr_depth: 1024,
            data_width: 8,
            wgt_width: 8,
            acc_width: 32,
            bias_width: 32,
            ibuf_channel_bits: 512,
            param_channel_bits: 512,
            obuf_channel_bits: 512,
            simd_channel_bits: 512,
            instr_channel_bits: 512,
            dram_bytes: 1 << 32,
            calculus: CalculusNumbering::Compiler,
        }
    }
}

impl NpuConfig {
    /// Check the cross-field rules the simulator relies on.
    pub fn validate(&self, source_name: &str) -> Result<(), ConfigError> {
        let sizes = [
            ("ARRAY_N", self.array_n),
            ("ARRAY_M", self.array_m),
            ("IBUF_DEPTH", self.ibuf_depth),
            ("WBUF_DEPTH", self.wbuf_depth),
            ("OBUF_DEPTH", self.obuf_depth),
            ("BBUF_DEPTH", self.bbuf_depth),
            ("VMEM_DEPTH", self.vmem_depth),
            ("IMM_DEPTH", self.imm_depth),
        ];
        for (name, v) in sizes {
            if v == 0 {
                return Err(invalid(
                    source_name,
                    format!("{name} is 0"),
                    "every size must be at least 1",
                ));
            }
        }
        for (name, w) in [
            ("DATA_WIDTH", self.data_width),
            ("WGT_WIDTH", self.wgt_width),
            ("ACC_WIDTH", self.acc_width),
            ("BIAS_WIDTH", self.bias_width),
        ] {
            if !matches!(w, 8 | 16 | 32) {
                return Err(invalid(
                    source_name,
                    format!("{name} = {w} bits"),
                    "the simulator supports byte-multiple widths 8, 16 or 32",
                ));
            }
        }
        for (name, b) in [
            ("IBUF_CHANNEL_BW", self.ibuf_channel_bits),
            ("PARAM_BUF_CHANNEL_BW", self.param_channel_bits),
            ("OBUF_CHANNEL_BW", self.obuf_channel_bits),
            ("SIMD_CHANNEL_BW", self.simd_channel_bits),
            ("INSTR_CHANNEL_BW", self.instr_channel_bits),
        ] {
            if b == 0 || b % 8 != 0 {
                return Err(invalid(
                    source_name,
                    format!("{name} = {b} bits"),
                    "channel widths are positive multiples of 8 bits",
                ));
            }
        }
        Ok(())
    }

    /// WBUF interleave: how many consecutive WBUF rows one DRAM beat group feeds
    /// (GENESYS.md §3.5: I = (PARAM_BUF_CHANNEL_BW / 8) / ARRAY_N; at least 1).
    pub fn wbuf_interleave(&self) -> usize {
        ((self.param_channel_bits as usize / 8) / (self.array_n * self.wgt_width as usize / 8))
            .max(1)
    }

    /// From loomap's architecture: the array is the compute mesh (rows = mesh_y, columns =
    /// mesh_x); buffer depths come from levels named IBUF, WBUF, OBUF, BBUF (size_words /
    /// words per row). Widths and channels not expressible in `Arch` keep the defaults.
    pub fn from_arch(arch: &Arch) -> Result<NpuConfig, ConfigError> {
        let src = format!("arch `{}`", arch.name);
        let mut c = NpuConfig {
            array_n: arch.compute.mesh_y as usize,
            array_m: arch.compute.mesh_x as usize,
            ..NpuConfig::default()
        };
        let n = c.array_n as u64;
        let m = c.array_m as u64;
        let depth = |name: &str, words_per_row: u64| -> Result<(usize, u32), ConfigError> {
            let id = arch.level_id(name).ok_or_else(|| {
                invalid(&src, format!("no level named {name}"), "a GeneSys arch names its levels IBUF, WBUF, OBUF and BBUF (see arch/genesys_16x16.toml)")
            })?;
            let level = &arch.levels[id];
            let words = level.size_words.ok_or_else(|| {
                invalid(
                    &src,
                    format!("level {name} has no size_words"),
                    "give the buffer's capacity in words",
                )
            })?;
            Ok(((words / words_per_row) as usize, level.word_bits))
        };
        // WBUF is one instance per PE, so its per-instance words are already rows.
        let (ibuf, data_bits) = depth("IBUF", n)?;
        let (wbuf, wgt_bits) = depth("WBUF", 1)?;
        let (obuf, acc_bits) = depth("OBUF", m)?;
        let (bbuf, bias_bits) = depth("BBUF", m)?;
        c.ibuf_depth = ibuf;
        c.wbuf_depth = wbuf;
        c.obuf_depth = obuf;
        c.bbuf_depth = bbuf;
        c.vmem_depth = (obuf / 2).saturating_sub(1).max(1);
        // DRAM channels: a buffer's fill bandwidth in the arch (write_bw, words per cycle per
        // instance) is the AXI channel that feeds it, so model and simulator read one number.
        let fill_bits = |name: &str| -> Option<u32> {
            let level = &arch.levels[arch.level_id(name)?];
            let bits = level.write_bw? * level.instances as f64 * level.word_bits as f64;
            (bits >= 8.0).then_some(bits.round() as u32)
        };
        if let Some(bits) = fill_bits("IBUF") {
            c.ibuf_channel_bits = bits;
        }
        if let Some(bits) = fill_bits("WBUF") {
            c.param_channel_bits = bits;
        }
        c.data_width = data_bits;
        c.wgt_width = wgt_bits;
        c.acc_width = acc_bits;
        c.bias_width = bias_bits;
        c.validate(&src)?;
        Ok(c)
    }

    /// From GeneSys' JSON configuration (compiler `config_loader` keys, GENESYS.md §1.7):
    /// required ARRAY_N, ARRAY_M, IBUF_DEPTH, WBUF_DEPTH, OBUF_DEPTH, BBUF_DEPTH,
    /// PARAM_BUF_CHANNEL_BW; the rest default as the compiler does.
    pub fn from_genesys_json(text: &str, source_name: &str) -> Result<NpuConfig, ConfigError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            invalid(
                source_name,
                format!("not valid JSON: {e}"),
                "a GeneSys *arch_cfg.json is one JSON object",
            )
        })?;
        let obj = v.as_object().ok_or_else(|| {
            invalid(
                source_name,
                "top level is not an object".into(),
                "a GeneSys *arch_cfg.json is one JSON object",
            )
        })?;
        let get = |key: &str| -> Result<Option<u64>, ConfigError> {
            match obj.get(key) {
                None => Ok(None),
                Some(x) => x.as_u64().map(Some).ok_or_else(|| {
                    invalid(
                        source_name,
                        format!("key {key} = {x} is not a non-negative integer"),
                        "sizes and widths are integers",
                    )
                }),
            }
        };
        let req = |key: &str| -> Result<u64, ConfigError> {
            get(key)?.ok_or_else(|| invalid(source_name, format!("missing key {key}"), "required: ARRAY_N, ARRAY_M, IBUF_DEPTH, WBUF_DEPTH, OBUF_DEPTH, BBUF_DEPTH, PARAM_BUF_CHANNEL_BW"))
        };
        let d = NpuConfig::default();
        let array_n = req("ARRAY_N")? as usize;
        let array_m = req("ARRAY_M")? as usize;
        let obuf_depth = req("OBUF_DEPTH")? as usize;
        let param_bw = req("PARAM_BUF_CHANNEL_BW")? as u32;
        let bw = |key: &str| -> Result<u32, ConfigError> {
            Ok(get(key)?.map_or(param_bw, |x| x as u32))
        };
        let c = NpuConfig {
            array_n,
            array_m,
            ibuf_depth: req("IBUF_DEPTH")? as usize,
            wbuf_depth: req("WBUF_DEPTH")? as usize,
            obuf_depth,
            bbuf_depth: req("BBUF_DEPTH")? as usize,
            vmem_depth: get("VMEM_DEPTH")?
                .map_or((obuf_depth / 2).saturating_sub(1), |x| x as usize),
            imm_depth: get("IMM_DEPTH")?.map_or(d.imm_depth, |x| x as usize),
            instr_depth: get("INSTR_DEPTH")?.map_or(d.instr_depth, |x| x as usize),
            data_width: get("DATA_WIDTH")?.map_or(d.data_width, |x| x as u32),
            wgt_width: get("WGT_WIDTH")?.map_or(d.wgt_width, |x| x as u32),
            acc_width: get("ACC_WIDTH")?.map_or(d.acc_width, |x| x as u32),
            bias_width: get("BIAS_WIDTH")?.map_or(d.bias_width, |x| x as u32),
            ibuf_channel_bits: bw("IBUF_CHANNEL_BW")?,
            param_channel_bits: param_bw,
            obuf_channel_bits: bw("OBUF_CHANNEL_BW")?,
            simd_channel_bits: bw("SIMD_CHANNEL_BW")?,
            instr_channel_bits: bw("INSTR_CHANNEL_BW")?,
            dram_bytes: d.dram_bytes,
            calculus: CalculusNumbering::Compiler,
        };
        if let Some(simd) = get("SIMD_WIDTH")? {
            if simd as usize != array_m {
                return Err(invalid(
                    source_name,
                    format!("SIMD_WIDTH {simd} != ARRAY_M {array_m}"),
                    "GeneSys requires SIMD_WIDTH == ARRAY_M",
                ));
            }
        }
        c.validate(source_name)?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_bundled_arch_matches_benchmark_16x16() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("arch/genesys_16x16.toml");
        let arch = crate::io::load_arch(&path).unwrap();
        let c = NpuConfig::from_arch(&arch).unwrap();
        assert_eq!(c, NpuConfig::default());
        assert_eq!(c.wbuf_interleave(), 4);
    }

    #[test]
    fn json_config_required_and_defaults() {
        let j = r#"{"ARRAY_N": 32, "ARRAY_M": 32, "IBUF_DEPTH": 1024, "WBUF_DEPTH": 2048,
                    "OBUF_DEPTH": 1024, "BBUF_DEPTH": 1024, "PARAM_BUF_CHANNEL_BW": 256}"#;
        let c = NpuConfig::from_genesys_json(j, "t.json").unwrap();
        assert_eq!(
            (c.array_n, c.array_m, c.vmem_depth, c.ibuf_channel_bits),
            (32, 32, 511, 256)
        );
        assert_eq!(c.wbuf_interleave(), 1);
        let e = NpuConfig::from_genesys_json(r#"{"ARRAY_N": 16}"#, "t.json").unwrap_err();
        assert!(e.to_string().contains("missing key ARRAY_M"), "{e}");
        let e = NpuConfig::from_genesys_json(r#"{"ARRAY_N": 16, "ARRAY_M": 16, "IBUF_DEPTH": 1, "WBUF_DEPTH": 1, "OBUF_DEPTH": 4, "BBUF_DEPTH": 1, "PARAM_BUF_CHANNEL_BW": 512, "DATA_WIDTH": 4}"#, "t.json").unwrap_err();
        assert!(e.to_string().contains("DATA_WIDTH = 4"), "{e}");
    }
}
