//! Child processes for sensors and actions: an argv (never a shell) run in
//! its own process group with bounded output, and the group, with what left
//! it (`setsid`, see `tree`), killed whenever the run ends (done, timed out,
//! cancelled by shutdown), so a hung script cannot leave children behind. Also the error type of one read and the
//! quoting of outside text in its messages.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// The most of a sensor's output (stdout, HTTP body, file) that is read.
pub const OUTPUT_LIMIT: usize = 64 * 1024;
/// The most of a command's stderr kept for the error message.
pub const STDERR_LIMIT: usize = 4 * 1024;
/// The most of outside text quoted in an error message, in characters.
const QUOTE: usize = 120;

/// Why a read gave no value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadError {
    #[error("timed out after {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("{0}")]
    Failed(String),
    #[error("not a number: {0}")]
    Garbage(String),
    #[error("output exceeds {} KiB", OUTPUT_LIMIT / 1024)]
    TooLarge,
}

/// Outside text quoted in a message: cut, raw. Every output (the alerts
/// log, stderr, the API's JSON) escapes it once.
pub fn quote(s: &str) -> String {
    let t = s.trim();
    let cut: String = t.chars().take(QUOTE).collect();
    let more = if t.chars().count() > QUOTE { "…" } else { "" };
    format!("\"{cut}{more}\"")
}

/// Reads at most `limit` bytes; more is `TooLarge`.
async fn read_bounded<R: AsyncRead + Unpin>(mut r: R, limit: usize) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::new();
    let n = (&mut r)
        .take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .await
        .map_err(|e| ReadError::Failed(format!("cannot read output: {e}")))?;
    if n > limit {
        return Err(ReadError::TooLarge);
    }
    Ok(buf)
}

/// Reads the first `limit` bytes and discards the rest, so the writer never
/// blocks on a full pipe.
async fn read_prefix<R: AsyncRead + Unpin>(mut r: R, limit: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    let _ = (&mut r).take(limit as u64).read_to_end(&mut buf).await;
    let _ = tokio::io::copy(&mut r, &mut tokio::io::sink()).await;
    buf
}

/// Where running process groups are registered (the hub, so that a forced
/// exit kills them all), and what must not reach a child's environment.
pub trait Children: Send + Sync + 'static {
    fn add_child(&self, pgid: i32);
    fn remove_child(&self, pgid: i32);
    /// A variable removed from every child's environment (the AI key's).
    fn hidden_env(&self) -> Option<&str>;
}

/// Ends what the command started when dropped: on completion, on timeout
/// and on shutdown (the future is dropped). While the shepherd runs, it is
/// asked to (`SIGTERM`: it kills everything below it, see `shepherd`);
/// once it is gone, its group and every marked process are killed as well
/// (`tree`), in case the shepherd itself was killed.
struct GroupGuard<H: Children> {
    pgid: i32,
    token: String,
    since: Option<u64>,
    hub: Arc<H>,
    /// The shepherd was waited for (it has exited).
    exited: bool,
}

impl<H: Children> Drop for GroupGuard<H> {
    fn drop(&mut self) {
        if self.exited {
            super::tree::kill_all(self.pgid, &self.token, self.since);
        } else {
            stop_shepherd(self.pgid);
            let (pgid, token, since) = (self.pgid, std::mem::take(&mut self.token), self.since);
            // After it is done (a few milliseconds), or if it does not end.
            let _ = std::thread::Builder::new()
                .name("command-end".into())
                .spawn(move || {
                    let end = std::time::Instant::now() + SHEPHERD_GRACE;
                    while running(pgid) && std::time::Instant::now() < end {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    super::tree::kill_all(pgid, &token, since);
                });
        }
        self.hub.remove_child(self.pgid);
    }
}

/// How long a shepherd asked to stop has before its group is killed.
const SHEPHERD_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether `pid` is alive and not a zombie.
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let state = s.rsplit_once(')')?.1.split_whitespace().next()?.to_string();
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

/// Asks a command's shepherd (the leader of its group) to kill everything
/// below it and exit.
pub fn stop_shepherd(pid: i32) {
    if pid > 0 {
        // SAFETY: kill has no memory-safety preconditions; one already gone
        // is ESRCH, ignored.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

/// A finished command.
pub struct CommandOutput {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs an argv (never a shell) in its own process group, with bounded
/// output. The caller bounds the time (dropping this future kills the group).
pub async fn run_argv<H: Children>(
    argv: &[String],
    hub: &Arc<H>,
) -> Result<CommandOutput, ReadError> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| ReadError::Failed("empty command".into()))?;
    // Under a shepherd (this binary, see `shepherd`): nothing the command
    // starts outlives it, however it detaches.
    let mut cmd = tokio::process::Command::new("/proc/self/exe");
    cmd.arg0(super::shepherd::ARG0)
        .arg(super::shepherd::ARG)
        .arg(std::process::id().to_string())
        .arg("--")
        .arg(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        // Dropped early, it is asked to stop (`GroupGuard`), not killed:
        // killed, it could not kill what is below it.
        .kill_on_drop(false);
    // Inherited by all it starts, even through setsid: see `tree`.
    let token = super::tree::new_token();
    cmd.env(super::tree::MARK, &token);
    let since = super::tree::ticks_now();
    if let Some(k) = hub.hidden_env() {
        // The AI key is for the Authorization header only: a command that
        // dumps its environment would put it in errors, the database, /api/*.
        cmd.env_remove(k);
    }
    let mut child = cmd.spawn().map_err(|e| {
        ReadError::Failed(format!(
            "cannot run {} (starting its shepherd, this binary as /proc/self/exe): {e}",
            quote(prog)
        ))
    })?;
    let pgid = child.id().map_or(0, |p| p as i32);
    hub.add_child(pgid);
    let mut guard = GroupGuard {
        pgid,
        token,
        since,
        hub: hub.clone(),
        exited: false,
    };
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(ReadError::Failed("cannot capture output".into()));
    };
    let stdout = async {
        let r = read_bounded(out, OUTPUT_LIMIT).await;
        if r.is_err() {
            // Stop a flood at once rather than at the timeout.
            stop_shepherd(pgid);
        }
        r
    };
    let (stdout, stderr) = tokio::join!(stdout, read_prefix(err, STDERR_LIMIT));
    let status = child
        .wait()
        .await
        .map_err(|e| ReadError::Failed(format!("cannot wait for {}: {e}", quote(prog))))?;
    guard.exited = true;
    if status.code() == Some(super::shepherd::CANNOT_RUN)
        && let Some(why) = stderr.strip_prefix(super::shepherd::CANNOT_RUN_MARK.as_bytes())
    {
        return Err(ReadError::Failed(format!(
            "cannot run {}: {}",
            quote(prog),
            String::from_utf8_lossy(why).trim_end()
        )));
    }
    Ok(CommandOutput {
        success: status.success(),
        code: status.code(),
        stdout: stdout?,
        stderr,
    })
}

/// What a failed command said, for the error message.
pub fn failure_message(o: &CommandOutput) -> String {
    let status = match o.code {
        Some(c) => format!("exit status {c}"),
        None => "killed by a signal".to_string(),
    };
    let err = String::from_utf8_lossy(&o.stderr);
    if err.trim().is_empty() {
        status
    } else {
        format!("{status}: {}", quote(&err))
    }
}
