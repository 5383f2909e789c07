//! The runtime with real signals, pipes and processes: the spawner's
//! descriptor plan, working directory and signal reset (from the table that
//! installed the handlers), the reaper's owners, and waits that end on a
//! signal, a descriptor or a deadline.

use std::ffi::{CString, OsString};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use common::exec::Prepared;
use common::rt::{Disposition, Ended, FdAction, Reaper, Runtime};
use nix::poll::PollFlags;
use nix::sys::signal::{self, Signal};

/// Runs `sh -c SCRIPT` through the spawner with its stdout on a pipe placed
/// at `target`, in `cwd`; returns what it printed and how it ended.
fn spawn_sh(rt: &mut Runtime, script: &str, target: i32, cwd: Option<&str>) -> (String, Ended) {
    let argv = [
        OsString::from("/bin/sh"),
        OsString::from("-c"),
        OsString::from(script),
    ];
    let prog = Prepared::new(&argv, None);
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    // A source numbered like a target: the plan must not overwrite it.
    let plan = [FdAction(w.as_raw_fd(), target), FdAction(w.as_raw_fd(), 1)];
    let cwd = cwd.map(|c| CString::new(c).unwrap());
    let pid = rt.spawner().spawn(&prog, &plan, cwd.as_ref()).unwrap();
    drop(w);
    let mut out = String::new();
    std::fs::File::from(r).read_to_string(&mut out).unwrap();
    let mut reaper = Reaper::new();
    reaper.adopt(pid, "sh");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some((p, owner, ws)) = reaper.reap() {
            assert_eq!(p, pid);
            assert_eq!(owner, Some("sh"));
            return (out, ws);
        }
        assert!(Instant::now() < deadline, "child not reaped");
        rt.wait(&[], Some(Instant::now() + Duration::from_millis(100)));
    }
}

#[test]
fn spawned_children_get_the_plan_the_directory_and_default_signals() {
    let mut rt = Runtime::new(&[
        (Signal::SIGCHLD, Disposition::Catch),
        (Signal::SIGTERM, Disposition::Catch),
        (Signal::SIGHUP, Disposition::Ignore),
    ])
    .unwrap();
    // Block a signal in the parent: the child must start with an empty mask.
    let mut usr1 = signal::SigSet::empty();
    usr1.add(Signal::SIGUSR1);
    signal::sigprocmask(signal::SigmaskHow::SIG_BLOCK, Some(&usr1), None).unwrap();
    let (out, ws) = spawn_sh(
        &mut rt,
        "pwd; echo to-fd-5 >&5; grep -E '^Sig(Blk|Ign|Cgt):' /proc/self/status",
        5,
        Some("/tmp"),
    );
    assert_eq!(ws.code(), Some(0), "{ws:?}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "/tmp");
    assert_eq!(lines[1], "to-fd-5");
    let field = |name: &str| -> u64 {
        let l = lines.iter().find(|l| l.starts_with(name)).unwrap();
        u64::from_str_radix(l.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    let bit = |s: Signal| 1u64 << (s as i32 - 1);
    assert_eq!(field("SigBlk:"), 0, "the mask is empty");
    // Ignored in the parent (SIGHUP by the table, SIGPIPE by Rust), default
    // in the child; sh itself ignores nothing here.
    assert_eq!(
        field("SigIgn:") & (bit(Signal::SIGHUP) | bit(Signal::SIGPIPE)),
        0
    );
}

#[test]
fn a_program_that_cannot_run_is_reported_as_pathexec_would() {
    let rt = Runtime::new(&[(Signal::SIGCHLD, Disposition::Catch)]).unwrap();
    let missing = Prepared::new(&[OsString::from("/nonexistent/program")], None);
    assert_eq!(
        rt.spawner().spawn(&missing, &[], None),
        Err(nix::errno::Errno::ENOENT)
    );
    let dir = Prepared::new(&[OsString::from("/tmp")], None);
    assert_eq!(
        rt.spawner().spawn(&dir, &[], None),
        Err(nix::errno::Errno::EACCES)
    );
}

#[test]
fn a_plan_that_cannot_be_carried_out_is_an_error_not_a_start() {
    // A descriptor at or above the soft limit cannot be given: the spawn
    // fails with EBADF. nix's wrapper of adddup2 took that error (returned
    // as a number, not as -1) for success, and the program started
    // without the descriptor.
    let rt = Runtime::new(&[(Signal::SIGCHLD, Disposition::Catch)]).unwrap();
    let t = Prepared::new(&[OsString::from("/bin/true")], None);
    assert_eq!(
        rt.spawner().spawn(&t, &[FdAction(1, i32::MAX)], None),
        Err(nix::errno::Errno::EBADF)
    );
}

#[test]
fn a_wait_ends_on_a_signal_a_descriptor_or_its_deadline() {
    let mut rt = Runtime::new(&[(Signal::SIGUSR2, Disposition::Catch)]).unwrap();
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    // Deadline.
    // A signal caught by another test's runtime (SIGCHLD of a spawn) may
    // end a wait early and empty (EINTR, as documented): waiting again
    // with the same deadline ends at it.
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_millis(50);
    for _ in 0..100 {
        let wake = rt.wait(&[(r.as_fd(), PollFlags::POLLIN)], Some(deadline));
        assert!(!wake.ready(0) && !wake.signal);
        if Instant::now() >= deadline {
            break;
        }
    }
    assert!(t0.elapsed() >= Duration::from_millis(50));
    assert!(t0.elapsed() < Duration::from_secs(5));
    // Descriptor.
    nix::unistd::write(&w, b"x").unwrap();
    let wake = rt.wait(&[(r.as_fd(), PollFlags::POLLIN)], None);
    assert!(wake.ready(0));
    // Signal: flagged once, taken once. Sent to this thread: the test
    // harness runs other threads, which do not block it.
    signal::raise(Signal::SIGUSR2).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !rt.pending(Signal::SIGUSR2) {
        assert!(Instant::now() < deadline);
        rt.wait(&[], Some(deadline));
    }
    assert!(rt.take(Signal::SIGUSR2));
    assert!(!rt.take(Signal::SIGUSR2));
}
