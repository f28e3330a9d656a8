//! A dependency-free SVG: latency by percentile (log "nines" axis, as HdrHistogram plots do)
//! beside ops/s over time, so one file shows both tail and stability of a run.

use crate::run::Point;
use hdrhistogram::Histogram;
use std::fmt::Write;

const W: f64 = 1000.0;
const H: f64 = 420.0;
const PW: f64 = 400.0;
const PH: f64 = 300.0;
const TOP: f64 = 60.0;

/// Percentile curve as (nines, latency ms) points: x = log10(1 / (1 - q)).
fn curve(h: &Histogram<u64>, max_nines: f64) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    (0..=200)
        .map(|i| {
            let x = max_nines * i as f64 / 200.0;
            let q = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(q) as f64 / 1e6)
        })
        .collect()
}

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

fn polyline(
    s: &mut String,
    pts: &[(f64, f64)],
    x0: f64,
    sx: f64,
    sy: f64,
    colour: &str,
    dash: bool,
) {
    let d: Vec<String> = pts
        .iter()
        .map(|(x, y)| format!("{:.1},{:.1}", x0 + x * sx, TOP + PH - y * sy))
        .collect();
    let _ = writeln!(
        s,
        r#"<polyline fill="none" stroke="{colour}" stroke-width="2"{} points="{}"/>"#,
        if dash {
            r#" stroke-dasharray="6,4""#
        } else {
            ""
        },
        d.join(" ")
    );
}

fn axes(s: &mut String, x0: f64, title: &str, xlabel: &str, ylabel: &str) {
    let _ = writeln!(
        s,
        r##"<rect x="{x0}" y="{TOP}" width="{PW}" height="{PH}" fill="none" stroke="#444"/>
<text x="{}" y="{}" text-anchor="middle" font-size="15" font-weight="bold">{title}</text>
<text x="{}" y="{}" text-anchor="middle" font-size="12">{xlabel}</text>
<text x="{}" y="{}" text-anchor="middle" font-size="12" transform="rotate(-90 {} {})">{ylabel}</text>"##,
        x0 + PW / 2.0,
        TOP - 15.0,
        x0 + PW / 2.0,
        TOP + PH + 38.0,
        x0 - 55.0,
        TOP + PH / 2.0,
        x0 - 55.0,
        TOP + PH / 2.0
    );
}

fn y_ticks(s: &mut String, x0: f64, ymax: f64, decimals: usize) {
    for i in 0..=5 {
        let v = ymax * i as f64 / 5.0;
        let y = TOP + PH - PH * i as f64 / 5.0;
        let _ = writeln!(
            s,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{v:.decimals$}</text>"##,
            x0 + PW,
            x0 - 5.0,
            y + 4.0
        );
    }
}

/// `series` are (label, histogram, dashed) curves sharing the left panel.
pub fn svg(title: &str, series: &[(&str, &Histogram<u64>, bool)], timeline: &[Point]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        W / 2.0,
        xml_escape(title)
    );

    // Left: latency by percentile.
    let x0 = 80.0;
    let max_nines = 5.0;
    let curves: Vec<Vec<(f64, f64)>> = series.iter().map(|(_, h, _)| curve(h, max_nines)).collect();
    let ymax = nice_max(curves.iter().flatten().map(|p| p.1).fold(0.0, f64::max));
    axes(
        &mut s,
        x0,
        "Latency by percentile",
        "percentile",
        "latency (ms)",
    );
    let decimals = if ymax >= 50.0 {
        0
    } else if ymax >= 5.0 {
        1
    } else {
        3
    };
    y_ticks(&mut s, x0, ymax, decimals);
    for (i, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
    {
        let x = x0 + PW * i as f64 / max_nines;
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="11">{label}</text>"##,
            TOP + PH,
            TOP + PH + 16.0
        );
    }
    let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
    for (i, ((label, _, dash), pts)) in series.iter().zip(&curves).enumerate() {
        let c = colours[i % colours.len()];
        polyline(&mut s, pts, x0, PW / max_nines, PH / ymax, c, *dash);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" fill="{c}">{}</text>"#,
            x0 + 10.0,
            TOP + 18.0 + 16.0 * i as f64,
            xml_escape(label)
        );
    }

    // Right: throughput per second.
    let x1 = 570.0;
    axes(&mut s, x1, "Throughput", "time (s)", "ops/s");
    let tmax = timeline.iter().map(|p| p.t).fold(0.0, f64::max).max(1.0);
    // Headroom, so a run held at a steady rate is not drawn on the frame.
    let omax = nice_max(1.1 * timeline.iter().map(|p| p.ops_per_sec).fold(0.0, f64::max));
    y_ticks(&mut s, x1, omax, 0);
    for i in 0..=4 {
        let x = x1 + PW * i as f64 / 4.0;
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="11">{:.1}</text>"#,
            TOP + PH + 16.0,
            tmax * i as f64 / 4.0
        );
    }
    let pts: Vec<(f64, f64)> = timeline.iter().map(|p| (p.t, p.ops_per_sec)).collect();
    polyline(&mut s, &pts, x1, PW / tmax, PH / omax, colours[0], false);
    s.push_str("</svg>\n");
    s
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::new_hist;

    #[test]
    fn svg_is_well_formed_enough() {
        let mut h = new_hist();
        for v in 1..1000u64 {
            h.record(v * 1000).unwrap();
        }
        let tl = vec![
            Point {
                t: 1.0,
                ops_per_sec: 1000.0,
                hit_ratio: None,
                p50_us: 1.0,
                p99_us: 2.0,
            },
            Point {
                t: 2.0,
                ops_per_sec: 1200.0,
                hit_ratio: None,
                p50_us: 1.0,
                p99_us: 2.0,
            },
        ];
        let s = svg("t <&>", &[("all", &h, false)], &tl);
        assert!(s.starts_with("<svg"));
        assert!(s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<polyline").count(), 2);
        assert!(s.contains("t &lt;&amp;&gt;"));
        assert_eq!(nice_max(0.7), 1.0);
        assert_eq!(nice_max(1300.0), 2000.0);
    }
}
