//! Every figure renders to PNG and SVG; PNGs decode to the canvas size and carry title ink drawn
//! with the embedded font; edge cases give typed errors or documented fallbacks, never panics.

use super::*;

/// A fresh directory under the system temp dir, unique per process and test; removed when the
/// test passes, kept for inspection when it fails.
struct OutDir(PathBuf);

impl OutDir {
    fn join(&self, file: impl AsRef<Path>) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn out_dir(test: &str) -> OutDir {
    let dir = std::env::temp_dir().join(format!("loomap-plot-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    OutDir(dir)
}

struct Decoded {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

fn decode_png(path: &Path) -> Decoded {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} lacks the PNG signature",
        path.display()
    );
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut rgb = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut rgb).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    rgb.truncate(info.buffer_size());
    Decoded {
        width: info.width,
        height: info.height,
        rgb,
    }
}

impl Decoded {
    /// Pixels in the band of rows `rows` whose every channel is below 100: glyph cores are near
    /// black (INK), antialiased edges and the grey/colour data marks are not.
    fn dark_pixels(&self, rows: Range<u32>) -> usize {
        let mut count = 0;
        for y in rows {
            for x in 0..self.width {
                let i = ((y * self.width + x) * 3) as usize;
                if self.rgb[i..i + 3].iter().all(|&c| c < 100) {
                    count += 1;
                }
            }
        }
        count
    }
}

/// The band the title occupies (see `draw_title`): nothing else is drawn there.
const TITLE_BAND: Range<u32> = 0..TITLE_PX + 14;

fn scatter() -> Scatter {
    let mut points: Vec<ScatterPoint> = (0..40)
        .map(|i| {
            let x = 1.0 + i as f64;
            ScatterPoint {
                x,
                y: 2000.0 / x + 30.0 * ((i * 7) % 11) as f64,
                label: None,
                on_front: false,
            }
        })
        .collect();
    for (i, x) in [2.0, 5.0, 12.0, 30.0].into_iter().enumerate() {
        points.push(ScatterPoint {
            x,
            y: 1500.0 / x,
            label: Some(format!("pe{}x{}", 4 << i, 4 << i)),
            on_front: true,
        });
    }
    Scatter {
        title: "Pareto: energy vs latency".into(),
        x_label: "latency (cycles)".into(),
        y_label: "energy (pJ)".into(),
        log_x: false,
        log_y: false,
        points,
    }
}

fn lines() -> LinePlot {
    let pes = [16.0, 64.0, 256.0, 1024.0];
    LinePlot {
        title: "Latency vs PE array size".into(),
        x_label: "PEs".into(),
        y_label: "cycles".into(),
        log_x: true,
        log_y: true,
        series: vec![
            Series {
                name: "conv1".into(),
                points: pes.iter().map(|&p| (p, 1e7 / p)).collect(),
            },
            Series {
                name: "conv2".into(),
                points: pes.iter().map(|&p| (p, 4e6 / p.sqrt())).collect(),
            },
        ],
    }
}

fn bars() -> StackedBars {
    StackedBars {
        title: "Energy per level".into(),
        y_label: "energy (pJ)".into(),
        categories: vec!["DRAM".into(), "GlobalBuffer".into(), "RegFile".into()],
        segments: vec![
            ("Weights".into(), vec![4000.0, 1200.0, 300.0]),
            ("Inputs".into(), vec![2500.0, 900.0, 450.0]),
            ("Outputs".into(), vec![1000.0, 700.0, 800.0]),
        ],
    }
}

fn heatmap() -> Heatmap {
    let x_ticks: Vec<String> = [8, 16, 32, 64].iter().map(|v| format!("{v} KiB")).collect();
    let y_ticks: Vec<String> = ["4x4", "8x8", "16x16"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let values = (0..3)
        .map(|r| {
            (0..4)
                .map(|c| {
                    if r == 2 && c == 0 {
                        None
                    } else {
                        Some(0.2 + 0.2 * c as f64 + 0.05 * r as f64)
                    }
                })
                .collect()
        })
        .collect();
    Heatmap {
        title: "Utilization".into(),
        x_label: "global buffer".into(),
        y_label: "PE array".into(),
        x_ticks,
        y_ticks,
        values,
        value_label: "utilization".into(),
    }
}

/// Renders through `render` as PNG and SVG, checks both files, returns the decoded PNG and the
/// SVG text.
fn check_both_formats(
    test: &str,
    title: &str,
    size: (u32, u32),
    render: impl Fn(&Path) -> Result<Rendered, PlotError>,
) -> (Decoded, String) {
    let dir = out_dir(test);
    let png_path = dir.join(format!("{test}.png"));
    let rendered = render(&png_path).unwrap();
    assert_eq!(rendered.format, Format::Png);
    assert_eq!(rendered.skipped_non_finite, 0);
    let png = decode_png(&png_path);
    assert_eq!((png.width, png.height), size);
    // A 22 px title covers hundreds of near-black pixels; the threshold is well above noise
    // (an empty title leaves 0, see `title_ink_comes_from_the_embedded_font`).
    assert!(
        png.dark_pixels(TITLE_BAND) > 100,
        "no title ink in {}",
        png_path.display()
    );

    let svg_path = dir.join(format!("{test}.SVG"));
    assert_eq!(render(&svg_path).unwrap().format, Format::Svg);
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    assert!(svg.contains(title), "SVG lacks the title");
    (png, svg)
}

#[test]
fn scatter_renders_png_and_svg() {
    let plot = scatter();
    let (png, svg) = check_both_formats("scatter", &plot.title, (1000, 640), |p| {
        render_scatter(&plot, p)
    });
    // The front is drawn in its own colour.
    let front_pixels = png.rgb.chunks(3).filter(|p| p == &[213, 94, 0]).count();
    assert!(
        front_pixels > 50,
        "front colour covers only {front_pixels} px"
    );
    assert!(
        svg.contains("pe16x16")
            && svg.contains("Pareto front (4)")
            && svg.contains("dominated (40)")
    );
}

#[test]
fn line_panels_render_png_and_svg() {
    let latency = lines();
    let mut energy = lines();
    energy.title = "Energy vs PE array size".into();
    energy.y_label = "energy (pJ)".into();
    energy.log_y = false;
    let panels = [latency, energy];
    let (png, svg) = check_both_formats("panels", &panels[0].title, (1000, 960), |p| {
        render_line_panels(&panels, p)
    });
    // The second panel's title sits at the top of the lower half.
    assert!(png.dark_pixels(480..480 + TITLE_BAND.end) > 100);
    assert!(svg.contains("Energy vs PE array size") && svg.contains("conv2"));

    let single = &panels[0];
    check_both_formats("lines", &single.title, (1000, 480), |p| {
        render_lines(single, p)
    });
}

#[test]
fn stacked_bars_render_png_and_svg() {
    let plot = bars();
    let (_, svg) = check_both_formats("bars", &plot.title, (1000, 640), |p| {
        render_stacked_bars(&plot, p)
    });
    // Category names, segment names and the DRAM total (4000 + 2500 + 1000).
    for text in ["GlobalBuffer", "Outputs", "7500"] {
        assert!(svg.contains(text), "SVG lacks {text}");
    }
}

#[test]
fn heatmap_renders_png_and_svg() {
    let plot = heatmap();
    let (_, svg) = check_both_formats("heatmap", &plot.title, (1000, 700), |p| {
        render_heatmap(&plot, p)
    });
    // Cell values (3 significant digits), tick labels, colour bar name.
    for text in ["0.85", "0.2", "64 KiB", "16x16", "utilization"] {
        assert!(svg.contains(text), "SVG lacks {text}");
    }
}

#[test]
fn title_ink_comes_from_the_embedded_font() {
    let dir = out_dir("ink");
    let mut plot = bars();
    let with_title = dir.join("with.png");
    render_stacked_bars(&plot, &with_title).unwrap();
    plot.title.clear();
    let without_title = dir.join("without.png");
    render_stacked_bars(&plot, &without_title).unwrap();
    assert!(decode_png(&with_title).dark_pixels(TITLE_BAND) > 100);
    assert_eq!(decode_png(&without_title).dark_pixels(TITLE_BAND), 0);
}

#[test]
fn empty_data_is_a_typed_error_and_writes_nothing() {
    let dir = out_dir("empty");
    let path = dir.join("empty.png");
    let scatter = Scatter {
        title: "empty".into(),
        ..Scatter::default()
    };
    assert!(matches!(
        render_scatter(&scatter, &path),
        Err(PlotError::NoData {
            skipped_non_finite: 0,
            ..
        })
    ));
    assert!(matches!(
        render_line_panels(&[], &path),
        Err(PlotError::NoData { .. })
    ));
    let no_series = LinePlot::default();
    assert!(matches!(
        render_lines(&no_series, &path),
        Err(PlotError::NoData { .. })
    ));
    let no_bars = StackedBars::default();
    assert!(matches!(
        render_stacked_bars(&no_bars, &path),
        Err(PlotError::NoData { .. })
    ));
    let mut all_failed = heatmap();
    for row in &mut all_failed.values {
        row.iter_mut().for_each(|v| *v = None);
    }
    all_failed.values[0][0] = Some(f64::NAN);
    assert!(matches!(
        render_heatmap(&all_failed, &path),
        Err(PlotError::NoData {
            skipped_non_finite: 1,
            ..
        })
    ));
    assert!(!path.exists());
}

#[test]
fn non_finite_values_are_skipped_and_counted() {
    let dir = out_dir("nonfinite");
    let mut plot = scatter();
    plot.points.push(ScatterPoint {
        x: f64::NAN,
        y: 1.0,
        ..Default::default()
    });
    plot.points.push(ScatterPoint {
        x: 1.0,
        y: f64::INFINITY,
        on_front: true,
        ..Default::default()
    });
    assert_eq!(
        render_scatter(&plot, &dir.join("s.png"))
            .unwrap()
            .skipped_non_finite,
        2
    );

    let mut line = lines();
    line.series[1].points.push((f64::NEG_INFINITY, 3.0));
    assert_eq!(
        render_lines(&line, &dir.join("l.svg"))
            .unwrap()
            .skipped_non_finite,
        1
    );

    let mut stacked = bars();
    stacked.segments[0].1[1] = f64::NAN;
    assert_eq!(
        render_stacked_bars(&stacked, &dir.join("b.png"))
            .unwrap()
            .skipped_non_finite,
        1
    );

    let mut map = heatmap();
    map.values[0][1] = Some(f64::INFINITY);
    assert_eq!(
        render_heatmap(&map, &dir.join("h.png"))
            .unwrap()
            .skipped_non_finite,
        1
    );
}

#[test]
fn single_points_and_equal_values_render() {
    let dir = out_dir("degenerate");
    let one = Scatter {
        title: "one".into(),
        log_x: true,
        log_y: true,
        points: vec![ScatterPoint {
            x: 100.0,
            y: 100.0,
            label: Some("only".into()),
            on_front: true,
        }],
        ..Scatter::default()
    };
    render_scatter(&one, &dir.join("one.png")).unwrap();
    let flat = LinePlot {
        title: "flat".into(),
        series: vec![Series {
            name: "zeros".into(),
            points: vec![(0.0, 0.0), (0.0, 0.0)],
        }],
        ..LinePlot::default()
    };
    render_lines(&flat, &dir.join("flat.png")).unwrap();
    let zero_bars = StackedBars {
        title: "zeros".into(),
        categories: vec!["a".into()],
        segments: vec![("s".into(), vec![0.0])],
        ..StackedBars::default()
    };
    render_stacked_bars(&zero_bars, &dir.join("zero.png")).unwrap();
    let one_cell = Heatmap {
        title: "one cell".into(),
        x_ticks: vec!["x".into()],
        y_ticks: vec!["y".into()],
        values: vec![vec![Some(0.5)]],
        ..Heatmap::default()
    };
    render_heatmap(&one_cell, &dir.join("cell.png")).unwrap();
    render_heatmap(&one_cell, &dir.join("cell.svg")).unwrap();
}

#[test]
fn non_positive_values_on_log_axes_are_rejected() {
    let dir = out_dir("log");
    let mut plot = scatter();
    plot.log_y = true;
    plot.points[3].y = 0.0;
    let err = render_scatter(&plot, &dir.join("s.png")).unwrap_err();
    assert!(
        matches!(err, PlotError::NonPositiveOnLogAxis { axis: "y", value, .. } if value == 0.0)
    );
    assert!(err.to_string().contains("linear y axis"), "{err}");

    let mut line = lines();
    line.series[0].points[0].0 = -16.0;
    assert!(matches!(
        render_lines(&line, &dir.join("l.png")),
        Err(PlotError::NonPositiveOnLogAxis { axis: "x", .. })
    ));
}

#[test]
fn very_long_labels_are_cut_not_overflowing() {
    let dir = out_dir("long");
    let long = "very long label ".repeat(500);
    let mut plot = scatter();
    plot.title = long.clone();
    plot.x_label = long.clone();
    for p in plot.points.iter_mut().filter(|p| p.on_front) {
        p.label = Some(long.clone());
    }
    render_scatter(&plot, &dir.join("s.png")).unwrap();
    render_scatter(&plot, &dir.join("s.svg")).unwrap();
    let svg = std::fs::read_to_string(dir.join("s.svg")).unwrap();
    assert!(svg.contains('…') && !svg.contains(&long[..400]));

    let mut stacked = bars();
    stacked.categories[0] = long.clone();
    stacked.segments[0].0 = long.clone();
    render_stacked_bars(&stacked, &dir.join("b.png")).unwrap();
    let mut map = heatmap();
    map.x_ticks[0] = long.clone();
    map.y_ticks[0] = long;
    render_heatmap(&map, &dir.join("h.png")).unwrap();
}

#[test]
fn malformed_shapes_and_values_are_typed_errors() {
    let dir = out_dir("shape");
    let mut stacked = bars();
    stacked.segments[1].1.pop();
    let err = render_stacked_bars(&stacked, &dir.join("b.png")).unwrap_err();
    assert!(
        err.to_string()
            .contains("segment 'Inputs' has 2 value(s) for 3"),
        "{err}"
    );
    let mut negative = bars();
    negative.segments[2].1[0] = -1.0;
    let err = render_stacked_bars(&negative, &dir.join("b.png")).unwrap_err();
    assert!(
        err.to_string().contains("'Outputs', category 'DRAM' is -1"),
        "{err}"
    );

    let mut map = heatmap();
    map.values[1].push(Some(1.0));
    let err = render_heatmap(&map, &dir.join("h.png")).unwrap_err();
    assert!(
        err.to_string()
            .contains("row 1 (y = '8x8') has 5 value(s) for 4 x tick(s)"),
        "{err}"
    );
    let mut map = heatmap();
    map.values.pop();
    assert!(matches!(
        render_heatmap(&map, &dir.join("h.png")),
        Err(PlotError::InvalidData { .. })
    ));

    let too_many = vec![lines(); 17];
    assert!(matches!(
        render_line_panels(&too_many, &dir.join("p.png")),
        Err(PlotError::InvalidData { .. })
    ));
}

#[test]
fn output_path_errors_name_the_path() {
    let dir = out_dir("paths");
    let err = render_scatter(&scatter(), &dir.join("plot.jpg")).unwrap_err();
    assert!(matches!(err, PlotError::UnsupportedFormat { .. }));
    assert!(
        err.to_string().contains("plot.jpg") && err.to_string().contains("*.svg"),
        "{err}"
    );
    assert!(matches!(
        Format::from_path(Path::new("noext")),
        Err(PlotError::UnsupportedFormat { .. })
    ));
    let missing = dir.join("no/such/dir/plot.png");
    let err = render_scatter(&scatter(), &missing).unwrap_err();
    assert!(matches!(err, PlotError::Write { .. }));
    assert!(err.to_string().contains("no/such/dir/plot.png"), "{err}");
}

#[test]
fn viridis_ends_and_contrast() {
    assert_eq!(heatmap::viridis(0.0), RGBColor(68, 1, 84));
    assert_eq!(heatmap::viridis(1.0), RGBColor(253, 231, 37));
    // Halfway between stops 4 and 5 (t = 4.5 / 9).
    assert_eq!(heatmap::viridis(0.5), RGBColor(35, 144, 140));
    assert_eq!(heatmap::viridis(f64::NAN), RGBColor(68, 1, 84));
    assert_eq!(heatmap::text_color_on(RGBColor(68, 1, 84)), WHITE);
    assert_eq!(heatmap::text_color_on(RGBColor(253, 231, 37)), INK);
}

#[test]
fn extreme_magnitudes_render() {
    let dir = out_dir("extreme");
    for (i, (a, b)) in [
        (-f64::MAX, f64::MAX),
        (1.0, 1.0 + 4.0 * f64::EPSILON),
        (1e-300, 1e300),
        (0.0, f64::MIN_POSITIVE),
    ]
    .into_iter()
    .enumerate()
    {
        let plot = LinePlot {
            title: format!("extreme {i}"),
            series: vec![Series {
                name: "s".into(),
                points: vec![(a, a), (b, b)],
            }],
            ..LinePlot::default()
        };
        render_lines(&plot, &dir.join(format!("l{i}.png"))).unwrap();
    }
    let mut map = heatmap();
    map.values[0][0] = Some(-f64::MAX);
    map.values[1][1] = Some(f64::MAX);
    render_heatmap(&map, &dir.join("h.png")).unwrap();
    let mut stacked = bars();
    stacked.segments[0].1[0] = f64::MAX;
    stacked.segments[1].1[0] = f64::MAX;
    let err = render_stacked_bars(&stacked, &dir.join("b.png")).unwrap_err();
    assert!(err.to_string().contains("overflows"), "{err}");
}
