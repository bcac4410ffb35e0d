//! AI decisions: an OpenAI-compatible chat-completions client (xAI's Grok,
//! OpenAI, a local llama.cpp or Ollama server), its retry policy, and the
//! pure parts around it (prompt, answer parsing, `Retry-After`).
//!
//! Every `ai.interval` the latest readings (units, ages, staleness spelled
//! out, so a two-hour-old value is never taken for a current one) and the
//! allowlisted actions are sent; the answer must be
//! `{"summary": text, "actions": [{"name": ..., "reason": ...}]}`. A failure
//! (connection, timeout, 5xx, 429, invalid JSON, schema) is retried after the
//! `ai.backoff` steps (1, 2, 5 minutes; a 429's `Retry-After` is honoured,
//! capped at the interval), then the loop waits for the next scheduled
//! decision. Each failure writes a journal line with `AI decision failed:`;
//! spent retries write one WARN line from source `ai`, a recovery one OK line.
//!
//! The API key is sent only in the Authorization header (marked sensitive);
//! it is redacted from any outside text that is logged or shown.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::actions::Allowlist;
use super::hub::{Hub, Record, lock};
pub use super::record::{DecisionRecord, Usage};
use super::shutdown::Shutdown;
use crate::alerts::Level;
use crate::config::{Ai, ConfigError};
use crate::text::{human_ms, sanitize};

/// The most of an API answer that is read.
pub const BODY_LIMIT: usize = 1 << 20;
/// The most actions one decision may choose.
pub const MAX_ACTIONS: usize = 10;

const DEFAULT_SYSTEM_PROMPT: &str = "You watch the sensors of a small self-hosted installation and decide whether any of the allowed actions should run now. Only the listed action names exist. Readings marked STALE are old values from a failing sensor: do not treat them as current. When in doubt, choose no action. Answer with one JSON object and nothing else.";

/// The API key: never printed.
#[derive(Clone)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Secret {
    /// Replaces the key in outside text (an error body may echo it), and
    /// any word of 4 or more characters taken from it: APIs answer a bad
    /// key with a masked echo (`sk-ab***xyz9`) whose visible ends are parts
    /// of the key.
    pub fn redact(&self, text: &str) -> String {
        const PART: usize = 4;
        if self.0.len() < PART {
            return text.to_string();
        }
        let whole = self.redact_whole(text);
        let mut out = String::with_capacity(whole.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            if word.chars().count() >= PART && self.0.contains(word.as_str()) {
                out.push_str("[redacted]");
            } else {
                out.push_str(word);
            }
            word.clear();
        };
        for c in whole.chars() {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        out
    }

    /// Replaces only the whole key: for an answer still to be parsed, whose
    /// words must stay as they are.
    pub fn redact_whole(&self, text: &str) -> String {
        if self.0.len() < 4 {
            text.to_string()
        } else {
            text.replace(&self.0, "[redacted]")
        }
    }
}

/// Reads the key named by the configuration. `credentials_dir` is
/// `$CREDENTIALS_DIRECTORY` (systemd's `LoadCredential=`), where a relative
/// `api_key_file` is looked up. Messages name the variable or file, never the key.
pub fn load_key(
    ai: &Ai,
    var: impl Fn(&str) -> Option<String>,
    credentials_dir: Option<&Path>,
) -> Result<Option<Secret>, ConfigError> {
    if let Some(name) = &ai.api_key_env {
        let v = var(name).map(|v| v.trim().to_string()).unwrap_or_default();
        if v.is_empty() {
            return Err(ConfigError(format!(
                "ai.api_key_env: the environment variable {name} is not set or empty; set it, or use ai.api_key_file"
            )));
        }
        return Ok(Some(Secret(v)));
    }
    if let Some(file) = &ai.api_key_file {
        let path = match credentials_dir {
            Some(dir) if file.is_relative() => dir.join(file),
            _ => file.clone(),
        };
        let v = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError(format!(
                "ai.api_key_file: cannot read {}: {e}",
                path.display()
            ))
        })?;
        let v = v.trim().to_string();
        if v.is_empty() {
            return Err(ConfigError(format!(
                "ai.api_key_file: {} is empty",
                path.display()
            )));
        }
        return Ok(Some(Secret(v)));
    }
    // A local server (llama.cpp, Ollama) needs no key.
    Ok(None)
}

/// The system prompt: text, or `@/path/to/file`.
pub fn load_system_prompt(ai: &Ai) -> Result<String, ConfigError> {
    match ai.system_prompt.as_deref() {
        None => Ok(DEFAULT_SYSTEM_PROMPT.to_string()),
        Some(p) if p.starts_with('@') => std::fs::read_to_string(&p[1..])
            .map_err(|e| ConfigError(format!("ai.system_prompt: cannot read {}: {e}", &p[1..]))),
        Some(t) => Ok(t.to_string()),
    }
}

/// Why a decision could not be had.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AiError {
    #[error("cannot reach the API: {0}")]
    Connect(String),
    #[error("timed out after {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("HTTP {code}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Status {
        code: u16,
        retry_after: Option<Duration>,
        body: String,
    },
    #[error("invalid answer: {0}")]
    Invalid(String),
}

impl AiError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            AiError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// One chosen action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    pub name: String,
    pub reason: String,
}

/// A validated decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub summary: String,
    pub actions: Vec<Choice>,
}

/// A decision with what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub decision: Decision,
    pub usage: Usage,
    pub latency: Duration,
}

/// `Retry-After` in seconds (HTTP dates are rare for APIs and read as absent).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The wait before a retry: the backoff step, or the server's `Retry-After`
/// when it gives one, never beyond `cap`.
pub fn retry_wait(step: Duration, retry_after: Option<Duration>, cap: Duration) -> Duration {
    retry_after
        .unwrap_or(step)
        .min(cap)
        .max(super::backoff::MIN_STEP)
}

/// The JSON inside an answer: the whole text, or a fenced block.
pub fn extract_json(text: &str) -> Option<&str> {
    let t = text.trim();
    if t.starts_with('{') {
        return Some(t);
    }
    let start = t.find("```")?;
    let after = &t[start + 3..];
    // Skip a language tag (```json).
    let body_start = after.find('\n')? + 1;
    let body = &after[body_start..];
    let end = body.find("```")?;
    Some(body[..end].trim())
}

fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Parses and validates the model's content into a decision.
pub fn parse_decision(content: &str) -> Result<Decision, AiError> {
    let json = extract_json(content)
        .ok_or_else(|| AiError::Invalid(format!("not JSON: \"{}\"", cut(content.trim(), 80))))?;
    let v: Value = serde_json::from_str(json)
        .map_err(|e| AiError::Invalid(format!("not JSON ({e}): \"{}\"", cut(json, 80))))?;
    let summary = v
        .get("summary")
        .and_then(Value::as_str)
        .ok_or_else(|| AiError::Invalid("no \"summary\" text".into()))?;
    let actions = match v.get("actions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => {
            a.iter()
                .map(|x| {
                    let name = x.get("name").and_then(Value::as_str).ok_or_else(|| {
                        AiError::Invalid("an action without a \"name\" text".into())
                    })?;
                    let reason = x.get("reason").and_then(Value::as_str).unwrap_or("");
                    Ok(Choice {
                        name: name.to_string(),
                        reason: cut(reason, 1000),
                    })
                })
                .collect::<Result<Vec<_>, AiError>>()?
        }
        Some(_) => return Err(AiError::Invalid("\"actions\" is not a list".into())),
    };
    if actions.len() > MAX_ACTIONS {
        return Err(AiError::Invalid(format!(
            "{} actions in one decision (at most {MAX_ACTIONS})",
            actions.len()
        )));
    }
    Ok(Decision {
        summary: cut(summary, 2000),
        actions,
    })
}

/// Parses a chat-completions response body: the content and the usage.
pub fn parse_completion(body: &[u8]) -> Result<(String, Usage), AiError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        AiError::Invalid(format!(
            "the API answered non-JSON: \"{}\"",
            cut(&String::from_utf8_lossy(body), 80)
        ))
    })?;
    let content = v
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| AiError::Invalid("no choices[0].message.content in the answer".into()))?;
    let u = |k: &str| v.pointer(&format!("/usage/{k}")).and_then(Value::as_i64);
    Ok((
        content.to_string(),
        Usage {
            prompt_tokens: u("prompt_tokens"),
            completion_tokens: u("completion_tokens"),
            total_tokens: u("total_tokens"),
        },
    ))
}

/// The readings as sent: one object a sensor.
pub fn readings_json(hub: &Hub) -> Value {
    let now = std::time::Instant::now();
    let sensors = lock(&hub.sensors);
    let list: Vec<Value> = sensors
        .iter()
        .map(|(name, s)| {
            let stale = s.stale(now, hub.timeout(name));
            json!({
                "sensor": name,
                "value": s.value,
                "unit": s.unit,
                "age_s": s.updated.map(|(t, _)| now.duration_since(t).as_secs()),
                "stale": stale,
                "error": s.last_error,
            })
        })
        .collect();
    Value::Array(list)
}

/// The user message: readings with staleness spelled out, the allowed
/// actions, the answer's shape (pure).
pub fn build_prompt(now: chrono::DateTime<Utc>, readings: &Value, actions: &Allowlist) -> String {
    let mut p = format!(
        "Readings at {}:\n",
        now.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    for r in readings.as_array().into_iter().flatten() {
        let name = r["sensor"].as_str().unwrap_or("?");
        let unit = r["unit"]
            .as_str()
            .map(|u| format!(" {u}"))
            .unwrap_or_default();
        let age = r["age_s"].as_u64();
        let line = match (r["value"].as_f64(), r["stale"].as_bool().unwrap_or(false)) {
            (None, _) => "no value (the sensor is failing)".to_string(),
            (Some(v), false) => format!("{v}{unit} (read {}s ago)", age.unwrap_or(0)),
            (Some(v), true) => format!(
                "{v}{unit} STALE: last successful read {} ago, the sensor is failing now; not a current value",
                crate::text::human_duration(Duration::from_secs(age.unwrap_or(0)))
            ),
        };
        p.push_str(&format!("- {name}: {line}\n"));
    }
    p.push_str("\nActions you may choose, by name only:\n");
    let mut any = false;
    for a in actions.list() {
        any = true;
        p.push_str(&format!("- {}: {}\n", a.name, a.description));
    }
    if !any {
        p.push_str("(none: only summarize)\n");
    }
    p.push_str(
        "\nAnswer with one JSON object: {\"summary\": \"one or two sentences\", \"actions\": [{\"name\": \"an action name from the list\", \"reason\": \"why\"}]}. Use an empty \"actions\" list when nothing should run.\n",
    );
    p
}

/// Something that answers a prompt; the loop is generic over it so tests
/// can script one on a paused clock.
pub trait Decider: Send {
    fn decide(&mut self, prompt: &str) -> impl Future<Output = Result<Answer, AiError>> + Send;
}

/// The OpenAI-compatible client.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    url: String,
    model: String,
    key: Option<Secret>,
    system_prompt: String,
    /// Ask for `response_format: json_object` until a server refuses it.
    json_mode: bool,
}

impl Client {
    pub fn new(ai: &Ai, key: Option<Secret>, system_prompt: String) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(ai.timeout)
            .user_agent(concat!("grokmon/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client {
            http,
            url: format!("{}/chat/completions", ai.base_url.trim_end_matches('/')),
            model: ai.model.clone(),
            key,
            system_prompt,
            json_mode: true,
        })
    }

    /// The key out of outside text; the text stays raw (bounded by the
    /// caller): every output escapes it once.
    fn redact(&self, s: &str) -> String {
        match &self.key {
            Some(k) => k.redact(s),
            None => s.to_string(),
        }
    }

    async fn post(
        &self,
        prompt: &str,
        json_mode: bool,
    ) -> Result<(u16, Option<Duration>, Vec<u8>), AiError> {
        let mut body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": self.system_prompt},
                {"role": "user", "content": prompt},
            ],
        });
        if json_mode {
            body["response_format"] = json!({"type": "json_object"});
        }
        let mut req = self.http.post(&self.url).json(&body);
        if let Some(k) = &self.key {
            let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", k.0))
                .map_err(|_| {
                    AiError::Connect("the API key holds characters not allowed in a header".into())
                })?;
            v.set_sensitive(true);
            req = req.header(reqwest::header::AUTHORIZATION, v);
        }
        let fail = |e: reqwest::Error| {
            if e.is_timeout() {
                AiError::Timeout(Duration::ZERO)
            } else {
                AiError::Connect(self.redact(&format!("{:#}", anyhow::Error::new(e.without_url()))))
            }
        };
        let mut resp = req.send().await.map_err(fail)?;
        let code = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let mut buf = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(fail)? {
            if buf.len() + chunk.len() > BODY_LIMIT {
                return Err(AiError::Invalid(format!(
                    "answer over {} KiB",
                    BODY_LIMIT / 1024
                )));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok((code, retry_after, buf))
    }
}

impl Decider for Client {
    async fn decide(&mut self, prompt: &str) -> Result<Answer, AiError> {
        let start = Instant::now();
        let (mut code, mut retry_after, mut body) = self.post(prompt, self.json_mode).await?;
        if code == 400
            && self.json_mode
            && String::from_utf8_lossy(&body).contains("response_format")
        {
            // A server without JSON mode: ask again without it, from now on.
            self.json_mode = false;
            (code, retry_after, body) = self.post(prompt, false).await?;
        }
        // The key goes from the whole answer before anything quotes or cuts
        // it: a cut first could leave a part of the key in a message.
        let body = match &self.key {
            Some(k) => k.redact_whole(&String::from_utf8_lossy(&body)).into_bytes(),
            None => body,
        };
        if !(200..300).contains(&code) {
            return Err(AiError::Status {
                code,
                retry_after,
                body: self.redact(&cut(String::from_utf8_lossy(&body).trim(), 200)),
            });
        }
        let (content, usage) = parse_completion(&body)?;
        // JSON escapes could have hidden the key from the redaction above.
        let content = match &self.key {
            Some(k) => k.redact_whole(&content),
            None => content,
        };
        let decision = parse_decision(&content).map_err(|e| match e {
            AiError::Invalid(m) => AiError::Invalid(self.redact(&m)),
            e => e,
        })?;
        Ok(Answer {
            decision,
            usage,
            latency: start.elapsed(),
        })
    }
}

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct Policy {
    pub model: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub steps: Vec<Duration>,
    pub dry_run: bool,
    /// Wait before the first decision (sensors need a first read).
    pub first: Duration,
}

impl Policy {
    pub fn new(ai: &Ai) -> Policy {
        // A zero interval would hammer the API; one second is the floor.
        let interval = ai.interval.max(Duration::from_secs(1));
        Policy {
            model: ai.model.clone(),
            interval,
            timeout: ai.timeout,
            steps: ai.backoff.0.clone(),
            dry_run: ai.dry_run,
            first: interval.min(Duration::from_secs(60)),
        }
    }
}

/// The decision loop: scheduled decisions, retries, actions, records.
pub async fn ai_loop<D: Decider>(
    policy: &Policy,
    decider: &mut D,
    actions: &Allowlist,
    hub: &Arc<Hub>,
    shutdown: &mut Shutdown,
) {
    let mut next = Instant::now() + policy.first;
    let slack = Duration::from_secs(60);
    loop {
        hub.progress("ai", next.saturating_duration_since(Instant::now()) + slack);
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = shutdown.wait() => return,
        }
        next += policy.interval;
        let mut attempt = 0usize;
        loop {
            hub.progress("ai", policy.timeout * 2 + slack);
            let readings = readings_json(hub);
            let prompt = build_prompt(crate::clock::now(), &readings, actions);
            let res = tokio::select! {
                r = tokio::time::timeout(policy.timeout, decider.decide(&prompt)) => {
                    r.unwrap_or(Err(AiError::Timeout(policy.timeout)))
                }
                _ = shutdown.wait() => return,
            };
            let res = match res {
                Err(AiError::Timeout(_)) => Err(AiError::Timeout(policy.timeout)),
                r => r,
            };
            match res {
                Ok(answer) => {
                    // An action may run for its whole timeout (30 s by
                    // default, beyond the shutdown deadline): a stop must not
                    // wait for it. Dropping it kills its process group.
                    tokio::select! {
                        _ = on_decision(policy, answer, readings, actions, hub) => {}
                        _ = shutdown.wait() => {
                            crate::errln!("ai: stopping during a decision: its actions were stopped, the decision is not recorded");
                            return;
                        }
                    }
                    break;
                }
                Err(e) => {
                    let n = {
                        let mut a = lock(&hub.ai);
                        a.failures += 1;
                        a.failures_total += 1;
                        // The API's JSON carries errors escaped once.
                        a.last_error = Some(crate::text::escape(&e.to_string()));
                        a.failures
                    };
                    if let Some(step) = policy.steps.get(attempt).copied() {
                        attempt += 1;
                        let wait = retry_wait(step, e.retry_after(), policy.interval);
                        crate::errln!(
                            "AI decision failed: {} (attempt {attempt}, retry in {})",
                            sanitize(&e.to_string()),
                            human_ms(wait)
                        );
                        hub.progress("ai", wait + slack);
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = shutdown.wait() => return,
                        }
                        continue;
                    }
                    crate::errln!(
                        "AI decision failed: {} (attempt {}, retries spent; next decision in {})",
                        sanitize(&e.to_string()),
                        attempt + 1,
                        human_ms(next.saturating_duration_since(Instant::now()))
                    );
                    let first = {
                        let mut a = lock(&hub.ai);
                        !std::mem::replace(&mut a.alerted, true)
                    };
                    if first {
                        hub.event(
                            Level::Warn,
                            "ai",
                            format!("decisions failing ({n} attempts): {e}; monitoring continues without AI"),
                        )
                        .await;
                    }
                    break;
                }
            }
        }
        let now = Instant::now();
        if next < now {
            next = now + policy.interval;
        }
    }
}

async fn on_decision(
    policy: &Policy,
    answer: Answer,
    readings: Value,
    actions: &Allowlist,
    hub: &Arc<Hub>,
) {
    let ts = crate::clock::now();
    let (failures, alerted) = {
        let mut a = lock(&hub.ai);
        let prev = (a.failures, a.alerted);
        a.failures = 0;
        a.alerted = false;
        a.last_error = None;
        a.decisions_total += 1;
        prev
    };
    if alerted {
        hub.event(
            Level::Ok,
            "ai",
            format!("decisions recovered after {failures} failed attempts"),
        )
        .await;
    } else if failures > 0 {
        crate::errln!("ai: recovered after {failures} failed attempts");
    }
    crate::errln!(
        "ai decision: {} ({} actions, {}ms)",
        sanitize(&cut(&answer.decision.summary, 200)),
        answer.decision.actions.len(),
        answer.latency.as_millis()
    );
    let mut records = Vec::new();
    for c in &answer.decision.actions {
        let rec = actions
            .execute(&c.name, &c.reason, policy.dry_run, hub)
            .await;
        crate::errln!(
            "ai action {}: {}{}",
            sanitize(&rec.name),
            rec.status.as_str(),
            if rec.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", sanitize(&rec.detail))
            }
        );
        // A rejected name is the model's text: one label for all of them,
        // so a chatty model cannot explode the metrics' cardinality.
        let label = if rec.status == super::actions::Status::Rejected {
            "(not allowed)".to_string()
        } else {
            rec.name.clone()
        };
        *lock(&hub.ai)
            .actions_total
            .entry((label, rec.status.as_str()))
            .or_default() += 1;
        records.push(rec);
    }
    let record = DecisionRecord {
        ts,
        model: policy.model.clone(),
        summary: answer.decision.summary.clone(),
        readings: readings.to_string(),
        latency_ms: answer.latency.as_millis() as u64,
        usage: answer.usage.clone(),
        dry_run: policy.dry_run,
        actions: records,
    };
    lock(&hub.ai).last_decision = Some(json!({
        "time": ts.to_rfc3339_opts(SecondsFormat::Secs, true),
        "model": record.model,
        "summary": record.summary,
        "latency_ms": record.latency_ms,
        "usage": record.usage,
        "dry_run": record.dry_run,
        "actions": record.actions,
    }));
    hub.enqueue(Record::Decision(Box::new(record)));
}

/// Spawned by `serve` when `[ai] enabled`: the decision loop, restarted
/// after backoff if it panics (it parses outside text).
pub async fn run_ai(
    policy: Policy,
    client: Client,
    actions: Arc<Allowlist>,
    hub: Arc<Hub>,
    shutdown: Shutdown,
) {
    let steps = policy.steps.clone();
    super::supervisor::supervise(
        "ai".to_string(),
        steps,
        shutdown,
        || {},
        move |mut sd| {
            let (policy, mut client, actions, hub) =
                (policy.clone(), client.clone(), actions.clone(), hub.clone());
            async move {
                ai_loop(&policy, &mut client, &actions, &hub, &mut sd).await;
            }
        },
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_parse_raw_and_fenced() {
        let d = parse_decision(
            r#"{"summary": "warm", "actions": [{"name": "fan_on", "reason": "27 °C"}]}"#,
        )
        .unwrap();
        assert_eq!(
            d.actions,
            vec![Choice {
                name: "fan_on".into(),
                reason: "27 °C".into()
            }]
        );
        let fenced = "Here you go:\n```json\n{\"summary\": \"ok\", \"actions\": []}\n```\n";
        assert_eq!(parse_decision(fenced).unwrap().summary, "ok");
        let no_actions = parse_decision(r#"{"summary": "ok"}"#).unwrap();
        assert!(no_actions.actions.is_empty());
    }

    #[test]
    fn invalid_answers_are_errors() {
        for (text, needle) in [
            ("The temperature looks fine to me.", "not JSON"),
            ("{\"summary\": 3}", "summary"),
            (
                "{\"summary\": \"x\", \"actions\": \"fan_on\"}",
                "not a list",
            ),
            (
                "{\"summary\": \"x\", \"actions\": [{\"reason\": \"r\"}]}",
                "name",
            ),
            ("{not json", "not JSON"),
        ] {
            let e = parse_decision(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn completion_body() {
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"{}"}}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}"#;
        let (c, u) = parse_completion(body).unwrap();
        assert_eq!(c, "{}");
        assert_eq!(u.total_tokens, Some(15));
        assert!(parse_completion(b"<html>").is_err());
        assert!(parse_completion(b"{\"choices\":[]}").is_err());
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let m = Duration::from_secs(60);
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(
            retry_wait(m, Some(Duration::from_secs(7)), m * 30),
            Duration::from_secs(7)
        );
        assert_eq!(
            retry_wait(m, Some(Duration::from_secs(86400)), m * 30),
            m * 30
        );
        assert_eq!(retry_wait(m, None, m * 30), m);
    }

    #[test]
    fn the_visible_ends_of_a_masked_key_echo_are_redacted_too() {
        let k = Secret("sk-SENTINEL-7f3a9c-never-print".into());
        // As OpenAI and xAI answer a 401: the key masked but for its ends.
        let got = k.redact("Incorrect API key provided: sk-SENT*****************rint. See https://platform.example/keys (HTTP 401)");
        assert!(!got.contains("SENT") && !got.contains("rint"), "{got}");
        assert_eq!(
            got,
            "Incorrect API key provided: [redacted]*****************[redacted]. See https://platform.example/keys (HTTP 401)"
        );
        // Short runs (under 4 characters) and other words stay.
        assert_eq!(k.redact("sk 7f a key"), "sk 7f a key");
        // An answer still to be parsed loses only the whole key.
        assert_eq!(
            k.redact_whole("{\"summary\": \"never print sk-SENTINEL-7f3a9c-never-print\"}"),
            "{\"summary\": \"never print [redacted]\"}"
        );
    }

    #[test]
    fn secrets_are_redacted_and_never_debug_printed() {
        let k = Secret("sk-SENTINEL-123".into());
        assert_eq!(format!("{k:?}"), "<redacted>");
        assert_eq!(k.redact("bad key sk-SENTINEL-123!"), "bad key [redacted]!");
    }

    /// Answers from a script and records when it was asked.
    struct Scripted {
        answers: Vec<Result<Answer, AiError>>,
        calls: Arc<std::sync::Mutex<Vec<u64>>>,
        t0: Instant,
    }

    impl Decider for Scripted {
        async fn decide(&mut self, _prompt: &str) -> Result<Answer, AiError> {
            self.calls.lock().unwrap().push(self.t0.elapsed().as_secs());
            if self.answers.is_empty() {
                return Err(AiError::Connect("script ended".into()));
            }
            self.answers.remove(0)
        }
    }

    fn ok() -> Result<Answer, AiError> {
        Ok(Answer {
            decision: Decision {
                summary: "fine".into(),
                actions: vec![],
            },
            usage: Usage::default(),
            latency: Duration::ZERO,
        })
    }

    fn err500() -> Result<Answer, AiError> {
        Err(AiError::Status {
            code: 500,
            retry_after: None,
            body: String::new(),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn retries_after_the_steps_then_waits_for_the_schedule() {
        let dir = tempfile::tempdir().unwrap();
        let env = crate::config::Env {
            home: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let text = format!(
            "[paths]\nalerts_log = \"{}/alerts.log\"\n[ai]\nenabled = true\n",
            dir.path().display()
        );
        let cfg =
            crate::config::Config::parse(&text, crate::config::Source::Defaults, &env).unwrap();
        let hub = Arc::new(Hub::new(&cfg, 100));
        let policy = Policy::new(&cfg.ai);
        assert_eq!(
            (policy.first, policy.interval),
            (Duration::from_secs(60), Duration::from_secs(1800))
        );
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut d = Scripted {
            // 4 failures (first try + 3 retries), then a 429 asking for 7 s, then fine.
            answers: vec![
                err500(),
                err500(),
                err500(),
                err500(),
                Err(AiError::Status {
                    code: 429,
                    retry_after: Some(Duration::from_secs(7)),
                    body: String::new(),
                }),
                ok(),
            ],
            calls: calls.clone(),
            t0: Instant::now(),
        };
        let (trigger, mut sd) = crate::orchestrator::shutdown::Trigger::new();
        let h = {
            let hub = hub.clone();
            tokio::spawn(async move {
                let actions = Allowlist::new(&[]);
                ai_loop(&policy, &mut d, &actions, &hub, &mut sd).await;
            })
        };
        tokio::time::sleep(Duration::from_secs(1900)).await;
        trigger.fire();
        h.await.unwrap();
        // The alert lines are written by the appender: a stopped one drains them.
        let rx = hub.take_alert_rx().unwrap();
        crate::orchestrator::appender::appender_loop(hub.clone(), rx, trigger.subscribe()).await;
        // 60 first; +1m, +2m, +5m retries; spent; next schedule at 60+1800;
        // the 429's Retry-After (7 s) instead of the 1m step.
        assert_eq!(*calls.lock().unwrap(), vec![60, 120, 240, 540, 1860, 1867]);
        let a = lock(&hub.ai).clone();
        assert_eq!((a.failures, a.failures_total, a.decisions_total), (0, 5, 1));
        let log = std::fs::read_to_string(dir.path().join("alerts.log")).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 2, "{log}");
        assert!(
            lines[0].contains("WARN ai: decisions failing (4 attempts): HTTP 500"),
            "{log}"
        );
        assert!(lines[1].contains("OK   ai: decisions recovered"), "{log}");
    }

    #[test]
    fn system_prompt_from_text_or_file() {
        let mut ai = Ai::default();
        assert!(load_system_prompt(&ai).unwrap().contains("STALE"));
        ai.system_prompt = Some("be brief".into());
        assert_eq!(load_system_prompt(&ai).unwrap(), "be brief");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("prompt.txt");
        std::fs::write(&f, "from a file").unwrap();
        ai.system_prompt = Some(format!("@{}", f.display()));
        assert_eq!(load_system_prompt(&ai).unwrap(), "from a file");
        ai.system_prompt = Some("@/nonexistent/prompt".into());
        assert!(
            load_system_prompt(&ai)
                .unwrap_err()
                .to_string()
                .contains("/nonexistent/prompt")
        );
    }

    #[test]
    fn key_sources() {
        let mut ai = Ai {
            api_key_env: Some("K".into()),
            ..Ai::default()
        };
        assert!(
            load_key(&ai, |_| Some("abc".into()), None)
                .unwrap()
                .is_some()
        );
        let e = load_key(&ai, |_| None, None).unwrap_err().to_string();
        assert!(e.contains("K"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("xai"), "sk-file\n").unwrap();
        ai.api_key_env = None;
        ai.api_key_file = Some("xai".into());
        let k = load_key(&ai, |_| None, Some(dir.path())).unwrap().unwrap();
        assert_eq!(k.0, "sk-file");
        ai.api_key_file = None;
        assert!(load_key(&ai, |_| None, None).unwrap().is_none());
    }
}
