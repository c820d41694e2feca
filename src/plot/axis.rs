//! Axis limits, a logarithmic axis with readable ticks, and number labels.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};

use super::PlotError;

/// Axis limits holding every value with a margin of 5 % of the span (of the span of log10 on
/// log axes). Equal ends are padded around the value: ±10 % (±1 at zero) on a linear axis, a
/// factor 2 on a log axis.
pub(super) fn axis_range(min: f64, max: f64, log: bool) -> Range<f64> {
    if log {
        let (low, high) = (min.log10(), max.log10());
        let pad = if high > low {
            ((high - low) * 0.05).max(0.02)
        } else {
            2f64.log10()
        };
        return 10f64.powf(low - pad)..10f64.powf(high + pad);
    }
    let span = max - min;
    let pad = if span > f64::EPSILON * max.abs().max(min.abs()) && span.is_finite() {
        span * 0.05
    } else if max.abs() > 0.0 {
        // Equal ends (or a span too wide to subtract): pad around the value itself.
        max.abs().min(f64::MAX / 4.0) * 0.1
    } else {
        1.0
    };
    subtractable((min - pad).max(-f64::MAX)..(max + pad).min(f64::MAX))
}

/// plotters' linear tick search never ends on a range wider than f64 can subtract, so such a
/// range is narrowed to ±f64::MAX/2; values beyond it are drawn off the frame and clipped.
pub(super) fn subtractable(range: Range<f64>) -> Range<f64> {
    if (range.end - range.start).is_finite() {
        range
    } else {
        range.start.max(-f64::MAX / 2.0)..range.end.min(f64::MAX / 2.0)
    }
}

/// A log10 axis. plotters' own log axis labels every 1..9 multiple near the end of a decade
/// (labels collide) and finds no tick at all inside one decade; this one picks decades, then
/// 1-2-5 multiples, then plain linear ticks, whichever first gives at least two.
#[derive(Debug, Clone)]
pub(super) struct LogAxis {
    range: Range<f64>,
    log_low: f64,
    log_high: f64,
}

impl LogAxis {
    /// `range` must be positive and non-empty; [`axis_range`] output always is.
    pub(super) fn new(range: Range<f64>) -> LogAxis {
        LogAxis {
            log_low: range.start.log10(),
            log_high: range.end.log10(),
            range,
        }
    }

    fn ticks(&self, max_points: usize) -> Vec<f64> {
        let (low, high) = (self.range.start, self.range.end);
        if max_points == 0 || !(low > 0.0 && high > low) {
            return Vec::new();
        }
        // Inclusive with a relative tolerance, so a decade at an axis end still counts.
        let inside = |v: &f64| *v >= low * (1.0 - 1e-12) && *v <= high * (1.0 + 1e-12);
        let multiples = |mantissas: &[f64]| -> Vec<f64> {
            let (first, last) = (self.log_low.floor() as i32, self.log_high.ceil() as i32);
            (first..=last)
                .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
                .filter(inside)
                .collect()
        };
        let decades = multiples(&[1.0]);
        if decades.len() >= 3 {
            return thin(decades, max_points);
        }
        let one_two_five = multiples(&[1.0, 2.0, 5.0]);
        if one_two_five.len() >= 2 {
            return thin(one_two_five, max_points);
        }
        linear_ticks(low, high, max_points)
    }
}

/// A linear axis. plotters' own f64 axis searches for tick steps with a loop that never ends on
/// some extreme ranges (seen with ±f64::MAX/2); this one computes its step directly.
#[derive(Debug, Clone)]
pub(super) struct LinearAxis(pub(super) Range<f64>);

/// At most `max_points` + 1 ticks at multiples of a 1-2-5 step inside `low..=high`; empty for an
/// empty or non-finite range, the midpoint when the step would vanish next to the values.
fn linear_ticks(low: f64, high: f64, max_points: usize) -> Vec<f64> {
    let span = high - low;
    if max_points == 0 || !(span > 0.0 && span.is_finite()) {
        return Vec::new();
    }
    let raw_step = span / max_points as f64;
    let magnitude = 10f64.powf(raw_step.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw_step)
        .unwrap_or(10.0 * magnitude);
    if !(step.is_finite() && step > low.abs().max(high.abs()) * 1e-12) {
        return vec![low + span / 2.0];
    }
    let first = (low / step).ceil();
    let count = ((high / step).floor() - first + 1.0).clamp(0.0, max_points as f64 + 1.0) as usize;
    (0..count)
        .map(|i| (first + i as f64) * step)
        .filter(|v| (low..=high).contains(v))
        .collect()
}

impl Ranged for LinearAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let fraction = (value - self.0.start) / (self.0.end - self.0.start);
        let pixel = limit.0 as f64 + fraction * (limit.1 - limit.0) as f64;
        pixel.round().clamp(-1e9, 1e9) as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        linear_ticks(self.0.start, self.0.end, hint.max_num_points())
    }

    fn range(&self) -> Range<f64> {
        self.0.clone()
    }
}

/// Every k-th tick, k as small as keeps at most `max_points`.
fn thin(ticks: Vec<f64>, max_points: usize) -> Vec<f64> {
    let stride = ticks.len().div_ceil(max_points.max(1));
    ticks.into_iter().step_by(stride.max(1)).collect()
}

impl Ranged for LogAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let fraction = (value.log10() - self.log_low) / (self.log_high - self.log_low);
        let pixel = limit.0 as f64 + fraction * (limit.1 - limit.0) as f64;
        // Keeps far-off values off the i32 edges, where plotters' pixel arithmetic would
        // overflow; NaN casts to 0.
        pixel.round().clamp(-1e9, 1e9) as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        self.ticks(hint.max_num_points())
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// Min and max of `values`, or an error naming the first value ≤ 0 when `log` is set. `None`
/// for an empty input.
pub(super) fn extent(
    values: impl Iterator<Item = f64>,
    log: bool,
    title: &str,
    axis: &'static str,
) -> Result<Option<(f64, f64)>, PlotError> {
    let mut bounds: Option<(f64, f64)> = None;
    for v in values {
        if log && v <= 0.0 {
            return Err(PlotError::NonPositiveOnLogAxis {
                title: title.to_string(),
                axis,
                value: v,
            });
        }
        bounds = Some(match bounds {
            None => (v, v),
            Some((lo, hi)) => (lo.min(v), hi.max(v)),
        });
    }
    Ok(bounds)
}

/// A short label for a number: up to `significant` digits, scientific notation outside
/// [1e-3, 1e5) so ticks on energy (pJ) and cycle axes stay narrow.
pub(super) fn number_label(value: f64, significant: usize) -> String {
    if value == 0.0 || !value.is_finite() {
        return if value == 0.0 {
            "0".to_string()
        } else {
            value.to_string()
        };
    }
    let magnitude = value.abs();
    if !(1e-3..1e5).contains(&magnitude) {
        let text = format!("{:.*e}", significant.saturating_sub(1), value);
        // "2.50e6" -> "2.5e6": trailing zeros of the mantissa say nothing.
        return match text.split_once('e') {
            Some((mantissa, exponent)) => format!("{}e{}", trim_zeros(mantissa), exponent),
            None => text,
        };
    }
    let integer_digits = magnitude.log10().floor() as i64 + 1;
    let decimals = (significant as i64 - integer_digits).clamp(0, 8) as usize;
    trim_zeros(&format!("{value:.decimals$}")).to_string()
}

fn trim_zeros(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

pub(super) fn tick_label(value: &f64) -> String {
    number_label(*value, 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_ranges_pad_by_a_fraction_of_the_span() {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        // 5 % of the span on each side.
        let r = axis_range(10.0, 30.0, false);
        assert!(close(r.start, 9.0) && close(r.end, 31.0), "{r:?}");
        // Equal ends: ±10 % of the value; zero: ±1.
        let r = axis_range(50.0, 50.0, false);
        assert!(close(r.start, 45.0) && close(r.end, 55.0), "{r:?}");
        let r = axis_range(0.0, 0.0, false);
        assert!(close(r.start, -1.0) && close(r.end, 1.0), "{r:?}");
        // Log: 5 % of the log10 span each side (16..1024 spans a factor 64, so 64^0.05; 200..800 a
        // factor 4), at least 0.02 decades; equal ends get a factor 2.
        let r = axis_range(16.0, 1024.0, true);
        assert!(
            close(r.start, 16.0 / 64f64.powf(0.05)) && close(r.end, 1024.0 * 64f64.powf(0.05)),
            "{r:?}"
        );
        let r = axis_range(200.0, 800.0, true);
        assert!(
            close(r.start, 200.0 / 4f64.powf(0.05)) && close(r.end, 800.0 * 4f64.powf(0.05)),
            "{r:?}"
        );
        let r = axis_range(100.0, 101.0, true);
        assert!(
            close(r.start, 100.0 / 10f64.powf(0.02)) && close(r.end, 101.0 * 10f64.powf(0.02)),
            "{r:?}"
        );
        let r = axis_range(100.0, 100.0, true);
        assert!(close(r.start, 50.0) && close(r.end, 200.0), "{r:?}");
        // Ends too far apart to subtract are narrowed to a span that is.
        let r = axis_range(-f64::MAX, f64::MAX, false);
        assert_eq!(r, -f64::MAX / 2.0..f64::MAX / 2.0);
    }

    #[test]
    fn number_labels_are_short() {
        let cases = [
            (0.0, 4, "0"),
            (0.30000000000000004, 4, "0.3"),
            (1234.5678, 4, "1235"),
            (12.5, 3, "12.5"),
            (0.955, 3, "0.955"),
            (99999.0, 4, "99999"),
            (250000.0, 4, "2.5e5"),
            (1e6, 4, "1e6"),
            (-0.0004567, 3, "-4.57e-4"),
            (7500.0, 3, "7500"),
        ];
        for (value, significant, expected) in cases {
            assert_eq!(number_label(value, significant), expected, "{value}");
        }
    }

    #[test]
    fn log_ticks_prefer_decades_then_1_2_5_then_linear() {
        let ticks = |lo: f64, hi: f64, max: usize| LogAxis::new(lo..hi).ticks(max);
        assert_eq!(ticks(900.0, 1.1e7, 10), vec![1e3, 1e4, 1e5, 1e6, 1e7]);
        // Two decades only: 1-2-5 reads better than two labels.
        assert_eq!(
            ticks(13.0, 1260.0, 10),
            vec![20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
        );
        // Decade at an axis end counts despite rounding in 10^x.
        assert_eq!(ticks(50.0, 200.0, 10), vec![50.0, 100.0, 200.0]);
        // 31 decades into at most 10 labels: every 4th.
        let many = ticks(1.0, 1e30, 10);
        assert_eq!(many.len(), 8);
        assert!(
            many.iter()
                .zip([1.0, 1e4, 1e8, 1e12])
                .all(|(a, b)| (a / b - 1.0).abs() < 1e-12),
            "{many:?}"
        );
        // Inside one 1-2-5 step: linear ticks, all in range.
        let narrow = ticks(210.0, 290.0, 10);
        assert!(
            narrow.len() >= 3 && narrow.iter().all(|v| (210.0..=290.0).contains(v)),
            "{narrow:?}"
        );
        assert!(ticks(1.0, 10.0, 0).is_empty());
    }

    #[test]
    fn linear_ticks_use_1_2_5_steps() {
        assert_eq!(
            linear_ticks(0.0, 10.0, 5),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        assert_eq!(linear_ticks(-0.95, 0.95, 4), vec![-0.5, 0.0, 0.5]);
        // Span 22 over 11 points: step 2; over 5 points: step 5.
        let expected: Vec<f64> = (5..=15).map(|i| 2.0 * i as f64).collect();
        assert_eq!(linear_ticks(9.0, 31.0, 11), expected);
        assert_eq!(
            linear_ticks(9.0, 31.0, 5),
            vec![10.0, 15.0, 20.0, 25.0, 30.0]
        );
        // Too narrow for a step next to the values: the midpoint alone.
        assert_eq!(
            linear_ticks(1.0, 1.0 + 4.0 * f64::EPSILON, 10),
            vec![1.0 + 2.0 * f64::EPSILON]
        );
        // Huge spans stay bounded.
        let huge = linear_ticks(-f64::MAX / 2.0, f64::MAX / 2.0, 11);
        assert!(!huge.is_empty() && huge.len() <= 12, "{huge:?}");
        assert!(linear_ticks(1.0, 1.0, 10).is_empty());
        assert!(linear_ticks(0.0, f64::INFINITY, 10).is_empty());
        assert!(linear_ticks(0.0, 1.0, 0).is_empty());
    }

    #[test]
    fn log_axis_maps_decades_evenly() {
        let axis = LogAxis::new(1.0..1000.0);
        assert_eq!(axis.map(&1.0, (0, 300)), 0);
        assert_eq!(axis.map(&10.0, (0, 300)), 100);
        assert_eq!(axis.map(&100.0, (0, 300)), 200);
        assert_eq!(axis.map(&1000.0, (0, 300)), 300);
        // Screen y grows downwards: limits come reversed.
        assert_eq!(axis.map(&10.0, (300, 0)), 200);
    }
}
