//! Fills the energies and areas an arch file leaves out, using the `estimate` models.
//!
//! Rule (arch/README.md, "Estimated energies and areas"): with `technology_nm` set, every
//! missing `read_energy_pj`, `write_energy_pj`, `update_energy_pj`, `leak_pj_per_cycle`,
//! `area_um2` of a level and `energy_pj`, `area_um2` of `[compute]` is estimated; explicit
//! values always win. Without `technology_nm` nothing is estimated (missing values are 0,
//! as before), and the keys that only feed the estimate (`banks`, `ports`, `dram_type`,
//! `mac_type`) are errors, so a forgotten node never silently yields zero energies.

use std::path::Path;

use super::{err, parse_toml, read, ArchSpec, InputError};
use crate::arch::{Arch, LevelClass};
use crate::estimate::{
    self, Action, ArtRow, DramType, ErtRow, EstimateError, Generation, LevelShape, MacKind, Source,
    Tables, Technology,
};

/// An arch spec with the estimated values written in, and the ERT/ART saying which are which.
#[derive(Debug, Clone)]
pub struct Filled {
    pub spec: ArchSpec,
    pub tables: Tables,
}

const NEEDS_NODE_HINT: &str =
    "add `technology_nm = 45` (any node from 7 to 130 nm) at the top of the file, or remove the key";

fn class_of(name: &str) -> Option<LevelClass> {
    match name.to_ascii_lowercase().as_str() {
        "dram" => Some(LevelClass::Dram),
        "sram" => Some(LevelClass::Sram),
        "regfile" => Some(LevelClass::Regfile),
        "dummy" => Some(LevelClass::Dummy),
        _ => None,
    }
}

/// The arch-file key an estimation error is about.
fn key_of(e: &EstimateError) -> &'static str {
    match e {
        EstimateError::NotPositive { what: "depth", .. } => "size_words",
        EstimateError::NotPositive {
            what: "width_bits", ..
        } => "word_bits",
        EstimateError::NotPositive { what, .. } => what,
        EstimateError::TooManyBanks { .. } => "banks",
        EstimateError::BadNumber { what, .. } => what,
        EstimateError::UnsupportedFp { .. } => "mac_type",
        EstimateError::Unknown { what, .. } => what,
        EstimateError::UnsupportedNode { .. } => "technology_nm",
    }
}

fn pick(given: Option<f64>, estimate: Option<f64>) -> (Option<f64>, f64, Source) {
    match (given, estimate) {
        (Some(v), _) => (Some(v), v, Source::Explicit),
        (None, Some(e)) => (Some(e), e, Source::Estimated),
        (None, None) => (None, 0.0, Source::Default),
    }
}

/// Fills `spec`'s missing energies and areas (see the module docs).
pub fn fill(spec: &ArchSpec, file: &Path) -> Result<Filled, InputError> {
    let mut out = spec.clone();
    // A fully explicit file keeps loading whatever its (then informational) node says.
    let anything_missing = spec.compute.energy_pj.is_none()
        || spec.compute.area_um2.is_none()
        || spec.level.iter().any(|l| {
            class_of(&l.class).is_some_and(|c| c != LevelClass::Dummy)
                && (l.read_energy_pj.is_none()
                    || l.write_energy_pj.is_none()
                    || l.leak_pj_per_cycle.is_none()
                    || l.area_um2.is_none())
        });
    let tech = match spec.technology_nm.filter(|_| anything_missing) {
        Some(nm) => Some(Technology::new(nm).map_err(|e| {
            err(
                file,
                "technology_nm",
                e.to_string(),
                "use a node from 7 to 130 nm, e.g. technology_nm = 45",
            )
        })?),
        None => None,
    };
    let clock_ghz = spec.clock_ghz.unwrap_or(1.0);
    let node_given = spec.technology_nm.is_some();
    let generation = match spec.estimate_generation.as_deref() {
        None => Generation::Current,
        Some(_) if !node_given => {
            return Err(err(
                file,
                "estimate_generation",
                "`estimate_generation` only selects how energies/areas are estimated, which needs the process node".to_string(),
                NEEDS_NODE_HINT,
            ))
        }
        Some(name) => name.parse::<Generation>().map_err(|e| {
            err(
                file,
                "estimate_generation",
                e.to_string(),
                "use \"current\" (the 2024 Accelergy tables, the default) or \"accelergy-2020\" (the 2019-20 tables of the acc_* and legacy2020_* references)",
            )
        })?,
    };
    let mut tables = Tables {
        technology_nm: spec.technology_nm,
        ..Tables::default()
    };

    for (i, l) in out.level.iter_mut().enumerate() {
        let at = |key: &str| format!("level[{i}] (`{}`).{key}", l.name);
        let Some(class) = class_of(&l.class) else {
            continue; // to_arch reports the unknown class with its own hint
        };
        if !node_given {
            let only_for_estimate = [
                ("banks", l.banks.is_some()),
                ("ports", l.ports.is_some()),
                ("dram_type", l.dram_type.is_some()),
            ];
            if let Some((key, _)) = only_for_estimate.iter().find(|(_, set)| *set) {
                return Err(err(
                    file,
                    at(key),
                    format!(
                        "`{key}` only feeds the energy/area estimate, which needs the process node"
                    ),
                    NEEDS_NODE_HINT,
                ));
            }
        }
        let dram_type = match &l.dram_type {
            Some(name) if class != LevelClass::Dram => {
                return Err(err(
                    file,
                    at("dram_type"),
                    format!("`dram_type = \"{name}\"` on a `{}` level", l.class),
                    "dram_type applies only to class = \"dram\"; remove it",
                ))
            }
            Some(name) => name.parse::<DramType>().map_err(|e| {
                err(
                    file,
                    at("dram_type"),
                    e.to_string(),
                    "LPDDR4 is what the Timeloop references use",
                )
            })?,
            None => DramType::Lpddr4,
        };
        let missing = l.read_energy_pj.is_none()
            || l.write_energy_pj.is_none()
            || l.leak_pj_per_cycle.is_none()
            || l.area_um2.is_none();
        let needs_size = matches!(class, LevelClass::Sram | LevelClass::Regfile);
        let estimate = match &tech {
            // A missing SRAM/regfile capacity is reported by to_arch with its own hint.
            Some(t)
                if missing
                    && class != LevelClass::Dummy
                    && (!needs_size || l.size_words.is_some()) =>
            {
                let shape = LevelShape {
                    class,
                    size_words: l.size_words,
                    word_bits: l.word_bits.unwrap_or(16),
                    block_size: l.block_size.unwrap_or(1),
                    cluster_size: l.cluster_size.unwrap_or(1),
                    banks: l.banks.unwrap_or(1),
                    ports: l.ports.unwrap_or(1),
                    dram_type,
                };
                let e = estimate::storage_level_for(&shape, t, clock_ghz, generation).map_err(|e| {
                    let key = key_of(&e);
                    let location = if key == "clock_ghz" { key.to_string() } else { at(key) };
                    err(
                        file,
                        location,
                        format!("cannot estimate energies: {e}"),
                        "fix the value, or give read_energy_pj, write_energy_pj, leak_pj_per_cycle and area_um2 explicitly",
                    )
                })?;
                Some(e)
            }
            _ => None,
        };
        let write_given = l.write_energy_pj;
        let (read_v, read, read_src) = pick(l.read_energy_pj, estimate.map(|e| e.read_pj));
        let (write_v, write, write_src) = pick(l.write_energy_pj, estimate.map(|e| e.write_pj));
        // An explicit write energy stands for update too (the documented default); only
        // when both are missing is update estimated.
        let update_estimate = if write_given.is_some() {
            None
        } else {
            estimate.map(|e| e.update_pj)
        };
        let (update_v, mut update, mut update_src) = pick(l.update_energy_pj, update_estimate);
        if update_v.is_none() {
            (update, update_src) = (write, write_src);
        }
        let (leak_v, leak, leak_src) =
            pick(l.leak_pj_per_cycle, estimate.map(|e| e.leak_pj_per_cycle));
        let (area_v, area, area_src) = pick(l.area_um2, estimate.map(|e| e.area_um2));
        l.read_energy_pj = read_v;
        l.write_energy_pj = write_v;
        l.update_energy_pj = update_v;
        l.leak_pj_per_cycle = leak_v;
        l.area_um2 = area_v;

        let component = l.name.clone();
        let class_name = class.name().to_string();
        for (action, energy_pj, source) in [
            (Action::Read, read, read_src),
            (Action::Write, write, write_src),
            (Action::Update, update, update_src),
            (Action::Leak, leak, leak_src),
        ] {
            tables.ert.push(ErtRow {
                component: component.clone(),
                class: class_name.clone(),
                action,
                energy_pj,
                source,
            });
        }
        tables.art.push(ArtRow {
            component,
            class: class_name,
            instances: l
                .instances
                .unwrap_or_else(|| l.mesh_x.unwrap_or(1).saturating_mul(l.mesh_y.unwrap_or(1))),
            area_um2: area,
            source: area_src,
        });
    }

    let c = &mut out.compute;
    let at = |key: &str| format!("compute (`{}`).{key}", c.name);
    if !node_given && c.mac_type.is_some() {
        return Err(err(
            file,
            at("mac_type"),
            "`mac_type` only feeds the energy/area estimate, which needs the process node",
            NEEDS_NODE_HINT,
        ));
    }
    let word_bits = c.word_bits.unwrap_or(16);
    let kind =
        MacKind::from_name(c.mac_type.as_deref().unwrap_or("int"), word_bits).map_err(|e| {
            err(
                file,
                at("mac_type"),
                e.to_string(),
                "int for integer MACs; fp16, bf16 or fp32 (or fp with word_bits 16 or 32)",
            )
        })?;
    let estimate = match &tech {
        Some(t) if c.energy_pj.is_none() || c.area_um2.is_none() => {
            Some(estimate::mac(kind, t).map_err(|e| {
                err(
                    file,
                    at("word_bits"),
                    format!("cannot estimate the MAC: {e}"),
                    "word_bits must be at least 1",
                )
            })?)
        }
        _ => None,
    };
    let (energy_v, energy, energy_src) = pick(c.energy_pj, estimate.map(|e| e.energy_pj));
    let (area_v, area, area_src) = pick(c.area_um2, estimate.map(|e| e.area_um2));
    c.energy_pj = energy_v;
    c.area_um2 = area_v;
    let class_name = match kind {
        MacKind::Int { bits } => format!("int{bits} mac"),
        MacKind::Fp(f) => format!("{} mac", f.name()),
    };
    tables.ert.push(ErtRow {
        component: c.name.clone(),
        class: class_name.clone(),
        action: Action::Compute,
        energy_pj: energy,
        source: energy_src,
    });
    tables.art.push(ArtRow {
        component: c.name.clone(),
        class: class_name,
        instances: c
            .instances
            .unwrap_or_else(|| c.mesh_x.unwrap_or(1).saturating_mul(c.mesh_y.unwrap_or(1))),
        area_um2: area,
        source: area_src,
    });
    Ok(Filled { spec: out, tables })
}

/// Loads an arch file and returns the validated architecture with its ERT/ART.
pub fn load_arch_with_tables(path: &Path) -> Result<(Arch, Tables), InputError> {
    let spec: ArchSpec = parse_toml(&read(path)?, path, "architecture")?;
    let filled = fill(&spec, path)?;
    let arch = filled.spec.to_arch_as_given(path)?;
    Ok((arch, filled.tables))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::parse_arch;

    const ARCH: &str = r#"
name = "est"
technology_nm = 45
[[level]]
name = "DRAM"
class = "dram"
word_bits = 8
block_size = 8
[[level]]
name = "GLB"
class = "sram"
word_bits = 8
block_size = 8
size_words = 131072
read_energy_pj = 30.0
[[level]]
name = "RF"
class = "regfile"
size_words = 16
instances = 4
[compute]
name = "MAC"
instances = 4
word_bits = 8
"#;

    #[test]
    fn missing_values_are_estimated_and_explicit_ones_kept() {
        let a = parse_arch(ARCH, Path::new("a.toml")).unwrap();
        let (dram, glb, rf) = (&a.levels[2], &a.levels[1], &a.levels[0]);
        assert_eq!(dram.read_energy_pj, 512.0); // LPDDR4, 64-bit rows
        assert_eq!(glb.read_energy_pj, 30.0);
        let est = estimate::sram(
            &estimate::MemoryShape::new(64, 16384),
            &Technology::nm45(),
            1.0,
        )
        .unwrap();
        assert_eq!(glb.write_energy_pj, est.write_pj);
        assert_eq!(glb.update_energy_pj, est.update_pj);
        assert_eq!(glb.area_um2, est.area_um2);
        assert!(rf.read_energy_pj > 0.0 && rf.leak_pj_per_cycle > 0.0 && rf.area_um2 > 0.0);
        let mac = estimate::mac(MacKind::Int { bits: 8 }, &Technology::nm45()).unwrap();
        assert_eq!(a.compute.energy_pj, mac.energy_pj);
    }

    #[test]
    fn tables_mark_the_source_of_every_value() {
        let spec: ArchSpec = toml::from_str(ARCH).unwrap();
        let t = fill(&spec, Path::new("a.toml")).unwrap().tables;
        let glb: Vec<_> = t.ert.iter().filter(|r| r.component == "GLB").collect();
        assert_eq!(glb.len(), 4);
        assert_eq!(glb[0].source, Source::Explicit);
        assert!(glb[1..].iter().all(|r| r.source == Source::Estimated));
        assert_eq!(t.art.len(), 4);
        assert_eq!(t.art[2].instances, 4);
    }

    #[test]
    fn explicit_write_still_stands_for_update() {
        let text = ARCH.replace("read_energy_pj = 30.0", "write_energy_pj = 7.0");
        let a = parse_arch(&text, Path::new("a.toml")).unwrap();
        assert_eq!(a.levels[1].update_energy_pj, 7.0);
    }

    #[test]
    fn estimate_keys_without_a_node_are_located_errors() {
        let text = ARCH
            .replace("technology_nm = 45", "")
            .replace("class = \"dram\"", "class = \"dram\"\ndram_type = \"hbm2\"");
        let e = parse_arch(&text, Path::new("a.toml")).unwrap_err();
        assert_eq!(e.location, "level[0] (`DRAM`).dram_type");
        assert!(e.hint.contains("technology_nm"), "{e}");
        let text = format!("{ARCH}mac_type = \"fp\"\n").replace("technology_nm = 45", "");
        let e = parse_arch(&text, Path::new("a.toml")).unwrap_err();
        assert!(e.location.ends_with(".mac_type"), "{e}");
    }

    #[test]
    fn without_a_node_missing_values_stay_zero() {
        let text = ARCH.replace("technology_nm = 45", "");
        let a = parse_arch(&text, Path::new("a.toml")).unwrap();
        assert_eq!(a.levels[0].read_energy_pj, 0.0);
        assert_eq!(a.compute.energy_pj, 0.0);
    }

    #[test]
    fn a_fully_explicit_file_loads_at_any_node() {
        let text = r#"
name = "old"
technology_nm = 180
[[level]]
name = "DRAM"
class = "dram"
read_energy_pj = 100.0
write_energy_pj = 100.0
leak_pj_per_cycle = 0.0
area_um2 = 0.0
[compute]
name = "MAC"
energy_pj = 1.0
area_um2 = 1.0
"#;
        let a = parse_arch(text, Path::new("a.toml")).unwrap();
        assert_eq!(a.levels[0].read_energy_pj, 100.0);
    }

    #[test]
    fn bad_estimation_inputs_are_located() {
        let e = parse_arch(
            &ARCH.replace("technology_nm = 45", "technology_nm = 3"),
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert_eq!(e.location, "technology_nm");
        let e = parse_arch(
            &ARCH.replace("size_words = 16", "size_words = 16\nbanks = 32"),
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert_eq!(e.location, "level[2] (`RF`).banks");
        let e = parse_arch(
            &ARCH.replace("size_words = 16", "size_words = 0"),
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert_eq!(e.location, "level[2] (`RF`).size_words");
        let e = parse_arch(
            &ARCH.replace("class = \"sram\"", "class = \"sram\"\ndram_type = \"ddr4\""),
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(e.hint.contains("only to class = \"dram\""), "{e}");
        let e = parse_arch(
            &ARCH.replace("class = \"dram\"", "class = \"dram\"\ndram_type = \"ddr9\""),
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(
            e.message.contains("ddr9") && e.message.contains("hbm2"),
            "{e}"
        );
        let e = parse_arch(&format!("{ARCH}mac_type = \"fp\"\n"), Path::new("a.toml")).unwrap_err();
        assert!(
            e.location.ends_with("mac_type") && e.message.contains("8 bits"),
            "{e}"
        );
    }
}
