//! Stacked bars: one bar per category, stacked by segment, total printed on top.

use super::*;

/// Fraction of a category's slot left empty on each side of its bar.
const BAR_GAP: f64 = 0.15;

impl StackedBars {
    /// Finite values per segment (non-finite ones become 0 and are counted), after checking the
    /// shape and signs.
    fn prepare(&self) -> Result<(Vec<Vec<f64>>, usize), PlotError> {
        let invalid = |message: String| PlotError::InvalidData {
            title: self.title.clone(),
            message,
        };
        let mut skipped = 0;
        let mut finite_count = 0;
        let mut stacks = Vec::with_capacity(self.segments.len());
        for (name, values) in &self.segments {
            if values.len() != self.categories.len() {
                return Err(invalid(format!(
                    "segment '{name}' has {} value(s) for {} categor(y/ies); give one value per category (0 for none)",
                    values.len(),
                    self.categories.len()
                )));
            }
            let mut stack = Vec::with_capacity(values.len());
            for (category, &v) in self.categories.iter().zip(values) {
                if !v.is_finite() {
                    skipped += 1;
                    stack.push(0.0);
                } else if v < 0.0 {
                    return Err(invalid(format!(
                        "segment '{name}', category '{category}' is {v}; stacked bars need values >= 0"
                    )));
                } else {
                    finite_count += 1;
                    stack.push(v);
                }
            }
            stacks.push(stack);
        }
        if finite_count == 0 {
            return Err(PlotError::NoData {
                title: self.title.clone(),
                skipped_non_finite: skipped,
            });
        }
        Ok((stacks, skipped))
    }
}

impl Figure for StackedBars {
    fn title(&self) -> &str {
        &self.title
    }

    fn size(&self) -> (u32, u32) {
        (1000, 640)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<usize, PlotError> {
        let (stacks, skipped) = self.prepare()?;
        let categories = self.categories.len();
        let totals: Vec<f64> = (0..categories)
            .map(|c| stacks.iter().map(|s| s[c]).sum())
            .collect();
        let max_total = totals.iter().copied().fold(0.0, f64::max);
        if !max_total.is_finite() {
            return Err(PlotError::InvalidData {
                title: self.title.clone(),
                message: "a bar's total overflows f64; rescale the values (e.g. pJ to J)".into(),
            });
        }
        // Headroom above the tallest bar for its printed total.
        let top = if max_total > 0.0 {
            max_total * 1.12
        } else {
            1.0
        };

        let fail = |e: &dyn std::fmt::Display| draw_error(&self.title, e);
        let body = draw_title(root, &self.title)?;
        let (width, height) = body.dim_in_pixel();
        let (chart_area, legend_area) = body.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
        let mut chart = ChartBuilder::on(&chart_area)
            .margin_left(8)
            .margin_right(16)
            .margin_bottom(8)
            .x_label_area_size(TICK_PX + 24)
            .y_label_area_size(AXIS_DESC_PX + TICK_PX * 5)
            .build_cartesian_2d(LinearAxis(0.0..categories as f64), LinearAxis(0.0..top))
            .map_err(|e| fail(&e))?;
        let desc = text_style(AXIS_DESC_PX);
        let y_desc = fit_text(&chart_area, &self.y_label, &desc, height.saturating_sub(60));
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc(y_desc)
            .axis_desc_style(desc)
            .label_style(text_style(TICK_PX))
            .y_label_formatter(&tick_label)
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(INK)
            .draw()
            .map_err(|e| fail(&e))?;

        for (segment, stack) in stacks.iter().enumerate() {
            let color = palette(segment);
            let bars = stack
                .iter()
                .enumerate()
                .filter(|(_, &v)| v > 0.0)
                .map(|(c, &v)| {
                    let bottom: f64 = stacks[..segment].iter().map(|s| s[c]).sum();
                    let left = c as f64 + BAR_GAP;
                    let right = c as f64 + 1.0 - BAR_GAP;
                    Rectangle::new([(left, bottom), (right, bottom + v)], color.filled())
                });
            chart.draw_series(bars).map_err(|e| fail(&e))?;
        }

        let total_style = text_style(TICK_PX).pos(Pos::new(HPos::Center, VPos::Bottom));
        let totals_text = totals.iter().enumerate().map(|(c, &total)| {
            EmptyElement::at((c as f64 + 0.5, total))
                + Text::new(number_label(total, 3), (0, -3), total_style.clone())
        });
        chart.draw_series(totals_text).map_err(|e| fail(&e))?;

        // Category names under the bars; plotters' tick placement cannot centre labels on slots.
        let label_style = text_style(TICK_PX).pos(Pos::new(HPos::Center, VPos::Top));
        let (plot_x, _) = chart.plotting_area().get_pixel_range();
        let slot_px =
            ((plot_x.end - plot_x.start) as u32 / categories.max(1) as u32).saturating_sub(4);
        for (c, name) in self.categories.iter().enumerate() {
            let anchor = local(&chart_area, chart.backend_coord(&(c as f64 + 0.5, 0.0)));
            let text = fit_text(&chart_area, name, &label_style, slot_px);
            chart_area
                .draw(&Text::new(
                    text,
                    (anchor.0, anchor.1 + 6),
                    label_style.clone(),
                ))
                .map_err(|e| fail(&e))?;
        }

        // Listed top segment first, as the stack reads from the top.
        let legend: Vec<_> = self
            .segments
            .iter()
            .enumerate()
            .rev()
            .map(|(i, (name, _))| (name.clone(), palette(i), LegendMark::Block))
            .collect();
        draw_legend(&legend_area, &self.title, &legend)?;
        Ok(skipped)
    }
}
