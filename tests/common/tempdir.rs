//! The one temp-dir helper of the integration tests: a fresh directory
//! under the system temp dir, removed (with its contents) on drop, and
//! files and executable scripts written into it.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A temp directory unique to this process and call, removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `$TMPDIR/udhcp-<tag>-<pid>-<n>`, created empty, mode 0755 (peers
    /// that drop privileges still reach their files).
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("udhcp-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
        TempDir(dir)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.0
    }

    /// A path inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes a (non-executable) file and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Writes an executable script (`name` may contain directories, which
    /// are created) and returns its path. `body` is written as is when it
    /// starts with `#!`, else after a `#!/bin/sh` line.
    ///
    /// A child process writes it, never this one: tests run on parallel
    /// threads, and a writable fd to the file held here while another
    /// thread forks would be inherited by that child until it execs,
    /// making the exec of the script fail with ETXTBSY ("Text file busy")
    /// — a rare, timing-dependent failure seen once in a full run.
    pub fn write_script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
        }
        let text = if body.starts_with("#!") {
            body.to_string()
        } else {
            format!("#!/bin/sh\n{body}")
        };
        let mut writer = Command::new("/bin/sh")
            .args(["-c", "cat > \"$0\" && chmod 755 \"$0\""])
            .arg(&path)
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn sh to write a script");
        let mut stdin = writer.stdin.take().expect("piped stdin");
        stdin.write_all(text.as_bytes()).expect("write script text");
        drop(stdin);
        assert!(
            writer.wait().expect("wait for sh").success(),
            "writing {name}"
        );
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
