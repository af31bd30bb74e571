//! Test harness for `tests/sys_process.rs`; it exists only for those tests.
//!
//! fork, setsid, signal dispositions and pidfile locks must not be exercised
//! inside the multi-threaded libtest process, so the tests start this small
//! single-threaded program, which drives the `udhcp::sys` APIs on command:
//!
//! ```text
//! sys_harness pidfile PATH hold
//!     take the pidfile, print "locked", wait for TERM/INT, remove it, exit 0
//! sys_harness daemon --fail-before-ready CODE
//!     daemonize, then exit CODE from the child before reporting ready
//! sys_harness daemon --abort-before-ready
//!     daemonize, then die of SIGABRT before reporting ready
//! sys_harness daemon --ready PIDFILE
//!     take PIDFILE, daemonize, rewrite it with the child's pid, report
//!     ready, wait for TERM, remove the pidfile, exit 0
//! sys_harness script PATH [--timeout-ms N] [--pidfile P] [--env K=V]... [--arg A]...
//!     install the signal pipe (TERM INT USR1 CHLD), optionally take a
//!     pidfile, run PATH, then print "outcome: <Outcome>", "kept: <signals
//!     still queued>" and, per --env, "own-env K: absent|present"
//! ```
//!
//! Errors are printed as `sys_harness: message` and exit 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use udhcp::sys::daemon;
use udhcp::sys::pidfile::Pidfile;
use udhcp::sys::process::{self, Script};
use udhcp::sys::signal::{Signal, SignalPipe};

type Result<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if udhcp::sys::log::init("sys_harness", 0, false).is_err() {
        return ExitCode::from(1);
    }
    match dispatch(&args) {
        Ok(code) => ExitCode::from(code),
        Err(msg) => {
            eprintln!("sys_harness: {msg}");
            ExitCode::from(1)
        }
    }
}

fn dispatch(args: &[String]) -> Result<u8> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["pidfile", path, "hold"] => pidfile_hold(path),
        ["daemon", "--fail-before-ready", code] => {
            let code: u8 = code.parse().map_err(|_| "bad exit code")?;
            let _ready = daemon::daemonize().map_err(|e| e.to_string())?;
            eprintln!("sys_harness: failing before ready");
            Ok(code)
        }
        ["daemon", "--abort-before-ready"] => {
            let _ready = daemon::daemonize().map_err(|e| e.to_string())?;
            std::process::abort()
        }
        ["daemon", "--ready", path] => daemon_ready(path),
        ["script", path, rest @ ..] => script(path, rest),
        _ => Err(format!(
            "usage: see the top of examples/sys_harness.rs (got {args:?})"
        )),
    }
}

fn wait_for_term(signals: &mut SignalPipe) -> Result<()> {
    loop {
        match signals.wait(None).map_err(|e| e.to_string())? {
            Some(Signal::SIGTERM | Signal::SIGINT) => return Ok(()),
            _ => continue,
        }
    }
}

fn pidfile_hold(path: &str) -> Result<u8> {
    let mut signals =
        SignalPipe::install(&[Signal::SIGTERM, Signal::SIGINT]).map_err(|e| e.to_string())?;
    let mut pidfile = Pidfile::create(path).map_err(|e| e.to_string())?;
    println!("locked");
    wait_for_term(&mut signals)?;
    pidfile.remove().map_err(|e| e.to_string())?;
    Ok(0)
}

fn daemon_ready(path: &str) -> Result<u8> {
    let mut signals =
        SignalPipe::install(&[Signal::SIGTERM, Signal::SIGINT]).map_err(|e| e.to_string())?;
    let mut pidfile = Pidfile::create(path).map_err(|e| e.to_string())?;
    let ready = daemon::daemonize().map_err(|e| e.to_string())?;
    pidfile.rewrite_pid().map_err(|e| e.to_string())?;
    ready.ready().map_err(|e| e.to_string())?;
    wait_for_term(&mut signals)?;
    pidfile.remove().map_err(|e| e.to_string())?;
    Ok(0)
}

fn script(path: &str, rest: &[&str]) -> Result<u8> {
    let mut timeout = process::DEFAULT_TIMEOUT;
    let mut pidfile_path: Option<PathBuf> = None;
    let mut env: Vec<(String, String)> = Vec::new();
    let mut script = Script::new(path);
    let mut it = rest.iter();
    while let Some(&flag) = it.next() {
        let value = *it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag {
            "--timeout-ms" => {
                timeout = Duration::from_millis(value.parse().map_err(|_| "bad --timeout-ms")?)
            }
            "--pidfile" => pidfile_path = Some(value.into()),
            "--env" => {
                let (k, v) = value.split_once('=').ok_or("--env needs K=V")?;
                env.push((k.to_owned(), v.to_owned()));
            }
            "--arg" => script = script.arg(value),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    script = script.envs(env.iter().cloned());
    let mut signals = SignalPipe::install(&[
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGUSR1,
        Signal::SIGCHLD,
    ])
    .map_err(|e| e.to_string())?;
    let mut pidfile = match pidfile_path {
        Some(p) => Some(Pidfile::create(p).map_err(|e| e.to_string())?),
        None => None,
    };
    let outcome = process::run(&script, &mut signals, timeout).map_err(|e| e.to_string())?;
    println!("outcome: {outcome:?}");
    let mut kept = Vec::new();
    signals.drain(&mut kept);
    kept.retain(|&s| s != Signal::SIGCHLD);
    println!("kept: {kept:?}");
    for (k, _) in &env {
        let state = if std::env::var_os(k).is_some() {
            "present"
        } else {
            "absent"
        };
        println!("own-env {k}: {state}");
    }
    if let Some(p) = pidfile.as_mut() {
        p.remove().map_err(|e| e.to_string())?;
    }
    Ok(0)
}
