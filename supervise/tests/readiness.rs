//! The extensions of supervise, svc and svstat (spec/extensions.md):
//! readiness, finish, down-signal, timeout-kill, the event fifodir, the
//! xstatus sidecar, `svc -w`, `svwait`, `svstat -o/-j`; and the C
//! originals reading what ours write.

mod util;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use util::*;

const SVWAIT: &str = env!("CARGO_BIN_EXE_svwait");

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Decodes a TAI64N label of the status or sidecar, independently of
/// common: seconds since 1970, and the label text.
fn tai(b: &[u8]) -> (i64, String) {
    let secs = u64::from_be_bytes(b[0..8].try_into().unwrap());
    let label: String = b.iter().map(|x| format!("{x:02x}")).collect();
    ((secs - 0x4000_0000_0000_000a) as i64, format!("@{label}"))
}

#[test]
fn a_service_ready_after_two_seconds() {
    let t = TempDir::new("rd-ready");
    script(
        t.join("a/run"),
        "sleep 2\necho ready >&3\nexec sleep 1000\n",
    );
    fs::write(t.join("a/notification-fd"), "3\n").unwrap();
    let s = Supervised::start(t.path(), "a");
    assert!(wait_until(5.0, || s.pid() != 0));
    let started = Instant::now();

    // Not ready within half a second: 99, after about that long.
    let o = run_within(5.0, SVWAIT, &["-U", "-t", "500", "a"], t.path(), None);
    assert_eq!(o, Out::new(99, "", ""));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(450), "{waited:?}");
    assert!(waited < Duration::from_millis(1900), "{waited:?}");
    assert_eq!(
        run(SVSTAT, &["-o", "up,ready", "a"], t.path()),
        Out::new(0, "true false\n", "")
    );

    // svc -wU returns once it is ready, not before and not much after.
    let o = run_within(10.0, SVC, &["-wU", "a"], t.path(), None);
    assert_eq!(o, Out::new(0, "", ""));
    let ready_at = started.elapsed();
    assert!(ready_at >= Duration::from_millis(1500), "{ready_at:?}");
    assert!(ready_at < Duration::from_millis(4000), "{ready_at:?}");

    let pid = s.pid();
    assert_eq!(
        run(SVSTAT, &["-o", "up,ready,pid", "a"], t.path()),
        Out::new(0, &format!("true true {pid}\n"), "")
    );
    // The JSON line, every value from the files decoded here; the ages
    // are taken around the run so that a second boundary cannot fail it.
    let json = |now: i64| {
        let st = fs::read(t.join("a/supervise/status")).unwrap();
        let x = fs::read(t.join("a/supervise/xstatus")).unwrap();
        assert_eq!(x.len(), 38);
        assert_eq!(u32::from_be_bytes(x[2..6].try_into().unwrap()), pid);
        let (since, since_label) = tai(&st[0..12]);
        let (ready, ready_label) = tai(&x[6..18]);
        format!(
            "{{\"dir\":\"a\",\"supervise\":true,\"up\":true,\"wantedup\":true,\
             \"normallyup\":true,\"ready\":true,\"paused\":false,\"pid\":{pid},\
             \"exitcode\":null,\"signal\":\"NA\",\"signum\":null,\
             \"updownsince\":\"{since_label}\",\"readysince\":\"{ready_label}\",\
             \"updownfor\":{},\"readyfor\":{},\"restarts\":0,\
             \"permanent_failure\":false}}\n",
            now - since,
            now - ready
        )
    };
    let before = json(now_unix());
    let o = run(SVSTAT, &["-j", "a"], t.path());
    let after = json(now_unix());
    assert!(o.stdout == before || o.stdout == after, "{o:?}\n{before}");
    // Plain svstat is the original's line.
    assert_eq!(s.shape(), "up (pid P) N seconds");
    // Waiting for what already holds returns at once.
    assert_eq!(
        run_within(5.0, SVWAIT, &["-U", "-t", "0", "a"], t.path(), None),
        Out::new(0, "", "")
    );
}

#[test]
fn a_service_that_never_notifies_is_never_ready() {
    let t = TempDir::new("rd-never");
    script(t.join("a/run"), "exec sleep 1000\n");
    script(t.join("b/run"), "exec sleep 1000\n");
    fs::write(t.join("a/notification-fd"), "3\n").unwrap();
    let a = Supervised::start(t.path(), "a");
    let b = Supervised::start(t.path(), "b");
    assert!(wait_until(5.0, || a.pid() != 0 && b.pid() != 0));
    for d in ["a", "b"] {
        let o = run_within(5.0, SVWAIT, &["-U", "-t", "300", d], t.path(), None);
        assert_eq!(o, Out::new(99, "", ""));
        assert_eq!(
            run(SVSTAT, &["-o", "up,ready,readysince,readyfor", d], t.path()),
            Out::new(0, "true false ? -1\n", "")
        );
        assert_eq!(
            run_within(5.0, SVWAIT, &["-u", "-t", "0", d], t.path(), None),
            Out::new(0, "", "")
        );
    }
}

#[test]
fn a_bad_setting_warns_once_per_value_however_often_the_service_restarts() {
    let t = TempDir::new("rd-warn-once");
    script(t.join("a/run"), "echo x >> starts\nexit 1\n");
    fs::write(t.join("a/notification-fd"), "abc\n").unwrap();
    let a = Supervised::start(t.path(), "a");
    let starts = || {
        fs::read_to_string(t.join("a/starts"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    let line = "supervise: warning: ignoring a/notification-fd: invalid value\n";
    assert!(wait_until(10.0, || starts() >= 3));
    assert_eq!(a.stderr_text(), line);
    // Another bad value warns again, once.
    fs::write(t.join("a/notification-fd"), "2\n").unwrap();
    let n = starts();
    assert!(wait_until(10.0, || starts() >= n + 2));
    assert_eq!(a.stderr_text(), line.repeat(2));
}

#[test]
fn finish_gets_the_exit_code_or_256_and_the_signal() {
    let t = TempDir::new("rd-finish");
    script(
        t.join("a/run"),
        "if [ -f second ]; then exec sleep 1000; fi\ntouch second\nexit 3\n",
    );
    script(t.join("a/finish"), "echo \"$@\" >> finish.log\n");
    let s = Supervised::start(t.path(), "a");
    assert!(wait_until(5.0, || fs::read_to_string(
        t.join("a/finish.log")
    )
    .is_ok_and(|l| l == "3 0\n")));
    assert!(wait_until(5.0, || s.pid() != 0));
    assert_eq!(
        run_within(5.0, SVC, &["-wD", "-T", "5000", "-k", "a"], t.path(), None),
        Out::new(0, "", "")
    );
    assert_eq!(
        fs::read_to_string(t.join("a/finish.log")).unwrap(),
        "3 0\n256 9\n"
    );
    // While down after a signal: the fields of the sidecar.
    s.svc("-d");
    assert!(wait_until(5.0, || {
        run(SVSTAT, &["-o", "up,exitcode,signal,signum", "a"], t.path()).stdout
            == "false -1 SIGKILL 9\n"
    }));
    assert!(run(SVSTAT, &["-j", "a"], t.path())
        .stdout
        .contains("\"restarts\":1,\"permanent_failure\":false}"));
}

#[test]
fn finish_past_timeout_finish_is_killed() {
    let t = TempDir::new("rd-finish-kill");
    script(t.join("a/run"), "exec sleep 1000\n");
    script(
        t.join("a/finish"),
        "echo $$ > finish.pid\nexec sleep 1000\n",
    );
    fs::write(t.join("a/timeout-finish"), "300\n").unwrap();
    let s = Supervised::start(t.path(), "a");
    assert!(wait_until(5.0, || s.pid() != 0));
    let begin = Instant::now();
    assert_eq!(
        run_within(5.0, SVC, &["-wD", "-d", "a"], t.path(), None),
        Out::new(0, "", "")
    );
    let took = begin.elapsed();
    assert!(took >= Duration::from_millis(250), "{took:?}");
    let pid: u32 = fs::read_to_string(t.join("a/finish.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(wait_until(5.0, || !Path::new(&format!("/proc/{pid}"))
        .exists()
        || fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.contains(") Z "))));
    assert!(s.stderr_text().is_empty(), "{}", s.stderr_text());
}

#[test]
fn a_finish_that_cannot_be_started_is_skipped_with_a_warning() {
    let t = TempDir::new("rd-finish-noexec");
    script(t.join("a/run"), "exec sleep 1000\n");
    fs::write(t.join("a/finish"), "touch ran\n").unwrap();
    let s = Supervised::start(t.path(), "a");
    assert!(wait_until(5.0, || s.pid() != 0));
    // Not executable: one warning, and D comes at once, as without one.
    assert_eq!(
        run_within(5.0, SVC, &["-wD", "-T", "3000", "-d", "a"], t.path(), None),
        Out::new(0, "", "")
    );
    assert_eq!(
        s.stderr_text(),
        "supervise: warning: unable to start a/finish: access denied\n"
    );
    assert!(!t.join("a/ran").exists());
    // The service starts again as usual.
    assert_eq!(
        run_within(5.0, SVC, &["-wu", "-T", "3000", "-u", "a"], t.path(), None),
        Out::new(0, "", "")
    );
    assert_eq!(s.shape(), "up (pid P) N seconds");
}

#[test]
fn finish_exit_125_leaves_the_service_down_and_emits_o() {
    let t = TempDir::new("rd-125");
    script(t.join("a/run"), "exit 1\n");
    script(t.join("a/finish"), "exit 125\n");
    fs::write(t.join("a/down"), "").unwrap();
    let s = Supervised::start(t.path(), "a");
    // Waiting for ready: it comes up (u), but never ready, and finish says
    // never again (O): the waiter counts one failure.
    let mut waiter = spawn(SVWAIT, &["-U", "a"], t.path());
    assert!(wait_until(5.0, || fs::read_dir(
        t.join("a/supervise/event")
    )
    .unwrap()
    .count()
        == 1));
    assert_eq!(s.svc("-u"), Out::new(0, "", ""));
    assert_eq!(exit_within(&mut waiter, 5.0), Some(1));
    assert!(wait_until(5.0, || s.shape() == "down N seconds"));
    let j = run(SVSTAT, &["-j", "a"], t.path()).stdout;
    assert!(j.contains("\"wantedup\":false"), "{j}");
    assert!(j.contains("\"exitcode\":1,"), "{j}");
    assert!(j.ends_with("\"permanent_failure\":true}\n"), "{j}");
    // No restart follows.
    let until = Instant::now() + Duration::from_millis(1300);
    while Instant::now() < until {
        assert_eq!(s.pid(), 0);
        std::thread::sleep(Duration::from_millis(50));
    }
    // The waiter's FIFO is gone with it.
    assert_eq!(
        fs::read_dir(t.join("a/supervise/event")).unwrap().count(),
        0
    );
}

/// `down-signal` QUIT, and a real-time one (`SIGRTMIN+3`, which stops
/// systemd): `svc -d` sends it, and the service that traps it ends.
#[test]
fn down_signal_quit_reaches_the_service() {
    let rt = (nix::libc::SIGRTMIN() + 3).to_string();
    for (given, trapped) in [("QUIT", "QUIT"), ("SIGRTMIN+3", rt.as_str())] {
        let t = TempDir::new("rd-downsig");
        script(
            t.join("a/run"),
            &format!(
                "trap 'echo {trapped} > got; kill -9 $!; exit 0' {trapped}\n\
                 trap '' TERM\nsleep 1000 &\nwait\n"
            ),
        );
        fs::write(t.join("a/down-signal"), format!("{given}\n")).unwrap();
        let s = Supervised::start(t.path(), "a");
        assert!(wait_until(5.0, || s.pid() != 0));
        // Give the shell time to set its traps: wait for its sleep child.
        assert!(wait_until(5.0, || !pids_of(
            &["sleep", "1000"],
            &t.join("a")
        )
        .is_empty()));
        assert_eq!(
            run_within(5.0, SVC, &["-wd", "-T", "4000", "-d", "a"], t.path(), None),
            Out::new(0, "", ""),
            "{given}"
        );
        assert_eq!(
            fs::read_to_string(t.join("a/got")).unwrap(),
            format!("{trapped}\n")
        );
        assert_eq!(
            run(SVSTAT, &["-o", "up,exitcode", "a"], t.path()),
            Out::new(0, "false 0\n", "")
        );
    }
}

/// `./run` killed by a real-time signal: its end is seen (nix's wait
/// status cannot hold such a signal, and supervise showed the service up
/// forever): `./finish` gets `256 SIG`, `./run` starts again, as under the
/// C supervise.
#[test]
fn a_run_killed_by_a_real_time_signal_is_seen_to_end() {
    let t = TempDir::new("rd-rt-killed");
    script(t.join("a/run"), "exec sleep 1000\n");
    script(t.join("a/finish"), "echo \"$1 $2\" >> finished\n");
    let s = Supervised::start(t.path(), "a");
    assert!(wait_until(5.0, || s.pid() != 0));
    let first = s.pid();
    let sig = nix::libc::SIGRTMIN();
    assert!(std::process::Command::new("kill")
        .args([format!("-{sig}"), first.to_string()])
        .status()
        .unwrap()
        .success());
    assert!(wait_until(10.0, || s.pid() != 0 && s.pid() != first));
    assert_eq!(
        fs::read_to_string(t.join("a/finished")).unwrap(),
        format!("256 {sig}\n")
    );
    assert_eq!(
        run(SVSTAT, &["-o", "up,pid", "a"], t.path()),
        Out::new(0, &format!("true {}\n", s.pid()), "")
    );
    // Brought down by one (down-signal): svstat names it as down-signal
    // takes it.
    fs::write(t.join("a/down-signal"), "RTMIN+3\n").unwrap();
    assert_eq!(
        run_within(5.0, SVC, &["-wd", "-T", "4000", "-d", "a"], t.path(), None),
        Out::new(0, "", "")
    );
    assert_eq!(
        run(SVSTAT, &["-o", "up,signal,signum", "a"], t.path()),
        Out::new(0, &format!("false SIGRTMIN+3 {}\n", sig + 3), "")
    );
}

#[test]
fn timeout_kill_kills_a_service_that_ignores_term() {
    let t = TempDir::new("rd-killafter");
    script(t.join("a/run"), "trap '' TERM\nexec sleep 1000\n");
    let s = Supervised::start(t.path(), "a");
    assert!(wait_until(5.0, || s.pid() != 0));
    // Without timeout-kill, TERM is ignored: the wait times out.
    assert_eq!(
        run_within(5.0, SVC, &["-wd", "-T", "400", "-d", "a"], t.path(), None),
        Out::new(99, "", "")
    );
    assert_ne!(s.pid(), 0);
    s.svc("-u");
    fs::write(t.join("a/timeout-kill"), "300").unwrap();
    let begin = Instant::now();
    assert_eq!(
        run_within(5.0, SVC, &["-wd", "-T", "4000", "-d", "a"], t.path(), None),
        Out::new(0, "", "")
    );
    assert!(begin.elapsed() >= Duration::from_millis(250));
    assert_eq!(
        run(SVSTAT, &["-o", "up,signal", "a"], t.path()),
        Out::new(0, "false SIGKILL\n", "")
    );
}

#[test]
fn svc_wd_waits_for_a_slow_exit() {
    let t = TempDir::new("rd-slow");
    script(
        t.join("a/run"),
        "trap 'kill $!; sleep 1; exit 0' TERM\nsleep 1000 &\nwait\n",
    );
    let s = Supervised::start(t.path(), "a");
    // Up in the status first: on a loaded machine ./run can reach its sleep
    // before supervise writes that, and `-wd` would take the down it still
    // reads for reached at once.
    assert!(wait_until(5.0, || s.pid() != 0));
    assert!(wait_until(5.0, || !pids_of(
        &["sleep", "1000"],
        &t.join("a")
    )
    .is_empty()));
    let begin = Instant::now();
    assert_eq!(
        run_within(10.0, SVC, &["-wd", "-d", "a"], t.path(), None),
        Out::new(0, "", "")
    );
    assert!(begin.elapsed() >= Duration::from_millis(900));
    // Down by the time svc returns.
    assert_eq!(s.pid(), 0);
    // -wr: a restart is a new pid.
    s.svc("-u");
    assert!(wait_until(5.0, || s.pid() != 0));
    let old = s.pid();
    assert!(wait_until(5.0, || !pids_of(
        &["sleep", "1000"],
        &t.join("a")
    )
    .is_empty()));
    assert_eq!(
        run_within(10.0, SVC, &["-wr", "-t", "a"], t.path(), None),
        Out::new(0, "", "")
    );
    assert!(s.pid() != 0 && s.pid() != old);
}

#[test]
fn svwait_one_or_all_of_three() {
    let t = TempDir::new("rd-three");
    let mut sv = Vec::new();
    for d in ["a", "b", "c"] {
        script(t.join(d).join("run"), "exec sleep 1000\n");
        fs::write(t.join(d).join("down"), "").unwrap();
        sv.push(Supervised::start(t.path(), d));
    }
    let subscribed = |n: usize| {
        wait_until(5.0, || {
            ["a", "b", "c"].iter().all(|d| {
                fs::read_dir(t.join(d).join("supervise/event"))
                    .unwrap()
                    .count()
                    == n
            })
        })
    };
    let mut one = spawn(SVWAIT, &["-o", "-u", "a", "b", "c"], t.path());
    let mut all = spawn(SVWAIT, &["-u", "a", "b", "c"], t.path());
    assert!(subscribed(2));
    assert_eq!(sv[1].svc("-u"), Out::new(0, "", ""));
    assert_eq!(exit_within(&mut one, 5.0), Some(0));
    assert_eq!(all.try_wait().unwrap(), None);
    sv[0].svc("-u");
    sv[2].svc("-u");
    assert_eq!(exit_within(&mut all, 5.0), Some(0));
    // No directory: nothing to wait for.
    assert_eq!(
        run_within(5.0, SVWAIT, &["-d"], t.path(), None),
        Out::new(0, "", "")
    );
}

#[test]
fn a_waiter_whose_supervise_is_killed_gets_102() {
    let t = TempDir::new("rd-gone");
    script(t.join("a/run"), "exec sleep 1000\n");
    let mut s = Supervised::start(t.path(), "a");
    assert!(wait_until(5.0, || s.pid() != 0));
    let mut waiter = spawn(SVWAIT, &["-d", "a"], t.path());
    assert!(wait_until(5.0, || fs::read_dir(
        t.join("a/supervise/event")
    )
    .unwrap()
    .count()
        == 1));
    let run_pid = s.pid();
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    assert_eq!(exit_within(&mut waiter, 5.0), Some(102));
    kill("-9", run_pid);
    // And one that finds no supervise at all.
    assert_eq!(
        run_within(5.0, SVWAIT, &["-u", "a"], t.path(), None),
        Out::new(
            102,
            "",
            "svwait: warning: unable to watch a: supervise not running\n"
        )
    );
    // svc -w: every directory without a running supervise (its supervise
    // gone, no supervise directory, no directory at all) gets svc's
    // warning and counts as gone: 102.
    fs::create_dir(t.join("b")).unwrap();
    for (dir, warning) in [
        ("a", "unable to control a: supervise not running"),
        ("b", "unable to control b: file does not exist"),
        (
            "nonexistent",
            "unable to chdir to nonexistent: file does not exist",
        ),
    ] {
        assert_eq!(
            run_within(5.0, SVC, &["-wu", "-T", "3000", "-u", dir], t.path(), None),
            Out::new(102, "", &format!("svc: warning: {warning}\n")),
            "{dir}"
        );
    }
    // A directory that is not there (or not a directory) is an error, as
    // for svok: 111.
    fs::write(t.join("file"), "").unwrap();
    for (dir, reason) in [
        ("nonexistent", "file does not exist"),
        ("file", "not a directory"),
    ] {
        assert_eq!(
            run_within(5.0, SVWAIT, &["-u", "a", dir], t.path(), None),
            Out::new(
                111,
                "",
                &format!("svwait: fatal: unable to chdir to {dir}: {reason}\n")
            )
        );
    }
}

#[test]
fn svc_q_1_2_send_quit_usr1_usr2() {
    let t = TempDir::new("rd-qusr");
    script(
        t.join("a/run"),
        "trap 'echo USR1 >> got' USR1\ntrap 'echo USR2 >> got' USR2\n\
         trap 'echo QUIT >> got' QUIT\necho > trapped\n\
         while :; do sleep 0.05; done\n",
    );
    let s = Supervised::start(t.path(), "a");
    assert!(wait_until(5.0, || t.join("a/trapped").exists()));
    for (opt, line) in [
        ("-1", "USR1\n"),
        ("-2", "USR1\nUSR2\n"),
        ("-q", "USR1\nUSR2\nQUIT\n"),
    ] {
        assert_eq!(s.svc(opt), Out::new(0, "", ""));
        assert!(wait_until(5.0, || fs::read_to_string(t.join("a/got"))
            .is_ok_and(|g| g == line)));
    }
}

#[test]
fn usage_lines_of_the_new_options() {
    let t = TempDir::new("rd-usage");
    let svc_usage = "svc options: u up, d down, o once, x exit, p pause, c continue, h hup, a alarm, i interrupt, t term, k kill\n";
    for args in [&["-wz", "a"][..], &["-wu", "-Tx", "a"]] {
        let o = run(SVC, args, t.path());
        assert_eq!((o.code, o.stderr.as_str()), (100, svc_usage), "{args:?}");
    }
    assert_eq!(
        run(SVC, &["-w"], t.path()),
        Out::new(
            100,
            "",
            &format!("svc: option requires an argument -- w\n{svc_usage}")
        )
    );
    let svwait_usage = "svwait: usage: svwait [ -u | -U | -d | -D | -r | -R ] [ -a | -o ] [ -t timeout ] dir ...\n";
    assert_eq!(
        run(SVWAIT, &["-t", "soon", "a"], t.path()),
        Out::new(100, "", svwait_usage)
    );
    assert_eq!(
        run(SVWAIT, &["-x", "a"], t.path()),
        Out::new(
            100,
            "",
            &format!("svwait: illegal option -- x\n{svwait_usage}")
        )
    );
    assert_eq!(
        run(SVWAIT, &["-t"], t.path()),
        Out::new(
            100,
            "",
            &format!("svwait: option requires an argument -- t\n{svwait_usage}")
        )
    );
    assert_eq!(
        run(SVSTAT, &["-o", "up,nope", "a"], t.path()),
        Out::new(
            100,
            "",
            "svstat: usage: svstat [ -o field,... | -j ] dir ...\n"
        )
    );
    // -o on a directory without supervise: a warning, exit 1; -j says so.
    fs::create_dir(t.join("a")).unwrap();
    assert_eq!(
        run(SVSTAT, &["-o", "up", "a"], t.path()),
        Out::new(
            1,
            "",
            "svstat: warning: a: unable to open supervise/ok: file does not exist\n"
        )
    );
    let j = run(SVSTAT, &["-j", "a"], t.path());
    assert_eq!(j.code, 1);
    assert!(j
        .stdout
        .starts_with("{\"dir\":\"a\",\"supervise\":false,\"up\":null,"));
    assert!(j
        .stdout
        .ends_with("\"error\":\"unable to open supervise/ok: file does not exist\"}\n"));
}

#[test]
fn svwait_and_svc_w_work_against_the_c_supervise() {
    // In a fresh directory, and in one that our supervise ran in before:
    // its event fifodir and sidecar are left over, and the C supervise
    // never writes to them.
    for leftover in [false, true] {
        let t = TempDir::new("rd-csup");
        let c_supervise = reference_bin("supervise");
        script(t.join("a/run"), "exec sleep 1000\n");
        fs::write(t.join("a/notification-fd"), "3\n").unwrap();
        if leftover {
            let mut ours = spawn_supervise(SUPERVISE, "a", t.path());
            assert!(wait_until(5.0, || run(SVOK, &["a"], t.path()).code == 0));
            run(SVC, &["-dx", "a"], t.path());
            assert!(exit_within(&mut ours, 5.0).is_some());
            assert!(t.join("a/supervise/event").is_dir());
            assert!(t.join("a/supervise/xstatus").is_file());
        }
        let mut c = spawn_supervise(&c_supervise, "a", t.path());
        assert!(wait_until(5.0, || run(SVOK, &["a"], t.path()).code == 0));
        assert_eq!(
            run_within(5.0, SVWAIT, &["-u", "-t", "3000", "a"], t.path(), None),
            Out::new(0, "", "")
        );
        // No sidecar of this pid: what it cannot tell is unknown; the C
        // supervise has no readiness, so -U times out.
        assert_eq!(
            run(SVSTAT, &["-o", "up,ready,exitcode,signal", "a"], t.path()),
            Out::new(0, "true ? -1 ?\n", "")
        );
        assert_eq!(
            run_within(5.0, SVWAIT, &["-U", "-t", "200", "a"], t.path(), None),
            Out::new(99, "", "")
        );
        // Waiting on the status file's renames.
        for (wait, cmd) in [("-wd", "-d"), ("-wD", "-d"), ("-wu", "-u"), ("-wr", "-t")] {
            assert_eq!(
                run_within(5.0, SVC, &[wait, "-T", "3000", cmd, "a"], t.path(), None),
                Out::new(0, "", ""),
                "svc {wait} {cmd}, leftover: {leftover}"
            );
        }
        run(SVC, &["-dx", "a"], t.path());
        assert!(exit_within(&mut c, 5.0).is_some());
    }
}

#[test]
fn a_record_that_cannot_be_replaced_warns_as_the_original_for_status_and_alike_for_xstatus() {
    // `a`: status.new and xstatus.new are directories (the open fails);
    // `b`: status and xstatus are (the rename fails). The C supervise
    // warns for status; ours the same lines, and alike for the sidecar.
    let warnings = |bin: &Path| {
        let t = TempDir::new("rd-unwritten");
        let mut lines = Vec::new();
        for (dir, blocked) in [
            ("a", ["status.new", "xstatus.new"]),
            ("b", ["status", "xstatus"]),
        ] {
            script(t.join(dir).join("run"), "exec sleep 1000\n");
            fs::write(t.join(dir).join("notification-fd"), "3\n").unwrap();
            for name in blocked {
                fs::create_dir_all(t.join(dir).join("supervise").join(name).join("x")).unwrap();
            }
            let log = t.join(format!("{dir}.stderr"));
            let mut s = spawn_supervise_logged(bin, dir, t.path(), &log);
            assert!(wait_until(5.0, || run(SVOK, &[dir], t.path()).code == 0));
            let warned =
                |n: usize| fs::read_to_string(&log).unwrap_or_default().lines().count() >= n;
            assert!(wait_until(5.0, || warned(1)));
            run(SVC, &["-dx", dir], t.path());
            assert!(exit_within(&mut s.child, 5.0).is_some());
            let mut distinct: Vec<String> = fs::read_to_string(&log)
                .unwrap()
                .lines()
                .map(String::from)
                .collect();
            distinct.sort();
            distinct.dedup();
            lines.extend(distinct);
        }
        lines
    };
    let status = [
        "supervise: warning: unable to open a/supervise/status.new: is a directory",
        "supervise: warning: unable to rename b/supervise/status.new to status: is a directory",
    ];
    assert_eq!(warnings(&reference_bin("supervise")), status);
    assert_eq!(
        warnings(Path::new(SUPERVISE)),
        [
            status[0],
            "supervise: warning: unable to open a/supervise/xstatus.new: is a directory",
            status[1],
            "supervise: warning: unable to rename b/supervise/xstatus.new to xstatus: is a directory",
        ]
    );
}

#[test]
fn the_c_svstat_and_svok_read_our_supervise() {
    let t = TempDir::new("rd-cread");
    script(t.join("a/run"), "exec sleep 1000\n");
    script(t.join("b/run"), "exec sleep 1000\n");
    fs::write(t.join("b/down"), "").unwrap();
    // With every extension file in use: the originals' readers see what
    // they always saw.
    fs::write(t.join("a/notification-fd"), "3\n").unwrap();
    script(t.join("a/finish"), "exit 0\n");
    fs::write(t.join("a/down-signal"), "TERM\n").unwrap();
    let a = Supervised::start(t.path(), "a");
    let b = Supervised::start(t.path(), "b");
    assert!(wait_until(5.0, || a.pid() != 0));
    let c_svstat = reference_bin("svstat");
    let c_svok = reference_bin("svok");
    let c_svc = reference_bin("svc");
    let c_line = |d: &str| {
        let o = run(c_svstat.to_str().unwrap(), &[d], t.path());
        assert_eq!(o.code, 0);
        o.stdout
    };
    // Lines compared once both agree on the second (a boundary may fall
    // between the two runs).
    let same = |d: &str| {
        wait_until(5.0, || {
            let ours = run(SVSTAT, &[d], t.path()).stdout;
            ours == c_line(d)
        })
    };
    assert!(same("a"), "{}", c_line("a"));
    assert!(same("b"), "{}", c_line("b"));
    assert_eq!(run(c_svok.to_str().unwrap(), &["a"], t.path()).code, 0);
    // The C svc's bytes drive our supervise.
    assert_eq!(run(c_svc.to_str().unwrap(), &["-d", "a"], t.path()).code, 0);
    assert!(wait_until(5.0, || a.shape() == "down N seconds, normally up"));
    assert!(same("a"));
    assert_eq!(b.shape(), "down N seconds");
}

#[test]
fn svwait_d_does_not_take_a_down_status_beside_the_old_sidecar_for_finished() {
    // supervise writes the status, then the sidecar. A waiter that reads
    // between the two, as the service goes down, sees the new status (down)
    // beside the sidecar of the run that just exited, which cannot say
    // whether `finish` is starting: that is not "down and finished". (A CI
    // run under load had `svc -wD -d` return before `finish` ran.) Here the
    // supervise directory is made by hand and held in each state.
    use common::status::Status;
    use common::tai::Tai64n;
    use common::xstatus::XStatus;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let t = TempDir::new("rd-pair");
    let sup = t.join("a/supervise");
    fs::create_dir_all(sup.join("event")).unwrap();
    fs::set_permissions(sup.join("event"), fs::Permissions::from_mode(0o1733)).unwrap();
    let _ok = fifo_with_reader(&sup.join("ok"));
    let down = Status {
        stamp: Tai64n::now(),
        pid: 0,
        paused: false,
        want: b'd',
    };
    fs::write(sup.join("status"), down.encode()).unwrap();
    let sidecar = |pid, finishing| {
        let x = XStatus {
            pid,
            finishing,
            ..XStatus::default()
        };
        fs::write(sup.join("xstatus"), x.encode()).unwrap();
    };
    let svwait = |ms: &str| run_within(5.0, SVWAIT, &["-D", "-t", ms, "a"], t.path(), None);
    // The old sidecar: not known yet, so the wait goes on (here to its
    // timeout: nothing publishes).
    sidecar(4242, false);
    assert_eq!(svwait("300"), Out::new(99, "", ""));
    // The new one, `finish` running: not yet.
    sidecar(0, true);
    assert_eq!(svwait("300"), Out::new(99, "", ""));
    // The new one, no `finish`: reached at once.
    sidecar(0, false);
    assert_eq!(svwait("300"), Out::new(0, "", ""));
    // From the old sidecar, a waiter is answered by the event byte.
    sidecar(4242, false);
    let mut w = std::process::Command::new(SVWAIT)
        .args(["-D", "-t", "10000", "a"])
        .current_dir(t.path())
        .spawn()
        .unwrap();
    let fifos = || fs::read_dir(sup.join("event")).unwrap().count();
    assert!(wait_until(5.0, || fifos() == 1));
    // The new sidecar goes in by a hard link, which the waiter's inotify
    // watch (renames and writes in supervise/) does not see: only the
    // event byte wakes it, and it is still there to read it.
    let next = XStatus {
        pid: 0,
        finishing: false,
        ..XStatus::default()
    };
    fs::write(t.join("xstatus.next"), next.encode()).unwrap();
    fs::remove_file(sup.join("xstatus")).unwrap();
    fs::hard_link(t.join("xstatus.next"), sup.join("xstatus")).unwrap();
    for e in fs::read_dir(sup.join("event")).unwrap().flatten() {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(e.path())
            .unwrap();
        std::io::Write::write_all(&mut f, b"dD").unwrap();
    }
    assert_eq!(exit_within(&mut w, 5.0), Some(0));
}

#[test]
fn a_waiter_out_of_inotify_instances_still_waits_on_the_events() {
    // The renames in supervise/ are watched through inotify, a second
    // source beside our supervise's event fifodir. A user may run out of
    // inotify instances (128 by default): the wait goes on with the events
    // alone. Without a fifodir (a C supervise) it cannot, and says so. The
    // limit is set to 0 in a user namespace of the waiter's own (root
    // mapped to root, so the supervise directory is still its owner's).
    let t = TempDir::new("rd-noinotify");
    script(t.join("a/run"), "exec sleep 1000\n");
    let limited = |cmd: &str| {
        let sh = format!("echo 0 > /proc/sys/user/max_inotify_instances && exec {cmd}");
        run("unshare", &["-U", "-r", "sh", "-c", &sh], t.path())
    };
    for bin in [SUPERVISE.into(), reference_bin("supervise")] {
        let ours = bin.as_os_str() == SUPERVISE;
        let mut c = spawn_supervise(&bin, "a", t.path());
        assert!(wait_until(5.0, || run(SVOK, &["a"], t.path()).code == 0));
        assert_eq!(
            run_within(5.0, SVWAIT, &["-u", "-t", "3000", "a"], t.path(), None),
            Out::new(0, "", "")
        );
        if ours {
            assert_eq!(
                limited(&format!("{SVC} -wd -T 3000 -d a")),
                Out::new(0, "", "")
            );
            assert_eq!(
                limited(&format!("{SVC} -wu -T 3000 -u a")),
                Out::new(0, "", "")
            );
        } else {
            // A fresh directory each time: no fifodir left by ours.
            assert!(!t.join("a/supervise/event").exists());
            assert_eq!(
                limited(&format!("{SVWAIT} -u -t 3000 a")),
                Out::new(
                    111,
                    "",
                    "svwait: fatal: unable to watch supervise for a: process cannot open more files\n"
                )
            );
        }
        run(SVC, &["-dx", "a"], t.path());
        assert!(exit_within(&mut c, 5.0).is_some());
        fs::remove_dir_all(t.join("a/supervise")).unwrap();
    }
}

#[test]
fn a_waiter_short_of_descriptors_says_so_and_never_waits_in_vain() {
    // Under any descriptor limit, svc -w and svwait either reach the state,
    // or fail (111) with a line that says what they could not open. They
    // used to subscribe, then find the status file unreadable (no
    // descriptor left for it) and wait for an event that an up service
    // never sends: to the timeout, or for ever without one. svc -w that
    // cannot watch every directory sends nothing (the services stay up);
    // one that watches all but cannot tell one makes no wait.
    let t = TempDir::new("rd-nofile");
    script(t.join("a/run"), "exec sleep 1000\n");
    script(t.join("b/run"), "exec sleep 1000\n");
    let _a = Supervised::start(t.path(), "a");
    let _b = Supervised::start(t.path(), "b");
    let up = |d: &str| wait_until(5.0, || svstat(t.path(), d).starts_with("up (pid "));
    assert!(up("a") && up("b"));
    let (mut reached, mut sent_nothing) = (0, 0);
    for n in 4..=14 {
        for cmd in [
            format!("{SVC} -wu -T 3000 a"),
            format!("{SVWAIT} -u -t 3000 a"),
            format!("{SVC} -wd -T 3000 -d a b"),
        ] {
            let sh = format!("ulimit -n {n} && exec {cmd}");
            let o = run("sh", &["-c", &sh], t.path());
            if o.code == 0 {
                reached += 1;
                assert_eq!(o.stderr, "", "limit {n}: {cmd}");
            } else {
                assert!(
                    o.code == 111 && o.stderr.ends_with(": process cannot open more files\n"),
                    "limit {n}: {cmd}: {o:?}"
                );
                if o.stderr.contains(": fatal: ") {
                    sent_nothing += 1;
                    for d in ["a", "b"] {
                        assert!(
                            !svstat(t.path(), d).contains("want down"),
                            "limit {n}: {cmd}"
                        );
                    }
                }
            }
            // Whatever the outcome, the waiter's FIFOs went with it.
            for d in ["a", "b"] {
                let left = fs::read_dir(t.join(d).join("supervise/event"))
                    .unwrap()
                    .count();
                assert_eq!(left, 0, "limit {n}: {cmd}: {d}");
            }
            run(SVC, &["-u", "a", "b"], t.path());
            assert!(up("a") && up("b"));
        }
    }
    assert!(
        reached >= 3 && sent_nothing >= 3,
        "{reached} {sent_nothing}"
    );
}

#[test]
fn a_waiter_raises_its_soft_descriptor_limit_for_many_services() {
    // A watch holds three descriptors. At a soft limit of 1024 (the usual
    // default, under a hard limit of thousands) svc -w and svwait used to
    // fail at about 340 services: `unable to subscribe to supervise/event
    // for ...: process cannot open more files`. They raise the soft limit
    // within the hard one as the number of directories needs. Here 30
    // directories under a soft limit of 40: each looks like a supervise
    // with its service up (its FIFOs held open by this test).
    use common::status::Status;
    use common::tai::Tai64n;
    use std::os::unix::fs::PermissionsExt;
    let t = TempDir::new("rd-manyfds");
    let mut held = Vec::new();
    let dirs: Vec<String> = (0..30).map(|i| format!("s{i}")).collect();
    for d in &dirs {
        let sup = t.join(d).join("supervise");
        fs::create_dir_all(sup.join("event")).unwrap();
        fs::set_permissions(sup.join("event"), fs::Permissions::from_mode(0o1733)).unwrap();
        held.push(fifo_with_reader(&sup.join("ok")));
        held.push(fifo_with_reader(&sup.join("control")));
        let up = Status {
            stamp: Tai64n::now(),
            pid: std::process::id(),
            paused: false,
            want: b'u',
        };
        fs::write(sup.join("status"), up.encode()).unwrap();
    }
    let list = dirs.join(" ");
    for cmd in [
        format!("{SVWAIT} -u -t 3000 {list}"),
        format!("{SVC} -wu -T 3000 -u {list}"),
    ] {
        // Soft 40, hard what it was (at least 1024 on any test machine).
        let sh = format!("ulimit -Sn 40 && exec {cmd}");
        assert_eq!(
            run_within(10.0, "sh", &["-c", &sh], t.path(), None),
            Out::new(0, "", ""),
            "{cmd}"
        );
        for d in &dirs {
            let left = fs::read_dir(t.join(d).join("supervise/event"))
                .unwrap()
                .count();
            assert_eq!(left, 0, "{cmd}: {d}");
        }
    }
    // svc told every one of them.
    for (i, d) in dirs.iter().enumerate() {
        let mut b = [0u8; 8];
        let n = std::io::Read::read(&mut &held[2 * i + 1], &mut b).unwrap();
        assert_eq!(&b[..n], b"u", "{d}");
    }
}

#[test]
fn a_waiter_ended_by_int_term_or_hup_removes_its_fifo_first() {
    // Ctrl-C, `timeout` or a hang-up used to end svwait and svc -w at
    // once, leaving their FIFOs in supervise/event/ until the service's
    // next event. They are removed first now, and the waiter still dies of
    // the signal (a shell sees 128 plus its number). One started with the
    // signal ignored (a background job of a script) keeps it ignored.
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    use std::os::unix::process::ExitStatusExt;
    let t = TempDir::new("rd-ended");
    script(t.join("a/run"), "exec sleep 1000\n");
    fs::write(t.join("a/down"), "").unwrap();
    let _s = Supervised::start(t.path(), "a");
    let event = t.join("a/supervise/event");
    let fifos = || fs::read_dir(&event).unwrap().count();
    let ended_by = |c: &mut std::process::Child| {
        let mut st = None;
        wait_until(5.0, || {
            st = c.try_wait().unwrap();
            st.is_some()
        });
        st.map(|s| (s.signal(), s.code()))
    };
    for (sig, bin, args) in [
        (Signal::SIGINT, SVWAIT, &["-u", "a"][..]),
        (Signal::SIGTERM, SVC, &["-wu", "-T", "60000", "a"][..]),
        (Signal::SIGHUP, SVWAIT, &["-U", "-t", "60000", "a"][..]),
    ] {
        let mut c = spawn(bin, args, t.path());
        assert!(wait_until(5.0, || fifos() == 1), "{sig} {args:?}");
        kill(Pid::from_raw(c.id() as i32), sig).unwrap();
        assert_eq!(ended_by(&mut c), Some((Some(sig as i32), None)), "{args:?}");
        assert_eq!(fifos(), 0, "{sig} {args:?}");
    }
    let sh = format!("trap '' INT; exec {SVWAIT} -u a");
    let mut c = spawn("sh", &["-c", &sh], t.path());
    assert!(wait_until(5.0, || fifos() == 1));
    kill(Pid::from_raw(c.id() as i32), Signal::SIGINT).unwrap();
    assert!(!wait_until(0.5, || c.try_wait().unwrap().is_some()));
    kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM).unwrap();
    assert_eq!(ended_by(&mut c), Some((Some(Signal::SIGTERM as i32), None)));
    assert_eq!(fifos(), 0);
}

#[test]
fn a_notification_fd_past_the_descriptor_limit_is_ignored_with_a_warning() {
    // ./run inherits supervise's soft limit on descriptors, and none can be
    // given at or above it. Such a notification-fd is ignored with the
    // warning for an invalid value, and the service starts without
    // readiness. It used to start without the descriptor and without a
    // word: the spawn's adddup2 failed (EBADF), and nix read the error
    // number it returns as success.
    let t = TempDir::new("rd-nfdlimit");
    script(
        t.join("a/run"),
        "n=$(cat notification-fd)\n[ -e /proc/$$/fd/$n ] && echo ready > /proc/$$/fd/$n\n\
         exec sleep 1000\n",
    );
    let limited = t.join("limited");
    script(
        &limited,
        &format!("ulimit -Sn 64 && exec {SUPERVISE} \"$@\"\n"),
    );
    let err = t.join("a.stderr");
    let ready = || run(SVSTAT, &["-o", "ready", "a"], t.path()).stdout;
    for fd in [63, 64] {
        fs::write(t.join("a/notification-fd"), format!("{fd}\n")).unwrap();
        let mut c = spawn_supervise_logged(&limited, "a", t.path(), &err);
        assert!(wait_until(5.0, || svstat(t.path(), "a").starts_with("up ")));
        if fd == 63 {
            assert!(wait_until(5.0, || ready() == "true\n"));
            assert_eq!(fs::read_to_string(&err).unwrap(), "");
        } else {
            assert!(!wait_until(1.0, || ready() == "true\n"));
            assert_eq!(
                fs::read_to_string(&err).unwrap(),
                "supervise: warning: ignoring a/notification-fd: invalid value\n"
            );
        }
        run(SVC, &["-dx", "a"], t.path());
        assert!(exit_within(&mut c, 5.0).is_some());
    }
}

#[test]
fn a_waiter_given_a_fifo_for_the_status_file_waits_to_its_timeout() {
    // A FIFO where `supervise/status` should be is read without blocking
    // (nothing in it), also where the waiter looks at why it could not
    // read it: the wait ends at its deadline, it does not hang in open.
    let t = TempDir::new("rd-fifostatus");
    let sup = t.join("a/supervise");
    fs::create_dir_all(&sup).unwrap();
    nix::unistd::mkfifo(
        &sup.join("status"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let _ok = fifo_with_reader(&sup.join("ok"));
    assert_eq!(
        run_within(5.0, SVWAIT, &["-u", "-t", "300", "a"], t.path(), None),
        Out::new(99, "", "")
    );
}

/// One field of `svstat -j`'s object, as text (`true`, `null`, `12`, ...).
fn json_value<'a>(j: &'a str, name: &str) -> &'a str {
    let key = format!("\"{name}\":");
    let at = j.find(&key).unwrap_or_else(|| panic!("no {name} in {j}")) + key.len();
    let rest = &j[at..];
    &rest[..rest.find([',', '}']).unwrap_or(rest.len())]
}

/// Random steps on one service that uses every extension of supervise at
/// once (notification-fd, finish, timeout-finish, down-signal,
/// timeout-kill): svc's letters and its new ones, `svc -w` and `svwait`
/// with short timeouts, and files the service reads that make its
/// `./run` ignore the down signal (so timeout-kill ends it) or its
/// `./finish` exit 125 (a permanent failure). After each step supervise
/// still runs and what it records is a state that can exist: ready or
/// paused only while up, a pid exactly while up, an 18-byte status, a
/// restart count that never goes down; a wait ends with 0, 1 (a permanent
/// failure) or 99 (its timeout), never in error. At the end the service
/// comes up ready, goes down with its finish done, and supervise exits.
#[test]
fn random_steps_on_a_service_with_every_extension_keep_its_state_whole() {
    let t = TempDir::new("rd-random-steps");
    script(
        t.join("a/run"),
        "trap '' USR1 USR2 ALRM INT QUIT\n\
         if [ -e ignore ]; then trap '' TERM HUP CONT; fi\n\
         sleep 0.1\necho >&3\nexec 3>&-\nexec sleep 1000\n",
    );
    script(t.join("a/finish"), "[ -e perm ] && exit 125\nexit 0\n");
    fs::write(t.join("a/notification-fd"), "3\n").unwrap();
    fs::write(t.join("a/down-signal"), "HUP\n").unwrap();
    fs::write(t.join("a/timeout-kill"), "300\n").unwrap();
    fs::write(t.join("a/timeout-finish"), "2000\n").unwrap();
    let mut s = Supervised::start(t.path(), "a");
    let mut r = Rand::new(0xe7e);
    let mut steps = Vec::new();
    let mut restarts = 0u64;
    for _ in 0..cases(30) {
        let step = match r.below(6) {
            0 | 1 => {
                let letter = b"udopcthaikq12"[r.below(13)] as char;
                let o = s.svc(&format!("-{letter}"));
                assert_eq!(o, Out::new(0, "", ""), "{steps:?} -{letter}");
                format!("svc -{letter}")
            }
            2 => {
                let file = ["ignore", "perm"][r.below(2)];
                let p = t.join("a").join(file);
                if p.exists() {
                    fs::remove_file(&p).unwrap();
                    format!("rm {file}")
                } else {
                    fs::write(&p, "").unwrap();
                    format!("touch {file}")
                }
            }
            3 | 4 => {
                let state = b"uUdDrR"[r.below(6)] as char;
                let letter = b"udocth"[r.below(6)] as char;
                let args = [format!("-w{state}"), "-T".into(), "700".into()];
                let mut args = args.to_vec();
                if r.below(2) == 0 {
                    args.push(format!("-{letter}"));
                }
                args.push("a".into());
                let o = run_within(5.0, SVC, &args, t.path(), None);
                assert!(
                    [0, 1, 99].contains(&o.code) && o.stdout.is_empty() && o.stderr.is_empty(),
                    "{steps:?} svc {args:?}: {o:?}"
                );
                format!("svc {} -> {}", args.join(" "), o.code)
            }
            _ => {
                let state = b"uUdDrR"[r.below(6)] as char;
                let args = [format!("-{state}"), "-t".into(), "500".into(), "a".into()];
                let o = run_within(5.0, SVWAIT, &args, t.path(), None);
                assert!(
                    [0, 1, 99].contains(&o.code) && o.stdout.is_empty() && o.stderr.is_empty(),
                    "{steps:?} svwait {args:?}: {o:?}"
                );
                format!("svwait {} -> {}", args.join(" "), o.code)
            }
        };
        steps.push(step);
        assert_eq!(
            s.child.try_wait().unwrap(),
            None,
            "supervise died: {steps:?}"
        );
        assert_eq!(run(SVOK, &["a"], t.path()).code, 0, "{steps:?}");
        let status = fs::read(t.join("a/supervise/status")).unwrap();
        assert_eq!(status.len(), 18, "{steps:?}");
        let j = run(SVSTAT, &["-j", "a"], t.path());
        assert_eq!(j.code, 0, "{steps:?}: {j:?}");
        let j = j.stdout;
        let up = json_value(&j, "up") == "true";
        for flag in ["ready", "paused"] {
            assert!(
                up || json_value(&j, flag) != "true",
                "{flag} while down: {j} after {steps:?}"
            );
        }
        assert_eq!(up, json_value(&j, "pid") != "null", "{j} after {steps:?}");
        let n: u64 = json_value(&j, "restarts")
            .parse()
            .unwrap_or_else(|_| panic!("{j} after {steps:?}"));
        assert!(n >= restarts, "restarts went down: {j} after {steps:?}");
        restarts = n;
    }
    for file in ["ignore", "perm"] {
        let _ = fs::remove_file(t.join("a").join(file));
    }
    let o = run_within(
        10.0,
        SVC,
        &["-wU", "-T", "5000", "-uc", "a"],
        t.path(),
        None,
    );
    assert_eq!(o, Out::new(0, "", ""), "{steps:?}");
    let o = run_within(10.0, SVC, &["-wD", "-T", "5000", "-d", "a"], t.path(), None);
    assert_eq!(o, Out::new(0, "", ""), "{steps:?}");
    assert_eq!(s.shape(), "down N seconds, normally up", "{steps:?}");
    s.svc("-x");
    assert_eq!(s.wait_exit(5.0), Some(0), "{steps:?}");
    let err = s.stderr_text();
    assert!(!err.contains("supervise:"), "{err} after {steps:?}");
}

/// `svstat -j` read while supervise records a start or an exit never
/// finds the status and the sidecar of two different pids: supervise
/// replaces the sidecar first, and a reader that catches a sidecar not
/// older than the status of another pid reads both again. (Both used to
/// be written the other way round, with `./finish` started between the
/// two, and svstat gave up after three quick tries: `"restarts":null`
/// beside a service that had run for a while.) Three readers read in a
/// loop while the service goes down and up six times.
#[test]
fn svstat_never_shows_the_status_beside_the_sidecar_of_another_pid() {
    let t = TempDir::new("rd-pair");
    script(t.join("a/run"), "echo >&3\nexec sleep 1000\n");
    script(t.join("a/finish"), "exit 0\n");
    fs::write(t.join("a/notification-fd"), "3\n").unwrap();
    let s = Supervised::start(t.path(), "a");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let seen = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let mut reads = 0;
                    // Also ends if the main thread failed before `stop`.
                    let until = Instant::now() + Duration::from_secs(60);
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < until
                    {
                        let j = run(SVSTAT, &["-j", "a"], t.path()).stdout;
                        if j.contains("\"restarts\":null") {
                            let x = fs::read(t.join("a/supervise/xstatus"));
                            let st = fs::read(t.join("a/supervise/status"));
                            panic!("{j}now xstatus {x:?}, status {st:?}");
                        }
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        for _ in 0..3 {
            let o = run_within(10.0, SVC, &["-wU", "-T", "5000", "-u", "a"], t.path(), None);
            assert_eq!(o, Out::new(0, "", ""));
            let o = run_within(10.0, SVC, &["-wD", "-T", "5000", "-d", "a"], t.path(), None);
            assert_eq!(o, Out::new(0, "", ""));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        readers.into_iter().map(|r| r.join().unwrap()).sum::<u32>()
    });
    assert!(seen > 30, "only {seen} reads");
    assert_eq!(s.stderr_text(), "");
}
