//! The warm-up simulation drawn with plotters: the daily caps per tenant (top), and the bounce
//! and complaint rates against the hold, step-back and review levels (bottom). Text needs a
//! font: DejaVu Sans when the machine has it; without one the chart is drawn without text.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use storecast::deliverability::warmup::WarmupThresholds;
use storecast::deliverability::warmup::decision::{
    SES_BOUNCE_REVIEW_RATE, SES_COMPLAINT_REVIEW_RATE,
};

use super::warmup_sim::{Scenario, SimDay};

pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 1100;
const FONT_PATHS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];
/// Hold, step back, review.
const LEVEL_COLOURS: [RGBColor; 3] = [
    RGBColor(230, 160, 0),
    RGBColor(230, 90, 0),
    RGBColor(120, 0, 120),
];
const COLOURS: [RGBColor; 3] = [
    RGBColor(0, 128, 0),
    RGBColor(200, 40, 40),
    RGBColor(30, 90, 200),
];

/// Registers DejaVu Sans as plotters' `sans-serif` when found; answers whether text can be drawn.
pub fn load_font() -> bool {
    static LOADED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *LOADED.get_or_init(|| {
        FONT_PATHS.iter().any(|path| {
            std::fs::read(path).ok().is_some_and(|bytes| {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            })
        })
    })
}

fn series(rows: &[SimDay], scenario: Scenario, value: impl Fn(&SimDay) -> f64) -> Vec<(u32, f64)> {
    rows.iter()
        .filter(|r| r.tenant == scenario.tenant())
        .map(|r| (r.day, value(r)))
        .collect()
}

pub fn draw(rows: &[SimDay], thresholds: &WarmupThresholds, path: &Path) -> Result<()> {
    let text = load_font();
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let panels = root.split_evenly((3, 1));
    let days = rows.iter().map(|r| r.day).max().unwrap_or(1);
    let top = rows.iter().map(|r| r.cap).max().unwrap_or(1) as f64 * 1.1;
    panel(
        &panels[0],
        text,
        "daily cap per tenant",
        days,
        top,
        rows,
        |r| r.cap as f64,
        &[],
    )?;
    let bounce_lines = [
        (thresholds.hold_bounce_rate * 100.0, "hold"),
        (thresholds.step_back_bounce_rate * 100.0, "step back"),
        (SES_BOUNCE_REVIEW_RATE * 100.0, "SES review"),
    ];
    panel(
        &panels[1],
        text,
        "hard bounce rate %",
        days,
        6.0,
        rows,
        |r| r.bounce_rate * 100.0,
        &bounce_lines,
    )?;
    let complaint_lines = [
        (thresholds.hold_complaint_rate * 100.0, "hold"),
        (thresholds.step_back_complaint_rate * 100.0, "step back"),
        (SES_COMPLAINT_REVIEW_RATE * 100.0, "SES review / Gmail"),
    ];
    panel(
        &panels[2],
        text,
        "complaint rate %",
        days,
        0.12,
        rows,
        |r| r.complaint_rate * 100.0,
        &complaint_lines,
    )?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    text: bool,
    title: &str,
    days: u32,
    y_max: f64,
    rows: &[SimDay],
    value: impl Fn(&SimDay) -> f64,
    levels: &[(f64, &str)],
) -> Result<()> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(15)
        .x_label_area_size(if text { 30 } else { 0 })
        .y_label_area_size(if text { 70 } else { 0 });
    if text {
        builder.caption(title, ("sans-serif", 20));
    }
    let mut chart = builder
        .build_cartesian_2d(1u32..days, 0f64..y_max)
        .map_err(|e| anyhow!("{e}"))?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("day");
    } else {
        mesh.disable_x_axis().disable_y_axis();
    }
    mesh.draw().map_err(|e| anyhow!("{e}"))?;
    for (&(level, name), colour) in levels.iter().zip(LEVEL_COLOURS) {
        let drawn = chart
            .draw_series(LineSeries::new(
                [(1, level), (days, level)],
                colour.stroke_width(2),
            ))
            .map_err(|e| anyhow!("{e}"))?;
        if text {
            drawn
                .label(format!("{name} {level}%"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
    }
    for (scenario, colour) in Scenario::ALL.into_iter().zip(COLOURS) {
        let drawn = chart
            .draw_series(LineSeries::new(
                series(rows, scenario, &value),
                colour.stroke_width(2),
            ))
            .map_err(|e| anyhow!("{e}"))?;
        if text {
            drawn.label(scenario.tenant()).legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        }
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
    }
    Ok(())
}
