//! One plain-HTTP GET, for the common case of a health endpoint on
//! `http://` (usually loopback): no HTTP client to build, no runtime thread
//! to start and hand the request to, so the check's critical path is one
//! connect, one write and one read. Anything else (`https://`, a redirect,
//! credentials in the URL, an answer that is not plain HTTP/1.x) returns
//! `None` and the caller asks reqwest instead.
//!
//! `send_early` splits the GET in two for `check`: connect and send without
//! waiting, then (`Early::finish`) read the answer once the check's local
//! work is done; the server answers in the meantime, on the other CPU.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::{Duration, Instant};

/// The parts of an `http://` URL a request needs (pure); `None` for any
/// other URL or one with credentials.
pub fn parse_url(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let rest = rest.split('#').next()?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 80,
            None => return None,
        };
        (format!("[{h}]"), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().ok()?),
            None => (authority.to_string(), 80),
        }
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Some((host, port, path))
}

/// A response head: status code and whether the body is chunked, and its
/// length when given (pure). `None` when it is not an HTTP/1.x head.
pub fn parse_head(head: &str) -> Option<(u16, bool, Option<u64>)> {
    let mut lines = head.split("\r\n");
    let status = lines.next()?;
    let mut words = status.splitn(3, ' ');
    if !words.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code: u16 = words.next()?.parse().ok()?;
    let (mut chunked, mut len) = (false, None);
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.to_ascii_lowercase().contains("chunked");
        } else if k.eq_ignore_ascii_case("content-length") {
            len = Some(v.parse().ok()?);
        }
    }
    Some((code, chunked, len))
}

/// Decodes a chunked body as far as `raw` goes, keeping at most `limit`
/// bytes (pure). Returns the body and whether the last chunk was seen.
pub fn dechunk(raw: &[u8], limit: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let Some(eol) = raw[i..].windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let line = String::from_utf8_lossy(&raw[i..i + eol]);
        let Ok(n) = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16) else {
            return (out, false);
        };
        if n == 0 {
            return (out, true);
        }
        let start = i + eol + 2;
        let end = start.saturating_add(n).min(raw.len());
        out.extend_from_slice(&raw[start..end]);
        if out.len() > limit || end < start + n {
            out.truncate(limit + 1);
            return (out, false);
        }
        i = end + 2;
        if i > raw.len() {
            return (out, false);
        }
    }
}

/// What one GET gave: a status code and up to `limit + 1` body bytes, or
/// the I/O error that stopped it.
pub enum Got {
    Answer { code: u16, body: Vec<u8> },
    Failed(std::io::Error),
}

fn timed_out() -> std::io::Error {
    std::io::Error::from(std::io::ErrorKind::TimedOut)
}

/// The request for `path` on `host:port`.
fn request(host: &str, port: u16, path: &str, user_agent: &str) -> String {
    let host_header = if port == 80 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {user_agent}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
}

/// GETs `url` within `timeout`, reading at most `limit + 1` body bytes.
/// `None`: not a case for this client (see the module doc).
pub fn get(url: &str, timeout: Duration, limit: usize, user_agent: &str) -> Option<Got> {
    get_by(url, Instant::now() + timeout, limit, user_agent)
}

fn get_by(url: &str, deadline: Instant, limit: usize, user_agent: &str) -> Option<Got> {
    let (host, port, path) = parse_url(url)?;
    let left = || deadline.saturating_duration_since(Instant::now());
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match (bare, port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => return Some(Got::Failed(e)),
    };
    let mut last = std::io::Error::from(std::io::ErrorKind::AddrNotAvailable);
    let mut stream = None;
    for a in addrs {
        if left().is_zero() {
            return Some(Got::Failed(timed_out()));
        }
        match TcpStream::connect_timeout(&a, left()) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let Some(mut s) = stream else {
        return Some(Got::Failed(last));
    };
    let req = request(&host, port, &path, user_agent);
    let _ = s.set_nodelay(true);
    if let Err(e) = s
        .set_write_timeout(Some(left().max(Duration::from_millis(1))))
        .and_then(|_| s.write_all(req.as_bytes()))
    {
        return Some(Got::Failed(e));
    }
    receive(s, deadline, limit)
}

/// A GET whose request is on its way (or whose connection is): the answer
/// is read by `finish`. See `send_early`.
pub struct Early {
    url: String,
    user_agent: &'static str,
    /// `None`: the connection failed at once (refused): `finish` says so.
    stream: Option<TcpStream>,
    /// What of the request is not written yet.
    unsent: Vec<u8>,
    deadline: Instant,
}

/// Starts a GET of `url` without waiting: a non-blocking connect, and the
/// request written if the connection is already up (on loopback it is).
/// Only for a host given as an address or as `localhost`, whose lookup
/// needs no resolver (no DNS wait on the caller's thread). `None`: not a
/// case for this (the caller GETs the usual way).
pub fn send_early(url: &str, timeout: Duration, user_agent: &'static str) -> Option<Early> {
    let deadline = Instant::now() + timeout;
    let (host, port, path) = parse_url(url)?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_err() && !bare.eq_ignore_ascii_case("localhost") {
        return None;
    }
    let addr = (bare, port).to_socket_addrs().ok()?.next()?;
    let stream = connect_nonblocking(&addr).ok();
    if let Some(s) = &stream {
        let _ = s.set_nodelay(true);
    }
    let mut early = Early {
        url: url.to_string(),
        user_agent,
        stream,
        unsent: request(&host, port, &path, user_agent).into_bytes(),
        deadline,
    };
    early.send_if_connected();
    Some(early)
}

impl Early {
    /// Writes what it can of the request if the connection is up, never
    /// waiting.
    fn send_if_connected(&mut self) {
        let Some(s) = &self.stream else {
            return;
        };
        if !matches!(wait_writable(s, Instant::now()), Ok(true)) {
            return;
        }
        if !matches!(s.take_error(), Ok(None)) {
            self.stream = None;
            return;
        }
        while !self.unsent.is_empty() {
            match (&*s).write(&self.unsent) {
                Ok(n) => {
                    self.unsent.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// Reads the answer (waiting for the connection and sending the rest of
    /// the request first), reading at most `limit + 1` body bytes, within
    /// the timeout `send_early` was given. A connection that failed is
    /// tried again the usual way (every address of the host), so the error
    /// reported is the usual one. `None` as for `get`.
    pub fn finish(self, limit: usize) -> Option<Got> {
        let Some(mut s) = self.stream else {
            return get_by(&self.url, self.deadline, limit, self.user_agent);
        };
        if !self.unsent.is_empty() {
            match wait_writable(&s, self.deadline) {
                Ok(true) => {}
                Ok(false) => return Some(Got::Failed(timed_out())),
                Err(e) => return Some(Got::Failed(e)),
            }
            if !matches!(s.take_error(), Ok(None)) {
                return get_by(&self.url, self.deadline, limit, self.user_agent);
            }
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if let Err(e) = s
            .set_nonblocking(false)
            .and_then(|_| s.set_write_timeout(Some(left.max(Duration::from_millis(1)))))
            .and_then(|_| s.write_all(&self.unsent))
        {
            return Some(Got::Failed(e));
        }
        receive(s, self.deadline, limit)
    }
}

/// Whether `s` can be written to (a non-blocking connect is done), waiting
/// until `until` at most.
fn wait_writable(s: &TcpStream, until: Instant) -> std::io::Result<bool> {
    let mut p = libc::pollfd {
        fd: s.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    loop {
        let left = until.saturating_duration_since(Instant::now());
        // Rounded up: a wait of 0.4 ms is not a wait of none.
        let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r >= 0 {
            return Ok(r > 0);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A TCP socket connecting to `addr` without waiting (`EINPROGRESS` is a
/// connection on its way; `wait_writable` tells when it is up).
fn connect_nonblocking(addr: &SocketAddr) -> std::io::Result<TcpStream> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket(2) with constant arguments; the descriptor is owned by
    // the TcpStream from here on (closed when it drops).
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket nobody else owns.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let rc = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: an all-zero sockaddr_in is valid; the fields are set below.
            let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_port = a.port().to_be();
            sa.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            // SAFETY: `sa` is a valid sockaddr_in of the length given.
            unsafe {
                libc::connect(
                    fd,
                    (&raw const sa).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        SocketAddr::V6(a) => {
            // SAFETY: an all-zero sockaddr_in6 is valid; the fields are set below.
            let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_port = a.port().to_be();
            sa.sin6_flowinfo = a.flowinfo();
            sa.sin6_addr.s6_addr = a.ip().octets();
            sa.sin6_scope_id = a.scope_id();
            // SAFETY: `sa` is a valid sockaddr_in6 of the length given.
            unsafe {
                libc::connect(
                    fd,
                    (&raw const sa).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    if rc == 0 {
        return Ok(stream);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EINPROGRESS) {
        Ok(stream)
    } else {
        Err(e)
    }
}

/// Reads the answer to a request written on `s`: the head, then the body
/// up to `limit + 1` bytes (or the end), by `deadline`.
fn receive(mut s: TcpStream, deadline: Instant, limit: usize) -> Option<Got> {
    let left = || deadline.saturating_duration_since(Instant::now());
    // Read the head, then the body up to the limit (or the end).
    let mut raw: Vec<u8> = Vec::with_capacity(4096);
    let mut buf = [0u8; 16 * 1024];
    let mut head_end = None;
    let mut framing: Option<(u16, bool, Option<u64>)> = None;
    loop {
        if let (Some(h), Some((_, chunked, len))) = (head_end, framing) {
            let body = &raw[h..];
            if chunked {
                let (b, done) = dechunk(body, limit);
                if done || b.len() > limit {
                    return framing.map(|(code, _, _)| Got::Answer { code, body: b });
                }
            } else if let Some(n) = len
                && body.len() as u64 >= n.min(limit as u64 + 1)
            {
                let mut b = body.to_vec();
                b.truncate(n.min(limit as u64 + 1) as usize);
                return framing.map(|(code, _, _)| Got::Answer { code, body: b });
            } else if body.len() > limit {
                let b = body[..limit + 1].to_vec();
                return framing.map(|(code, _, _)| Got::Answer { code, body: b });
            }
        }
        let t = left();
        // Past the deadline (the check was reading another answer first):
        // what arrived in time is read, nothing more is waited for.
        let set = if t.is_zero() {
            s.set_nonblocking(true)
        } else {
            s.set_read_timeout(Some(t))
        };
        if let Err(e) = set {
            return Some(Got::Failed(e));
        }
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            // A signal landed during the read (seen once under load): read again.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock) => {
                return Some(Got::Failed(timed_out()));
            }
            Err(e) => return Some(Got::Failed(e)),
        };
        if n == 0 {
            // The end: a body without a length ends here; anything short
            // of its framing is not plain HTTP for this client.
            let (Some(h), Some((code, chunked, len))) = (head_end, framing) else {
                return None;
            };
            if chunked || len.is_some() {
                return None;
            }
            return Some(Got::Answer {
                code,
                body: raw[h..].to_vec(),
            });
        }
        raw.extend_from_slice(&buf[..n]);
        if head_end.is_none() {
            match raw.windows(4).position(|w| w == b"\r\n\r\n") {
                Some(p) => {
                    head_end = Some(p + 4);
                    let head = String::from_utf8_lossy(&raw[..p]);
                    let f = parse_head(&head)?;
                    // Redirects and informational answers: reqwest's job.
                    if (100..200).contains(&f.0) || (300..400).contains(&f.0) {
                        return None;
                    }
                    framing = Some(f);
                }
                None if raw.len() > 64 * 1024 => return None,
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split() {
        let p = |u: &str| parse_url(u);
        assert_eq!(
            p("http://127.0.0.1:8000/api/health"),
            Some(("127.0.0.1".into(), 8000, "/api/health".into()))
        );
        assert_eq!(
            p("http://localhost"),
            Some(("localhost".into(), 80, "/".into()))
        );
        assert_eq!(
            p("http://[::1]:9/x?y=1#frag"),
            Some(("[::1]".into(), 9, "/x?y=1".into()))
        );
        assert_eq!(p("http://h?q"), Some(("h".into(), 80, "/?q".into())));
        assert_eq!(p("https://example.org/"), None);
        assert_eq!(p("http://user:pw@h/"), None);
        assert_eq!(p("http://h:notaport/"), None);
        assert_eq!(p("http:///x"), None);
    }

    #[test]
    fn heads_parse() {
        assert_eq!(
            parse_head("HTTP/1.1 200 OK\r\nContent-Length: 20\r\nX: y"),
            Some((200, false, Some(20)))
        );
        assert_eq!(
            parse_head("HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked"),
            Some((503, true, None))
        );
        assert_eq!(parse_head("HTTP/1.0 204"), Some((204, false, None)));
        assert_eq!(parse_head("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_head("HTTP/1.1 200 OK\r\nContent-Length: x"), None);
    }

    #[test]
    fn chunked_bodies_decode_within_the_limit() {
        assert_eq!(
            dechunk(b"4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\n\r\n", 100),
            (b"Wikipedia".to_vec(), true)
        );
        // Incomplete: what arrived, not done.
        assert_eq!(dechunk(b"4\r\nWi", 100), (b"Wi".to_vec(), false));
        // Over the limit: limit + 1 bytes, enough to say "too large".
        let (b, _) = dechunk(b"a\r\n0123456789\r\n0\r\n\r\n", 4);
        assert_eq!(b, b"01234");
        assert_eq!(dechunk(b"zz\r\n", 4), (Vec::new(), false));
    }

    #[test]
    fn an_early_get_is_sent_at_once_and_read_later() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/h");
        let early = send_early(&url, Duration::from_secs(5), "t").expect("a literal address");
        // The request is on the wire before anyone reads an answer: the
        // server reads it whole, then answers.
        let (mut c, _) = l.accept().unwrap();
        // Bounded: a request that is not sent fails the test, not hangs it.
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = Vec::new();
        while !req.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 256];
            let n = c.read(&mut b).unwrap();
            assert!(n > 0, "the request ended early: {req:?}");
            req.extend_from_slice(&b[..n]);
        }
        assert!(req.starts_with(b"GET /h HTTP/1.1\r\n"), "{req:?}");
        c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
        match early.finish(100) {
            Some(Got::Answer { code, body }) => {
                assert_eq!((code, body.as_slice()), (200, &b"ok"[..]))
            }
            _ => panic!("no answer"),
        }
    }

    #[test]
    fn an_early_get_reports_refusal_and_silence_within_its_timeout() {
        // Refused: a port nobody listens on (bound, then closed).
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}/");
        let early = send_early(&url, Duration::from_secs(5), "t").unwrap();
        match early.finish(100) {
            Some(Got::Failed(e)) => {
                assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}")
            }
            _ => panic!("refused is a failure"),
        }
        // Accepted, never answered: a timeout at the deadline, not later.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/", l.local_addr().unwrap().port());
        let t0 = Instant::now();
        let early = send_early(&url, Duration::from_millis(300), "t").unwrap();
        match early.finish(100) {
            Some(Got::Failed(e)) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ),
                "{e}"
            ),
            _ => panic!("silence is a failure"),
        }
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(290), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        drop(l);
    }

    #[test]
    fn an_answer_that_arrived_in_time_is_read_after_the_deadline() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", l.local_addr().unwrap());
        let early = send_early(&url, Duration::from_millis(200), "t").unwrap();
        let (mut c, _) = l.accept().unwrap();
        c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
        // The caller was busy past the deadline; the answer waited for it.
        std::thread::sleep(Duration::from_millis(400));
        match early.finish(100) {
            Some(Got::Answer { code, body }) => {
                assert_eq!((code, body.as_slice()), (200, &b"ok"[..]))
            }
            _ => panic!("the answer was there in time"),
        }
    }

    #[test]
    fn only_literal_addresses_and_localhost_go_early() {
        let t = Duration::from_secs(1);
        assert!(send_early("http://example.invalid/", t, "t").is_none());
        assert!(send_early("https://127.0.0.1/", t, "t").is_none());
        // Sent (or failed at once, which `finish` reports): either way early.
        assert!(send_early("http://127.0.0.1:9/", t, "t").is_some());
        assert!(send_early("http://localhost:9/", t, "t").is_some());
        assert!(send_early("http://[::1]:9/", t, "t").is_some());
    }

    #[test]
    fn a_loopback_get_reads_the_answer() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for answer in [
                "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{\"status\":\"healthy\"}".to_string(),
                "HTTP/1.1 503 x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n".into(),
                "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n".into(),
                "HTTP/1.0 200 OK\r\n\r\nno length".into(),
            ] {
                let (mut c, _) = l.accept().unwrap();
                let mut req = [0u8; 1024];
                let n = c.read(&mut req).unwrap();
                assert!(String::from_utf8_lossy(&req[..n]).starts_with("GET /h HTTP/1.1\r\n"));
                c.write_all(answer.as_bytes()).unwrap();
            }
        });
        let url = format!("http://127.0.0.1:{port}/h");
        let get = || get(&url, Duration::from_secs(5), 100, "t");
        match get() {
            Some(Got::Answer { code, body }) => {
                assert_eq!(
                    (code, body.as_slice()),
                    (200, &br#"{"status":"healthy"}"#[..])
                )
            }
            _ => panic!("no answer"),
        }
        match get() {
            Some(Got::Answer { code, body }) => {
                assert_eq!((code, body.as_slice()), (503, &b"abc"[..]))
            }
            _ => panic!("no answer"),
        }
        assert!(get().is_none(), "a redirect is reqwest's");
        match get() {
            Some(Got::Answer { code, body }) => {
                assert_eq!((code, body.as_slice()), (200, &b"no length"[..]))
            }
            _ => panic!("no answer"),
        }
        server.join().unwrap();
    }
}
