//! Process-side OS layer (`udhcp::sys`): pidfile, daemon readiness, signal
//! pipe and script running, exercised through `examples/sys_harness.rs`
//! because fork/setsid/signal dispositions must not run inside the
//! multi-threaded test process. No network, no root needed. Only processes
//! started here are signalled, by pid.
//!
//! `cargo test` builds the harness; `cargo test --test sys_process` alone
//! does not (and would run a stale one): build it first with
//! `cargo build --example sys_harness`.

mod common;

use common::tempdir::TempDir;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use udhcp::sys::clock;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// `target/<profile>/examples/sys_harness`, next to this test's `deps/`.
fn harness() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe
        .parent()
        .expect("test binary has a directory")
        .to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    let path = dir.join("examples").join("sys_harness");
    assert!(
        path.is_file(),
        "{} is missing: `cargo test` builds it; with a filter such as \
         `cargo test --test sys_process`, run `cargo build --example sys_harness` first",
        path.display()
    );
    path
}

fn spawn(args: &[&str]) -> Child {
    Command::new(harness())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sys_harness")
}

/// Wait for `child`, killing it (and failing) after `limit`.
fn wait_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = clock::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if (clock::now() - start) > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sys_harness did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn read_all(r: Option<impl Read>) -> String {
    let mut s = String::new();
    if let Some(mut r) = r {
        r.read_to_string(&mut s).unwrap();
    }
    s
}

fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim_end().to_owned()
}

fn signal(pid: u32, sig: Signal) {
    kill(Pid::from_raw(pid as i32), sig).expect("signal our own child");
}

/// (state, pgrp) of a live process; None if gone. Zombies count as gone:
/// an orphan is reaped by pid 1, which may take a moment.
fn proc_state(pid: u32) -> Option<(char, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid pgrp ..." — comm may contain spaces: split after ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    if state == 'Z' || state == 'X' {
        return None;
    }
    Some((state, pgrp))
}

fn alive(pid: u32) -> bool {
    proc_state(pid).is_some()
}

/// Live processes whose process group is `pgrp`.
fn group_members(pgrp: u32) -> Vec<u32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| proc_state(pid).is_some_and(|(_, g)| g == pgrp))
        .collect()
}

fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = clock::now();
    while (clock::now() - start) < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// A pid written by a script as "N\n" (waits for the newline).
fn wait_pid_file(path: &Path) -> u32 {
    let mut pid = None;
    assert!(
        eventually(Duration::from_secs(10), || {
            pid = fs::read_to_string(path)
                .ok()
                .filter(|s| s.ends_with('\n'))
                .and_then(|s| s.trim().parse().ok());
            pid.is_some()
        }),
        "{} never appeared",
        path.display()
    );
    pid.unwrap()
}

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn second_instance_is_refused_and_names_the_first() {
    let dir = TempDir::new("pid2");
    let pidfile = dir.path("d.pid");
    let p = pidfile.to_str().unwrap();
    let mut first = spawn(&["pidfile", p, "hold"]);
    assert_eq!(first_line(&mut first), "locked");
    assert_eq!(
        fs::read_to_string(&pidfile).unwrap(),
        format!("{}\n", first.id())
    );

    let mut second = spawn(&["pidfile", p, "hold"]);
    let status = wait_exit(&mut second, LIMIT);
    let err = read_all(second.stderr.take());
    assert_eq!(status.code(), Some(1), "stderr: {err}");
    assert_eq!(
        err.trim_end(),
        format!("sys_harness: already running as pid {}", first.id())
    );
    // The loser must not have disturbed the winner's file.
    assert_eq!(
        fs::read_to_string(&pidfile).unwrap(),
        format!("{}\n", first.id())
    );

    signal(first.id(), Signal::SIGTERM);
    assert_eq!(wait_exit(&mut first, LIMIT).code(), Some(0));
    assert!(!pidfile.exists(), "pidfile left after TERM");
    assert!(!dir.path("d.pid.tmp").exists());
}

#[test]
fn stale_pidfile_after_kill9_is_replaced() {
    let dir = TempDir::new("stale");
    let pidfile = dir.path("d.pid");
    let p = pidfile.to_str().unwrap();
    let mut first = spawn(&["pidfile", p, "hold"]);
    assert_eq!(first_line(&mut first), "locked");
    signal(first.id(), Signal::SIGKILL);
    wait_exit(&mut first, LIMIT);
    assert_eq!(
        fs::read_to_string(&pidfile).unwrap(),
        format!("{}\n", first.id()),
        "kill -9 leaves the stale pidfile"
    );

    let mut next = spawn(&["pidfile", p, "hold"]);
    assert_eq!(first_line(&mut next), "locked");
    assert_eq!(
        fs::read_to_string(&pidfile).unwrap(),
        format!("{}\n", next.id())
    );
    signal(next.id(), Signal::SIGTERM);
    assert_eq!(wait_exit(&mut next, LIMIT).code(), Some(0));
    assert!(!pidfile.exists());
}

#[test]
fn simultaneous_starts_have_exactly_one_winner() {
    let dir = TempDir::new("race");
    let pidfile = dir.path("d.pid");
    let p = pidfile.to_str().unwrap();
    let mut children: Vec<Child> = (0..8).map(|_| spawn(&["pidfile", p, "hold"])).collect();
    let lines: Vec<String> = children.iter_mut().map(first_line).collect();
    let winners: Vec<usize> = (0..lines.len()).filter(|&i| lines[i] == "locked").collect();
    assert_eq!(winners.len(), 1, "first lines: {lines:?}");
    let w = winners[0];
    let winner_pid = children[w].id();
    for (i, child) in children.iter_mut().enumerate() {
        if i == w {
            continue;
        }
        let status = wait_exit(child, LIMIT);
        let err = read_all(child.stderr.take());
        assert_eq!(status.code(), Some(1));
        assert_eq!(
            err.trim_end(),
            format!("sys_harness: already running as pid {winner_pid}")
        );
    }
    assert_eq!(
        fs::read_to_string(&pidfile).unwrap(),
        format!("{winner_pid}\n")
    );
    signal(winner_pid, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut children[w], LIMIT).code(), Some(0));
    assert!(!pidfile.exists());
}

#[test]
fn failure_before_ready_is_the_parents_exit_status() {
    let mut child = spawn(&["daemon", "--fail-before-ready", "3"]);
    let status = wait_exit(&mut child, LIMIT);
    let err = read_all(child.stderr.take());
    assert_eq!(status.code(), Some(3));
    // The child kept stderr until ready, so its error is still visible.
    assert_eq!(err.trim_end(), "sys_harness: failing before ready");

    let mut child = spawn(&["daemon", "--abort-before-ready"]);
    let status = wait_exit(&mut child, LIMIT);
    assert_eq!(status.code(), Some(128 + libc_sigabrt()));
}

fn libc_sigabrt() -> i32 {
    Signal::SIGABRT as i32
}

#[test]
fn ready_child_keeps_running_after_parent_exits_0() {
    let dir = TempDir::new("ready");
    let pidfile = dir.path("d.pid");
    let mut parent = Command::new(harness())
        .args(["daemon", "--ready", pidfile.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(wait_exit(&mut parent, LIMIT).code(), Some(0));
    let daemon = wait_pid_file(&pidfile);
    assert_ne!(daemon, parent.id(), "pidfile must name the daemon child");
    let (_, pgrp) = proc_state(daemon).expect("daemon keeps running");
    assert_eq!(pgrp, daemon, "daemon leads its own session/group");

    signal(daemon, Signal::SIGTERM);
    assert!(eventually(LIMIT, || !alive(daemon)), "daemon survived TERM");
    assert!(eventually(LIMIT, || !pidfile.exists()), "pidfile left");
}

/// Start `cmd` with stdout/stderr in files under `dir` (not pipes), so
/// processes a broken implementation leaves behind cannot block the test.
fn logged(dir: &TempDir, mut cmd: Command) -> Child {
    let out = fs::File::create(dir.path("harness.out")).unwrap();
    let err = fs::File::create(dir.path("harness.err")).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn sys_harness")
}

fn harness_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(harness());
    cmd.args(args);
    cmd
}

/// (stdout, stderr) of a harness started with [`logged`].
fn logs(dir: &TempDir) -> (String, String) {
    (
        fs::read_to_string(dir.path("harness.out")).unwrap(),
        fs::read_to_string(dir.path("harness.err")).unwrap(),
    )
}

#[test]
fn term_during_script_kills_the_whole_tree() {
    let dir = TempDir::new("term");
    let out = dir.0.to_str().unwrap();
    let script = dir.write_script(
        "hang.sh",
        "sleep 1000 &\necho $! > \"$OUT/bg\"\necho $$ > \"$OUT/pid\"\nsleep 1000\n",
    );
    let pidfile = dir.path("h.pid");
    let env = format!("OUT={out}");
    let mut child = logged(
        &dir,
        harness_cmd(&[
            "script",
            script.to_str().unwrap(),
            "--pidfile",
            pidfile.to_str().unwrap(),
            "--env",
            &env,
        ]),
    );
    let script_pid = wait_pid_file(&dir.path("pid"));
    let bg = wait_pid_file(&dir.path("bg"));
    assert!(alive(script_pid) && alive(bg));
    // The foreground `sleep` is in the script's group too.
    assert!(eventually(LIMIT, || group_members(script_pid).len() >= 3));
    assert!(pidfile.exists());

    // USR1 must survive for the main loop; TERM interrupts the script.
    signal(child.id(), Signal::SIGUSR1);
    std::thread::sleep(Duration::from_millis(50));
    signal(child.id(), Signal::SIGTERM);
    let status = wait_exit(&mut child, LIMIT);
    let (stdout, stderr) = logs(&dir);
    assert_eq!(status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("outcome: Interrupted(SIGTERM)\n"),
        "{stdout}"
    );
    assert!(stdout.contains("kept: [SIGUSR1]\n"), "{stdout}");
    assert!(!pidfile.exists(), "pidfile left");
    assert!(
        eventually(Duration::from_secs(5), || !alive(script_pid)
            && !alive(bg)
            && group_members(script_pid).is_empty()),
        "left over: {:?}",
        group_members(script_pid)
    );
}

#[test]
fn hanging_script_times_out_and_is_killed() {
    let dir = TempDir::new("timeout");
    let out = dir.0.to_str().unwrap();
    // Ignores TERM (and so do its children, by inheritance): only the
    // SIGKILL after the grace period can end it.
    let script = dir.write_script(
        "stuck.sh",
        "trap '' TERM\nsleep 1000 &\necho $! > \"$OUT/bg\"\necho $$ > \"$OUT/pid\"\nsleep 1000\n",
    );
    let env = format!("OUT={out}");
    let mut child = logged(
        &dir,
        harness_cmd(&[
            "script",
            script.to_str().unwrap(),
            "--timeout-ms",
            "1000",
            "--env",
            &env,
        ]),
    );
    let status = wait_exit(&mut child, LIMIT);
    let (stdout, stderr) = logs(&dir);
    assert_eq!(status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("outcome: TimedOut\n"), "{stdout}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "sys_harness: script '{}' still running after 1000 ms, killing it",
            script.display()
        )
    );
    let script_pid = wait_pid_file(&dir.path("pid"));
    let bg = wait_pid_file(&dir.path("bg"));
    assert!(
        eventually(Duration::from_secs(5), || !alive(script_pid)
            && !alive(bg)
            && group_members(script_pid).is_empty()),
        "left over: {:?}",
        group_members(script_pid)
    );
}

#[test]
fn script_sees_exactly_our_env_plus_its_own() {
    let dir = TempDir::new("env");
    let out = dir.0.to_str().unwrap();
    let script = dir.write_script(
        "dump.sh",
        "env > \"$OUT/env\"\necho \"$0 $*\" > \"$OUT/argv\"\n",
    );
    let env_out = format!("OUT={out}");
    let mut cmd = harness_cmd(&[
        "script",
        script.to_str().unwrap(),
        "--arg",
        "bound",
        "--env",
        &env_out,
        "--env",
        "interface=eth0",
        "--env",
        "ip=192.0.2.10",
    ]);
    cmd.env("UDHCP_TEST_INHERITED", "yes");
    let mut child = logged(&dir, cmd);
    let status = wait_exit(&mut child, LIMIT);
    let (stdout, stderr) = logs(&dir);
    assert_eq!(status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("outcome: Exited(0)\n"), "{stdout}");
    // Our own environment is unchanged.
    assert!(stdout.contains("own-env interface: absent\n"), "{stdout}");
    assert!(stdout.contains("own-env ip: absent\n"), "{stdout}");
    assert!(stdout.contains("own-env OUT: absent\n"), "{stdout}");

    let env = fs::read_to_string(dir.path("env")).unwrap();
    let lines: Vec<&str> = env.lines().collect();
    for want in [
        "interface=eth0",
        "ip=192.0.2.10",
        env_out.as_str(),
        "UDHCP_TEST_INHERITED=yes",
    ] {
        assert!(lines.contains(&want), "{want} missing from {env}");
    }
    assert_eq!(
        fs::read_to_string(dir.path("argv")).unwrap(),
        format!("{} bound\n", script.display())
    );
}

/// The first of `names` that is an executable on this machine.
fn tool(names: &[&str]) -> String {
    names
        .iter()
        .find(|p| Path::new(p).is_file())
        .unwrap_or_else(|| panic!("none of {names:?} exists"))
        .to_string()
}

#[test]
fn script_starts_with_an_empty_signal_mask() {
    // The program is grep itself, not a shell script: shells reset or
    // juggle their own mask, which would hide what we passed on. `run`
    // blocks every signal around fork, so without the reset in the child
    // the mask would be full.
    let dir = TempDir::new("mask");
    let grep = tool(&["/usr/bin/grep", "/bin/grep"]);
    let mut child = logged(
        &dir,
        harness_cmd(&[
            "script",
            &grep,
            "--arg",
            "^SigBlk",
            "--arg",
            "/proc/self/status",
        ]),
    );
    let status = wait_exit(&mut child, LIMIT);
    let (stdout, stderr) = logs(&dir);
    assert_eq!(status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("SigBlk:\t0000000000000000\noutcome: Exited(0)\n"),
        "{stdout}"
    );
}

#[test]
fn script_inherits_no_fds_above_2() {
    // Start the harness with fds 7 and 8 open and *not* close-on-exec, as a
    // careless parent (rcS) might; the harness itself also holds its signal
    // pipe and pidfile. The script (ls, directly) must see none of them.
    let dir = TempDir::new("fds");
    let ls = tool(&["/usr/bin/ls", "/bin/ls"]);
    let pidfile = dir.path("f.pid");
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("exec 7</dev/null 8>/dev/null; exec \"$0\" \"$@\"")
        .arg(harness())
        .args([
            "script",
            &ls,
            "--pidfile",
            pidfile.to_str().unwrap(),
            "--arg",
            "-l",
            "--arg",
            "/proc/self/fd",
        ]);
    let mut child = logged(&dir, cmd);
    let status = wait_exit(&mut child, LIMIT);
    let (stdout, stderr) = logs(&dir);
    assert_eq!(status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("outcome: Exited(0)\n"), "{stdout}");
    // `ls -l` lines end in "N -> target"; ls holds one fd of its own, on the
    // directory it lists.
    let mut seen = Vec::new();
    for line in stdout.lines().filter(|l| l.contains(" -> ")) {
        let (left, target) = line.split_once(" -> ").unwrap();
        let fd: u32 = left.rsplit(' ').next().unwrap().parse().unwrap();
        seen.push(fd);
        if fd >= 3 {
            assert!(
                target.starts_with("/proc/") && target.ends_with("/fd"),
                "fd {fd} -> {target} leaked into the script:\n{stdout}"
            );
        }
    }
    assert!(seen.contains(&2), "no fd listing in:\n{stdout}");
}

#[test]
fn script_outcomes() {
    let dir = TempDir::new("outcomes");
    let cases = [
        ("exit 7\n", "outcome: Exited(7)\n"),
        ("kill -USR2 $$\nsleep 5\n", "outcome: Signaled(12)\n"),
    ];
    for (i, (body, want)) in cases.iter().enumerate() {
        let script = dir.write_script(&format!("s{i}.sh"), body);
        let mut child = logged(&dir, harness_cmd(&["script", script.to_str().unwrap()]));
        assert_eq!(wait_exit(&mut child, LIMIT).code(), Some(0));
        let (stdout, _) = logs(&dir);
        assert!(stdout.contains(want), "{body}: {stdout}");
    }
    let missing = dir.path("no-such-script");
    let mut child = logged(&dir, harness_cmd(&["script", missing.to_str().unwrap()]));
    assert_eq!(wait_exit(&mut child, LIMIT).code(), Some(0));
    assert!(logs(&dir).0.contains("outcome: NotFound\n"));
}
