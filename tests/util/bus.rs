//! A private `dbus-daemon` with a fake systemd manager on it
//! (`fake_systemd.py`, served by libdbus through python3-dbus), for the
//! D-Bus path of the service probe. Both processes are killed on drop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const PYTHON: &str = "/usr/bin/python3";

/// Whether the tools are here; in CI their absence fails the test,
/// elsewhere it prints a skip line.
pub fn available() -> bool {
    let daemon = Command::new("dbus-daemon")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let py = Command::new(PYTHON)
        .args(["-c", "import dbus, dbus.service, gi.repository.GLib"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if daemon && py {
        return true;
    }
    let what =
        "dbus-daemon and python3-dbus/python3-gi (packages dbus-daemon python3-dbus python3-gi)";
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run this test: {what} missing"
    );
    eprintln!("skipped: {what} not installed");
    false
}

pub struct PrivateBus {
    pub address: String,
    daemon: Child,
    fake: Option<Child>,
}

/// Reads one line of a child's stdout within `timeout` (a child that never
/// answers fails the test instead of hanging it).
fn first_line(child: &mut Child, timeout: Duration) -> String {
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(timeout)
        .expect("the child printed its first line in time")
        .trim()
        .to_string()
}

impl PrivateBus {
    /// A session-type bus listening on `dir/bus`, with no systemd on it yet.
    pub fn start(dir: &Path) -> PrivateBus {
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
            .arg(format!("--address=unix:path={}", dir.join("bus").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // It warns that it cannot raise its fd limit, harmlessly.
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        let address = first_line(&mut daemon, Duration::from_secs(10));
        assert!(address.starts_with("unix:"), "dbus-daemon said {address:?}");
        PrivateBus {
            address,
            daemon,
            fake: None,
        }
    }

    /// Puts the fake systemd on the bus, serving `props_json` (see
    /// fake_systemd.py), and waits until it owns its name.
    pub fn serve_systemd(&mut self, props_json: &Path) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/util/fake_systemd.py");
        let mut fake = Command::new(PYTHON)
            .arg(script)
            .arg(props_json)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start fake systemd");
        let line = first_line(&mut fake, Duration::from_secs(20));
        self.fake = Some(fake);
        assert_eq!(line, "ready", "the fake systemd did not start");
    }
}

/// A fake systemd serving `props_json` peer to peer on a socket at `path`,
/// as systemd's private socket (`$XDG_RUNTIME_DIR/systemd/private`); killed
/// on drop.
pub struct PrivateSocket(Child);

impl PrivateSocket {
    pub fn serve(path: &Path, props_json: &Path) -> PrivateSocket {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/util/fake_systemd.py");
        let mut fake = Command::new(PYTHON)
            .arg(script)
            .arg(props_json)
            .arg("--private")
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start fake systemd");
        let line = first_line(&mut fake, Duration::from_secs(20));
        let s = PrivateSocket(fake);
        assert_eq!(line, "ready", "the fake systemd did not start");
        s
    }
}

impl Drop for PrivateSocket {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        for c in self
            .fake
            .iter_mut()
            .chain(std::iter::once(&mut self.daemon))
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
