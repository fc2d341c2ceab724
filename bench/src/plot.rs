//! SVG line charts, written by hand (no plotting dependency).
//!
//! A [`Chart`] is a set of named series of (x, y) points with axes, ticks and
//! a legend; several charts stack into one SVG file ([`write_svg`]). Each
//! series is a `<g class="series" data-name="...">` holding its `<polyline>`,
//! so a reader (or a test) finds a series by name. Non-finite points are
//! left out.

use std::fmt::Write as _;

/// One named line.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// One panel: axes and lines.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Logarithmic x axis (latencies spanning decades).
    pub log_x: bool,
    pub series: Vec<Series>,
    /// Dashed vertical lines at these x values, labelled (the measured
    /// window's edges).
    pub marks: Vec<(f64, String)>,
}

const WIDTH: f64 = 900.0;
const PANEL_HEIGHT: f64 = 320.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 260.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 48.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

/// Escapes text for SVG content and attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Round tick steps (1, 2, 5 x 10^k) covering `lo..hi` in about `n` steps.
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 && out.len() < 50 {
        out.push(t);
        t += step;
    }
    out
}

fn fmt_tick(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-2 {
        format!("{v:.0e}")
    } else if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

impl Chart {
    fn render(&self, out: &mut String, y0: f64) {
        let (pw, ph) = (WIDTH - LEFT - RIGHT, PANEL_HEIGHT - TOP - BOTTOM);
        let fx = |x: f64| if self.log_x { x.max(1e-12).log10() } else { x };
        let pts = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter())
                .filter(|(x, y)| x.is_finite() && y.is_finite() && (!self.log_x || *x > 0.0))
        };
        let (mut xmin, mut xmax, mut ymax) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
        for &(x, y) in pts() {
            xmin = xmin.min(fx(x));
            xmax = xmax.max(fx(x));
            ymax = ymax.max(y);
        }
        if !xmin.is_finite() {
            (xmin, xmax) = (0.0, 1.0);
        }
        if xmax <= xmin {
            xmax = xmin + 1.0;
        }
        let ymin = 0.0;
        let ymax = if ymax > 0.0 { ymax * 1.05 } else { 1.0 };
        let sx = |x: f64| LEFT + (fx(x) - xmin) / (xmax - xmin) * pw;
        let sy = |y: f64| y0 + TOP + ph - (y - ymin) / (ymax - ymin) * ph;
        let _ = writeln!(
            out,
            r#"<g class="chart" data-title="{}"><text x="{}" y="{}" font-size="15" font-weight="bold">{}</text>"#,
            esc(&self.title),
            LEFT,
            y0 + 22.0,
            esc(&self.title)
        );
        let _ = writeln!(
            out,
            r##"<rect x="{LEFT}" y="{}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##,
            y0 + TOP
        );
        for t in ticks(ymin, ymax, 5) {
            let y = sy(t);
            let _ = writeln!(
                out,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
                LEFT + pw,
                LEFT - 6.0,
                y + 4.0,
                fmt_tick(t)
            );
        }
        for t in ticks(xmin, xmax, 8) {
            let x = LEFT + (t - xmin) / (xmax - xmin) * pw;
            let label = if self.log_x {
                fmt_tick(10f64.powf(t))
            } else {
                fmt_tick(t)
            };
            let _ = writeln!(
                out,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{label}</text>"##,
                y0 + TOP,
                y0 + TOP + ph,
                y0 + TOP + ph + 16.0,
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
            LEFT + pw / 2.0,
            y0 + PANEL_HEIGHT - 10.0,
            esc(&self.x_label)
        );
        let _ = writeln!(
            out,
            r#"<text x="16" y="{:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 16 {:.1})">{}</text>"#,
            y0 + TOP + ph / 2.0,
            y0 + TOP + ph / 2.0,
            esc(&self.y_label)
        );
        for (x, label) in self
            .marks
            .iter()
            .filter(|(x, _)| x.is_finite() && fx(*x) >= xmin && fx(*x) <= xmax)
        {
            let x = sx(*x);
            let _ = writeln!(
                out,
                r##"<g class="mark"><line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#888" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#555">{}</text></g>"##,
                y0 + TOP,
                y0 + TOP + ph,
                x + 3.0,
                y0 + TOP + 12.0,
                esc(label)
            );
        }
        for (i, s) in self.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let mut points = String::new();
            for &(x, y) in s
                .points
                .iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite() && (!self.log_x || *x > 0.0))
            {
                let _ = write!(points, "{:.1},{:.1} ", sx(x), sy(y));
            }
            let ly = y0 + TOP + 8.0 + 18.0 * i as f64;
            let lx = LEFT + pw + 12.0;
            let _ = writeln!(
                out,
                r#"<g class="series" data-name="{name}"><polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/><line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{color}" stroke-width="3"/><text x="{:.1}" y="{:.1}" font-size="11">{name}</text></g>"#,
                points.trim_end(),
                lx + 18.0,
                lx + 22.0,
                ly + 4.0,
                name = esc(&s.name),
            );
        }
        out.push_str("</g>\n");
    }
}

/// The charts stacked into one SVG document.
pub fn svg(charts: &[Chart]) -> String {
    let height = PANEL_HEIGHT * charts.len().max(1) as f64;
    let mut out = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
"#
    );
    for (i, c) in charts.iter().enumerate() {
        c.render(&mut out, PANEL_HEIGHT * i as f64);
    }
    out.push_str("</svg>\n");
    out
}

/// Writes the charts to `path` as one SVG file.
pub fn write_svg(path: &std::path::Path, charts: &[Chart]) -> crate::Result<()> {
    std::fs::write(path, svg(charts))
        .map_err(|e| crate::BenchError(format!("writing {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = ticks(0.0, 0.37, 4);
        assert_eq!(t.first(), Some(&0.0));
        assert!(t.last().is_some_and(|l| *l <= 0.37 + 1e-9));
    }

    #[test]
    fn a_chart_is_valid_svg_with_its_series_and_escaped_names() {
        let chart = Chart {
            title: "a <title> & more".into(),
            x_label: "s".into(),
            y_label: "Gbit/s".into(),
            log_x: true,
            series: vec![
                Series {
                    name: "kernel \"x\"".into(),
                    points: vec![(1.0, 1.0), (10.0, 2.0), (f64::NAN, 3.0), (0.0, 1.0)],
                },
                Series {
                    name: "Shunt".into(),
                    points: vec![],
                },
            ],
            marks: vec![(2.0, "window".into())],
        };
        let text = svg(&[chart.clone(), chart]);
        let doc = roxmltree::Document::parse(&text).expect("valid XML");
        let names: Vec<_> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("series"))
            .filter_map(|n| n.attribute("data-name"))
            .collect();
        assert_eq!(names, ["kernel \"x\"", "Shunt", "kernel \"x\"", "Shunt"]);
        let first = doc
            .descendants()
            .find(|n| n.has_tag_name("polyline"))
            .and_then(|n| n.attribute("points"))
            .unwrap();
        assert_eq!(
            first.split(' ').count(),
            2,
            "NaN and 0 on a log axis are left out"
        );
    }
}
