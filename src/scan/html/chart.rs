//! Line charts as inline SVG, for the trend: one point per snapshot, placed by its time.

use super::escape;
use std::fmt::Write;

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

/// A chart of series over the same times; a `None` value is a gap.
pub struct LineChart<'a> {
    pub id: &'a str,
    pub title: &'a str,
    /// Each point's time (seconds), oldest first, and its label.
    pub times: &'a [i64],
    pub labels: &'a [&'a str],
    /// `(name, colour, values)`.
    pub series: Vec<(&'a str, &'a str, Vec<Option<f64>>)>,
    /// The top of the y axis (the bottom is 0).
    pub y_max: f64,
    pub y_label: &'a dyn Fn(f64) -> String,
    /// A point's value in its tooltip.
    pub value_label: &'a dyn Fn(f64) -> String,
}

impl LineChart<'_> {
    fn x(&self, i: usize) -> f64 {
        let plot = WIDTH - LEFT - RIGHT;
        let (first, last) = match (self.times.first(), self.times.last()) {
            (Some(&f), Some(&l)) if l > f => (f, l),
            _ => return LEFT + plot / 2.0,
        };
        LEFT + plot * (self.times[i] - first) as f64 / (last - first) as f64
    }

    fn y(&self, value: f64) -> f64 {
        let plot = HEIGHT - TOP - BOTTOM;
        let max = if self.y_max > 0.0 { self.y_max } else { 1.0 };
        TOP + plot * (1.0 - (value / max).clamp(0.0, 1.0))
    }

    pub fn to_svg(&self) -> String {
        let mut out = format!(
            "<figure><svg data-chart=\"{}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"100%\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">\n<title>{}</title>\n",
            self.id,
            escape(self.title),
            escape(self.title)
        );
        for step in 0..=4 {
            let value = self.y_max * f64::from(step) / 4.0;
            let y = self.y(value);
            let _ = writeln!(
                out,
                "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e4e7eb\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                WIDTH - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                escape(&(self.y_label)(value))
            );
        }
        if let (Some(first), Some(last)) = (self.labels.first(), self.labels.last()) {
            let _ = writeln!(
                out,
                "<text x=\"{LEFT}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                HEIGHT - 12.0,
                escape(first),
                WIDTH - RIGHT,
                HEIGHT - 12.0,
                escape(last)
            );
        }
        for (index, (name, colour, values)) in self.series.iter().enumerate() {
            out += &self.line(name, colour, values);
            let x = LEFT + 8.0 + 90.0 * index as f64;
            let _ = writeln!(
                out,
                "<rect x=\"{x}\" y=\"{}\" width=\"10\" height=\"3\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\">{}</text>",
                HEIGHT - 28.0,
                x + 14.0,
                HEIGHT - 24.0,
                escape(name)
            );
        }
        out + "</svg></figure>\n"
    }

    /// A series as polylines broken at its gaps, with a dot and a tooltip at each point.
    fn line(&self, name: &str, colour: &str, values: &[Option<f64>]) -> String {
        let mut out = String::new();
        let mut run: Vec<String> = Vec::new();
        let flush = |run: &mut Vec<String>, out: &mut String| {
            if run.len() > 1 {
                let _ = writeln!(
                    out,
                    "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
                    run.join(" ")
                );
            }
            run.clear();
        };
        for (i, value) in values.iter().enumerate() {
            let Some(value) = value else {
                flush(&mut run, &mut out);
                continue;
            };
            let (x, y) = (self.x(i), self.y(*value));
            run.push(format!("{x:.1},{y:.1}"));
            let _ = writeln!(
                out,
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{colour}\"><title>{}: {} {}</title></circle>",
                escape(self.labels.get(i).copied().unwrap_or_default()),
                escape(name),
                escape(&(self.value_label)(*value))
            );
        }
        flush(&mut run, &mut out);
        out
    }
}
