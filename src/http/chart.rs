//! Bar charts drawn on the server as inline SVG: data in, markup out, no script and no state.
//!
//! Readable without colour: each series is filled with a pattern of its own (solid, hatched,
//! dotted) and named in a legend drawn beside its swatch; every bar carries a `<title>` with its
//! slot, series and value; and the figure is followed by the same numbers as a table (in a
//! `<details>`), which is what a screen reader or a text browser reads. Narrow screens: the SVG
//! has a `viewBox` and `width="100%"`, so it scales to the page and keeps its proportions.
//!
//! The value axis starts at 0 and ends on the first 1, 2 or 5 times a power of ten at or above
//! the largest value (or the limit line's), so a chart of zeros is flat rather than undefined,
//! and a spike of millions still fits.

use super::page::escape;

/// One series: a name for the legend and a value per slot.
pub struct Series {
    pub name: &'static str,
    pub values: Vec<u64>,
}

/// A bar chart: groups of bars, one group per slot, one bar per series.
pub struct Chart<'a> {
    /// Unique on the page: the patterns' ids are made from it.
    pub id: &'a str,
    /// What the chart shows, in words (its accessible name).
    pub title: &'a str,
    /// Each slot's full name, for the bars' titles and the table (`2026-03-10 14:00 UTC`).
    pub slots: Vec<String>,
    /// Each slot's short name for the axis (`14:00`); only some are drawn when many.
    pub ticks: Vec<String>,
    pub series: Vec<Series>,
    /// A horizontal line across the chart (a cap): its name and value.
    pub limit: Option<(String, u64)>,
    /// A value in words (a count, dollars).
    pub format: fn(u64) -> String,
    /// The least the axis reaches, so a chart of zeros or of tiny values keeps three distinct
    /// labels (a count: 2; dollars: a cent).
    pub floor: u64,
}

const WIDTH: u32 = 480;
const HEIGHT: u32 = 240;
const LEFT: u32 = 64;
const RIGHT: u32 = 8;
const TOP: u32 = 12;
/// The plot's height: what the largest value on the axis reaches.
const PLOT: u32 = 160;
/// At most this many slot names on the axis.
const MAX_TICKS: usize = 6;

/// The fills, in series order: solid, hatched, dotted (then again).
const FILLS: [&str; 3] = ["solid", "hatch", "dots"];

/// The figure: the SVG, then the same numbers as a table.
pub fn render(chart: &Chart<'_>) -> String {
    format!(
        "<figure class=\"chart\" id=\"{id}\">\n{svg}<figcaption>{title}</figcaption>\n\
         <details><summary>{title}: as a table</summary>\n{table}</details>\n</figure>\n",
        id = escape(chart.id),
        svg = svg(chart),
        title = escape(chart.title),
        table = table(chart),
    )
}

/// The largest value the axis shows: the first 1, 2 or 5 times a power of ten at or above
/// `max` (1 for 0).
pub fn axis_top(max: u64) -> u64 {
    let mut power: u64 = 1;
    loop {
        for step in [1, 2, 5] {
            match power.checked_mul(step) {
                Some(top) if top >= max => return top,
                Some(_) => {}
                None => return u64::MAX,
            }
        }
        power = match power.checked_mul(10) {
            Some(p) => p,
            None => return u64::MAX,
        };
    }
}

/// How tall `value` is drawn against an axis ending at `top`, in the viewBox's units.
fn height(value: u64, top: u64) -> f64 {
    (value as f64 / top as f64 * f64::from(PLOT)).min(f64::from(PLOT))
}

/// The SVG alone.
pub fn svg(chart: &Chart<'_>) -> String {
    let id = escape(chart.id);
    let slots = chart.slots.len().max(1);
    let bars = chart.series.len().max(1);
    let max = chart.series.iter().flat_map(|s| s.values.iter().copied()).max().unwrap_or(0);
    let top = axis_top(max.max(chart.limit.as_ref().map_or(0, |(_, v)| *v)).max(chart.floor));
    let base = f64::from(TOP + PLOT);
    let slot_width = f64::from(WIDTH - LEFT - RIGHT) / slots as f64;
    let bar_width = slot_width * 0.8 / bars as f64;
    let mut out = format!(
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"100%\" role=\"img\" \
         aria-labelledby=\"{id}-title\" xmlns=\"http://www.w3.org/2000/svg\" \
         font-family=\"system-ui,sans-serif\" font-size=\"13\">\n\
         <title id=\"{id}-title\">{}</title>\n{}",
        escape(chart.title),
        patterns(&id),
    );
    // The value axis: 0, half and the top, with a light line across at each.
    for (value, y) in [(0, base), (top / 2, base - height(top / 2, top)), (top, f64::from(TOP))] {
        out.push_str(&format!(
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#bbb\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            WIDTH - RIGHT,
            LEFT - 4,
            y + 4.0,
            escape(&(chart.format)(value)),
        ));
    }
    for (i, slot) in chart.slots.iter().enumerate() {
        for (s, series) in chart.series.iter().enumerate() {
            let value = series.values.get(i).copied().unwrap_or(0);
            let h = height(value, top);
            let x = f64::from(LEFT) + slot_width * (i as f64 + 0.1) + bar_width * s as f64;
            out.push_str(&format!(
                "<rect class=\"bar\" data-series=\"{}\" data-value=\"{value}\" x=\"{x:.1}\" \
                 y=\"{:.1}\" width=\"{bar_width:.1}\" height=\"{h:.1}\" fill=\"url(#{id}-{})\" \
                 stroke=\"#111\" stroke-width=\"0.5\"><title>{}: {} {}</title></rect>\n",
                escape(series.name),
                base - h,
                FILLS[s % FILLS.len()],
                escape(slot),
                escape(&(chart.format)(value)),
                escape(series.name),
            ));
        }
    }
    let every = chart.ticks.len().div_ceil(MAX_TICKS).max(1);
    for (i, tick) in chart.ticks.iter().enumerate().step_by(every) {
        let x = f64::from(LEFT) + slot_width * i as f64;
        out.push_str(&format!(
            "<text x=\"{x:.1}\" y=\"{:.1}\">{}</text>\n",
            base + 16.0,
            escape(tick)
        ));
    }
    if let Some((name, value)) = &chart.limit {
        let y = base - height(*value, top);
        out.push_str(&format!(
            "<line class=\"limit\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" \
             stroke=\"#111\" stroke-width=\"2\" stroke-dasharray=\"6 4\"><title>{}: {}</title>\
             </line>\n",
            WIDTH - RIGHT,
            escape(name),
            escape(&(chart.format)(*value)),
        ));
    }
    out.push_str(&legend(chart, &id, base + 40.0));
    out.push_str("</svg>\n");
    out
}

/// Each series' swatch and name, in a row under the axis; the limit line's too.
fn legend(chart: &Chart<'_>, id: &str, y: f64) -> String {
    let mut out = String::new();
    let mut x = f64::from(LEFT);
    for (s, series) in chart.series.iter().enumerate() {
        out.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"14\" height=\"14\" fill=\"url(#{id}-{})\" \
             stroke=\"#111\"/><text x=\"{:.1}\" y=\"{y:.1}\">{}</text>\n",
            y - 12.0,
            FILLS[s % FILLS.len()],
            x + 18.0,
            escape(series.name),
        ));
        x += 28.0 + 8.0 * series.name.chars().count() as f64;
    }
    if let Some((name, _)) = &chart.limit {
        out.push_str(&format!(
            "<line x1=\"{x:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#111\" \
             stroke-width=\"2\" stroke-dasharray=\"6 4\"/><text x=\"{:.1}\" y=\"{y:.1}\">{}</text>\n",
            x + 14.0,
            y - 5.0,
            y - 5.0,
            x + 18.0,
            escape(name),
        ));
    }
    out
}

/// The fills as SVG patterns, black on white.
fn patterns(id: &str) -> String {
    format!(
        "<defs>\
         <pattern id=\"{id}-solid\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\">\
         <rect width=\"4\" height=\"4\" fill=\"#333\"/></pattern>\
         <pattern id=\"{id}-hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fff\"/>\
         <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#111\" stroke-width=\"3\"/></pattern>\
         <pattern id=\"{id}-dots\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\">\
         <rect width=\"5\" height=\"5\" fill=\"#fff\"/><circle cx=\"2.5\" cy=\"2.5\" r=\"1.3\" \
         fill=\"#111\"/></pattern></defs>\n"
    )
}

/// The numbers as a table: a row per slot, a column per series.
pub fn table(chart: &Chart<'_>) -> String {
    let head: String = chart
        .series
        .iter()
        .map(|s| format!("<th scope=\"col\" class=\"n\">{}</th>", escape(s.name)))
        .collect();
    let rows: String = chart
        .slots
        .iter()
        .enumerate()
        .map(|(i, slot)| {
            let cells: String = chart
                .series
                .iter()
                .map(|s| {
                    let value = s.values.get(i).copied().unwrap_or(0);
                    format!("<td class=\"n\">{}</td>", escape(&(chart.format)(value)))
                })
                .collect();
            format!("<tr><th scope=\"row\">{}</th>{cells}</tr>\n", escape(slot))
        })
        .collect();
    format!(
        "<div class=\"scroll\"><table>\n<thead><tr><th scope=\"col\">When</th>{head}</tr></thead>\n\
         <tbody>\n{rows}</tbody></table></div>\n"
    )
}

#[cfg(test)]
mod tests;
