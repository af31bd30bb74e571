//! The integrator's side: `scripts/install.sh DESTDIR`, the example
//! `udhcpd.conf`, the init snippets and the Buildroot package in
//! `examples/`. Shell is checked with shellcheck (Debian's `shellcheck`;
//! with UDHCP_REQUIRE_NETNS=1, as in CI, a missing shellcheck fails).
//! Nothing here touches the network or the host's directories.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::tempdir::TempDir;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_udhcp")
}

fn install(destdir: &Path) -> String {
    let out = Command::new(repo("scripts/install.sh"))
        .arg(destdir)
        .arg(bin())
        .output()
        .expect("run install.sh");
    assert!(
        out.status.success(),
        "install.sh: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o7777
}

/// `udhcp --list-full`: `sbin/udhcpc` etc.
fn applet_paths() -> Vec<String> {
    let out = Command::new(bin())
        .arg("--list-full")
        .output()
        .expect("run");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn check_tree(root: &Path) {
    let exe = root.join("usr/bin/udhcp");
    assert_eq!(fs::read(&exe).unwrap(), fs::read(bin()).unwrap());
    assert_eq!(mode(&exe), 0o755);
    let applets = applet_paths();
    // Every applet the binary lists (its own install paths) is linked;
    // the script's list is kept by hand (the binary may be for another
    // CPU), so this is what catches an applet added to one but not the other.
    for core in ["sbin/udhcpc", "usr/sbin/udhcpd", "usr/bin/dumpleases"] {
        assert!(applets.iter().any(|a| a == core), "{applets:?}");
    }
    for rel in &applets {
        let link = root.join(rel);
        assert_eq!(
            fs::read_link(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display())),
            Path::new("/usr/bin/udhcp"),
            "{rel}"
        );
    }
    let script = root.join("usr/share/udhcpc/default.script");
    assert_eq!(
        fs::read(&script).unwrap(),
        fs::read(repo("default.script")).unwrap()
    );
    assert_eq!(mode(&script), 0o755);
    assert!(root.join("usr/share/udhcpc/default.script.d").is_dir());
    let v6 = root.join("usr/share/udhcpc/default6.script");
    assert_eq!(
        fs::read(&v6).unwrap(),
        fs::read(repo("default6.script")).unwrap()
    );
    assert_eq!(mode(&v6), 0o755);
    assert!(root.join("etc/udhcpd.conf").is_file());
}

#[test]
fn install_sh_stages_a_root_filesystem_and_is_repeatable() {
    let dir = TempDir::new("install");
    let root = dir.path("root");
    install(&root);
    check_tree(&root);
    assert_eq!(
        fs::read(root.join("etc/udhcpd.conf")).unwrap(),
        fs::read(repo("examples/udhcpd.conf")).unwrap()
    );
    // BusyBox's links are replaced, an administrator's udhcpd.conf is kept.
    fs::remove_file(root.join("sbin/udhcpc")).unwrap();
    std::os::unix::fs::symlink("/bin/busybox", root.join("sbin/udhcpc")).unwrap();
    fs::write(root.join("etc/udhcpd.conf"), "interface br0\n").unwrap();
    install(&root);
    check_tree(&root);
    assert_eq!(
        fs::read_to_string(root.join("etc/udhcpd.conf")).unwrap(),
        "interface br0\n"
    );
}

#[test]
fn install_sh_on_a_merged_usr_root() {
    // /sbin -> usr/sbin, /bin -> usr/bin: the absolute links stay right.
    let dir = TempDir::new("install-merged");
    let root = dir.path("root");
    fs::create_dir_all(root.join("usr/sbin")).unwrap();
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::os::unix::fs::symlink("usr/sbin", root.join("sbin")).unwrap();
    std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
    install(&root);
    check_tree(&root);
    assert!(root.join("usr/sbin/udhcpc").is_symlink());
}

#[test]
fn install_sh_refuses_bad_arguments() {
    let out = Command::new(repo("scripts/install.sh"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let dir = TempDir::new("install-missing");
    let out = Command::new(repo("scripts/install.sh"))
        .arg(dir.path("root"))
        .arg(dir.path("no-such-binary"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.path("root").exists(), "installed without a binary");
}

/// Every keyword of udhcpd.conf (reference §2.3, plus the ignored
/// `remaining`).
const KEYWORDS: &[&str] = &[
    "interface",
    "start",
    "end",
    "max_leases",
    "auto_time",
    "decline_time",
    "conflict_time",
    "offer_time",
    "min_lease",
    "lease_file",
    "pidfile",
    "notify_file",
    "remaining",
    "siaddr",
    "sname",
    "boot_file",
    "static_lease",
    "opt",
    "option",
];

/// The keywords whose example value is the default.
const DEFAULTS: &[&str] = &[
    "interface",
    "start",
    "end",
    "max_leases",
    "auto_time",
    "decline_time",
    "conflict_time",
    "offer_time",
    "min_lease",
    "lease_file",
    "pidfile",
    "remaining",
];

/// The example with the `#KEYWORD` lines for `keywords` uncommented.
fn uncomment(text: &str, keywords: &[&str]) -> String {
    text.lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest)
                if keywords
                    .iter()
                    .any(|k| rest.split_whitespace().next() == Some(k)) =>
            {
                rest.to_owned()
            }
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn example_udhcpd_conf_comments_every_keyword_with_defaults_that_are_defaults() {
    let text = fs::read_to_string(repo("examples/udhcpd.conf")).unwrap();
    let as_is = udhcp::conf::parse(&text, "udhcpd.conf").expect("as shipped");
    let empty = udhcp::conf::parse("", "empty").unwrap();
    assert_eq!(as_is.config, empty.config, "a setting is not commented out");
    for k in KEYWORDS {
        let n = text
            .lines()
            .filter(|l| {
                l.strip_prefix('#')
                    .and_then(|r| r.split_whitespace().next())
                    == Some(*k)
            })
            .count();
        assert!(n >= 1, "keyword {k} missing from the example");
    }
    // "Values shown are defaults" is true here (BusyBox's example file
    // shows max_leases 254 against a default of 235).
    let defaults = uncomment(&text, DEFAULTS);
    let parsed = udhcp::conf::parse(&defaults, "udhcpd.conf").expect("defaults");
    assert_eq!(parsed.config, empty.config);
    // Every line, uncommented, is valid.
    let all = uncomment(&text, KEYWORDS);
    let parsed = udhcp::conf::parse(&all, "udhcpd.conf").unwrap_or_else(|e| panic!("{e}\n{all}"));
    let c = parsed.config;
    assert_eq!(c.static_leases.len(), 2);
    assert_eq!(c.sname.as_deref(), Some("bootserver"));
    assert_eq!(
        c.notify_file.as_deref(),
        Some("/usr/local/sbin/leases-changed")
    );
    assert_eq!(c.max_lease, 864_000);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
}

/// BusyBox init's actions (init/init.c).
const INIT_ACTIONS: &[&str] = &[
    "sysinit",
    "wait",
    "once",
    "respawn",
    "askfirst",
    "shutdown",
    "restart",
    "ctrlaltdel",
];

#[test]
fn inittab_snippet_is_well_formed_and_runs_installed_applets_in_the_foreground() {
    let text = fs::read_to_string(repo("examples/init/inittab")).unwrap();
    let installed = applet_paths();
    let mut respawn = 0;
    for line in text.lines() {
        // Commented-out alternatives are checked too.
        let entry = line
            .strip_prefix("#::")
            .map_or(line.to_owned(), |r| format!("::{r}"));
        if entry.starts_with('#') || entry.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = entry.splitn(4, ':').collect();
        assert_eq!(fields.len(), 4, "not id:runlevels:action:process: {line}");
        assert!(INIT_ACTIONS.contains(&fields[2]), "action: {line}");
        let argv: Vec<&str> = fields[3].split_whitespace().collect();
        let prog = argv[0].trim_start_matches('/');
        assert!(
            installed.iter().any(|p| p == prog),
            "{prog} not installed there"
        );
        if fields[2] == "respawn" {
            respawn += 1;
            // init supervises: the daemon must not fork away or monitor.
            assert!(argv.contains(&"-f"), "respawn without -f: {line}");
            assert!(!argv.contains(&"--monitor"), "{line}");
        } else {
            assert!(argv.contains(&"-b"), "boot form without -b: {line}");
        }
        // The arguments parse: `APPLET ARGS --help` fails on a bad option
        // before it would print the usage (exit 1 vs 0).
        let applet = Path::new(prog).file_name().unwrap().to_str().unwrap();
        let out = Command::new(bin())
            .arg(applet)
            .args(&argv[1..])
            .arg("--help")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(respawn, 2);
}

#[test]
fn buildroot_package_matches_the_crate() {
    let mk = fs::read_to_string(repo("examples/buildroot/udhcp/udhcp.mk")).unwrap();
    let config = fs::read_to_string(repo("examples/buildroot/udhcp/Config.in")).unwrap();
    let version = format!("UDHCP_VERSION = {}\n", env!("CARGO_PKG_VERSION"));
    assert!(
        mk.contains(&version),
        "UDHCP_VERSION differs from Cargo.toml"
    );
    assert!(mk.contains("$(eval $(cargo-package))"));
    assert!(mk.contains("scripts/install.sh $(TARGET_DIR)"));
    assert!(config.starts_with("config BR2_PACKAGE_UDHCP\n"));
    // Kconfig help is indented with a tab and two spaces; no stray spaces.
    for line in config.lines() {
        assert!(
            !line.starts_with(' '),
            "space-indented Kconfig line: {line:?}"
        );
    }
}

#[test]
fn shell_scripts_pass_shellcheck() {
    let have = Command::new("shellcheck").arg("--version").output().is_ok();
    if !have {
        assert!(
            std::env::var_os("UDHCP_REQUIRE_NETNS").is_none(),
            "shellcheck is not installed (Debian: shellcheck)"
        );
        eprintln!("skipped: shellcheck is not installed");
        return;
    }
    let scripts = [
        "scripts/install.sh",
        "scripts/build-embedded.sh",
        "scripts/cross-env.sh",
        "examples/init/S41udhcp",
        "default.script",
        "default6.script",
        "scripts/demo.sh",
    ];
    let out = Command::new("shellcheck")
        .arg("-x")
        .args(scripts.iter().map(|s| repo(s)))
        .current_dir(repo(""))
        .output()
        .expect("shellcheck");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
