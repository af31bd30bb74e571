//! The built binary under each of its names: argv[0] dispatch, the `udhcp`
//! multiplexer (--help, --list, --install) and the applets' usage paths.
//!
//! No test may start DHCP on a network: the invocations name an interface
//! that does not exist or a config that cannot be read, so every applet
//! exits before it opens a socket (the real runs are in tests/udhcpc_e2e.rs
//! and tests/udhcpd_e2e.rs, inside namespaces).

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NO_IFACE: &str = "lo-does-not-exist";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_udhcp"))
}

/// A fresh directory (by default under the system temp dir), removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        Self::under(&std::env::temp_dir(), tag)
    }

    fn under(parent: &Path, tag: &str) -> Self {
        let path = parent.join(format!("udhcp-dispatch-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// A symlink named `name` to the built binary.
    fn link(&self, name: &str) -> PathBuf {
        let path = self.0.join(name);
        symlink(bin(), &path).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run<S: AsRef<OsStr>>(program: &Path, args: &[S]) -> Output {
    Command::new(program).args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `APPLET --help`: usage on stderr (as BusyBox), nothing on stdout, exit 0.
fn assert_help(out: &Output, applet: &str) {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    assert!(out.stdout.is_empty(), "stdout: {}", stdout(out));
    let err = stderr(out);
    assert!(err.contains(" multi-call binary.\n\nUsage: "), "{err}");
    let usage = format!("Usage: {applet} ");
    let args = err.split(&usage).nth(1).unwrap_or_default();
    // Options in brackets, or dhcprelay's positional CLIENT_IFACE.
    assert!(
        args.starts_with('[') || args.starts_with("CLIENT_IFACE"),
        "{err}"
    );
}

#[test]
fn each_applet_name_shows_its_help() {
    let dir = TempDir::new("names");
    for name in ["udhcpc", "udhcpc6", "udhcpd", "dumpleases", "dhcprelay"] {
        let link = dir.link(name);
        assert_help(&run(&link, &["--help"]), name);
    }
}

#[test]
fn leading_dash_in_argv0_is_ignored() {
    let out = Command::new(bin())
        .arg0("-udhcpc")
        .arg("--help")
        .output()
        .unwrap();
    assert_help(&out, "udhcpc");
    let dir = TempDir::new("dash");
    let link = dir.link("-udhcpd");
    assert_help(&run(&link, &["--help"]), "udhcpd");
}

#[test]
fn multiplexer_runs_the_named_applet() {
    assert_help(&run(&bin(), &["udhcpd", "--help"]), "udhcpd");
    assert_help(&run(&bin(), &["/sbin/udhcpc", "--help"]), "udhcpc");
    assert_help(&run(&bin(), &["--help", "dumpleases"]), "dumpleases");
    // Any name starting with "udhcp" that is no applet is the multiplexer.
    let dir = TempDir::new("mux");
    let link = dir.link("udhcp-static");
    assert_help(&run(&link, &["udhcpc", "--help"]), "udhcpc");
}

#[test]
fn multiplexer_help_and_bare_invocation() {
    let out = run(&bin(), &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.starts_with("udhcp v"), "{text}");
    assert!(text.contains(" multi-call binary.\n"), "{text}");
    assert!(
        text.contains("Usage: udhcp [function [arguments]...]\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "Currently defined functions:\n\tdhcprelay, dumpleases, udhcpc, udhcpc6, udhcpd\n"
        ),
        "{text}"
    );

    // Bare `udhcp`, like bare `busybox`, prints the same help and exits 0.
    let out = run::<&str>(&bin(), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    assert_eq!(stdout(&out), text);
}

#[test]
fn list_and_list_full() {
    let out = run(&bin(), &["--list"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "dhcprelay\ndumpleases\nudhcpc\nudhcpc6\nudhcpd\n"
    );
    let out = run(&bin(), &["--list-full"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "usr/sbin/dhcprelay\nusr/bin/dumpleases\nsbin/udhcpc\nusr/bin/udhcpc6\nusr/sbin/udhcpd\n"
    );
}

#[test]
fn install_symlinks() {
    let dir = TempDir::new("install-s");
    let out = run(
        &bin(),
        &[OsStr::new("--install"), OsStr::new("-s"), dir.0.as_os_str()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    let exe = fs::canonicalize(bin()).unwrap();
    for name in ["udhcpc", "udhcpc6", "udhcpd", "dumpleases", "dhcprelay"] {
        let link = dir.0.join(name);
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{name}"
        );
        assert_eq!(fs::canonicalize(&link).unwrap(), exe);
        assert_help(&run(&link, &["--help"]), name);
    }
    // Again: links that already point at us are left alone silently.
    let out = run(
        &bin(),
        &[OsStr::new("--install"), OsStr::new("-s"), dir.0.as_os_str()],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

#[test]
fn install_hard_links() {
    // Hard links cannot cross file systems, so this one directory lives in
    // the target dir next to the binary rather than in the system temp dir.
    // (Copying the binary instead would race with other tests' fork+exec:
    // ETXTBSY while the copy's write fd is inherited.)
    let dir = TempDir::under(Path::new(env!("CARGO_TARGET_TMPDIR")), "install-h");
    let out = run(&bin(), &[OsStr::new("--install"), dir.0.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let inode = fs::metadata(bin()).unwrap().ino();
    for name in ["udhcpc", "udhcpc6", "udhcpd", "dumpleases", "dhcprelay"] {
        let link = dir.0.join(name);
        let meta = fs::symlink_metadata(&link).unwrap();
        assert!(meta.file_type().is_file(), "{name}");
        assert_eq!(meta.ino(), inode, "{name}");
        assert_help(&run(&link, &["--help"]), name);
    }
}

#[test]
fn install_leaves_foreign_files_alone_and_reports_errors() {
    let dir = TempDir::new("install-x");
    fs::write(dir.0.join("udhcpc"), "not us").unwrap();
    let out = run(
        &bin(),
        &[OsStr::new("--install"), OsStr::new("-s"), dir.0.as_os_str()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("udhcpc: exists, left alone"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read_to_string(dir.0.join("udhcpc")).unwrap(), "not us");
    assert!(fs::symlink_metadata(dir.0.join("udhcpd"))
        .unwrap()
        .file_type()
        .is_symlink());

    let missing = dir.0.join("no-such-dir");
    let out = run(
        &bin(),
        &[
            OsStr::new("--install"),
            OsStr::new("-s"),
            missing.as_os_str(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("no-such-dir/udhcpc: No such file or directory"),
        "{err}"
    );

    let out = run(&bin(), &["--install", "-s", "a", "b"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("udhcp: --install: too many arguments"));
}

#[test]
fn unknown_names_exit_127() {
    let dir = TempDir::new("unknown");
    let link = dir.link("bogus");
    let out = run(&link, &["--help"]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(stderr(&out), "bogus: applet not found\n");

    let out = run(&bin(), &["nope", "-i", NO_IFACE]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(stderr(&out), "nope: applet not found\n");
}

#[test]
fn bad_flag_is_a_usage_error() {
    let dir = TempDir::new("badflag");
    let link = dir.link("udhcpc");
    let out = run(&link, &["-z", "-i", NO_IFACE]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(err.starts_with("udhcpc: invalid option -- 'z'\n"), "{err}");
    assert!(err.contains("Usage: udhcpc ["), "{err}");

    let out = run(&link, &["-H", "box", "-i", NO_IFACE]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("udhcpc: invalid option -- 'H' (removed: use -x hostname:NAME)\n")
    );

    // A bad number is fatal without the usage, as in BusyBox.
    let out = run(&link, &["-t", "many", "-i", NO_IFACE]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "udhcpc: invalid number 'many'\n");

    let out = run(&bin(), &["dumpleases", "-a", "-r"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("dumpleases: -a and -r are mutually exclusive\n"));
}

#[test]
fn non_utf8_argument_is_a_usage_error() {
    let out = run(
        &bin(),
        &[
            OsStr::new("udhcpc"),
            OsStr::new("-i"),
            OsStr::from_bytes(b"eth\xff"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("udhcpc: argument is not valid UTF-8: 'eth\u{fffd}'\n"),
        "{err}"
    );
    assert!(err.contains("Usage: udhcpc ["), "{err}");
}

#[test]
fn udhcpc_on_a_missing_interface_exits_1() {
    let dir = TempDir::new("udhcpc-noif");
    let link = dir.link("udhcpc");
    let args = [
        "-fqn",
        "-t",
        "1",
        "-T",
        "1",
        "-i",
        NO_IFACE,
        "-s",
        "/bin/false",
    ];
    let out = run(&link, &args);
    assert_eq!(out.status.code(), Some(1));
    // Too long for IFNAMSIZ, so refused before any ioctl.
    assert_eq!(
        stderr(&out),
        format!("udhcpc: interface '{NO_IFACE}': invalid interface name\n")
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn udhcpd_without_its_config_fails_before_doing_anything() {
    // BusyBox would serve its defaults on eth0; we refuse (exit 1) before
    // any socket is opened. The real server runs in tests/udhcpd_e2e.rs.
    let dir = TempDir::new("udhcpd");
    let link = dir.link("udhcpd");
    let out = run(&link, &["-f", "/nonexistent/udhcpd.conf"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "udhcpd: can't open '/nonexistent/udhcpd.conf': No such file or directory\n"
    );
    assert!(out.stdout.is_empty());
    // A config naming an interface that does not exist: still exit 1,
    // the interface named, nothing started.
    let conf = dir.0.join("u.conf");
    fs::write(
        &conf,
        format!(
            "interface nosuchif0\nlease_file {0}/l\npidfile {0}/p\n",
            dir.0.display()
        ),
    )
    .unwrap();
    let out = run(&link, &["-f", conf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err, "udhcpd: interface 'nosuchif0': No such device\n");
    // Invalid UTF-8 names the file and the line.
    fs::write(&conf, b"start 10.0.0.1\nend \xff\n").unwrap();
    let out = run(&link, &["-f", conf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!("udhcpd: {}:2: not valid UTF-8\n", conf.display())
    );
}

#[test]
fn dhcprelay_usage_and_errors_as_busybox() {
    // Missing arguments: the usage alone, exit 1 (bb_show_usage).
    for args in [&[][..], &["eth0"][..]] {
        let out = run(&bin(), &[&["dhcprelay"][..], args].concat());
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(
            err.contains(
                "Usage: dhcprelay CLIENT_IFACE[,CLIENT_IFACE2]... SERVER_IFACE [SERVER_IP]"
            ),
            "{err}"
        );
        assert!(!err.contains("dhcprelay: "), "{err}");
    }
    let out = run(&bin(), &["dhcprelay", "eth0", "eth1", "10.0.0"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "dhcprelay: bad server IP\n");
    let out = run(&bin(), &["dhcprelay", "nosuch0", "nosuch1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("dhcprelay: interface 'nosuch1': "),
        "{}",
        stderr(&out)
    );
}
