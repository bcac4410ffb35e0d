//! Sensors: one read of one value, by kind (`command`, `http`, `file`,
//! `sim`), and the pure parsers behind them. Reading is kept apart from
//! parsing (`parse_value`, `parse_file` are pure and tested on literal text).
//!
//! Every read is bounded: output beyond `OUTPUT_LIMIT` is an error, not a
//! buffer that grows; a command runs in its own process group, and that whole
//! group, with what left it (`setsid`, see `tree`), is killed when the read
//! ends for any reason (done, timed out, cancelled by shutdown), so a hung
//! sensor script cannot leave children behind (`process`).
//! The timeout itself is applied by the supervisor around `read`.

use std::future::Future;
use std::sync::Arc;

use super::hub::Hub;
use super::process::failure_message;
pub use super::process::{CommandOutput, OUTPUT_LIMIT, ReadError, STDERR_LIMIT, quote, run_argv};
use crate::config::{Sensor, SensorKind};

/// Something that can be read and reconnected; the supervisor is generic over
/// it so that tests can script one.
pub trait Source: Send {
    fn read(&mut self) -> impl Future<Output = Result<f64, ReadError>> + Send;
    /// The reconnection step after repeated failures.
    fn reconnect(&mut self) -> impl Future<Output = Result<(), String>> + Send;
}

/// A number from a JSON value: a number, or a string holding one.
fn json_number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parses a sensor's output: the number at `pointer` in a JSON document, or
/// the whole (trimmed) text as a number.
pub fn parse_value(text: &str, pointer: Option<&str>) -> Result<f64, ReadError> {
    let v = match pointer {
        Some(p) => {
            let doc: serde_json::Value = serde_json::from_str(text)
                .map_err(|_| ReadError::Garbage(format!("expected JSON, got {}", quote(text))))?;
            let at = doc
                .pointer(p)
                .ok_or_else(|| ReadError::Garbage(format!("no value at {p} in {}", quote(text))))?;
            json_number(at).ok_or_else(|| {
                ReadError::Garbage(format!("the value at {p} is {}", quote(&at.to_string())))
            })?
        }
        None => text
            .trim()
            .parse::<f64>()
            .map_err(|_| ReadError::Garbage(quote(text)))?,
    };
    if v.is_finite() {
        Ok(v)
    } else {
        Err(ReadError::Garbage(quote(text)))
    }
}

/// Parses a file sensor: a 1-Wire `w1_slave` (`... crc=.. YES` then
/// `... t=23125`) or any file holding a number, then scales it.
pub fn parse_file(text: &str, scale: f64) -> Result<f64, ReadError> {
    let raw = if let Some(pos) = text.rfind("t=") {
        if text
            .lines()
            .next()
            .is_some_and(|l| l.contains("crc=") && l.trim_end().ends_with("NO"))
        {
            return Err(ReadError::Failed("1-Wire CRC check failed".into()));
        }
        parse_value(&text[pos + 2..], None)?
    } else {
        parse_value(text, None)?
    };
    Ok(raw * scale)
}

/// The `sim` kind's state: a seeded random walk with injectable failures.
struct Sim {
    rng: fastrand::Rng,
    value: f64,
    n: u64,
    fail_every: Option<u64>,
    hang_every: Option<u64>,
    garbage_every: Option<u64>,
}

impl Sim {
    fn new(s: &Sensor) -> Sim {
        Sim {
            rng: fastrand::Rng::with_seed(s.seed.unwrap_or(1)),
            value: s.start.unwrap_or(20.0),
            n: 0,
            fail_every: s.fail_every.filter(|&n| n > 0),
            hang_every: s.hang_every.filter(|&n| n > 0),
            garbage_every: s.garbage_every.filter(|&n| n > 0),
        }
    }

    async fn read(&mut self) -> Result<f64, ReadError> {
        self.n += 1;
        let hit = |every: Option<u64>| every.is_some_and(|e| self.n.is_multiple_of(e));
        if hit(self.hang_every) {
            std::future::pending::<()>().await;
        }
        if hit(self.fail_every) {
            return Err(ReadError::Failed("simulated failure".into()));
        }
        if hit(self.garbage_every) {
            return parse_value("\u{1b}[31mE#R\u{7}", None);
        }
        self.value += (self.rng.f64() - 0.5) * 0.5;
        Ok((self.value * 100.0).round() / 100.0)
    }
}

enum Kind {
    Command,
    /// The client, or why none could be built (reported at each read).
    Http(Result<reqwest::Client, String>),
    File,
    Sim(Sim),
}

/// A configured sensor, ready to read.
pub struct Reader {
    cfg: Sensor,
    kind: Kind,
    hub: Arc<Hub>,
    /// A file read that outlived its timeout and may still hang in its thread.
    pending: Option<tokio::task::JoinHandle<Result<Vec<u8>, ReadError>>>,
}

fn http_client(s: &Sensor) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(s.timeout)
        .user_agent(concat!("grokmon/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

impl Reader {
    pub fn new(cfg: Sensor, hub: Arc<Hub>) -> Reader {
        let kind = match cfg.kind {
            SensorKind::Command => Kind::Command,
            SensorKind::Http => Kind::Http(http_client(&cfg)),
            SensorKind::File => Kind::File,
            SensorKind::Sim => Kind::Sim(Sim::new(&cfg)),
        };
        Reader {
            cfg,
            kind,
            hub,
            pending: None,
        }
    }

    async fn read_command(&self) -> Result<f64, ReadError> {
        let argv = self.cfg.command.as_deref().unwrap_or_default();
        let out = run_argv(argv, &self.hub).await?;
        if !out.success {
            return Err(ReadError::Failed(failure_message(&out)));
        }
        parse_value(
            &String::from_utf8_lossy(&out.stdout),
            self.cfg.json_pointer.as_deref(),
        )
    }

    async fn read_http(&self, client: &reqwest::Client) -> Result<f64, ReadError> {
        let url = self.cfg.url.as_deref().unwrap_or_default();
        // Errors never carry the URL: it may hold a token.
        let fail = |e: reqwest::Error| {
            if e.is_timeout() {
                ReadError::Timeout(self.cfg.timeout)
            } else {
                ReadError::Failed(format!("{:#}", anyhow::Error::new(e.without_url())))
            }
        };
        let mut resp = client.get(url).send().await.map_err(fail)?;
        let code = resp.status();
        if !code.is_success() {
            return Err(ReadError::Failed(format!("HTTP {}", code.as_u16())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(fail)? {
            if body.len() + chunk.len() > OUTPUT_LIMIT {
                return Err(ReadError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        parse_value(
            &String::from_utf8_lossy(&body),
            self.cfg.json_pointer.as_deref(),
        )
    }

    async fn read_file(&mut self) -> Result<f64, ReadError> {
        let path = self.cfg.path.as_deref().unwrap_or(std::path::Path::new(""));
        // Blocking file I/O (sysfs, 1-Wire reads take ~750 ms) off the runtime thread.
        let p = path.to_path_buf();
        // A read that timed out can still hang in its thread (a stuck bus, a
        // FIFO): the next read waits for it instead of starting another, so
        // hung reads cannot take every blocking thread from the store and
        // the alerts log.
        let read = self.pending.get_or_insert_with(|| {
            tokio::task::spawn_blocking(move || {
                use std::io::Read;
                let f = std::fs::File::open(&p)
                    .map_err(|e| ReadError::Failed(format!("cannot read {}: {e}", p.display())))?;
                let mut buf = Vec::new();
                f.take(OUTPUT_LIMIT as u64 + 1)
                    .read_to_end(&mut buf)
                    .map_err(|e| ReadError::Failed(format!("cannot read {}: {e}", p.display())))?;
                if buf.len() > OUTPUT_LIMIT {
                    return Err(ReadError::TooLarge);
                }
                Ok(buf)
            })
        });
        let res = read.await;
        self.pending = None;
        let bytes = res.map_err(|e| ReadError::Failed(format!("file read task failed: {e}")))??;
        parse_file(
            &String::from_utf8_lossy(&bytes),
            self.cfg.scale.unwrap_or(1.0),
        )
    }
}

impl Source for Reader {
    async fn read(&mut self) -> Result<f64, ReadError> {
        match &mut self.kind {
            Kind::Command => self.read_command().await,
            Kind::Http(Ok(c)) => {
                let c = c.clone();
                self.read_http(&c).await
            }
            Kind::Http(Err(e)) => Err(ReadError::Failed(e.clone())),
            Kind::File => self.read_file().await,
            Kind::Sim(s) => s.read().await,
        }
    }

    async fn reconnect(&mut self) -> Result<(), String> {
        if self.cfg.kind == SensorKind::Http {
            // A fresh client: new connections, new DNS answers.
            self.kind = Kind::Http(http_client(&self.cfg));
        }
        if let Some(argv) = self.cfg.reconnect.clone() {
            let run = run_argv(&argv, &self.hub);
            let out = tokio::time::timeout(self.cfg.timeout, run)
                .await
                .map_err(|_| {
                    format!(
                        "reconnect command timed out after {}",
                        humantime::format_duration(self.cfg.timeout)
                    )
                })?
                .map_err(|e| format!("reconnect command: {e}"))?;
            if !out.success {
                return Err(format!("reconnect command: {}", failure_message(&out)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn plain_numbers() {
        assert_eq!(parse_value("21.5\n", None), Ok(21.5));
        assert_eq!(parse_value("  -3 ", None), Ok(-3.0));
        assert!(matches!(parse_value("", None), Err(ReadError::Garbage(_))));
        assert!(matches!(
            parse_value("NaN", None),
            Err(ReadError::Garbage(_))
        ));
        assert!(matches!(
            parse_value("inf", None),
            Err(ReadError::Garbage(_))
        ));
    }

    #[test]
    fn json_pointer() {
        let doc = r#"{"celsius": 21.5, "nested": {"v": "7.25"}, "s": "warm"}"#;
        assert_eq!(parse_value(doc, Some("/celsius")), Ok(21.5));
        assert_eq!(parse_value(doc, Some("/nested/v")), Ok(7.25));
        let e = parse_value(doc, Some("/missing")).unwrap_err().to_string();
        assert!(e.contains("no value at /missing"), "{e}");
        let e = parse_value(doc, Some("/s")).unwrap_err().to_string();
        assert!(e.contains("warm"), "{e}");
        let e = parse_value("<html>", Some("/x")).unwrap_err().to_string();
        assert!(e.contains("expected JSON"), "{e}");
    }

    #[test]
    fn garbage_is_quoted_and_cut_raw() {
        // Raw: the outputs escape it, once (tests/run.rs checks them).
        let e = parse_value("\u{1b}[2J\nforged line", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"\u{1b}[2J\nforged line\""), "{e:?}");
        let e = parse_value(&"x".repeat(10_000), None)
            .unwrap_err()
            .to_string();
        assert!(e.len() < 300, "{}", e.len());
    }

    #[test]
    fn files_hwmon_and_w1() {
        assert_eq!(parse_file("45000\n", 0.001), Ok(45.0));
        let w1 = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";
        assert_eq!(parse_file(w1, 0.001), Ok(23.125));
        let bad = "72 01 4b 46 7f ff 0e 10 57 : crc=57 NO\n72 01 4b 46 7f ff 0e 10 57 t=85000\n";
        assert!(parse_file(bad, 0.001).is_err());
    }

    #[test]
    fn a_hung_file_read_holds_one_blocking_thread_not_one_per_retry() {
        let dir = tempfile::tempdir().unwrap();
        // A FIFO without a writer: open() blocks like a stuck 1-Wire bus.
        let fifo = dir.path().join("w1_slave");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let env = crate::config::Env {
            home: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let text = format!(
            "[paths]\nalerts_log = \"{d}/alerts.log\"\n[[sensor]]\nname = \"w1\"\nkind = \"file\"\npath = \"{f}\"\n",
            d = dir.path().display(),
            f = fifo.display()
        );
        let cfg =
            crate::config::Config::parse(&text, crate::config::Source::Defaults, &env).unwrap();
        let hub = Arc::new(Hub::new(&cfg, 10));
        // Two blocking threads, as the store and the alerts log share them.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(2)
            .build()
            .unwrap();
        let other_work_ran = rt.block_on(async {
            let mut r = Reader::new(cfg.sensors[0].clone(), hub);
            for _ in 0..3 {
                let t = tokio::time::timeout(Duration::from_millis(50), r.read()).await;
                assert!(t.is_err(), "a read of a FIFO without a writer returned");
            }
            // The store's next write needs a blocking thread.
            tokio::time::timeout(Duration::from_secs(10), tokio::task::spawn_blocking(|| ()))
                .await
                .is_ok()
        });
        // Release the hung open() so its thread ends (never block here).
        use std::os::unix::fs::OpenOptionsExt;
        let _w = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo);
        rt.shutdown_background();
        assert!(other_work_ran, "hung file reads took every blocking thread");
    }

    #[tokio::test]
    async fn sim_is_seeded_and_injects_failures() {
        let s: Sensor = toml::from_str(
            "name = \"s\"\nkind = \"sim\"\nseed = 7\nfail_every = 3\ngarbage_every = 4\n",
        )
        .unwrap();
        let mut a = Sim::new(&s);
        let mut b = Sim::new(&s);
        let mut got = Vec::new();
        for _ in 0..6 {
            let (x, y) = (a.read().await, b.read().await);
            assert_eq!(x, y);
            got.push(x);
        }
        assert!(got[0].is_ok() && got[1].is_ok());
        assert!(matches!(got[2], Err(ReadError::Failed(_))));
        assert!(matches!(got[3], Err(ReadError::Garbage(_))));
        assert!(matches!(got[5], Err(ReadError::Failed(_))));
    }
}
