//! The charts of the court report, drawn as SVG: monthly credits by channel, balance over
//! time, and a flow diagram from the tainted origins through the case accounts to where the
//! money went.
//!
//! The same SVG text goes inline into the HTML report and, as an image file, into the PDF,
//! so both show the same picture. Amounts are exact pence; only the geometry (bar heights,
//! band widths) is computed in floating point, and every label that shows a figure prints
//! the exact amount. Output is deterministic: coordinates are printed to one decimal place
//! and every collection is iterated in a fixed order. Every piece of text from the material
//! (account ids, counterparty names) is XML-escaped, so a hostile name is shown, not run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::NaiveDate;

use crate::ledger::Channel;
use crate::rules::params::format_money;

/// Font stack: the PDF has Libertinus Serif embedded; a browser falls back to its serif.
const FONT: &str = "Libertinus Serif, Georgia, 'Times New Roman', serif";

/// Colours per channel, from Paul Tol's colour-blind-safe palettes, in [`Channel::ALL`]
/// order.
const CHANNEL_COLOURS: [&str; 12] = [
    "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",
    "#AA4499", "#EE7733", "#0077BB", "#BBBBBB",
];

/// Escape text for XML and HTML content or attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The colour of a channel (`other` for a name that is not a channel).
pub fn channel_colour(channel: &str) -> &'static str {
    Channel::ALL
        .iter()
        .position(|c| c.as_str() == channel)
        .map_or(CHANNEL_COLOURS[11], |i| CHANNEL_COLOURS[i])
}

/// A channel name for a reader: `cash_deposit` → `cash deposit`.
pub fn channel_label(channel: &str) -> String {
    channel.replace('_', " ")
}

/// One month's credits to an account, per channel, in pence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthCredits {
    /// `YYYY-MM`.
    pub month: String,
    pub by_channel: BTreeMap<String, i64>,
}

impl MonthCredits {
    pub fn total(&self) -> i64 {
        self.by_channel.values().sum()
    }
}

/// A rounded-up axis maximum and its tick step, in pence: 1, 2 or 5 times a power of ten.
fn nice_axis(max: i64) -> (i64, i64) {
    let max = max.max(100);
    let rough = max / 4;
    let mut magnitude: i64 = 1;
    while magnitude.saturating_mul(10) <= rough {
        magnitude = magnitude.saturating_mul(10);
    }
    let step = [1, 2, 5, 10]
        .iter()
        .map(|m| magnitude.saturating_mul(*m))
        .find(|s| s.saturating_mul(4) >= max)
        .unwrap_or(magnitude.saturating_mul(10));
    let top = max.div_euclid(step) * step + if max % step == 0 { 0 } else { step };
    (top, step)
}

/// An axis label: whole units with thousands separators (`£12,000`).
fn axis_label(pence: i64, currency: &str) -> String {
    let text = format_money(pence, currency);
    match text.split_once('.') {
        Some((whole, rest)) if rest.starts_with("00") => {
            format!("{whole}{}", &rest[2..])
        }
        _ => text,
    }
}

fn svg_open(out: &mut String, width: u32, height: u32, label: &str) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\" font-family=\"{FONT}\" font-size=\"11\">",
        escape(label)
    );
    let _ = write!(
        out,
        "<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );
}

/// A chart's title in bold and, below it, a grey line saying what it is drawn from.
fn heading(out: &mut String, left: f64, title: &str, subtitle: Option<&str>) {
    let _ = write!(
        out,
        "<text x=\"{left}\" y=\"16\" font-size=\"13\" font-weight=\"bold\">{}</text>",
        escape(title)
    );
    if let Some(sub) = subtitle {
        let _ = write!(
            out,
            "<text x=\"{left}\" y=\"31\" fill=\"#555555\">{}</text>",
            escape(sub)
        );
    }
}

/// Month label `2024-01` → `Jan 2024`.
fn month_label(month: &str) -> String {
    const NAMES: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    match month.split_once('-') {
        Some((y, m)) => match m.parse::<usize>() {
            Ok(m) if (1..=12).contains(&m) => format!("{} {y}", NAMES[m - 1]),
            _ => month.to_string(),
        },
        None => month.to_string(),
    }
}

/// Stacked bars: credits per month, one colour per channel, with a legend and the exact
/// total of each month in the bar's tooltip (`<title>`).
pub fn monthly_credits_svg(title: &str, months: &[MonthCredits], currency: &str) -> String {
    let (width, height) = (640u32, 270u32);
    let (left, right, top, bottom) = (78.0, 10.0, 46.0, 36.0);
    let plot_w = f64::from(width) - left - right;
    let plot_h = f64::from(height) - top - bottom;
    let mut out = String::new();
    svg_open(&mut out, width, height, title);
    heading(&mut out, left, title, None);
    let channels: Vec<&str> = Channel::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| months.iter().any(|m| m.by_channel.contains_key(*c)))
        .collect();
    // Legend.
    let mut x = left;
    for c in &channels {
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"26\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"35\">{}</text>",
            channel_colour(c),
            x + 13.0,
            escape(&channel_label(c))
        );
        x += 22.0 + 6.0 * channel_label(c).chars().count() as f64;
    }
    let max = months.iter().map(MonthCredits::total).max().unwrap_or(0);
    let (axis_top, step) = nice_axis(max);
    let y_of = |pence: i64| top + plot_h - plot_h * (pence as f64 / axis_top as f64);
    let mut tick = 0;
    while tick <= axis_top {
        let y = y_of(tick);
        let _ = write!(
            out,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#dddddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left + plot_w,
            left - 6.0,
            y + 4.0,
            escape(&axis_label(tick, currency))
        );
        tick += step;
    }
    if months.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no credits</text>",
            left + plot_w / 2.0,
            top + plot_h / 2.0
        );
    }
    let slot = plot_w / months.len().max(1) as f64;
    let bar = (slot * 0.7).min(48.0);
    let label_every = months.len().div_ceil(12).max(1);
    for (i, m) in months.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let mut base = 0i64;
        let _ = write!(
            out,
            "<g><title>{}: credits {}</title>",
            escape(&month_label(&m.month)),
            escape(&format_money(m.total(), currency))
        );
        for c in &channels {
            let Some(&v) = m.by_channel.get(*c) else {
                continue;
            };
            if v <= 0 {
                continue;
            }
            let y1 = y_of(base + v);
            let y0 = y_of(base);
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{y1:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{} {}: {}</title></rect>",
                (y0 - y1).max(0.0),
                channel_colour(c),
                escape(&month_label(&m.month)),
                escape(&channel_label(c)),
                escape(&format_money(v, currency))
            );
            base += v;
        }
        out.push_str("</g>");
        if i % label_every == 0 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x + bar / 2.0,
                top + plot_h + 16.0,
                escape(&month_label(&m.month))
            );
        }
    }
    let _ = write!(
        out,
        "<line x1=\"{left}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#333333\"/>",
        top + plot_h,
        left + plot_w,
        top + plot_h
    );
    out.push_str("</svg>");
    out
}

/// One point of an account's balance: the balance after a row, in pence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalancePoint {
    pub date: NaiveDate,
    pub balance: i64,
}

/// A step line of the balance after each row, with a zero line when the account goes
/// overdrawn and the lowest and highest balance labelled.
pub fn balance_svg(title: &str, points: &[BalancePoint], currency: &str, basis: &str) -> String {
    let (width, height) = (640u32, 250u32);
    let (left, right, top, bottom) = (78.0, 10.0, 40.0, 36.0);
    let plot_w = f64::from(width) - left - right;
    let plot_h = f64::from(height) - top - bottom;
    let mut out = String::new();
    svg_open(&mut out, width, height, title);
    heading(&mut out, left, title, Some(basis));
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no balances</text></svg>",
            left + plot_w / 2.0,
            top + plot_h / 2.0
        );
        return out;
    };
    let lo = points.iter().map(|p| p.balance).min().unwrap_or(0).min(0);
    let hi = points.iter().map(|p| p.balance).max().unwrap_or(0).max(0);
    let (span_top, step) = nice_axis(hi - lo);
    // Ticks start at a multiple of the step at or below the lowest balance.
    let start = lo.div_euclid(step) * step;
    let end = start + span_top.max(step) + if hi - start > span_top { step } else { 0 };
    let range = (end - start).max(1) as f64;
    let y_of = |pence: i64| top + plot_h - plot_h * ((pence - start) as f64 / range);
    let days = (last.date - first.date).num_days().max(1) as f64;
    let x_of = |d: NaiveDate| left + plot_w * ((d - first.date).num_days() as f64 / days);
    let mut tick = start;
    while tick <= end {
        let y = y_of(tick);
        let colour = if tick == 0 { "#333333" } else { "#dddddd" };
        let _ = write!(
            out,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left + plot_w,
            left - 6.0,
            y + 4.0,
            escape(&axis_label(tick, currency))
        );
        tick += step;
    }
    let mut path = String::new();
    let mut previous: Option<f64> = None;
    for p in points {
        let x = x_of(p.date);
        let y = y_of(p.balance);
        match previous {
            None => {
                let _ = write!(path, "M{x:.1},{y:.1}");
            }
            Some(_) => {
                let _ = write!(path, " H{x:.1} V{y:.1}");
            }
        }
        previous = Some(y);
    }
    let _ = write!(
        out,
        "<path d=\"{path}\" fill=\"none\" stroke=\"#0077BB\" stroke-width=\"1.6\"/>"
    );
    let low = points.iter().min_by_key(|p| p.balance).unwrap_or(first);
    let high = points.iter().max_by_key(|p| p.balance).unwrap_or(first);
    for (p, what) in [(low, "lowest"), (high, "highest")] {
        let _ = write!(
            out,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#CC3311\"><title>{what} balance {} on {}</title></circle>",
            x_of(p.date),
            y_of(p.balance),
            escape(&format_money(p.balance, currency)),
            p.date
        );
    }
    for (d, anchor) in [(first.date, "start"), (last.date, "end")] {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            x_of(d),
            top + plot_h + 16.0,
            d.format("%-d %b %Y")
        );
    }
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555555\">lowest {} ({}), highest {} ({})</text>",
        left + plot_w,
        top + plot_h + 30.0,
        escape(&format_money(low.balance, currency)),
        low.date,
        escape(&format_money(high.balance, currency)),
        high.date
    );
    out.push_str("</svg>");
    out
}

/// An edge of the flow diagram: `amount` pence from one node to the next.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowEdge {
    pub from: FlowNode,
    pub to: FlowNode,
    pub amount: i64,
}

/// A node of the flow diagram, in its column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowNode {
    pub column: usize,
    pub label: String,
}

/// A flow diagram: columns of nodes (origins, accounts by hop, destinations) joined by
/// bands whose width is proportional to the amount, each band labelled with its exact
/// amount in its tooltip and, where wide enough, on the band.
pub fn flow_svg(title: &str, subtitle: &str, edges: &[FlowEdge], currency: &str) -> String {
    let columns = edges
        .iter()
        .flat_map(|e| [e.from.column, e.to.column])
        .max()
        .map_or(1, |c| c + 1);
    let mut through: BTreeMap<&FlowNode, (i64, i64)> = BTreeMap::new();
    for e in edges {
        through.entry(&e.from).or_default().1 += e.amount;
        through.entry(&e.to).or_default().0 += e.amount;
    }
    let size = |n: &FlowNode| {
        let (i, o) = through.get(n).copied().unwrap_or((0, 0));
        i.max(o).max(1)
    };
    let mut by_column: BTreeMap<usize, Vec<&FlowNode>> = BTreeMap::new();
    for n in through.keys() {
        by_column.entry(n.column).or_default().push(n);
    }
    for nodes in by_column.values_mut() {
        nodes.sort_by(|a, b| size(b).cmp(&size(a)).then(a.label.cmp(&b.label)));
    }
    let tallest = by_column.values().map(Vec::len).max().unwrap_or(1).max(1);
    let width = 900u32;
    let (left, right, top, bottom) = (10.0, 10.0, 44.0, 12.0);
    let gap = 8.0;
    // Every node keeps room for its two label lines, however small its amount.
    let label_room = 26.0;
    let plot_h = (40.0 * tallest as f64).clamp(200.0, 640.0);
    let node_w = 12.0;
    let col_x = |c: usize| {
        left + (f64::from(width) - left - right - node_w) * c as f64 / (columns - 1).max(1) as f64
    };
    let column_total = |c: usize| -> i64 {
        by_column
            .get(&c)
            .map_or(0, |ns| ns.iter().map(|n| size(n)).sum())
    };
    let busiest = (0..columns).map(column_total).max().unwrap_or(1).max(1);
    let scale = (plot_h - gap * (tallest as f64 - 1.0)) / busiest as f64;
    let mut place: BTreeMap<&FlowNode, (f64, f64)> = BTreeMap::new();
    let mut lowest = top;
    for nodes in by_column.values() {
        let mut y = top;
        for n in nodes {
            let h = (size(n) as f64 * scale).max(2.0);
            place.insert(*n, (y, h));
            y += h.max(label_room) + gap;
        }
        lowest = lowest.max(y);
    }
    let height = (lowest + bottom).max(120.0).ceil() as u32;
    let mut out = String::new();
    svg_open(&mut out, width, height, title);
    heading(&mut out, left, title, Some(subtitle));
    if edges.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no traced flows</text></svg>",
            f64::from(width) / 2.0,
            top + 40.0
        );
        return out;
    }
    // Bands: stacked out of each source node and into each target node in a fixed order.
    let mut out_used: BTreeMap<&FlowNode, f64> = BTreeMap::new();
    let mut in_used: BTreeMap<&FlowNode, f64> = BTreeMap::new();
    let mut sorted: Vec<&FlowEdge> = edges.iter().collect();
    sorted.sort_by(|a, b| {
        let pa = place.get(&a.to).map_or(0.0, |p| p.0);
        let pb = place.get(&b.to).map_or(0.0, |p| p.0);
        a.from
            .cmp(&b.from)
            .then(pa.total_cmp(&pb))
            .then(a.to.cmp(&b.to))
    });
    for e in sorted {
        let (Some(&(fy, _)), Some(&(ty, _))) = (place.get(&e.from), place.get(&e.to)) else {
            continue;
        };
        let w = (e.amount as f64 * scale).max(1.0);
        let fo = out_used.entry(&e.from).or_insert(0.0);
        let y0 = fy + *fo + w / 2.0;
        *fo += w;
        let ti = in_used.entry(&e.to).or_insert(0.0);
        let y1 = ty + *ti + w / 2.0;
        *ti += w;
        let x0 = col_x(e.from.column) + node_w;
        let x1 = col_x(e.to.column);
        let mid = (x0 + x1) / 2.0;
        let _ = write!(
            out,
            "<path d=\"M{x0:.1},{y0:.1} C{mid:.1},{y0:.1} {mid:.1},{y1:.1} {x1:.1},{y1:.1}\" fill=\"none\" stroke=\"#0077BB\" stroke-opacity=\"0.35\" stroke-width=\"{w:.1}\"><title>{} → {}: {}</title></path>",
            escape(&e.from.label),
            escape(&e.to.label),
            escape(&format_money(e.amount, currency))
        );
    }
    for (n, &(y, h)) in &place {
        let x = col_x(n.column);
        let (i, o) = through.get(n).copied().unwrap_or((0, 0));
        let amount = i.max(o);
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{node_w}\" height=\"{h:.1}\" fill=\"#332288\"><title>{}: {}</title></rect>",
            escape(&n.label),
            escape(&format_money(amount, currency))
        );
        let last = n.column + 1 == columns;
        let (tx, anchor) = if last {
            (x - 4.0, "end")
        } else {
            (x + node_w + 4.0, "start")
        };
        let _ = write!(
            out,
            "<text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text><text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" fill=\"#555555\">{}</text>",
            y + h.max(label_room) / 2.0 - 1.0,
            escape(&n.label),
            y + h.max(label_room) / 2.0 + 11.0,
            escape(&format_money(amount, currency))
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_axis(2_825_000), (3_000_000, 1_000_000));
        assert_eq!(nice_axis(1_000_000), (1_000_000, 500_000));
        assert_eq!(nice_axis(0), (100, 50));
    }

    #[test]
    fn hostile_names_are_escaped_in_every_chart() {
        let mut by_channel = BTreeMap::new();
        by_channel.insert("cash_deposit".to_string(), 950_000);
        let months = vec![MonthCredits {
            month: "2024-01".into(),
            by_channel,
        }];
        let svg = monthly_credits_svg("<script>alert(1)</script>", &months, "GBP");
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("£9,500.00"));
        let edges = vec![FlowEdge {
            from: FlowNode {
                column: 0,
                label: "=HYPERLINK(\"x\")".into(),
            },
            to: FlowNode {
                column: 1,
                label: "A&B".into(),
            },
            amount: 123_456,
        }];
        let svg = flow_svg("flows", "fifo", &edges, "GBP");
        assert!(svg.contains("=HYPERLINK(&quot;x&quot;)"));
        assert!(svg.contains("A&amp;B"));
        assert!(svg.contains("£1,234.56"));
    }

    #[test]
    fn axis_labels_drop_zero_pence() {
        assert_eq!(axis_label(1_000_000, "GBP"), "£10,000");
        assert_eq!(axis_label(-50_000, "EUR"), "-500 EUR");
    }
}
