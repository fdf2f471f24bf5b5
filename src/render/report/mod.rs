//! The post-mortem report (`replay --report`) and the live status page (the sidecar's
//! `GET /`): one self-contained HTML page (inline CSS and SVG, no script, a CSP that
//! forbids every fetch), or its Markdown twin for pasting into an issue.
//!
//! Owns: the page model (`view`), the causal graph (`graph`), the timeline
//! (`timeline`), the Markdown twin (`markdown`), the live page (`live`) and the askama
//! templates (`templates/`, checked at build time, HTML-escaped by default). Does not
//! own: collecting the data during a replay (`pipeline::report`).
//!
//! Invariants: log text is never marked safe (no `|safe` in any template, SVG text
//! included) and is redacted before it is drawn; output is a function of the data
//! alone (sorted maps, ids from finding ids, times from records), so the same replay
//! gives the same bytes.

pub mod data;
pub mod graph;
pub mod live;
pub mod markdown;
pub mod text;
pub mod timeline;
pub mod view;

use askama::Template;

pub use data::ReportData;
pub use live::live_page;

/// The report's output form (`--report-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportFormat {
    #[default]
    Html,
    Markdown,
}

/// The Content-Security-Policy of every page: nothing is fetched, inline styles only.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

#[derive(Template)]
#[template(path = "report.html")]
struct ReportTemplate<'a> {
    p: &'a view::Page,
}

/// The report as one HTML page.
pub fn html(data: &ReportData) -> String {
    let page = view::page(data);
    render_or_note(&ReportTemplate { p: &page })
}

/// The report as Markdown.
pub fn markdown(data: &ReportData) -> String {
    markdown::page(&view::page(data))
}

/// The report in `format`.
pub fn render(data: &ReportData, format: ReportFormat) -> String {
    match format {
        ReportFormat::Html => html(data),
        ReportFormat::Markdown => markdown(data),
    }
}

/// Renders a template. Its only runtime error is a formatter failing, which writing to
/// a `String` never does; a note takes the page's place rather than a panic.
fn render_or_note<T: Template>(t: &T) -> String {
    t.render()
        .unwrap_or_else(|e| format!("<!DOCTYPE html><html lang=\"en\"><title>report error</title><p>report could not be rendered: {e}</p></html>"))
}
