//! Line plots of series against a swept parameter, one or several panels per image.

use super::*;

const WIDTH: u32 = 1000;
const PANEL_HEIGHT: u32 = 480;

/// Line plots stacked vertically in one image.
pub(super) struct Panels<'a>(pub(super) &'a [LinePlot]);

/// One panel's points with non-finite ones dropped, sorted by x, and its axis limits.
struct Prepared {
    series: Vec<Vec<(f64, f64)>>,
    x: Range<f64>,
    y: Range<f64>,
}

fn prepare(plot: &LinePlot) -> Result<(Prepared, usize), PlotError> {
    let mut skipped = 0;
    let mut series = Vec::with_capacity(plot.series.len());
    for s in &plot.series {
        let mut points: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        skipped += s.points.len() - points.len();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        series.push(points);
    }
    let all = || series.iter().flatten();
    let x_extent = extent(all().map(|p| p.0), plot.log_x, &plot.title, "x")?;
    let y_extent = extent(all().map(|p| p.1), plot.log_y, &plot.title, "y")?;
    let (Some((x_min, x_max)), Some((y_min, y_max))) = (x_extent, y_extent) else {
        return Err(PlotError::NoData {
            title: plot.title.clone(),
            skipped_non_finite: skipped,
        });
    };
    let prepared = Prepared {
        x: axis_range(x_min, x_max, plot.log_x),
        y: axis_range(y_min, y_max, plot.log_y),
        series,
    };
    Ok((prepared, skipped))
}

impl Figure for Panels<'_> {
    fn title(&self) -> &str {
        self.0.first().map_or("line panels", |p| p.title.as_str())
    }

    fn size(&self) -> (u32, u32) {
        // At least one panel's height, so an empty list still has a canvas (it errors anyway).
        let panels = self.0.len().clamp(1, 16) as u32;
        (WIDTH, PANEL_HEIGHT * panels)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<usize, PlotError> {
        if self.0.is_empty() {
            return Err(PlotError::NoData {
                title: self.title().to_string(),
                skipped_non_finite: 0,
            });
        }
        if self.0.len() > 16 {
            return Err(PlotError::InvalidData {
                title: self.title().to_string(),
                message: format!("{} panels in one image; at most 16 fit", self.0.len()),
            });
        }
        let mut prepared = Vec::with_capacity(self.0.len());
        let mut skipped = 0;
        for plot in self.0 {
            let (panel, panel_skipped) = prepare(plot)?;
            prepared.push(panel);
            skipped += panel_skipped;
        }

        let areas = root.split_evenly((self.0.len(), 1));
        for ((plot, panel), area) in self.0.iter().zip(&prepared).zip(&areas) {
            let body = draw_title(area, &plot.title)?;
            let (width, _) = body.dim_in_pixel();
            let (chart_area, legend_area) =
                body.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
            let chart = XYChart {
                title: &plot.title,
                x_label: &plot.x_label,
                y_label: &plot.y_label,
                x: panel.x.clone(),
                y: panel.y.clone(),
                log_x: plot.log_x,
                log_y: plot.log_y,
            };
            chart.draw(
                &chart_area,
                &LinePainter {
                    title: &plot.title,
                    series: &panel.series,
                },
            )?;
            let legend: Vec<_> = plot
                .series
                .iter()
                .enumerate()
                .map(|(i, s)| (s.name.clone(), palette(i), LegendMark::Line))
                .collect();
            draw_legend(&legend_area, &plot.title, &legend)?;
        }
        Ok(skipped)
    }
}

struct LinePainter<'a> {
    title: &'a str,
    series: &'a [Vec<(f64, f64)>],
}

impl PaintXY for LinePainter<'_> {
    fn paint<DB: DrawingBackend, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
        &self,
        chart: &mut ChartContext<DB, Cartesian2d<X, Y>>,
    ) -> Result<(), PlotError> {
        for (i, points) in self.series.iter().enumerate() {
            let color = palette(i);
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|e| draw_error(self.title, e))?;
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| draw_error(self.title, e))?;
        }
        Ok(())
    }
}
