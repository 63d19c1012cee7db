//! SVG line charts and bar charts for the report (plotters, SVG backend).
//!
//! Owns nothing but drawing; promises byte-identical SVG for identical
//! data, so a committed report only changes when its figures do.

use std::path::Path;

use plotters::prelude::*;

/// One line of a chart.
pub(crate) struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Dashed reference lines (limits) are drawn thin and without markers.
    pub reference: bool,
}

/// What a line chart shows.
pub(crate) struct LineChart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub x_log: bool,
    pub y_range: (f64, f64),
    pub series: Vec<Series>,
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// An axis label: integers as integers (`2000000`, not `2000000.0`), other
/// values with at most three decimals, trailing zeros dropped.
pub fn tick(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{}", value as i64);
    }
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn x_bounds(chart: &LineChart<'_>) -> (f64, f64) {
    let xs = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0));
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (0.0, 1.0)
    }
}

/// Draws `chart` into `path` as SVG.
pub(crate) fn line_chart(path: &Path, chart: &LineChart<'_>) -> Result<(), String> {
    draw_lines(path, chart).map_err(|e| format!("drawing {}: {e}", path.display()))
}

fn draw_lines(path: &Path, chart: &LineChart<'_>) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (720, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let (x0, x1) = x_bounds(chart);
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(chart.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56);
    let (y0, y1) = chart.y_range;
    if chart.x_log {
        let mut ctx = builder.build_cartesian_2d((x0..x1).log_scale(), y0..y1)?;
        ctx.configure_mesh()
            .x_desc(chart.x_label)
            .y_desc(chart.y_label)
            .x_label_formatter(&|x| tick(*x))
            .y_label_formatter(&|y| tick(*y))
            .draw()?;
        draw_series(&mut ctx, &chart.series)?;
    } else {
        let mut ctx = builder.build_cartesian_2d(x0..x1, y0..y1)?;
        ctx.configure_mesh()
            .x_desc(chart.x_label)
            .y_desc(chart.y_label)
            .x_label_formatter(&|x| tick(*x))
            .y_label_formatter(&|y| tick(*y))
            .draw()?;
        draw_series(&mut ctx, &chart.series)?;
    }
    root.present()?;
    Ok(())
}

fn draw_series<'a, DB, X>(
    ctx: &mut ChartContext<'a, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    series: &[Series],
) -> Result<(), Box<dyn std::error::Error>>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
{
    for (index, line) in series.iter().enumerate() {
        let color = PALETTE[index % PALETTE.len()];
        let width = if line.reference { 1 } else { 2 };
        let style = ShapeStyle::from(&color).stroke_width(width);
        ctx.draw_series(LineSeries::new(line.points.iter().copied(), style))?
            .label(line.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
        if !line.reference {
            ctx.draw_series(
                line.points
                    .iter()
                    .map(|&p| Circle::new(p, 3, color.filled())),
            )?;
        }
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    Ok(())
}

/// A bar chart of `(x, count)` pairs, e.g. blocks per erase count.
pub(crate) fn bar_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    bars: &[(u32, u32)],
) -> Result<(), String> {
    draw_bars(path, title, x_label, y_label, bars)
        .map_err(|e| format!("drawing {}: {e}", path.display()))
}

fn draw_bars(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    bars: &[(u32, u32)],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (720, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let x_min = f64::from(bars.iter().map(|b| b.0).min().unwrap_or(0)) - 0.5;
    let x_max = f64::from(bars.iter().map(|b| b.0).max().unwrap_or(1)) + 0.5;
    let y_max = f64::from(bars.iter().map(|b| b.1).max().unwrap_or(1)) * 1.1 + 1.0;
    let mut ctx = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(x_min..x_max, 0.0..y_max)?;
    ctx.configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|x| tick(*x))
        .y_label_formatter(&|y| tick(*y))
        .draw()?;
    // Drawn in the given (sorted) order, so the SVG is the same every run.
    let style = PALETTE[0].filled();
    ctx.draw_series(bars.iter().map(|&(x, count)| {
        let x = f64::from(x);
        Rectangle::new([(x - 0.4, 0.0), (x + 0.4, f64::from(count))], style)
    }))?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::tick;

    #[test]
    fn ticks_print_integers_as_integers() {
        assert_eq!(tick(2_000_000.0), "2000000");
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(-3.0), "-3");
        assert_eq!(tick(0.975), "0.975");
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(1.25e-4), "0");
    }
}
