//! Helpers for the tests of every crate: temporary directories, running the
//! real binaries, waiting by polling with a deadline (never a bare sleep).

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "svtest-{}-{}-{}",
            tag,
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Writes an executable script.
///
/// The file is written by a child process, not through a descriptor of the
/// test process: another test thread forking at that moment would keep such
/// a descriptor open until its exec, and executing the script then fails
/// with "text busy".
pub fn script(path: impl AsRef<Path>, body: &str) {
    use std::io::Write;
    let path = path.as_ref();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut c = Command::new("sh")
        .args([
            "-c",
            "cat > \"$0.tmp\" && chmod 755 \"$0.tmp\" && mv -f \"$0.tmp\" \"$0\"",
        ])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(format!("#!/bin/sh\n{body}").as_bytes())
        .unwrap();
    assert!(
        c.wait().unwrap().success(),
        "cannot write {}",
        path.display()
    );
}

/// What a finished program did.
#[derive(Debug, PartialEq, Eq)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn new(code: i32, stdout: &str, stderr: &str) -> Out {
        Out {
            code,
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }
}

/// Runs `bin args...` in `cwd` to completion.
pub fn run<S: AsRef<OsStr>>(bin: &str, args: &[S], cwd: &Path) -> Out {
    let o: Output = Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Out::from(o)
}

impl From<Output> for Out {
    /// A finished command's exit code (-1 after a signal) and its output
    /// as text.
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Polls `f` every 5 ms until it is true or `secs` pass; returns its last value.
pub fn wait_until(secs: f64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The exit code of a background child once it ends, waiting at most
/// `secs`; `None` (the child killed) if it has not ended by then, or was
/// killed by a signal.
pub fn exit_within(c: &mut std::process::Child, secs: f64) -> Option<i32> {
    let mut ended = None;
    wait_until(secs, || match c.try_wait().unwrap() {
        Some(st) => {
            ended = Some(st.code());
            true
        }
        None => false,
    });
    if ended.is_none() {
        let _ = c.kill();
        let _ = c.wait();
    }
    ended.flatten()
}

/// The path of a binary of another crate of the workspace, next to `known`
/// (a `CARGO_BIN_EXE_*` path of the calling crate). `cargo test --workspace`
/// builds every binary before it runs any test.
pub fn workspace_bin(known: &str, name: &str) -> PathBuf {
    let path = Path::new(known).parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build` first)",
        path.display()
    );
    path
}

/// Makes `path` a FIFO (mode 0600) and opens its reading end without
/// blocking, as supervise holds its `ok` and `control`: a writer that
/// opens it non-blocking finds a reader while the returned file lives.
pub fn fifo_with_reader(path: &Path) -> fs::File {
    use std::os::unix::fs::OpenOptionsExt;
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .unwrap()
}

/// Pids of the processes whose argv is exactly `argv` and whose working
/// directory is `cwd`.
pub fn pids_of(argv: &[&str], cwd: &Path) -> Vec<u32> {
    let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    let cwd = cwd.canonicalize().unwrap();
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let cmd = fs::read(e.path().join("cmdline")).unwrap_or_default();
        if cmd == want && fs::read_link(e.path().join("cwd")).ok().as_deref() == Some(&cwd) {
            out.push(pid);
        }
    }
    out
}

/// Sends `sig` (written as a `kill` option: `-9`, `-TERM`, `-ALRM`, ...,
/// or any number, `-34` a real-time signal) to `pid`, without needing a
/// `kill` program on the machine.
pub fn kill(sig: &str, pid: u32) {
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    match sig.trim_start_matches('-').parse::<i32>() {
        Ok(n) => {
            let _ = common::sys::kill_number(pid, n);
        }
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, signal(sig));
        }
    }
}

/// Sends `sig` to every process of the process group `pgid`.
pub fn kill_group(sig: &str, pgid: u32) {
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid as i32), signal(sig));
}

/// A signal by number or by name without `SIG` (`9`, `KILL`, `PIPE`).
fn signal(sig: &str) -> nix::sys::signal::Signal {
    use nix::sys::signal::Signal;
    let sig = sig.trim_start_matches('-');
    match sig.parse::<i32>() {
        Ok(n) => Signal::try_from(n).ok(),
        Err(_) => format!("SIG{sig}").parse().ok(),
    }
    .unwrap_or_else(|| panic!("unknown signal {sig}"))
}

/// The directory of the workspace's binaries, for tests of a crate that has
/// none of its own: the test executable is in `target/<profile>/deps/`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(
        dir.join("svscan").exists(),
        "{} has no svscan: run the tests with `cargo test --workspace`",
        dir.display()
    );
    dir
}

/// Runs `bin args...` in `cwd` with `input` on stdin (written from another
/// thread, so large inputs cannot deadlock), `remove` taken out of the
/// environment and `env` added; returns (exit code, stdout, stderr).
pub fn run_input(
    bin: &str,
    args: &[&str],
    input: &[u8],
    cwd: &Path,
    env: &[(&str, &str)],
    remove: &[&str],
) -> (i32, Vec<u8>, Vec<u8>) {
    let mut cmd = Command::new(bin);
    cmd.args(args).current_dir(cwd);
    for r in remove {
        cmd.env_remove(r);
    }
    let (c, writer) = spawn_with_input(cmd.envs(env.iter().copied()), input);
    let o = c.wait_with_output().unwrap();
    writer.join().unwrap();
    (o.status.code().unwrap_or(-1), o.stdout, o.stderr)
}

/// Starts `cmd` with stdin, stdout and stderr on pipes, and `input` written
/// to its stdin from another thread (so large inputs cannot deadlock),
/// which ends once all of it is written or the program's stdin is gone.
fn spawn_with_input(
    cmd: &mut Command,
    input: &[u8],
) -> (std::process::Child, std::thread::JoinHandle<()>) {
    use std::io::Write;
    let mut c = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    (c, writer)
}

/// [`run_input`] with a deadline: the test fails if `bin` has not ended,
/// and closed its stdout and stderr, within `secs` (it is killed first).
/// A program that deadlocks fails the test instead of stalling the suite.
/// The output is read to its end, so what a process `bin` started writes
/// there after `bin` ends is in it too (recordio's copier).
pub fn run_input_within(
    secs: f64,
    bin: &str,
    args: &[&str],
    input: &[u8],
    cwd: &Path,
) -> (i32, Vec<u8>, Vec<u8>) {
    use std::io::Read;
    use std::sync::mpsc;
    let (mut c, _writer) = spawn_with_input(Command::new(bin).args(args).current_dir(cwd), input);
    // Each stream read to its end on a thread of its own, which sends it.
    let read_all = |mut r: Box<dyn Read + Send>| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            let _ = tx.send(v);
        });
        rx
    };
    let out = read_all(Box::new(c.stdout.take().unwrap()));
    let err = read_all(Box::new(c.stderr.take().unwrap()));
    let (mut status, mut got_out, mut got_err) = (None, None, None);
    let ended = wait_until(secs, || {
        status = c.try_wait().unwrap();
        got_out = got_out.take().or_else(|| out.try_recv().ok());
        got_err = got_err.take().or_else(|| err.try_recv().ok());
        status.is_some() && got_out.is_some() && got_err.is_some()
    });
    if !ended {
        let _ = c.kill();
        let _ = c.wait();
        panic!("{bin} {args:?} still running after {secs} s");
    }
    (
        status.and_then(|s| s.code()).unwrap_or(-1),
        got_out.unwrap_or_default(),
        got_err.unwrap_or_default(),
    )
}

/// Starts `cmd` with `input` on a stdin it keeps open (a client that waits
/// for answers), and returns what it writes to stdout until `enough` says
/// so, stdout ends, or `secs` pass; then kills it. For programs that must
/// answer before their input ends.
pub fn output_while_open(
    cmd: &mut Command,
    input: &[u8],
    secs: f64,
    enough: impl Fn(&[u8]) -> bool,
) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut c = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = c.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut stdin = c.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut out = Vec::new();
    while !enough(&out) {
        match rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Ok(chunk) => out.extend(chunk),
            Err(_) => break,
        }
    }
    let _ = c.kill();
    let _ = c.wait();
    drop(stdin);
    out
}

/// Installs the toolkit with the project's install.sh: the binaries found
/// in `from` (a build directory) under `prefix`, with `extra` options
/// (e.g. `--scandir DIR`). Returns `prefix/bin`.
pub fn install_toolkit(from: &Path, prefix: &Path, extra: &[&str]) -> PathBuf {
    let installer = concat!(env!("CARGO_MANIFEST_DIR"), "/../install.sh");
    let mut args = vec![
        installer,
        "--from",
        from.to_str().unwrap(),
        "--prefix",
        prefix.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run("sh", &args, prefix.parent().unwrap());
    assert_eq!(o.code, 0, "install.sh failed: {}", o.stderr);
    prefix.join("bin")
}

/// Runs `bin args...` in `cwd` with stdin on /dev/null (or `input`, then end
/// of file) and stdout and stderr in files, and fails the test if it has not
/// ended within `secs` (it is killed first): a hang fails, it does not
/// stall the suite.
pub fn run_within<S: AsRef<OsStr>>(
    secs: f64,
    bin: &str,
    args: &[S],
    cwd: &Path,
    input: Option<&[u8]>,
) -> Out {
    use std::io::Write;
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let tmp = std::env::temp_dir().join(format!("run-within-{}-{n}", std::process::id()));
    let (out, err) = (tmp.with_extension("out"), tmp.with_extension("err"));
    let mut c = Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(fs::File::create(&out).unwrap())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    if let (Some(i), Some(mut stdin)) = (input, c.stdin.take()) {
        let _ = stdin.write_all(i);
    }
    let mut status = None;
    let ended = wait_until(secs, || {
        status = c.try_wait().unwrap();
        status.is_some()
    });
    if !ended {
        let _ = c.kill();
        let _ = c.wait();
        panic!(
            "{bin} {:?} still running after {secs} s",
            args.iter()
                .map(|a| a.as_ref().to_os_string())
                .collect::<Vec<_>>()
        );
    }
    let o = Out {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout: fs::read_to_string(&out).unwrap_or_default(),
        stderr: fs::read_to_string(&err).unwrap_or_default(),
    };
    let _ = fs::remove_file(&out);
    let _ = fs::remove_file(&err);
    o
}

/// A small generator for property tests: fixed seed, so every run feeds
/// the same inputs (a failure is reproducible); `cases` scales with
/// `$PARSER_CASES` for a longer run (default `default`).
pub struct Rand(u64);

impl Rand {
    pub fn new(seed: u64) -> Rand {
        Rand(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    /// `n` bytes drawn from `alphabet` (inputs close to the grammar).
    pub fn from(&mut self, alphabet: &[u8], n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }
}

/// How many cases a property test runs: `$PARSER_CASES`, else `default`.
pub fn cases(default: usize) -> usize {
    std::env::var("PARSER_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The C original `name` from Debian's daemontools or ucspi-tcp package,
/// for side-by-side tests: from `$REF_BIN` if set (CI fetches them there),
/// else fetched and unpacked by bench/reference.sh into a scratch directory
/// (never installed). Fails the test when they cannot be had: a comparison
/// with the original is never skipped silently.
pub fn reference_bin(name: &str) -> PathBuf {
    static DIR: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = from_reference_sh("ref_bin")?;
        if dir.join("supervise").exists() {
            Ok(dir)
        } else {
            Err(format!("no supervise in {}", dir.display()))
        }
    });
    match dir {
        Ok(d) => d.join(name),
        Err(e) => panic!(
            "the C originals are needed for this test (set REF_BIN, or let apt-get download daemontools ucspi-tcp): {e}"
        ),
    }
}

/// The host's target triple, as `rustc -vV` gives it.
fn host_triple() -> String {
    let o = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("a host line from rustc -vV")
        .to_string()
}

/// The directory of the statically linked release binaries, built by the
/// README's command (`RUSTFLAGS="-C target-feature=+crt-static" cargo
/// build --release --target HOST`) on first use. Cargo's own lock makes
/// concurrent callers wait for one build.
pub fn static_bins() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let triple = host_triple();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let o = Command::new(cargo)
            .current_dir(root)
            .args([
                "build",
                "--release",
                "--locked",
                "--bins",
                "--target",
                &triple,
            ])
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env_remove("CARGO_TARGET_DIR")
            .stdin(Stdio::null())
            .output()
            .expect("cargo build");
        assert!(
            o.status.success(),
            "the static build failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        root.join("target").join(triple).join("release")
    })
    .clone()
}

/// A statically linked shell (Debian's busybox-static, downloaded and
/// unpacked by bench/reference.sh, never installed), for a root that holds
/// nothing but static binaries.
pub fn static_sh() -> PathBuf {
    match from_reference_sh("static_sh") {
        Ok(path) if path.exists() => path,
        Ok(path) => panic!("{} is missing", path.display()),
        Err(e) => {
            panic!("a static shell is needed for this test (apt-get download busybox-static): {e}")
        }
    }
}

/// The path a function of bench/reference.sh prints, or what it said on
/// failure.
/// The directory holding Debian's packages `names` as .deb files,
/// downloaded by bench/reference.sh (never installed); fails the test when
/// they cannot be had.
pub fn debian_debs(names: &[&str]) -> PathBuf {
    from_reference_sh(&format!("debian_debs {}", names.join(" ")))
        .unwrap_or_else(|e| panic!("Debian's {names:?} are needed for this test: {e}"))
}

fn from_reference_sh(function: &str) -> Result<PathBuf, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/reference.sh");
    let o = Command::new("sh")
        .args(["-c", &format!(". \"$0\" && {function}"), script])
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| e.to_string())?;
    if o.status.success() {
        Ok(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

/// Fails the test at once unless it runs as root, saying what for (`why`:
/// "a PID namespace", ...): CI runs as root, and such a test must not pass
/// by asserting nothing.
pub fn require_root(why: &str) {
    if !nix::unistd::Uid::effective().is_root() {
        panic!("this test needs root ({why}), as CI has");
    }
}

/// `sh -c CMD` on a terminal of its own, as its foreground job, under
/// script(1) (util-linux) in a new process group: what is written to the
/// command's stdin goes to that terminal (the byte 3 is Ctrl-C), and
/// script ends with the command's exit code. Standard streams are the
/// caller's to set. The interrupt must not be one the command was started
/// ignoring: [`default_signals`].
pub fn on_a_terminal(cmd: &str) -> Command {
    use std::os::unix::process::CommandExt;
    default_signals();
    let mut c = Command::new("script");
    c.args(["-q", "-e", "-c", cmd, "/dev/null"])
        .process_group(0);
    c
}

/// KILLs a process when dropped, if it still exists: a test that fails
/// midway leaves nothing running (KILL to process 1 of a PID namespace
/// ends the whole namespace).
pub struct KillOnDrop(pub u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if Path::new(&format!("/proc/{}", self.0)).exists() {
            kill("-KILL", self.0);
        }
    }
}

/// A child process as /proc shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcChild {
    pub pid: u32,
    pub comm: String,
    pub zombie: bool,
}

/// The children of `pid` (its main thread's), with their command names and
/// whether each is a zombie (exited, not yet reaped).
pub fn children_of(pid: u32) -> Vec<ProcChild> {
    let list = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    list.split_whitespace()
        .filter_map(|c| {
            let stat = fs::read_to_string(format!("/proc/{c}/stat")).ok()?;
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            let comm = fs::read_to_string(format!("/proc/{c}/comm")).ok()?;
            Some(ProcChild {
                pid: c.parse().ok()?,
                comm: comm.trim().to_string(),
                zombie: state.starts_with('Z'),
            })
        })
        .collect()
}

/// Whether `pid` is process 1 of its own PID namespace (the last NSpid).
pub fn is_namespace_init(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|st| {
        st.lines()
            .any(|l| l.starts_with("NSpid:") && l.trim_end().ends_with("\t1"))
    })
}

/// A UCSPI server (tcpserver, sslserver) started with `-1` in a directory,
/// its port read from its first line, its log (standard error) in a file;
/// killed when dropped.
pub struct Listening {
    pub child: std::process::Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Listening {
    /// Starts `bin -1 ARGS...` in `dir` with `env` added, and reads the
    /// port it prints.
    pub fn start(bin: &str, args: &[&str], env: &[(&str, &str)], dir: &Path) -> Listening {
        Listening::start_under(&[], bin, args, env, dir)
    }

    /// [`Listening::start`] through `prefix` (a program that execs the
    /// rest of its command line: `taskset -c 0`).
    pub fn start_under(
        prefix: &[&str],
        bin: &str,
        args: &[&str],
        env: &[(&str, &str)],
        dir: &Path,
    ) -> Listening {
        use std::io::BufRead;
        let name = Path::new(bin).file_name().unwrap().to_string_lossy();
        // A log of its own: two servers started in one directory (ours and
        // the C one side by side) would write over each other's lines.
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = dir.join(format!("{name}-{n}.log"));
        let (cmd, before) = match prefix.split_first() {
            Some((first, rest)) => (*first, [rest, &[bin]].concat()),
            None => (bin, Vec::new()),
        };
        let mut child = Command::new(cmd)
            .args(before)
            .arg("-1")
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| {
            panic!(
                "no port: {line:?}, log: {}",
                fs::read_to_string(&log).unwrap_or_default()
            )
        });
        Listening { child, port, log }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Compiles `text` into `dir/CDB` with the workspace's tcprules (found
/// next to `known`, a `CARGO_BIN_EXE_*` path), as users compile rules.
pub fn compile_rules(known: &str, dir: &Path, cdb: &str, text: &str) {
    use std::io::Write;
    let tmp = format!("{cdb}.tmp");
    let mut c = Command::new(workspace_bin(known, "tcprules"))
        .args([cdb, tmp.as_str()])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success(), "tcprules refused the rules");
}

/// Runs `sh -c script` in a mount namespace of its own, where it may mount
/// a small tmpfs on `$T/mnt` (a disk that fills; needs root, as in CI),
/// with `$T` set to `dir` and the directory of `bin` first in PATH; the
/// script must succeed within 30 s (the failure shows `$T/err`).
pub fn run_in_mount_namespace(script: &str, dir: &Path, bin: &str) {
    let path = format!(
        "{}:{}",
        Path::new(bin).parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    fs::create_dir(dir.join("mnt")).unwrap();
    let mut c = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script])
        .env("T", dir)
        .env("PATH", path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(
        exit_within(&mut c, 30.0),
        Some(0),
        "{:?}",
        fs::read_to_string(dir.join("err"))
    );
}

/// Puts SIGHUP, SIGINT and SIGQUIT back to their defaults in this process,
/// and so in every program a test starts (a svscan the test stops with INT
/// or rescans with HUP, a supervise and the services under it). Run under
/// `nohup`, the tests inherit SIGHUP ignored; as a background job of a
/// non-interactive shell (`cargo test &` in a script), SIGINT and SIGQUIT;
/// and those programs keep a signal they were started ignoring ignored,
/// as the originals do. A shell started with a signal ignored cannot trap
/// it either.
pub fn default_signals() {
    use nix::sys::signal::{SIGHUP, SIGINT, SIGQUIT};
    for sig in [SIGHUP, SIGINT, SIGQUIT] {
        common::sys::default_signal(sig);
    }
}

/// Shell functions every [`in_overlay`] script starts with: `step NAME`
/// prints `== NAME`; `wait_for MSG CMD...` runs CMD every 20 ms until it
/// succeeds, and after 30 s prints MSG and fails (which ends a `set -e`
/// script unless the caller goes on with `||`).
pub const OVERLAY_SH: &str = r#"
step() { echo "== $*"; }
wait_for() {
    msg=$1; shift; i=0
    until "$@"; do
        i=$((i + 1)); [ $i -lt 1500 ] || { echo "$msg"; return 1; }
        sleep 0.02
    done
}
"#;

/// A test's throwaway root to be (it needs root: [`require_root`]): in a
/// temporary directory named after `name`, a share folder holding our
/// package ([`build_deb`]) and Debian's `packages` ([`debs_into`]). The
/// directory and the share folder, for [`in_overlay`] (its work folder can
/// go below the directory).
pub fn our_package_and(name: &str, packages: &[&str]) -> (TempDir, PathBuf) {
    require_root("a mount and PID namespace, an overlay, dpkg");
    let t = TempDir::new(name);
    let share = t.join("share");
    fs::create_dir_all(&share).unwrap();
    build_deb(&share);
    debs_into(packages, &share);
    (t, share)
}

/// Runs `script` with sh (`args` as its `$1`...) in a throwaway root: an
/// overlay over / whose changes go under `work`, chrooted into, in private
/// mount and PID namespaces (a fresh /proc shows only the script's
/// processes, and every one of them dies with it), with /dev and an empty
/// /run; `share` is bind-mounted at /share inside. The machine itself is
/// never changed: packages may be installed with dpkg in there. The
/// script starts with the functions of [`OVERLAY_SH`].
pub fn in_overlay(work: &Path, share: &Path, script: &str, args: &[&str]) -> Out {
    let script = format!("{OVERLAY_SH}{script}");
    for d in ["upper", "work", "merged"] {
        fs::create_dir_all(work.join(d)).unwrap();
    }
    let w = work.display();
    let setup = format!(
        "set -e
        mount -t overlay overlay -o lowerdir=/,upperdir={w}/upper,workdir={w}/work {w}/merged
        mount -t proc proc {w}/merged/proc
        mount --bind /dev {w}/merged/dev
        mount -t tmpfs tmpfs {w}/merged/run
        mkdir -p {w}/merged/share
        mount --bind {share} {w}/merged/share
        exec chroot {w}/merged /bin/sh -c \"$0\" sh \"$@\"",
        share = share.display()
    );
    let o = Command::new("unshare")
        .args([
            "-m",
            "-p",
            "-f",
            "--propagation",
            "private",
            "sh",
            "-c",
            &setup,
            &script,
        ])
        .args(args)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .unwrap();
    Out::from(o)
}

/// Our Debian package, built by packaging/build-deb from the test build
/// into `out`: its path.
pub fn build_deb(out: &Path) -> String {
    let o = Command::new("sh")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../packaging/build-deb"
        ))
        .arg("--from")
        .arg(bin_dir())
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "build-deb: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// The files of Debian's packages `names` (downloaded as by
/// [`debian_debs`]), with their names.
fn debs_named(names: &[&str]) -> Vec<(PathBuf, String)> {
    let debs = debian_debs(names);
    let mut found = Vec::new();
    for f in fs::read_dir(&debs).unwrap() {
        let p = f.unwrap().path();
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        if names.iter().any(|k| n.starts_with(&format!("{k}_"))) {
            found.push((p, n));
        }
    }
    found
}

/// Unpacks Debian's packages `names` into `root` with `dpkg-deb -x`:
/// their files, not installed (no maintainer scripts, no root needed).
pub fn unpack_debs(names: &[&str], root: &Path) {
    for (p, n) in debs_named(names) {
        let o = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&p)
            .arg(root)
            .output()
            .unwrap();
        assert!(o.status.success(), "{n}: {o:?}");
    }
}

/// Copies Debian's packages `names` into `dir`, for a throwaway root to
/// install them from.
pub fn debs_into(names: &[&str], dir: &Path) {
    for (p, n) in debs_named(names) {
        fs::copy(&p, dir.join(&n)).unwrap();
    }
}
