//! The supervisor: each sensor's polling loop with the failure handling of
//! DESIGN.md's Layer 1, and the wrapper that restarts a task that panicked.
//!
//! A failed read is retried after the backoff steps (10 s, 20 s, 30 s, then
//! 30 s for ever), while the last known value is served marked stale; after
//! `reconnect_after` consecutive failures the sensor is reconnected; if it
//! still fails, one WARN line goes to the alerts log (not one per retry), and
//! one OK line when it recovers. Every failed read writes a journal line
//! with `Sensor read failed:`, which recovery procedures grep for.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::SecondsFormat;

use super::backoff::{longest, next_delay, retry_delay};
use super::hub::{Hub, Reading, Record, lock};
use super::sensor::{ReadError, Source};
use super::shutdown::Shutdown;
use crate::alerts::Level;
use crate::config::{Orchestrator, Sensor};
use crate::text::human_ms;
use crate::text::sanitize;

/// How a sensor is polled.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub steps: Vec<Duration>,
    pub reconnect_after: u32,
}

impl Policy {
    pub fn new(s: &Sensor, o: &Orchestrator) -> Policy {
        Policy {
            name: s.name.clone(),
            interval: s.interval,
            timeout: s.timeout,
            steps: o.backoff.0.clone(),
            reconnect_after: o.reconnect_after.max(1),
        }
    }

    /// The longest a healthy loop stays silent: its longest wait, jitter
    /// included, plus a read and a reconnection, plus slack. The watchdog
    /// withholds its ping past it.
    pub fn deadline(&self) -> Duration {
        self.interval
            .max(longest(&self.steps))
            .mul_f64(1.0 + super::backoff::JITTER)
            + self.timeout * 2
            + Duration::from_secs(30)
    }
}

/// Polls one sensor until shutdown. `jitter` yields values in `[0, 1)`.
pub async fn sensor_loop<S: Source, J: FnMut() -> f64 + Send>(
    policy: &Policy,
    source: &mut S,
    hub: &Hub,
    shutdown: &mut Shutdown,
    mut jitter: J,
) {
    let key = format!("sensor.{}", policy.name);
    loop {
        hub.progress(&key, policy.deadline());
        let res = tokio::select! {
            r = tokio::time::timeout(policy.timeout, source.read()) => {
                r.unwrap_or(Err(ReadError::Timeout(policy.timeout)))
            }
            _ = shutdown.wait() => return,
        };
        let delay = match res {
            Ok(v) => {
                on_success(policy, hub, v).await;
                next_delay(policy.interval, &policy.steps, 0, jitter())
            }
            Err(e) => {
                let n = lock(&hub.sensors)
                    .get(&policy.name)
                    .map_or(0, |s| s.failures)
                    + 1;
                let delay = next_delay(policy.interval, &policy.steps, n, jitter());
                on_failure(policy, source, hub, shutdown, &e, delay).await;
                delay
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.wait() => return,
        }
    }
}

async fn on_success(policy: &Policy, hub: &Hub, v: f64) {
    let now = crate::clock::now();
    let (unit, prev_failures, was_alerted, since) = {
        let mut sensors = lock(&hub.sensors);
        let s = sensors.entry(policy.name.clone()).or_default();
        let prev = (s.unit.clone(), s.failures, s.alerted, s.failing_since);
        s.value = Some(v);
        s.updated = Some((Instant::now(), now));
        s.failures = 0;
        s.last_error = None;
        s.alerted = false;
        s.failing_since = None;
        s.reads_total += 1;
        prev
    };
    hub.enqueue(Record::Reading(Reading {
        ts: now,
        sensor: policy.name.clone(),
        value: v,
        unit,
        stale: false,
    }));
    if prev_failures > 0 {
        let down = since
            .map(|t| (now - t).to_std().unwrap_or_default())
            .unwrap_or_default();
        let msg = format!(
            "recovered after {prev_failures} failed reads ({})",
            human_ms(down)
        );
        if was_alerted {
            hub.event(Level::Ok, &format!("sensor.{}", policy.name), msg)
                .await;
        } else {
            crate::errln!("sensor {}: {msg}", policy.name);
        }
    }
}

async fn on_failure<S: Source>(
    policy: &Policy,
    source: &mut S,
    hub: &Hub,
    shutdown: &mut Shutdown,
    e: &ReadError,
    delay: Duration,
) {
    let now = crate::clock::now();
    let (n, last, since, unit) = {
        let mut sensors = lock(&hub.sensors);
        let s = sensors.entry(policy.name.clone()).or_default();
        s.failures += 1;
        s.failures_total += 1;
        // The API's JSON carries errors escaped once, like every output.
        s.last_error = Some(crate::text::escape(&e.to_string()));
        let since = *s.failing_since.get_or_insert(now);
        (s.failures, s.value.zip(s.updated), since, s.unit.clone())
    };
    let serving = match last {
        Some((v, (at, _))) => {
            hub.enqueue(Record::Reading(Reading {
                ts: now,
                sensor: policy.name.clone(),
                value: v,
                unit,
                stale: true,
            }));
            format!("serving the last value, {} old", human_ms(at.elapsed()))
        }
        None => "no value yet".to_string(),
    };
    crate::errln!(
        "Sensor read failed: {}: {} (failure {n}, {serving}; next try in {})",
        policy.name,
        sanitize(&e.to_string()),
        human_ms(delay)
    );
    if n == policy.reconnect_after {
        crate::errln!(
            "sensor {}: reconnecting after {n} failed reads",
            policy.name
        );
        let r = tokio::select! {
            r = source.reconnect() => r,
            _ = shutdown.wait() => return,
        };
        if let Some(s) = lock(&hub.sensors).get_mut(&policy.name) {
            s.reconnects_total += 1;
        }
        if let Err(err) = r {
            crate::errln!(
                "sensor {}: reconnect failed: {}",
                policy.name,
                sanitize(&err)
            );
        }
    } else if n == policy.reconnect_after + 1 {
        let first = {
            let mut sensors = lock(&hub.sensors);
            let s = sensors.entry(policy.name.clone()).or_default();
            !std::mem::replace(&mut s.alerted, true)
        };
        if first {
            let msg = format!(
                "read failed {n} times since {}, still failing after a reconnect: {e}; {serving}, retrying every {}",
                since.to_rfc3339_opts(SecondsFormat::Secs, true),
                human_ms(longest(&policy.steps)),
            );
            hub.event(Level::Warn, &format!("sensor.{}", policy.name), msg)
                .await;
        }
    }
}

/// The text of a panic payload.
fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-text panic".to_string()
    }
}

/// Runs the task `make` builds until it returns (at shutdown); a panic inside
/// it is caught, logged, and the task is built again after backoff, so one
/// broken part never ends the process. `on_panic` counts it.
pub async fn supervise<F, Fut>(
    what: String,
    steps: Vec<Duration>,
    mut shutdown: Shutdown,
    mut on_panic: impl FnMut(),
    mut make: F,
) where
    F: FnMut(Shutdown) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut panics = 0u32;
    loop {
        let task = tokio::spawn(make(shutdown.clone()));
        match task.await {
            Ok(()) => return,
            Err(e) if e.is_panic() => {
                panics += 1;
                on_panic();
                // No jitter: a panic is a bug, not a shared outage.
                let delay = retry_delay(&steps, panics, 0.0);
                crate::errln!(
                    "{what}: task panicked: {}; restarting in {}",
                    sanitize(&panic_message(e.into_panic())),
                    human_ms(delay)
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.wait() => return,
                }
            }
            Err(_) => return,
        }
    }
}

/// Spawns-and-awaits the supervised loop of one sensor.
pub async fn run_sensor(sensor: Sensor, orch: Orchestrator, hub: Arc<Hub>, shutdown: Shutdown) {
    let policy = Policy::new(&sensor, &orch);
    let name = sensor.name.clone();
    let hub2 = hub.clone();
    supervise(
        format!("sensor {name}"),
        policy.steps.clone(),
        shutdown,
        move || {
            if let Some(s) = lock(&hub2.sensors).get_mut(&name) {
                s.restarts_total += 1;
            }
        },
        move |mut sd| {
            let hub = hub.clone();
            let policy = policy.clone();
            let mut reader = super::sensor::Reader::new(sensor.clone(), hub.clone());
            async move {
                sensor_loop(&policy, &mut reader, &hub, &mut sd, fastrand::f64).await;
            }
        },
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Env, Source as CfgSource};
    use crate::orchestrator::shutdown::Trigger;
    use std::sync::Mutex;
    use tokio::time::Instant as TInstant;

    /// A source that answers from a script and records when it was asked.
    struct Scripted {
        answers: Vec<Result<f64, ReadError>>,
        calls: Arc<Mutex<Vec<(TInstant, &'static str)>>>,
    }

    impl Source for Scripted {
        async fn read(&mut self) -> Result<f64, ReadError> {
            self.calls.lock().unwrap().push((TInstant::now(), "read"));
            if self.answers.is_empty() {
                Ok(1.0)
            } else {
                self.answers.remove(0)
            }
        }
        async fn reconnect(&mut self) -> Result<(), String> {
            self.calls
                .lock()
                .unwrap()
                .push((TInstant::now(), "reconnect"));
            Ok(())
        }
    }

    fn hub(dir: &std::path::Path) -> Arc<Hub> {
        let text = format!(
            "[paths]\nalerts_log = \"{}/alerts.log\"\n[[sensor]]\nname = \"t\"\nkind = \"sim\"\n",
            dir.display()
        );
        let env = Env {
            home: Some(dir.to_path_buf()),
            ..Env::default()
        };
        let cfg = Config::parse(&text, CfgSource::Defaults, &env).unwrap();
        Arc::new(Hub::new(&cfg, 100))
    }

    fn fail() -> Result<f64, ReadError> {
        Err(ReadError::Failed("boom".into()))
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_schedule_on_a_paused_clock() {
        let dir = tempfile::tempdir().unwrap();
        let hub = hub(dir.path());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let mut src = Scripted {
            answers: vec![Ok(5.0), fail(), fail(), fail(), fail(), fail(), Ok(6.0)],
            calls: calls.clone(),
        };
        let policy = Policy {
            name: "t".into(),
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
            steps: vec![
                Duration::from_secs(10),
                Duration::from_secs(20),
                Duration::from_secs(30),
            ],
            reconnect_after: 3,
        };
        let (trigger, mut sd) = Trigger::new();
        let t0 = TInstant::now();
        let h = {
            let hub = hub.clone();
            tokio::spawn(async move {
                sensor_loop(&policy, &mut src, &hub, &mut sd, || 0.0).await;
            })
        };
        // Let the schedule play out: 60 + 10 + 20 + 30 + 30 + 30 + 60 s.
        tokio::time::sleep(Duration::from_secs(245)).await;
        trigger.fire();
        h.await.unwrap();
        // The alert lines are written by the appender: a stopped one drains them.
        let rx = hub.take_alert_rx().unwrap();
        crate::orchestrator::appender::appender_loop(hub.clone(), rx, trigger.subscribe()).await;
        let calls = calls.lock().unwrap().clone();
        let at: Vec<(u64, &str)> = calls
            .iter()
            .map(|(t, w)| (t.duration_since(t0).as_secs(), *w))
            .collect();
        assert_eq!(
            at,
            vec![
                (0, "read"),  // ok
                (60, "read"), // fail 1
                (70, "read"), // fail 2
                (90, "read"), // fail 3 → reconnect
                (90, "reconnect"),
                (120, "read"), // fail 4 → WARN
                (150, "read"), // fail 5
                (180, "read"), // ok → OK
                (240, "read"),
            ]
        );
        let log = std::fs::read_to_string(dir.path().join("alerts.log")).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 2, "{log}");
        assert!(
            lines[0].contains("WARN sensor.t: read failed 4 times"),
            "{log}"
        );
        assert!(
            lines[1].contains("OK   sensor.t: recovered after 5 failed reads"),
            "{log}"
        );
        let s = lock(&hub.sensors).get("t").cloned().unwrap();
        assert_eq!(
            (s.failures, s.failures_total, s.reconnects_total),
            (0, 5, 1)
        );
        assert_eq!(s.value, Some(1.0));
        // Fresh, stale (5 failures serve the last value 5.0), fresh.
        let recs = hub.queue.take(100);
        let readings: Vec<(f64, bool)> = recs
            .iter()
            .filter_map(|r| match r {
                Record::Reading(r) => Some((r.value, r.stale)),
                _ => None,
            })
            .collect();
        assert_eq!(
            &readings[..7],
            &[
                (5.0, false),
                (5.0, true),
                (5.0, true),
                (5.0, true),
                (5.0, true),
                (5.0, true),
                (6.0, false),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_read_times_out_and_shutdown_interrupts_a_wait() {
        struct Hang;
        impl Source for Hang {
            async fn read(&mut self) -> Result<f64, ReadError> {
                std::future::pending().await
            }
            async fn reconnect(&mut self) -> Result<(), String> {
                Ok(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let hub = hub(dir.path());
        let policy = Policy {
            name: "t".into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(3),
            steps: vec![Duration::from_secs(100)],
            reconnect_after: 3,
        };
        let (trigger, mut sd) = Trigger::new();
        let h = {
            let hub = hub.clone();
            tokio::spawn(async move {
                sensor_loop(&policy, &mut Hang, &hub, &mut sd, || 0.0).await;
            })
        };
        tokio::time::sleep(Duration::from_secs(4)).await;
        let s = lock(&hub.sensors).get("t").cloned().unwrap();
        assert_eq!(s.failures, 1);
        assert_eq!(s.last_error.as_deref(), Some("timed out after 3s"));
        let t = TInstant::now();
        trigger.fire();
        h.await.unwrap();
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "shutdown waited out the backoff"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_task_is_restarted_after_backoff() {
        let (trigger, sd) = Trigger::new();
        let runs = Arc::new(Mutex::new(Vec::new()));
        let panics = Arc::new(Mutex::new(0));
        let t0 = TInstant::now();
        let h = {
            let runs = runs.clone();
            let panics = panics.clone();
            tokio::spawn(supervise(
                "test".into(),
                vec![Duration::from_secs(10), Duration::from_secs(20)],
                sd,
                move || *panics.lock().unwrap() += 1,
                move |mut sd| {
                    let runs = runs.clone();
                    async move {
                        let n = {
                            let mut r = runs.lock().unwrap();
                            r.push(t0.elapsed().as_secs());
                            r.len()
                        };
                        if n <= 2 {
                            panic!("sensor bug #{n}");
                        }
                        sd.wait().await;
                    }
                },
            ))
        };
        tokio::time::sleep(Duration::from_secs(100)).await;
        trigger.fire();
        h.await.unwrap();
        assert_eq!(*runs.lock().unwrap(), vec![0, 10, 30]);
        assert_eq!(*panics.lock().unwrap(), 2);
    }
}
