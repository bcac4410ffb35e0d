//! Reading a health answer's JSON body (pure): the status word and, when it is
//! not healthy, the parts that are not fine. The vocabularies and shapes that
//! real services use:
//!
//! - words, case-insensitive: healthy/ok/up/pass → OK; degraded/warn → WARN;
//!   down/fail/unhealthy/error/critical (and a few more) → CRIT; plus the
//!   configured `check.api.healthy_words`;
//! - a `components` object (grokmon's own API, Spring Boot actuator), each
//!   part an object with a `status` or a bare word, nested at most a few levels;
//! - the IETF health-check draft (`application/health+json`): a `checks`
//!   object of arrays of objects with a `status`;
//! - flat bodies: other top-level fields whose value is a word such as
//!   `disconnected` (`{"status":"degraded","sensors":"disconnected"}`).
//!
//! The status word is found at `check.api.status_pointer` (a JSON pointer,
//! default `/status`); parts are looked for beside it. Messages are raw text,
//! bounded: every output escapes them once.

use serde_json::Value;

use super::Status;

/// Longest status word, part name or part value kept in a message, in characters.
const MAX_WORD: usize = 40;
/// Most parts named in a message; the rest are counted.
const MAX_PARTS: usize = 5;
/// How deep `components` are followed.
const MAX_DEPTH: usize = 4;

/// How a service's health answer is read.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// JSON pointer to the status word.
    pub status_pointer: String,
    /// Extra words meaning healthy (compared case-insensitively).
    pub healthy_words: Vec<String>,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            status_pointer: "/status".into(),
            healthy_words: Vec::new(),
        }
    }
}

impl Rules {
    pub fn from_config(api: &crate::config::Api) -> Rules {
        Rules {
            status_pointer: api.status_pointer.clone(),
            healthy_words: api.healthy_words.clone(),
        }
    }

    fn pointer(&self) -> &str {
        &self.status_pointer
    }

    /// The status a word means; `None` for a word outside the vocabularies.
    pub fn classify(&self, word: &str) -> Option<Status> {
        let w = word.trim().to_ascii_lowercase();
        if self
            .healthy_words
            .iter()
            .any(|h| h.trim().eq_ignore_ascii_case(&w))
        {
            return Some(Status::Ok);
        }
        match w.as_str() {
            "healthy" | "ok" | "up" | "pass" | "passed" | "passing" | "green" => Some(Status::Ok),
            "degraded" | "warn" | "warning" | "yellow" => Some(Status::Warn),
            "down" | "fail" | "failed" | "failing" | "unhealthy" | "error" | "critical"
            | "crit" | "red" | "out_of_service" => Some(Status::Crit),
            _ => None,
        }
    }

    /// Whether a part's word is fine: healthy, or deliberately off.
    fn part_fine(&self, word: &str) -> bool {
        self.classify(word) == Some(Status::Ok)
            || matches!(
                word.trim().to_ascii_lowercase().as_str(),
                "off" | "disabled" | "connected" | "enabled" | "skipped"
            )
    }

    /// Whether a flat field's value reads as a problem. Flat bodies also hold
    /// versions and times, so only known words of trouble count there.
    fn flat_bad(&self, value: &str) -> bool {
        let first = value
            .split(|c: char| c.is_whitespace() || c == '(' || c == ',' || c == ':')
            .next()
            .unwrap_or("");
        if first.is_empty() || self.part_fine(first) {
            return false;
        }
        matches!(self.classify(first), Some(Status::Warn | Status::Crit))
            || matches!(
                first.to_ascii_lowercase().as_str(),
                "disconnected"
                    | "unavailable"
                    | "unreachable"
                    | "offline"
                    | "stale"
                    | "missing"
                    | "timeout"
                    | "timed_out"
                    | "broken"
            )
    }
}

fn cut(s: &str) -> String {
    if s.chars().count() > MAX_WORD {
        let mut c: String = s.chars().take(MAX_WORD).collect();
        c.push('…');
        c
    } else {
        s.to_string()
    }
}

/// A part's status word: a bare string or an object's `status`.
fn word_of(v: &Value) -> Option<&str> {
    v.as_str()
        .or_else(|| v.get("status").and_then(Value::as_str))
}

/// Collects `name: word` for every part of a `components` object that is
/// not fine, depth first (`db.primary` for nested actuator components).
fn components(rules: &Rules, prefix: &str, v: &Value, depth: usize, out: &mut Vec<String>) {
    let Some(map) = v.as_object() else { return };
    for (name, c) in map {
        let full = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let nested = c.get("components").filter(|n| n.is_object());
        match (nested, depth < MAX_DEPTH) {
            (Some(n), true) if word_of(c).is_none_or(|w| !rules.part_fine(w)) => {
                let before = out.len();
                components(rules, &full, n, depth + 1, out);
                if out.len() == before
                    && let Some(w) = word_of(c)
                {
                    out.push(format!("{}: {}", cut(&full), cut(w)));
                }
            }
            _ => {
                if let Some(w) = word_of(c)
                    && !rules.part_fine(w)
                {
                    out.push(format!("{}: {}", cut(&full), cut(w)));
                }
            }
        }
    }
}

/// IETF `checks`: `{"name": [{"status": "fail", ...}, ...]}`.
fn checks(rules: &Rules, v: &Value, out: &mut Vec<String>) {
    let Some(map) = v.as_object() else { return };
    for (name, list) in map {
        let items: Vec<&Value> = match list {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        // The worst word among the entries of this check.
        let bad = items
            .iter()
            .filter_map(|i| word_of(i))
            .filter(|w| !rules.part_fine(w))
            .max_by_key(|w| rules.classify(w).map_or(1, |s| s.exit_code()));
        if let Some(w) = bad {
            out.push(format!("{}: {}", cut(name), cut(w)));
        }
    }
}

/// The parts of a health object that are not fine.
fn parts(rules: &Rules, obj: &Value, status_key: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(c) = obj.get("components") {
        components(rules, "", c, 1, &mut out);
    }
    if let Some(c) = obj.get("checks") {
        checks(rules, c, &mut out);
    }
    if let Some(map) = obj.as_object() {
        for (k, v) in map {
            if k == status_key || k == "components" || k == "checks" {
                continue;
            }
            match v {
                Value::String(s) if rules.flat_bad(s) => {
                    out.push(format!("{}: {}", cut(k), cut(s)));
                }
                Value::Object(_) => {
                    if let Some(w) = v.get("status").and_then(Value::as_str)
                        && !rules.part_fine(w)
                    {
                        out.push(format!("{}: {}", cut(k), cut(w)));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Judges a parsed health body: the status and a message naming what is not
/// fine. `code` is only for the message.
pub fn judge_json(rules: &Rules, code: u16, v: &Value) -> (Status, String) {
    let ptr = rules.pointer();
    let Some(word) = v.pointer(ptr).and_then(word_of) else {
        let what = if ptr == "/status" {
            "no \"status\"".to_string()
        } else {
            format!("nothing at status_pointer \"{ptr}\"")
        };
        return (
            Status::Warn,
            format!("HTTP {code} but {what} in the JSON body"),
        );
    };
    // Parts are looked for in the object holding the status word.
    let (parent_ptr, key) = ptr.rsplit_once('/').unwrap_or(("", ptr));
    let parent = v.pointer(parent_ptr).unwrap_or(v);
    let status = rules.classify(word);
    if status == Some(Status::Ok) {
        return (Status::Ok, cut(&word.to_ascii_lowercase()));
    }
    let mut bad = parts(rules, parent, key);
    let mut msg = match status {
        Some(_) => cut(word),
        None => format!("unrecognized health status \"{}\"", cut(word)),
    };
    if !bad.is_empty() {
        let more = bad.len().saturating_sub(MAX_PARTS);
        bad.truncate(MAX_PARTS);
        msg.push_str(&format!(" ({}", bad.join(", ")));
        if more > 0 {
            msg.push_str(&format!(", {more} more"));
        }
        msg.push(')');
    }
    (status.unwrap_or(Status::Warn), msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(rules: &Rules, body: &str) -> (Status, String) {
        judge_json(rules, 200, &serde_json::from_str(body).unwrap())
    }

    #[test]
    fn vocabularies_and_shapes() {
        let r = Rules::default();
        type Case<'a> = (&'a str, Status, &'a str);
        let cases: &[Case] = &[
            (r#"{"status":"healthy"}"#, Status::Ok, "healthy"),
            (r#"{"status":"ok"}"#, Status::Ok, "ok"),
            (r#"{"status":"OK"}"#, Status::Ok, "ok"),
            (r#"{"status":"UP"}"#, Status::Ok, "up"),
            (r#"{"status":"pass"}"#, Status::Ok, "pass"),
            (r#"{"status":"Degraded"}"#, Status::Warn, "Degraded"),
            (r#"{"status":"warn"}"#, Status::Warn, "warn"),
            (r#"{"status":"down"}"#, Status::Crit, "down"),
            (r#"{"status":"FAIL"}"#, Status::Crit, "FAIL"),
            (r#"{"status":"unhealthy"}"#, Status::Crit, "unhealthy"),
            (r#"{"status":"error"}"#, Status::Crit, "error"),
            (r#"{"status":"critical"}"#, Status::Crit, "critical"),
            (
                r#"{"status":"maybe"}"#,
                Status::Warn,
                r#"unrecognized health status "maybe""#,
            ),
            // The original app's flat body.
            (
                r#"{"status":"degraded","sensors":"disconnected","camera":"disconnected (using mock)","actuators":"connected","version":"1.4.2"}"#,
                Status::Warn,
                "degraded (camera: disconnected (using mock), sensors: disconnected)",
            ),
            // Spring Boot actuator, nested components.
            (
                r#"{"status":"DOWN","components":{"db":{"status":"DOWN","details":{"error":"x"}},"diskSpace":{"status":"UP"},"cache":{"status":"DOWN","components":{"redis":{"status":"OUT_OF_SERVICE"},"local":{"status":"UP"}}}}}"#,
                Status::Crit,
                "DOWN (cache.redis: OUT_OF_SERVICE, db: DOWN)",
            ),
            // IETF health+json.
            (
                r#"{"status":"warn","version":"1","checks":{"cpu:utilization":[{"componentId":"a","status":"pass"},{"componentId":"b","status":"warn","output":"90%"}],"uptime":[{"status":"pass"}]}}"#,
                Status::Warn,
                "warn (cpu:utilization: warn)",
            ),
            // grokmon's own /api/health.
            (
                r#"{"status":"degraded","components":{"sensors":{"status":"stale"},"store":{"status":"ok"},"ai":{"status":"off"}}}"#,
                Status::Warn,
                "degraded (sensors: stale)",
            ),
            (
                r#"{"state":"fine"}"#,
                Status::Warn,
                r#"HTTP 200 but no "status" in the JSON body"#,
            ),
        ];
        for (body, status, msg) in cases {
            assert_eq!(j(&r, body), (*status, msg.to_string()), "body: {body}");
        }
    }

    #[test]
    fn pointer_and_extra_words() {
        let r = Rules {
            status_pointer: "/health/state".into(),
            healthy_words: vec!["Fine".into()],
        };
        assert_eq!(
            j(&r, r#"{"health":{"state":"fine"}}"#),
            (Status::Ok, "fine".into())
        );
        assert_eq!(
            j(
                &r,
                r#"{"health":{"state":"degraded","db":"offline"},"x":"down"}"#
            ),
            (Status::Warn, "degraded (db: offline)".into())
        );
        let (s, m) = j(&r, r#"{"status":"ok"}"#);
        assert_eq!(s, Status::Warn);
        assert_eq!(
            m,
            r#"HTTP 200 but nothing at status_pointer "/health/state" in the JSON body"#
        );
    }

    #[test]
    fn parts_are_bounded() {
        let r = Rules::default();
        let mut body = serde_json::Map::new();
        body.insert("status".into(), "down".into());
        for i in 0..50 {
            body.insert(format!("part{i:02}{}", "x".repeat(200)), "offline".into());
        }
        let (s, m) = judge_json(&r, 200, &Value::Object(body));
        assert_eq!(s, Status::Crit);
        assert!(m.ends_with(", 45 more)"), "{m}");
        assert!(m.chars().count() < 400, "{}", m.len());
        let long = format!(r#"{{"status":"{}"}}"#, "w".repeat(5000));
        assert!(j(&r, &long).1.chars().count() < 100);
        // Raw: the outputs escape it, once.
        assert_eq!(
            j(&r, r#"{"status":"bad\nthing"}"#).1,
            "unrecognized health status \"bad\nthing\""
        );
    }
}
