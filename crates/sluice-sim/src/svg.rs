//! The chart: share of prod traffic failing over simulated minutes, one step line per
//! strategy, and under it one lane per strategy with markers for waves, verdicts, rollbacks,
//! rejections, pushes and detection (each with a tooltip). Hand-written SVG, no dependencies.

use std::fmt::Write;

use crate::report::Report;
use crate::timeline::MarkerKind;

const COLORS: [&str; 8] = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
const DASHES: [&str; 4] = ["", "8 4", "3 3", "12 4 3 4"];
const PLOT_W: f64 = 860.0;
const Y0: f64 = 50.0;
const Y1: f64 = 370.0;
const LANE: f64 = 18.0;
const MAX_MARKERS: usize = 3000;

pub(crate) fn render(r: &Report) -> String {
    let end_ms = r.duration_ms.max(1) as f64;
    let peak = r.strategies.iter().map(|s| s.peak_failing_traffic_pct).fold(0.0, f64::max);
    let want = (peak * 1.1).clamp(1.0, 100.0);
    let ystep = [0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0].into_iter().find(|st| want / st <= 8.0).unwrap_or(20.0);
    let yticks = (want / ystep).ceil().max(1.0) as u32;
    let ymax = ystep * f64::from(yticks);
    // Room on the left for the lane names.
    let longest = r.strategies.iter().map(|s| s.name.chars().count()).max().unwrap_or(0) as f64;
    let x0 = (7.0 * longest + 16.0).max(70.0);
    let x1 = x0 + PLOT_W;
    let w = x1 + 30.0;
    let x = |ms: f64| x0 + (x1 - x0) * (ms / end_ms).clamp(0.0, 1.0);
    let y = |pct: f64| Y1 - (Y1 - Y0) * (pct / ymax).clamp(0.0, 1.0);
    let lanes_top = Y1 + 62.0;
    let legend_top = lanes_top + LANE * r.strategies.len() as f64 + 16.0;
    let h = legend_top + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        s,
        r#"<text x="{x0}" y="24" font-size="15" font-weight="bold">{} — share of prod traffic failing (seed {})</text>"#,
        esc(&r.scenario),
        r.seed
    );
    // Axes and grid.
    let minutes = end_ms / 60_000.0;
    let step = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 180.0, 240.0, 360.0, 720.0, 1440.0, 2880.0]
        .into_iter()
        .find(|st| minutes / st <= 12.0)
        .unwrap_or(10_080.0);
    let mut m = 0.0;
    while m <= minutes + 1e-9 {
        let px = x(m * 60_000.0);
        let _ = writeln!(s, r##"<line x1="{px:.1}" y1="{Y0}" x2="{px:.1}" y2="{Y1}" stroke="#eeeeee"/>"##);
        let _ = writeln!(s, r#"<text x="{px:.1}" y="{}" text-anchor="middle">{m}</text>"#, Y1 + 16.0);
        if let Some(c) = r.clock_minutes {
            let at = (c + m as u64) % 1440;
            let _ = writeln!(
                s,
                r##"<text x="{px:.1}" y="{}" text-anchor="middle" fill="#888888" font-size="10">{:02}:{:02}</text>"##,
                Y1 + 28.0,
                at / 60,
                at % 60
            );
        }
        m += step;
    }
    for i in 0..=yticks {
        let v = ystep * f64::from(i);
        let py = y(v);
        let _ = writeln!(s, r##"<line x1="{x0}" y1="{py:.1}" x2="{x1}" y2="{py:.1}" stroke="#eeeeee"/>"##);
        let _ = writeln!(s, r#"<text x="{}" y="{:.1}" text-anchor="end">{}%</text>"#, x0 - 6.0, py + 4.0, trim(v));
    }
    let _ = writeln!(s, r##"<polyline points="{x0},{Y0} {x0},{Y1} {x1},{Y1}" fill="none" stroke="#333333"/>"##);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">simulated minutes{}</text>"#,
        (x0 + x1) / 2.0,
        Y1 + 42.0,
        if r.clock_minutes.is_some() { " (wall clock below)" } else { "" }
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate({} {}) rotate(-90)" text-anchor="middle">% of prod traffic failing</text>"#,
        x0 - 48.0,
        (Y0 + Y1) / 2.0
    );
    // One step line per strategy.
    for (i, st) in r.strategies.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let dash = DASHES[i % DASHES.len()];
        let pts = points(&st.series, end_ms, x0, &x, &y);
        let _ = writeln!(
            s,
            r#"<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="{}" stroke-dasharray="{dash}" stroke-linejoin="round"><title>{}: peak {}%</title></polyline>"#,
            if i == 0 { 2.5 } else { 2.0 },
            esc(&st.name),
            st.peak_failing_traffic_pct
        );
    }
    // Marker lanes.
    for (i, st) in r.strategies.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let ly = lanes_top + LANE * i as f64;
        let _ = writeln!(s, r##"<line x1="{x0}" y1="{ly}" x2="{x1}" y2="{ly}" stroke="#dddddd"/>"##);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end" fill="{color}">{}</text>"#,
            x0 - 6.0,
            ly + 4.0,
            esc(&st.name)
        );
        for mk in st.markers.iter().take(MAX_MARKERS) {
            let _ = writeln!(s, "{}", marker(mk.kind, x(mk.at_ms as f64), ly, color, &mk.label));
        }
    }
    // Legend.
    let mut lx = x0;
    for (i, st) in r.strategies.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let label = format!("{} (peak {}%)", st.name, trim2(st.peak_failing_traffic_pct));
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{legend_top}" x2="{}" y2="{legend_top}" stroke="{color}" stroke-width="2.5" stroke-dasharray="{}"/><text x="{}" y="{}">{}</text>"#,
            lx + 24.0,
            DASHES[i % DASHES.len()],
            lx + 30.0,
            legend_top + 4.0,
            esc(&label)
        );
        lx += 40.0 + 7.0 * label.chars().count() as f64;
    }
    let ky = legend_top + 24.0;
    let mut kx = x0;
    for (kind, name) in [
        (MarkerKind::Wave, "wave"),
        (MarkerKind::GatePass, "gate pass"),
        (MarkerKind::GateFail, "gate fail"),
        (MarkerKind::Rollback, "rollback/revert"),
        (MarkerKind::Rejected, "rejected"),
        (MarkerKind::Push, "push"),
        (MarkerKind::Detected, "detected"),
        (MarkerKind::Completed, "completed"),
    ] {
        let _ = writeln!(s, "{}", marker(kind, kx + 5.0, ky, "#555555", name));
        let _ = writeln!(s, r#"<text x="{}" y="{}">{name}</text>"#, kx + 14.0, ky + 4.0);
        kx += 24.0 + 7.0 * name.len() as f64;
    }
    s.push_str("</svg>\n");
    s
}

/// The step line's points; long series are reduced to the highest value per pixel column.
fn points(series: &[(u64, f64)], end_ms: f64, x0: f64, x: &dyn Fn(f64) -> f64, y: &dyn Fn(f64) -> f64) -> String {
    let mut out = String::new();
    let cols = PLOT_W as usize;
    if series.len() <= 2 * cols {
        let mut prev = 0.0;
        for (t, v) in series {
            let px = x(*t as f64);
            let _ = write!(out, "{px:.1},{:.1} {px:.1},{:.1} ", y(prev), y(*v));
            prev = *v;
        }
        let _ = write!(out, "{:.1},{:.1}", x(end_ms), y(prev));
        return out;
    }
    let mut max = vec![0.0f64; cols + 1];
    let mut carry = 0.0f64;
    let mut it = series.iter().peekable();
    for (c, slot) in max.iter_mut().enumerate() {
        let col_end = end_ms * (c + 1) as f64 / cols as f64;
        let mut m = carry;
        while let Some((t, v)) = it.peek() {
            if *t as f64 > col_end {
                break;
            }
            m = m.max(*v);
            carry = *v;
            it.next();
        }
        *slot = m;
    }
    for (c, v) in max.iter().enumerate() {
        let _ = write!(out, "{:.1},{:.1} ", x0 + c as f64, y(*v));
    }
    out.trim_end().to_string()
}

fn marker(kind: MarkerKind, x: f64, y: f64, color: &str, label: &str) -> String {
    let title = format!("<title>{}</title>", esc(label));
    match kind {
        MarkerKind::Wave => {
            format!(r#"<path d="M{x:.1},{:.1} l4,7 h-8 z" fill="{color}">{title}</path>"#, y - 4.0)
        }
        MarkerKind::GatePass => {
            format!(
                r##"<circle cx="{x:.1}" cy="{y}" r="3" fill="none" stroke="#2ca02c" stroke-width="1.5">{title}</circle>"##
            )
        }
        MarkerKind::GateFail => format!(
            r##"<path d="M{:.1},{:.1} l8,8 m0,-8 l-8,8" stroke="#d62728" stroke-width="2.5">{title}</path>"##,
            x - 4.0,
            y - 4.0
        ),
        MarkerKind::Rollback => format!(
            r##"<rect x="{:.1}" y="{:.1}" width="3" height="14" fill="#d62728">{title}</rect>"##,
            x - 1.5,
            y - 7.0
        ),
        MarkerKind::Rejected => {
            format!(r##"<path d="M{x:.1},{:.1} l5,5 l-5,5 l-5,-5 z" fill="#ff7f0e">{title}</path>"##, y - 5.0)
        }
        MarkerKind::Push => format!(
            r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="{color}" stroke-width="1.5">{title}</line>"#,
            y - 6.0,
            y + 6.0
        ),
        MarkerKind::Detected => format!(r##"<circle cx="{x:.1}" cy="{y}" r="4.5" fill="#000000">{title}</circle>"##),
        MarkerKind::Completed => format!(
            r##"<rect x="{:.1}" y="{:.1}" width="8" height="8" fill="#2ca02c">{title}</rect>"##,
            x - 4.0,
            y - 4.0
        ),
    }
}

fn trim2(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
