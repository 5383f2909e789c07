//! Helpers for the supervise family's tests: temporary directories, running
//! the real binaries, waiting by polling with a deadline.
#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub use testutil::*;

pub const SUPERVISE: &str = env!("CARGO_BIN_EXE_supervise");
pub const SVC: &str = env!("CARGO_BIN_EXE_svc");
pub const SVOK: &str = env!("CARGO_BIN_EXE_svok");
pub const SVSTAT: &str = env!("CARGO_BIN_EXE_svstat");
pub const FGHACK: &str = env!("CARGO_BIN_EXE_fghack");

/// Starts `bin args` in `cwd` in the background, its output discarded.
pub fn spawn(bin: impl AsRef<std::ffi::OsStr>, args: &[&str], cwd: &Path) -> Child {
    default_signals();
    Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The pid in `service`'s status file (0 when down or unreadable).
pub fn status_pid(service: &Path) -> u32 {
    let b = fs::read(service.join("supervise/status")).unwrap_or_default();
    if b.len() != 18 {
        return 0;
    }
    u32::from_le_bytes([b[12], b[13], b[14], b[15]])
}

/// A supervise (ours or the C one) started with [`spawn`]; if it still
/// runs when dropped (a test that failed midway), its service and then it
/// are KILLed, so that nothing is left running.
pub struct Guarded {
    pub child: Child,
    service: PathBuf,
}

/// Starts `bin dir` (a supervise) in `cwd` like [`spawn`], guarded.
pub fn spawn_supervise(bin: impl AsRef<std::ffi::OsStr>, dir: &str, cwd: &Path) -> Guarded {
    Guarded {
        child: spawn(bin, &[dir], cwd),
        service: cwd.join(dir),
    }
}

/// [`spawn_supervise`] with supervise's stderr written to `stderr`.
pub fn spawn_supervise_logged(
    bin: impl AsRef<std::ffi::OsStr>,
    dir: &str,
    cwd: &Path,
    stderr: &Path,
) -> Guarded {
    default_signals();
    let child = Command::new(bin)
        .arg(dir)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap();
    Guarded {
        child,
        service: cwd.join(dir),
    }
}

impl std::ops::Deref for Guarded {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.child
    }
}

impl std::ops::DerefMut for Guarded {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = status_pid(&self.service);
            if pid != 0 {
                kill("-9", pid);
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// svstat's TEXT for one directory (the part after `DIR: `).
pub fn svstat(cwd: &Path, dir: &str) -> String {
    let o = run(SVSTAT, &[dir], cwd);
    let line = o.stdout.trim_end_matches('\n');
    line.strip_prefix(&format!("{dir}: "))
        .unwrap_or(line)
        .to_string()
}

/// svstat's text with the seconds replaced by `N`, for comparing lines.
pub fn svstat_shape(cwd: &Path, dir: &str) -> String {
    let t = svstat(cwd, dir);
    let words: Vec<&str> = t.split(' ').collect();
    let mut out = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let before_seconds = words.get(i + 1).is_some_and(|n| n.starts_with("seconds"));
        let after_pid = i > 0 && words[i - 1] == "(pid";
        out.push(if before_seconds {
            "N"
        } else if after_pid {
            "P)"
        } else {
            w
        });
    }
    out.join(" ")
}

/// A running supervise, stopped (svc -dx, then SIGKILL) when dropped.
pub struct Supervised {
    pub child: Child,
    pub cwd: PathBuf,
    pub dir: String,
    /// supervise's stderr goes to this file.
    pub stderr: PathBuf,
}

impl Supervised {
    /// Starts `supervise dir` in `cwd` and waits until `svok` says it runs.
    pub fn start(cwd: &Path, dir: &str) -> Supervised {
        let stderr = cwd.join(format!("{}.stderr", dir.replace('/', "_")));
        default_signals();
        let s = Supervised {
            child: Command::new(SUPERVISE)
                .arg(dir)
                .current_dir(cwd)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(&stderr).unwrap())
                .spawn()
                .unwrap(),
            cwd: cwd.to_path_buf(),
            dir: dir.to_string(),
            stderr,
        };
        assert!(
            wait_until(5.0, || run(SVOK, &[dir], cwd).code == 0),
            "supervise did not come up"
        );
        s
    }

    pub fn svc(&self, opts: &str) -> Out {
        run(SVC, &[opts, &self.dir], &self.cwd)
    }

    pub fn stat(&self) -> String {
        svstat(&self.cwd, &self.dir)
    }

    pub fn shape(&self) -> String {
        svstat_shape(&self.cwd, &self.dir)
    }

    /// The pid recorded in the status file (0 when down).
    pub fn pid(&self) -> u32 {
        status_pid(&self.cwd.join(&self.dir))
    }

    pub fn stderr_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = fs::File::open(&self.stderr) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Waits for supervise itself to exit; its exit code.
    pub fn wait_exit(&mut self, secs: f64) -> Option<i32> {
        let mut code = None;
        wait_until(secs, || match self.child.try_wait() {
            Ok(Some(st)) => {
                code = st.code();
                true
            }
            _ => false,
        });
        code
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.svc("-dx");
            if self.wait_exit(3.0).is_none() {
                let pid = self.pid();
                if pid != 0 {
                    kill("-9", pid);
                }
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}
