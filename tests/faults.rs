//! The fault-injection tier: real faults, not mocks. `kill -9` at chosen
//! instants (strace's syscall fault injection, and the binary's
//! `GROKMON_FAILPOINT`), full filesystems (a small tmpfs, as root), file-size
//! limits (`RLIMIT_FSIZE`), other clocks (`faketime`), concurrent processes.
//! Each test is bounded in time: every child runs under a deadline.
//!
//! A test that needs a tool or root it does not have prints "skipped: …" and
//! returns, except under CI (`CI` set), where it fails: CI must run it.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::util::{Response, Server, TestEnv, have, read};

/// Longest any one child may run before the test kills it and fails.
const DEADLINE: Duration = Duration::from_secs(60);

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `cmd` to completion within `DEADLINE` (killing it past that).
fn run_bounded(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{cmd:?} ran over {DEADLINE:?}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn dump(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// An API that is up or down at the test's command.
struct Api {
    up: Arc<AtomicBool>,
    server: Server,
}

impl Api {
    fn start() -> Api {
        let up = Arc::new(AtomicBool::new(false));
        let flag = up.clone();
        let server = Server::start(move |_| {
            if flag.load(Ordering::SeqCst) {
                Response::json(200, r#"{"status":"healthy"}"#)
            } else {
                Response::text(503, b"down")
            }
        });
        Api { up, server }
    }
    fn set(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}

/// Configures `env` with only the API probe, alerting on the first
/// failure, the state database and the alerts log at the given places.
fn write_api_config(env: &TestEnv, api: &Api, state: &Path, log: &Path) {
    std::fs::write(
        env.config_path(),
        format!(
            "[paths]\nalerts_log = \"{}\"\nstate = \"{}\"\n[check]\nconfirm_after = 1\nprobes = [\"api\"]\n[check.api]\nurl = \"{}\"\ntimeout = \"2s\"\n",
            log.display(),
            state.display(),
            api.server.url("/api/health")
        ),
    )
    .unwrap();
}

fn api_env(api: &Api) -> TestEnv {
    let env = TestEnv::new();
    write_api_config(&env, api, &env.path("state/state.db"), &env.alerts_log());
    env
}

/// `cmd` run by `wrapper args…`, with the same environment and directory.
fn wrapped(c: &Command, wrapper: &str, args: &[String]) -> Command {
    let mut w = Command::new(wrapper);
    w.args(args)
        .arg(c.get_program())
        .args(c.get_args())
        .env_clear();
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            w.env(k, v);
        }
    }
    if let Some(d) = c.get_current_dir() {
        w.current_dir(d);
    }
    w.stdin(Stdio::null());
    w
}

/// The alert lines of `log`, with a check that every line parses (no torn
/// or forged line) and that no line appears twice.
fn lines_of(log: &Path) -> Vec<String> {
    let text = read(log);
    let lines: Vec<String> = text.lines().map(String::from).collect();
    for l in &lines {
        assert!(
            grokmon::alerts::Event::parse(l).is_some(),
            "torn or unparsable line {l:?} in\n{text}"
        );
    }
    let mut seen = std::collections::HashSet::new();
    for l in &lines {
        assert!(seen.insert(l), "duplicated line {l:?} in\n{text}");
    }
    lines
}

fn count(lines: &[String], level: &str) -> usize {
    lines
        .iter()
        .filter(|l| l.split_whitespace().nth(1) == Some(level))
        .count()
}

/// A check killed at `when`, then a recovery check with the API still down,
/// then one with it up: exactly one CRIT and one OK, whatever the instant.
fn kill_round(api: &Api, env: &TestEnv, kill: impl FnOnce(&mut Command)) -> bool {
    api.set(false);
    let mut c = env.cmd(&["check", "--quiet"]);
    kill(&mut c);
    let o = run_bounded(c);
    let killed = o.status.signal() == Some(libc::SIGKILL)
        || String::from_utf8_lossy(&o.stderr).contains("+++ killed by SIGKILL");
    // Still down: the alert must be there, once.
    let o2 = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o2.status.code(), Some(2), "recovery check\n{}", dump(&o2));
    api.set(true);
    let o3 = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(
        o3.status.code(),
        Some(0),
        "check after recovery\n{}",
        dump(&o3)
    );
    let lines = lines_of(&env.alerts_log());
    assert_eq!(
        (count(&lines, "CRIT"), count(&lines, "OK")),
        (1, 1),
        "one CRIT and its OK after a kill (killed: {killed})\nfirst run: {}\n{lines:#?}",
        dump(&o)
    );
    killed
}

/// Item 1: `kill -9` at every sync of a check (strace injects SIGKILL at the
/// Nth `fsync`/`fdatasync`: before and after the intent is durable, after the
/// line is appended, after it is marked written). No phantom CRIT without its
/// OK, no duplicated line, no lost one.
#[test]
fn kill_at_every_sync_leaves_each_alert_exactly_once() {
    if !have("strace") {
        return;
    }
    let api = Api::start();
    // strace counts each syscall on its own: the log's `fdatasync`, then
    // SQLite's `fsync`s (creating the database, syncing the intent, the
    // checkpoint after the intent is cleared).
    for syscall in ["fdatasync", "fsync"] {
        let mut n = 1;
        loop {
            let env = api_env(&api);
            let killed = kill_round(&api, &env, |c| {
                let args = [
                    "-f",
                    "-qq",
                    "-o",
                    "/dev/null",
                    "-e",
                    &format!("trace={syscall}"),
                    "-e",
                    &format!("inject={syscall}:signal=SIGKILL:when={n}"),
                ];
                *c = wrapped(c, "strace", &args.map(String::from));
            });
            if !killed {
                break;
            }
            n += 1;
            assert!(n < 40, "the check never finished unkilled");
        }
        assert!(n > 1, "strace never killed at {syscall}");
    }
}

/// Item 1, at the named instants of the append protocol (the failpoints
/// compiled into the binary).
#[test]
fn kill_at_each_failpoint_leaves_each_alert_exactly_once() {
    let api = Api::start();
    for point in [
        "log.before-write",
        "check.after-intent",
        "check.after-append",
        "check.after-mark",
    ] {
        let env = api_env(&api);
        let killed = kill_round(&api, &env, |c| {
            c.env("GROKMON_FAILPOINT", point);
        });
        assert!(killed, "failpoint {point} was not reached");
    }
    // Killed while finishing an earlier check's append, too.
    let env = api_env(&api);
    api.set(false);
    let mut c = env.cmd(&["check", "--quiet"]);
    c.env("GROKMON_FAILPOINT", "check.after-intent");
    assert_eq!(run_bounded(c).status.signal(), Some(libc::SIGKILL));
    let mut c = env.cmd(&["check", "--quiet"]);
    c.env("GROKMON_FAILPOINT", "check.reconciled");
    assert_eq!(run_bounded(c).status.signal(), Some(libc::SIGKILL));
    assert!(kill_round(&api, &env, |c| {
        c.env("GROKMON_FAILPOINT", "check.reconciled");
    }));
}

/// A tmpfs of `size` bytes mounted under the test's temp dir, unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// `None` (skipped, or failed under CI) when not root or mounting is refused.
    fn mount(at: PathBuf, size: &str) -> Option<Tmpfs> {
        if !is_root() {
            eprintln!(
                "skipped: needs root to mount a small tmpfs (the RLIMIT_FSIZE variant runs instead)"
            );
            return None;
        }
        std::fs::create_dir_all(&at).unwrap();
        let o = run_bounded({
            let mut c = Command::new("mount");
            c.args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(&at);
            c
        });
        if !o.status.success() {
            eprintln!(
                "skipped: mounting a tmpfs was refused (the RLIMIT_FSIZE variant runs instead): {}",
                dump(&o)
            );
            return None;
        }
        Some(Tmpfs { dir: at })
    }

    /// Fills the filesystem: a file grown until the disk is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let p = self.dir.join("filler");
        let mut f = std::fs::File::create(&p).unwrap();
        let block = vec![0x55u8; 4096];
        while f.write_all(&block).is_ok() {}
        let small = [0x55u8; 1];
        while f.write_all(&small).is_ok() {}
        let _ = f.sync_all();
        p
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Item 2: the state database on a full filesystem. The alert cannot be
/// committed, so it is not appended either (before: the same CRIT appended
/// by every check); once there is room, it is written once.
#[test]
fn a_full_state_database_appends_nothing_until_it_can_commit() {
    let api = Api::start();
    let env = TestEnv::new();
    let Some(fs) = Tmpfs::mount(env.path("statefs"), "256k") else {
        return;
    };
    write_api_config(&env, &api, &fs.dir.join("state.db"), &env.alerts_log());
    api.set(true);
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    let filler = fs.fill();
    api.set(false);
    for _ in 0..5 {
        let o = run_bounded(env.cmd(&["check", "--quiet"]));
        assert_eq!(
            o.status.code(),
            Some(3),
            "a check that cannot record is UNKNOWN\n{}",
            dump(&o)
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("state database"),
            "{}",
            dump(&o)
        );
    }
    let lines = lines_of(&env.alerts_log());
    assert_eq!(count(&lines, "CRIT"), 0, "{lines:#?}");
    std::fs::remove_file(filler).unwrap();
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(2), "{}", dump(&o));
    api.set(true);
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    let lines = lines_of(&env.alerts_log());
    assert_eq!(
        (count(&lines, "CRIT"), count(&lines, "OK")),
        (1, 1),
        "{lines:#?}"
    );
}

/// Item 2 without root: the state database at the file-size limit
/// (`RLIMIT_FSIZE` = 4 KiB, below the state's next write but above the
/// alert line). Nothing is appended while the state cannot be committed
/// (before: the same CRIT on every check), the line once after.
#[test]
fn a_state_database_at_its_size_limit_appends_nothing_until_it_can_commit() {
    let api = Api::start();
    let env = api_env(&api);
    api.set(true);
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    api.set(false);
    for _ in 0..5 {
        let o = run_bounded(with_fsize(env.cmd(&["check", "--quiet"]), 4096));
        assert_eq!(o.status.signal(), None, "{}", dump(&o));
        assert_eq!(o.status.code(), Some(3), "{}", dump(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("state database"),
            "{}",
            dump(&o)
        );
    }
    let lines = lines_of(&env.alerts_log());
    assert_eq!(count(&lines, "CRIT"), 0, "{lines:#?}");
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(2), "{}", dump(&o));
    api.set(true);
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    let lines = lines_of(&env.alerts_log());
    assert_eq!(
        (count(&lines, "CRIT"), count(&lines, "OK")),
        (1, 1),
        "{lines:#?}"
    );
}

/// Makes the state at `db` what grokmon of schema 2 left: `n` samples of
/// `metric` in `samples`, no `sample_hours`, version 2.
fn make_schema_2(db: &Path, metric: &str, n: i64) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch("DROP TABLE sample_hours; PRAGMA user_version = 2;")
        .unwrap();
    c.execute(
        "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?2)
         INSERT INTO samples (ts, metric, value) SELECT 1700000000 + n * 300, ?1, n FROM i",
        rusqlite::params![metric, n],
    )
    .unwrap();
}

/// (user_version, rows of `metric` in `samples`, its samples in
/// `sample_hours`, or None without that table).
fn schema_of(db: &Path, metric: &str) -> (i64, i64, Option<i64>) {
    let c = rusqlite::Connection::open(db).unwrap();
    let v = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let old = c
        .query_row(
            "SELECT count(*) FROM samples WHERE metric = ?1",
            [metric],
            |r| r.get(0),
        )
        .unwrap();
    let new = c
        .query_row(
            "SELECT coalesce(sum(length(data)), 0) / 16 FROM sample_hours WHERE metric = ?1",
            [metric],
            |r| r.get(0),
        )
        .ok();
    (v, old, new)
}

/// The upgrade to schema 3 killed (SIGKILL) just before its commit: the
/// state is schema 2 with every sample, and the next check upgrades it,
/// moving each sample once.
#[test]
fn an_upgrade_killed_before_its_commit_keeps_schema_2_and_finishes_later() {
    let env = TestEnv::new();
    env.write_config("[check]\nprobes = [\"cpu\"]\n");
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    make_schema_2(&env.state_db(), "seeded", 5000);
    let mut c = env.cmd(&["check", "--quiet"]);
    c.env("GROKMON_FAILPOINT", "state.before-upgrade-commit");
    let o = run_bounded(c);
    assert_eq!(o.status.signal(), Some(libc::SIGKILL), "{}", dump(&o));
    assert_eq!(schema_of(&env.state_db(), "seeded"), (2, 5000, None));
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    assert_eq!(schema_of(&env.state_db(), "seeded"), (3, 0, Some(5000)));
}

/// The upgrade to schema 3 on a full filesystem: the check says the state
/// database cannot be written (UNKNOWN), the state stays schema 2 with
/// every sample, and once there is room the next check upgrades it.
#[test]
fn an_upgrade_on_a_full_disk_keeps_schema_2_and_finishes_later() {
    let env = TestEnv::new();
    let Some(fs) = Tmpfs::mount(env.path("statefs"), "4m") else {
        return;
    };
    let db = fs.dir.join("state.db");
    env.write_config_with_paths(
        &format!("state = \"{}\"", db.display()),
        "[check]\nprobes = [\"cpu\"]\n",
    );
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    make_schema_2(&db, "seeded", 20_000);
    // Room for the open (its `-shm`, the start of the WAL), not for the
    // ~400 KiB the move writes.
    let filler = fs.fill();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap();
    f.set_len(f.metadata().unwrap().len() - 128 * 1024).unwrap();
    drop(f);
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(3), "{}", dump(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("state database")
            && String::from_utf8_lossy(&o.stderr).contains("full"),
        "{}",
        dump(&o)
    );
    // Read once there is room: SQLite's own open needs some.
    std::fs::remove_file(filler).unwrap();
    assert_eq!(schema_of(&db, "seeded"), (2, 20_000, None));
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    assert_eq!(schema_of(&db, "seeded"), (3, 0, Some(20_000)));
}

/// Item 3: the alerts log on a full filesystem with room for part of a line.
/// The short write is cut back (no torn `…CRIT api:` line); the check says
/// so (UNKNOWN), and the next check with room writes the line once.
#[test]
fn a_short_write_on_a_full_disk_leaves_no_torn_line() {
    let api = Api::start();
    let env = TestEnv::new();
    let Some(fs) = Tmpfs::mount(env.path("logfs"), "64k") else {
        return;
    };
    let log = fs.dir.join("alerts.log");
    // 30 bytes short of a page: the next line's first 30 bytes fit.
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 4096 - 30 - 80 {
        text.push_str(&format!(
            "2026-11-28T10:00:{:02}Z INFO backup: filler {i:04}\n",
            i % 60
        ));
        i += 1;
    }
    let pad = 4096 - 30 - text.len() - "2026-11-28T10:59:59Z INFO backup: \n".len();
    text.push_str(&format!(
        "2026-11-28T10:59:59Z INFO backup: {}\n",
        "p".repeat(pad)
    ));
    assert_eq!(text.len(), 4096 - 30);
    std::fs::write(&log, &text).unwrap();
    std::fs::set_permissions(&log, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    write_api_config(&env, &api, &env.path("state/state.db"), &log);
    let filler = fs.fill();
    api.set(false);
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(3), "{}", dump(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("alerts log"), "{}", dump(&o));
    assert_eq!(read(&log), text, "the log is as it was: no torn line");
    // Still full: nothing more, and still nothing torn.
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(3), "{}", dump(&o));
    assert_eq!(read(&log), text);
    std::fs::remove_file(filler).unwrap();
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(2), "{}", dump(&o));
    api.set(true);
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    let lines = lines_of(&log);
    assert_eq!(
        (count(&lines, "CRIT"), count(&lines, "OK")),
        (1, 1),
        "{lines:#?}"
    );
}

/// `cmd` with `RLIMIT_FSIZE` set to `bytes` and SIGXFSZ at its default
/// disposition (killing), as a shell with `ulimit -f` would start it.
fn with_fsize(mut cmd: Command, bytes: u64) -> Command {
    // SAFETY: only async-signal-safe calls (setrlimit, signal) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_DFL);
            Ok(())
        });
    }
    cmd
}

/// Item 4: a file-size limit is an error with a message and the documented
/// exit code (check 3, backup 1), not death by SIGXFSZ (exit 153).
#[test]
fn a_file_size_limit_is_an_error_not_a_signal() {
    let api = Api::start();
    let env = api_env(&api);
    api.set(false);
    let o = run_bounded(with_fsize(env.cmd(&["check"]), 100));
    assert_eq!(o.status.signal(), None, "{}", dump(&o));
    assert_eq!(o.status.code(), Some(3), "{}", dump(&o));
    assert!(!o.stderr.is_empty(), "a message says why\n{}", dump(&o));
    assert!(lines_of(&env.alerts_log()).is_empty());

    let env = TestEnv::new();
    env.create_database();
    let o = run_bounded(with_fsize(env.cmd(&["backup"]), 100));
    assert_eq!(o.status.signal(), None, "{}", dump(&o));
    assert_eq!(o.status.code(), Some(1), "{}", dump(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("grokmon:"),
        "{}",
        dump(&o)
    );
    // No half-written backup under its final name.
    let left: Vec<_> = std::fs::read_dir(env.backups())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter().all(|n| !n.to_string_lossy().ends_with(".zst")),
        "{left:?}"
    );

    // Output redirected to files under the same limit (a cron job's log):
    // the messages are cut short, the exit codes stay (no panic, exit 101,
    // on a stderr that cannot be written).
    for (args, want) in [(&["check"][..], 3), (&["backup"][..], 1)] {
        let env = api_env(&api);
        let mut c = with_fsize(env.cmd(args), 100);
        c.stdout(std::fs::File::create(env.path("out.txt")).unwrap())
            .stderr(std::fs::File::create(env.path("err.txt")).unwrap());
        let mut child = c.spawn().unwrap();
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            assert!(Instant::now() < deadline, "{args:?} ran over {DEADLINE:?}");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(
            status.code(),
            Some(want),
            "{args:?}: {status:?}\n{}",
            read(&env.path("err.txt"))
        );
        assert!(read(&env.path("err.txt")).starts_with("grokmon: "));
    }

    // A limit that cuts the alert line itself (the state database is far
    // below it): the short write is cut back, nothing torn, exit 3; the
    // next check without the limit writes the line once.
    let env = api_env(&api);
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 1 << 20 {
        text.push_str(&format!(
            "2026-11-28T10:00:{:02}Z INFO backup: filler {i:06}\n",
            i % 60
        ));
        i += 1;
    }
    std::fs::write(env.alerts_log(), &text).unwrap();
    std::fs::set_permissions(
        env.alerts_log(),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    api.set(false);
    let o = run_bounded(with_fsize(
        env.cmd(&["check", "--quiet"]),
        text.len() as u64 + 30,
    ));
    assert_eq!(o.status.signal(), None, "{}", dump(&o));
    assert_eq!(o.status.code(), Some(3), "{}", dump(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("alerts log"),
        "{}",
        dump(&o)
    );
    assert!(read(&env.alerts_log()) == text, "no torn line is left");
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(2), "{}", dump(&o));
    let lines = read(&env.alerts_log());
    let added: Vec<&str> = lines[text.len()..].lines().collect();
    assert_eq!(added.len(), 1, "{added:#?}");
    assert!(added[0].contains(" CRIT api: "), "{added:#?}");
}

/// `faketime AT grokmon ARGS`.
fn faketime(env: &TestEnv, at: &str, args: &[&str]) -> Output {
    run_bounded(wrapped(&env.cmd(args), "faketime", &[at.to_string()]))
}

/// Item 5: a clock before 1970 (a Raspberry Pi without an RTC) panics no
/// command; the exit codes stay the documented ones.
#[test]
fn a_clock_before_1970_panics_no_command() {
    if !have("faketime") {
        return;
    }
    let api = Api::start();
    let env = api_env(&api);
    env.create_database();
    api.set(false);
    for (args, codes) in [
        (&["check"][..], &[2][..]),
        (&["check"][..], &[2][..]),
        (&["alerts", "tail"][..], &[0][..]),
        (&["alerts", "tail", "--since", "1h"][..], &[0][..]),
        (&["alerts", "tail", "--unreviewed"][..], &[0][..]),
        (&["alerts", "ack"][..], &[0][..]),
        (&["status"][..], &[0, 1][..]),
        (&["status", "--json"][..], &[0, 1][..]),
        (&["backup"][..], &[0][..]),
        (&["backup", "list"][..], &[0][..]),
        (&["backup", "prune", "--dry-run"][..], &[0][..]),
        (&["restart", "--yes", "--reason", "x"][..], &[0, 1][..]),
    ] {
        let o = faketime(&env, "1969-12-31 23:59:59", args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{args:?}\n{}", dump(&o));
        assert!(
            o.status.code().is_some_and(|c| codes.contains(&c)),
            "{args:?}: exit {:?}, want one of {codes:?}\n{}",
            o.status,
            dump(&o)
        );
    }
}

/// A probe with a bug that panics is one UNKNOWN row, not a dead check: the
/// panic unwinds through the unwinder linked into the binary (build.rs:
/// libgcc_eh instead of libgcc_s.so.1), is caught, and the other probes
/// report and the state is written as usual.
#[test]
fn a_probe_that_panics_is_unknown_and_the_others_still_report() {
    let api = Api::start();
    api.set(true);
    let env = TestEnv::new();
    std::fs::write(
        env.config_path(),
        format!(
            "[paths]\nalerts_log = \"{}\"\nstate = \"{}\"\n[check]\nprobes = [\"api\", \"cpu\", \"memory\"]\n[check.api]\nurl = \"{}\"\n",
            env.alerts_log().display(),
            env.state_db().display(),
            api.server.url("/api/health")
        ),
    )
    .unwrap();
    let mut c = env.cmd(&["check", "--format", "json"]);
    c.env("GROKMON_FAILPOINT", "probe.cpu.panic");
    let o = run_bounded(c);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("failpoint probe.cpu.panic"), "{}", dump(&o));
    assert_eq!(o.status.code(), Some(3), "{}", dump(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON report");
    let row = |p: &str| {
        v["probes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["probe"] == p)
            .unwrap_or_else(|| panic!("no {p} row: {v}"))
            .clone()
    };
    assert_eq!(row("cpu")["status"], "unknown", "{v}");
    assert_eq!(row("cpu")["message"], "probe failed: panicked", "{v}");
    assert_eq!(row("api")["status"], "ok", "{v}");
    assert_eq!(row("memory")["status"], "ok", "{v}");
    assert!(env.state_db().exists(), "the state was written");
    // Without the failpoint the next check is whole again.
    let o = run_bounded(env.cmd(&["check", "--format", "json"]));
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
}

/// The binary loads no library but glibc's `libc.so.6` at start: build.rs
/// links the unwinder in (where the C toolchain has `libgcc_eh.a`), and the
/// two libm functions SQLite calls are defined in `main.rs`. The dynamic
/// loader's own trace says what it loads.
#[test]
fn the_binary_loads_only_libc() {
    let eh = Command::new("cc")
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if !Path::new(&eh).is_absolute() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI's C toolchain has no libgcc_eh.a"
        );
        eprintln!("skipped: no libgcc_eh.a ({eh:?})");
        return;
    }
    let env = TestEnv::new();
    let mut c = env.cmd(&["--version"]);
    c.env("LD_DEBUG", "files");
    let o = run_bounded(c);
    assert!(o.status.success(), "{}", dump(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let mut loaded: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("needed by"))
        .filter_map(|l| l.split("file=").nth(1)?.split_whitespace().next())
        .collect();
    loaded.dedup();
    assert_eq!(loaded, ["libc.so.6"], "the loader's trace:\n{err}");
}

/// Item 10: a server that sends its headers, then one body byte every 1.9 s
/// (each read within a 2 s timeout) held a check for a minute and then said
/// OK. The timeout bounds the whole request: the check reports a timeout.
#[test]
fn a_trickling_body_is_a_timeout_not_a_minute_and_ok() {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = stop.clone();
    let server = std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + DEADLINE;
        while !stopper.load(Ordering::SeqCst) && Instant::now() < deadline {
            let Ok((mut conn, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let body = br#"{"status":"healthy"}"#;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            let _ = conn.write_all(head.as_bytes());
            for b in body {
                if stopper.load(Ordering::SeqCst) || conn.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1900));
            }
        }
    });
    struct Stop(Arc<AtomicBool>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let _stop = Stop(stop);
    let env = TestEnv::new();
    std::fs::write(
        env.config_path(),
        format!(
            "[paths]\nalerts_log = \"{}\"\n[check]\nprobes = [\"api\"]\n[check.api]\nurl = \"http://{addr}/api/health\"\ntimeout = \"2s\"\n",
            env.alerts_log().display()
        ),
    )
    .unwrap();
    let started = Instant::now();
    let o = run_bounded(env.cmd(&["check", "--format", "json"]));
    let took = started.elapsed();
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}\n{}", dump(&o)));
    let api = v["probes"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["probe"] == "api"))
        .cloned()
        .unwrap_or_else(|| v["probes"]["api"].clone());
    assert_eq!(api["status"], "crit", "{}", dump(&o));
    assert!(
        api["message"].as_str().unwrap_or("").contains("timed out"),
        "{}",
        dump(&o)
    );
    // Functional, not a benchmark: the answer took 40 s to trickle in, and
    // the check did not wait for it.
    assert!(took < Duration::from_secs(20), "the check took {took:?}");
    drop(_stop);
    let _ = server.join();
}

/// A world for `restart` against a fake systemctl whose `restart` takes a
/// moment (so that concurrent runs overlap) and whose `show` prints `props`.
fn restart_env(props: &str) -> TestEnv {
    let mut env = TestEnv::new();
    let f = env.path("systemctl.show");
    std::fs::write(&f, props).unwrap();
    env.fake_systemctl(&format!(
        "case \"$*\" in *' show '*) cat '{}';; *is-active*) echo active;; *restart*) sleep 0.5;; *) exit 0;; esac",
        f.display()
    ));
    std::fs::write(
        env.config_path(),
        format!(
            "[paths]\nalerts_log = \"{}\"\n[check]\nprobes = [\"service\"]\n[restart]\nwait = \"2s\"\n",
            env.alerts_log().display()
        ),
    )
    .unwrap();
    env.set_env("USER", "alice");
    env
}

fn restart_calls(env: &TestEnv) -> usize {
    env.systemctl_calls()
        .iter()
        .filter(|c| c.split_whitespace().any(|w| w == "restart"))
        .count()
}

/// Item 9: five concurrent `grokmon restart --yes --reason x` restart the
/// service once (before: five times); the others are refused with a reason.
#[test]
fn concurrent_restarts_restart_once() {
    let env = restart_env(
        "LoadState=loaded\nActiveState=active\nSubState=running\nResult=success\nNRestarts=0\nMainPID=42\n",
    );
    let children: Vec<_> = (0..5)
        .map(|_| {
            env.cmd(&["restart", "--yes", "--reason", "x"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + DEADLINE;
    let outs: Vec<Output> = children
        .into_iter()
        .map(|mut c| {
            while c.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = c.kill();
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            c.wait_with_output().unwrap()
        })
        .collect();
    assert_eq!(restart_calls(&env), 1, "{:?}", env.systemctl_calls());
    let ok = outs.iter().filter(|o| o.status.code() == Some(0)).count();
    assert_eq!(ok, 1, "{:#?}", outs.iter().map(dump).collect::<Vec<_>>());
    for o in outs.iter().filter(|o| o.status.code() != Some(0)) {
        assert_eq!(o.status.code(), Some(1), "{}", dump(o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("refusing to restart"), "{}", dump(o));
    }
    let lines = lines_of(&env.alerts_log());
    assert_eq!(
        lines.iter().filter(|l| l.contains(" restart: ")).count(),
        1,
        "{lines:#?}"
    );
}

/// Item 9: `systemctl show` answering nothing usable is a refusal, not a
/// blind restart.
#[test]
fn a_restart_is_refused_when_systemctl_show_says_nothing() {
    for props in ["", "Unexpected output\n"] {
        let env = restart_env(props);
        let o = run_bounded(env.cmd(&["restart", "--yes", "--reason", "x", "--force"]));
        assert_eq!(o.status.code(), Some(1), "{}", dump(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("nothing usable"),
            "{}",
            dump(&o)
        );
        assert_eq!(restart_calls(&env), 0, "{:?}", env.systemctl_calls());
    }
}

/// libfaketime, for a child whose own pid the test needs (`faketime` the
/// program may stay in between); `None` when missing (skip, or fail under CI).
fn libfaketime() -> Option<PathBuf> {
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| d.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "libfaketime is not installed, and CI must run this test (.ci/run installs faketime)"
        );
        eprintln!("skipped: faketime not installed");
    }
    found
}

/// `cmd` with its clock moved by `offset` (libfaketime syntax: `+3650d`).
fn at_offset(mut cmd: Command, lib: &Path, offset: &str) -> Command {
    cmd.env("LD_PRELOAD", lib)
        .env("FAKETIME", offset)
        .env("FAKETIME_DONT_RESET", "1");
    cmd
}

/// Item 7: one `backup` with the clock 10 years ahead keeps every real
/// backup (before: the bogus backup took a keep_last slot and every real
/// one looked 10 years old).
#[test]
fn a_backup_with_the_clock_years_ahead_deletes_no_real_backup() {
    let Some(lib) = libfaketime() else {
        return;
    };
    let env = TestEnv::new();
    env.create_database();
    std::fs::create_dir_all(env.backups()).unwrap();
    let now = chrono::Utc::now();
    let real: Vec<PathBuf> = [0, 1, 2, 3, 4, 5, 20]
        .iter()
        .map(|d| {
            let name = grokmon::backup::naming::file_name(
                now - chrono::Duration::days(*d) - chrono::Duration::hours(1),
                grokmon::config::Compression::Zstd,
            );
            let p = env.backups().join(name);
            std::fs::write(&p, b"x").unwrap();
            p
        })
        .collect();
    let o = run_bounded(at_offset(env.cmd(&["backup"]), &lib, "+3650d"));
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    for p in &real {
        assert!(p.exists(), "{} was deleted\n{}", p.display(), dump(&o));
    }
    // The dry run says why they are kept.
    let o = run_bounded(at_offset(
        env.cmd(&["backup", "prune", "--dry-run"]),
        &lib,
        "+3650d",
    ));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("jump"),
        "{}",
        dump(&o)
    );
}

/// Item 7: `run` started with the clock 100 days ahead keeps the stored
/// readings (before: its first prune purged every one).
#[test]
fn run_started_with_the_clock_ahead_purges_no_reading() {
    let Some(lib) = libfaketime() else {
        return;
    };
    let env = TestEnv::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        env.config_path(),
        format!(
            "[paths]\nalerts_log = \"{}\"\n[orchestrator]\nlisten = \"127.0.0.1:{port}\"\n",
            env.alerts_log().display()
        ),
    )
    .unwrap();
    let start = |offset: Option<&str>| {
        let mut c = env.cmd(&["run"]);
        if let Some(o) = offset {
            c = at_offset(c, &lib, o);
        }
        let stderr = env.path("run.stderr");
        let child = c
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        struct Kill(std::process::Child);
        impl Drop for Kill {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let mut k = Kill(child);
        // The store is open and pruned once the database has its schema
        // and the API answers; then a clean stop.
        let up = crate::util::wait_until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "run never listened\n{}", read(&stderr));
        std::thread::sleep(Duration::from_millis(1500));
        // SAFETY: kill with a pid we own.
        unsafe {
            libc::kill(k.0.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + DEADLINE;
        while k.0.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            k.0.try_wait().unwrap().and_then(|s| s.code()),
            Some(0),
            "{}",
            read(&stderr)
        );
        read(&stderr)
    };
    start(None);
    let db = rusqlite::Connection::open(env.database()).unwrap();
    let now_ms = chrono::Utc::now().timestamp_millis();
    for i in 0..100i64 {
        db.execute(
            "INSERT INTO readings (ts, sensor, value, unit, stale) VALUES (?1, 'temp', 21.5, 'C', 0)",
            [now_ms - 86_400_000 + i * 60_000],
        )
        .unwrap();
    }
    drop(db);
    let stderr = start(Some("+100d"));
    let db = rusqlite::Connection::open(env.database()).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM readings WHERE sensor = 'temp'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 100, "readings purged by a clock jump\n{stderr}");
}

/// Item 6: lines written while the clock was 2 days behind, then one after
/// it was synced, are all unreviewed after an earlier ack (before: 1 of 5,
/// the others looked older than the ack).
#[test]
fn a_clock_behind_hides_no_unreviewed_alert() {
    let Some(lib) = libfaketime() else {
        return;
    };
    let api = Api::start();
    let env = api_env(&api);
    api.set(false);
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(2), "{}", dump(&o));
    let o = run_bounded(env.cmd(&["alerts", "ack"]));
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    // Rebooted without an RTC: two days behind, four transitions.
    for up in [true, false, true, false] {
        api.set(up);
        let o = run_bounded(at_offset(env.cmd(&["check", "--quiet"]), &lib, "-2d"));
        assert!(matches!(o.status.code(), Some(0 | 2)), "{}", dump(&o));
    }
    // NTP synced: one more.
    api.set(true);
    let o = run_bounded(env.cmd(&["check", "--quiet"]));
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    // (Lines may repeat here: several checks in one second, all stamped
    // with the same wrong time.)
    assert_eq!(read(&env.alerts_log()).lines().count(), 6);

    let o = run_bounded(env.cmd(&["alerts", "tail", "--unreviewed"]));
    let shown = String::from_utf8_lossy(&o.stdout).lines().count();
    assert_eq!(shown, 5, "{}", dump(&o));
    let o = run_bounded(env.cmd(&["status", "--json"]));
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}\n{}", dump(&o)));
    assert_eq!(v["alerts"]["unreviewed"], 5, "{}", dump(&o));
    let o = run_bounded(env.cmd(&["alerts", "ack"]));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("5 alerts marked as reviewed"),
        "{}",
        dump(&o)
    );
    let o = run_bounded(env.cmd(&["alerts", "tail", "--unreviewed"]));
    assert!(o.stdout.is_empty(), "{}", dump(&o));
}

/// Item 6: `--since` does not drop lines because earlier ones are out of
/// order: 50 lines of the last hour, 50 written with the clock 2 days
/// behind, one after the clock was synced.
#[test]
fn since_survives_lines_out_of_order() {
    let env = TestEnv::new();
    let now = chrono::Utc::now();
    let line = |t: chrono::DateTime<chrono::Utc>, m: String| {
        grokmon::alerts::Event::new(t, grokmon::alerts::Level::Warn, "api", m).to_line() + "\n"
    };
    let mut text = String::new();
    for i in 0..50 {
        text += &line(
            now - chrono::Duration::minutes(60 - i),
            format!("recent {i}"),
        );
    }
    for i in 0..50 {
        text += &line(
            now - chrono::Duration::days(2) + chrono::Duration::minutes(i),
            format!("behind {i}"),
        );
    }
    text += &line(now, "synced".into());
    std::fs::write(env.alerts_log(), &text).unwrap();
    std::fs::set_permissions(
        env.alerts_log(),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let o = run_bounded(env.cmd(&["alerts", "tail", "--since", "3h"]));
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for want in ["recent 0:", "recent 49", "behind 0", "synced"] {
        let want = want.trim_end_matches(':');
        assert!(out.contains(want), "lacks {want:?}\n{}", dump(&o));
    }
    assert_eq!(out.lines().count(), 101, "{}", dump(&o));
}

/// Item 8: the readers apply the writer's rules. A symlinked log (or
/// rotated file) is not followed by `alerts tail` or `status`; a log owned
/// by another user (neither this one nor root) is not shown as grokmon's.
#[test]
fn readers_refuse_symlinked_and_foreign_logs() {
    let env = TestEnv::new();
    let secret = env.path("victim");
    std::fs::write(
        &secret,
        "2026-11-28T10:00:00Z CRIT api: forged by whoever planted the link\n",
    )
    .unwrap();
    for planted in [env.alerts_log(), env.path("alerts.log.1")] {
        let _ = std::fs::remove_file(env.alerts_log());
        let _ = std::fs::remove_file(env.path("alerts.log.1"));
        if planted != env.alerts_log() {
            std::fs::write(env.alerts_log(), "").unwrap();
            std::fs::set_permissions(
                env.alerts_log(),
                std::os::unix::fs::PermissionsExt::from_mode(0o600),
            )
            .unwrap();
        }
        std::os::unix::fs::symlink(&secret, &planted).unwrap();
        for args in [
            &["alerts", "tail"][..],
            &["alerts", "tail", "--unreviewed"][..],
        ] {
            let o = run_bounded(env.cmd(args));
            assert_eq!(
                o.status.code(),
                Some(1),
                "{args:?} {planted:?}\n{}",
                dump(&o)
            );
            assert!(
                String::from_utf8_lossy(&o.stderr).contains("symbolic link"),
                "{}",
                dump(&o)
            );
            assert!(!String::from_utf8_lossy(&o.stdout).contains("forged"));
        }
        let o = run_bounded(env.cmd(&["status"]));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!all.contains("forged"), "{}", dump(&o));
        assert!(all.contains("symbolic link"), "{}", dump(&o));
    }

    if !is_root() {
        eprintln!("skipped: the foreign-owner case needs root to chown");
        assert!(std::env::var_os("CI").is_none(), "CI runs as root");
        return;
    }
    let _ = std::fs::remove_file(env.alerts_log());
    let _ = std::fs::remove_file(env.path("alerts.log.1"));
    std::fs::write(
        env.alerts_log(),
        "2026-11-28T10:00:00Z CRIT api: forged by uid 65534\n",
    )
    .unwrap();
    std::os::unix::fs::chown(env.alerts_log(), Some(65534), Some(65534)).unwrap();
    let o = run_bounded(env.cmd(&["alerts", "tail"]));
    assert_eq!(o.status.code(), Some(1), "{}", dump(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("owned by uid 65534"),
        "{}",
        dump(&o)
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("forged"));
    let o = run_bounded(env.cmd(&["status", "--json"]));
    let all = String::from_utf8_lossy(&o.stdout);
    assert!(!all.contains("forged"), "{}", dump(&o));
    assert!(all.contains("owned by uid 65534"), "{}", dump(&o));
}

/// Items 1-2: a notification goes out once per line: the line a killed
/// check left pending is notified by the check that appends it, and never
/// again by one that finds it already written.
#[test]
fn each_line_is_notified_at_most_once_across_kills() {
    let api = Api::start();
    let hook = Server::start(|_| Response::json(200, "{}"));
    for (point, want) in [
        ("check.after-intent", 1),
        ("check.after-append", 0),
        ("check.after-mark", 0),
    ] {
        let before = hook.requests().len();
        let env = api_env(&api);
        let cfg = read(&env.config_path());
        std::fs::write(
            env.config_path(),
            format!(
                "{cfg}[[notify]]\nkind = \"webhook\"\nformat = \"json\"\nurl = \"{}\"\nmin_level = \"info\"\n",
                hook.url("/hook")
            ),
        )
        .unwrap();
        api.set(false);
        let mut c = env.cmd(&["check", "--quiet"]);
        c.env("GROKMON_FAILPOINT", point);
        assert_eq!(
            run_bounded(c).status.signal(),
            Some(libc::SIGKILL),
            "{point}"
        );
        for _ in 0..2 {
            let o = run_bounded(env.cmd(&["check", "--quiet"]));
            assert_eq!(o.status.code(), Some(2), "{point}\n{}", dump(&o));
        }
        let sent: Vec<serde_json::Value> = hook.requests()[before..]
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
        let lines = lines_of(&env.alerts_log());
        assert_eq!(count(&lines, "CRIT"), 1, "{point}: {lines:#?}");
        assert_eq!(sent.len(), want, "{point}: {sent:#?}");
        for s in &sent {
            assert_eq!(s["line"].as_str(), Some(lines[0].as_str()), "{point}");
        }
    }
}

/// A check stuck where no timeout of its own reaches (here `open` of a FIFO
/// put where `/proc/stat` should be: it blocks until a writer comes, as a
/// read from a hung mount does) ends at its hard stop, its budget (20 s with
/// these settings) plus 5 s: exit 3 with the note on stderr, or with
/// `--format nagios` the UNKNOWN line on stdout. With the note's handler
/// silenced, the fatal signal a second later still ends it.
#[test]
fn a_check_stuck_in_a_local_read_ends_at_its_hard_stop() {
    let api = Api::start();
    api.set(true);
    let stuck = |format: &str, failpoint: Option<&str>| {
        let mut env = api_env(&api);
        let proc = env.path("proc");
        std::fs::create_dir_all(&proc).unwrap();
        let fifo = std::ffi::CString::new(proc.join("stat").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        env.set_env("GROKMON_PROC_ROOT", proc.to_str().unwrap());
        if let Some(f) = failpoint {
            env.set_env("GROKMON_FAILPOINT", f);
        }
        std::fs::write(
            env.config_path(),
            std::fs::read_to_string(env.config_path())
                .unwrap()
                .replace("probes = [\"api\"]", "probes = [\"api\", \"cpu\"]"),
        )
        .unwrap();
        let t0 = Instant::now();
        let out = run_bounded(env.cmd(&["check", "--format", format]));
        (out, t0.elapsed())
    };
    let (human, nagios, silent) = std::thread::scope(|s| {
        let h = s.spawn(|| stuck("human", None));
        let n = s.spawn(|| stuck("nagios", None));
        let q = s.spawn(|| stuck("human", Some("check.hard-stop-silent")));
        (h.join().unwrap(), n.join().unwrap(), q.join().unwrap())
    });
    let within = |took: Duration, at: u64| {
        assert!(
            took >= Duration::from_secs(at) - Duration::from_millis(100),
            "{took:?}"
        );
        assert!(took < Duration::from_secs(at + 10), "{took:?}");
    };
    let (out, took) = human;
    assert_eq!(out.status.code(), Some(3), "{}", dump(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("grokmon: check did not finish within its budget of 20s and 5s more"),
        "{}",
        dump(&out)
    );
    within(took, 25);
    let (out, took) = nagios;
    assert_eq!(out.status.code(), Some(3), "{}", dump(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("GROKMON UNKNOWN - check did not finish within its budget"),
        "{}",
        dump(&out)
    );
    within(took, 25);
    let (out, took) = silent;
    assert_eq!(out.status.signal(), Some(libc::SIGUSR2), "{}", dump(&out));
    within(took, 26);
}

/// Item 10, second half: a check as a whole finishes within its budget
/// (`check::budget`: the slowest probe's own bound, here a systemd query's
/// 5 s, plus 15 s: 20 s) even when every part hangs at once: an API that
/// never answers, a `systemctl` that sleeps, another process holding the
/// state's writers' lock for 9 s, a webhook and a heartbeat receiver that
/// never answer. Each part alone is bounded (1 s, 5 s, 10 s, 20 s, 15 s);
/// before the budget they added up (9 s waiting for the lock, 15 s for the
/// heartbeat, 20 s for the webhook: 44 s). The alert line is still recorded
/// exactly once, and the undelivered notification and heartbeat are
/// recorded as such.
#[test]
fn a_check_with_every_part_hung_finishes_within_its_budget() {
    if !have("flock") {
        return;
    }
    // Accept (the kernel's backlog) and never answer.
    let api = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hook = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let beat = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let env = TestEnv::new();
    env.fake_systemctl("exec sleep 60");
    let state = env.path("state/state.db");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    std::fs::write(
        env.config_path(),
        format!(
            "[paths]\nalerts_log = \"{}\"\nstate = \"{}\"\n[check]\nconfirm_after = 1\nprobes = [\"api\", \"service\"]\n[check.api]\nurl = \"http://{}/api/health\"\ntimeout = \"1s\"\n[[notify]]\nkind = \"webhook\"\nformat = \"json\"\nurl = \"http://{}/hook\"\nmin_level = \"info\"\ntimeout = \"60s\"\n[heartbeat]\nurl = \"http://{}/ping\"\nformat = \"healthchecks\"\ntimeout = \"60s\"\n",
            env.alerts_log().display(),
            state.display(),
            api.local_addr().unwrap(),
            hook.local_addr().unwrap(),
            beat.local_addr().unwrap(),
        ),
    )
    .unwrap();
    // Another process holds the writers' lock for 9 s (the check waits for
    // it: a concurrent check).
    let _holder = hold_writers_lock(&state, 9);

    let budget = Duration::from_secs(20);
    let started = Instant::now();
    let o = run_bounded(env.cmd(&["check", "--format", "json"]));
    let took = started.elapsed();
    // Functional, not a benchmark: the sum of the parts is 44 s and more;
    // the margin is for a loaded machine.
    assert!(
        took < budget + Duration::from_secs(6),
        "the check took {took:?}, its budget is {budget:?}\n{}",
        dump(&o)
    );
    assert_eq!(o.status.code(), Some(3), "{}", dump(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}\n{}", dump(&o)));
    let row = |name: &str| {
        v["probes"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["probe"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no {name} row\n{}", dump(&o)))
    };
    let (a, s) = (row("api"), row("service"));
    assert_eq!(a["status"], "crit", "{}", dump(&o));
    assert!(
        a["message"].as_str().unwrap_or("").contains("timed out"),
        "{}",
        dump(&o)
    );
    assert_eq!(s["status"], "unknown", "{}", dump(&o));
    assert!(
        s["message"].as_str().unwrap_or("").contains("timed out"),
        "{}",
        dump(&o)
    );
    // The lock came free within the budget: the line is recorded, once,
    // and its notification is recorded as not delivered.
    assert_eq!(v["errors"], serde_json::json!([]), "{}", dump(&o));
    let lines = lines_of(&env.alerts_log());
    assert_eq!(
        lines.iter().filter(|l| l.contains(" CRIT api: ")).count(),
        1,
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" WARN notify: ") && l.contains("not delivered")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains(" WARN heartbeat: ")),
        "{lines:#?}"
    );
    let text = read(&env.alerts_log());
    assert!(
        !text.contains("/hook") && !text.contains("/ping"),
        "URL in the log"
    );
    drop(_holder);

    // The state was committed whole: the next check, all still hung but the
    // lock free, writes no line again and has nothing to notify.
    let before = lines.len();
    let started = Instant::now();
    let o = run_bounded(env.cmd(&["check", "--format", "json"]));
    assert!(
        started.elapsed() < budget + Duration::from_secs(6),
        "{}",
        dump(&o)
    );
    assert_eq!(o.status.code(), Some(3), "{}", dump(&o));
    assert_eq!(lines_of(&env.alerts_log()).len(), before);
    drop((api, hook, beat));
}

/// The writers' lock held past the check's budget: the check gives up within
/// it, says why, exits 3 and records nothing (no line without its state);
/// the next check, with the lock free, records the alert once.
#[test]
fn a_state_lock_held_past_the_budget_records_nothing_then_once() {
    if !have("flock") {
        return;
    }
    let api = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let env = TestEnv::new();
    env.fake_systemctl("exec sleep 60");
    let state = env.path("state/state.db");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    std::fs::write(
        env.config_path(),
        format!(
            "[paths]\nalerts_log = \"{}\"\nstate = \"{}\"\n[check]\nconfirm_after = 1\nprobes = [\"api\", \"service\"]\n[check.api]\nurl = \"http://{}/api/health\"\ntimeout = \"1s\"\n",
            env.alerts_log().display(),
            state.display(),
            api.local_addr().unwrap(),
        ),
    )
    .unwrap();
    let holder = hold_writers_lock(&state, 60);
    let started = Instant::now();
    let o = run_bounded(env.cmd(&["check"]));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(26),
        "took {took:?}\n{}",
        dump(&o)
    );
    assert_eq!(o.status.code(), Some(3), "{}", dump(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is locked by another process"), "{}", dump(&o));
    assert!(err.contains("will be retried"), "{}", dump(&o));
    assert!(read_or_empty(&env.alerts_log()).is_empty());
    drop(holder);
    let o = run_bounded(env.cmd(&["check"]));
    assert_eq!(o.status.code(), Some(3), "{}", dump(&o));
    let lines = lines_of(&env.alerts_log());
    assert_eq!(
        lines.iter().filter(|l| l.contains(" CRIT api: ")).count(),
        1,
        "{lines:#?}"
    );
    drop(api);
}

/// Kills and reaps a helper process when the test ends, failed or not.
struct Reap(std::process::Child);

/// Another process (`flock`) holding the state's writers' lock for `secs`
/// seconds, as a concurrent check would; returns once it holds it.
fn hold_writers_lock(state: &Path, secs: u32) -> Reap {
    let mut lock = state.to_path_buf().into_os_string();
    lock.push(".lock");
    let holder = Reap(
        Command::new("flock")
            .args(["-x", "-o"])
            .arg(&lock)
            .arg("sleep")
            .arg(secs.to_string())
            .spawn()
            .expect("flock"),
    );
    // Wait until it holds the lock.
    let t = Instant::now();
    while std::fs::metadata(&lock).is_err() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    holder
}

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn read_or_empty(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}
