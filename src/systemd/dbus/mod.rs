//! A minimal synchronous D-Bus client: just enough to read one unit's
//! properties from systemd (`org.freedesktop.DBus.Properties.GetAll` on the
//! unit and on its type's interface) without spawning `systemctl`, which
//! costs 4-6 ms of process start and library loading per check.
//!
//! It asks over the bus first (`$DBUS_SESSION_BUS_ADDRESS` or
//! `$XDG_RUNTIME_DIR/bus`; `$DBUS_SYSTEM_BUS_ADDRESS` or
//! `/run/dbus/system_bus_socket`), where systemd is already connected, and
//! then systemd's private socket (`$XDG_RUNTIME_DIR/systemd/private` for
//! the user manager, `/run/systemd/private` for the system manager when
//! root). The private socket needs no `dbus-daemon`, but each connection to
//! it costs the manager itself ~2.5 ms of CPU (systemd 252 sets up its
//! whole object tree for every new peer), three to four times what the same
//! query costs it over the bus. The private socket is asked when the bus
//! cannot be reached, when systemd is not on it, or when the bus has not
//! even authenticated within `HEDGE` (a hung `dbus-daemon` costs a check
//! that second, not its service row). The unit's object path is computed
//! from its name, as `systemctl show` does (systemd loads the unit on
//! access), and the authentication is pipelined as sd-bus does it (`AUTH`,
//! `BEGIN` and the calls in one write, the `OK` read back with the
//! replies): one write, one round trip. `send` connects and writes without
//! waiting (so `check` can do its local work while systemd answers);
//! `Sent::finish` reads with blocking reads, the deadline as the socket
//! timeout. No threads, no polling.
//!
//! The values are rendered as `systemctl show --timestamp=unix` prints them
//! (`show_text`), so that one parser of properties (`parse_show`'s map, read
//! by the service probe and `units verify`) serves both paths.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::Scope;

mod show;
mod wire;
pub use show::*;
pub use wire::*;

/// Why the bus could not answer.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// No socket to connect to (no systemd, no bus): the caller falls back
    /// to `systemctl`.
    #[error("no D-Bus to ask: {0}")]
    Unreachable(String),
    #[error("D-Bus call timed out")]
    Timeout,
    /// An error reply (`org.freedesktop.DBus.Error.ServiceUnknown` when no
    /// systemd is on the bus, `AccessDenied`, ...).
    #[error("D-Bus error {name}: {message}")]
    Remote { name: String, message: String },
    #[error("D-Bus protocol error: {0}")]
    Protocol(String),
}

fn io_err(e: std::io::Error) -> BusError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => BusError::Timeout,
        _ => BusError::Protocol(e.to_string()),
    }
}

/// A socket address from a D-Bus address string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SockAddr {
    Path(PathBuf),
    Abstract(Vec<u8>),
}

/// Where to connect, and whether it is a bus (which wants `Hello` first)
/// or systemd itself (peer to peer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: SockAddr,
    pub peer_to_peer: bool,
}

/// The endpoints to try, in order, for a scope: the bus, then systemd's
/// private socket (pure: `env` reads a variable, `root` is whether the
/// effective uid is 0).
pub fn endpoints(scope: Scope, env: impl Fn(&str) -> Option<String>, root: bool) -> Vec<Endpoint> {
    let env = |k: &str| env(k).filter(|v| !v.is_empty());
    let mut out = Vec::new();
    let bus = |addr: SockAddr| Endpoint {
        addr,
        peer_to_peer: false,
    };
    match scope {
        Scope::User => {
            // Without XDG_RUNTIME_DIR there is no user manager to find
            // (systemctl says "No medium found").
            let rt = env("XDG_RUNTIME_DIR").map(PathBuf::from);
            match env("DBUS_SESSION_BUS_ADDRESS") {
                Some(a) => out.extend(parse_address(&a).into_iter().map(bus)),
                None => out.extend(rt.as_ref().map(|rt| bus(SockAddr::Path(rt.join("bus"))))),
            }
            if let Some(rt) = &rt {
                out.push(Endpoint {
                    addr: SockAddr::Path(rt.join("systemd/private")),
                    peer_to_peer: true,
                });
            }
        }
        Scope::System => {
            let a = env("DBUS_SYSTEM_BUS_ADDRESS")
                .unwrap_or_else(|| "unix:path=/run/dbus/system_bus_socket".into());
            out.extend(parse_address(&a).into_iter().map(bus));
            // Only root may connect to the system manager's own socket.
            if root {
                out.push(Endpoint {
                    addr: SockAddr::Path("/run/systemd/private".into()),
                    peer_to_peer: true,
                });
            }
        }
    }
    out
}

/// The unix socket addresses of a D-Bus address list
/// (`unix:path=/run/user/1000/bus;unix:abstract=/tmp/x,guid=...`); other
/// transports are skipped.
pub fn parse_address(s: &str) -> Vec<SockAddr> {
    let mut out = Vec::new();
    for one in s.split(';') {
        let Some(("unix", kvs)) = one.split_once(':') else {
            continue;
        };
        for kv in kvs.split(',') {
            match kv.split_once('=') {
                Some(("path", v)) => {
                    use std::os::unix::ffi::OsStringExt;
                    let bytes = unescape(v);
                    out.push(SockAddr::Path(std::ffi::OsString::from_vec(bytes).into()));
                    break;
                }
                Some(("abstract", v)) => {
                    out.push(SockAddr::Abstract(unescape(v)));
                    break;
                }
                _ => {}
            }
        }
    }
    out
}

/// Undoes the `%XX` escaping of D-Bus address values.
fn unescape(v: &str) -> Vec<u8> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// systemd's object path for a unit (`bus_label_escape`: every byte but
/// ASCII letters and digits as `_xx`).
pub fn unit_path(unit: &str) -> String {
    let mut p = String::from("/org/freedesktop/systemd1/unit/");
    if unit.is_empty() {
        p.push('_');
    }
    for b in unit.bytes() {
        if b.is_ascii_alphanumeric() {
            p.push(b as char);
        } else {
            p.push_str(&format!("_{b:02x}"));
        }
    }
    p
}

/// The unit name as systemd knows it (`grokmon` is `grokmon.service`) and
/// its type's interface.
fn unit_and_interface(unit: &str) -> (String, &'static str) {
    const TYPES: &[(&str, &str)] = &[
        ("service", "Service"),
        ("socket", "Socket"),
        ("target", "Target"),
        ("device", "Device"),
        ("mount", "Mount"),
        ("automount", "Automount"),
        ("swap", "Swap"),
        ("timer", "Timer"),
        ("path", "Path"),
        ("slice", "Slice"),
        ("scope", "Scope"),
    ];
    if let Some((_, suffix)) = unit.rsplit_once('.')
        && let Some((_, iface)) = TYPES.iter().find(|(t, _)| *t == suffix)
    {
        return (unit.to_string(), iface);
    }
    (format!("{unit}.service"), "Service")
}

/// Reads `props` of `unit` from the systemd manager of `scope`, rendered as
/// `systemctl show -p ... --timestamp=unix` prints them. Properties the
/// manager does not have are absent from the map, as with systemctl.
pub fn unit_properties(
    scope: Scope,
    unit: &str,
    props: &[&str],
    timeout: Duration,
) -> Result<BTreeMap<String, String>, BusError> {
    send(scope, unit, props, timeout)?.finish()
}

/// How long the bus may take to authenticate (and take the request) before
/// the query is asked again of systemd's private socket, when there is one
/// to ask. The bus usually answers within a few milliseconds; one that has
/// not even authenticated in a second is hung, and the manager itself may
/// still answer.
pub const HEDGE: Duration = Duration::from_secs(1);

/// A query written (or being written) to the manager: `finish` reads the
/// answer.
pub struct Sent {
    stream: UnixStream,
    /// What of the request the socket did not take at once.
    unsent: Vec<u8>,
    calls: Calls,
    unit: String,
    props: Vec<String>,
    /// The endpoints after this one, asked when this one does not answer.
    rest: Vec<Endpoint>,
    /// When to ask the next endpoint if this one has not answered.
    hedge: Instant,
    deadline: Instant,
}

/// The serials of the calls in a request.
struct Calls {
    hello: Option<u32>,
    unit: u32,
    of_type: u32,
}

/// Connects to the manager of `scope` (the first endpoint that takes the
/// connection) and writes the whole query without waiting for anything:
/// the manager answers while the caller does other work. The answer is
/// due within `timeout` from now.
pub fn send(scope: Scope, unit: &str, props: &[&str], timeout: Duration) -> Result<Sent, BusError> {
    let euid = euid();
    let eps = endpoints(scope, |k| std::env::var(k).ok(), euid == 0);
    let deadline = Instant::now() + timeout;
    let props: Vec<String> = props.iter().map(|p| p.to_string()).collect();
    match send_first(&eps, euid, unit, &props, deadline) {
        Ok(sent) => Ok(sent),
        Err(why) if why.is_empty() => Err(BusError::Unreachable(match scope {
            Scope::User => "XDG_RUNTIME_DIR and DBUS_SESSION_BUS_ADDRESS are unset".into(),
            Scope::System => "no system bus address".into(),
        })),
        Err(why) => Err(BusError::Unreachable(why.join("; "))),
    }
}

/// Sends the query to the first of `eps` that takes the connection; `Err`
/// lists why each refused.
fn send_first(
    eps: &[Endpoint],
    euid: u32,
    unit: &str,
    props: &[String],
    deadline: Instant,
) -> Result<Sent, Vec<String>> {
    let mut why = Vec::new();
    for (i, ep) in eps.iter().enumerate() {
        let stream = match connect(&ep.addr) {
            Ok(s) => s,
            Err(e) => {
                why.push(format!("{}: {e}", show_addr(&ep.addr)));
                continue;
            }
        };
        let (request, calls) = request(ep.peer_to_peer, euid, unit);
        let mut sent = Sent {
            stream,
            unsent: request,
            calls,
            unit: unit.to_string(),
            props: props.to_vec(),
            rest: eps[i + 1..].to_vec(),
            hedge: Instant::now() + HEDGE,
            deadline,
        };
        sent.write_what_fits();
        return Ok(sent);
    }
    Err(why)
}

fn show_addr(a: &SockAddr) -> String {
    match a {
        SockAddr::Path(p) => p.display().to_string(),
        SockAddr::Abstract(n) => format!("@{}", String::from_utf8_lossy(n)),
    }
}

/// A non-blocking connection to `a`. A listener whose backlog is full
/// (`EAGAIN`) gets a blocking connect, as before this was split.
fn connect(a: &SockAddr) -> std::io::Result<UnixStream> {
    // SAFETY: an all-zero sockaddr_un is valid; the fields are set below.
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let (name, nul): (&[u8], usize) = match a {
        SockAddr::Path(p) => (p.as_os_str().as_bytes(), 1),
        SockAddr::Abstract(n) => (n, 0),
    };
    let start = usize::from(matches!(a, SockAddr::Abstract(_)));
    if start + name.len() + nul > sa.sun_path.len() || name.contains(&0) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "socket path too long",
        ));
    }
    for (d, b) in sa.sun_path[start..].iter_mut().zip(name) {
        *d = *b as libc::c_char;
    }
    let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + start + name.len() + nul;
    // SAFETY: socket(2) with constant arguments; the descriptor is owned by
    // the UnixStream from here on.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket nobody else owns.
    let stream = unsafe { UnixStream::from_raw_fd(fd) };
    // SAFETY: `sa` is a valid sockaddr_un of at least `len` bytes.
    let rc = unsafe { libc::connect(fd, (&raw const sa).cast(), len as libc::socklen_t) };
    if rc == 0 {
        return Ok(stream);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::EAGAIN) {
        return Err(e);
    }
    match a {
        SockAddr::Path(p) => UnixStream::connect(p),
        SockAddr::Abstract(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            UnixStream::connect_addr(&addr)
        }
    }
}

const SYSTEMD: &str = "org.freedesktop.systemd1";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// The whole conversation up to the replies, in one piece: EXTERNAL
/// authentication (the kernel vouches for our uid), `BEGIN` without waiting
/// for the `OK` (sd-bus pipelines the same way; a server that refuses says
/// so in the line `finish` reads first), `Hello` on a bus, and the two
/// `GetAll` calls on the unit's computed path.
fn request(peer_to_peer: bool, euid: u32, unit: &str) -> (Vec<u8>, Calls) {
    let hex: String = euid
        .to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut out = format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").into_bytes();
    let (unit, iface) = unit_and_interface(unit);
    let path = unit_path(&unit);
    let type_iface = format!("{SYSTEMD}.{iface}");
    let mut serial = 0u32;
    let mut next = || {
        serial += 1;
        serial
    };
    let hello = if peer_to_peer {
        None
    } else {
        let s = next();
        out.extend(method_call(
            s,
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "Hello",
            None,
        ));
        Some(s)
    };
    let unit_call = next();
    out.extend(method_call(
        unit_call,
        SYSTEMD,
        &path,
        PROPERTIES,
        "GetAll",
        Some(&format!("{SYSTEMD}.Unit")),
    ));
    let type_call = next();
    out.extend(method_call(
        type_call,
        SYSTEMD,
        &path,
        PROPERTIES,
        "GetAll",
        Some(&type_iface),
    ));
    (
        out,
        Calls {
            hello,
            unit: unit_call,
            of_type: type_call,
        },
    )
}

impl Sent {
    /// Writes what the socket takes without waiting.
    fn write_what_fits(&mut self) {
        while !self.unsent.is_empty() {
            match (&self.stream).write(&self.unsent) {
                Ok(n) => {
                    self.unsent.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// Writes the rest of the query and reads the answer, by the deadline.
    /// When another endpoint follows (the private socket after the bus),
    /// it is asked instead, within the same deadline, if this one fails or
    /// has not even authenticated by `hedge` (a hung `dbus-daemon`; a bus
    /// that has said `OK` is waited for, as systemd itself would be as slow
    /// on its own socket).
    pub fn finish(self) -> Result<BTreeMap<String, String>, BusError> {
        let deadline = self.deadline;
        let err = match self.read_answer() {
            Ok(m) => return Ok(m),
            Err(Failed::Hedged(next)) => return next.finish(),
            Err(Failed::With(e)) => e,
        };
        // Timed out at the deadline, or nowhere else to ask: the answer.
        if matches!(err, BusError::Timeout) || self.rest.is_empty() || Instant::now() >= deadline {
            return Err(err);
        }
        match send_first(&self.rest, euid(), &self.unit, &self.props, deadline) {
            Ok(next) => match next.finish() {
                Ok(m) => Ok(m),
                Err(BusError::Unreachable(_)) => Err(err),
                Err(e) => Err(e),
            },
            // Nothing else takes the connection: what this endpoint said.
            Err(_) => Err(err),
        }
    }

    /// `finish` on this endpoint.
    fn read_answer(&self) -> Result<BTreeMap<String, String>, Failed> {
        let stream = &self.stream;
        let deadline = self.deadline;
        let set_timeouts = |until: Instant| -> Result<(), BusError> {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // Past the deadline (the check was reading another answer
                // first): what arrived in time is read, nothing more is
                // waited for (a read that would wait is a timeout).
                return stream.set_nonblocking(true).map_err(io_err);
            }
            stream.set_nonblocking(false).map_err(io_err)?;
            stream.set_read_timeout(Some(left)).map_err(io_err)?;
            stream.set_write_timeout(Some(left)).map_err(io_err)
        };
        let hedging = !self.rest.is_empty() && self.hedge < deadline;
        set_timeouts(if hedging { self.hedge } else { deadline })?;
        // What of the request the socket has not taken yet (usually none:
        // `send` wrote it whole).
        let mut unsent = &self.unsent[..];
        let write_rest = |unsent: &mut &[u8]| -> Result<(), BusError> {
            while !unsent.is_empty() {
                match (&mut &self.stream).write(unsent) {
                    Ok(0) => {
                        return Err(BusError::Protocol(
                            "the connection closed while writing".into(),
                        ));
                    }
                    Ok(n) => *unsent = &unsent[n..],
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(io_err(e)),
                }
            }
            Ok(())
        };
        let mut r = BufReader::with_capacity(64 * 1024, stream);
        let mut line = Vec::new();
        let mut auth_line = |line: &mut Vec<u8>| {
            let left = 512u64.saturating_sub(line.len() as u64);
            (&mut r).take(left).read_until(b'\n', line).map_err(io_err)
        };
        match write_rest(&mut unsent).and_then(|_| auth_line(&mut line)) {
            Ok(_) => {}
            Err(BusError::Timeout) if hedging => {
                // Not even the authentication by the hedge: ask the next
                // endpoint if one takes the connection, else wait on.
                if let Ok(next) = send_first(&self.rest, euid(), &self.unit, &self.props, deadline)
                {
                    return Err(Failed::Hedged(Box::new(next)));
                }
                set_timeouts(deadline)?;
                write_rest(&mut unsent)?;
                auth_line(&mut line)?;
            }
            Err(e) => return Err(e.into()),
        }
        if !line.starts_with(b"OK ") {
            return Err(BusError::Protocol(format!(
                "authentication refused: {}",
                String::from_utf8_lossy(&line).trim()
            ))
            .into());
        }
        set_timeouts(deadline)?;
        let calls = &self.calls;
        let mut unit_reply = None;
        let mut type_reply = None;
        let mut hello_done = calls.hello.is_none();
        while unit_reply.is_none() || type_reply.is_none() || !hello_done {
            // The timeouts are set again before a read from the socket, not
            // for each message already in the buffer (systemd's answers
            // usually arrive in one read): a read that completes a buffered
            // message overshoots the deadline by at most the microseconds
            // spent parsing since they were set.
            if r.buffer().is_empty() {
                set_timeouts(deadline)?;
            }
            let msg = read_message(&mut r)?;
            let Some(to) = msg.reply_serial else {
                continue; // a signal (NameAcquired) or a stray call
            };
            let result = match msg.kind {
                MSG_RETURN => Ok(msg),
                MSG_ERROR => Err(msg.error()),
                _ => continue,
            };
            if Some(to) == calls.hello {
                result?;
                hello_done = true;
            } else if to == calls.unit {
                unit_reply = Some(result);
            } else if to == calls.of_type {
                type_reply = Some(result);
            }
        }
        let props: Vec<&str> = self.props.iter().map(String::as_str).collect();
        let mut map = BTreeMap::new();
        let unit_msg = unit_reply.expect("loop ends with it")?;
        collect(&unit_msg, &props, &mut map)?;
        match type_reply.expect("loop ends with it") {
            Ok(m) => collect(&m, &props, &mut map)?,
            // A unit that is not loaded may lack its type's properties; what
            // the Unit interface said (LoadState=not-found) is the answer.
            Err(_) if map.get("LoadState").is_some_and(|s| s != "loaded") => {}
            Err(e) => return Err(e.into()),
        }
        Ok(map)
    }
}

/// Why an endpoint gave no answer.
enum Failed {
    /// It has not authenticated by the hedge; the query went to the next.
    Hedged(Box<Sent>),
    With(BusError),
}

impl From<BusError> for Failed {
    fn from(e: BusError) -> Failed {
        Failed::With(e)
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Adds the wanted properties of a `GetAll` reply (`a{sv}`) to `map`.
fn collect(
    msg: &Message,
    props: &[&str],
    map: &mut BTreeMap<String, String>,
) -> Result<(), BusError> {
    if msg.signature != "a{sv}" {
        return Err(BusError::Protocol(format!(
            "GetAll answered with signature {:?}",
            msg.signature
        )));
    }
    let Value::Array(entries) = msg.body()? else {
        return Err(BusError::Protocol("GetAll reply is not an array".into()));
    };
    for e in entries {
        if let Value::Struct(kv) = e
            && let [Value::Str(name), Value::Variant(v)] = kv.as_slice()
            && props.contains(&name.as_str())
            && let Some(text) = show_text(name, v)
        {
            map.insert(name.clone(), text);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans_as_systemd_formats_them() {
        // Each pair as `systemd-analyze timespan` (systemd 252) prints it.
        for (usec, text) in [
            (1_500_000, "1.500000s"),
            (90_000_000, "1min 30s"),
            (600_000_000, "10min"),
            (15_000_000, "15s"),
            (100_000, "100ms"),
            (2_000_000, "2s"),
            (3_600_000_001, "1h 1us"),
            (0, "0"),
            (u64::MAX, "infinity"),
            (195_000_000, "3min 15s"),
            (61_000_000, "1min 1s"),
            (31_557_600_000_000, "1y"),
            (3_024_000_000_000, "1month 4d 13h 30min"),
        ] {
            assert_eq!(format_timespan(usec), text, "{usec}");
        }
    }

    #[test]
    fn values_render_as_systemctl_show() {
        let t = |n: &str, v: Value| show_text(n, &v).unwrap();
        assert_eq!(
            t("ActiveEnterTimestamp", Value::U64(1_732_790_413_123_456)),
            "@1732790413"
        );
        assert_eq!(t("ActiveEnterTimestamp", Value::U64(0)), "");
        assert_eq!(t("StartLimitIntervalUSec", Value::U64(10_000_000)), "10s");
        assert_eq!(t("MemoryMax", Value::U64(u64::MAX)), "infinity");
        assert_eq!(t("MemoryMax", Value::U64(524_288_000)), "524288000");
        assert_eq!(t("MemoryCurrent", Value::U64(u64::MAX)), "[not set]");
        assert_eq!(t("CPUQuotaPerSecUSec", Value::U64(u64::MAX)), "infinity");
        assert_eq!(t("NRestarts", Value::U32(3)), "3");
        assert_eq!(t("UMask", Value::U32(0o22)), "0022");
        assert_eq!(t("Delegate", Value::Bool(true)), "yes");
        let exit = |codes: &[i32], sigs: &[i32]| {
            Value::Struct(vec![
                Value::Array(codes.iter().map(|c| Value::I32(*c)).collect()),
                Value::Array(sigs.iter().map(|c| Value::I32(*c)).collect()),
            ])
        };
        assert_eq!(t("RestartPreventExitStatus", exit(&[78], &[])), "78");
        assert_eq!(
            t("SuccessExitStatus", exit(&[1, 2], &[libc::SIGTERM])),
            "1 2 TERM"
        );
        // As systemd 252 printed `RestartPreventExitStatus=78 SIGUSR1`.
        assert_eq!(
            t("RestartPreventExitStatus", exit(&[78], &[libc::SIGUSR1])),
            "78 USR1"
        );
        assert_eq!(show_text("ExecStart", &Value::Struct(vec![])), None);
        let exec = |argv: &[&str], start: u64, pid: u32, code: i32, status: i32| {
            Value::Array(vec![Value::Struct(vec![
                Value::Str(argv[0].into()),
                Value::Array(argv.iter().map(|a| Value::Str(a.to_string())).collect()),
                Value::Bool(false),
                Value::U64(start),
                Value::U64(1),
                Value::U64(0),
                Value::U64(0),
                Value::U32(pid),
                Value::I32(code),
                Value::I32(status),
            ])])
        };
        assert_eq!(
            t("ExecStart", exec(&["/bin/sleep", "1000"], 0, 0, 0, 0)),
            "{ path=/bin/sleep ; argv[]=/bin/sleep 1000 ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }"
        );
        assert_eq!(
            t(
                "ExecStart",
                exec(&["/bin/false"], 1_796_280_105_000_000, 70, 1, 1)
            ),
            "{ path=/bin/false ; argv[]=/bin/false ; ignore_errors=no ; start_time=[@1796280105] ; stop_time=[n/a] ; pid=70 ; code=exited ; status=1 }"
        );
    }

    #[test]
    fn unit_paths_escape_as_systemd() {
        assert_eq!(
            unit_path("grokmon.service"),
            "/org/freedesktop/systemd1/unit/grokmon_2eservice"
        );
        assert_eq!(
            unit_path("my-app@1.service"),
            "/org/freedesktop/systemd1/unit/my_2dapp_401_2eservice"
        );
        assert_eq!(unit_and_interface("web").0, "web.service");
        assert_eq!(unit_and_interface("web.socket").1, "Socket");
    }

    #[test]
    fn endpoints_put_the_bus_before_systemds_private_socket() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let p2p = |p: &str| Endpoint {
            addr: SockAddr::Path(p.into()),
            peer_to_peer: true,
        };
        let bus = |p: &str| Endpoint {
            addr: SockAddr::Path(p.into()),
            peer_to_peer: false,
        };
        assert_eq!(
            endpoints(
                Scope::User,
                env(&[("XDG_RUNTIME_DIR", "/run/user/1000")]),
                false
            ),
            vec![
                bus("/run/user/1000/bus"),
                p2p("/run/user/1000/systemd/private")
            ]
        );
        assert_eq!(
            endpoints(
                Scope::User,
                env(&[
                    ("XDG_RUNTIME_DIR", "/run/user/1000"),
                    ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/tmp/b")
                ]),
                false
            ),
            vec![bus("/tmp/b"), p2p("/run/user/1000/systemd/private")]
        );
        assert_eq!(endpoints(Scope::User, env(&[]), false), vec![]);
        assert_eq!(
            endpoints(
                Scope::User,
                env(&[(
                    "DBUS_SESSION_BUS_ADDRESS",
                    "unix:abstract=/tmp/dbus-x%2cy,guid=00"
                )]),
                false
            ),
            vec![Endpoint {
                addr: SockAddr::Abstract(b"/tmp/dbus-x,y".to_vec()),
                peer_to_peer: false
            }]
        );
        assert_eq!(
            endpoints(Scope::System, env(&[]), true),
            vec![
                bus("/run/dbus/system_bus_socket"),
                p2p("/run/systemd/private")
            ]
        );
        assert_eq!(
            endpoints(
                Scope::System,
                env(&[("DBUS_SYSTEM_BUS_ADDRESS", "tcp:host=x;unix:path=/b")]),
                false
            ),
            vec![bus("/b")]
        );
    }

    #[test]
    fn a_marshalled_call_reads_back() {
        let m = method_call(
            7,
            SYSTEMD,
            "/org/freedesktop/systemd1/unit/a_2eservice",
            PROPERTIES,
            "GetAll",
            Some("org.freedesktop.systemd1.Unit"),
        );
        let msg = read_message(&mut m.as_slice()).unwrap();
        assert_eq!(msg.kind, MSG_CALL);
        assert_eq!(msg.signature, "s");
        assert_eq!(
            msg.body().unwrap(),
            Value::Str("org.freedesktop.systemd1.Unit".into())
        );
    }

    #[test]
    fn nested_values_parse_and_bad_ones_fail() {
        // a{sv} with one entry "N" => variant u32 5, then a second entry
        // "X" => variant a(st) with one element ("p", 9).
        let mut w = Wr::default();
        w.u32(0); // array length placeholder
        w.pad(8);
        let start = w.0.len();
        w.pad(8);
        w.string("N");
        w.signature("u");
        w.u32(5);
        w.pad(8);
        w.string("X");
        w.signature("a(st)");
        w.u32(16);
        w.pad(8);
        w.string("p");
        w.pad(8);
        w.0.extend(9u64.to_le_bytes());
        let len = (w.0.len() - start) as u32;
        w.0[0..4].copy_from_slice(&len.to_le_bytes());
        let mut c = Cur {
            b: &w.0,
            pos: 0,
            le: true,
            depth: 0,
        };
        let v = c.value(b"a{sv}").unwrap();
        assert_eq!(
            v,
            Value::Array(vec![
                Value::Struct(vec![
                    Value::Str("N".into()),
                    Value::Variant(Box::new(Value::U32(5)))
                ]),
                Value::Struct(vec![
                    Value::Str("X".into()),
                    Value::Variant(Box::new(Value::Array(vec![Value::Struct(vec![
                        Value::Str("p".into()),
                        Value::U64(9)
                    ])])))
                ]),
            ])
        );
        // Truncated: an error, never a panic.
        for cut in 0..w.0.len() {
            let mut c = Cur {
                b: &w.0[..cut],
                pos: 0,
                le: true,
                depth: 0,
            };
            assert!(c.value(b"a{sv}").is_err(), "cut at {cut}");
        }
        assert!(type_end(b"a(st", 0).is_err());
        assert!(type_end(b"z", 0).is_err());
    }
}
