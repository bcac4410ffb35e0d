//! API: GET `check.api.url` with a timeout; the status code, `{"status":
//! "healthy"}` in a JSON body, and the latency. With `edge_url` (the public
//! URL behind the CDN) also probed, "origin down, edge serving" is a WARNING
//! and only both down is CRITICAL.

use std::io::Read;
use std::time::{Duration, Instant};

use super::health::{self, Rules};
use super::{Context, Metric, Observation, Outcome, Status, Unit};

/// The most of a response body that is read.
pub const BODY_LIMIT: u64 = 64 * 1024;

/// What one GET found.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    pub status: Status,
    pub message: String,
    pub latency: Duration,
    /// The endpoint answered at all (any HTTP status).
    pub reachable: bool,
}

/// Judges a health response: code and body (pure), the body read by
/// `rules` (see `health`). The message is raw text, bounded.
pub fn judge(code: u16, body: &[u8], truncated: bool, rules: &Rules) -> (Status, String) {
    if !(200..300).contains(&code) {
        return (Status::Crit, format!("HTTP {code}"));
    }
    if truncated {
        return (
            Status::Warn,
            format!(
                "HTTP {code} with a body over {} KiB, not a health answer",
                BODY_LIMIT / 1024
            ),
        );
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => health::judge_json(rules, code, &v),
        Err(_) => {
            let text: String = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
            (
                Status::Warn,
                format!("HTTP {code} but the body is not JSON: \"{text}\""),
            )
        }
    }
}

/// Describes a request error for a person, without the URL.
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timed out after {}", crate::text::human_duration(timeout));
    }
    if e.is_redirect() {
        return "too many redirects".into();
    }
    // The innermost cause is the useful one ("connection refused").
    let mut src: Option<&dyn std::error::Error> = Some(e);
    let mut last = e.to_string();
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                std::io::ErrorKind::TimedOut => {
                    format!("timed out after {}", crate::text::human_duration(timeout))
                }
                _ => io.to_string(),
            };
        }
        last = s.to_string();
        src = s.source();
    }
    last
}

/// One GET, the body read by the default rules.
pub fn get(client: &reqwest::blocking::Client, url: &str, timeout: Duration) -> Probed {
    get_with(client, url, timeout, &Rules::default())
}

/// One GET, the body read by `rules`, bounded as a whole by `timeout`:
/// connecting, the headers and the body together. The client's own timeout
/// applies to each read, so a server trickling its body a byte at a time
/// would hold it for minutes; the request runs on a thread of its own
/// instead, and past the deadline its result is no longer waited for (the
/// thread ends at its next read timeout, or with the process).
pub fn get_with(
    client: &reqwest::blocking::Client,
    url: &str,
    timeout: Duration,
    rules: &Rules,
) -> Probed {
    let start = Instant::now();
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let spawned = {
        let client = client.clone();
        let url = url.to_string();
        let rules = rules.clone();
        std::thread::Builder::new()
            .name("api-get".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let _ = tx.send(get_unbounded(&client, &url, timeout, &rules, start));
            })
    };
    if let Err(e) = spawned {
        return Probed {
            status: Status::Unknown,
            message: format!("cannot start a thread: {e}"),
            latency: start.elapsed(),
            reachable: false,
        };
    }
    match rx.recv_timeout(timeout) {
        Ok(p) => p,
        Err(_) => Probed {
            status: Status::Crit,
            message: format!(
                "timed out after {} (connect, headers and body together)",
                crate::text::human_duration(timeout)
            ),
            latency: start.elapsed(),
            reachable: false,
        },
    }
}

/// One GET with only the client's per-operation timeouts.
fn get_unbounded(
    client: &reqwest::blocking::Client,
    url: &str,
    timeout: Duration,
    rules: &Rules,
    start: Instant,
) -> Probed {
    let res = client.get(url).send();
    let (status, message, reachable) = match res {
        Ok(resp) => {
            let code = resp.status().as_u16();
            let mut body = Vec::new();
            let mut r = resp.take(BODY_LIMIT + 1);
            match r.read_to_end(&mut body) {
                Ok(_) => {
                    let truncated = body.len() as u64 > BODY_LIMIT;
                    let (s, m) = judge(code, &body, truncated, rules);
                    (s, m, true)
                }
                Err(e) => (
                    Status::Crit,
                    format!("HTTP {code} but reading the body failed: {e}"),
                    true,
                ),
            }
        }
        Err(e) => (
            Status::Crit,
            format!("unreachable: {}", describe(&e.without_url(), timeout)),
            false,
        ),
    };
    Probed {
        status,
        message,
        latency: start.elapsed(),
        reachable,
    }
}

/// A client for health probes: timeout, few redirects, no proxy (loopback).
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(5))
        .no_proxy()
        .user_agent(USER_AGENT)
        .build()
}

/// Combines origin and edge results (pure).
pub fn combine(origin: &Probed, edge: Option<&Probed>) -> (Status, String) {
    match edge {
        None => (origin.status, origin.message.clone()),
        Some(edge) => match (origin.status, edge.status) {
            (Status::Ok, Status::Ok) => (Status::Ok, "healthy (origin and edge)".into()),
            (Status::Ok, _) => (Status::Warn, format!("edge down: {}", edge.message)),
            (_, Status::Ok) if origin.status == Status::Crit => (
                Status::Warn,
                format!("origin down, edge serving: {}", origin.message),
            ),
            (o, _) if o == Status::Crit && edge.status == Status::Crit => (
                Status::Crit,
                format!(
                    "origin and edge down: origin {}; edge {}",
                    origin.message, edge.message
                ),
            ),
            (o, _) => (o, format!("{} (edge: {})", origin.message, edge.message)),
        },
    }
}

/// One GET of a plain `http://` URL on this thread (`plain_http`); `None`
/// when reqwest must do it.
fn get_plain(url: &str, timeout: Duration, rules: &Rules) -> Option<Probed> {
    let start = Instant::now();
    let got = super::plain_http::get(url, timeout, BODY_LIMIT as usize, USER_AGENT)?;
    Some(probed(got, start, timeout, rules))
}

/// What a plain GET that began at `start` found.
fn probed(got: super::plain_http::Got, start: Instant, timeout: Duration, rules: &Rules) -> Probed {
    let (status, message, reachable) = match got {
        super::plain_http::Got::Answer { code, body } => {
            let truncated = body.len() as u64 > BODY_LIMIT;
            let (s, m) = judge(code, &body, truncated, rules);
            (s, m, true)
        }
        super::plain_http::Got::Failed(e) => {
            let why = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                    format!("timed out after {}", crate::text::human_duration(timeout))
                }
                _ => e.to_string(),
            };
            (Status::Crit, format!("unreachable: {why}"), false)
        }
    };
    Probed {
        status,
        message,
        latency: start.elapsed(),
        reachable,
    }
}

const USER_AGENT: &str = concat!("grokmon/", env!("CARGO_PKG_VERSION"));

/// For `check`: the usual case (a plain-HTTP origin on a literal address
/// or `localhost`, no edge) sends its GET now, without waiting, and reads
/// the answer when the check calls the returned finisher. The latency
/// reported is from the send to the answer read, so it includes the
/// check's own work in between (a bound, not an underestimate).
pub fn start(ctx: &Context<'_>) -> Option<super::Started> {
    let cfg = &ctx.config.check.api;
    if cfg.edge_url.is_some() {
        return None;
    }
    let begun = Instant::now();
    let early = super::plain_http::send_early(&cfg.url, cfg.timeout, USER_AGENT)?;
    Some(Box::new(move |ctx: &Context<'_>| {
        let cfg = &ctx.config.check.api;
        let rules = Rules::from_config(cfg);
        let plain = early
            .finish(BODY_LIMIT as usize)
            .map(|got| probed(got, begun, cfg.timeout, &rules));
        probe_with(ctx, &rules, plain)
    }))
}

pub fn probe(ctx: &Context<'_>) -> Outcome {
    let cfg = &ctx.config.check.api;
    let rules = Rules::from_config(cfg);
    // The usual case, a plain-HTTP origin and no edge: one GET on this
    // thread, no client to build (the check's critical path).
    let plain = match cfg.edge_url {
        None => get_plain(&cfg.url, cfg.timeout, &rules),
        Some(_) => None,
    };
    probe_with(ctx, &rules, plain)
}

/// The observation, from the plain GET's result, or (`None`: not a case
/// for it, or an edge to ask too) from reqwest.
fn probe_with(ctx: &Context<'_>, rules: &Rules, plain: Option<Probed>) -> Outcome {
    let cfg = &ctx.config.check.api;
    let (origin, edge) = match plain {
        Some(origin) => (origin, None),
        None => {
            let client = match client(cfg.timeout) {
                Ok(c) => c,
                Err(e) => {
                    return Observation::new(
                        "api",
                        Status::Unknown,
                        format!("cannot build HTTP client: {e}"),
                    )
                    .into();
                }
            };
            std::thread::scope(|s| {
                let edge = cfg.edge_url.as_deref().map(|u| {
                    let client = client.clone();
                    s.spawn(move || get_with(&client, u, cfg.timeout, rules))
                });
                let origin = get_with(&client, &cfg.url, cfg.timeout, rules);
                (origin, edge.map(|h| h.join().expect("edge probe thread")))
            })
        }
    };
    let (status, message) = combine(&origin, edge.as_ref());
    let mut obs = Observation::new("api", status, message);
    if origin.reachable {
        obs = obs.metric(Metric::new(
            "latency",
            origin.latency.as_secs_f64(),
            Unit::Seconds,
        ));
    }
    if let Some(e) = &edge
        && e.reachable
    {
        obs = obs.metric(Metric::new(
            "edge_latency",
            e.latency.as_secs_f64(),
            Unit::Seconds,
        ));
    }
    obs.duration = origin
        .latency
        .max(edge.as_ref().map_or(Duration::ZERO, |e| e.latency));
    obs.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_health_bodies() {
        let r = &Rules::default();
        assert_eq!(
            judge(200, br#"{"status":"healthy"}"#, false, r).0,
            Status::Ok
        );
        let (s, m) = judge(200, br#"{"status":"degraded","components":{"sensors":{"status":"stale"},"store":{"status":"ok"}}}"#, false, r);
        assert_eq!(s, Status::Warn);
        assert_eq!(m, "degraded (sensors: stale)");
        assert_eq!(
            judge(502, b"bad gateway", false, r),
            (Status::Crit, "HTTP 502".into())
        );
        // Raw text, bounded: every output escapes it once.
        let (s, m) = judge(200, b"\x1b[2Jgarbage\n", false, r);
        assert_eq!(s, Status::Warn);
        assert_eq!(m, "HTTP 200 but the body is not JSON: \"\x1b[2Jgarbage\n\"");
        assert_eq!(judge(200, b"{}", false, r).0, Status::Warn);
        assert_eq!(judge(200, b"xxxx", true, r).0, Status::Warn);
    }

    fn p(status: Status, msg: &str) -> Probed {
        Probed {
            status,
            message: msg.into(),
            latency: Duration::ZERO,
            reachable: status != Status::Crit,
        }
    }

    #[test]
    fn origin_and_edge() {
        let up = p(Status::Ok, "healthy");
        let down = p(Status::Crit, "unreachable: connection refused");
        assert_eq!(combine(&down, None).0, Status::Crit);
        assert_eq!(combine(&up, Some(&up)).0, Status::Ok);
        let (s, m) = combine(&down, Some(&up));
        assert_eq!(s, Status::Warn);
        assert!(m.starts_with("origin down, edge serving"), "{m}");
        assert_eq!(combine(&down, Some(&down)).0, Status::Crit);
        assert_eq!(combine(&up, Some(&down)).0, Status::Warn);
    }
}
