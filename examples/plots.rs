//! Renders one plot of each kind, PNG and SVG, into `results/plots-example/`:
//! `cargo run --release --example plots`. The numbers are synthetic (simple closed forms shaped
//! like a PE-array sweep), chosen to exercise log axes, labels, a missing heatmap cell and a
//! two-panel line plot; they are not model results.

use std::path::Path;

use loomap::plot::{
    render_heatmap, render_line_panels, render_scatter, render_stacked_bars, Heatmap, LinePlot,
    Scatter, ScatterPoint, Series, StackedBars,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new("results/plots-example");
    std::fs::create_dir_all(dir)?;

    let pe_sides = [4u32, 8, 16, 32];
    let buffers_kib = [16u32, 32, 64, 128, 256];

    // Every (PE side, buffer) variant; latency falls with PEs, energy rises with buffer size.
    let mut points = Vec::new();
    for &side in &pe_sides {
        for &kib in &buffers_kib {
            let pes = (side * side) as f64;
            let latency = 2.0e7 / pes * (1.0 + 64.0 / kib as f64);
            let energy = 3.0e6 * (1.0 + pes / 256.0) * (1.0 + kib as f64 / 128.0);
            points.push(ScatterPoint {
                x: latency,
                y: energy,
                label: Some(format!("{side}x{side}/{kib}K")),
                on_front: false,
            });
        }
    }
    // A point is on the front when no other point is at least as good in both and better in one.
    let front: Vec<bool> = points
        .iter()
        .map(|p| {
            !points
                .iter()
                .any(|q| q.x <= p.x && q.y <= p.y && (q.x < p.x || q.y < p.y))
        })
        .collect();
    for (point, on_front) in points.iter_mut().zip(front) {
        point.on_front = on_front;
    }
    let scatter = Scatter {
        title: "Pareto front: energy vs latency (synthetic sweep)".into(),
        x_label: "latency (cycles)".into(),
        y_label: "energy (pJ)".into(),
        log_x: true,
        log_y: false,
        points,
    };

    let series = |metric: fn(f64, f64) -> f64| -> Vec<Series> {
        [32u32, 128]
            .iter()
            .map(|&kib| Series {
                name: format!("global buffer {kib} KiB"),
                points: pe_sides
                    .iter()
                    .map(|&s| ((s * s) as f64, metric((s * s) as f64, kib as f64)))
                    .collect(),
            })
            .collect()
    };
    let panels = [
        LinePlot {
            title: "Latency vs PE array size".into(),
            x_label: "PEs".into(),
            y_label: "latency (cycles)".into(),
            log_x: true,
            log_y: true,
            series: series(|pes, kib| 2.0e7 / pes * (1.0 + 64.0 / kib)),
        },
        LinePlot {
            title: "Energy vs PE array size".into(),
            x_label: "PEs".into(),
            y_label: "energy (pJ)".into(),
            log_x: true,
            log_y: false,
            series: series(|pes, kib| 3.0e6 * (1.0 + pes / 256.0) * (1.0 + kib / 128.0)),
        },
    ];

    let bars = StackedBars {
        title: "Energy per level, by tensor".into(),
        y_label: "energy (pJ)".into(),
        categories: vec![
            "DRAM".into(),
            "GlobalBuffer".into(),
            "PEBuffer".into(),
            "MAC".into(),
        ],
        segments: vec![
            ("Weights".into(), vec![1.9e6, 4.1e5, 2.2e5, 0.0]),
            ("Inputs".into(), vec![1.2e6, 6.3e5, 3.1e5, 0.0]),
            ("Outputs".into(), vec![0.4e6, 2.5e5, 4.4e5, 0.0]),
            ("compute".into(), vec![0.0, 0.0, 0.0, 1.3e6]),
        ],
    };

    let heatmap = Heatmap {
        title: "Utilization over PE array and global buffer".into(),
        x_label: "global buffer".into(),
        y_label: "PE array".into(),
        x_ticks: buffers_kib.iter().map(|k| format!("{k} KiB")).collect(),
        y_ticks: pe_sides.iter().map(|s| format!("{s}x{s}")).collect(),
        values: pe_sides
            .iter()
            .map(|&side| {
                buffers_kib
                    .iter()
                    .map(|&kib| {
                        // The largest array with the smallest buffer stands in for a failed variant.
                        (side < 32 || kib > 16).then(|| {
                            (1.0 - side as f64 / 64.0) * (kib as f64 / (kib as f64 + 24.0))
                        })
                    })
                    .collect()
            })
            .collect(),
        value_label: "utilization".into(),
    };

    for extension in ["png", "svg"] {
        let path = |name: &str| dir.join(format!("{name}.{extension}"));
        render_scatter(&scatter, &path("pareto"))?;
        render_line_panels(&panels, &path("sweep"))?;
        render_stacked_bars(&bars, &path("energy-breakdown"))?;
        render_heatmap(&heatmap, &path("utilization"))?;
    }
    println!(
        "wrote pareto, sweep, energy-breakdown, utilization (.png, .svg) to {}",
        dir.display()
    );
    Ok(())
}
