//! The status page at `/` of `grokmon run`: over HTTP, and in a real browser
//! (headless Chromium, Debian's `chromium`, installed by .ci/run).

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// What a hostile sensor or a hand-edited log could hold.
const PAYLOAD: &str = "<script>alert(1)</script>";

/// A running orchestrator with two good sensors and one that read once and
/// then fails with the payload in its error, and an alerts log holding the
/// payload in a line.
fn world(env: &TestEnv) -> (Running, u16) {
    let port = free_port();
    let flag = env.path("read-once");
    env.write_bin(
        "flaky-sensor",
        &format!(
            "#!/bin/sh\nif [ -e '{f}' ]; then echo '{PAYLOAD} bus error' >&2; exit 1; fi\n: > '{f}'\necho 21.5\n",
            f = flag.display()
        ),
    );
    config(
        env,
        port,
        &format!(
            "[check]\nprobes = [\"api\"]\n[check.api]\nurl = \"http://127.0.0.1:{port}/api/health\"\n\
             [[sensor]]\nname = \"air\"\nkind = \"sim\"\ninterval = \"200ms\"\nunit = \"°C\"\n\
             [[sensor]]\nname = \"water\"\nkind = \"sim\"\ninterval = \"200ms\"\nunit = \"°C\"\nseed = 4\n\
             [[sensor]]\nname = \"humidity\"\nkind = \"command\"\ncommand = [\"{}\"]\ninterval = \"200ms\"\nunit = \"%\"\n",
            env.bin.join("flaky-sensor").display()
        ),
    );
    let log = env.alerts_log();
    std::fs::write(
        &log,
        format!("2026-12-01T08:00:00Z CRIT api: unreachable: {PAYLOAD}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&log, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let run = Running::start(env, port);
    assert!(
        wait_until(WAIT, || run.sensor("humidity")["status"] == "stale"
            && run.sensor("air")["status"] == "ok"
            && run.sensor("water")["status"] == "ok"),
        "{}\n{}",
        run.json("/api/status"),
        run.stderr()
    );
    (run, port)
}

#[test]
fn the_status_page_shows_every_sensor_marks_the_stale_one_and_escapes_outside_text() {
    let env = TestEnv::new();
    let (run, port) = world(&env);
    // A check (its state database) and a backup, for their sections.
    env.run(&["check"]);
    env.run(&["backup"]).code(0);
    let (code, headers, body) = run.get("/").expect("the page answers");
    assert_eq!(code, 200, "{body}");
    let h = |k: &str| {
        headers
            .get(k)
            .unwrap_or_else(|| panic!("no {k} header"))
            .to_str()
            .unwrap()
            .to_string()
    };
    assert!(h("content-type").starts_with("text/html"), "{headers:?}");
    assert_eq!(h("cache-control"), "no-store");
    let csp = h("content-security-policy");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(csp.contains("style-src 'sha256-"), "{csp}");
    assert!(
        !csp.contains("unsafe") && !csp.contains("script-src"),
        "{csp}"
    );

    for name in ["air", "water", "humidity"] {
        assert!(body.contains(&format!("<h3>{name}</h3>")), "{name} missing");
    }
    // The failing sensor is marked stale, with its last value and its error.
    assert!(body.contains(r#"<article class="card sensor stale">"#));
    assert!(body.contains(r#"<span class="pill stale">stale</span>"#));
    assert!(body.contains("21.5"));
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt; bus error"));
    // The alert line, escaped, and no markup from outside anywhere.
    assert!(body.contains("unreachable: &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!body.contains("<script"), "{body}");
    for url in ["http:", "https:", "//", " src="] {
        assert!(!body.contains(url), "{url} in the page");
    }
    assert!(body.len() < 100_000, "{} bytes", body.len());
    // The last check with its probe, and the newest backup.
    assert!(body.contains("<b>api</b>"), "{body}");
    assert!(body.contains("WARN · degraded"), "{body}");
    assert!(
        body.contains("grokmon-") && body.contains(".db.zst"),
        "{body}"
    );
    // Read-only: nothing but GET (and HEAD).
    let client = reqwest::blocking::Client::new();
    let url = format!("http://127.0.0.1:{}/", port);
    assert_eq!(client.post(&url).send().unwrap().status().as_u16(), 405);
    assert_eq!(client.head(&url).send().unwrap().status().as_u16(), 200);
    // Health stays the API's business: the page did not change it.
    assert_eq!(run.json("/api/health")["status"], "degraded");
}

/// `chromium`, or `None` (with a note) when it is not installed outside CI.
fn chromium() -> Option<&'static str> {
    let found = Command::new("chromium")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some("chromium");
    }
    if std::env::var_os("CI").is_some() {
        panic!("chromium is not installed: CI must run the browser test (.ci/run installs it)");
    }
    eprintln!("skipped: chromium not installed (apt-get install chromium)");
    None
}

/// A headless Chromium run, killed with its process group if it outlives
/// its time or the test fails.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        // SAFETY: kill with the group id of a child we spawned as its leader.
        unsafe {
            libc::kill(-(self.0.id() as i32), libc::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

/// Runs headless Chromium on `url` with `args`; its stdout and stderr.
fn headless(bin: &str, profile: &Path, url: &str, args: &[&str]) -> (String, String) {
    let out = profile.with_extension("out");
    let err = profile.with_extension("err");
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless=new",
        "--disable-gpu",
        // A container's small /dev/shm must not crash the renderer.
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    // Nothing of the browser's (~/.pki, caches) in the real home.
    .env("HOME", profile)
    .env("XDG_CONFIG_HOME", profile.join("config"))
    .env("XDG_CACHE_HOME", profile.join("cache"))
    .args(args)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(std::fs::File::create(&out).unwrap())
    .stderr(std::fs::File::create(&err).unwrap())
    .process_group(0);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // Chromium refuses to run as root with its sandbox.
        cmd.arg("--no-sandbox");
    }
    let mut b = Browser(cmd.spawn().expect("spawn chromium"));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(st) = b.0.try_wait().unwrap() {
            assert!(st.success(), "chromium: {st}\n{}", read(&err));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "chromium did not finish in 90 s\n{}",
            read(&err)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(b);
    (read(&out), read(&err))
}

#[test]
fn a_real_browser_shows_the_sensors_and_alerts_with_no_policy_violation() {
    let Some(bin) = chromium() else { return };
    let env = TestEnv::new();
    let (_run, port) = world(&env);
    let url = format!("http://127.0.0.1:{port}/");

    let (dom, log) = headless(bin, &env.path("profile-dom"), &url, &["--dump-dom"]);
    for name in ["air", "water", "humidity"] {
        assert!(
            dom.contains(&format!("<h3>{name}</h3>")),
            "{name} missing:\n{dom}"
        );
    }
    assert!(
        dom.contains(r#"<span class="pill stale">stale</span>"#),
        "{dom}"
    );
    // The payload is text in the DOM, never an element.
    assert!(
        dom.contains("unreachable: &lt;script&gt;alert(1)&lt;/script&gt;"),
        "{dom}"
    );
    assert!(!dom.contains("<script"), "{dom}");
    assert!(dom.contains("<svg"), "{dom}");
    // A blocked stylesheet (a wrong hash) or any inline style or script
    // would be reported on the console.
    assert!(!log.contains("Content Security Policy"), "{log}");

    let shot = env.path("page.png");
    let (_, log) = headless(
        bin,
        &env.path("profile-shot"),
        &url,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1000",
        ],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot: {e}\n{log}"));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 20_000, "a blank page? {} bytes", png.len());
}

#[test]
fn a_render_stuck_on_a_locked_state_database_does_not_hold_the_health_api() {
    let env = TestEnv::new();
    let (run, port) = world(&env);
    env.run(&["check"]);
    // Another process holds the state database exclusively: the page's read
    // of the last check waits on SQLite's busy timeout.
    let lock = rusqlite::Connection::open(env.state_db()).unwrap();
    lock.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS page_test_lock (x); COMMIT; BEGIN EXCLUSIVE;")
        .unwrap();
    let page = std::thread::spawn(move || {
        let r = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .map(|r| r.status().as_u16());
        (r, Instant::now())
    });
    // The page request is in flight (its render waits on the lock) ...
    std::thread::sleep(Duration::from_millis(500));
    assert!(!page.is_finished(), "the locked read did not wait");
    // ... and the health API answers meanwhile, before the page does.
    let (code, _, body) = run.get("/api/health").expect("/api/health answers");
    let health_done = Instant::now();
    assert_eq!(code, 200, "{body}");
    assert!(!page.is_finished(), "the page finished before /api/health");
    let (status, page_done) = page.join().unwrap();
    assert!(page_done > health_done);
    // It answers in the end: the error in the page, or 503 past its wait.
    assert!(matches!(status, Ok(200) | Ok(503)), "{status:?}");
    drop(lock);
    // The gate is free again: the next render reads the check.
    assert!(
        wait_until(WAIT, || run
            .get("/")
            .is_some_and(|(c, _, b)| c == 200 && b.contains("<b>api</b>"))),
        "{}",
        run.stderr()
    );
}
