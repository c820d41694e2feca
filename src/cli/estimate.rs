//! `loomap estimate`: the energy (ERT) and area (ART) reference tables of an architecture,
//! each value marked explicit (from the file), estimated (docs/estimate.md) or default (0).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use loomap::estimate::Tables;
use loomap::io::estimate_fill::load_arch_with_tables;

use super::Format;

#[derive(clap::Args)]
pub struct Args {
    /// Architecture file (arch/*.toml).
    #[arg(long)]
    arch: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let (arch, tables) = load_arch_with_tables(&a.arch)?;
    let out = match a.format {
        Format::Text => text(&arch.name, arch.clock_ghz, &tables),
        Format::Json => json(&arch.name, arch.clock_ghz, &tables),
        Format::Csv => csv(&tables),
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn total_area_um2(t: &Tables) -> f64 {
    t.art.iter().map(|r| r.area_um2 * r.instances as f64).sum()
}

fn text(name: &str, clock_ghz: f64, t: &Tables) -> String {
    let mut s = String::new();
    let node = t
        .technology_nm
        .map_or("no technology_nm: nothing estimated".to_string(), |nm| {
            format!("{nm} nm")
        });
    let _ = writeln!(s, "architecture {name} ({node}, {clock_ghz} GHz)");
    let _ = writeln!(
        s,
        "\nERT: pJ per vector access (leak: pJ per cycle per instance; compute: pJ per MAC)"
    );
    let _ = writeln!(
        s,
        "{:<34} {:<12} {:<8} {:>14}  source",
        "component", "class", "action", "energy_pJ"
    );
    for r in &t.ert {
        let _ = writeln!(
            s,
            "{:<34} {:<12} {:<8} {:>14.6}  {}",
            r.component,
            r.class,
            r.action.name(),
            r.energy_pj,
            r.source.name()
        );
    }
    let _ = writeln!(s, "\nART: µm² per instance");
    let _ = writeln!(
        s,
        "{:<34} {:<12} {:>9} {:>14} {:>16}  source",
        "component", "class", "instances", "area_um2", "total_um2"
    );
    for r in &t.art {
        let _ = writeln!(
            s,
            "{:<34} {:<12} {:>9} {:>14.3} {:>16.1}  {}",
            r.component,
            r.class,
            r.instances,
            r.area_um2,
            r.area_um2 * r.instances as f64,
            r.source.name()
        );
    }
    let _ = writeln!(s, "total area {:.4} mm²", total_area_um2(t) * 1e-6);
    s
}

fn json(name: &str, clock_ghz: f64, t: &Tables) -> String {
    let ert: Vec<_> = t
        .ert
        .iter()
        .map(|r| {
            serde_json::json!({
                "component": r.component,
                "class": r.class,
                "action": r.action.name(),
                "energy_pj": r.energy_pj,
                "source": r.source.name(),
            })
        })
        .collect();
    let art: Vec<_> = t
        .art
        .iter()
        .map(|r| {
            serde_json::json!({
                "component": r.component,
                "class": r.class,
                "instances": r.instances,
                "area_um2": r.area_um2,
                "source": r.source.name(),
            })
        })
        .collect();
    let v = serde_json::json!({
        "arch": name,
        "technology_nm": t.technology_nm,
        "clock_ghz": clock_ghz,
        "ert": ert,
        "art": art,
        "total_area_um2": total_area_um2(t),
    });
    format!("{v:#}\n")
}

fn csv(t: &Tables) -> String {
    let mut s = String::from("table,component,class,action,value,unit,instances,source\n");
    for r in &t.ert {
        let unit = match r.action {
            loomap::estimate::Action::Leak => "pJ/cycle",
            _ => "pJ",
        };
        let _ = writeln!(
            s,
            "ert,{},{},{},{},{unit},,{}",
            r.component,
            r.class,
            r.action.name(),
            r.energy_pj,
            r.source.name()
        );
    }
    for r in &t.art {
        let _ = writeln!(
            s,
            "art,{},{},area,{},um2,{},{}",
            r.component,
            r.class,
            r.area_um2,
            r.instances,
            r.source.name()
        );
    }
    s
}
