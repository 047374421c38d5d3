//! Self-contained HTML report: inline CSS, hand-rolled inline SVG charts, no script, no
//! network. Charts: each gated metric over iterations with gate checks marked by decision
//! colour, worst D_W against eps_eff per check, loss, and the injection window when recorded.
//! Tables mirror the Markdown report.

use std::fmt::Write as _;

use super::{PARTIAL_BANNER, UNIVERSAL_NOTE, distributed_banner, universal_preset};
use crate::fmt::{html_escape as esc, pct, prefix, py_str_or_dash, short_float};
use crate::view::{CapsuleView, GatePoint};

/// Most points drawn per series; longer series are thinned (decision markers for warn/fail
/// are always kept) so a 100k-gate capsule still gives a light page.
const MAX_POINTS: usize = 1500;
const W: f64 = 1160.0;
const H: f64 = 220.0;
const PAD_L: f64 = 64.0;
const PAD_R: f64 = 16.0;
const PAD_T: f64 = 14.0;
const PAD_B: f64 = 30.0;

const CSS: &str = "body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;color:#1f2328;background:#fff}\
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:22px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}\
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}td,th{border:1px solid #d0d7de;padding:4px 10px;text-align:left}\
th{background:#f6f8fa}td.num{text-align:right}code{font-family:SFMono-Regular,Consolas,monospace;font-size:12px}\
.banner{padding:8px 12px;border-radius:6px;margin:8px 0;font-weight:600}.warnb{background:#fff8c5;border:1px solid #d4a72c}\
.partial{background:#ffebe9;border:1px solid #cf222e}.status{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:700}\
.pass{background:#1a7f37}.warn{background:#bf8700}.fail{background:#cf222e}.skip{background:#6e7781}\
.chart{margin:4px 0 14px}.legend{font-size:12px;color:#57606a;margin:2px 0 0}svg text{font-size:11px;fill:#57606a}";

/// Colour of a decision.
fn decision_colour(decision: &str) -> &'static str {
    match decision {
        "pass" => "#1a7f37",
        "warn" => "#bf8700",
        "fail" => "#cf222e",
        _ => "#8c959f",
    }
}

/// Renders the HTML page.
pub fn render(view: &CapsuleView) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("Veriscope Report: {}", view.outdir);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>\n",
        esc(&title)
    );
    if let Some(b) = distributed_banner(view) {
        let _ = writeln!(h, "<div class=\"banner warnb\">{}</div>", esc(&b));
    }
    for b in super::contract_banners(view) {
        let _ = writeln!(h, "<div class=\"banner warnb\">{}</div>", esc(&b));
    }
    if view.partial {
        let _ = writeln!(
            h,
            "<div class=\"banner partial\">{}</div>",
            esc(PARTIAL_BANNER)
        );
    }
    let _ = writeln!(h, "<h1>{}</h1>", esc(&title));
    let status_class = match view.effective_decision() {
        d @ ("pass" | "warn" | "fail") => d,
        _ => "skip",
    };
    let _ = writeln!(
        h,
        "<p>Final status: <span class=\"status {status_class}\">{}</span></p>",
        esc(&view.final_status_label())
    );
    if universal_preset(view) {
        let _ = writeln!(
            h,
            "<div class=\"banner warnb\">NOTE: {}</div>",
            esc(UNIVERSAL_NOTE)
        );
    }
    metadata(view, &mut h);
    gate_summary(view, &mut h);
    charts(view, &mut h);
    acceptance(view, &mut h);
    manual(view, &mut h);
    artifacts(view, &mut h);
    governance(view, &mut h);
    h.push_str("</body></html>\n");
    h
}

fn table(h: &mut String, header: &[&str], rows: &[Vec<String>]) {
    h.push_str("<table><tr>");
    for c in header {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr>");
    for r in rows {
        h.push_str("<tr>");
        for c in r {
            let _ = write!(h, "<td>{c}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>\n");
}

fn code(s: &str) -> String {
    format!("<code>{}</code>", esc(s))
}

fn metadata(view: &CapsuleView, h: &mut String) {
    let mut rows = vec![
        vec!["Run ID".into(), code(&view.run_id)],
        vec!["Status".into(), esc(&view.run_status)],
        vec![
            "Final Status".into(),
            format!("<b>{}</b>", esc(&view.final_status_label())),
        ],
        vec![
            "Wrapper Exit".into(),
            esc(&py_str_or_dash(view.wrapper_exit_code.as_ref())),
        ],
        vec![
            "Runner Exit".into(),
            esc(&py_str_or_dash(view.runner_exit_code.as_ref())),
        ],
        vec!["gate_preset".into(), code(&view.gate_preset)],
        vec!["Started".into(), esc(&view.started)],
        vec![
            "Ended".into(),
            esc(if view.ended.is_empty() {
                "-"
            } else {
                &view.ended
            }),
        ],
        vec![
            "Window Signature".into(),
            code(&format!("sha256:{}", view.window_hash)),
        ],
    ];
    rows.extend(
        super::execution_rows(view)
            .into_iter()
            .map(|(label, value)| vec![label.to_owned(), esc(&value)]),
    );
    table(h, &["Field", "Value"], &rows);
}

fn gate_summary(view: &CapsuleView, h: &mut String) {
    let c = view.counts;
    h.push_str("<h2>Gate Summary</h2>\n");
    let num = |n: u64| n.to_string();
    table(
        h,
        &["Total checks", "Evaluated", "PASS", "SKIP", "WARN", "FAIL"],
        &[vec![
            num(c.total()),
            num(c.evaluated),
            num(c.pass),
            num(c.skip),
            num(c.warn),
            num(c.fail),
        ]],
    );
    let na = || "not available".to_owned();
    let _ = writeln!(
        h,
        "<p>evaluated_fraction: {} · first_evaluated_step: {} · first_fail_iter: {}</p>",
        view.evaluated_fraction()
            .map_or_else(na, |f| format!("{f:.3}")),
        view.first_evaluated_step()
            .map_or_else(na, |s| s.to_string()),
        view.first_fail_iter
            .map_or_else(|| "-".to_owned(), |s| s.to_string())
    );
}

fn acceptance(view: &CapsuleView, h: &mut String) {
    if view.injection.is_none()
        && let Some((alarms, n)) = view.far_counts()
    {
        let _ = writeln!(
            h,
            "<h2>False Alarm Rate (control)</h2><p>FAR (post-warmup): {} ({alarms}/{n})</p>",
            pct(alarms as f64 / n as f64)
        );
    }
    if let Some(line) = super::text::detection_line(view) {
        let _ = writeln!(h, "<h2>Detection (injected)</h2><p>{}</p>", esc(&line));
    }
    let mut overhead = Vec::new();
    if let Some(o) = view.overhead {
        overhead.push(format!(
            "Overhead (wall-clock): {} (from timing fields)",
            pct(o.fraction())
        ));
    }
    if let Some(o) = view.probe_overhead() {
        overhead.push(super::text::probe_overhead_line(o));
    }
    if !overhead.is_empty() {
        h.push_str("<h2>Overhead</h2>");
        for line in overhead {
            let _ = write!(h, "<p>{}</p>", esc(&line));
        }
        h.push('\n');
    }
}

fn manual(view: &CapsuleView, h: &mut String) {
    let Some(o) = &view.overlay else { return };
    h.push_str("<h2>Manual Judgement</h2>\n");
    let rows = vec![
        vec![
            "Status".into(),
            format!("<b>{}</b>", esc(&o.status.to_uppercase())),
        ],
        vec!["Reason".into(), esc(&o.reason)],
        vec!["Reviewer".into(), esc(o.reviewer.as_deref().unwrap_or("-"))],
        vec!["Timestamp".into(), esc(&o.ts_utc)],
        vec![
            "Source".into(),
            code(&format!("manual_judgement.{}", o.source.as_str())),
        ],
        vec!["Automated decision".into(), code(&view.final_decision)],
    ];
    table(h, &["Field", "Value"], &rows);
}

fn artifacts(view: &CapsuleView, h: &mut String) {
    h.push_str("<h2>Artifacts</h2>\n");
    let rows: Vec<Vec<String>> = view
        .artifacts
        .iter()
        .filter(|a| a.present)
        .map(|a| vec![esc(&a.label), code(&a.path)])
        .collect();
    table(h, &["Artifact", "Path"], &rows);
}

fn governance(view: &CapsuleView, h: &mut String) {
    let g = &view.governance;
    h.push_str("<h2>Governance</h2>\n");
    if !g.present {
        h.push_str("<p>Log: not present</p>\n");
        return;
    }
    let events: Vec<String> = g
        .event_counts
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut rows = vec![
        vec!["Log".into(), code("governance_log.jsonl")],
        vec![
            "Valid".into(),
            if g.valid {
                "yes".into()
            } else {
                "<b>NO</b>".into()
            },
        ],
        vec![
            "Last rev".into(),
            g.last_rev.map_or_else(|| "-".to_owned(), |r| r.to_string()),
        ],
        vec![
            "Last hash".into(),
            code(g.last_hash.as_deref().map_or("-", |x| prefix(x, 12))),
        ],
        vec!["Events".into(), esc(&events.join(", "))],
        vec!["Warnings".into(), g.warnings.to_string()],
    ];
    rows.extend(g.errors.iter().map(|e| vec!["Error".into(), code(e)]));
    table(h, &["Field", "Value"], &rows);
}

// ------------------------------------------------------------------------------ charts

/// One line of a chart.
struct Series<'a> {
    label: String,
    colour: &'a str,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// Gate-check markers drawn on a chart.
struct Marker {
    x: f64,
    y: Option<f64>,
    colour: &'static str,
}

fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points.to_vec();
    }
    let step = points.len().div_ceil(MAX_POINTS);
    let mut out: Vec<(f64, f64)> = points.iter().step_by(step).copied().collect();
    if let Some(last) = points.last()
        && out.last() != Some(last)
    {
        out.push(*last);
    }
    out
}

fn thin_gates(gates: &[GatePoint]) -> Vec<&GatePoint> {
    let step = gates.len().div_ceil(MAX_POINTS).max(1);
    gates
        .iter()
        .enumerate()
        .filter(|(i, g)| i % step == 0 || g.decision == "warn" || g.decision == "fail")
        .map(|(_, g)| g)
        .collect()
}

fn charts(view: &CapsuleView, h: &mut String) {
    let (x_min, x_max) = x_range(view);
    let band = view
        .injection
        .as_ref()
        .map(|i| (i.at as f64, (i.at + i.len.unwrap_or(0)) as f64));
    let gates = thin_gates(&view.gates);
    let stream = view.stream.as_ref().filter(|s| !s.metrics.is_empty());
    let has_loss = stream.is_some_and(|s| !s.loss.is_empty() || !s.ewma_loss.is_empty())
        || view.metrics.contains_key("loss");
    if view.gates.is_empty() && view.metrics.is_empty() && stream.is_none() && !has_loss {
        return;
    }
    h.push_str("<h2>Charts</h2>\n");
    let source = match (stream, &view.stream) {
        (Some(s), _) => format!(
            " · metric values from <code>{}</code> ({} samples{})",
            esc(&s.path),
            s.samples,
            if s.malformed > 0 {
                format!(", {} malformed lines skipped", s.malformed)
            } else {
                String::new()
            }
        ),
        _ if view.metrics.is_empty() => {
            " · no metrics stream in this capsule: metric charts show the per-metric TV at gate checks".to_owned()
        }
        _ => String::new(),
    };
    let _ = writeln!(
        h,
        "<p class=\"legend\">Gate checks: <span style=\"color:#1a7f37\">● pass</span> <span style=\"color:#bf8700\">● warn</span> <span style=\"color:#cf222e\">● fail</span> <span style=\"color:#8c959f\">● skip</span>{}{source}</p>",
        if band.is_some() {
            " · shaded: injection window"
        } else {
            ""
        }
    );
    if !view.gates.is_empty() {
        let dw: Vec<(f64, f64)> = view
            .gates
            .iter()
            .filter_map(|g| Some((g.iter as f64, g.worst_dw?)))
            .collect();
        let eps: Vec<(f64, f64)> = view
            .gates
            .iter()
            .filter_map(|g| Some((g.iter as f64, g.eps_eff?)))
            .collect();
        let markers = gates
            .iter()
            .map(|g| Marker {
                x: g.iter as f64,
                y: g.worst_dw,
                colour: decision_colour(&g.decision),
            })
            .collect::<Vec<_>>();
        let series = vec![
            Series {
                label: "worst D_W".into(),
                colour: "#0969da",
                dashed: false,
                points: thin(&dw),
            },
            Series {
                label: "eps_eff".into(),
                colour: "#cf222e",
                dashed: true,
                points: thin(&eps),
            },
        ];
        chart(
            h,
            "D_W against eps_eff per gate check",
            &series,
            &markers,
            (x_min, x_max),
            band,
        );
    }
    match stream {
        Some(s) => {
            for name in s.metric_names() {
                let samples = &s.metrics[&name];
                let points: Vec<(f64, f64)> =
                    samples.iter().map(|(i, v)| (*i as f64, *v)).collect();
                // Each check is drawn on the curve, at the last sample at or before its iter.
                let markers = gates
                    .iter()
                    .map(|g| Marker {
                        x: g.iter as f64,
                        y: value_at(samples, g.iter),
                        colour: decision_colour(&g.decision),
                    })
                    .collect::<Vec<_>>();
                let series = vec![Series {
                    label: format!("{name}{}", range_note(samples)),
                    colour: "#0969da",
                    dashed: false,
                    points: thin(&points),
                }];
                chart(h, &name, &series, &markers, (x_min, x_max), band);
            }
        }
        None => tv_charts(view, &gates, h, (x_min, x_max), band),
    }
    let (loss, ewma): (Samples, Samples) = match &view.stream {
        Some(s) if !s.loss.is_empty() || !s.ewma_loss.is_empty() => {
            (s.loss.clone(), s.ewma_loss.clone())
        }
        _ => (
            view.metrics.get("loss").cloned().unwrap_or_default(),
            Vec::new(),
        ),
    };
    if !loss.is_empty() || !ewma.is_empty() {
        let pts = |v: &[(u64, f64)]| -> Vec<(f64, f64)> {
            thin(&v.iter().map(|(i, y)| (*i as f64, *y)).collect::<Vec<_>>())
        };
        let mut series = vec![Series {
            label: format!("loss{}", range_note(&loss)),
            colour: "#8250df",
            dashed: false,
            points: pts(&loss),
        }];
        if !ewma.is_empty() {
            series.push(Series {
                label: "ewma_loss".into(),
                colour: "#bc4c00",
                dashed: true,
                points: pts(&ewma),
            });
        }
        chart(h, "loss", &series, &[], (x_min, x_max), band);
    }
}

/// `(iter, value)` points of one series.
type Samples = Vec<(u64, f64)>;

/// Fallback without a metrics stream: each metric's per-metric TV from the gate audits
/// (or results.json `metrics` samples when a legacy capsule has them).
fn tv_charts(
    view: &CapsuleView,
    gates: &[&GatePoint],
    h: &mut String,
    x: (f64, f64),
    band: Option<(f64, f64)>,
) {
    let mut names: Vec<String> = view
        .gates
        .iter()
        .flat_map(|g| g.per_metric_tv.iter().map(|(k, _)| k.clone()))
        .collect();
    names.sort();
    names.dedup();
    for name in &names {
        let (title, label, points) = match view.metrics.get(name) {
            Some(samples) => (
                name.clone(),
                name.clone(),
                samples
                    .iter()
                    .map(|(i, v)| (*i as f64, *v))
                    .collect::<Vec<_>>(),
            ),
            None => (
                format!("{name}: per-metric TV"),
                format!("{name} (per-metric TV at gate checks)"),
                view.gates
                    .iter()
                    .filter_map(|g| {
                        g.per_metric_tv
                            .iter()
                            .find(|(k, _)| k == name)
                            .map(|(_, v)| (g.iter as f64, *v))
                    })
                    .collect(),
            ),
        };
        let markers = gates
            .iter()
            .map(|g| Marker {
                x: g.iter as f64,
                y: None,
                colour: decision_colour(&g.decision),
            })
            .collect::<Vec<_>>();
        let series = vec![Series {
            label,
            colour: "#0969da",
            dashed: false,
            points: thin(&points),
        }];
        chart(h, &title, &series, &markers, x, band);
    }
}

/// Value of the last sample at or before `iter` (the first sample when `iter` precedes all).
fn value_at(samples: &[(u64, f64)], iter: u64) -> Option<f64> {
    let idx = samples.partition_point(|p| p.0 <= iter);
    samples.get(idx.saturating_sub(1)).map(|p| p.1)
}

/// ` (min A, max B)` over the plotted values, empty for an empty series.
fn range_note(samples: &[(u64, f64)]) -> String {
    let (lo, hi) = samples
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    if lo.is_finite() {
        format!(" (min {}, max {})", short_float(lo), short_float(hi))
    } else {
        String::new()
    }
}

fn x_range(view: &CapsuleView) -> (f64, f64) {
    let stream_iters = view.stream.iter().flat_map(|s| {
        s.metrics
            .values()
            .flatten()
            .chain(&s.loss)
            .chain(&s.ewma_loss)
            .map(|(i, _)| *i)
    });
    let iters = view
        .gates
        .iter()
        .map(|g| g.iter)
        .chain(view.metrics.values().flatten().map(|(i, _)| *i))
        .chain(stream_iters);
    let (lo, hi) = iters.fold((u64::MAX, 0), |(lo, hi), i| (lo.min(i), hi.max(i)));
    let (lo, mut hi) = if lo == u64::MAX {
        (0.0, 1.0)
    } else {
        (lo as f64, hi as f64)
    };
    if let Some(inj) = &view.injection {
        hi = hi.max((inj.at + inj.len.unwrap_or(0)) as f64);
    }
    if hi <= lo { (lo, lo + 1.0) } else { (lo, hi) }
}

fn chart(
    h: &mut String,
    title: &str,
    series: &[Series<'_>],
    markers: &[Marker],
    x: (f64, f64),
    band: Option<(f64, f64)>,
) {
    let ys = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .chain(markers.iter().filter_map(|m| m.y));
    let (mut y0, mut y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    if !y0.is_finite() {
        (y0, y1) = (0.0, 1.0);
    }
    if y1 - y0 < 1e-12 {
        (y0, y1) = (y0 - 0.5, y1 + 0.5);
    }
    let margin = (y1 - y0) * 0.05;
    // Non-negative data keeps a zero floor (no "-0.0083" axis labels).
    let floor = if y0 >= 0.0 { 0.0 } else { f64::NEG_INFINITY };
    let (y0, y1) = ((y0 - margin).max(floor), y1 + margin);
    let sx = |v: f64| PAD_L + (v - x.0) / (x.1 - x.0) * (W - PAD_L - PAD_R);
    let sy = |v: f64| PAD_T + (1.0 - (v - y0) / (y1 - y0)) * (H - PAD_T - PAD_B);
    let _ = write!(
        h,
        "<div class=\"chart\"><div><b>{}</b></div><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    let _ = write!(
        h,
        "<rect x=\"{PAD_L}\" y=\"{PAD_T}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#fbfcfd\" stroke=\"#d0d7de\"/>",
        W - PAD_L - PAD_R,
        H - PAD_T - PAD_B
    );
    if let Some((a, b)) = band {
        let (xa, xb) = (sx(a.max(x.0)), sx(b.min(x.1)));
        let _ = write!(
            h,
            "<rect x=\"{xa:.1}\" y=\"{PAD_T}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#cf222e\" fill-opacity=\"0.10\"/>",
            (xb - xa).max(2.0),
            H - PAD_T - PAD_B
        );
    }
    for v in nice_ticks(y0, y1, 5) {
        let y = sy(v);
        let _ = write!(
            h,
            "<line x1=\"{PAD_L}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eaeef2\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - PAD_R,
            PAD_L - 4.0,
            y + 4.0,
            tick_label(v)
        );
    }
    for xv in nice_ticks(x.0, x.1, 8) {
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            sx(xv),
            H - 10.0,
            xv.round()
        );
    }
    for s in series.iter().filter(|s| !s.points.is_empty()) {
        let path: Vec<String> = s
            .points
            .iter()
            .map(|(px, py)| format!("{:.1},{:.1}", sx(*px), sy(*py)))
            .collect();
        let dash = if s.dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let _ = write!(
            h,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\"{dash} points=\"{}\"/>",
            s.colour,
            path.join(" ")
        );
    }
    for m in markers {
        match m.y {
            Some(y) => {
                let _ = write!(
                    h,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.2\" fill=\"{}\"/>",
                    sx(m.x),
                    sy(y),
                    m.colour
                );
            }
            None => {
                let base = H - PAD_B;
                let _ = write!(
                    h,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"3\" height=\"8\" fill=\"{}\"/>",
                    sx(m.x) - 1.5,
                    base - 8.0,
                    m.colour
                );
            }
        }
    }
    h.push_str("</svg>");
    let legend: Vec<String> = series
        .iter()
        .map(|s| {
            format!(
                "<span style=\"color:{}\">{} {}</span>",
                s.colour,
                if s.dashed { "╌" } else { "━" },
                esc(&s.label)
            )
        })
        .collect();
    let _ = writeln!(
        h,
        "<div class=\"legend\">{}</div></div>",
        legend.join(" · ")
    );
}

/// Round tick values (1, 2 or 5 times a power of ten) inside `[lo, hi]`, about `n` of them.
fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return vec![lo];
    }
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Axis label: up to 4 decimals with trailing zeros trimmed, scientific outside 1e-3..1e6.
fn tick_label(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e6) {
        return short_float(v);
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}
