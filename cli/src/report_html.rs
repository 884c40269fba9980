//! The self-contained HTML report: one page, viewable offline, for `couple --report` and
//! `criteria compare --report`.
//!
//! The page has no external resources at all (no CDN, fonts or images by URL): inline CSS, bar
//! charts in plain HTML and CSS (the browser lays out their text, so labels cannot collide), an
//! inline SVG funnel drawn here, plain HTML tables, and a small inline script that only adds
//! comforts (sortable tables, collapse/expand all) — everything is readable without it. A
//! Content-Security-Policy forbids loading anything, so a page that tried would show it.
//! Every value that comes from data (ids, names, messages, mapping names) is HTML-escaped.
//!
//! For tests and tooling the page marks its state on `<body>`: the script sets
//! `data-rendered="ok"` once it ran, and an error handler installed first records script
//! errors (and blocked resources) in `data-errors`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use coupler_engine::{COUNTER_NAMES, FAILURE_NAMES, OUTCOME_NAMES};
use serde_json::Value;

use crate::job::{JobJson, LookupReport, MatchScores};

/// One criteria variant's results, as `criteria compare` measured them.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VariantSummary {
    pub name: String,
    /// Outcome name → records (`coupled`, `no_match`, …).
    pub outcomes: BTreeMap<String, u64>,
    /// Priority → records coupled at that level.
    pub coupled_by_level: BTreeMap<u32, u64>,
    pub time_ms: u64,
    pub true_positives: Option<u64>,
    pub false_positives: Option<u64>,
    pub false_negatives: Option<u64>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
}

/// One mapping's coupling job for the report: its job.json and sample results rows (the
/// columns of results.csv: BC's 10, then `score` and `matched_values` for criteria beyond BC)
/// of each failure kind.
#[derive(Debug, Clone)]
pub struct JobReport<'j> {
    pub job: &'j JobJson,
    pub samples: Vec<Vec<String>>,
}

/// How many sample rows of each failure kind a report shows.
pub const SAMPLES_PER_KIND: usize = 20;

/// Columns of a results row (`RESULTS_HEADER`).
const C_LOCAL_ID: usize = 0;
const C_OUTCOME: usize = 1;
const C_PRIORITY: usize = 3;
const C_MATCH_COUNT: usize = 4;
const C_CANDIDATES: usize = 5;
const C_COUPLED_TO: usize = 6;
const C_TRACE: usize = 7;
const C_MESSAGE: usize = 8;
const C_HOLDER_ORIGIN: usize = 9;
const C_SCORE: usize = 10;
const C_MATCHED_VALUES: usize = 11;

/// Candidates shown per sample row (the rest are counted).
const CANDIDATES_SHOWN: usize = 10;

fn outcome_color(outcome: &str) -> &'static str {
    match outcome {
        "coupled" => "#2da44e",
        "no_match" => "#d4a72c",
        "multiple_matches" => "#e16f24",
        "already_coupled" => "#8250df",
        "no_criteria" => "#cf222e",
        "skipped" => "#8c959f",
        _ => "#57606a",
    }
}

fn outcome_explanation(outcome: &str) -> &'static str {
    match outcome {
        "no_match" => "No uncoupled integration row matched the criteria at any priority level.",
        "multiple_matches" => {
            "More than one integration row matched at the last priority level evaluated; BC couples none of them."
        }
        "already_coupled" => {
            "The single matching integration row is coupled to another record already (the holder is in coupled_to)."
        }
        "no_criteria" => "The mapping has no match criteria, so nothing could be matched.",
        _ => "",
    }
}

/// Colours of the variants in the comparison charts (cycled).
const PALETTE: [&str; 8] = [
    "#0969da", "#bf8700", "#8250df", "#1a7f37", "#cf222e", "#1b7c83", "#953800", "#6e7781",
];

// ---------------------------------------------------------------------------------------------
// Formatting helpers

/// HTML-escapes a value for text and (quoted) attribute positions.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A count with thousands separators: `1,234,567`.
fn num(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A share as a percentage with one decimal (`"–"` when the whole is 0).
fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// A ratio (precision, recall, F1) with three decimals, or `–`.
fn ratio(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.3}"),
        _ => "–".into(),
    }
}

/// An RFC 3339 timestamp as `2026-11-26 06:17:44 UTC`; other text as given.
fn when(s: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        Err(_) => s.to_string(),
    }
}

fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

/// Name → count pairs, in `order` first, then the rest by name.
fn ordered_counts(map: &BTreeMap<String, u64>, order: &[&str]) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = order
        .iter()
        .filter_map(|k| map.get(*k).map(|n| (k.to_string(), *n)))
        .collect();
    for (k, n) in map {
        if !order.contains(&k.as_str()) {
            out.push((k.clone(), *n));
        }
    }
    out
}

/// A right-aligned numeric cell that sorts by its value.
fn num_cell(n: u64) -> String {
    format!("<td class=\"n\" data-v=\"{n}\">{}</td>", num(n))
}

/// A colour swatch and its label (HTML), as one unit: a label too long for its line wraps
/// beside the swatch, which stays on the first line, centred on it.
fn keyed(color: &str, label: &str) -> String {
    format!("<span class=\"key\"><span class=\"dot\" style=\"background:{color}\"></span><span>{label}</span></span>")
}

/// An outcome's name with its colour swatch.
fn outcome_label(name: &str) -> String {
    keyed(outcome_color(name), &esc(name))
}

/// A part of the job document as JSON, for [`json_html`] (`None` when the job has no such part).
fn shown<T: serde::Serialize>(part: &Option<T>) -> Option<Value> {
    part.as_ref().and_then(|p| serde_json::to_value(p).ok())
}

/// Any JSON value as HTML: objects as key/value tables, arrays as lists.
fn json_html(v: &Value) -> String {
    match v {
        Value::Object(map) if map.is_empty() => "<span class=\"muted\">–</span>".into(),
        Value::Object(map) => {
            let mut out = String::from("<table class=\"kv\"><tbody>");
            for (k, v) in map {
                let cell = match v {
                    Value::Number(n) => match n.as_u64() {
                        Some(n) => num_cell(n),
                        None => format!("<td class=\"n\">{}</td>", esc(&n.to_string())),
                    },
                    other => format!("<td>{}</td>", json_html(other)),
                };
                let _ = write!(out, "<tr><th scope=\"row\">{}</th>{cell}</tr>", esc(k));
            }
            out.push_str("</tbody></table>");
            out
        }
        Value::Array(items) if items.is_empty() => "<span class=\"muted\">–</span>".into(),
        Value::Array(items) => {
            let mut out = String::from("<ol class=\"plain\">");
            for item in items {
                let _ = write!(out, "<li>{}</li>", json_html(item));
            }
            out.push_str("</ol>");
            out
        }
        Value::String(text) => esc(text),
        Value::Number(n) => esc(&n.to_string()),
        Value::Bool(b) => b.to_string(),
        Value::Null => "<span class=\"muted\">–</span>".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The page frame

const CSS: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--panel:#f6f8fa;--accent:#0969da}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;color:var(--fg);background:#fff;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","Liberation Sans",sans-serif}
header.page{padding:20px 32px 16px;border-bottom:1px solid var(--line);background:var(--panel)}
header.page h1{margin:0 0 4px;font-size:22px;font-weight:600}
header.page .meta{margin:0}
main{padding:4px 32px 40px;max-width:1280px}
nav.toc{margin:16px 0 0}
nav.toc a{margin-right:14px}
a{color:var(--accent)}
section.job,section.block{margin-top:28px}
h2{font-size:19px;font-weight:600;margin:0 0 4px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h2 .sub{font-weight:400;color:var(--muted);font-size:15px}
h3{font-size:15px;font-weight:600;margin:26px 0 8px}
h4{font-size:13px;font-weight:600;margin:14px 0 4px;color:var(--muted)}
p{margin:6px 0}
.meta,.muted,.note{color:var(--muted)}
.note{font-size:12.5px;max-width:860px}
.badge{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600;vertical-align:2px;margin-left:6px}
.badge.dry{background:#ddf4ff;color:#0550ae}
.badge.applied{background:#dafbe1;color:#116329}
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin:14px 0 4px}
.tile{border:1px solid var(--line);border-radius:6px;padding:8px 16px;min-width:140px}
.tile .v{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums;text-align:right}
.tile .k{color:var(--muted);font-size:12px}
.tile.good .v{color:#1a7f37}.tile.bad .v{color:#bc4c00}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(540px,100%),1fr));gap:8px 32px;align-items:start}
.grid>*{min-width:0}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:6px 0 12px;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:top}
thead th{background:var(--panel);font-size:12.5px;font-weight:600;white-space:nowrap}
tbody th{font-weight:600}
td.n,th.n{text-align:right;white-space:nowrap}
tfoot td,tfoot th{font-weight:600;border-top:1px solid #afb8c1;border-bottom:0}
table.kv{margin:2px 0}
table.kv th{font-weight:500;color:var(--muted);font-size:12.5px}
table.samples{width:100%}
table.compare thead th{white-space:normal;vertical-align:bottom}
table.compare tbody th,td.levels{white-space:nowrap}
table.compare th,table.compare td{padding:4px 8px}
table.samples td{font-size:12.5px}
table.samples td.msg{min-width:260px;max-width:520px}
code,.mono{font-family:ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,"Liberation Mono",monospace;font-size:12px}
.trace code{display:inline-block;background:var(--panel);border:1px solid var(--line);border-radius:4px;padding:0 4px;margin:1px 2px 1px 0;white-space:nowrap}
.ids{white-space:nowrap}
details{margin:10px 0;border:1px solid var(--line);border-radius:6px;padding:0 12px 4px}
summary{cursor:pointer;padding:8px 0;font-weight:600}
summary .muted{font-weight:400}
.dot{display:inline-block;width:.75em;height:.75em;border-radius:2px;margin-right:.45em;vertical-align:-.02em}
.nw{white-space:nowrap}
.key{display:inline-flex;align-items:baseline;max-width:100%}
.key>.dot{flex:none;position:relative;top:.02em}
.key>span+span{min-width:0;overflow-wrap:break-word}
.legend{margin:4px 0 8px;font-size:12.5px}
.legend .item{display:inline-block;max-width:100%;margin-right:16px}
.panels{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(340px,100%),1fr));gap:10px 32px;margin:8px 0 6px}
figure.chart{margin:0;min-width:0}
figure.chart figcaption{font-size:12.5px;font-weight:600;margin:0 0 3px}
.bars{display:grid;grid-template-columns:minmax(0,max-content) minmax(40px,1fr) max-content;gap:3px 8px;align-items:center;font-size:12.5px;line-height:1.4;max-width:640px;margin:4px 0 8px}
.bars .name{max-width:15em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.bars .track{height:12px;background:#f0f3f6;border-radius:2px}
.bars .fill{display:block;height:100%;border-radius:2px}
.bars .val{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.bars .share{color:var(--muted);font-size:11px;margin-left:4px}
.dot,.bars .fill{-webkit-print-color-adjust:exact;print-color-adjust:exact}
svg.chart{display:block;max-width:100%;height:auto;margin:4px 0 6px}
svg.chart text{font-family:inherit;font-size:12px;fill:#1f2328}
svg.chart text.small{font-size:10.5px;fill:#59636e}
ol.plain,ul.plain{margin:0;padding-left:18px}
.toolbar{margin:8px 0}
.toolbar button{font:inherit;font-size:12.5px;padding:2px 10px;border:1px solid var(--line);border-radius:6px;background:var(--panel);cursor:pointer;margin-right:6px}
.js table.sortable thead th{cursor:pointer}
.js table.sortable thead th[aria-sort=ascending]::after{content:" \25B2";font-size:9px}
.js table.sortable thead th[aria-sort=descending]::after{content:" \25BC";font-size:9px}
.best{font-weight:600}
footer{color:var(--muted);font-size:12px;padding:14px 32px;border-top:1px solid var(--line)}
@media print{header.page{background:none}.toolbar{display:none}details{break-inside:avoid}}
"#;

/// Installed first: records script errors, failed resources and blocked loads on `<body>`.
const ERROR_HOOK: &str = r#"(function(){var b=document.body;function add(m){b.dataset.errors=(b.dataset.errors?b.dataset.errors+"\n":"")+m;}
window.addEventListener("error",function(e){add(e.message?String(e.message):"failed to load "+((e.target&&(e.target.src||e.target.href))||"a resource"));},true);
window.addEventListener("unhandledrejection",function(e){add("unhandled rejection: "+String(e.reason));});
document.addEventListener("securitypolicyviolation",function(e){add("blocked: "+e.blockedURI);});})();"#;

/// Comforts only: sortable tables, collapse/expand all samples; then marks the page rendered.
const SCRIPT: &str = r#"(function(){var b=document.body;b.classList.add("js");
function key(td){if(!td)return "";var v=td.getAttribute("data-v");if(v!==null&&v!==""&&!isNaN(+v))return +v;return td.textContent.trim();}
Array.prototype.forEach.call(document.querySelectorAll("table.sortable"),function(t){
if(!t.tHead||!t.tBodies.length)return;var ths=t.tHead.rows[0].cells;
Array.prototype.forEach.call(ths,function(th,i){th.tabIndex=0;th.title="Sort by this column";
function go(){var asc=th.getAttribute("aria-sort")!=="ascending";
Array.prototype.forEach.call(ths,function(o){o.removeAttribute("aria-sort");});
th.setAttribute("aria-sort",asc?"ascending":"descending");
var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
rows.sort(function(x,y){var p=key(x.cells[i]),q=key(y.cells[i]);var c=(typeof p==="number"&&typeof q==="number")?p-q:String(p).localeCompare(String(q));return asc?c:-c;});
rows.forEach(function(r){body.appendChild(r);});}
th.addEventListener("click",go);th.addEventListener("keydown",function(e){if(e.key==="Enter"||e.key===" "){e.preventDefault();go();}});});});
Array.prototype.forEach.call(document.querySelectorAll("[data-toolbar]"),function(bar){
[["Expand all",true],["Collapse all",false]].forEach(function(a){var btn=document.createElement("button");btn.type="button";btn.textContent=a[0];
btn.addEventListener("click",function(){Array.prototype.forEach.call(bar.parentNode.querySelectorAll("details"),function(d){d.open=a[1];});});bar.appendChild(btn);});});
b.dataset.rendered=b.dataset.errors?"errors":"ok";})();"#;

fn page(title: &str, header: &str, main: &str) -> String {
    let mut out = String::with_capacity(main.len() + CSS.len() + 4096);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n\
         <meta name=\"generator\" content=\"coupler {version}\">\n\
         <title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
         <script>{ERROR_HOOK}</script>\n\
         <header class=\"page\">{header}</header>\n<main>\n{main}\n</main>\n\
         <footer>Generated by coupler {version} on {generated}. This page is self-contained: it loads nothing from the network.</footer>\n\
         <script>{SCRIPT}</script>\n</body>\n</html>\n",
        version = env!("CARGO_PKG_VERSION"),
        title = esc(title),
        generated = now(),
    );
    out
}

// ---------------------------------------------------------------------------------------------
// Charts: bar lists in HTML, the funnel in SVG

/// One row of a [`bar_list`]: its label, its value (drawn against the list's scale), the value
/// as shown (HTML) and the bar's colour.
struct Bar {
    label: String,
    value: f64,
    shown: String,
    color: &'static str,
}

/// Horizontal bars in plain HTML, one row per bar: the label (cut with an ellipsis when the row
/// is too narrow; whole in the tooltip), the bar scaled to `scale`, and the value after it in a
/// column as wide as the widest value, and at least `value_chars` digits wide (so that the bars
/// of lists side by side, given the same, are equally long). The browser lays out every text,
/// so at any width, count or magnitude none overlaps another.
fn bar_list(title: &str, bars: &[Bar], scale: f64, value_chars: usize) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<div class=\"chart bars\" role=\"group\" aria-label=\"{}\">",
        esc(title)
    );
    for b in bars {
        let share = if scale > 0.0 {
            (b.value / scale).clamp(0.0, 1.0) * 100.0
        } else {
            0.0
        };
        // A value above zero always shows a sliver of bar.
        let min = if b.value > 0.0 { ";min-width:2px" } else { "" };
        let val_style = if value_chars > 0 {
            format!(" style=\"min-width:{value_chars}ch\"")
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<span class=\"name\" title=\"{label}\">{label}</span>\
             <span class=\"track\" aria-hidden=\"true\"><span class=\"fill\" style=\"width:{share:.2}%{min};background:{}\"></span></span>\
             <span class=\"val\"{val_style}>{}</span>",
            b.color,
            b.shown,
            label = esc(&b.label),
        );
    }
    out.push_str("</div>");
    out
}

/// A legend: a colour dot before each name.
fn legend(items: &[(String, &'static str)]) -> String {
    let mut out = String::from("<p class=\"legend\">");
    for (name, color) in items {
        let _ = write!(
            out,
            "<span class=\"item\">{}</span>",
            keyed(color, &esc(name))
        );
    }
    out.push_str("</p>");
    out
}

/// The outcome counts of a job as bars scaled to the largest, each with its share of `total`.
fn outcome_bars(title: &str, rows: &[(String, u64)], total: u64) -> String {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let bars: Vec<Bar> = rows
        .iter()
        .map(|(name, n)| Bar {
            label: name.clone(),
            value: *n as f64,
            shown: format!("{}<span class=\"share\">{}</span>", num(*n), pct(*n, total)),
            color: outcome_color(name),
        })
        .collect();
    bar_list(title, &bars, max as f64, 0)
}

/// A priority level of the funnel: records that reached it and records coupled there.
struct Level {
    priority: u32,
    reached: u64,
    coupled: u64,
}

/// The per-level funnel from job.json's `by_priority`: a record whose deciding (or last
/// evaluated) level is `p` went through every level before `p`.
fn levels(job: &JobJson) -> Vec<Level> {
    let rows: Vec<(u32, u64, u64)> = job
        .by_priority
        .iter()
        .map(|(&p, counts)| {
            let total = counts.values().sum();
            (p, total, counts.get("coupled").copied().unwrap_or(0))
        })
        .collect();
    let mut remaining: u64 = rows.iter().map(|r| r.1).sum();
    rows.into_iter()
        .map(|(priority, total, coupled)| {
            let level = Level {
                priority,
                reached: remaining,
                coupled,
            };
            remaining -= total;
            level
        })
        .collect()
}

fn funnel_chart(title: &str, levels: &[Level]) -> String {
    const W: u32 = 540;
    const LABEL: u32 = 34;
    const BAR: f64 = 260.0;
    const ROW: u32 = 34;
    let max = levels.first().map_or(0, |l| l.reached).max(1);
    let h = ROW * levels.len() as u32 + 6;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"chart\" role=\"img\" width=\"{W}\" height=\"{h}\" viewBox=\"0 0 {W} {h}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
        esc(title)
    );
    for (i, l) in levels.iter().enumerate() {
        let y = i as u32 * ROW + 4;
        let reached_w =
            (l.reached as f64 / max as f64 * BAR).max(if l.reached > 0 { 2.0 } else { 0.0 });
        let coupled_w =
            (l.coupled as f64 / max as f64 * BAR).max(if l.coupled > 0 { 2.0 } else { 0.0 });
        // Centred, so the bars narrow like a funnel.
        let x0 = LABEL as f64 + (BAR - reached_w) / 2.0;
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">p{}</text>\
             <rect x=\"{x0:.1}\" y=\"{y}\" width=\"{reached_w:.1}\" height=\"24\" rx=\"3\" fill=\"#d8dee4\"><title>p{}: {} reached the level</title></rect>\
             <rect x=\"{x0:.1}\" y=\"{y}\" width=\"{coupled_w:.1}\" height=\"24\" rx=\"3\" fill=\"{}\"><title>p{}: {} coupled here</title></rect>\
             <text x=\"{}\" y=\"{}\">{} reached<tspan x=\"{}\" dy=\"14\" class=\"small\">{} coupled here ({})</tspan></text>",
            LABEL - 10,
            y + 16,
            l.priority,
            l.priority,
            num(l.reached),
            outcome_color("coupled"),
            l.priority,
            num(l.coupled),
            LABEL as f64 + BAR + 12.0,
            y + 10,
            num(l.reached),
            LABEL as f64 + BAR + 12.0,
            num(l.coupled),
            pct(l.coupled, l.reached),
        );
    }
    out.push_str("</svg>");
    out
}

/// An outcome's name with its colour swatch for a narrow table header: it may break after each
/// underscore, and the swatch stays on the line of the name's first part.
fn header_label(name: &str) -> String {
    let mut parts = name.split_inclusive('_');
    let mut out = format!(
        "<span class=\"nw\"><span class=\"dot\" style=\"background:{}\"></span>{}</span>",
        outcome_color(name),
        esc(parts.next().unwrap_or(""))
    );
    for part in parts {
        let _ = write!(out, "<wbr>{}", esc(part));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// `criteria compare`

/// The page for `criteria compare`.
pub fn compare_page(mapping: &str, variants: &[VariantSummary]) -> String {
    let title = format!("coupler — criteria comparison — {mapping}");
    let header = format!(
        "<h1>Criteria comparison: {}</h1><p class=\"meta\">{} variant(s) · dry runs: no coupling is made · {}</p>",
        esc(mapping),
        variants.len(),
        now()
    );
    let mut main = String::new();

    // Outcomes present in any variant, in BC's order.
    let mut outcomes: Vec<String> = OUTCOME_NAMES.iter().map(|s| s.to_string()).collect();
    for v in variants {
        for k in v.outcomes.keys() {
            if !outcomes.contains(k) {
                outcomes.push(k.clone());
            }
        }
    }
    let series: Vec<(String, &'static str)> = variants
        .iter()
        .enumerate()
        .map(|(i, v)| (v.name.clone(), PALETTE[i % PALETTE.len()]))
        .collect();
    let has_metrics = variants
        .iter()
        .any(|v| v.precision.is_some() || v.recall.is_some() || v.f1.is_some());
    let best_f1 = variants
        .iter()
        .filter_map(|v| v.f1)
        .filter(|f| f.is_finite())
        .fold(None, |b: Option<f64>, f| Some(b.map_or(f, |b| b.max(f))));
    let most_coupled = variants
        .iter()
        .map(|v| v.outcomes.get("coupled").copied().unwrap_or(0))
        .max()
        .unwrap_or(0);

    main.push_str("<section class=\"block\"><h2>Outcomes by variant</h2>");
    if variants.is_empty() {
        main.push_str("<p class=\"muted\">No variants were compared.</p>");
    } else {
        // One panel per outcome, one bar per variant, all on one scale: the largest count.
        let most = variants
            .iter()
            .flat_map(|v| v.outcomes.values().copied())
            .max()
            .unwrap_or(0)
            .max(1);
        let value_chars = num(most).len();
        main.push_str(&legend(&series));
        main.push_str("<div class=\"panels\">");
        for o in &outcomes {
            let bars: Vec<Bar> = series
                .iter()
                .zip(variants)
                .map(|((name, color), v)| {
                    let n = v.outcomes.get(o).copied().unwrap_or(0);
                    Bar {
                        label: name.clone(),
                        value: n as f64,
                        shown: num(n),
                        color,
                    }
                })
                .collect();
            let _ = write!(
                main,
                "<figure class=\"chart\"><figcaption>{}</figcaption>{}</figure>",
                outcome_label(o),
                bar_list(
                    &format!("{o}: records per variant for {mapping}"),
                    &bars,
                    most as f64,
                    value_chars
                )
            );
        }
        main.push_str("</div>");
    }

    // The table: every number, sortable.
    main.push_str("<div class=\"scroll\"><table class=\"sortable compare\"><caption class=\"muted\" style=\"text-align:left;caption-side:top\">Records per outcome, coupled per priority level, and time of each variant");
    if has_metrics {
        main.push_str(", with precision and recall against the truth file");
    }
    main.push_str(".</caption><thead><tr><th scope=\"col\">variant</th>");
    for o in &outcomes {
        // Outcome names may break after their underscore in this wide table.
        let _ = write!(
            main,
            "<th scope=\"col\" class=\"n\">{}</th>",
            header_label(o)
        );
    }
    main.push_str(
        "<th scope=\"col\">coupled by level</th><th scope=\"col\" class=\"n\">time (ms)</th>",
    );
    if has_metrics {
        main.push_str("<th scope=\"col\" class=\"n\">true pos.</th><th scope=\"col\" class=\"n\">false pos.</th><th scope=\"col\" class=\"n\">false neg.</th><th scope=\"col\" class=\"n\">precision</th><th scope=\"col\" class=\"n\">recall</th><th scope=\"col\" class=\"n\">F1</th>");
    }
    main.push_str("</tr></thead><tbody>");
    for (i, v) in variants.iter().enumerate() {
        let coupled = v.outcomes.get("coupled").copied().unwrap_or(0);
        let _ = write!(
            main,
            "<tr><th scope=\"row\">{}</th>",
            keyed(PALETTE[i % PALETTE.len()], &esc(&v.name))
        );
        for o in &outcomes {
            let n = v.outcomes.get(o).copied().unwrap_or(0);
            if o == "coupled" && n == most_coupled && variants.len() > 1 {
                let _ = write!(
                    main,
                    "<td class=\"n best\" data-v=\"{n}\" title=\"most coupled\">{}</td>",
                    num(n)
                );
            } else {
                main.push_str(&num_cell(n));
            }
        }
        let by_level = v
            .coupled_by_level
            .iter()
            .map(|(p, n)| format!("p{p}: {}", num(*n)))
            .collect::<Vec<_>>();
        let _ = write!(
            main,
            "<td class=\"levels\" data-v=\"{coupled}\">{}</td>{}",
            if by_level.is_empty() {
                "–".to_string()
            } else {
                by_level
                    .iter()
                    .map(|l| esc(l))
                    .collect::<Vec<_>>()
                    .join("<br>")
            },
            num_cell(v.time_ms)
        );
        if has_metrics {
            for c in [v.true_positives, v.false_positives, v.false_negatives] {
                match c {
                    Some(n) => main.push_str(&num_cell(n)),
                    None => main.push_str("<td class=\"n\" data-v=\"\">–</td>"),
                }
            }
            for (k, r) in [("p", v.precision), ("r", v.recall), ("f", v.f1)] {
                let best = k == "f" && r.is_some() && r == best_f1 && variants.len() > 1;
                let _ = write!(
                    main,
                    "<td class=\"n{}\" data-v=\"{}\"{}>{}</td>",
                    if best { " best" } else { "" },
                    r.filter(|x| x.is_finite())
                        .map_or(String::new(), |x| x.to_string()),
                    if best { " title=\"best F1\"" } else { "" },
                    ratio(r)
                );
            }
        }
        main.push_str("</tr>");
    }
    main.push_str("</tbody></table></div>");
    main.push_str("<p class=\"note\">Each variant is the same mapping with other match criteria, run as a dry run on the same data. Click a column header to sort.</p>");
    main.push_str("</section>");

    if has_metrics {
        let measured: Vec<(&VariantSummary, &(String, &'static str))> = variants
            .iter()
            .zip(&series)
            .filter(|(v, _)| v.precision.is_some() || v.recall.is_some() || v.f1.is_some())
            .collect();
        main.push_str("<section class=\"block\"><h2>Precision, recall and F1</h2>");
        // One panel per measure, one bar per variant, all on the scale 0 to 1.
        main.push_str(&legend(
            &measured
                .iter()
                .map(|(_, s)| (*s).clone())
                .collect::<Vec<_>>(),
        ));
        main.push_str("<div class=\"panels\">");
        for (i, measure) in ["precision", "recall", "F1"].into_iter().enumerate() {
            let bars: Vec<Bar> = measured
                .iter()
                .map(|(v, (name, color))| {
                    let r = [v.precision, v.recall, v.f1][i];
                    Bar {
                        label: name.clone(),
                        value: r.filter(|x| x.is_finite()).unwrap_or(0.0),
                        shown: ratio(r),
                        color,
                    }
                })
                .collect();
            let _ = write!(
                main,
                "<figure class=\"chart\"><figcaption>{measure}</figcaption>{}</figure>",
                bar_list(
                    &format!("{measure} per variant for {mapping}"),
                    &bars,
                    1.0,
                    "0.000".len()
                )
            );
        }
        main.push_str("</div>");
        main.push_str("<p class=\"note\">Precision: the share of couplings made that are in the truth file. Recall: the share of the truth file's pairs that were coupled. F1: their harmonic mean.");
        if measured.len() < variants.len() {
            main.push_str(" Variants without these measures are left out of the charts.");
        }
        main.push_str("</p></section>");
    }

    page(&title, &header, &main)
}

// ---------------------------------------------------------------------------------------------
// `couple`

/// The page for `couple`.
pub fn couple_page(jobs: &[JobReport<'_>]) -> String {
    let names: Vec<&str> = jobs.iter().map(|j| j.job.mapping.as_str()).collect();
    let title = format!("coupler — coupling report — {}", names.join(", "));
    let dry: Vec<bool> = jobs.iter().map(|j| j.job.dry_run).collect();
    let mode = if dry.iter().all(|d| *d) {
        "<span class=\"badge dry\">dry run</span>"
    } else if dry.iter().all(|d| !*d) {
        "<span class=\"badge applied\">applied</span>"
    } else {
        "<span class=\"badge applied\">partly applied</span>"
    };
    let started = jobs
        .first()
        .map(|j| when(&j.job.started_at))
        .unwrap_or_else(now);
    let header = format!(
        "<h1>Coupling report: {}{mode}</h1><p class=\"meta\">{} mapping(s) · run {}</p>",
        esc(&names.join(", ")),
        jobs.len(),
        esc(&started),
    );
    let mut main = String::new();
    if jobs.len() > 1 {
        main.push_str("<nav class=\"toc\" aria-label=\"Mappings\">Mappings: ");
        for (i, name) in names.iter().enumerate() {
            let _ = write!(main, "<a href=\"#job-{i}\">{}</a>", esc(name));
        }
        main.push_str("</nav>");
    }
    if jobs.is_empty() {
        main.push_str("<p class=\"muted\">No mapping ran.</p>");
    }
    for (i, job) in jobs.iter().enumerate() {
        job_section(&mut main, i, job);
    }
    page(&title, &header, &main)
}

fn job_section(out: &mut String, index: usize, report: &JobReport<'_>) {
    let job = &report.job;
    let mapping = job.mapping.as_str();
    let dry = job.dry_run;
    let outcomes = ordered_counts(&job.outcomes, &OUTCOME_NAMES);
    let local_records = job.local_records;

    let _ = write!(
        out,
        "<section class=\"job\" id=\"job-{index}\"><h2>{} <span class=\"sub\">{}</span>{}</h2>",
        esc(mapping),
        esc(&job.table_mapping),
        if dry {
            "<span class=\"badge dry\">dry run</span>"
        } else {
            "<span class=\"badge applied\">applied</span>"
        }
    );
    let _ = write!(
        out,
        "<p class=\"meta\">started {} · finished {} · job <span class=\"mono\">{}</span></p>\
         <p class=\"meta\">{} local record(s) take part ({} read) · {} candidate(s) in {} ({} read)</p>",
        esc(&when(&job.started_at)),
        esc(&when(&job.finished_at)),
        esc(&job.job_id),
        num(local_records),
        num(job.local_records_read),
        num(job.integration_records),
        esc(&job.integration_source),
        num(job.integration_records_read),
    );

    // Key figures.
    let failed = job.counter("failed");
    out.push_str("<div class=\"tiles\">");
    for (k, v, class) in [
        ("local records", local_records, ""),
        ("candidates", job.integration_records, ""),
        ("coupled", job.outcome("coupled"), "good"),
        ("failed", failed, if failed > 0 { "bad" } else { "" }),
        ("skipped", job.outcome("skipped"), ""),
    ] {
        let _ = write!(
            out,
            "<div class=\"tile {class}\"><div class=\"k\">{k}</div><div class=\"v\">{}</div></div>",
            num(v)
        );
    }
    out.push_str("</div>");

    // Outcomes and the funnel, side by side on wide screens.
    out.push_str("<div class=\"grid\"><div>");
    out.push_str("<h3>Outcomes</h3>");
    out.push_str(&outcome_bars(
        &format!("Outcome of each local record of {mapping}"),
        &outcomes,
        local_records,
    ));
    out.push_str("<table><thead><tr><th scope=\"col\">outcome</th><th scope=\"col\" class=\"n\">records</th><th scope=\"col\" class=\"n\">share</th></tr></thead><tbody>");
    for (name, n) in &outcomes {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th>{}<td class=\"n\">{}</td></tr>",
            outcome_label(name),
            num_cell(*n),
            pct(*n, local_records)
        );
    }
    let _ = write!(
        out,
        "</tbody><tfoot><tr><th scope=\"row\">local records</th>{}<td></td></tr></tfoot></table>",
        num_cell(local_records)
    );
    out.push_str("</div><div>");

    out.push_str("<h3>By priority level</h3>");
    let levels = levels(job);
    if levels.is_empty() {
        out.push_str("<p class=\"muted\">No record reached a priority level.</p>");
    } else {
        out.push_str(&funnel_chart(
            &format!("Records reaching each priority level of {mapping} and coupled there"),
            &levels,
        ));
        let mut cols: Vec<String> = OUTCOME_NAMES
            .iter()
            .filter(|o| !matches!(**o, "no_criteria" | "skipped"))
            .map(|o| o.to_string())
            .collect();
        for counts in job.by_priority.values() {
            for k in counts.keys() {
                if !cols.contains(k) {
                    cols.push(k.clone());
                }
            }
        }
        out.push_str("<table><thead><tr><th scope=\"col\">level</th><th scope=\"col\" class=\"n\">reached</th>");
        for c in &cols {
            let _ = write!(out, "<th scope=\"col\" class=\"n\">{}</th>", esc(c));
        }
        out.push_str("</tr></thead><tbody>");
        for l in &levels {
            let at = job.by_priority.get(&l.priority);
            let _ = write!(
                out,
                "<tr><th scope=\"row\">p{}</th>{}",
                l.priority,
                num_cell(l.reached)
            );
            for c in &cols {
                out.push_str(&num_cell(at.and_then(|a| a.get(c)).copied().unwrap_or(0)));
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
        out.push_str("<p class=\"note\">A record goes to the next priority level while no unique match is found; <em>reached</em> counts the records evaluated at a level, the other columns the records decided there (failures: at the last level evaluated). Records skipped or without criteria reach no level.</p>");
    }
    out.push_str("</div></div>");

    if !job.lookups.is_empty() {
        lookups_block(out, &job.lookups);
    }
    if let Some(scores) = &job.match_scores {
        scores_block(out, scores);
    }
    samples_block(out, report, &outcomes);
    job_log_block(out, job);
    timings_block(out, job);

    // Dataverse and the steps after coupling: shown as they are in job.json.
    let parts = [
        (
            "Dataverse: how the integration side was read",
            shown(&job.integration_read),
        ),
        ("Dataverse: HTTP requests", shown(&job.http)),
        ("Coupling store (applied)", shown(&job.store)),
        ("Synchronization after coupling", shown(&job.sync)),
        (
            "New Dataverse rows for unmatched records",
            shown(&job.create_new),
        ),
        ("Files", shown(&Some(&job.files))),
    ];
    for (heading, part) in parts {
        if let Some(v) = part {
            let _ = write!(out, "<h3>{heading}</h3>{}", json_html(&v));
        }
    }
    out.push_str("</section>");
}

/// Lookup criteria (`via`): how many keys their mapping's couplings could not translate.
fn lookups_block(out: &mut String, lookups: &[LookupReport]) {
    out.push_str("<section class=\"block\"><h3>Lookups through couplings</h3><table><thead><tr><th scope=\"col\">field</th><th scope=\"col\">via</th><th scope=\"col\" class=\"n\">couplings known</th><th scope=\"col\" class=\"n\">keys not coupled</th></tr></thead><tbody>");
    for l in lookups {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td>{}{}</tr>",
            esc(&l.field),
            esc(&l.via),
            num_cell(l.couplings),
            num_cell(l.not_coupled)
        );
    }
    out.push_str("</tbody></table><p class=\"note\">A record whose key the mapping looked up through has not coupled cannot match on that criterion: its trace says <code>no_match(not coupled: KEY)</code>. Couple that mapping first (or in the same run) to translate more keys.</p></section>");
}

/// Fuzzy criteria: the score distribution of the decided records (job.json `match_scores`).
fn scores_block(out: &mut String, scores: &MatchScores) {
    out.push_str("<section class=\"block\"><h3>Fuzzy match scores</h3>");
    let _ = write!(
        out,
        "<p class=\"note\">{} record(s) decided at a level with fuzzy criteria ({} coupled); lowest coupled score {}, mean {}. A score is the mean similarity of the level's fuzzy criteria (1 = identical after normalizing).</p>",
        num(scores.scored),
        num(scores.coupled),
        scores.min_coupled.map_or("–".to_string(), |s| format!("{s:.4}")),
        scores.mean_coupled.map_or("–".to_string(), |s| format!("{s:.4}")),
    );
    let buckets = &scores.buckets;
    let most = buckets
        .iter()
        .map(|b| b.coupled + b.other)
        .max()
        .unwrap_or(0)
        .max(1);
    out.push_str("<table><thead><tr><th scope=\"col\">score</th><th scope=\"col\" class=\"n\">coupled</th><th scope=\"col\" class=\"n\">other outcomes</th><th scope=\"col\">distribution</th></tr></thead><tbody>");
    for b in buckets {
        let (from, to) = (b.from, b.to);
        let label = if from >= 1.0 {
            "1 (identical)".to_string()
        } else {
            format!("{from:.2} – {to:.2}")
        };
        let (c, o) = (b.coupled, b.other);
        let width = |n: u64| (n as f64 / most as f64 * 240.0).round();
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{label}</th>{}{}<td><svg width=\"250\" height=\"12\" role=\"img\" aria-label=\"{c} coupled, {o} other\"><rect x=\"0\" y=\"1\" width=\"{}\" height=\"10\" fill=\"{}\"/><rect x=\"{}\" y=\"1\" width=\"{}\" height=\"10\" fill=\"{}\"/></svg></td></tr>",
            num_cell(c),
            num_cell(o),
            width(c),
            outcome_color("coupled"),
            width(c),
            width(o),
            outcome_color("multiple_matches"),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn samples_block(out: &mut String, report: &JobReport<'_>, outcomes: &[(String, u64)]) {
    out.push_str("<section class=\"block\"><h3>Samples of each failure kind</h3><div class=\"toolbar\" data-toolbar></div>");
    let mut none = Vec::new();
    for kind in FAILURE_NAMES {
        let count = outcomes
            .iter()
            .find(|(n, _)| n == kind)
            .map_or(0, |(_, n)| *n);
        let rows: Vec<&Vec<String>> = report
            .samples
            .iter()
            .filter(|r| r[C_OUTCOME] == kind)
            .collect();
        if count == 0 && rows.is_empty() {
            none.push(kind);
            continue;
        }
        let shown = if rows.len() as u64 >= count {
            "all shown".to_string()
        } else {
            format!("first {} shown", rows.len())
        };
        let _ = write!(
            out,
            "<details open id=\"samples-{kind}\"><summary>{} — {} record(s) <span class=\"muted\">({shown})</span></summary><p class=\"note\">{}</p>",
            outcome_label(kind),
            num(count),
            outcome_explanation(kind)
        );
        if rows.is_empty() {
            out.push_str("<p class=\"muted\">No samples were collected.</p></details>");
            continue;
        }
        // Criteria beyond BC: the values compared and the fuzzy score.
        let details = rows.iter().any(|r| r.len() > C_MATCHED_VALUES);
        out.push_str("<div class=\"scroll\"><table class=\"samples sortable\"><thead><tr>\
            <th scope=\"col\">local_id</th><th scope=\"col\">outcome</th><th scope=\"col\" class=\"n\">priority</th>\
            <th scope=\"col\" class=\"n\">match_count</th><th scope=\"col\">candidates</th><th scope=\"col\">coupled_to</th>\
            <th scope=\"col\">trace</th>");
        if details {
            out.push_str(
                "<th scope=\"col\" class=\"n\">score</th><th scope=\"col\">compared values</th>",
            );
        }
        out.push_str("<th scope=\"col\">message</th></tr></thead><tbody>");
        for r in rows {
            let candidates: Vec<&str> = r[C_CANDIDATES]
                .split('|')
                .filter(|c| !c.is_empty())
                .collect();
            let mut cand = candidates
                .iter()
                .take(CANDIDATES_SHOWN)
                .map(|c| format!("<span class=\"mono ids\">{}</span>", esc(c)))
                .collect::<Vec<_>>()
                .join("<br>");
            if candidates.len() > CANDIDATES_SHOWN {
                let _ = write!(
                    cand,
                    "<br><span class=\"muted\">… and {} more</span>",
                    num((candidates.len() - CANDIDATES_SHOWN) as u64)
                );
            }
            let mut coupled_to = esc(&r[C_COUPLED_TO]);
            if !r[C_HOLDER_ORIGIN].is_empty() {
                let _ = write!(
                    coupled_to,
                    " <span class=\"muted\">({})</span>",
                    esc(&r[C_HOLDER_ORIGIN])
                );
            }
            let trace = r[C_TRACE]
                .split_whitespace()
                .map(|t| format!("<code>{}</code>", esc(t)))
                .collect::<String>();
            let _ = write!(
                out,
                "<tr><td class=\"mono\">{}</td><td>{}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td>\
                 <td>{cand}</td><td class=\"mono\">{coupled_to}</td><td class=\"trace\">{trace}</td>",
                esc(&r[C_LOCAL_ID]),
                esc(&r[C_OUTCOME]),
                esc(&r[C_PRIORITY]),
                esc(&r[C_PRIORITY]),
                esc(&r[C_MATCH_COUNT]),
                esc(&r[C_MATCH_COUNT]),
            );
            if details {
                let cell = |c: usize| r.get(c).map_or("", String::as_str);
                let _ = write!(
                    out,
                    "<td class=\"n\" data-v=\"{}\">{}</td><td class=\"msg\">{}</td>",
                    esc(cell(C_SCORE)),
                    esc(cell(C_SCORE)),
                    esc(cell(C_MATCHED_VALUES))
                );
            }
            let _ = write!(out, "<td class=\"msg\">{}</td></tr>", esc(&r[C_MESSAGE]));
        }
        out.push_str("</tbody></table></div></details>");
    }
    if !none.is_empty() {
        let _ = write!(
            out,
            "<p class=\"muted\">No record failed with: {}.</p>",
            none.join(", ")
        );
    }
    out.push_str("<p class=\"note\">The full list is in results.csv. The trace shows each priority level evaluated: <code>p0:no_match(blank)</code> means the level set no condition because the record's values were blank.</p></section>");
}

fn job_log_block(out: &mut String, job: &JobJson) {
    out.push_str("<section class=\"block\"><h3>BC job log</h3><div class=\"grid\"><div>");
    out.push_str("<table><thead><tr><th scope=\"col\">counter</th><th scope=\"col\" class=\"n\">value</th></tr></thead><tbody>");
    for (k, n) in ordered_counts(&job.counters, &COUNTER_NAMES) {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th>{}</tr>",
            esc(&k),
            num_cell(n)
        );
    }
    out.push_str("</tbody></table></div><div>");
    let errors: Vec<&str> = job.errors.iter().map(|e| e.message.as_str()).collect();
    if errors.is_empty() {
        out.push_str("<p class=\"muted\">No error rows.</p>");
    } else {
        out.push_str("<table><thead><tr><th scope=\"col\">error message</th></tr></thead><tbody>");
        for e in errors {
            let _ = write!(out, "<tr><td>{}</td></tr>", esc(e));
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("<p class=\"note\">What BC itself would record for this job: the counters and one aggregated error row per kind of failure.</p></div></div></section>");
}

fn timings_block(out: &mut String, job: &JobJson) {
    let t = &job.timings_ms;
    out.push_str("<section class=\"block\"><h3>Timings</h3><div class=\"grid\"><div>");
    out.push_str("<h4>Steps</h4><table><thead><tr><th scope=\"col\">step</th><th scope=\"col\" class=\"n\">ms</th></tr></thead><tbody>");
    let mut total = 0;
    for (step, ms) in [("read", t.read), ("match", t.matching), ("write", t.write)] {
        total += ms;
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{step}</th>{}</tr>",
            num_cell(ms)
        );
    }
    let _ = write!(
        out,
        "</tbody><tfoot><tr><th scope=\"row\">total</th>{}</tr></tfoot></table>",
        num_cell(total)
    );
    let _ = write!(
        out,
        "<p class=\"meta\">{} worker thread(s)</p>",
        num(job.threads as u64)
    );
    out.push_str("</div><div>");
    number_table(out, "Matching phases", "phase", "µs", &t.match_phases_us);
    number_table(out, "Peak memory", "after", "MB", &job.peak_memory_mb);
    out.push_str("</div></div></section>");
}

/// A two-column table (name, number) under a heading; nothing when there are no entries.
fn number_table(
    out: &mut String,
    title: &str,
    key: &str,
    unit: &str,
    entries: &BTreeMap<String, u64>,
) {
    if entries.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<h4>{title}</h4><table><thead><tr><th scope=\"col\">{key}</th><th scope=\"col\" class=\"n\">{unit}</th></tr></thead><tbody>"
    );
    for (k, v) in entries {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th>{}</tr>",
            esc(k),
            num_cell(*v)
        );
    }
    out.push_str("</tbody></table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(name: &str, coupled: u64, no_match: u64, metrics: bool) -> VariantSummary {
        VariantSummary {
            name: name.into(),
            outcomes: BTreeMap::from([
                ("coupled".to_string(), coupled),
                ("no_match".to_string(), no_match),
                ("multiple_matches".to_string(), 7),
            ]),
            coupled_by_level: BTreeMap::from([(0, coupled - 5), (1, 5)]),
            time_ms: 12,
            true_positives: metrics.then_some(coupled - 3),
            false_positives: metrics.then_some(3),
            false_negatives: metrics.then_some(11),
            precision: metrics.then_some(0.9876),
            recall: metrics.then_some(0.8123),
            f1: metrics.then_some(0.8914),
        }
    }

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(num(0), "0");
        assert_eq!(num(300), "300");
        assert_eq!(num(1000), "1,000");
        assert_eq!(num(1234567), "1,234,567");
    }

    #[test]
    fn compare_page_shows_variants_numbers_and_metrics() {
        let html = compare_page(
            "CUSTOMER",
            &[
                variant("phone then name", 300, 21, true),
                variant("<script>alert(1)</script>", 1234, 4, false),
            ],
        );
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("<title>coupler — criteria comparison — CUSTOMER</title>"));
        assert!(html.contains("phone then name"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script>alert(1)"));
        assert!(html.contains(">300<"));
        assert!(html.contains(">1,234<"));
        assert!(html.contains(">21<"));
        assert!(html.contains("p0: 295<br>p1: 5"));
        // Metrics of the first variant; dashes for the second.
        assert!(html.contains("Precision, recall and F1"));
        assert!(html.contains(">0.988<"));
        assert!(html.contains(">0.812<"));
        assert!(html.contains(">0.891<"));
        assert!(html.contains(">297<"));
        assert!(html.contains("class=\"chart bars\""));
        assert!(!html.contains("<link"));
        assert!(!html.contains("src=\"http"));
    }

    #[test]
    fn compare_charts_show_every_count_and_measure_of_eight_variants() {
        let variants: Vec<VariantSummary> = (0..8)
            .map(|i| variant(&format!("v{i}"), 10_000_000 - i, i, true))
            .collect();
        let html = compare_page("CUSTOMER", &variants);
        let at = html.find("Outcomes by variant").unwrap();
        let chart = &html[at..at + html[at..].find("<table").unwrap()];
        for i in 0..8 {
            assert!(
                chart.contains(&format!(">{}<", num(10_000_000 - i))),
                "v{i}"
            );
            assert!(chart.contains(&format!(">v{i}<")));
        }
        // A panel for every outcome of BC's list; each one's value column as wide as the widest
        // count.
        assert_eq!(
            chart
                .matches("class=\"val\" style=\"min-width:10ch\"")
                .count(),
            8 * OUTCOME_NAMES.len()
        );
        let measures = &html[html.find("<h2>Precision, recall and F1").unwrap()..];
        assert_eq!(measures.matches(">0.988<").count(), 8);
        assert_eq!(measures.matches(">0.891<").count(), 8);
    }

    #[test]
    fn header_labels_keep_the_dot_with_the_first_part() {
        assert_eq!(
            header_label("multiple_matches"),
            "<span class=\"nw\"><span class=\"dot\" style=\"background:#e16f24\"></span>multiple_</span><wbr>matches"
        );
        assert!(header_label("coupled").ends_with("></span>coupled</span>"));
        assert!(header_label("a_<b>").ends_with("a_</span><wbr>&lt;b&gt;"));
    }

    #[test]
    fn compare_page_without_metrics_has_no_metrics_chart() {
        let html = compare_page(
            "VENDOR",
            &[variant("a", 10, 1, false), variant("b", 9, 2, false)],
        );
        assert!(!html.contains("Precision, recall and F1"));
        assert!(!html.contains("precision</th>"));
        assert!(html.contains(">10<") && html.contains(">9<"));
        let empty = compare_page("X", &[]);
        assert!(empty.contains("No variants were compared."));
    }

    #[test]
    fn couple_page_shows_outcomes_funnel_and_escaped_samples() {
        let job = JobJson::parse(
            &serde_json::json!({
                "job_id": "j1", "mapping": "CUST<&>", "type": "coupling", "dry_run": true,
                "started_at": "2026-11-26T06:17:44.085Z", "finished_at": "2026-11-26T06:17:44.092Z",
                "counters": {"coupled": 300, "failed": 27, "skipped": 0},
                "outcomes": {"coupled": 300, "no_match": 21, "multiple_matches": 2, "already_coupled": 4, "no_criteria": 0, "skipped": 2},
                "errors": [{"message": "Failed to couple 27 record(s)"}],
                "local_records": 329, "integration_records": 352,
                "local_records_read": 331, "integration_records_read": 352,
                "by_priority": {"0": {"coupled": 288}, "1": {"coupled": 12, "no_match": 21, "multiple_matches": 2, "already_coupled": 4}},
                "timings_ms": {"read": 1, "match": 2, "write": 3, "match_phases_us": {"0_index": 5}},
                "files": {"results": "r.csv", "couplings": "c.csv", "job": "job.json"},
                "threads": 2, "table_mapping": "Customer - Account",
                "integration_source": "accounts.csv",
                "http": {"requests": 4, "retries": 1, "throttled": 0},
            })
            .to_string(),
            std::path::Path::new("job.json"),
        )
        .unwrap();
        let sample = |id: &str, outcome: &str| -> Vec<String> {
            [
                id,
                outcome,
                "",
                "1",
                "2",
                "a|b",
                "",
                "p0:multiple(2) p1:no_match",
                "msg <b>",
                "",
            ]
            .map(String::from)
            .to_vec()
        };
        let html = couple_page(&[JobReport {
            job: &job,
            samples: vec![
                sample("<script>alert(1)</script>", "no_match"),
                sample("C1", "multiple_matches"),
            ],
        }]);
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script>alert(1)"));
        assert!(html.contains("CUST&lt;&amp;&gt;"));
        assert!(html.contains("msg &lt;b&gt;"));
        for n in [">300<", ">21<", ">27<", ">329<", ">327<", ">39<", ">288<"] {
            assert!(html.contains(n), "{n}");
        }
        assert!(html.contains("2026-11-26 06:17:44 UTC"));
        assert!(html.contains("id=\"samples-no_match\""));
        assert!(html.contains("id=\"samples-already_coupled\""));
        assert!(html.contains("No samples were collected."));
        assert!(html.contains("No record failed with: no_criteria."));
        assert!(html.contains("Dataverse: HTTP requests"));
        assert!(html.contains("dry run"));
    }
}
