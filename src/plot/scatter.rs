//! Pareto scatter: grey dominated points under a coloured, labelled front.

use super::*;

const FRONT: RGBColor = RGBColor(213, 94, 0);
/// Front labels are cut to this width so a long variant name cannot cover the chart.
const LABEL_MAX_PX: u32 = 180;

impl Figure for Scatter {
    fn title(&self) -> &str {
        &self.title
    }

    fn size(&self) -> (u32, u32) {
        (1000, 640)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<usize, PlotError> {
        let finite: Vec<&ScatterPoint> = self
            .points
            .iter()
            .filter(|p| p.x.is_finite() && p.y.is_finite())
            .collect();
        let skipped = self.points.len() - finite.len();
        let x_extent = extent(finite.iter().map(|p| p.x), self.log_x, &self.title, "x")?;
        let y_extent = extent(finite.iter().map(|p| p.y), self.log_y, &self.title, "y")?;
        let (Some((x_min, x_max)), Some((y_min, y_max))) = (x_extent, y_extent) else {
            return Err(PlotError::NoData {
                title: self.title.clone(),
                skipped_non_finite: skipped,
            });
        };

        let body = draw_title(root, &self.title)?;
        let (width, _) = body.dim_in_pixel();
        let (chart_area, legend_area) = body.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
        let chart = XYChart {
            title: &self.title,
            x_label: &self.x_label,
            y_label: &self.y_label,
            x: axis_range(x_min, x_max, self.log_x),
            y: axis_range(y_min, y_max, self.log_y),
            log_x: self.log_x,
            log_y: self.log_y,
        };
        chart.draw(
            &chart_area,
            &ScatterPainter {
                plot: self,
                points: &finite,
            },
        )?;

        let front = finite.iter().filter(|p| p.on_front).count();
        let legend = [
            (
                format!("dominated ({})", finite.len() - front),
                DOMINATED,
                LegendMark::Dot,
            ),
            (format!("Pareto front ({front})"), FRONT, LegendMark::Line),
        ];
        draw_legend(&legend_area, &self.title, &legend)?;
        Ok(skipped)
    }
}

struct ScatterPainter<'a> {
    plot: &'a Scatter,
    points: &'a [&'a ScatterPoint],
}

impl PaintXY for ScatterPainter<'_> {
    fn paint<DB: DrawingBackend, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
        &self,
        chart: &mut ChartContext<DB, Cartesian2d<X, Y>>,
    ) -> Result<(), PlotError> {
        let fail = |e: &dyn std::fmt::Display| draw_error(&self.plot.title, e);
        let dominated = self.points.iter().filter(|p| !p.on_front);
        chart
            .draw_series(dominated.map(|p| Circle::new((p.x, p.y), 3, DOMINATED.filled())))
            .map_err(|e| fail(&e))?;

        let mut front: Vec<&ScatterPoint> =
            self.points.iter().copied().filter(|p| p.on_front).collect();
        front.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
        chart
            .draw_series(std::iter::once(PathElement::new(
                front.iter().map(|p| (p.x, p.y)).collect::<Vec<_>>(),
                FRONT.stroke_width(2),
            )))
            .map_err(|e| fail(&e))?;
        chart
            .draw_series(
                front
                    .iter()
                    .map(|p| Circle::new((p.x, p.y), 5, FRONT.filled())),
            )
            .map_err(|e| fail(&e))?;

        // Always right of the point: near the right edge a label runs into the legend column,
        // which is empty below its few entries and wider than LABEL_MAX_PX.
        let style = text_style(TICK_PX).pos(Pos::new(HPos::Left, VPos::Bottom));
        let plain = chart.plotting_area().strip_coord_spec();
        let labels = front.iter().filter_map(|p| {
            let label = p.label.as_deref()?;
            let text = fit_text(&plain, label, &style, LABEL_MAX_PX);
            Some(EmptyElement::at((p.x, p.y)) + Text::new(text, (6, -4), style.clone()))
        });
        chart.draw_series(labels).map_err(|e| fail(&e))?;
        Ok(())
    }
}
