//! Notifications (`[[notify]]`): observational push of alert lines, never
//! action. Each alert line at or above a target's `min_level` is POSTed as
//! JSON shaped for the service (`discord`, `slack`, `ntfy`, `json`).
//!
//! The line is already on disk when this runs, so a failed notification
//! loses nothing: it is retried a bounded number of times (timeouts,
//! connection errors, 5xx, 429) within the check's time budget, then recorded
//! in the alerts log as a WARN from source `notify`. Webhook URLs may hold
//! tokens: no message here ever contains the URL (reqwest errors are stripped
//! of it, and the text is redacted again before it is logged).

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{AlertLog, Event, Level, escape};
use crate::config::{Config, MinLevel, Notify, NotifyFormat};

/// Attempts per alert line, the first included.
pub const ATTEMPTS: u32 = 3;
/// Pause before the 2nd and 3rd attempts.
pub(crate) const BACKOFF: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(2)];
/// Discord refuses `content` over 2000 characters.
const DISCORD_MAX: usize = 2000;

fn level_of(m: MinLevel) -> Level {
    match m {
        MinLevel::Info => Level::Info,
        MinLevel::Ok => Level::Ok,
        MinLevel::Warn => Level::Warn,
        MinLevel::Crit => Level::Crit,
    }
}

/// Slack's mrkdwn treats `&`, `<`, `>` as markup (`<!channel>` pings everyone).
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A request to send: where (a URL derived from the configured one) and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Shaped {
    pub url: String,
    pub body: Value,
}

/// Shapes one event for a service (pure). `Err` names what is wrong with the
/// configured URL, without quoting it.
pub fn shape(format: NotifyFormat, url: &str, e: &Event) -> Result<Shaped, String> {
    // Escaped text: no control or bidi character reaches a chat client.
    let text = format!("{} {}: {}", e.level.as_str(), e.source, escape(&e.message));
    let ts = e.ts.to_rfc3339_opts(SecondsFormat::Secs, true);
    let body = match format {
        NotifyFormat::Discord => {
            let mut content = format!(
                "**{}** {}: {}",
                e.level.as_str(),
                e.source,
                escape(&e.message)
            );
            if content.chars().count() > DISCORD_MAX {
                content = content.chars().take(DISCORD_MAX - 6).collect();
                content.push_str("…[cut]");
            }
            json!({
                "username": "grokmon",
                "content": content,
                // Outside text must not ping @everyone or a role.
                "allowed_mentions": { "parse": [] },
            })
        }
        NotifyFormat::Slack => json!({ "text": slack_escape(&text) }),
        NotifyFormat::Ntfy => {
            // ntfy's JSON publishing goes to the server root with the topic in
            // the body; the configured URL is the topic URL people copy.
            let (mut u, topic) = crate::config::ntfy_topic(url)?;
            u.path_segments_mut()
                .map_err(|_| "not a valid URL".to_string())?
                .pop()
                .push("");
            let (priority, tag) = match e.level {
                Level::Crit => (5, "rotating_light"),
                Level::Warn => (4, "warning"),
                Level::Ok => (3, "white_check_mark"),
                Level::Info => (3, "information_source"),
            };
            return Ok(Shaped {
                url: u.to_string(),
                body: json!({
                    "topic": topic,
                    "title": format!("grokmon {} {}", e.level.as_str(), e.source),
                    "message": escape(&e.message),
                    "priority": priority,
                    "tags": [tag],
                }),
            });
        }
        NotifyFormat::Json => json!({
            "ts": ts,
            "level": e.level.as_str(),
            "source": e.source,
            "message": e.message,
            "line": e.to_line(),
        }),
    };
    Ok(Shaped {
        url: url.to_string(),
        body,
    })
}

/// Removes the URL, and its path and query (where tokens live), from text.
pub(crate) fn redact(text: &str, url: &str) -> String {
    let mut out = text.replace(url, "<url>");
    if let Ok(u) = reqwest::Url::parse(url) {
        for part in [
            u.path(),
            u.query().unwrap_or(""),
            u.password().unwrap_or(""),
        ] {
            if part.len() > 1 {
                out = out.replace(part, "<redacted>");
            }
        }
    }
    out
}

/// Why an attempt failed, and whether another attempt may succeed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub reason: String,
    pub retry: bool,
}

/// Describes a request error without the URL.
pub(crate) fn describe(e: reqwest::Error, timeout: Duration) -> Failure {
    let e = e.without_url();
    if e.is_timeout() {
        return Failure {
            reason: format!("timed out after {}", crate::text::human_duration(timeout)),
            retry: true,
        };
    }
    if e.is_connect() {
        // The innermost cause says why ("connection refused").
        let mut src: Option<&dyn std::error::Error> = Some(&e);
        let mut last = String::from("connection failed");
        while let Some(s) = src {
            last = s.to_string();
            src = s.source();
        }
        return Failure {
            reason: format!("cannot connect: {}", super::sanitize(&last)),
            retry: true,
        };
    }
    Failure {
        reason: super::sanitize(&e.to_string()),
        retry: true,
    }
}

/// Sends one shaped request, retrying within `deadline`.
fn send(
    client: &reqwest::blocking::Client,
    target: &Notify,
    req: &Shaped,
    deadline: Instant,
) -> Result<(), String> {
    send_with_retries(
        target.timeout,
        deadline,
        "not sent: the check's time budget was used up",
        |timeout| {
            client
                .post(&req.url)
                .timeout(timeout)
                .json(&req.body)
                .send()
        },
    )
}

/// Up to `ATTEMPTS` tries of one request within `deadline`, each bounded by
/// `cap` and what is left, pausing `BACKOFF` between them; a 4xx other than
/// 429 is not retried. The error names the last failure (`out_of_time` when
/// the budget ran out before a try); it may hold the URL, so callers redact.
pub(crate) fn send_with_retries(
    cap: Duration,
    deadline: Instant,
    out_of_time: &str,
    mut send: impl FnMut(Duration) -> reqwest::Result<reqwest::blocking::Response>,
) -> Result<(), String> {
    let mut last = out_of_time.to_string();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            let pause = BACKOFF[(attempt as usize - 1).min(BACKOFF.len() - 1)];
            if Instant::now() + pause >= deadline {
                break;
            }
            std::thread::sleep(pause);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let timeout = cap.min(left);
        let failure = match send(timeout) {
            Ok(resp) if resp.status().is_success() => return Ok(()),
            Ok(resp) => {
                let code = resp.status();
                Failure {
                    reason: format!("HTTP {}", code.as_u16()),
                    retry: code.is_server_error() || code.as_u16() == 429,
                }
            }
            Err(e) => describe(e, timeout),
        };
        last = format!("{} (attempt {} of {ATTEMPTS})", failure.reason, attempt + 1);
        if !failure.retry {
            break;
        }
    }
    Err(last)
}

/// Sends the events to every configured webhook within `budget`. The lines
/// are already on disk; a target that could not be reached is recorded as
/// one WARN from source `notify`, naming the target by number and format,
/// never by URL. Lines from `notify` itself are never sent (no loops).
pub fn dispatch(
    cfg: &Config,
    events: &[Event],
    log: &AlertLog,
    now: DateTime<Utc>,
    budget: Duration,
) {
    let deadline = Instant::now() + budget;
    let client = match reqwest::blocking::Client::builder()
        // Webhooks answer where they are; a redirect could carry the token elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("grokmon/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            let _ = log.append(&[Event::new(
                now,
                Level::Warn,
                "notify",
                format!(
                    "notifications not sent: cannot build an HTTP client: {}",
                    describe(e, Duration::ZERO).reason
                ),
            )]);
            return;
        }
    };
    let mut failures = Vec::new();
    for (i, target) in cfg.notify.iter().enumerate() {
        let min = level_of(target.min_level);
        let mut failed = 0;
        let mut reason = String::new();
        for e in events
            .iter()
            .filter(|e| e.level >= min && e.source != "notify")
        {
            let res = shape(target.format, &target.url, e)
                .and_then(|req| send(&client, target, &req, deadline));
            if let Err(r) = res {
                failed += 1;
                reason = redact(&r, &target.url);
            }
        }
        if failed > 0 {
            let format = format!("{:?}", target.format).to_lowercase();
            failures.push(Event::new(
                now,
                Level::Warn,
                "notify",
                format!(
                    "notify #{} ({format}): {failed} alert line(s) not delivered: {reason}; they are in this log",
                    i + 1
                ),
            ));
        }
    }
    if let Err(e) = log.append(&failures) {
        // Nowhere else to record it: stderr, without any URL.
        crate::errln!(
            "grokmon: notification failures not recorded: {}",
            crate::text::chain(&e)
        );
    }
}

/// Sends one line that `backup` or `restart` has just written to the log, as
/// `check` does for its lines (README: every line at or above a target's
/// `min_level` is sent).
pub fn written(cfg: &Config, ev: &Event, log: &AlertLog, now: DateTime<Utc>) {
    if !cfg.notify.is_empty() {
        dispatch(
            cfg,
            std::slice::from_ref(ev),
            log,
            now,
            Duration::from_secs(20),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(level: Level, msg: &str) -> Event {
        Event::new("2026-11-28T11:40:13Z".parse().unwrap(), level, "api", msg)
    }

    #[test]
    fn bodies_have_each_services_shape() {
        let e = ev(Level::Crit, "unreachable <!channel> @everyone \x1b[2J");
        let d = shape(NotifyFormat::Discord, "https://d/api/webhooks/1/tok", &e).unwrap();
        assert_eq!(d.url, "https://d/api/webhooks/1/tok");
        assert_eq!(
            d.body["content"],
            "**CRIT** api: unreachable <!channel> @everyone \\x1b[2J"
        );
        assert_eq!(d.body["allowed_mentions"]["parse"], json!([]));
        let s = shape(NotifyFormat::Slack, "https://s/services/T/B/x", &e).unwrap();
        assert_eq!(
            s.body["text"],
            "CRIT api: unreachable &lt;!channel&gt; @everyone \\x1b[2J"
        );
        let n = shape(NotifyFormat::Ntfy, "https://ntfy.example/sub/grow", &e).unwrap();
        assert_eq!(n.url, "https://ntfy.example/sub/");
        assert_eq!(n.body["topic"], "grow");
        assert_eq!(n.body["priority"], 5);
        assert_eq!(n.body["title"], "grokmon CRIT api");
        let j = shape(NotifyFormat::Json, "http://h/x", &e).unwrap();
        assert_eq!(j.body["message"], e.message.as_str());
        assert_eq!(j.body["level"], "CRIT");
        assert_eq!(j.body["ts"], "2026-11-28T11:40:13Z");
        assert_eq!(j.body["line"], e.to_line());
    }

    #[test]
    fn ntfy_needs_a_topic_and_errors_do_not_quote_the_url() {
        let e = ev(Level::Warn, "x");
        let err = shape(NotifyFormat::Ntfy, "https://ntfy.example/", &e).unwrap_err();
        assert!(err.contains("must end with the topic"), "{err}");
        assert!(!err.contains("ntfy.example"));
    }

    #[test]
    fn discord_content_is_bounded() {
        let e = ev(Level::Warn, &"é".repeat(5000));
        let d = shape(NotifyFormat::Discord, "https://d/x", &e).unwrap();
        assert!(d.body["content"].as_str().unwrap().chars().count() <= DISCORD_MAX);
    }

    #[test]
    fn redact_removes_url_path_query_and_password() {
        let url = "https://user:pa55word@h.example/hooks/SECRET?token=QSECRET";
        let t = format!("error for url ({url}): /hooks/SECRET and token=QSECRET and pa55word");
        let r = redact(&t, url);
        assert!(!r.contains("SECRET") && !r.contains("pa55word"), "{r}");
    }
}
