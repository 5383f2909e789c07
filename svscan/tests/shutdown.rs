//! svscan's orderly shutdown on SIGTERM (an extension, docs/container.md):
//! as an ordinary process and as process 1 of a PID namespace.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testutil::*;

const SVSCAN: &str = env!("CARGO_BIN_EXE_svscan");

fn bin(name: &str) -> PathBuf {
    workspace_bin(SVSCAN, name)
}

fn path_env() -> String {
    format!(
        "{}:{}",
        Path::new(SVSCAN).parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A tree: `talker` writes numbered lines to its log as fast as it can and
/// notes TERM; `stubborn` ignores TERM; `plain` is a sleep.
fn tree(root: &Path, stubborn: bool) {
    let ml = bin("multilog");
    script(
        root.join("talker/run"),
        "trap 'echo got-term > ../term; exit 0' TERM\n\
         i=0; while :; do i=$((i+1)); echo \"line $i\"\n\
         if [ $((i % 50)) = 0 ]; then sleep 0.01; fi; done\n",
    );
    script(
        root.join("talker/log/run"),
        &format!("exec {} s16777215 ./main\n", ml.display()),
    );
    script(root.join("plain/run"), "exec sleep 1000\n");
    if stubborn {
        script(
            root.join("stubborn/run"),
            "trap '' TERM\necho $$ > ../stubborn.pid\nexec sleep 1000\n",
        );
    }
}

fn up(root: &Path, dir: &str) -> bool {
    let o = run(
        bin("svstat").to_str().unwrap(),
        &[root.join(dir).to_str().unwrap()],
        root,
    );
    o.stdout.contains(": up (pid ")
}

/// Waits until the tree and `extra` are up and the talker has logged.
fn running(root: &Path, extra: &str) {
    for d in ["talker", "talker/log", "plain", extra] {
        assert!(wait_until(10.0, || up(root, d)), "{d}");
    }
    assert!(wait_until(10.0, || fs::metadata(
        root.join("talker/log/main/current")
    )
    .is_ok_and(|m| m.len() > 2_000)));
}

/// The numbered lines of talker's log are 1..=n with none missing.
fn lines_complete(root: &Path) -> usize {
    lines_complete_in(&root.join("talker"))
}

/// The same for the talker service in `dir`.
fn lines_complete_in(dir: &Path) -> usize {
    let text = fs::read_to_string(dir.join("log/main/current")).unwrap();
    let mut n = 0;
    for l in text.lines() {
        n += 1;
        assert_eq!(l, format!("line {n}"), "line {n} of the log");
    }
    assert!(n > 0);
    n
}

/// The tree of [`tree`] was stopped in order: the talker got TERM, its
/// log holds every line it wrote, and no service is left.
fn stopped_in_order(root: &Path) {
    assert_eq!(fs::read_to_string(root.join("term")).unwrap(), "got-term\n");
    let n = lines_complete(root);
    assert!(n > 50, "{n}");
    assert!(pids_of(&["sleep", "1000"], &root.join("plain")).is_empty());
}

/// svscan on `root` as an ordinary process, its stderr to `stderr`.
fn svscan(root: &Path, stderr: Stdio) -> std::process::Child {
    Command::new(SVSCAN)
        .arg(root)
        .env("PATH", path_env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// svscan on `root` as process 1 of a new PID namespace; `unshare` waits
/// for it and passes on its exit code. With `group`, in a process group of
/// its own (unshare's, which svscan keeps: a member, not the leader).
fn as_process_1(root: &Path, group: bool) -> std::process::Child {
    // The interrupt the tests send must not be one svscan starts ignoring.
    default_signals();
    let mut c = Command::new("unshare");
    c.args(["--fork", "--pid", "--mount-proc"])
        .arg(SVSCAN)
        .arg(root)
        .env("PATH", path_env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if group {
        c.process_group(0);
    }
    c.spawn().unwrap()
}

/// On a test's failure, what is left goes: svscan on the tree (the path)
/// wherever it runs (KILL to process 1 of a namespace ends every process
/// in it), the process group (the number), and every supervise of the
/// tree.
struct Leftovers(u32, PathBuf);

impl Drop for Leftovers {
    fn drop(&mut self) {
        let root = self.1.to_str().unwrap();
        for pid in pids_of(&[SVSCAN, root], &self.1) {
            kill("-KILL", pid);
        }
        kill_group("KILL", self.0);
        for d in ["talker", "talker/log", "plain"] {
            let _ = run(
                bin("svc").to_str().unwrap(),
                &["-dx", self.1.join(d).to_str().unwrap()],
                &self.1,
            );
        }
    }
}

#[test]
fn sigterm_brings_services_down_logs_read_to_the_end_and_exits_with_exitcode() {
    let t = TempDir::new("sd-plain");
    let root = t.join("service");
    tree(&root, true);
    fs::create_dir_all(root.join(".svscan")).unwrap();
    fs::write(root.join(".svscan/timeout-shutdown"), "1500\n").unwrap();
    fs::write(root.join(".svscan/exitcode"), "7\n").unwrap();
    // Run in the scan directory, once the KILLed ./run is gone (or a
    // zombie, which holds nothing any more).
    script(
        root.join(".svscan/finish"),
        "p=$(cat stubborn.pid)\n\
         if grep -qv ') [ZX] ' /proc/$p/stat 2>/dev/null; then echo \"$p alive\"; else echo finished; fi \
         > .svscan/finished\n",
    );
    let mut c = svscan(&root, Stdio::null());
    running(&root, "stubborn");
    let stubborn = fs::read(root.join("stubborn/supervise/status")).unwrap();
    let stubborn_pid = u32::from_le_bytes(stubborn[12..16].try_into().unwrap());
    let begin = Instant::now();
    kill("-TERM", c.id());
    assert_eq!(exit_within(&mut c, 10.0), Some(7));
    let took = begin.elapsed();
    // The stubborn service held it up to the timeout, then was KILLed.
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // KILLed: gone (or a zombie) before .svscan/finish ran (below).
    assert_eq!(
        fs::read_to_string(root.join("stubborn.pid")).unwrap(),
        format!("{stubborn_pid}\n")
    );
    assert_eq!(fs::read_to_string(root.join("term")).unwrap(), "got-term\n");
    assert_eq!(
        fs::read_to_string(root.join(".svscan/finished")).unwrap(),
        "finished\n"
    );
    // Every line the talker wrote is in its log, in order, none cut.
    let n = lines_complete(&root);
    assert!(n > 50, "{n}");
    // The log was closed cleanly (mode 0744: not a crash).
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(root.join("talker/log/main/current"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o744);
    // No supervise is left.
    for d in ["talker", "talker/log", "plain", "stubborn"] {
        assert_ne!(
            run(
                bin("svok").to_str().unwrap(),
                &[root.join(d).to_str().unwrap()],
                &root
            )
            .code,
            0,
            "{d}"
        );
    }
}

/// A log that reaches the end of its pipe at the shutdown is not started
/// again: svscan tells its supervise `x` before it closes the pipe, and
/// supervise acts on a command written before an exit first. (The pipe
/// used to be closed first: a logger that read to the end before its
/// supervise had the `x` was started once more, and a `./run` that
/// truncates its file, `cat > out`, left it empty, about one log in three.)
/// Twelve services with such logs, stopped three times, each time once
/// the logs have run for two seconds (supervise starts `./run` at most
/// once a second).
#[test]
fn no_log_is_started_again_by_the_end_of_its_pipe_at_the_shutdown() {
    let t = TempDir::new("sd-log-restart");
    let root = t.join("service");
    let names: Vec<String> = (0..12).map(|i| format!("s{i}")).collect();
    for n in &names {
        script(
            root.join(n).join("run"),
            &format!("echo line from {n}\nexec sleep 1000\n"),
        );
        script(
            root.join(n).join("log/run"),
            &format!(
                "echo started >> {}\nexec cat > out\n",
                t.join("starts").display()
            ),
        );
    }
    for round in 0..3 {
        let _ = fs::remove_file(t.join("starts"));
        for n in &names {
            let _ = fs::remove_file(root.join(n).join("log/out"));
        }
        let mut c = svscan(&root, Stdio::null());
        let _left = Leftovers(c.id(), root.clone());
        for n in &names {
            let out = root.join(n).join("log/out");
            assert!(
                wait_until(10.0, || fs::read_to_string(&out)
                    .is_ok_and(|s| s == format!("line from {n}\n"))),
                "{n}"
            );
        }
        // Two seconds up: past the second after a start in which
        // supervise would not start `./run` again anyway.
        let svstat = bin("svstat");
        for n in &names {
            let log = root.join(n).join("log");
            assert!(wait_until(5.0, || {
                let o = run(svstat.to_str().unwrap(), &[log.to_str().unwrap()], &root);
                o.stdout.contains(") ")
                    && !o.stdout.contains(") 0 seconds")
                    && !o.stdout.contains(") 1 seconds")
            }));
        }
        kill("-TERM", c.id());
        assert_eq!(exit_within(&mut c, 10.0), Some(0));
        for n in &names {
            assert_eq!(
                fs::read_to_string(root.join(n).join("log/out")).unwrap(),
                format!("line from {n}\n"),
                "round {round}, {n}"
            );
        }
        let starts = fs::read_to_string(t.join("starts")).unwrap();
        assert_eq!(starts.lines().count(), names.len(), "round {round}");
    }
}

#[test]
fn services_renamed_or_moved_out_of_the_scan_directory_are_still_stopped_in_order() {
    let t = TempDir::new("sd-moved");
    let root = t.join("service");
    tree(&root, false);
    // The log directory elsewhere, through a symlink.
    let logs = t.join("talker-log");
    fs::rename(root.join("talker/log"), &logs).unwrap();
    std::os::unix::fs::symlink(&logs, root.join("talker/log")).unwrap();
    // A service deployed as a symlink to a release directory.
    let (v1, v2) = (t.join("v1"), t.join("v2"));
    for v in [&v1, &v2] {
        script(v.join("run"), "exec sleep 1000\n");
    }
    std::os::unix::fs::symlink(&v1, root.join("app")).unwrap();
    fs::create_dir_all(root.join(".svscan")).unwrap();
    // A KILL after this long would fail the test.
    fs::write(root.join(".svscan/timeout-shutdown"), "20000\n").unwrap();
    let mut c = svscan(&root, Stdio::null());
    let _left = Leftovers(c.id(), root.clone());
    running(&root, "app");
    // The FAQ's first step to remove a service (a dot name: no longer
    // scanned), one moved out of the tree, and a deploy that swaps the
    // symlink (the release before goes on, as under the original): their
    // supervisors go on, svscan's children, under names svscan no longer
    // sees, or sees for another directory.
    fs::rename(root.join("talker"), root.join(".talker")).unwrap();
    let away = t.join("away");
    fs::rename(root.join("plain"), &away).unwrap();
    std::os::unix::fs::symlink(&v2, t.join("app")).unwrap();
    fs::rename(t.join("app"), root.join("app")).unwrap();
    kill("-ALRM", c.id());
    assert!(wait_until(10.0, || pids_of(&["sleep", "1000"], &v2).len() == 1));
    assert_eq!(pids_of(&["sleep", "1000"], &v1).len(), 1);
    kill("-TERM", c.id());
    assert_eq!(exit_within(&mut c, 10.0), Some(0));
    assert_eq!(fs::read_to_string(root.join("term")).unwrap(), "got-term\n");
    assert!(lines_complete_in(&root.join(".talker")) > 50);
    for d in [&away, &v1, &v2] {
        assert!(pids_of(&["sleep", "1000"], d).is_empty(), "{d:?}");
    }
    for d in [root.join(".talker"), root.join(".talker/log"), away, v1, v2] {
        assert_ne!(
            run(bin("svok").to_str().unwrap(), &[d.to_str().unwrap()], &root).code,
            0,
            "{d:?}"
        );
    }
}

#[test]
fn finish_may_write_exitcode_and_a_bad_setting_is_ignored_with_a_warning() {
    // (timeout-shutdown, what finish writes to exitcode) -> (exit, stderr)
    let cases = [
        ("800\n", "42\n", 42, String::new()),
        (
            "soon\n",
            "300\n",
            0,
            "svscan: warning: ignoring .svscan/timeout-shutdown: invalid value\n\
             svscan: warning: ignoring .svscan/exitcode: invalid value\n"
                .to_string(),
        ),
    ];
    for (timeout, code, exit, stderr) in cases {
        let t = TempDir::new("sd-settings");
        let root = t.join("service");
        script(root.join("plain/run"), "exec sleep 1000\n");
        fs::create_dir_all(root.join(".svscan")).unwrap();
        fs::write(root.join(".svscan/timeout-shutdown"), timeout).unwrap();
        script(
            root.join(".svscan/finish"),
            &format!("printf '{}' > .svscan/exitcode\n", code.escape_default()),
        );
        let err = t.join("stderr");
        let mut c = svscan(&root, fs::File::create(&err).unwrap().into());
        assert!(wait_until(10.0, || up(&root, "plain")));
        kill("-TERM", c.id());
        assert_eq!(
            exit_within(&mut c, 15.0),
            Some(exit),
            "{timeout:?} {code:?}"
        );
        assert_eq!(fs::read_to_string(&err).unwrap(), stderr);
    }
}

#[test]
fn as_process_1_it_reaps_orphans_and_leaves_nothing_behind() {
    require_root("a PID namespace");
    let t = TempDir::new("sd-pid1");
    let root = t.join("service");
    tree(&root, false);
    // A service that leaves an orphan behind at each start: it exits at
    // once, so only process 1 can reap it.
    script(
        root.join("orphans/run"),
        "( ./orphan </dev/null & )\nexec sleep 1000\n",
    );
    script(
        root.join("orphans/orphan"),
        "while [ ! -e ../release ]; do sleep 0.02; done\n",
    );
    fs::create_dir_all(root.join(".svscan")).unwrap();
    fs::write(root.join(".svscan/timeout-shutdown"), "2000\n").unwrap();
    let mut c = as_process_1(&root, false);
    running(&root, "orphans");
    // svscan is process 1 of the namespace: its pid outside is unshare's
    // child.
    let inner = fs::read_to_string(format!("/proc/{}/task/{}/children", c.id(), c.id()))
        .unwrap()
        .trim()
        .parse::<u32>()
        .unwrap();
    let _guard = KillOnDrop(inner);
    assert!(is_namespace_init(inner));
    // The orphan becomes svscan's child; released, it exits and is reaped:
    // then svscan's children are its supervisors only, none a zombie.
    assert!(
        wait_until(5.0, || children_of(inner)
            .iter()
            .any(|k| k.comm == "orphan")),
        "{:?}",
        children_of(inner)
    );
    fs::write(root.join("release"), "").unwrap();
    assert!(
        wait_until(5.0, || children_of(inner)
            .iter()
            .all(|k| k.comm == "supervise" && !k.zombie)),
        "{:?}",
        children_of(inner)
    );
    kill("-TERM", inner);
    assert_eq!(exit_within(&mut c, 10.0), Some(0));
    lines_complete(&root);
    assert_eq!(fs::read_to_string(root.join("term")).unwrap(), "got-term\n");
    // The namespace is empty: every process in it is gone.
    assert!(pids_of(&["sleep", "1000"], &root.join("plain")).is_empty());
    assert!(pids_of(&["sleep", "1000"], &root.join("orphans")).is_empty());
}

#[test]
fn as_process_1_a_terminal_interrupt_stops_the_tree_in_order() {
    // `docker run -it`, then Ctrl-C: the terminal sends SIGINT to its
    // foreground process group, svscan's. As process 1, svscan starts each
    // supervise in a process group of its own, so that the interrupt
    // reaches svscan alone, which shuts the tree down in order: the
    // services get TERM, the logs read every line.
    require_root("a PID namespace");
    let t = TempDir::new("sd-pid1-int");
    let root = t.join("service");
    tree(&root, false);
    fs::create_dir_all(root.join(".svscan")).unwrap();
    fs::write(root.join(".svscan/timeout-shutdown"), "2000\n").unwrap();
    let mut c = as_process_1(&root, true);
    let _leftovers = Leftovers(c.id(), root.clone());
    running(&root, "plain");
    kill_group("INT", c.id());
    assert_eq!(exit_within(&mut c, 10.0), Some(0));
    stopped_in_order(&root);
}

#[test]
fn in_the_foreground_of_a_terminal_ctrl_c_stops_the_tree_in_order() {
    // `script` runs svscan on a terminal of its own, as the foreground job
    // of the session (as a shell does, or `docker run -it --init`), and
    // passes what it reads to the terminal: the byte 3 is Ctrl-C, and the
    // terminal sends SIGINT to the foreground group. svscan has started
    // each supervise in a group of its own, so that only svscan gets it and
    // stops the tree in order.
    let t = TempDir::new("sd-tty");
    let root = t.join("service");
    tree(&root, false);
    let cmd = format!("exec {} {}", SVSCAN, root.display());
    let mut c = on_a_terminal(&cmd)
        .env("PATH", path_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("script (util-linux)");
    let _leftovers = Leftovers(c.id(), root.clone());
    running(&root, "plain");
    use std::io::Write;
    c.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
    // script passes on svscan's exit code.
    assert_eq!(exit_within(&mut c, 10.0), Some(0));
    stopped_in_order(&root);
}
