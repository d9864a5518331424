//! The optimizer simulation drawn with plotters: each value's delta run by run (solid) against
//! the correction it should reach (thin, same colour), and the largest error over the tuned
//! values per run. Text uses the font `warmup_plot` registers.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::types::{RangedCoordf64, RangedCoordu32};
use plotters::prelude::*;
use storecast::availability::Segment;
use storecast::testing::optimizer_sim::SimPath;

use super::warmup_plot::load_font;

pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 1000;

fn colour(index: usize) -> RGBColor {
    const PALETTE: [RGBColor; 11] = [
        RGBColor(0, 0, 0),
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    PALETTE[index % PALETTE.len()]
}

pub fn draw(path: &SimPath, thin: &[(Segment, String)], runs: u32, file: &Path) -> Result<()> {
    let text = load_font();
    let root = BitMapBackend::new(file, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (top, bottom) = root.split_vertically(HEIGHT * 2 / 3);
    deltas_panel(&top, text, path, runs)?;
    error_panel(&bottom, text, path, thin, runs)?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

type Panel<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type RunChart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordu32, RangedCoordf64>>;

fn chart_on<'a, 'b>(
    area: &'a Panel<'b>,
    text: bool,
    title: &str,
    runs: u32,
    y: std::ops::Range<f64>,
) -> Result<RunChart<'a, 'b>> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(15)
        .x_label_area_size(if text { 30 } else { 0 })
        .y_label_area_size(if text { 60 } else { 0 });
    if text {
        builder.caption(title, ("sans-serif", 20));
    }
    let mut chart = builder
        .build_cartesian_2d(0u32..runs, y)
        .map_err(|e| anyhow!("{e}"))?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("run (day)");
    } else {
        mesh.disable_x_axis().disable_y_axis();
    }
    mesh.draw().map_err(|e| anyhow!("{e}"))?;
    Ok(chart)
}

fn deltas_panel(area: &Panel<'_>, text: bool, path: &SimPath, runs: u32) -> Result<()> {
    let values: Vec<_> = path
        .run(0)
        .map(|s| (s.segment, s.value.clone(), s.correction))
        .collect();
    let reach = values.iter().map(|v| v.2.abs()).fold(0.05, f64::max) * 1.2;
    let mut chart = chart_on(
        area,
        text,
        "threshold delta per segment value (thin line: true correction)",
        runs,
        -reach..reach,
    )?;
    for (index, (segment, value, correction)) in values.iter().enumerate() {
        let colour = colour(index);
        let series: Vec<(u32, f64)> = path
            .steps
            .iter()
            .filter(|s| s.segment == *segment && &s.value == value)
            .map(|s| (s.run, s.delta))
            .collect();
        let drawn = chart
            .draw_series(LineSeries::new(series, colour.stroke_width(2)))
            .map_err(|e| anyhow!("{e}"))?;
        if text {
            drawn
                .label(format!("{} = {value}", segment.as_str()))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        chart
            .draw_series(LineSeries::new(
                [(0, *correction), (runs, *correction)],
                colour.stroke_width(1),
            ))
            .map_err(|e| anyhow!("{e}"))?;
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
    }
    Ok(())
}

fn error_panel(
    area: &Panel<'_>,
    text: bool,
    path: &SimPath,
    thin: &[(Segment, String)],
    runs: u32,
) -> Result<()> {
    let errors: Vec<(u32, f64)> = (0..=runs)
        .map(|run| (run, path.max_error(run, thin)))
        .collect();
    let top = errors.iter().map(|e| e.1).fold(0.02, f64::max) * 1.1;
    let mut chart = chart_on(
        area,
        text,
        "largest |delta - correction| over the tuned values",
        runs,
        0.0..top,
    )?;
    let red = RGBColor(200, 40, 40);
    chart
        .draw_series(LineSeries::new(errors, red.stroke_width(2)))
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .draw_series(LineSeries::new(
            [(0, 0.02), (runs, 0.02)],
            BLACK.stroke_width(1),
        ))
        .map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
