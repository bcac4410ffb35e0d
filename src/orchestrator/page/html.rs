//! The status page's HTML (pure): a `View` in, one self-contained document
//! out. maud escapes every spliced value; the only raw markup is the
//! stylesheet (a constant) and the chart paths (numbers drawn by `chart`).
//!
//! The Content-Security-Policy allows nothing but this one stylesheet, by
//! its hash: no script, no image, font or connection, no form target, no
//! framing. A hash rather than `'unsafe-inline'` because the stylesheet is a
//! constant (so the hash never changes) and because then a `<style>` that
//! some future escaping bug let through would not apply either. The page
//! therefore uses no `style` attributes: sizes and colours are classes.

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::chart::{BUCKET_MS, BUCKETS, Chart};
use super::{Alerts, Check, SensorView, UNREVIEWED_CAP, View};
use crate::alerts::read::Entry;
use crate::text::human_duration;

/// Seconds between the page's own refreshes (`<meta http-equiv="refresh">`:
/// no script needed).
pub const REFRESH_S: u32 = 30;

/// The stylesheet: light by default, dark when the system is.
pub const CSS: &str = r#"
:root{--bg:#f4f5f7;--card:#fff;--fg:#1b1f24;--mute:#5f6875;--line:#e3e6ea;--acc:#2864d8;--ok:#18864b;--warn:#a86700;--crit:#c92a2a;--info:#5f6875;--okbg:#e6f4ec;--warnbg:#fdf3e1;--critbg:#fbe9e9;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0e1014;--card:#171a20;--fg:#e5e8ec;--mute:#98a1ae;--line:#2a2f37;--acc:#6ea2ff;--ok:#45c37f;--warn:#f0b429;--crit:#ff6b6b;--info:#98a1ae;--okbg:#143123;--warnbg:#3a2c0c;--critbg:#3d1618}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1280px;margin:0 auto;padding:16px}
h1,h2,h3{margin:0;font-weight:600}
h2{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:var(--mute);margin:22px 0 10px}
a{color:var(--acc)}
.top{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:baseline;gap:4px 16px}
.top h1{font-size:20px}.top h1 span{color:var(--mute);font-weight:400}
.mute,.top p{color:var(--mute);font-size:13px;margin:0}
.health{margin-top:14px;border-radius:12px;padding:14px 18px;background:var(--card);border:1px solid var(--line);border-left:6px solid var(--ok)}
.health.degraded,.health.stopping{border-left-color:var(--crit);background:var(--critbg)}
.health.starting{border-left-color:var(--warn);background:var(--warnbg)}
.health .state{font-size:24px;font-weight:700;display:flex;align-items:center;gap:10px}
.health .state::before{content:"";width:12px;height:12px;border-radius:50%;background:var(--ok)}
.health.degraded .state::before,.health.stopping .state::before{background:var(--crit)}
.health.starting .state::before{background:var(--warn)}
.facts{display:flex;flex-wrap:wrap;gap:6px 22px;list-style:none;margin:8px 0 0;padding:0;color:var(--mute)}
.facts b{color:var(--fg)}.facts b.bad{color:var(--crit)}
.problems{margin:10px 0 0;padding-left:20px;color:var(--crit)}
.problems li{overflow-wrap:anywhere}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:12px}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:12px 14px;min-width:0}
.card>p{margin:0 0 4px}
.sensor .head{display:flex;justify-content:space-between;align-items:center;gap:8px}
.sensor h3{font-size:15px;overflow-wrap:anywhere}
.pill{font-size:11px;font-weight:700;text-transform:uppercase;letter-spacing:.05em;padding:2px 8px;border-radius:99px;background:var(--okbg);color:var(--ok);white-space:nowrap}
.pill.stale,.pill.failing{background:var(--critbg);color:var(--crit)}
.pill.pending{background:var(--warnbg);color:var(--warn)}
.value{font-size:30px;font-weight:650;font-variant-numeric:tabular-nums;margin-top:2px}
.value .unit{font-size:16px;font-weight:500;color:var(--mute);margin-left:3px}
.sensor.stale .value,.sensor.failing .value{color:var(--mute);text-decoration:line-through 2px var(--crit)}
.value .none{font-size:16px;font-weight:500;color:var(--mute);display:inline-block;padding:8px 0 6px}
.err{margin:4px 0 0;font-size:13px;color:var(--crit);overflow-wrap:anywhere}
.plot{position:relative;height:92px;margin:8px 0 0 42px;border-bottom:1px solid var(--line);background:linear-gradient(var(--line),var(--line)) 0 50%/100% 1px no-repeat}
.plot svg{display:block;width:100%;height:100%;overflow:visible}
.plot path{vector-effect:non-scaling-stroke;fill:none}
.plot .band{fill:var(--acc);fill-opacity:.16}
.plot .line{stroke:var(--acc);stroke-width:1.6;stroke-linejoin:round;stroke-linecap:round}
.plot .stale{stroke:var(--crit);stroke-width:5}
.plot .now{stroke:var(--acc);stroke-width:8;stroke-linecap:round}
.plot .grid6{stroke:var(--line);stroke-width:1;stroke-dasharray:2 3}
.sensor.stale .plot .line,.sensor.failing .plot .line,.sensor.stale .plot .now{stroke:var(--mute)}
.plot .y{position:absolute;left:-44px;width:38px;text-align:right;font-size:11px;line-height:1;color:var(--mute);font-variant-numeric:tabular-nums}
.plot .hi{top:3px}.plot .lo{bottom:6px}
.plot .empty{position:absolute;inset:0;display:flex;align-items:center;justify-content:center;color:var(--mute);font-size:13px}
.axis{display:flex;justify-content:space-between;font-size:11px;color:var(--mute);margin:2px 0 0 42px}
.note{font-size:12px;color:var(--mute);margin-top:4px}.note .bad{color:var(--crit)}
.cols{display:grid;grid-template-columns:minmax(0,2fr) minmax(0,1fr);gap:12px;align-items:start;margin-top:22px}
.cols h2{margin-top:0}
.side{display:grid;gap:12px}
.log{list-style:none;margin:0;padding:0;font:12.5px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.log li{display:grid;grid-template-columns:11ch 4ch minmax(0,1fr);gap:0 10px;padding:3px 0;border-top:1px solid var(--line)}
.log li:first-child{border-top:0}
.log time{color:var(--mute);white-space:nowrap}
.log .lvl{font-weight:700}
.log .msg{overflow-wrap:anywhere}.log .src{font-weight:600}
.lvl-CRIT .lvl{color:var(--crit)}.lvl-WARN .lvl{color:var(--warn)}.lvl-OK .lvl{color:var(--ok)}.lvl-INFO .lvl,.unparsed .lvl{color:var(--info)}
.lvl-CRIT{background:var(--critbg)}
.count{margin-left:8px;vertical-align:1px;text-transform:none;letter-spacing:0;font-size:12px;font-weight:600;padding:1px 8px;border-radius:99px;background:var(--warnbg);color:var(--warn)}
.count.zero{background:var(--okbg);color:var(--ok)}
.probes{list-style:none;margin:0;padding:0}
.probes li{display:grid;grid-template-columns:12px 5.5em minmax(0,1fr);gap:0 8px;align-items:baseline;padding:3px 0;font-size:13.5px}
.probes li.old{opacity:.55}
.dot{width:9px;height:9px;border-radius:50%;background:var(--info);display:inline-block}
.st-ok .dot{background:var(--ok)}.st-warn .dot,.st-unknown .dot,.st-starting .dot{background:var(--warn)}.st-crit .dot{background:var(--crit)}
.probes .msg{color:var(--mute);overflow-wrap:anywhere}
.big{font-size:17px;font-weight:600;overflow-wrap:anywhere}
.bad{color:var(--crit)}
.acts{margin:6px 0 0;padding-left:18px;font-size:13.5px}
footer{margin:22px 0 6px;font-size:12px;color:var(--mute)}
@media (max-width:760px){main{padding:10px}.cols{grid-template-columns:1fr}.log li{display:flex;flex-wrap:wrap;gap:0 10px}.log .msg{flex-basis:100%}.value{font-size:26px}}
"#;

/// The Content-Security-Policy of every answer of `/`.
pub fn csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = ring::digest::digest(&ring::digest::SHA256, CSS.as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(hash.as_ref());
        format!(
            "default-src 'none'; style-src 'sha256-{b64}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
    })
}

fn ago(d: Duration) -> String {
    format!("{} ago", human_duration(d))
}

fn since(now: DateTime<Utc>, t: DateTime<Utc>) -> Duration {
    (now - t).to_std().unwrap_or_default()
}

/// A reading for people: at most 2 decimals, no trailing zeros.
pub fn num(v: f64) -> String {
    let s = if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A short UTC time: the clock for today, with the date otherwise.
fn short(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    if t.date_naive() == now.date_naive() {
        t.format("%H:%M:%S").to_string()
    } else {
        t.format("%m-%d %H:%M").to_string()
    }
}

/// The whole document.
pub fn render(v: &View) -> String {
    let h = &v.health;
    let title = format!(
        "{} · grokmon{}",
        match h.status {
            "healthy" => "Healthy",
            "degraded" => "Degraded",
            "starting" => "Starting",
            _ => "Stopping",
        },
        if v.host.is_empty() {
            String::new()
        } else {
            format!(" on {}", v.host)
        }
    );
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content=(REFRESH_S);
                meta name="color-scheme" content="light dark";
                meta name="referrer" content="no-referrer";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    header.top {
                        h1 { "grokmon" @if !v.host.is_empty() { " " span { "on " (v.host) } } }
                        p {
                            "as of " time datetime=(iso(v.now)) { (v.now.format("%Y-%m-%d %H:%M:%S UTC")) }
                            " · refreshes every " (REFRESH_S) " s"
                        }
                    }
                    (health(v))
                    h2 { "Sensors" }
                    @if v.sensors.is_empty() {
                        p.mute { "No sensors configured ([[sensor]] in the configuration)." }
                    }
                    @if let Err(e) = &v.history {
                        p.err { "Charts unavailable: " (e) }
                    } @else if v.history == Ok(false) {
                        p.mute { "No database yet: the charts fill as readings are stored." }
                    }
                    div.grid { @for s in &v.sensors { (sensor(s, v)) } }
                    div.cols {
                        div { h2 { "Recent alerts" (unreviewed(v)) } (alerts(v)) }
                        div.side {
                            div { h2 { "Last check" } (check(v)) }
                            div { h2 { "Newest backup" } (backup(v)) }
                            @if let Some(ai) = &v.ai {
                                div { h2 { "Last AI decision" } (decision(v, ai.as_ref())) }
                            }
                        }
                    }
                    footer {
                        "Read-only. Data: "
                        a href="/api/status" { "/api/status" } " · "
                        a href="/api/health" { "/api/health" } " · "
                        a href="/metrics" { "/metrics" }
                        ". Times in UTC."
                    }
                }
            }
        }
    };
    doc.into_string()
}

fn health(v: &View) -> Markup {
    let h = &v.health;
    let word = match h.status {
        "healthy" => "Healthy",
        "degraded" => "Degraded",
        "starting" => "Starting",
        _ => "Stopping",
    };
    html! {
        section class=(format!("health {}", h.status)) {
            div.state { (word) }
            ul.facts {
                li { "sensors " b class=[(h.sensors_ok < h.sensors_total).then_some("bad")] { (h.sensors_ok) "/" (h.sensors_total) " ok" } }
                li { "store " b class=[(!h.store_ok).then_some("bad")] { @if h.store_ok { "ok" } @else { "failing" } }
                    @if h.queued > 0 { " (" (h.queued) " queued)" } }
                li { "AI " b class=[(h.ai == "failing").then_some("bad")] { (h.ai) } }
                li { "up " b { (human_duration(h.uptime)) } }
            }
            @if !h.problems.is_empty() {
                ul.problems { @for p in &h.problems { li { (p) } } }
            }
        }
    }
}

fn sensor(s: &SensorView, v: &View) -> Markup {
    let c = &s.chart;
    let label = format!(
        "{}: last 24 hours{}",
        s.name,
        match (c.min, c.max) {
            (Some(lo), Some(hi)) => format!(", from {} to {} {}", num(lo), num(hi), s.unit),
            _ => ", no readings".into(),
        }
    );
    let pill = match s.status {
        "ok" => "ok",
        "pending" => "waiting",
        "stale" => "stale",
        _ => "failing",
    };
    let _ = v;
    html! {
        article class=(format!("card sensor {}", s.status)) {
            div.head {
                h3 { (s.name) }
                span class=(format!("pill {}", s.status)) { (pill) }
            }
            div.value {
                @match s.value {
                    Some(x) => { (num(x)) span.unit { (s.unit) } }
                    None => { span.none { "no value" } }
                }
            }
            div.note {
                @match s.age {
                    Some(a) => { "read " (ago(a)) }
                    None => { "no reading since start" }
                }
                @if s.failures == 0 { " · every " (human_duration(s.interval)) }
                @if s.failures > 0 { " · " span.bad { (s.failures) " failed " @if s.failures == 1 { "read" } @else { "reads" } } }
            }
            div.plot {
                svg viewBox=(format!("0 0 {} 100", BUCKETS - 1)) preserveAspectRatio="none" role="img" aria-label=(label) {
                    path.grid6 d="M71.75 0V100M143.5 0V100M215.25 0V100" {}
                    (PreEscaped(&c.paths))
                }
                @if let (Some(lo), Some(hi)) = (c.min, c.max) {
                    span.y.hi title="maximum in 24 h" { (num(hi)) }
                    span.y.lo title="minimum in 24 h" { (num(lo)) }
                } @else {
                    span.empty { "no readings in the last 24 h" }
                }
            }
            div.axis { span { "24 h ago" } span { "18 h" } span { "12 h" } span { "6 h" } span { "now" } }
            (gaps(c))
            @if let Some(e) = &s.error { @if s.status == "stale" || s.status == "failing" { p.err { (e) } } }
        }
    }
}

fn gaps(c: &Chart) -> Markup {
    let bucket = Duration::from_millis(BUCKET_MS as u64);
    html! {
        @if c.stale_buckets > 0 || c.empty_buckets > 1 {
            div.note {
                @if c.stale_buckets > 0 {
                    span.bad { "stale " (human_duration(bucket * c.stale_buckets)) }
                    @if c.empty_buckets > 1 { " · " }
                }
                // The current bucket may simply not be written yet.
                @if c.empty_buckets > 1 { "no data " (human_duration(bucket * c.empty_buckets)) }
                " in 24 h"
            }
        }
    }
}

fn unreviewed(v: &View) -> Markup {
    html! {
        @if let Ok(Alerts { unreviewed: Some(n), .. }) = &v.alerts {
            @if *n == 0 {
                span.count.zero { "all reviewed" }
            } @else {
                span.count { @if *n > UNREVIEWED_CAP { (UNREVIEWED_CAP) "+" } @else { (n) } " unreviewed" }
            }
        }
    }
}

fn alerts(v: &View) -> Markup {
    html! {
        section.card {
            @match &v.alerts {
                Err(e) => { p.err { (e) } }
                Ok(Alerts { lines, unreviewed }) => {
                    @if lines.is_empty() {
                        p.mute { "No alerts yet." }
                    } @else {
                        p.mute {
                            "Last " (lines.len()) " lines of the alerts log"
                            @if unreviewed.is_some_and(|n| n > 0) { "; review with " code { "grokmon alerts tail --unreviewed" } }
                            "."
                        }
                        ol.log {
                            @for e in lines.iter().rev() {
                                @match e {
                                    Entry::Event(ev) => {
                                        li class=(format!("lvl-{}", ev.level.as_str())) {
                                            time datetime=(iso(ev.ts)) title=(iso(ev.ts)) { (short(v.now, ev.ts)) }
                                            span.lvl { (ev.level.as_str()) }
                                            span.msg { span.src { (ev.source) } ": " (crate::alerts::escape(&ev.message)) }
                                        }
                                    }
                                    Entry::Unparsed(t) => {
                                        li.unparsed {
                                            time { "?" }
                                            span.lvl { "?" }
                                            span.msg { "[unparsed] " (crate::alerts::sanitize(t)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn check(v: &View) -> Markup {
    html! {
        section.card {
            @match &v.check {
                Err(e) => { p.err { "State database unreadable: " (e) } }
                Ok(None) => { p.mute { "No check has run yet (" code { "grokmon check" } ")." } }
                Ok(Some(Check { at, probes })) => {
                    p.mute { time datetime=(iso(*at)) title=(iso(*at)) { (ago(since(v.now, *at))) } " (" (short(v.now, *at)) ")" }
                    ul.probes {
                        @for p in probes {
                            li class=(format!("st-{}{}", p.status, if p.old { " old" } else { "" })) title=[p.old.then_some("not in the last check")] {
                                span.dot {}
                                b { (p.name) }
                                span.msg { (p.status.to_uppercase()) " · " (p.message) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn backup(v: &View) -> Markup {
    html! {
        section.card {
            @match &v.backup {
                Err(e) => { p.err { (e) } }
                Ok(None) => { p.bad { "No backup yet." } p.mute { "Run " code { "grokmon backup" } "." } }
                Ok(Some(b)) => {
                    @let age = since(v.now, b.time);
                    div.big class=[(age > Duration::from_secs(26 * 3600)).then_some("bad")] { (ago(age)) }
                    p.mute { (b.name) }
                }
            }
        }
    }
}

fn decision(v: &View, d: Option<&super::Decision>) -> Markup {
    let _ = v;
    html! {
        section.card {
            @match d {
                None => { p.mute { "No decision yet since the start." } }
                Some(d) => {
                    p.mute { (d.time) " · " (d.model) @if d.dry_run { " · dry run" } }
                    div { (d.summary) }
                    @if !d.actions.is_empty() {
                        ul.acts { @for (name, status, reason) in &d.actions { li { b { (name) } " " (status) ": " (reason) } } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::alerts::{Event, Level};
    use crate::orchestrator::page::{Backup, Decision, Health, Probe, SensorView, chart};

    const EVIL: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&";

    fn view() -> View {
        let now: DateTime<Utc> = "2026-12-03T06:00:00Z".parse().unwrap();
        let mut series = chart::Series::default();
        series.add(now.timestamp_millis() - 60_000, 20.0, false);
        series.add(now.timestamp_millis() - 30_000, 21.0, false);
        let sensor = |name: &str, status: &'static str, error: Option<String>| SensorView {
            name: name.into(),
            unit: EVIL.into(),
            value: Some(21.0),
            age: Some(Duration::from_secs(3)),
            status,
            failures: u32::from(error.is_some()),
            error,
            interval: Duration::from_secs(5),
            chart: chart::draw(&series, now.timestamp_millis(), Duration::from_secs(60)),
        };
        View {
            now,
            host: EVIL.into(),
            health: Health {
                status: "degraded",
                problems: vec![format!("sensor b stale: {EVIL}")],
                uptime: Duration::from_secs(3700),
                sensors_ok: 1,
                sensors_total: 2,
                store_ok: true,
                queued: 0,
                ai: "ok",
            },
            sensors: vec![
                sensor("a", "ok", None),
                sensor("b", "stale", Some(EVIL.into())),
            ],
            history: Ok(true),
            alerts: Ok(Alerts {
                lines: vec![
                    Entry::Event(Event::new(now, Level::Crit, "api", EVIL)),
                    Entry::Unparsed(EVIL.into()),
                ],
                unreviewed: Some(2),
            }),
            check: Ok(Some(Check {
                at: now,
                probes: vec![Probe {
                    name: "api".into(),
                    status: "crit".into(),
                    message: EVIL.into(),
                    old: false,
                }],
            })),
            backup: Ok(Some(Backup {
                name: EVIL.into(),
                time: now,
            })),
            ai: Some(Some(Decision {
                time: "2026-12-03T05:00:00Z".into(),
                model: EVIL.into(),
                summary: EVIL.into(),
                dry_run: false,
                actions: vec![(EVIL.into(), "ran".into(), EVIL.into())],
            })),
        }
    }

    #[test]
    fn outside_text_everywhere_is_escaped() {
        let page = render(&view());
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("onerror=alert(2)>"), "{page}");
        // host, unit x2, problem, error, alert, unparsed, probe, backup, model, summary, action x2
        assert!(page.matches("&lt;script&gt;").count() >= 13, "{page}");
        // The one style element is the constant stylesheet, whose hash the policy allows.
        assert_eq!(page.matches("<style>").count(), 1);
        assert!(page.contains(&format!("<style>{CSS}</style>")));
        assert!(
            !page.contains(" style="),
            "style attributes need 'unsafe-inline'"
        );
        for url in ["http:", "https:", "//", " src=\""] {
            assert!(!page.contains(url), "{url} in the page");
        }
        assert!(page.len() < 100_000);
    }

    #[test]
    fn every_part_is_shown_and_stale_is_marked() {
        let page = render(&view());
        for want in [
            "Degraded",
            r#"class="card sensor stale""#,
            r#"class="pill stale">stale<"#,
            "2 unreviewed",
            r#"class="lvl-CRIT""#,
            "[unparsed]",
            "Last check",
            "Newest backup",
            "Last AI decision",
            r#"<path class="line""#,
        ] {
            assert!(page.contains(want), "{want} missing");
        }
        let mut v = view();
        v.ai = None;
        v.check = Ok(None);
        v.backup = Ok(None);
        v.alerts = Err("cannot read alerts log /x: permission denied".into());
        let page = render(&v);
        assert!(!page.contains("Last AI decision"));
        for want in ["No check has run yet", "No backup yet", "permission denied"] {
            assert!(page.contains(want), "{want} missing");
        }
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(21.0), "21");
        assert_eq!(num(21.456), "21.46");
        assert_eq!(num(-0.5), "-0.5");
        assert_eq!(num(1234.56), "1235");
        assert_eq!(num(123.45), "123.5");
    }

    #[test]
    fn the_policy_allows_only_the_stylesheet_by_its_hash() {
        let p = csp();
        assert!(
            p.starts_with("default-src 'none'; style-src 'sha256-"),
            "{p}"
        );
        assert!(!p.contains("unsafe"), "{p}");
        let b64 = p
            .split("'sha256-")
            .nth(1)
            .unwrap()
            .split('\'')
            .next()
            .unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(raw.len(), 32);
    }
}
