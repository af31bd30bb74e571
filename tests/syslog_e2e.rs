//! `-S` end to end: what reaches syslog, as a syslog daemon on a board
//! receives it. The applet runs in a network namespace and a private mount
//! namespace (`unshare -m`) whose `/dev` is a bind mount of a temporary
//! directory holding `log`, a unix datagram socket this test reads (what
//! syslogd binds at /dev/log), and `null` (bound from the real one). The
//! libc `syslog(3)` path is the one the board uses; nothing is faked in
//! the binary.
//!
//! BusyBox: `openlog(applet, LOG_PID, LOG_DAEMON)` and the same message
//! text as on stderr, without the `applet: ` prefix (syslog adds
//! `applet[pid]: `). Priority = facility daemon (3 << 3 = 24) + severity.

mod common;

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::netns::{now, Lab, Ns};
use common::tempdir::TempDir;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const LOG_DAEMON: u8 = 3 << 3;
const LOG_ERR: u8 = 3;
const LOG_WARNING: u8 = 4;
const LOG_INFO: u8 = 6;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_udhcp")
}

/// One datagram as syslogd sees it: `<PRI>TIMESTAMP IDENT[PID]: MSG`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    pri: u8,
    ident: String,
    pid: u32,
    msg: String,
}

fn parse(dgram: &str) -> Option<Entry> {
    let rest = dgram.strip_prefix('<')?;
    let (pri, rest) = rest.split_once('>')?;
    // After the RFC 3164 timestamp (`Mmm dd hh:mm:ss `, 16 bytes).
    let rest = rest.get(16..)?;
    let (tag, msg) = rest.split_once(": ")?;
    let (ident, pid) = tag.strip_suffix(']')?.split_once('[')?;
    Some(Entry {
        pri: pri.parse().ok()?,
        ident: ident.to_owned(),
        pid: pid.parse().ok()?,
        msg: msg.trim_end_matches(['\n', '\0']).to_owned(),
    })
}

/// A /dev with a syslog socket, for one private mount namespace.
struct FakeDev {
    _dir: TempDir,
    dev: std::path::PathBuf,
    sock: UnixDatagram,
}

impl FakeDev {
    fn new(tag: &str) -> FakeDev {
        let dir = TempDir::new(tag);
        let dev = dir.path("dev");
        fs::create_dir(&dev).unwrap();
        for node in ["null", "urandom"] {
            fs::write(dev.join(node), "").unwrap();
        }
        let sock = UnixDatagram::bind(dev.join("log")).expect("bind log socket");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        FakeDev {
            _dir: dir,
            dev,
            sock,
        }
    }

    /// `udhcp ARGS` in `ns` with this /dev; stderr piped.
    fn spawn(&self, ns: &Ns, args: &[&str]) -> Child {
        let script = "mount --bind /dev/null \"$1/null\" && \
                      mount --bind /dev/urandom \"$1/urandom\" && \
                      mount --bind \"$1\" /dev && shift && exec \"$@\"";
        Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .args(["unshare", "--mount", "--propagation", "private"])
            .args(["sh", "-c", script, "sh"])
            .arg(&self.dev)
            .arg(bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    }

    /// Entries received until `until` holds for the list or `limit` passes.
    fn collect(&self, limit: Duration, until: impl Fn(&[Entry]) -> bool) -> Vec<Entry> {
        let end = now() + limit;
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while now() < end && !until(&got) {
            if let Ok(n) = self.sock.recv(&mut buf) {
                let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
                got.push(parse(&text).unwrap_or_else(|| panic!("unparsable: {text:?}")));
            }
        }
        got
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let end = now() + limit;
    while now() < end {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn stderr_of(child: &mut Child) -> String {
    use std::io::Read;
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    s
}

fn stop(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

fn has(entries: &[Entry], pri: u8, msg: &str) -> bool {
    entries
        .iter()
        .any(|e| e.pri == pri && e.msg.starts_with(msg))
}

fn conf(dir: &Path, extra: &str) -> String {
    format!(
        "interface eth0\nstart 10.99.0.10\nend 10.99.0.20\nlease_file {d}/leases\n\
         pidfile {d}/pid\n{extra}",
        d = dir.display()
    )
}

#[test]
fn udhcpd_s_logs_busybox_text_with_facility_daemon() {
    let Some(lab) = Lab::new(1) else { return };
    let work = TempDir::new("syslog-d");
    let dev = FakeDev::new("syslog-dev");

    // A config error: LOG_ERR, the same text as on stderr.
    let bad = work.write(
        "bad.conf",
        &conf(work.dir(), "").replace("end 10.99.0.20", "end x"),
    );
    let bad_s = bad.to_str().unwrap();
    let mut c = dev.spawn(lab.ns(0), &["udhcpd", "-f", "-S", "-a", "0", bad_s]);
    let pid = c.id();
    assert_eq!(wait_exit(&mut c, Duration::from_secs(5)), Some(1));
    let err = stderr_of(&mut c);
    let got = dev.collect(Duration::from_secs(2), |g| !g.is_empty());
    let line = err.lines().next().expect("stderr line");
    let text = line.strip_prefix("udhcpd: ").expect("BusyBox prefix");
    assert!(text.starts_with(&format!("{bad_s}:3: ")), "{line}");
    assert_eq!(
        got,
        vec![Entry {
            pri: LOG_DAEMON | LOG_ERR,
            ident: "udhcpd".into(),
            pid,
            msg: text.to_owned(),
        }]
    );

    // A warning, the start line, and TERM: each at its priority.
    let good = work.write("good.conf", &conf(work.dir(), ""));
    let mut c = dev.spawn(
        lab.ns(0),
        &["udhcpd", "-f", "-S", "-a", "0", good.to_str().unwrap()],
    );
    let pid = c.id();
    let got = dev.collect(Duration::from_secs(5), |g| {
        has(g, LOG_DAEMON | LOG_INFO, "started, v")
    });
    assert!(
        has(
            &got,
            LOG_DAEMON | LOG_WARNING,
            "max_leases=235 is too big, setting to 11"
        ),
        "{got:?}"
    );
    assert!(
        has(
            &got,
            LOG_DAEMON | LOG_INFO,
            &format!("started, v{}", env!("CARGO_PKG_VERSION"))
        ),
        "{got:?}"
    );
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
    let more = dev.collect(Duration::from_secs(5), |g| {
        has(g, LOG_DAEMON | LOG_INFO, "received SIGTERM")
    });
    assert!(
        has(&more, LOG_DAEMON | LOG_INFO, "received SIGTERM"),
        "{more:?}"
    );
    assert_eq!(wait_exit(&mut c, Duration::from_secs(5)), Some(0));
    for e in got.iter().chain(&more) {
        assert_eq!((e.ident.as_str(), e.pid), ("udhcpd", pid), "{e:?}");
    }
    // Every syslog message is also on stderr, as `udhcpd: MSG`.
    let err = stderr_of(&mut c);
    for e in got.iter().chain(&more) {
        assert!(
            err.contains(&format!("udhcpd: {}\n", e.msg)),
            "{e:?}\n{err}"
        );
    }
    stop(&mut c);
}

#[test]
fn monitor_restart_is_logged_to_syslog_with_its_cause() {
    let Some(lab) = Lab::new(1) else { return };
    let work = TempDir::new("syslog-m");
    let dev = FakeDev::new("syslog-mdev");
    let good = work.write("good.conf", &conf(work.dir(), "max_leases 11\n"));
    let mut m = dev.spawn(
        lab.ns(0),
        &[
            "udhcpd",
            "--monitor",
            "-f",
            "-S",
            "-a",
            "0",
            good.to_str().unwrap(),
        ],
    );
    let monitor = m.id();
    let got = dev.collect(Duration::from_secs(5), |g| {
        has(g, LOG_DAEMON | LOG_INFO, "started")
    });
    let daemon = got
        .iter()
        .find(|e| e.msg.starts_with("started"))
        .map(|e| e.pid)
        .expect("started");
    assert_ne!(daemon, monitor);
    assert!(daemon > 1);
    let _ = kill(Pid::from_raw(daemon as i32), Signal::SIGKILL);
    let want = format!("pid {daemon} killed by signal 9 (SIGKILL), restarting");
    let more = dev.collect(Duration::from_secs(5), |g| {
        g.iter().filter(|e| e.msg.starts_with("started")).count() >= 1
    });
    let restart = more
        .iter()
        .find(|e| e.msg.starts_with(&want))
        .unwrap_or_else(|| panic!("no '{want}' in {more:?}"));
    assert_eq!(restart.pri, LOG_DAEMON | LOG_WARNING);
    assert_eq!((restart.ident.as_str(), restart.pid), ("udhcpd", monitor));
    assert!(
        more.iter()
            .any(|e| e.msg.starts_with("started") && e.pid != daemon),
        "{more:?}"
    );
    // TERM to the monitor stops both.
    let _ = kill(Pid::from_raw(monitor as i32), Signal::SIGTERM);
    assert_eq!(wait_exit(&mut m, Duration::from_secs(5)), Some(0));
    stop(&mut m);
}
