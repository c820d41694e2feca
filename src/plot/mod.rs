//! Plots for sweep and search results, written as PNG or SVG with `plotters`.
//!
//! The module takes plain in-memory data (no CSV schema, nothing from the rest of loomap) so the
//! CLI and `dse` can feed it whatever they computed:
//! - [`Scatter`]: a Pareto scatter, dominated points grey, the front highlighted and joined in x
//!   order ([`render_scatter`]);
//! - [`LinePlot`]: one or more series against a swept parameter, with a legend
//!   ([`render_lines`]); [`render_line_panels`] stacks several plots vertically so metrics with
//!   different scales (latency, energy) share one image;
//! - [`StackedBars`]: one bar per category stacked by segment, e.g. energy per level stacked by
//!   tensor ([`render_stacked_bars`]);
//! - [`Heatmap`]: a value over two swept parameters, printed in each cell, with a colour bar;
//!   missing cells (failed variants) are hatched ([`render_heatmap`]).
//!
//! Text is drawn with DejaVu Sans compiled into the binary (`assets/fonts/`) and registered with
//! plotters once, so PNGs render on a machine without fontconfig or any system font. SVG keeps
//! text as `<text>` elements (searchable, scalable) laid out with the same embedded font metrics;
//! the viewer draws them with its own sans-serif font.
//!
//! Rules shared by every plot, chosen so a CLI can report them plainly:
//! - non-finite values (NaN, ±inf) are skipped and counted in [`Rendered::skipped_non_finite`];
//! - nothing finite left to draw is [`PlotError::NoData`], and no file is written;
//! - a value ≤ 0 on a log axis is [`PlotError::NonPositiveOnLogAxis`] (no silent fallback to a
//!   linear axis, which would misread as the same plot);
//! - a range whose min equals its max is padded so the point sits mid-axis;
//! - labels too long for their slot are cut and end in "…".
//!
//! The output format follows the path's extension (`.png` or `.svg`, any case); the file is only
//! written once the whole image rendered, and its directory must exist.

mod axis;
mod bars;
mod heatmap;
mod lines;
mod scatter;
#[cfg(test)]
mod tests;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use axis::{axis_range, extent, number_label, tick_label, LinearAxis, LogAxis};

/// Output encoding, taken from the output path's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    /// `.png` or `.svg` (case-insensitive); anything else is [`PlotError::UnsupportedFormat`].
    pub fn from_path(path: &Path) -> Result<Format, PlotError> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            _ => Err(PlotError::UnsupportedFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// What a successful render did besides writing the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rendered {
    pub format: Format,
    /// Values left out because they were NaN or infinite (points, bar segments, heatmap cells).
    pub skipped_non_finite: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{}: unsupported plot format (hint: name the output *.png or *.svg)", path.display())]
    UnsupportedFormat { path: PathBuf },
    #[error("plot '{title}': nothing to draw ({skipped_non_finite} non-finite value(s) skipped; hint: check that the sweep produced any successful variant)")]
    NoData {
        title: String,
        skipped_non_finite: usize,
    },
    #[error("plot '{title}': {axis} axis is logarithmic but holds the value {value} (hint: use a linear {axis} axis, or drop values <= 0)")]
    NonPositiveOnLogAxis {
        title: String,
        axis: &'static str,
        value: f64,
    },
    #[error("plot '{title}': {message}")]
    InvalidData { title: String, message: String },
    #[error("{}: cannot write plot: {source} (hint: the directory must exist and be writable)", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("plot '{title}': drawing failed: {message}")]
    Draw { title: String, message: String },
    #[error("embedded font could not be registered with plotters: {0}")]
    Font(String),
}

/// A Pareto (or any x/y) scatter. Points with `on_front` are drawn larger, in colour, joined by
/// straight segments in increasing x, and labelled with `label` if present; the others are grey.
/// The line makes no assumption about which direction is better.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scatter {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    pub points: Vec<ScatterPoint>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScatterPoint {
    pub x: f64,
    pub y: f64,
    /// Drawn next to the point, only for points on the front.
    pub label: Option<String>,
    pub on_front: bool,
}

/// Series against a shared x axis. Each series is drawn in increasing x with markers, in its own
/// colour (8 colours, then they repeat), and named in the legend.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinePlot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    pub series: Vec<Series>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// One bar per category; `segments` are stacked bottom-up in the order given, each a name and one
/// value per category. Values must be ≥ 0 (a stack of signed values has no honest reading); the
/// total is printed above each bar.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StackedBars {
    pub title: String,
    pub y_label: String,
    pub categories: Vec<String>,
    pub segments: Vec<(String, Vec<f64>)>,
}

/// A value over two swept parameters. `values[row][column]`: rows follow `y_ticks` (row 0 at the
/// bottom), columns follow `x_ticks`. `None` (a failed variant) and non-finite values are hatched.
/// Colours run from dark (minimum) to light (maximum) along a viridis-like scale.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_ticks: Vec<String>,
    pub y_ticks: Vec<String>,
    pub values: Vec<Vec<Option<f64>>>,
    /// Names the colour bar, e.g. "utilization".
    pub value_label: String,
}

pub fn render_scatter(plot: &Scatter, path: &Path) -> Result<Rendered, PlotError> {
    render(plot, path)
}

pub fn render_lines(plot: &LinePlot, path: &Path) -> Result<Rendered, PlotError> {
    render(&lines::Panels(std::slice::from_ref(plot)), path)
}

/// Plots stacked top to bottom in one image, each with its own y axis, title and legend: the way
/// to show two metrics of different scale against the same sweep. An empty slice is
/// [`PlotError::NoData`]; so is a panel with nothing finite to draw.
pub fn render_line_panels(panels: &[LinePlot], path: &Path) -> Result<Rendered, PlotError> {
    render(&lines::Panels(panels), path)
}

pub fn render_stacked_bars(plot: &StackedBars, path: &Path) -> Result<Rendered, PlotError> {
    render(plot, path)
}

pub fn render_heatmap(plot: &Heatmap, path: &Path) -> Result<Rendered, PlotError> {
    render(plot, path)
}

/// A figure that validates its data and draws itself on any plotters backend.
trait Figure {
    fn title(&self) -> &str;
    fn size(&self) -> (u32, u32);
    /// Returns how many non-finite values were skipped. Must validate before drawing anything
    /// so that bad data never leaves a half-drawn file.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<usize, PlotError>;
}

fn render<F: Figure>(figure: &F, path: &Path) -> Result<Rendered, PlotError> {
    let format = Format::from_path(path)?;
    let (bytes, skipped_non_finite) = render_to_bytes(figure, format)?;
    std::fs::write(path, bytes).map_err(|source| PlotError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Rendered {
        format,
        skipped_non_finite,
    })
}

fn render_to_bytes<F: Figure>(figure: &F, format: Format) -> Result<(Vec<u8>, usize), PlotError> {
    register_embedded_font()?;
    let (width, height) = figure.size();
    let draw_failed = |e: &dyn std::fmt::Display| PlotError::Draw {
        title: figure.title().to_string(),
        message: e.to_string(),
    };
    match format {
        Format::Png => {
            let mut rgb = vec![0u8; width as usize * height as usize * 3];
            let skipped = {
                let root =
                    BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
                root.fill(&WHITE).map_err(|e| draw_failed(&e))?;
                let skipped = figure.draw(&root)?;
                root.present().map_err(|e| draw_failed(&e))?;
                skipped
            };
            let png = encode_png(&rgb, width, height).map_err(|e| draw_failed(&e))?;
            Ok((png, skipped))
        }
        Format::Svg => {
            let mut svg = String::new();
            let skipped = {
                let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
                root.fill(&WHITE).map_err(|e| draw_failed(&e))?;
                let skipped = figure.draw(&root)?;
                root.present().map_err(|e| draw_failed(&e))?;
                skipped
            };
            Ok((svg.into_bytes(), skipped))
        }
    }
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

/// DejaVu Sans 2.37, Bitstream Vera licence (assets/fonts/LICENSE-DejaVu.txt).
static EMBEDDED_FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// The family every style in this module asks for; plotters' own defaults also use it.
const FONT_FAMILY: &str = "sans-serif";

/// Registers the embedded font with plotters, once per process; later calls return the first
/// outcome. Without it the ab_glyph text backend knows no font at all.
fn register_embedded_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, EMBEDDED_FONT)
                .map_err(|_| "DejaVuSans.ttf is not a valid TrueType font".to_string())
        })
        .clone()
        .map_err(PlotError::Font)
}

// ---- layout and styling shared by the figures -------------------------------------------------

const TITLE_PX: u32 = 22;
const AXIS_DESC_PX: u32 = 16;
const TICK_PX: u32 = 13;
const LEGEND_PX: u32 = 14;
/// Width of the legend column right of the chart.
const LEGEND_WIDTH: u32 = 210;
const INK: RGBColor = RGBColor(20, 20, 20);
const GRID: RGBColor = RGBColor(225, 225, 225);
const DOMINATED: RGBColor = RGBColor(165, 165, 165);

/// Okabe–Ito colours, chosen to stay distinguishable for colour-blind readers; yellow last since
/// it is faint on white.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(230, 159, 0),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(90, 90, 90),
    RGBColor(240, 228, 66),
];

fn palette(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

fn text_style(px: u32) -> TextStyle<'static> {
    TextStyle::from((FONT_FAMILY, px).into_font()).color(&INK)
}

fn draw_error(title: &str, error: impl std::fmt::Display) -> PlotError {
    PlotError::Draw {
        title: title.to_string(),
        message: error.to_string(),
    }
}

/// `text`, cut and ended with "…" until it is at most `max_px` wide in `style`.
fn fit_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    max_px: u32,
) -> String {
    let width = |s: &str| {
        area.estimate_text_size(s, style)
            .map(|(w, _)| w)
            .unwrap_or(u32::MAX)
    };
    if width(text) <= max_px {
        return text.to_string();
    }
    // No glyph is narrower than ~2 px at these sizes, so longer prefixes cannot fit; the cap keeps
    // the trimming loop short for absurdly long labels.
    let mut chars: Vec<char> = text.chars().take(max_px as usize / 2 + 1).collect();
    while !chars.is_empty() {
        chars.pop();
        let candidate: String = chars.iter().chain(std::iter::once(&'…')).collect();
        if width(&candidate) <= max_px {
            return candidate;
        }
    }
    String::new()
}

/// Draws the figure title centred at the top of `area` and returns the area below it.
fn draw_title<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<DrawingArea<DB, Shift>, PlotError> {
    let style = text_style(TITLE_PX).pos(Pos::new(HPos::Center, VPos::Top));
    let (width, _) = area.dim_in_pixel();
    let text = fit_text(area, title, &style, width.saturating_sub(20));
    area.draw(&Text::new(text, ((width / 2) as i32, 8), style))
        .map_err(|e| draw_error(title, e))?;
    Ok(area.split_vertically(TITLE_PX + 18).1)
}

#[derive(Debug, Clone, Copy)]
enum LegendMark {
    Dot,
    Line,
    Block,
}

/// A legend as a column of marks and names at the top of `area` (beside the chart, so it never
/// hides data).
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    entries: &[(String, RGBColor, LegendMark)],
) -> Result<(), PlotError> {
    let style = text_style(LEGEND_PX).pos(Pos::new(HPos::Left, VPos::Center));
    let (width, height) = area.dim_in_pixel();
    let row = LEGEND_PX as i32 + 10;
    for (i, (name, color, mark)) in entries.iter().enumerate() {
        let y = 20 + i as i32 * row;
        if y + row > height as i32 {
            let more = format!("… {} more", entries.len() - i);
            area.draw(&Text::new(more, (10, y), style.clone()))
                .map_err(|e| draw_error(title, e))?;
            break;
        }
        let drawn = match mark {
            LegendMark::Dot => area.draw(&Circle::new((22, y), 5, color.filled())),
            LegendMark::Line => area
                .draw(&PathElement::new(
                    vec![(8, y), (36, y)],
                    color.stroke_width(2),
                ))
                .and_then(|_| area.draw(&Circle::new((22, y), 3, color.filled()))),
            LegendMark::Block => {
                area.draw(&Rectangle::new([(12, y - 6), (32, y + 6)], color.filled()))
            }
        };
        drawn.map_err(|e| draw_error(title, e))?;
        let text = fit_text(area, name, &style, width.saturating_sub(52));
        area.draw(&Text::new(text, (44, y), style.clone()))
            .map_err(|e| draw_error(title, e))?;
    }
    Ok(())
}

/// Position of an absolute backend pixel inside `area`, whose own origin may be offset.
fn local<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, absolute: (i32, i32)) -> (i32, i32) {
    let (x, y) = area.get_pixel_range();
    (absolute.0 - x.start, absolute.1 - y.start)
}

/// Draws data on a chart whose axes are linear or logarithmic; implemented once per figure so the
/// four axis combinations share one drawing routine.
trait PaintXY {
    fn paint<DB: DrawingBackend, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
        &self,
        chart: &mut ChartContext<DB, Cartesian2d<X, Y>>,
    ) -> Result<(), PlotError>;
}

/// The axis, grid and tick labels of an x/y chart filling `area`, then `painter`'s data.
struct XYChart<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    x: Range<f64>,
    y: Range<f64>,
    log_x: bool,
    log_y: bool,
}

impl XYChart<'_> {
    fn draw<DB: DrawingBackend, P: PaintXY>(
        &self,
        area: &DrawingArea<DB, Shift>,
        painter: &P,
    ) -> Result<(), PlotError> {
        let (x, y) = (self.x.clone(), self.y.clone());
        match (self.log_x, self.log_y) {
            (false, false) => self.draw_with(area, LinearAxis(x), LinearAxis(y), painter),
            (true, false) => self.draw_with(area, LogAxis::new(x), LinearAxis(y), painter),
            (false, true) => self.draw_with(area, LinearAxis(x), LogAxis::new(y), painter),
            (true, true) => self.draw_with(area, LogAxis::new(x), LogAxis::new(y), painter),
        }
    }

    fn draw_with<DB, X, Y, P>(
        &self,
        area: &DrawingArea<DB, Shift>,
        x: X,
        y: Y,
        painter: &P,
    ) -> Result<(), PlotError>
    where
        DB: DrawingBackend,
        X: AsRangedCoord<Value = f64>,
        Y: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
        Y::CoordDescType: ValueFormatter<f64>,
        P: PaintXY,
    {
        let fail = |e: &dyn std::fmt::Display| draw_error(self.title, e);
        let mut chart = ChartBuilder::on(area)
            .margin_left(8)
            .margin_right(16)
            .margin_bottom(8)
            .x_label_area_size(AXIS_DESC_PX + TICK_PX + 24)
            .y_label_area_size(AXIS_DESC_PX + TICK_PX * 5)
            .build_cartesian_2d(x, y)
            .map_err(|e| fail(&e))?;
        let (width, height) = area.dim_in_pixel();
        let desc = text_style(AXIS_DESC_PX);
        let x_desc = fit_text(area, self.x_label, &desc, width.saturating_sub(120));
        let y_desc = fit_text(area, self.y_label, &desc, height.saturating_sub(60));
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .axis_desc_style(desc)
            .label_style(text_style(TICK_PX))
            .x_label_formatter(&tick_label)
            .y_label_formatter(&tick_label)
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(INK)
            .draw()
            .map_err(|e| fail(&e))?;
        painter.paint(&mut chart)
    }
}
