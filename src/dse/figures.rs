//! A sweep's plots, drawn from its output directory alone (`run.toml` + `results.csv`), so
//! `loomap plot DIR` re-renders them after a merge without re-running anything.
//!
//! * `pareto.{png,svg}`: every ok variant on the first two Pareto objectives, the front
//!   highlighted and labelled with its parameters;
//! * `sweep.{png,svg}`: latency and energy against the first swept parameter, one line per
//!   value of the second (each point the best over the other parameters);
//! * `energy_breakdown.{png,svg}`: network energy per storage level and the MACs for the
//!   front's variants;
//! * `utilization.{png,svg}`: MAC utilization over the first two parameters (each cell the
//!   best-EDP variant with those two values).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::store::{self, RunRecord};
use super::{DseError, ParetoMetric, VariantRow, VariantStatus};
use crate::plot;

/// Most lines in the sweep plot and bars in the breakdown before they stop being readable.
const MAX_SERIES: usize = 8;
const MAX_BARS: usize = 12;

fn axis_title(m: ParetoMetric) -> &'static str {
    match m {
        ParetoMetric::Latency => "latency (cycles)",
        ParetoMetric::Energy => "energy (pJ)",
        ParetoMetric::Area => "area (µm²)",
        ParetoMetric::Edp => "EDP (pJ·cycles)",
        ParetoMetric::Power => "power (W)",
    }
}

/// Log scale when the values span more than two decades.
fn wants_log(values: impl Iterator<Item = f64>) -> bool {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    hi > 0.0 && lo < f64::MAX && hi / lo > 100.0
}

fn draw_err(e: plot::PlotError) -> DseError {
    DseError::Store(format!("plot: {e}"))
}

/// Renders every plot of a sweep directory; returns the files written.
pub fn render_dir(dir: &Path) -> Result<Vec<PathBuf>, DseError> {
    let run = RunRecord::load(dir)?;
    let rows = store::read_results(dir, &run, false)?;
    let variants = store::aggregate(&run, &rows);
    let metrics = run.pareto_metrics()?;
    let ok: Vec<&VariantRow> = variants
        .iter()
        .filter(|v| v.status == VariantStatus::Ok)
        .collect();
    let mut written = Vec::new();
    if ok.is_empty() {
        return Ok(written);
    }
    let front_idx = store::front_of(&variants, &metrics);
    let front: Vec<&VariantRow> = front_idx.iter().map(|&i| &variants[i]).collect();
    let mut save = |name: &str, draw: &dyn Fn(&Path) -> Result<plot::Rendered, plot::PlotError>| {
        for ext in ["png", "svg"] {
            let path = dir.join(format!("{name}.{ext}"));
            draw(&path).map_err(draw_err)?;
            written.push(path);
        }
        Ok::<(), DseError>(())
    };

    // Pareto scatter over the first two objectives (latency and energy when there is one).
    let (mx, my) = match metrics.as_slice() {
        [a, b, ..] => (*a, *b),
        [a] if *a != ParetoMetric::Energy => (*a, ParetoMetric::Energy),
        _ => (ParetoMetric::Latency, ParetoMetric::Energy),
    };
    // With more than two objectives the front is a surface; joining its projection would
    // zigzag, so the plot highlights the front of the two plotted objectives.
    let points: Vec<Vec<f64>> = ok.iter().map(|v| vec![mx.of(v), my.of(v)]).collect();
    let on_front: Vec<u64> = super::pareto::front(&points)
        .into_iter()
        .map(|i| ok[i].variant)
        .collect();
    let scatter = plot::Scatter {
        title: format!(
            "{}: {} variants; front over {} and {}",
            run.sweep,
            ok.len(),
            mx.name(),
            my.name()
        ),
        x_label: axis_title(mx).into(),
        y_label: axis_title(my).into(),
        log_x: wants_log(ok.iter().map(|v| mx.of(v))),
        log_y: wants_log(ok.iter().map(|v| my.of(v))),
        points: ok
            .iter()
            .map(|v| {
                let f = on_front.contains(&v.variant);
                plot::ScatterPoint {
                    x: mx.of(v),
                    y: my.of(v),
                    label: f.then(|| v.params.join(" ")),
                    on_front: f,
                }
            })
            .collect(),
    };
    save("pareto", &|p| plot::render_scatter(&scatter, p))?;

    // Latency and energy against the first parameter, when it takes numeric values.
    let x_of = |v: &VariantRow| -> Option<f64> { param_number(&v.params[0]) };
    if !run.params.is_empty() && ok.iter().all(|v| x_of(v).is_some()) {
        let panels: Vec<plot::LinePlot> = [ParetoMetric::Latency, ParetoMetric::Energy]
            .iter()
            .map(|&m| {
                // Keyed by the second parameter's value index so lines follow its order.
                let mut by_series: BTreeMap<(usize, String), BTreeMap<u64, f64>> = BTreeMap::new();
                for v in &ok {
                    let series = match (run.params.len(), v.params.get(1)) {
                        (n, Some(s)) if n >= 2 => {
                            (second_rank(s), format!("{} = {s}", run.params[1]))
                        }
                        _ => (0, "best".to_string()),
                    };
                    let x = x_of(v).unwrap_or(0.0);
                    let e = by_series
                        .entry(series)
                        .or_default()
                        .entry(x.to_bits())
                        .or_insert(f64::MAX);
                    *e = e.min(m.of(v));
                }
                if by_series.len() > MAX_SERIES {
                    let mut best: BTreeMap<u64, f64> = BTreeMap::new();
                    for s in by_series.values() {
                        for (x, y) in s {
                            let e = best.entry(*x).or_insert(f64::MAX);
                            *e = e.min(*y);
                        }
                    }
                    by_series = BTreeMap::from([((0, "best of all".to_string()), best)]);
                }
                let ys = by_series
                    .values()
                    .flat_map(|s| s.values().copied())
                    .collect::<Vec<_>>();
                plot::LinePlot {
                    title: format!("{} vs {}", axis_title(m), run.params[0]),
                    x_label: run.params[0].clone(),
                    y_label: axis_title(m).into(),
                    log_x: wants_log(ok.iter().filter_map(|v| x_of(v))),
                    log_y: wants_log(ys.into_iter()),
                    series: by_series
                        .into_iter()
                        .map(|((_, name), pts)| plot::Series {
                            name,
                            points: pts
                                .into_iter()
                                .map(|(x, y)| (f64::from_bits(x), y))
                                .collect(),
                        })
                        .collect(),
                }
            })
            .collect();
        save("sweep", &|p| plot::render_line_panels(&panels, p))?;
    }

    // Energy per level for the front (levels that spend nothing are left out).
    let bars: Vec<&VariantRow> = front.iter().take(MAX_BARS).copied().collect();
    let names: Vec<String> = run
        .level_names
        .iter()
        .cloned()
        .chain(std::iter::once("MACs".to_string()))
        .collect();
    let segments: Vec<(String, Vec<f64>)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                n.clone(),
                bars.iter()
                    .map(|v| v.level_energy_pj.get(i).copied().unwrap_or(0.0).max(0.0))
                    .collect::<Vec<f64>>(),
            )
        })
        .filter(|(_, vals)| vals.iter().any(|x| *x > 0.0))
        .collect();
    if !segments.is_empty() {
        let breakdown = plot::StackedBars {
            title: "network energy per level, Pareto variants".into(),
            y_label: "energy (pJ)".into(),
            categories: bars.iter().map(|v| v.params.join(" ")).collect(),
            segments,
        };
        save("energy_breakdown", &|p| {
            plot::render_stacked_bars(&breakdown, p)
        })?;
    }

    // Utilization over the first two parameters.
    if run.params.len() >= 2 {
        let mut xs: Vec<String> = Vec::new();
        let mut ys: Vec<String> = Vec::new();
        for v in &ok {
            if !xs.contains(&v.params[0]) {
                xs.push(v.params[0].clone());
            }
            if !ys.contains(&v.params[1]) {
                ys.push(v.params[1].clone());
            }
        }
        let order = |v: &mut Vec<String>| {
            v.sort_by(|a, b| match (param_number(a), param_number(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                _ => a.cmp(b),
            })
        };
        order(&mut xs);
        order(&mut ys);
        let mut cells: Vec<Vec<Option<(f64, f64)>>> = vec![vec![None; xs.len()]; ys.len()];
        for v in &ok {
            let (Some(c), Some(r)) = (
                xs.iter().position(|x| *x == v.params[0]),
                ys.iter().position(|y| *y == v.params[1]),
            ) else {
                continue;
            };
            let cell = &mut cells[r][c];
            if cell.is_none_or(|(edp, _)| v.edp() < edp) {
                *cell = Some((v.edp(), v.utilization));
            }
        }
        let heat = plot::Heatmap {
            title: "MAC utilization (best-EDP variant per cell)".into(),
            x_label: run.params[0].clone(),
            y_label: run.params[1].clone(),
            x_ticks: xs,
            y_ticks: ys,
            values: cells
                .into_iter()
                .map(|row| row.into_iter().map(|c| c.map(|(_, u)| u)).collect())
                .collect(),
            value_label: "utilization".into(),
        };
        save("utilization", &|p| plot::render_heatmap(&heat, p))?;
    }
    Ok(written)
}

/// A parameter label as a number: itself, or rows × columns for `RxC`.
fn param_number(label: &str) -> Option<f64> {
    if let Ok(x) = label.parse::<f64>() {
        return Some(x);
    }
    let (r, c) = label.split_once('x')?;
    Some(r.parse::<f64>().ok()? * c.parse::<f64>().ok()?)
}

/// Orders series by the number in their label (so 64 comes before 128), falling back to text.
fn second_rank(label: &str) -> usize {
    param_number(label).map_or(usize::MAX, |x| {
        x.max(0.0).min(usize::MAX as f64 / 2.0) as usize
    })
}
