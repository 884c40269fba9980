//! End-to-end: the self-contained HTML report (`couple --report`, `criteria compare --report`)
//! written by the real binary on the demo, checked as text and rendered in headless Chromium.
//!
//! Chromium (Debian's `chromium`) is looked up on PATH. Every rendered page also gets a layout
//! check injected: the boxes of the chart and legend texts must not overlap, and each colour dot
//! must sit on the line of its label, centred on it.
//!
//! Without Chromium the rendering checks are skipped with a `report test SKIPPED` line on
//! stderr (shown even though the test passes), unless `COUPLER_REQUIRE_CHROMIUM=1` is set (as
//! `.ci/run` does): then they fail, so CI cannot skip them.

mod common;
use common::*;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The customer number (and name) of the extra demo record that checks escaping.
const HOSTILE_ID: &str = "<SCRIPT>ALERT(1)</SCRIPT>";
const HOSTILE_ID_ESCAPED: &str = "&lt;SCRIPT&gt;ALERT(1)&lt;/SCRIPT&gt;";

/// A copy of the demo with one more customer first in the export: id and name are markup, the
/// phone is blank and the name matches no account, so it is a `no_match` sample.
fn demo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    for f in ["coupling.toml", "accounts.csv", "couplings.csv"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let customers = std::fs::read_to_string(src.join("customers.csv")).unwrap();
    let (header, rest) = customers.split_once('\n').unwrap();
    assert!(header.starts_with("No.,Name,Address,City,Post Code,Country/Region Code,Phone No.,E-Mail,Contact,Blocked,Currency Code"));
    let hostile = format!(
        "{HOSTILE_ID},\"{HOSTILE_ID} & \"\"Sons\"\" 'Ltd'\",1 Nowhere Road,Nowhere,00000,GB,,,,,GBP"
    );
    std::fs::write(
        dir.path().join("customers.csv"),
        format!("{header}\n{hostile}\n{rest}"),
    )
    .unwrap();
    dir
}

/// `n` with thousands separators, as the report shows counts.
fn num(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Fails if the page refers to anything outside itself.
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<link"), "the page has a <link>");
    assert!(!lower.contains("@import"), "the page has an @import");
    assert!(!lower.contains("url("), "the page has a CSS url()");
    for attr in ["src=", "href=", "action=", "srcset=", "poster="] {
        for (at, _) in lower.match_indices(attr) {
            let value = lower[at + attr.len()..].trim_start_matches(['"', '\'']);
            assert!(
                !(value.starts_with("http:")
                    || value.starts_with("https:")
                    || value.starts_with("//")
                    || value.starts_with("file:")),
                "the page loads something from outside: {}",
                &html[at..(at + 80).min(html.len())]
            );
        }
    }
    // Nothing could be fetched even if it were there.
    assert!(html.contains("Content-Security-Policy"));
    assert!(html.contains("default-src 'none'"));
}

/// The first Chromium on PATH, or `None` after a visible `SKIPPED` line on stderr (a failure
/// when `COUPLER_REQUIRE_CHROMIUM=1`). `what` names the checks skipped.
fn chromium(what: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    if std::env::var("COUPLER_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
        panic!(
            "COUPLER_REQUIRE_CHROMIUM=1 but no chromium, chromium-browser or google-chrome is on \
             PATH: install Debian's chromium package (.ci/run does) to render the HTML report"
        );
    }
    // Straight to the process's stderr: the test harness captures `eprintln!` of passing tests,
    // and a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "report test SKIPPED: chromium not found (set COUPLER_REQUIRE_CHROMIUM=1 to fail \
         instead); not checked: {what}"
    );
    None
}

/// Injected into every rendered page (after the page's own script): once the page and its fonts
/// are loaded, measures every text box of the charts and legends and every colour dot, and
/// writes what it found into `<pre id="layout-check">`: a first line `checked N text boxes and
/// M dots`, then one line per problem.
///
/// Text boxes: each SVG `<text>` (with its `<tspan>`s), each line of every text node in a
/// `.chart` or `.legend` outside SVG, and each legend item as a whole; each clipped to the
/// ancestors that hide their overflow (an ellipsis). Two boxes overlap when they share more than
/// half a pixel both ways (a box and the text inside it are not compared). A dot is any `.dot`
/// shown; its label is the next text in the document, whose first line must start right of the
/// dot and have its middle within 1.5 px of the dot's middle.
const LAYOUT_CHECK: &str = r#"<script>(function(){
function run(){var issues=[],boxes=[],seen=new Set(),dots=0;
try{
function clip(b,el){for(var a=el;a&&a!==document.documentElement;a=a.parentElement){var s=getComputedStyle(a);
if(/hidden|clip/.test(s.overflowX+" "+s.overflowY)){var c=a.getBoundingClientRect();
b={l:Math.max(b.l,c.left),t:Math.max(b.t,c.top),r:Math.min(b.r,c.right),b:Math.min(b.b,c.bottom)};}}return b;}
function add(what,node,el,r){var b=clip({l:r.left,t:r.top,r:r.right,b:r.bottom},el);
if(b.r-b.l>0.5&&b.b-b.t>0.5)boxes.push({what:what,node:node,b:b});}
function fmt(b){return "["+[b.l,b.t,b.r-b.l,b.b-b.t].map(function(v){return v.toFixed(1);}).join(",")+"]";}
function name(t){t=t.replace(/\s+/g," ").trim();return JSON.stringify(t.length>40?t.slice(0,39)+"…":t);}
document.querySelectorAll("svg text").forEach(function(t){add("svg text "+name(t.textContent),t,t,t.getBoundingClientRect());});
document.querySelectorAll(".chart,.legend").forEach(function(c){if(c.closest("svg"))return;
var w=document.createTreeWalker(c,NodeFilter.SHOW_TEXT),n;
while((n=w.nextNode())){if(seen.has(n)||!n.data.trim()||n.parentElement.closest("svg"))continue;seen.add(n);
var rg=document.createRange();rg.selectNodeContents(n);
Array.prototype.forEach.call(rg.getClientRects(),function(r){add("text "+name(n.data),n,n.parentElement,r);});}});
document.querySelectorAll(".legend .item").forEach(function(i){add("legend item "+name(i.textContent),i,i,i.getBoundingClientRect());});
var overlaps=0;
for(var i=0;i<boxes.length;i++)for(var j=i+1;j<boxes.length;j++){var a=boxes[i],b=boxes[j];
if(a.node===b.node||a.node.contains(b.node)||b.node.contains(a.node))continue;
if(Math.min(a.b.r,b.b.r)-Math.max(a.b.l,b.b.l)>0.5&&Math.min(a.b.b,b.b.b)-Math.max(a.b.t,b.b.t)>0.5){
if(++overlaps<=100)issues.push("overlap: "+a.what+" "+fmt(a.b)+" and "+b.what+" "+fmt(b.b));}}
if(overlaps>100)issues.push("… "+(overlaps-100)+" more overlaps");
document.querySelectorAll(".dot").forEach(function(d){var r=d.getBoundingClientRect();if(!r.width||!r.height)return;dots++;
var w=document.createTreeWalker(document.body,NodeFilter.SHOW_TEXT),n;w.currentNode=d;
do{n=w.nextNode();}while(n&&!n.data.trim());
if(!n){issues.push("dot: no label after the dot "+fmt({l:r.left,t:r.top,r:r.right,b:r.bottom}));return;}
var rg=document.createRange();rg.setStart(n,n.data.search(/\S/));rg.setEnd(n,n.data.length);var t=rg.getClientRects()[0];
var dy=(r.top+r.bottom)/2-(t.top+t.bottom)/2,gap=t.left-r.right;
if(Math.abs(dy)>1.5||gap<-0.5||gap>20)issues.push("dot: the dot of "+name(n.data)+" is "+dy.toFixed(1)+" px off the middle of its label and "+gap.toFixed(1)+" px left of it (dot "+fmt({l:r.left,t:r.top,r:r.right,b:r.bottom})+", label "+fmt({l:t.left,t:t.top,r:t.right,b:t.bottom})+")");});
}catch(e){issues.push("check failed: "+e);}
var pre=document.createElement("pre");pre.id="layout-check";
pre.textContent="checked "+boxes.length+" text boxes and "+dots+" dots"+(issues.length?"\n"+issues.join("\n"):"");
document.body.appendChild(pre);}
window.addEventListener("load",function(){document.fonts.ready.then(run);});})();</script>"#;

/// Loads `page` with the layout check (`LAYOUT_CHECK`) in headless Chromium, in a window `width`
/// CSS pixels wide, and returns the DOM after its scripts ran.
fn render(browser: &Path, page: &Path, width: u32) -> String {
    let profile = tempfile::tempdir().unwrap();
    let html = std::fs::read_to_string(page).unwrap();
    let at = html.rfind("</body>").expect("a </body> in the page");
    let checked = page.with_extension(format!("layout-{width}.html"));
    std::fs::write(
        &checked,
        format!("{}{LAYOUT_CHECK}{}", &html[..at], &html[at..]),
    )
    .unwrap();
    let url = format!("file://{}", checked.canonicalize().unwrap().display());
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},2000"))
        .args(["--virtual-time-budget=3000", "--dump-dom"])
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    // Read both pipes on threads so a chatty browser cannot block on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).ok();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).ok();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!(
                "chromium did not finish rendering {url} within 120 s; stderr:\n{}",
                err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let dom = out.join().unwrap();
    let err = err.join().unwrap();
    assert!(
        status.success() && dom.contains("<body"),
        "chromium failed on {url} ({status}); stderr:\n{err}"
    );
    dom
}

/// The `<body …>` start tag of a dumped DOM.
fn body_tag(dom: &str) -> &str {
    let start = dom.find("<body").expect("a <body> in the DOM");
    &dom[start..start + dom[start..].find('>').unwrap() + 1]
}

/// The page's scripts ran to the end and recorded no error.
fn assert_rendered_cleanly(dom: &str) {
    let body = body_tag(dom);
    assert!(
        !body.contains("data-errors"),
        "the page recorded errors: {body}"
    );
    assert!(
        body.contains("data-rendered=\"ok\""),
        "the page's script did not finish: {body}"
    );
}

/// What the layout check of a rendered page found wrong: overlapping text boxes, misplaced
/// dots, or that it measured less than `boxes` text boxes and `dots` dots (so it cannot have
/// looked at the charts). `what` names the page and width.
fn layout_problems(dom: &str, what: &str, boxes: usize, dots: usize) -> Vec<String> {
    const START: &str = "<pre id=\"layout-check\">";
    let Some(start) = dom.find(START) else {
        return vec![format!("{what}: the layout check did not run")];
    };
    let rest = &dom[start + START.len()..];
    let report = rest[..rest.find("</pre>").unwrap()]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let mut lines = report.lines();
    let first = lines.next().unwrap_or_default();
    let mut problems: Vec<String> = lines.map(|l| format!("{what}: {l}")).collect();
    let counts: Vec<usize> = first.split(' ').filter_map(|w| w.parse().ok()).collect();
    if !(counts.len() == 2 && counts[0] >= boxes && counts[1] >= dots) {
        problems.push(format!(
            "{what}: the layout check measured too little ({first}); expected at least {boxes} \
             text boxes and {dots} dots"
        ));
    }
    problems
}

/// No layout problem (`layout_problems`).
fn assert_laid_out_cleanly(dom: &str, what: &str, boxes: usize, dots: usize) {
    let problems = layout_problems(dom, what, boxes, dots);
    assert!(
        problems.is_empty(),
        "{} layout problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The first table row whose row header reads `label` (as HTML, tags left out).
fn row_of<'h>(html: &'h str, label: &str) -> &'h str {
    for (at, _) in html.match_indices("<tr><th scope=\"row\">") {
        let row = &html[at..at + html[at..].find("</tr>").unwrap()];
        let header = &row[..row.find("</th>").unwrap()];
        let mut text = String::new();
        let mut in_tag = false;
        for c in header.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        if text == label {
            return row;
        }
    }
    panic!("no row for {label}")
}

/// The text of the `<details>` holding the samples of `kind`.
fn samples_of<'h>(html: &'h str, kind: &str) -> &'h str {
    let start = html
        .find(&format!("id=\"samples-{kind}\""))
        .unwrap_or_else(|| panic!("no samples of {kind}"));
    let end = start + html[start..].find("</details>").unwrap();
    &html[start..end]
}

#[test]
fn couple_report_is_self_contained_escaped_and_renders_in_chromium() {
    let dir = demo();
    let d = dir.path();
    let out = coupler(
        &[
            "couple",
            "--config",
            "coupling.toml",
            "--out",
            "out",
            "--report",
            "reports/r.html",
        ],
        d,
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("report written to reports/r.html"));
    let page = d.join("reports/r.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let job: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("out/CUSTOMER/job.json")).unwrap())
            .unwrap();

    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("<title>coupler — coupling report — CUSTOMER</title>"));
    assert!(html.contains("Customer - Account"));
    assert!(html.contains("dry run"));
    assert_self_contained(&html);

    // Every outcome count of job.json, in its row of the outcome table, and the BC counters.
    let outcomes = job["outcomes"].as_object().unwrap();
    assert_eq!(outcomes["coupled"], 300);
    assert_eq!(
        outcomes["no_match"], 22,
        "the demo's 21 and the extra record"
    );
    for (kind, n) in outcomes {
        let n = num(n.as_u64().unwrap());
        let row = row_of(&html, kind);
        assert!(row.contains(&format!(">{n}<")), "{kind}: {n} not in {row}");
    }
    for key in ["local_records", "integration_records"] {
        assert!(html.contains(&format!(">{}<", num(job[key].as_u64().unwrap()))));
    }
    let failed = job["counters"]["failed"].as_u64().unwrap();
    assert!(html.contains(&format!("failed</th><td class=\"n\" data-v=\"{failed}\">")));
    let error = job["errors"][0]["message"].as_str().unwrap();
    assert!(html.contains(error), "the BC job log's error row");
    // The funnel: records reaching p0 and p1, coupled at each.
    assert!(html.contains("p0</th>"));
    assert!(html.contains(">328 reached<"));
    assert!(html.contains(">288 coupled here (87.8%)<"));
    assert!(html.contains(">40 reached<"));
    assert!(html.contains(">12 coupled here (30.0%)<"));

    // User data is escaped wherever it appears.
    assert!(html.contains(HOSTILE_ID_ESCAPED));
    assert!(!html.contains("<SCRIPT>ALERT(1)"));

    // Samples of each failure kind present: the first rows of results.csv of that kind, at
    // most 20 of them.
    let mut reader = csv::Reader::from_path(d.join("out/CUSTOMER/results.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let mut kinds = 0;
    for kind in [
        "no_match",
        "multiple_matches",
        "already_coupled",
        "no_criteria",
    ] {
        let of_kind: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[1] == kind).collect();
        assert_eq!(of_kind.len() as u64, outcomes[kind].as_u64().unwrap());
        if of_kind.is_empty() {
            assert!(!html.contains(&format!("id=\"samples-{kind}\"")));
            continue;
        }
        kinds += 1;
        let block = samples_of(&html, kind);
        let shown = block.matches("<tr><td").count();
        assert_eq!(shown, of_kind.len().min(20), "{kind}");
        for r in of_kind.iter().take(20) {
            let id = r[0].replace('<', "&lt;").replace('>', "&gt;");
            assert!(block.contains(&id), "{kind} sample {id}");
            // The trace's first step and the candidates are there too.
            let step = r[7].split(' ').next().unwrap();
            assert!(block.contains(&format!("<code>{step}</code>")));
            for c in r[5].split('|').filter(|c| !c.is_empty()).take(10) {
                assert!(block.contains(c), "{kind} candidate {c}");
            }
        }
    }
    assert_eq!(
        kinds, 3,
        "the demo has no_match, multiple_matches and already_coupled"
    );
    assert!(samples_of(&html, "no_match").contains(HOSTILE_ID_ESCAPED));
    assert!(samples_of(&html, "no_match").contains("first 20 shown"));
    assert!(samples_of(&html, "already_coupled")
        .contains("C99990 <span class=\"muted\">(existing)</span>"));

    // Rendered for real.
    let Some(browser) = chromium("the couple report in Chromium") else {
        return;
    };
    let dom = render(&browser, &page, 1280);
    assert_rendered_cleanly(&dom);
    assert_laid_out_cleanly(&dom, "couple report", 12, 6);
    assert!(dom.contains(">300<"), "the coupled count is shown");
    assert!(dom.contains(HOSTILE_ID_ESCAPED), "shown as text, not run");
    assert!(dom.contains("<svg"));
    // The script ran: the sample tables got their sort handles and the toolbar its buttons.
    assert!(dom.contains("Collapse all"));
    assert!(dom.contains("title=\"Sort by this column\""));
}

#[test]
fn criteria_compare_report_renders_in_chromium() {
    let dir = demo();
    let d = dir.path();
    // A truth file: the configured criteria's couplings with three pairs changed, and a second
    // variant whose name needs escaping.
    let out = coupler(&["couple", "--config", "coupling.toml", "--out", "out"], d);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let couplings = std::fs::read_to_string(d.join("out/CUSTOMER/couplings.csv")).unwrap();
    let mut truth = String::from("local_id,integration_id\n");
    for (i, line) in couplings.lines().skip(1).enumerate() {
        let mut fields = line.split(',');
        let local = fields.next().unwrap();
        let integration = fields.next().unwrap();
        if i < 3 {
            truth.push_str(&format!("{local},00000000-0000-0000-0000-00000000000{i}\n"));
        } else {
            truth.push_str(&format!("{local},{integration}\n"));
        }
    }
    std::fs::write(d.join("truth.csv"), truth).unwrap();
    std::fs::write(
        d.join("variants.toml"),
        "[[variants]]\nname = \"name <only>\"\n[[variants.fields]]\nlocal = \"Name\"\nintegration = \"name\"\n",
    )
    .unwrap();
    let out = coupler(
        &[
            "criteria",
            "compare",
            "--config",
            "coupling.toml",
            "--mapping",
            "CUSTOMER",
            "--out",
            "out",
            "--truth",
            "truth.csv",
            "--variants",
            "variants.toml",
            "--report",
            "c.html",
        ],
        d,
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let page = d.join("c.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Criteria comparison: CUSTOMER"));
    assert_self_contained(&html);
    assert!(html.contains("class=\"chart bars\""), "the charts");
    assert!(html.contains("Precision, recall and F1"));
    assert!(html.contains("name &lt;only&gt;"));
    assert!(!html.contains("name <only>"));

    // Every variant's numbers, as compare.json has them, in its row of the table.
    let compare: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("out/CUSTOMER/criteria/compare.json")).unwrap(),
    )
    .unwrap();
    let variants = compare.as_array().unwrap();
    assert_eq!(variants.len(), 2);
    assert_eq!(variants[0]["outcomes"]["coupled"], 300);
    for v in variants {
        let name = v["variant"]
            .as_str()
            .unwrap()
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let row = row_of(&html, &name);
        for (kind, n) in v["outcomes"].as_object().unwrap() {
            let n = num(n.as_u64().unwrap());
            assert!(
                row.contains(&format!(">{n}<")),
                "{name} {kind}: {n} not in {row}"
            );
        }
        for key in ["true_positives", "false_positives", "false_negatives"] {
            let n = num(v[key].as_u64().unwrap());
            assert!(row.contains(&format!(">{n}<")), "{name} {key}: {n}");
        }
        for key in ["precision", "recall", "f1"] {
            let r = format!("{:.3}", v[key].as_f64().unwrap());
            assert!(row.contains(&format!(">{r}<")), "{name} {key}: {r}");
        }
    }

    let Some(browser) = chromium("the criteria compare report in Chromium") else {
        return;
    };
    let dom = render(&browser, &page, 1280);
    assert_rendered_cleanly(&dom);
    assert_laid_out_cleanly(&dom, "compare report", 12, 8);
    assert!(dom.contains("Outcomes by variant"));
    assert!(dom.contains(">300<"), "the coupled count is shown");
    assert!(dom.contains("name &lt;only&gt;"));
}

#[test]
fn fuzzy_report_shows_scores_and_compared_values_and_renders_in_chromium() {
    let dir = demo();
    let d = dir.path();
    let name = "integration = \"name\"\ntype = \"text\"\nmatch = true\npriority = 1\n";
    let config = std::fs::read_to_string(d.join("coupling.toml")).unwrap();
    assert!(config.contains(name), "demo config changed");
    let fuzzy = config.replace(
        name,
        &format!("{name}normalize = [\"legal_form\", \"strip_accents\"]\ncompare = \"jaro_winkler\"\nthreshold = 0.85\n"),
    );
    std::fs::write(d.join("fuzzy.toml"), fuzzy).unwrap();
    let out = coupler(
        &[
            "couple",
            "--config",
            "fuzzy.toml",
            "--out",
            "out",
            "--report",
            "r.html",
        ],
        d,
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let page = d.join("r.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_self_contained(&html);
    let job: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("out/CUSTOMER/job.json")).unwrap())
            .unwrap();
    // The score table: one row per bucket of job.json, with its coupled count.
    let at = html.find("Fuzzy match scores").expect("score section");
    let section = &html[at..at + html[at..].find("</section>").unwrap()];
    let buckets = job["match_scores"]["buckets"].as_array().unwrap();
    assert_eq!(
        section.matches("<tr><th scope=\"row\">").count(),
        buckets.len()
    );
    let identical = buckets.last().unwrap()["coupled"].as_u64().unwrap();
    let row_at = section.find("1 (identical)</th>").unwrap();
    let row = &section[row_at..row_at + section[row_at..].find("</tr>").unwrap()];
    assert!(row.contains(&format!(">{}<", num(identical))), "{row}");
    // Samples carry the compared values (escaped like everything else).
    assert!(samples_of(&html, "no_match").contains(">compared values</th>"));
    assert!(samples_of(&html, "no_match").contains(HOSTILE_ID_ESCAPED));

    let Some(browser) = chromium("the fuzzy couple report in Chromium") else {
        return;
    };
    let dom = render(&browser, &page, 1280);
    assert_rendered_cleanly(&dom);
    assert_laid_out_cleanly(&dom, "fuzzy couple report", 12, 6);
    assert!(dom.contains("Fuzzy match scores"));
}

/// The variants of the layout test: with the configured criteria, eight (the palette's size) of
/// very different results — `city only` couples none and finds several matches for nearly every
/// record — and a long name with markup.
const LAYOUT_VARIANTS: [(&str, &str); 7] = [
    (
        "phone only",
        "local = \"Phone No.\"\nintegration = \"telephone1\"\n",
    ),
    ("name only", "local = \"Name\"\nintegration = \"name\"\n"),
    (
        "city only",
        "local = \"City\"\nintegration = \"address1_city\"\n",
    ),
    (
        "e-mail only",
        "local = \"E-Mail\"\nintegration = \"emailaddress1\"\n",
    ),
    (
        "name, exact case",
        "local = \"Name\"\nintegration = \"name\"\ncase_sensitive = true\n",
    ),
    (
        "phone, exact case",
        "local = \"Phone No.\"\nintegration = \"telephone1\"\ncase_sensitive = true\n",
    ),
    (
        "a long variant name, <b>bold</b> & cut short in the chart",
        "local = \"Name\"\nintegration = \"name\"\ncase_sensitive = true\npriority = 1\n",
    ),
];

#[test]
fn criteria_compare_report_charts_lay_out_without_overlaps_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Generated data large enough for counts with thousands separators next to single digits
    // and zeros.
    ok(&coupler(
        &["generate", "--records", "6000", "--noise", "--out", "data"],
        d,
    ));
    // Every variant of LAYOUT_VARIANTS (eight with the configured criteria), and six of them
    // (the first five): near-equal counts next to each other.
    let mut reports = Vec::new();
    for (file, picked) in [
        ("all", &LAYOUT_VARIANTS[..]),
        ("six", &LAYOUT_VARIANTS[..5]),
    ] {
        let mut toml = String::new();
        for (name, fields) in picked {
            toml.push_str(&format!(
                "[[variants]]\nname = {name:?}\n[[variants.fields]]\n{fields}\n"
            ));
        }
        std::fs::write(d.join(format!("{file}.toml")), toml).unwrap();
        let report = format!("{file}.html");
        ok(&coupler(
            &[
                "criteria",
                "compare",
                "--config",
                "data/coupling.toml",
                "--mapping",
                "CUSTOMER",
                "--truth",
                "data/truth.csv",
                "--variants",
                &format!("{file}.toml"),
                "--out",
                &format!("out-{file}"),
                "--report",
                &report,
            ],
            d,
        ));
        let compare: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(d.join(format!("out-{file}/CUSTOMER/criteria/compare.json")))
                .unwrap(),
        )
        .unwrap();
        let variants = compare.as_array().unwrap().clone();
        assert_eq!(variants.len(), picked.len() + 1);
        reports.push((file, d.join(report), variants));
    }
    // Mixed magnitudes indeed: thousands and zeros side by side.
    let all = &reports[0].2;
    let count = |v: &serde_json::Value, o: &str| v["outcomes"][o].as_u64().unwrap();
    assert!(all.iter().any(|v| count(v, "coupled") >= 1000));
    assert!(all.iter().any(|v| count(v, "coupled") == 0));
    assert!(all.iter().any(|v| count(v, "multiple_matches") >= 1000));
    assert!(all.iter().any(|v| count(v, "multiple_matches") < 100));

    // Rendered wide and narrow: no text box of the charts or legends overlaps another, every
    // dot sits by its label.
    if let Some(browser) = chromium("the layout of the criteria compare charts in Chromium") {
        let mut problems = Vec::new();
        for (file, page, variants) in &reports {
            let n = variants.len();
            for width in [1280, 360] {
                let dom = render(&browser, page, width);
                assert_rendered_cleanly(&dom);
                // Each variant's six outcome counts and three measures, and its legend entry.
                let what = format!("{file}.html at {width} px");
                problems.extend(layout_problems(&dom, &what, n * 9, n));
            }
        }
        assert!(
            problems.is_empty(),
            "{} layout problem(s):\n{}",
            problems.len(),
            problems.join("\n")
        );
    }

    // The charts show every count and measure of every variant, and name every variant.
    for (file, page, variants) in &reports {
        let html = std::fs::read_to_string(page).unwrap();
        let at = html.find("Outcomes by variant").unwrap();
        let chart = &html[at..at + html[at..].find("<table").unwrap()];
        let at = html.find("<h2>Precision, recall and F1").unwrap();
        let measures = &html[at..];
        for v in variants {
            let name = v["variant"]
                .as_str()
                .unwrap()
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            assert!(chart.contains(&name), "{file}: {name} in the chart");
            for (kind, n) in v["outcomes"].as_object().unwrap() {
                let n = num(n.as_u64().unwrap());
                assert!(
                    chart.contains(&format!(">{n}<")),
                    "{file}: {name} {kind} {n} not in the chart"
                );
            }
            for key in ["precision", "recall", "f1"] {
                let r = v[key].as_f64().unwrap();
                assert!(
                    measures.contains(&format!(">{r:.2}<"))
                        || measures.contains(&format!(">{r:.3}<")),
                    "{file}: {name} {key} {r} not in the chart"
                );
            }
        }
    }
}
