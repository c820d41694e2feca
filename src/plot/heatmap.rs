//! Heatmap over two swept parameters, with the value in each cell and a colour bar.

use super::*;

const MISSING_FILL: RGBColor = RGBColor(238, 238, 238);
const HATCH: RGBColor = RGBColor(160, 160, 160);
const HATCH_SPACING_PX: i32 = 8;
const COLOR_BAR_WIDTH: u32 = 170;
const COLOR_BAR_STEPS: usize = 96;

/// Viridis sampled at ten evenly spaced stops (matplotlib's published values): perceptually
/// uniform and readable in grey scale.
const VIRIDIS: [(u8, u8, u8); 10] = [
    (68, 1, 84),
    (72, 40, 120),
    (62, 73, 137),
    (49, 104, 142),
    (38, 130, 142),
    (31, 158, 137),
    (53, 183, 121),
    (110, 206, 88),
    (181, 222, 43),
    (253, 231, 37),
];

/// Colour of the fraction `t` ∈ [0, 1] along the scale (clamped), linearly between stops.
pub(super) fn viridis(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let position = t * (VIRIDIS.len() - 1) as f64;
    let low = (position.floor() as usize).min(VIRIDIS.len() - 2);
    let frac = position - low as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * frac).round() as u8;
    let (a, b) = (VIRIDIS[low], VIRIDIS[low + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Dark text on light cells, light text on dark ones (Rec. 709 luma).
pub(super) fn text_color_on(fill: RGBColor) -> RGBColor {
    let luma = 0.2126 * fill.0 as f64 + 0.7152 * fill.1 as f64 + 0.0722 * fill.2 as f64;
    if luma > 140.0 {
        INK
    } else {
        WHITE
    }
}

impl Heatmap {
    /// Cells with non-finite values turned into `None` (and counted), after checking the shape;
    /// plus the range of the finite values.
    #[allow(clippy::type_complexity)]
    fn prepare(&self) -> Result<(Vec<Vec<Option<f64>>>, (f64, f64), usize), PlotError> {
        let invalid = |message: String| PlotError::InvalidData {
            title: self.title.clone(),
            message,
        };
        if self.values.len() != self.y_ticks.len() {
            return Err(invalid(format!(
                "{} row(s) of values for {} y tick(s); values are row-major, one row per y tick",
                self.values.len(),
                self.y_ticks.len()
            )));
        }
        let mut skipped = 0;
        let mut range: Option<(f64, f64)> = None;
        let mut cells = Vec::with_capacity(self.values.len());
        for (row, (tick, values)) in self.y_ticks.iter().zip(&self.values).enumerate() {
            if values.len() != self.x_ticks.len() {
                return Err(invalid(format!(
                    "row {row} (y = '{tick}') has {} value(s) for {} x tick(s)",
                    values.len(),
                    self.x_ticks.len()
                )));
            }
            let mut cleaned = Vec::with_capacity(values.len());
            for &value in values {
                match value {
                    Some(v) if v.is_finite() => {
                        range = Some(range.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
                        cleaned.push(Some(v));
                    }
                    Some(_) => {
                        skipped += 1;
                        cleaned.push(None);
                    }
                    None => cleaned.push(None),
                }
            }
            cells.push(cleaned);
        }
        match range {
            Some(range) => Ok((cells, range, skipped)),
            None => Err(PlotError::NoData {
                title: self.title.clone(),
                skipped_non_finite: skipped,
            }),
        }
    }
}

impl Figure for Heatmap {
    fn title(&self) -> &str {
        &self.title
    }

    fn size(&self) -> (u32, u32) {
        (1000, 700)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<usize, PlotError> {
        let (cells, (v_min, v_max), skipped) = self.prepare()?;
        let (columns, rows) = (self.x_ticks.len(), self.y_ticks.len());
        // A single value (or all equal) sits mid-scale instead of dividing by zero.
        let fraction = |v: f64| {
            if v_max > v_min {
                (v - v_min) / (v_max - v_min)
            } else {
                0.5
            }
        };

        let fail = |e: &dyn std::fmt::Display| draw_error(&self.title, e);
        let body = draw_title(root, &self.title)?;
        let (width, height) = body.dim_in_pixel();
        let (chart_area, bar_area) = body.split_horizontally(width.saturating_sub(COLOR_BAR_WIDTH));
        let y_label_area = AXIS_DESC_PX + 110;
        let x_label_area = AXIS_DESC_PX + TICK_PX + 24;
        let mut chart = ChartBuilder::on(&chart_area)
            .margin_left(8)
            .margin_right(16)
            .margin_bottom(8)
            .x_label_area_size(x_label_area)
            .y_label_area_size(y_label_area)
            .build_cartesian_2d(
                LinearAxis(0.0..columns as f64),
                LinearAxis(0.0..rows as f64),
            )
            .map_err(|e| fail(&e))?;
        let desc = text_style(AXIS_DESC_PX);
        let x_desc = fit_text(&chart_area, &self.x_label, &desc, width.saturating_sub(300));
        let y_desc = fit_text(&chart_area, &self.y_label, &desc, height.saturating_sub(60));
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(0)
            .x_desc(x_desc)
            .y_desc(y_desc)
            .axis_desc_style(desc)
            .axis_style(INK)
            .draw()
            .map_err(|e| fail(&e))?;

        let fills = cells.iter().enumerate().flat_map(|(r, row)| {
            row.iter().enumerate().map(move |(c, value)| {
                let fill = value.map_or(MISSING_FILL, |v| viridis(fraction(v)));
                Rectangle::new(
                    [(c as f64, r as f64), (c as f64 + 1.0, r as f64 + 1.0)],
                    fill.filled(),
                )
            })
        });
        chart.draw_series(fills).map_err(|e| fail(&e))?;

        // Corners in pixels of chart_area: hatching and text are laid out per cell in pixels.
        let corner =
            |c: usize, r: usize| local(&chart_area, chart.backend_coord(&(c as f64, r as f64)));
        for (r, row) in cells.iter().enumerate() {
            for (c, value) in row.iter().enumerate() {
                let (left, bottom) = corner(c, r);
                let (right, top) = corner(c + 1, r + 1);
                match value {
                    None => hatch(&chart_area, left, top, right, bottom).map_err(|e| fail(&e))?,
                    Some(v) => {
                        let cell_w = (right - left).max(0) as u32;
                        let cell_h = (bottom - top).max(0) as u32;
                        let px = TICK_PX.min(cell_h * 9 / 20);
                        if px < 8 {
                            continue;
                        }
                        let color = text_color_on(viridis(fraction(*v)));
                        let style = text_style(px)
                            .color(&color)
                            .pos(Pos::new(HPos::Center, VPos::Center));
                        let text = number_label(*v, 3);
                        let fits = chart_area
                            .estimate_text_size(&text, &style)
                            .is_ok_and(|(w, _)| w + 4 <= cell_w);
                        if fits {
                            let centre = ((left + right) / 2, (top + bottom) / 2);
                            chart_area
                                .draw(&Text::new(text, centre, style))
                                .map_err(|e| fail(&e))?;
                        }
                    }
                }
            }
        }

        // Tick labels centred on columns and rows; plotters' own ticks would sit on cell edges.
        let x_style = text_style(TICK_PX).pos(Pos::new(HPos::Center, VPos::Top));
        for (c, tick) in self.x_ticks.iter().enumerate() {
            let (left, bottom) = corner(c, 0);
            let (right, _) = corner(c + 1, 0);
            let slot = (right - left).max(0) as u32;
            let text = fit_text(&chart_area, tick, &x_style, slot.saturating_sub(4));
            chart_area
                .draw(&Text::new(
                    text,
                    ((left + right) / 2, bottom + 6),
                    x_style.clone(),
                ))
                .map_err(|e| fail(&e))?;
        }
        let y_style = text_style(TICK_PX).pos(Pos::new(HPos::Right, VPos::Center));
        for (r, tick) in self.y_ticks.iter().enumerate() {
            let (left, bottom) = corner(0, r);
            let (_, top) = corner(0, r + 1);
            let text = fit_text(
                &chart_area,
                tick,
                &y_style,
                y_label_area - AXIS_DESC_PX - 16,
            );
            chart_area
                .draw(&Text::new(
                    text,
                    (left - 6, (top + bottom) / 2),
                    y_style.clone(),
                ))
                .map_err(|e| fail(&e))?;
        }

        draw_color_bar(&bar_area, self, (v_min, v_max), x_label_area)?;
        Ok(skipped)
    }
}

/// Grey diagonal lines across the cell whose pixel bounds are given, marking a missing value.
fn hatch<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    left: i32,
    top: i32,
    right: i32,
    bottom: i32,
) -> Result<(), plotters::drawing::DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, h) = (right - left, bottom - top);
    if w <= 0 || h <= 0 {
        return Ok(());
    }
    // Lines u + v = t, with u rightwards from the left edge and v upwards from the bottom edge,
    // each cut to the cell.
    let mut t = HATCH_SPACING_PX / 2;
    while t < w + h {
        let (u_start, u_end) = ((t - h).max(0), t.min(w));
        let start = (left + u_start, bottom - (t - u_start));
        let end = (left + u_end, bottom - (t - u_end));
        area.draw(&PathElement::new(vec![start, end], HATCH.stroke_width(1)))?;
        t += HATCH_SPACING_PX;
    }
    Ok(())
}

/// Vertical colour scale beside the heatmap, ticked in data units. `bottom_px` matches the
/// heatmap's x label area so both plotting areas share their vertical extent.
fn draw_color_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    plot: &Heatmap,
    (v_min, v_max): (f64, f64),
    bottom_px: u32,
) -> Result<(), PlotError> {
    let fail = |e: &dyn std::fmt::Display| draw_error(&plot.title, e);
    let axis = axis_range(v_min, v_max, false);
    // Equal ends: the padded axis shows the one colour (mid-scale) around the value.
    let (lo, hi) = if v_max > v_min {
        (v_min, v_max)
    } else {
        (axis.start, axis.end)
    };
    let mut bar = ChartBuilder::on(area)
        .margin_left(8)
        .margin_right(24)
        .margin_bottom(8)
        .x_label_area_size(bottom_px)
        .y_label_area_size(AXIS_DESC_PX + TICK_PX * 5)
        .build_cartesian_2d(LinearAxis(0.0..1.0), LinearAxis(lo..hi))
        .map_err(|e| fail(&e))?;
    let desc = text_style(AXIS_DESC_PX);
    let (_, height) = area.dim_in_pixel();
    let label = fit_text(area, &plot.value_label, &desc, height.saturating_sub(60));
    bar.configure_mesh()
        .disable_mesh()
        .x_labels(0)
        .y_desc(label)
        .axis_desc_style(desc)
        .label_style(text_style(TICK_PX))
        .y_label_formatter(&tick_label)
        .axis_style(INK)
        .draw()
        .map_err(|e| fail(&e))?;
    let step = (hi - lo) / COLOR_BAR_STEPS as f64;
    let strips = (0..COLOR_BAR_STEPS).map(|i| {
        let bottom = lo + step * i as f64;
        let color = if v_max > v_min {
            viridis((i as f64 + 0.5) / COLOR_BAR_STEPS as f64)
        } else {
            viridis(0.5)
        };
        Rectangle::new([(0.0, bottom), (1.0, bottom + step)], color.filled())
    });
    bar.draw_series(strips).map_err(|e| fail(&e))?;
    Ok(())
}
