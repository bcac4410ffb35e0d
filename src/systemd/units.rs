//! systemd units: the canonical files of `systemd/` (embedded in the binary),
//! rendered with the real binary path and configuration, installed
//! (`grokmon units install`) and printed (`units print NAME`). Their crontab
//! equivalent (`grokmon cron`) is `systemd::cron`; `units verify` is
//! `systemd::verify`.
//!
//! Rendering and the install plan are pure functions; the
//! command shells around them read the environment, write files and ask
//! systemctl.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use super::{Systemctl, SystemctlError};
use crate::cli::UnitsCommand;
use crate::config::{Scope, Source};
use crate::{Ctx, UsageError, exit};

/// The verification moved to `systemd::verify`; re-exported for callers.
pub use super::cron::{cron, cron_quote, cron_schedule, crontab, crontab_every};
pub use super::verify::{
    EXPECT_START_LIMIT_BURST, EXPECT_START_LIMIT_INTERVAL, EXPECT_TIMEOUT_STOP, Finding,
    VERIFY_PROPS, read_controllers,
};

/// A unit file shipped in `systemd/`.
#[derive(Debug, Clone, Copy)]
pub struct UnitFile {
    /// File name, relative to the unit directory.
    pub name: &'static str,
    /// The canonical text, with `/usr/bin/grokmon` as the binary.
    pub template: &'static str,
}

/// The units, in install order (services before the timers that start them).
pub const UNITS: &[UnitFile] = &[
    UnitFile {
        name: "grokmon.service",
        template: include_str!("../../systemd/grokmon.service"),
    },
    UnitFile {
        name: "grokmon-check.service",
        template: include_str!("../../systemd/grokmon-check.service"),
    },
    UnitFile {
        name: "grokmon-check.timer",
        template: include_str!("../../systemd/grokmon-check.timer"),
    },
    UnitFile {
        name: "grokmon-backup.service",
        template: include_str!("../../systemd/grokmon-backup.service"),
    },
    UnitFile {
        name: "grokmon-backup.timer",
        template: include_str!("../../systemd/grokmon-backup.timer"),
    },
];

/// The growing restart delay: a drop-in, because only systemd >= 254 knows
/// `RestartSteps=`/`RestartMaxDelaySec=` (252 warns and ignores them).
pub const DROPIN: UnitFile = UnitFile {
    name: "grokmon.service.d/restart-steps.conf",
    template: include_str!("../../systemd/grokmon.service.d/restart-steps.conf"),
};

/// The first systemd version that knows `RestartSteps=`.
pub const DROPIN_MIN_VERSION: u32 = 254;

/// The timers `units install` enables and starts.
pub const TIMERS: &[&str] = &["grokmon-check.timer", "grokmon-backup.timer"];

/// The orchestrator's unit (left out by `--timers-only`).
pub const ORCHESTRATOR: &str = "grokmon.service";

/// The binary path in the canonical files.
pub const CANONICAL_BIN: &str = "/usr/bin/grokmon";

/// Options that need a privileged (or user-namespaced) service manager: a
/// user manager without those privileges fails the unit with 226/NAMESPACE,
/// so user units leave them out. The seccomp-based options stay.
const SYSTEM_ONLY: &[&str] = &[
    "CapabilityBoundingSet",
    "AmbientCapabilities",
    "ProtectProc",
    "PrivateIPC",
    "PrivateDevices",
    "ProtectSystem",
    "ProtectHome",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectClock",
    "ProtectHostname",
];

/// The system units' identity: the grokmon user and its state directory. A
/// user unit runs as its user and keeps its data in the XDG directories, so
/// these lines (and the comment above them) are left out of user units.
const SYSTEM_IDENTITY: &[&str] = &["User", "Group", "StateDirectory", "StateDirectoryMode"];

/// Where a unit is rendered for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scope: Scope,
    /// The grokmon binary.
    pub exe: PathBuf,
    /// `--config FILE` for every command, when the configuration came from a file.
    pub config: Option<PathBuf>,
}

impl Target {
    /// The canonical rendering: `/usr/bin/grokmon`, no `--config` (what the
    /// Debian package ships).
    pub fn canonical(scope: Scope) -> Target {
        Target {
            scope,
            exe: PathBuf::from(CANONICAL_BIN),
            config: None,
        }
    }
}

/// Quotes one word of an `ExecStart=` line: systemd splits on whitespace,
/// expands `%` specifiers and `$VARIABLES`, so those are escaped.
pub fn exec_quote(word: &str) -> Result<String, String> {
    if word.chars().any(|c| c.is_control()) {
        return Err(format!(
            "{:?} contains a control character and cannot be written into a unit file",
            crate::text::sanitize(word)
        ));
    }
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._+-:@,=".contains(c));
    if plain {
        return Ok(word.to_string());
    }
    let mut out = String::from("\"");
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// Renders one canonical file for a target (pure): the binary path (and
/// `--config FILE`) in `ExecStart=`; for user units `WantedBy=default.target`,
/// no `network-online.target` (a user manager has none) and no
/// namespace-based sandboxing.
pub fn render(template: &str, target: &Target) -> Result<String, String> {
    let mut exec = exec_quote(&target.exe.to_string_lossy())?;
    if let Some(c) = &target.config {
        exec.push_str(" --config ");
        exec.push_str(&exec_quote(&c.to_string_lossy())?);
    }
    let user = target.scope == Scope::User;
    let mut out = String::with_capacity(template.len() + 64);
    let mut noted = false;
    // Comment lines are held until the line they describe: they go where it
    // goes.
    let mut comments = String::new();
    for line in template.lines() {
        if line.starts_with('#') {
            comments.push_str(line);
            comments.push('\n');
            continue;
        }
        let key = line.split_once('=').map(|(k, _)| k.trim());
        if user && key.is_some_and(|k| SYSTEM_IDENTITY.contains(&k)) {
            comments.clear();
            continue;
        }
        out.push_str(&comments);
        comments.clear();
        if let Some(rest) = line.strip_prefix("ExecStart=") {
            let args = rest.strip_prefix(CANONICAL_BIN).ok_or_else(|| {
                format!("template ExecStart= does not start with {CANONICAL_BIN}")
            })?;
            out.push_str("ExecStart=");
            out.push_str(&exec);
            out.push_str(args);
            out.push('\n');
            continue;
        }
        if user {
            if key.is_some_and(|k| SYSTEM_ONLY.contains(&k)) {
                if !noted {
                    out.push_str(
                        "# (user unit: the namespace-based Protect* options are left out;\n# a user manager lacks the privileges they need)\n",
                    );
                    noted = true;
                }
                continue;
            }
            if matches!(
                line.trim(),
                "After=network-online.target" | "Wants=network-online.target"
            ) {
                continue;
            }
            if line.trim() == "WantedBy=multi-user.target" {
                out.push_str("WantedBy=default.target\n");
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&comments);
    Ok(out)
}

/// Finds a unit file (or the drop-in) by name.
pub fn find(name: &str) -> Option<UnitFile> {
    UNITS
        .iter()
        .copied()
        .chain(std::iter::once(DROPIN))
        .find(|u| u.name == name)
}

/// One step of an install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Write {
        path: PathBuf,
        content: String,
    },
    /// A `systemctl [--user] ARGS...` call.
    Systemctl(Vec<String>),
    /// Another program (argv, never a shell): `systemd-sysusers FILE`.
    Run(Vec<String>),
    Note(String),
}

/// The unit directory of a scope: `$XDG_CONFIG_HOME/systemd/user`
/// (`~/.config/systemd/user`) or `/etc/systemd/system`.
pub fn unit_dir(scope: Scope, home: Option<&Path>, xdg_config_home: Option<&Path>) -> PathBuf {
    match scope {
        Scope::System => PathBuf::from("/etc/systemd/system"),
        Scope::User => xdg_config_home
            .filter(|p| p.is_absolute())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| home.unwrap_or(Path::new("/root")).join(".config"))
            .join("systemd/user"),
    }
}

fn user_flag(scope: Scope) -> &'static str {
    if scope == Scope::User { " --user" } else { "" }
}

/// The configuration `units install --system` writes when none is in use:
/// a system install, so that the service (as the grokmon user) and a person
/// (as root) share the state directory and the checks ask the system manager.
pub const SYSTEM_CONFIG: &str = "/etc/grokmon/config.toml";

/// Its text.
pub const SYSTEM_CONFIG_TEXT: &str = include_str!("../../debian/config.toml");

/// The sysusers.d file the package ships (`/usr/lib`); `units install
/// --system` writes `sysuser::SYSUSERS_PATH` (`/etc`) when it is absent.
pub const VENDOR_SYSUSERS: &str = "/usr/lib/sysusers.d/grokmon.conf";

/// What a system install adds before the units: the configuration (when
/// none is in use), the grokmon user's sysusers.d file and its creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemSetup {
    /// The configuration to write, if any.
    pub config: Option<PathBuf>,
    /// Whether the package already installed the sysusers.d file.
    pub vendor_sysusers: bool,
}

/// The install plan (pure): for a system install, the grokmon user (and a
/// configuration when none is in use) first; write the units, the drop-in
/// where systemd knows it, reload, enable and start the timers, and say how
/// to start the orchestrator (a person's decision, and `service.unit` may be
/// another service altogether).
pub fn plan(
    target: &Target,
    dir: &Path,
    systemd_version: Option<u32>,
    timers_only: bool,
    system: Option<&SystemSetup>,
) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    if let Some(sys) = system {
        if let Some(c) = &sys.config {
            steps.push(Step::Write {
                path: c.clone(),
                content: SYSTEM_CONFIG_TEXT.to_string(),
            });
        }
        let file = if sys.vendor_sysusers {
            VENDOR_SYSUSERS
        } else {
            steps.push(Step::Write {
                path: PathBuf::from(super::sysuser::SYSUSERS_PATH),
                content: super::sysuser::SYSUSERS_CONF.to_string(),
            });
            super::sysuser::SYSUSERS_PATH
        };
        steps.push(Step::Run(vec!["systemd-sysusers".into(), file.into()]));
        // The units' StateDirectory=, made now (systemd would at the first
        // start): from here on root's commands act as its owner.
        let u = super::sysuser::NAME;
        steps.push(Step::Run(
            [
                "install",
                "-d",
                "-m",
                "0750",
                "-o",
                u,
                "-g",
                u,
                crate::config::SYSTEM_STATE_DIR,
            ]
            .map(String::from)
            .to_vec(),
        ));
    }
    for u in UNITS {
        if timers_only && u.name == ORCHESTRATOR {
            continue;
        }
        steps.push(Step::Write {
            path: dir.join(u.name),
            content: render(u.template, target)?,
        });
    }
    match systemd_version {
        _ if timers_only => {}
        Some(v) if v >= DROPIN_MIN_VERSION => steps.push(Step::Write {
            path: dir.join(DROPIN.name),
            content: render(DROPIN.template, target)?,
        }),
        Some(v) => steps.push(Step::Note(format!(
            "skip {}: systemd {v} does not know RestartSteps= (needs {DROPIN_MIN_VERSION}); automatic restarts stay 30s apart",
            DROPIN.name
        ))),
        None => steps.push(Step::Note(format!(
            "skip {}: cannot tell the systemd version (`systemctl --version`); it needs {DROPIN_MIN_VERSION}",
            DROPIN.name
        ))),
    }
    steps.push(Step::Systemctl(vec!["daemon-reload".into()]));
    let mut enable = vec!["enable".to_string(), "--now".to_string()];
    enable.extend(TIMERS.iter().map(|t| t.to_string()));
    steps.push(Step::Systemctl(enable));
    let u = user_flag(target.scope);
    if timers_only {
        steps.push(Step::Note(format!(
            "{ORCHESTRATOR} not written (--timers-only): grokmon only watches the service named by [service] unit"
        )));
        return Ok(steps);
    }
    let mut note = format!(
        "grokmon.service is installed, not started: start it (and at every boot) with `systemctl{u} enable --now grokmon`"
    );
    if target.scope == Scope::User {
        note.push_str(
            "; to keep user units running without a login session: `loginctl enable-linger`",
        );
    }
    steps.push(Step::Note(note));
    Ok(steps)
}

/// Writes a file atomically: a temp file in the same directory, renamed into
/// place, so a unit is never half-written under its final name. `mode`, if
/// given, is set before any content is written.
fn write_atomic(path: &Path, content: &[u8], mode: Option<u32>) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    if let Err(e) = crate::text::write_atomic(path, content, mode) {
        let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
            " (system units need root: sudo grokmon units install --system)"
        } else {
            ""
        };
        anyhow::bail!("cannot write {}: {e}{hint}", path.display());
    }
    Ok(())
}

/// Where `units install` keeps a unit file it is about to overwrite with
/// different content: `NAME.grokmon-old` beside it. systemd loads only names
/// with a known unit suffix, so the copy is never picked up as a unit
/// (checked with systemd 252: `systemd-analyze --user unit-files` lists
/// `grokmon-check.service` but not `grokmon-check.service.grokmon-old`).
fn kept_copy_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".grokmon-old");
    PathBuf::from(s)
}

/// The current content and permission bits of `path`; `None` if there is no
/// such file.
fn read_existing(path: &Path) -> anyhow::Result<Option<(Vec<u8>, u32)>> {
    use std::os::unix::fs::PermissionsExt as _;
    let read = || -> std::io::Result<(Vec<u8>, u32)> {
        let mut f = std::fs::File::open(path)?;
        let mode = f.metadata()?.permissions().mode() & 0o777;
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut buf)?;
        Ok((buf, mode))
    };
    match read() {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => anyhow::bail!(
            "cannot read {} to keep a copy before replacing it: {e}; move it aside and run `grokmon units install` again",
            path.display()
        ),
    }
}

/// The binary and configuration the units should run.
pub(super) fn target_of(ctx: &Ctx, scope: Scope) -> anyhow::Result<Target> {
    let exe = std::env::current_exe().context("cannot find the grokmon binary's path")?;
    let config = match &ctx.config.source {
        Source::File(p) if p.is_absolute() => Some(p.clone()),
        Source::File(p) => Some(
            std::env::current_dir()
                .context("cannot resolve the config file's path")?
                .join(p),
        ),
        Source::Defaults => None,
    };
    Ok(Target { scope, exe, config })
}

fn env_path(k: &str) -> Option<PathBuf> {
    std::env::var_os(k)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `grokmon units ...`.
pub fn run(args: &UnitsCommand, ctx: &Ctx) -> anyhow::Result<u8> {
    match args {
        UnitsCommand::Install {
            user: _,
            system,
            dry_run,
            replace,
            timers_only,
        } => install(
            ctx,
            if *system { Scope::System } else { Scope::User },
            Options {
                dry_run: *dry_run,
                replace: *replace,
                timers_only: *timers_only,
            },
        ),
        UnitsCommand::Print { name } => {
            let Some(u) = find(name) else {
                let names: Vec<&str> = UNITS.iter().map(|u| u.name).chain([DROPIN.name]).collect();
                return Err(UsageError(format!(
                    "no unit named {:?}; known: {}",
                    crate::text::sanitize(name),
                    names.join(", ")
                ))
                .into());
            };
            let target = target_of(ctx, ctx.config.service.scope)?;
            let mut text = render(u.template, &target).map_err(anyhow::Error::msg)?;
            if u.name == CHECK_TIMER {
                text = with_check_interval(&text, ctx.config.check.interval);
            }
            crate::print_stdout(&text)?;
            Ok(exit::OK)
        }
        UnitsCommand::Verify => super::verify::run(ctx),
    }
}

/// `units install` flags.
#[derive(Debug, Clone, Copy)]
struct Options {
    dry_run: bool,
    replace: bool,
    timers_only: bool,
}

/// The units of `steps` that would take over a unit grokmon did not write:
/// the file itself, or one of the same name in a lower directory that ours
/// would override. Each with what it runs.
fn takeovers(steps: &[Step], dir: &Path, scope: Scope) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for step in steps {
        let Step::Write { path, content } = step else {
            continue;
        };
        if !path.starts_with(dir) {
            continue;
        }
        let name = path
            .strip_prefix(dir)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some((old, _)) = read_existing(path)?
            && old != content.as_bytes()
            && let Some(what) = super::ownership::foreign(&name, &String::from_utf8_lossy(&old))
        {
            out.push((path.clone(), what));
        }
        if name.contains('/') {
            continue;
        }
        for lower in super::ownership::lower_dirs(scope) {
            let p = lower.join(&name);
            if let Ok(text) = std::fs::read_to_string(&p)
                && let Some(what) = super::ownership::foreign(&name, &text)
            {
                out.push((
                    p,
                    format!("{what}; yours in {} would override it", dir.display()),
                ));
            }
        }
    }
    Ok(out)
}

fn install(ctx: &Ctx, scope: Scope, opts: Options) -> anyhow::Result<u8> {
    let dry_run = opts.dry_run;
    let mut target = target_of(ctx, scope)?;
    let dir = unit_dir(
        scope,
        env_path("HOME").as_deref(),
        env_path("XDG_CONFIG_HOME").as_deref(),
    );
    // A system install with no configuration in use gets one that says so
    // (the lookup found no /etc/grokmon/config.toml), and its units name it.
    let wrote_config = scope == Scope::System && ctx.config.source == Source::Defaults;
    let system = (scope == Scope::System).then(|| SystemSetup {
        config: wrote_config.then(|| PathBuf::from(SYSTEM_CONFIG)),
        vendor_sysusers: Path::new(VENDOR_SYSUSERS).exists(),
    });
    if wrote_config {
        target.config = Some(PathBuf::from(SYSTEM_CONFIG));
    }
    let mut steps = plan(
        &target,
        &dir,
        super::systemd_version(),
        opts.timers_only,
        system.as_ref(),
    )
    .map_err(anyhow::Error::msg)?;
    for step in &mut steps {
        if let Step::Write { path, content } = step
            && path.ends_with(CHECK_TIMER)
        {
            *content = with_check_interval(content, ctx.config.check.interval);
        }
    }
    let taken = takeovers(&steps, &dir, scope)?;
    if !taken.is_empty() && !opts.replace {
        let list: Vec<String> = taken
            .iter()
            .map(|(p, what)| format!("{} ({what})", p.display()))
            .collect();
        let timers_hint = if taken
            .iter()
            .all(|(p, _)| p.file_name().is_some_and(|n| n == ORCHESTRATOR))
        {
            format!(
                " To have grokmon watch that service, install only the check and backup timers: `grokmon units install{} --timers-only` (and set [service] unit to its name);",
                if scope == Scope::System {
                    " --system"
                } else {
                    ""
                }
            )
        } else {
            String::new()
        };
        anyhow::bail!(
            "refusing to take over a unit grokmon did not write: {}. Nothing was written.{timers_hint} to replace it anyway, add --replace (a replaced file is kept as NAME.grokmon-old, which systemd does not load)",
            list.join("; ")
        );
    }
    let sc = Systemctl::new(scope);
    let u = user_flag(scope);
    let say = |s: String| crate::print_stdout(&(s + "\n"));
    if dry_run {
        say(format!(
            "dry run: nothing is written or run ({} units into {})",
            scope.as_str(),
            dir.display()
        ))?;
    }
    let exe = target.exe.to_string_lossy();
    if exe.contains("/target/debug/") || exe.contains("/target/release/") {
        say(format!(
            "note: the units will run {exe}, a build directory; install the binary first (`cargo install --path .` or the .deb) and run `grokmon units install` from there"
        ))?;
    }
    if scope == Scope::System
        && let Source::File(p) = &ctx.config.source
        && (p.starts_with("/root") || p.starts_with("/home"))
    {
        say(format!(
            "note: the system units run as the {} user, which cannot read {} in a home directory; move it to {SYSTEM_CONFIG}",
            super::sysuser::NAME,
            p.display()
        ))?;
    }
    if ctx.config.service.scope != scope && !wrote_config {
        say(format!(
            "note: the config's service.scope is {:?}: check and restart ask that manager about {}; set [service] scope = {:?} to match",
            ctx.config.service.scope.as_str(),
            ctx.config.service.unit,
            scope.as_str()
        ))?;
    }
    let mut written: Vec<PathBuf> = Vec::new();
    let mut unchanged: Vec<PathBuf> = Vec::new();
    for step in &steps {
        match step {
            Step::Write { path, content } => {
                let old = read_existing(path)?;
                let same = old.as_ref().is_some_and(|(o, _)| o == content.as_bytes());
                // A file that differs (hand-edited, or from an older
                // grokmon) is kept beside it before it is replaced.
                let keep = old.filter(|_| !same);
                let copy = kept_copy_path(path);
                if dry_run {
                    let what = if same { "unchanged" } else { "write" };
                    let mut line = format!("would {what} {}", path.display());
                    if keep.is_some() {
                        line.push_str(&format!(
                            " (would keep your previous version as {})",
                            copy.display()
                        ));
                    }
                    say(line)?;
                } else if same {
                    say(format!("unchanged {}", path.display()))?;
                    unchanged.push(path.clone());
                } else {
                    let mut line = format!("wrote {}", path.display());
                    if let Some((old, mode)) = &keep {
                        write_atomic(&copy, old, Some(*mode))?;
                        line.push_str(&format!(
                            " (kept your previous version as {})",
                            copy.display()
                        ));
                    }
                    write_atomic(path, content.as_bytes(), None)?;
                    say(line)?;
                    written.push(path.clone());
                }
            }
            Step::Systemctl(args) => {
                let line = format!("systemctl{u} {}", args.join(" "));
                if dry_run {
                    say(format!("would run: {line}"))?;
                    continue;
                }
                say(format!("run: {line}"))?;
                let res = if args[0] == "daemon-reload" {
                    sc.daemon_reload()
                } else {
                    let units: Vec<&str> = args[2..].iter().map(String::as_str).collect();
                    sc.enable_now(&units)
                };
                match res {
                    Ok(()) => {}
                    Err(e @ SystemctlError::Unavailable(_)) => anyhow::bail!(
                        "the units are written to {}, but {e}: once systemd runs, `systemctl{u} daemon-reload && systemctl{u} enable --now {}`; without systemd use `grokmon cron`",
                        dir.display(),
                        TIMERS.join(" ")
                    ),
                    Err(e) => return Err(anyhow::Error::new(e).context(format!("{line} failed"))),
                }
            }
            Step::Run(argv) => {
                let line = argv.join(" ");
                if dry_run {
                    say(format!("would run: {line}"))?;
                    continue;
                }
                say(format!("run: {line}"))?;
                let mut c = std::process::Command::new(&argv[0]);
                c.args(&argv[1..]);
                match super::run_with_timeout(&mut c, std::time::Duration::from_secs(60)) {
                    Ok(Some(o)) if o.status.success() => {}
                    Ok(Some(o)) => anyhow::bail!(
                        "{line} failed ({}): {}; the system units need the {} user",
                        o.status,
                        crate::text::sanitize(o.stderr.trim()),
                        super::sysuser::NAME
                    ),
                    Ok(None) => anyhow::bail!("{line} timed out after 60s"),
                    Err(e) => anyhow::bail!(
                        "cannot run {}: {e}; the system units need the {} user (create it with `systemd-sysusers {}` or `adduser --system --group --home {} {}`)",
                        argv[0],
                        super::sysuser::NAME,
                        argv.last().map(String::as_str).unwrap_or_default(),
                        crate::config::SYSTEM_STATE_DIR,
                        super::sysuser::NAME
                    ),
                }
            }
            Step::Note(n) => say(format!("note: {n}"))?,
        }
    }
    for (p, what) in &taken {
        say(format!(
            "note: --replace: {} ({what}) is no longer what systemd runs under that name; grokmon's unit is",
            p.display()
        ))?;
    }
    if !dry_run {
        let names = |v: &[PathBuf]| {
            v.iter()
                .map(|p| p.strip_prefix(&dir).unwrap_or(p).display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut summary = format!(
            "done: {} written{}, {} unchanged",
            written.len(),
            if written.is_empty() {
                String::new()
            } else {
                format!(" ({})", names(&written))
            },
            unchanged.len()
        );
        if opts.timers_only {
            summary.push_str(&format!("; {ORCHESTRATOR} not written (--timers-only)"));
        }
        say(summary)?;
    }
    Ok(exit::OK)
}

/// The check timer, whose period is `check.interval`.
pub const CHECK_TIMER: &str = "grokmon-check.timer";

/// A systemd time span for a period: `5min`, `90s`.
fn systemd_span(d: Duration) -> String {
    let s = d.as_secs().max(1);
    if s.is_multiple_of(60) {
        format!("{}min", s / 60)
    } else {
        format!("{s}s")
    }
}

/// The rendered check timer with `check.interval` as its period (pure); the
/// shipped file says 5 minutes, the default.
pub fn with_check_interval(timer: &str, interval: Duration) -> String {
    let every = crate::text::human_duration(interval);
    let mut out = String::with_capacity(timer.len() + 16);
    for line in timer.lines() {
        if line.starts_with("OnUnitActiveSec=") {
            out.push_str(&format!("OnUnitActiveSec={}", systemd_span(interval)));
        } else if line.starts_with("Description=") {
            out.push_str(&format!(
                "Description=grokmon check every {every} (check.interval)"
            ));
        } else if line.starts_with("# Runs grokmon-check.service every ") {
            out.push_str(&format!(
                "# Runs grokmon-check.service every {every} (check.interval), starting 2 minutes after boot."
            ));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(exe: &str, config: Option<&str>) -> Target {
        Target {
            scope: Scope::User,
            exe: exe.into(),
            config: config.map(PathBuf::from),
        }
    }

    #[test]
    fn the_check_timer_and_crontab_follow_check_interval() {
        let t = render(find(CHECK_TIMER).unwrap().template, &user("/x", None)).unwrap();
        let five = with_check_interval(&t, Duration::from_secs(300));
        assert!(five.contains("\nOnUnitActiveSec=5min\n"), "{five}");
        let two = with_check_interval(&t, Duration::from_secs(120));
        assert!(two.contains("\nOnUnitActiveSec=2min\n"), "{two}");
        assert!(
            two.contains("Description=grokmon check every 2m (check.interval)"),
            "{two}"
        );
        assert!(!two.contains("5 minutes") && !two.contains("5min"), "{two}");
        let odd = with_check_interval(&t, Duration::from_secs(90));
        assert!(odd.contains("\nOnUnitActiveSec=90s\n"), "{odd}");
        assert_eq!(
            cron_schedule(Duration::from_secs(300)),
            ("*/5 * * * *".into(), None)
        );
        assert_eq!(
            cron_schedule(Duration::from_secs(3600)),
            ("0 * * * *".into(), None)
        );
        assert_eq!(
            cron_schedule(Duration::from_secs(7200)),
            ("0 */2 * * *".into(), None)
        );
        let (s, note) = cron_schedule(Duration::from_secs(7 * 60));
        assert_eq!(s, "*/6 * * * *");
        assert!(note.unwrap().contains("every 6m instead"));
        let c = crontab_every(&user("/x", None), Duration::from_secs(600));
        assert!(c.contains("\n*/10 * * * * /x check --quiet\n"), "{c}");
    }

    #[test]
    fn exec_words_are_quoted_for_systemd() {
        assert_eq!(exec_quote("/usr/bin/grokmon").unwrap(), "/usr/bin/grokmon");
        assert_eq!(
            exec_quote("/home/al ice/100%/$x\"y").unwrap(),
            r#""/home/al ice/100%%/$$x\"y""#
        );
        assert!(exec_quote("/a\nb").is_err());
    }

    #[test]
    fn render_sets_binary_config_and_scope() {
        let svc = find("grokmon.service").unwrap().template;
        let sys = render(svc, &Target::canonical(Scope::System)).unwrap();
        assert_eq!(
            sys, svc,
            "the canonical system rendering is the file itself"
        );
        let u = render(svc, &user("/opt/g m/grokmon", Some("/etc/g.toml"))).unwrap();
        assert!(
            u.contains("ExecStart=\"/opt/g m/grokmon\" --config /etc/g.toml run\n"),
            "{u}"
        );
        assert!(u.contains("WantedBy=default.target"), "{u}");
        assert!(!u.contains("multi-user.target"), "{u}");
        assert!(!u.contains("network-online"), "{u}");
        assert!(!u.contains("ProtectSystem="), "{u}");
        // A user unit runs as its user, with its XDG data: no grokmon user,
        // no state directory, and not the comment that explains them.
        for k in [
            "User=",
            "Group=",
            "StateDirectory",
            "sysusers",
            "ProtectHome",
        ] {
            assert!(!u.contains(k), "{k} in a user unit: {u}");
        }
        for name in [
            "grokmon.service",
            "grokmon-check.service",
            "grokmon-backup.service",
        ] {
            let sys = render(
                find(name).unwrap().template,
                &Target::canonical(Scope::System),
            )
            .unwrap();
            for k in [
                "User=grokmon",
                "Group=grokmon",
                "StateDirectory=grokmon",
                "StateDirectoryMode=0750",
                "ProtectHome=read-only",
            ] {
                assert!(sys.lines().any(|l| l == k), "{name}: {k} missing");
            }
        }
        assert!(u.contains("NoNewPrivileges=yes"), "{u}");
        // The limits survive the user rendering, in [Unit].
        let unit_section = u.split("\n[Service]\n").next().unwrap();
        assert!(unit_section.contains("StartLimitBurst=5"), "{u}");
        assert!(unit_section.contains("StartLimitIntervalSec=600"), "{u}");
        let t = render(
            find("grokmon-check.timer").unwrap().template,
            &user("/x", None),
        )
        .unwrap();
        assert!(t.contains("WantedBy=timers.target"), "{t}");
    }

    #[test]
    fn shipped_units_keep_the_contract() {
        let svc = find("grokmon.service").unwrap().template;
        let (unit, service) = svc.split_once("\n[Service]\n").unwrap();
        for k in ["StartLimitIntervalSec=600", "StartLimitBurst=5"] {
            assert!(unit.contains(k), "{k} must be in [Unit]");
            assert!(!service.contains(k), "{k} must not be in [Service]");
        }
        for k in [
            "Type=notify",
            "ExecStart=/usr/bin/grokmon run",
            "Restart=on-failure",
            "RestartSec=30",
            "TimeoutStopSec=15",
            "MemoryMax=500M",
            "CPUQuota=200%",
            "WatchdogSec=60",
            "RestartPreventExitStatus=78",
            "NoNewPrivileges=yes",
        ] {
            assert!(service.lines().any(|l| l == k), "{k} missing");
        }
        assert!(!svc.lines().any(|l| l.starts_with("PrivateTmp")));
        let check = find("grokmon-check.service").unwrap().template;
        assert!(check.contains("SuccessExitStatus=1 2"));
        assert!(check.contains("ExecStart=/usr/bin/grokmon check --quiet"));
        assert!(check.contains("TimeoutStartSec="));
        let timer = find("grokmon-check.timer").unwrap().template;
        for k in [
            "OnBootSec=2min",
            "OnUnitActiveSec=5min",
            "RandomizedDelaySec=",
        ] {
            assert!(timer.contains(k), "{k}");
        }
        let bt = find("grokmon-backup.timer").unwrap().template;
        for k in ["OnCalendar=daily", "Persistent=true", "RandomizedDelaySec="] {
            assert!(bt.contains(k), "{k}");
        }
        assert!(DROPIN.template.contains("RestartSteps="));
        assert!(DROPIN.template.contains("RestartMaxDelaySec="));
    }

    #[test]
    fn plan_adds_the_dropin_only_where_systemd_knows_it() {
        let t = user("/x/grokmon", None);
        let dir = Path::new("/h/.config/systemd/user");
        let writes = |steps: &[Step]| {
            steps
                .iter()
                .filter_map(|s| match s {
                    Step::Write { path, .. } => Some(path.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let old = plan(&t, dir, Some(252), false, None).unwrap();
        assert_eq!(writes(&old).len(), 5);
        assert!(
            old.iter()
                .any(|s| matches!(s, Step::Note(n) if n.contains("systemd 252")))
        );
        let new = plan(&t, dir, Some(255), false, None).unwrap();
        assert!(writes(&new).contains(&dir.join("grokmon.service.d/restart-steps.conf")));
        assert!(writes(&plan(&t, dir, None, false, None).unwrap()).len() == 5);
        let calls: Vec<&Vec<String>> = new
            .iter()
            .filter_map(|s| match s {
                Step::Systemctl(a) => Some(a),
                _ => None,
            })
            .collect();
        assert_eq!(calls[0], &vec!["daemon-reload".to_string()]);
        assert_eq!(
            calls[1].join(" "),
            "enable --now grokmon-check.timer grokmon-backup.timer"
        );
        assert_eq!(calls.len(), 2, "nothing restarts or starts grokmon.service");
        let timers = plan(&t, dir, Some(255), true, None).unwrap();
        assert_eq!(
            writes(&timers),
            vec![
                dir.join("grokmon-check.service"),
                dir.join("grokmon-check.timer"),
                dir.join("grokmon-backup.service"),
                dir.join("grokmon-backup.timer"),
            ],
            "--timers-only: no grokmon.service, no drop-in"
        );
        assert!(
            timers
                .iter()
                .any(|s| matches!(s, Step::Note(n) if n.contains("grokmon.service not written")))
        );
    }

    #[test]
    fn unit_dirs() {
        assert_eq!(
            unit_dir(Scope::User, Some(Path::new("/h")), None),
            Path::new("/h/.config/systemd/user")
        );
        assert_eq!(
            unit_dir(Scope::User, Some(Path::new("/h")), Some(Path::new("/x"))),
            Path::new("/x/systemd/user")
        );
        assert_eq!(
            unit_dir(Scope::System, None, None),
            Path::new("/etc/systemd/system")
        );
    }

    #[test]
    fn crontab_lines_are_quoted() {
        let c = crontab(&user("/opt/my bin/grokmon", Some("/etc/100%.toml")));
        assert!(
            c.contains(
                "*/5 * * * * '/opt/my bin/grokmon' --config '/etc/100\\%.toml' check --quiet\n"
            ),
            "{c}"
        );
        assert!(
            c.contains("17 3 * * * '/opt/my bin/grokmon' --config"),
            "{c}"
        );
        assert_eq!(cron_quote("it's"), r"'it'\''s'");
    }
}
