//! Mapspace constraints (`constraints.toml`): per-level directives that narrow the set of
//! mappings a mapper may consider. Written by `loomap import timeloop` from Timeloop
//! constraint files; read by the mapper. The notation matches the mapping files.
//!
//! ```toml
//! [[constraint]]
//! target = "weights_spad"      # a storage level of the architecture
//! type = "temporal"            # temporal | spatial | bypass | utilization | (other Timeloop types kept verbatim)
//! factors = "N1 M1 P1 Q1 S1 R0" # fixed factors; `X0` = the full bound of X; `X<=8`, `X>=2` = limits
//! permutation = "NMPQS CR"     # innermost first; listed dims are fixed, as Timeloop reads them
//! split = 4                    # spatial only: loops at permutation positions < split go to mesh X
//! keep = ["Weights"]           # bypass only
//! bypass = ["Inputs", "Outputs"]
//! min = 0.5                    # utilization only: minimum fraction of compute units used
//! source = "architecture"      # architecture (what the hardware can do) | mapspace (search hints)
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{parse_toml, read, InputError};

#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConstraintsSpec {
    #[serde(default)]
    pub constraint: Vec<ConstraintToml>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConstraintToml {
    pub target: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub factors: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub permutation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bypass: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

impl ConstraintsSpec {
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

pub fn parse_constraints(text: &str, file: &Path) -> Result<ConstraintsSpec, InputError> {
    parse_toml(text, file, "constraints")
}

pub fn load_constraints(path: &Path) -> Result<ConstraintsSpec, InputError> {
    parse_constraints(&read(path)?, path)
}
