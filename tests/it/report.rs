//! The court report (`report.html`, `report.pdf`) on the worked schedule case: the totals
//! agree with the schedules to the penny, hostile text stays text, the PDF has the expected
//! pages and text, and a real browser (headless Chromium) loads the HTML with nothing failing
//! to load.
//!
//! The PDF checks use poppler's `pdfinfo` and `pdftotext`, and the browser check Debian's
//! `chromium`; `.ci/run` installs both packages.

use std::path::{Path, PathBuf};
use std::process::Command;

use proceeds::pipeline::{run_to, RunOptions, Stage};

use crate::support::{fixture, read_csv};

const TIMESTAMP: &str = "2026-02-01T00:00:00Z";

fn run_case(case: &str, dir: &Path) {
    let options = RunOptions {
        out_dir: dir.to_path_buf(),
        run_timestamp: Some(TIMESTAMP.into()),
        ..RunOptions::default()
    };
    run_to(&fixture(case), &options, Stage::Schedule).unwrap();
}

/// The rows of one `data-table` in the HTML, as the text of each cell.
fn html_table(html: &str, id: &str) -> Vec<Vec<String>> {
    let start = html
        .find(&format!("<table data-table=\"{id}\">"))
        .unwrap_or_else(|| panic!("table {id} missing"));
    let end = start + html[start..].find("</table>").unwrap();
    html[start..end]
        .split("<tr")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let body = &cell[cell.find('>').unwrap() + 1..];
                    body[..body.find("</td>").unwrap()].to_string()
                })
                .collect()
        })
        .filter(|r: &Vec<String>| !r.is_empty())
        .collect()
}

fn pounds(text: &str) -> i64 {
    let clean: String = text
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    clean.parse().unwrap()
}

#[test]
fn html_report_totals_match_the_schedules_to_the_penny() {
    let dir = tempfile::tempdir().unwrap();
    run_case("schedule/case.toml", dir.path());
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();

    let summary = html_table(&html, "summary");
    let line = |item: &str| {
        summary
            .iter()
            .find(|r| r[0] == item)
            .unwrap_or_else(|| panic!("{item} missing from {summary:?}"))[1]
            .clone()
    };
    assert_eq!(line("Benefit (value under s.80)"), "£29,611.62");
    assert_eq!(line("Available amount (s.9)"), "£84,869.56");
    assert_eq!(line("Recoverable amount (s.7)"), "£29,611.62");

    // Benefit: the total line equals the sum of the lines, and both equal the CSV.
    let benefit = html_table(&html, "benefit");
    let (total, lines) = benefit.split_last().unwrap();
    let counted: i64 = lines.iter().map(|r| pounds(&r[9])).sum();
    assert_eq!(counted, pounds(&total[9]));
    assert_eq!(total[9], "£29,611.62");
    let csv = read_csv(&dir.path().join("schedule_benefit.csv"));
    assert_eq!(lines.len(), csv.len() - 1);

    // Available amount and gifts: totals are sums of their lines.
    let available = html_table(&html, "available");
    let (total, lines) = available.split_last().unwrap();
    assert_eq!(
        lines.iter().map(|r| pounds(&r[7])).sum::<i64>(),
        pounds(&total[7])
    );
    let gifts = html_table(&html, "gifts");
    let (total, lines) = gifts.split_last().unwrap();
    assert_eq!(
        lines.iter().map(|r| pounds(&r[11])).sum::<i64>(),
        pounds(&total[11])
    );

    // The hostile counterparty is shown as text, escaped, and nothing in the page loads
    // anything: no script, no external reference, a policy that forbids both.
    assert!(html.contains("=HYPERLINK(&quot;http://x&quot;,&quot;y&quot;)"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("src=\""));
    assert!(!html.contains("href=\"http"));
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));

    // Charts: credits and balance per account, inline SVG.
    let figures = html.matches("<figure ").count();
    let accounts = read_csv(&dir.path().join("sources.csv")).len() - 1;
    assert_eq!(figures, 2 * accounts, "two charts per account");
    assert_eq!(html.matches("<svg ").count(), figures);

    // The verify stage's plain-language summary opens the integrity section.
    let summary = std::fs::read_to_string(dir.path().join("integrity_summary.txt")).unwrap();
    let first = summary.split("\n\n").next().unwrap().trim();
    let integrity = &html[html.find("<section id=\"integrity\">").unwrap()..];
    let escaped = first
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;");
    assert!(integrity.contains(&format!("<p>{escaped}</p>")));

    // Sources appendix: every source file's SHA-256.
    let sources = read_csv(&dir.path().join("sources.csv"));
    let sha = sources[0].iter().position(|h| h == "sha256").unwrap();
    for s in &sources[1..] {
        assert!(
            html.contains(&s[sha]),
            "{} missing from the appendix",
            s[sha]
        );
    }
}

#[test]
fn demo_report_has_the_flow_diagram_and_every_section() {
    let dir = tempfile::tempdir().unwrap();
    run_case("demo/case.toml", dir.path());
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    for id in [
        "summary",
        "method",
        "integrity",
        "charts",
        "benefit",
        "exclusions",
        "available",
        "gifts",
        "tracing",
        "findings",
        "sources",
    ] {
        assert!(
            html.contains(&format!("<section id=\"{id}\">")),
            "section {id} missing"
        );
    }
    assert!(html.contains("data-figure=\"flow\""));
    // The flow diagram's bands into the house-deposit solicitor carry the elected
    // method's tainted amount for that payment (trace_summary.csv, tainted_elected).
    let summary = read_csv(&dir.path().join("trace_summary.csv"));
    let h = &summary[0];
    let c = |n: &str| h.iter().position(|x| x == n).unwrap();
    let solicitor = summary
        .iter()
        .find(|r| r[c("counterparty")] == "HALLAM & CO SOLICITORS")
        .unwrap();
    assert_eq!(solicitor[c("tainted_elected")], "13176.45");
    assert!(html.contains("HALLAM &amp; CO SOLICITORS: £13,176.45"));
    // Tracing table: one line per destination of interest, the FIFO column as in the CSV.
    let tracing = html_table(&html, "tracing");
    assert_eq!(tracing.len(), summary.len() - 1);
    let row = tracing
        .iter()
        .find(|r| r[3] == "HALLAM &amp; CO SOLICITORS")
        .unwrap();
    assert_eq!(
        &row[4..],
        [
            "£15,000.00",
            "£13,176.45",
            "£13,150.00",
            "£15,000.00",
            "£15,000.00",
            "£13,543.50"
        ]
    );
    // Findings: the structuring findings are under their own heading.
    assert!(html.contains("<h2>"));
    assert!(html.contains("STR-001/DH-LLOYDS/2024-01-05/1"));
}

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed: .ci/run installs it (apt-get install poppler-utils chromium)");
}

fn pdf_text(pdf: &Path, first: u32, last: u32) -> String {
    let out = Command::new(tool("pdftotext"))
        .args(["-layout", "-f", &first.to_string(), "-l", &last.to_string()])
        .arg(pdf)
        .arg("-")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn pdf_report_has_its_pages_and_text() {
    let dir = tempfile::tempdir().unwrap();
    run_case("schedule/case.toml", dir.path());
    let pdf = dir.path().join("report.pdf");
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    let info = Command::new(tool("pdfinfo")).arg(&pdf).output().unwrap();
    let info = String::from_utf8(info.stdout).unwrap();
    let pages: u32 = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        info.lines().any(|l| l.starts_with("Title:")
            && l.ends_with("Financial investigation report: HERON-2025-031")),
        "{info}"
    );
    assert_eq!(pages, EXPECTED_PAGES, "{info}");
    let all = pdf_text(&pdf, 1, pages);
    for text in [
        "Financial investigation report",
        "Contents",
        "Method statement",
        "Integrity of the material",
        "Benefit schedule",
        "Available amount (s.9)",
        "Tainted gifts",
        "Appendix: sources and accounts",
        "Recoverable amount (s.7)",
        "£29,611.62",
        "£84,869.56",
    ] {
        assert!(all.contains(text), "{text:?} not in the PDF");
    }
    for (page, title) in [
        (2, "1. Summary"),
        (3, "2. Method statement"),
        (4, "3. Integrity of the material"),
        (5, "4. Charts"),
        (7, "5. Benefit schedule"),
        (9, "7. Available amount (s.9)"),
        (10, "8. Tainted gifts (s.77, s.78, s.81)"),
        (13, "11. Appendix: sources and accounts"),
    ] {
        assert!(
            pdf_text(&pdf, page, page).trim_start().starts_with(title),
            "page {page} does not open with {title:?}"
        );
    }
    // Every page carries its number and the total.
    for p in 1..=pages {
        let page = pdf_text(&pdf, p, p);
        assert!(
            page.contains(&format!("Page {p} of {pages}")),
            "page {p} has no page number"
        );
    }
    // The last page holds the sources appendix with each source's SHA-256 (pdftotext
    // may wrap a long hash, so compare without white space).
    let flat: String = all.chars().filter(|c| !c.is_whitespace()).collect();
    let sources = read_csv(&dir.path().join("sources.csv"));
    let sha = sources[0].iter().position(|h| h == "sha256").unwrap();
    for s in &sources[1..] {
        assert!(flat.contains(&s[sha]), "{} not in the PDF", s[sha]);
    }
}

/// Pages of the worked case's PDF: title and contents (1), summary (2), method (3),
/// integrity (4), charts (5-6), benefit (7), exclusions (8), available amount (9), gifts
/// (10), tracing (11), findings (12), appendix (13). A layout change that moves this must be
/// looked at (`pdftoppm -png report.pdf page`) before the figure is updated.
const EXPECTED_PAGES: u32 = 13;

#[test]
fn chromium_loads_the_html_report_with_nothing_failing() {
    let dir = tempfile::tempdir().unwrap();
    run_case("demo/case.toml", dir.path());
    let report = dir.path().join("report.html");
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(tool("chromium"))
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {stderr}");
    let dom = String::from_utf8(out.stdout).unwrap();
    // The browser parsed the whole page: the totals and every chart are in its DOM.
    assert!(
        dom.contains("£76,638.22"),
        "benefit total missing from the DOM"
    );
    assert!(
        dom.contains("£117,761.07"),
        "available amount missing from the DOM"
    );
    let html = std::fs::read_to_string(&report).unwrap();
    assert_eq!(
        dom.matches("<svg ").count(),
        html.matches("<svg ").count(),
        "every chart reached the DOM"
    );
    assert!(dom.contains("data-figure=\"flow\""));
    // Nothing failed to load and the page's policy refused nothing. The report has no
    // script, so any console message at all means something went wrong: under the page's
    // policy (default-src 'none') every attempt to load anything is reported on the console
    // as a violation.
    assert!(
        dom.contains("default-src 'none'"),
        "the policy reached the DOM"
    );
    for bad in [
        ":CONSOLE",
        "Content Security Policy",
        "Failed to load resource",
        "net::ERR_",
        "Uncaught",
    ] {
        assert!(
            !stderr.contains(bad),
            "chromium reported {bad:?} while loading the report:\n{stderr}"
        );
    }
}

#[test]
fn without_a_price_index_the_report_says_the_schedules_were_not_produced() {
    let dir = tempfile::tempdir().unwrap();
    run_case("detect/case/case.toml", dir.path());
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains(
        "The confiscation schedules were not produced: the case file names no price_index reference file"
    ));
    assert!(!html.contains("<section id=\"benefit\">"));
    // The findings still stand, each with its rule and evidence rows.
    let findings = read_csv(&dir.path().join("findings.csv"));
    let id = findings[0].iter().position(|h| h == "finding_id").unwrap();
    assert!(findings.len() > 1);
    for f in &findings[1..] {
        assert!(html.contains(&f[id]), "finding {} missing", f[id]);
    }
    assert!(std::fs::read(dir.path().join("report.pdf"))
        .unwrap()
        .starts_with(b"%PDF-"));
}
