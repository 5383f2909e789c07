//! svscan, readproctitle and svscanboot with real processes: a service tree
//! with a log pair, supervisors killed and restarted, new directories picked
//! up, and lines through the log pipe counted one by one.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testutil::*;

const SVSCAN: &str = env!("CARGO_BIN_EXE_svscan");
const READPROCTITLE: &str = env!("CARGO_BIN_EXE_readproctitle");

fn bin(name: &str) -> PathBuf {
    workspace_bin(SVSCAN, name)
}

fn svok(cwd: &Path, dir: &str) -> bool {
    run(bin("svok").to_str().unwrap(), &[dir], cwd).code == 0
}

/// PATH with our binaries first, so svscan finds our supervise.
fn path_env() -> String {
    format!(
        "{}:{}",
        Path::new(SVSCAN).parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A running svscan; everything it started is stopped when dropped.
struct Scan {
    child: Child,
    root: PathBuf,
    stderr: PathBuf,
}

impl Scan {
    fn start(root: &Path) -> Scan {
        let mut svscan = Command::new(SVSCAN);
        svscan.arg(root);
        Scan::start_as(root, svscan)
    }

    /// With `command`, which must end in an exec of `svscan root`; HUP and
    /// INT at their defaults, for the tests that send them.
    fn start_as(root: &Path, mut command: Command) -> Scan {
        default_signals();
        let stderr = root.with_extension("stderr");
        Scan {
            child: command
                .env("PATH", path_env())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(&stderr).unwrap())
                .spawn()
                .unwrap(),
            root: root.to_path_buf(),
            stderr,
        }
    }
}

impl Drop for Scan {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let svc = bin("svc");
        let mut dirs = Vec::new();
        for e in fs::read_dir(&self.root).into_iter().flatten().flatten() {
            dirs.push(e.path());
            dirs.push(e.path().join("log"));
        }
        let _ = Command::new(svc)
            .arg("-dx")
            .args(&dirs)
            .stderr(Stdio::null())
            .status();
        let _ = fs::remove_file(&self.stderr);
    }
}

/// Lines `PID N` of the log, grouped by writer pid, in order.
fn by_writer(log: &Path) -> BTreeMap<u32, Vec<u32>> {
    let text = fs::read_to_string(log).unwrap_or_default();
    let mut m: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for line in text.lines() {
        let (p, n) = line.split_once(' ').expect("whole lines only");
        m.entry(p.parse().unwrap())
            .or_default()
            .push(n.parse().unwrap());
    }
    m
}

/// Every writer's lines arrived once each, in order, from 1 on.
fn assert_complete(log: &Path) {
    for (pid, seq) in by_writer(log) {
        let expect: Vec<u32> = (1..=seq.len() as u32).collect();
        assert_eq!(seq, expect, "lines of writer {pid}");
    }
}

fn lines(log: &Path) -> usize {
    fs::read_to_string(log)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Waits until `log` has not grown for 300 ms.
fn settle(log: &Path) {
    let mut last = (lines(log), Instant::now());
    assert!(wait_until(10.0, || {
        let n = lines(log);
        if n != last.0 {
            last = (n, Instant::now());
        }
        last.1.elapsed() > Duration::from_millis(300)
    }));
}

fn tree(t: &TempDir) -> PathBuf {
    let root = t.join("service");
    // A service writing numbered lines, with a log that appends them.
    script(
        root.join("talker/run"),
        "n=0\nwhile :; do n=$((n+1)); echo \"$$ $n\"; sleep 0.01; done\n",
    );
    let log = t.join("talker.log");
    script(
        root.join("talker/log/run"),
        &format!("exec cat >> {}\n", log.display()),
    );
    script(root.join("quiet/run"), "exec sleep 1000\n");
    script(root.join("other/run"), "exec sleep 1000\n");
    // Ignored: a dot directory and a plain file.
    script(root.join(".hidden/run"), "exec sleep 1000\n");
    fs::write(root.join("notadir"), "").unwrap();
    root
}

#[test]
fn tree_log_pipe_restarts_and_new_directories() {
    let t = TempDir::new("svscan");
    let root = tree(&t);
    let log = t.join("talker.log");
    let scan = Scan::start(&root);

    for d in ["talker", "talker/log", "quiet", "other"] {
        assert!(wait_until(10.0, || svok(&root, d)), "{d} did not come up");
    }
    assert!(!root.join(".hidden/supervise").exists());
    assert!(!root.join("notadir/supervise").exists());
    assert!(wait_until(10.0, || lines(&log) >= 30));
    assert_complete(&log);

    // Kill the log side while the service is paused (nothing in flight),
    // then let the service write while no logger runs: svscan holds the
    // pipe, so the lines wait there for the next logger.
    let svc = bin("svc");
    let svc = svc.to_str().unwrap();
    assert_eq!(run(svc, &["-p", "talker"], &root).code, 0);
    settle(&log);
    let talker = root.join("talker");
    let log_sv = pids_of(&["supervise", "log"], &talker.join("log"));
    assert_eq!(log_sv.len(), 1);
    let cat = pids_of(&["cat"], &talker.join("log"));
    assert_eq!(cat.len(), 1);
    // The supervise by a real-time signal, whose end nix's wait status
    // cannot hold (svscan never saw it go, and never started another).
    kill(&format!("-{}", nix::libc::SIGRTMIN()), log_sv[0]);
    kill("-9", cat[0]);
    let before = lines(&log);
    assert_eq!(run(svc, &["-c", "talker"], &root).code, 0);
    // Back within one scan.
    assert!(wait_until(7.0, || pids_of(
        &["supervise", "log"],
        &talker.join("log")
    )
    .len()
        == 1));
    assert!(wait_until(5.0, || svok(&root, "talker/log")));
    assert!(wait_until(10.0, || lines(&log) > before + 30));
    assert_complete(&log);

    // kill -9 the service's supervise: its ./run goes on writing, and the
    // new supervise starts a second one; no line of either is lost.
    let sv = pids_of(&["supervise", "talker"], &talker);
    assert_eq!(sv.len(), 1);
    let old_run = fs::read(talker.join("supervise/status")).unwrap();
    let old_run = u32::from_le_bytes(old_run[12..16].try_into().unwrap());
    kill("-9", sv[0]);
    assert!(wait_until(7.0, || pids_of(
        &["supervise", "talker"],
        &talker
    )
    .len()
        == 1));
    assert!(wait_until(10.0, || by_writer(&log).len() >= 2));
    kill("-STOP", old_run);
    assert_eq!(run(svc, &["-p", "talker"], &root).code, 0);
    settle(&log);
    assert_complete(&log);
    kill("-9", old_run);
    assert_eq!(run(svc, &["-c", "talker"], &root).code, 0);

    // A new directory: within one scan; with SIGALRM, at once.
    script(root.join("late/run"), "exec sleep 1000\n");
    assert!(wait_until(7.0, || svok(&root, "late")));
    script(root.join("alarm/run"), "exec sleep 1000\n");
    kill("-ALRM", scan.child.id());
    assert!(
        wait_until(1.0, || svok(&root, "alarm")),
        "SIGALRM did not rescan at once"
    );
    script(root.join("hup/run"), "exec sleep 1000\n");
    kill("-HUP", scan.child.id());
    assert!(
        wait_until(1.0, || svok(&root, "hup")),
        "SIGHUP did not rescan at once"
    );
    assert!(!root.join(".hidden/supervise").exists());
    assert_eq!(fs::read_to_string(&scan.stderr).unwrap(), "");
}

#[test]
fn a_supervise_that_exits_comes_back_and_a_symlink_is_one_service() {
    let t = TempDir::new("svscan-back");
    let root = t.join("service");
    script(t.join("real/run"), "exec sleep 1000\n");
    fs::create_dir_all(&root).unwrap();
    std::os::unix::fs::symlink(t.join("real"), root.join("a")).unwrap();
    std::os::unix::fs::symlink(t.join("real"), root.join("b")).unwrap();
    let scan = Scan::start(&root);
    assert!(wait_until(10.0, || svok(&root, "a")));
    // Same device and inode: one supervise, under the first name seen.
    // supervise runs in the directory itself.
    let real = t.join("real");
    let n =
        || pids_of(&["supervise", "a"], &real).len() + pids_of(&["supervise", "b"], &real).len();
    // (Waited for: while supervise starts ./run, its spawn child is briefly
    // a second process with the same command line and directory.)
    assert!(wait_until(5.0, || n() == 1), "{} supervise", n());
    // A rescan (SIGALRM) does not add a second one: watched for 300 ms.
    kill("-ALRM", scan.child.id());
    assert!(!wait_until(0.3, || n() != 1));
    // svc -x: supervise exits; the next scan starts it again.
    let svc = bin("svc");
    assert_eq!(run(svc.to_str().unwrap(), &["-dx", "a"], &root).code, 0);
    assert!(wait_until(5.0, || !svok(&root, "a")));
    assert!(wait_until(7.0, || svok(&root, "a")));
}

#[test]
fn missing_supervise_and_bad_directory() {
    let t = TempDir::new("svscan-err");
    assert_eq!(
        run(SVSCAN, &["nope"], t.path()),
        Out::new(
            111,
            "",
            "svscan: fatal: unable to chdir to nope: file does not exist\n"
        )
    );
    // supervise not on PATH: the children's warnings, every scan.
    let root = t.join("service");
    script(root.join("x/run"), "exec sleep 1000\n");
    script(root.join("x/log/run"), "exec cat\n");
    let err = t.join("err");
    // Killed when dropped, also when an assertion below fails.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Killed(
        Command::new(SVSCAN)
            .arg(&root)
            .env("PATH", t.join("empty"))
            .stderr(fs::File::create(&err).unwrap())
            .spawn()
            .unwrap(),
    );
    let expect = "svscan: warning: unable to start supervise x: file does not exist\n\
                  svscan: warning: unable to start supervise x/log: file does not exist\n";
    assert!(wait_until(5.0, || fs::read_to_string(&err).unwrap().len()
        >= expect.len()));
    let mut got: Vec<String> = fs::read_to_string(&err)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    got.sort();
    let mut want: Vec<String> = expect.lines().map(String::from).collect();
    want.sort();
    assert_eq!(got, want);
    child.0.kill().unwrap();
    child.0.wait().unwrap();
}

#[test]
fn readproctitle_shows_the_last_bytes() {
    let t = TempDir::new("rpt");
    let area = ".".repeat(20);
    let mut child = Command::new(READPROCTITLE)
        .args(["service", "errors:", &area])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let cmdline = |pid: u32| fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let title = |rest: &[u8]| {
        let mut v = format!("{READPROCTITLE}\0service\0errors:\0").into_bytes();
        v.extend_from_slice(rest);
        v.push(0);
        v
    };
    let pid = child.id();
    assert!(wait_until(5.0, || cmdline(pid) == title(area.as_bytes())));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"fatal error xyz\n").unwrap();
    assert!(wait_until(5.0, || cmdline(pid) == title(b"....fatal error xyz\n")));
    stdin.write_all(b"warn\0ing abc\n").unwrap();
    assert!(wait_until(5.0, || cmdline(pid) == title(b"... xyz\nwarning abc\n")));
    drop(stdin);
    assert_eq!(child.wait().unwrap().code(), Some(0));

    assert_eq!(
        run::<&str>(READPROCTITLE, &[], t.path()),
        Out::new(100, "", "")
    );
    assert_eq!(
        run(READPROCTITLE, &["...."], t.path()),
        Out::new(100, "", "")
    );
}

#[test]
fn svscanboot_runs_svscan_under_readproctitle() {
    let t = TempDir::new("svscanboot");
    let root = t.join("service");
    script(root.join("a/run"), "exec sleep 1000\n");
    // Install with the project's installer, which writes the two settings.
    let from = Path::new(SVSCAN).parent().unwrap();
    let bindir = install_toolkit(
        from,
        &t.join("prefix"),
        &["--scandir", root.to_str().unwrap()],
    );
    let boot = fs::read_to_string(bindir.join("svscanboot")).unwrap();
    assert!(boot.contains(&format!("\nscandir={}\n", root.display())));
    assert!(boot.contains(&format!("\nbindir={}\n", bindir.display())));
    use std::os::unix::process::CommandExt;
    let mut boot = Command::new(bindir.join("svscanboot"))
        .process_group(0)
        .env("PATH", "/usr/bin:/bin")
        .spawn()
        .unwrap();
    let group = boot.id();
    assert!(wait_until(10.0, || svok(&root, "a")));
    // svscan runs with PATH only, its output read by readproctitle.
    let found: Vec<u32> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            fs::read(format!("/proc/{p}/cmdline"))
                .unwrap_or_default()
                .starts_with(b"svscan\0")
        })
        .filter(|p| {
            fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit(')')
                        .next()
                        .map(|r| r.split_whitespace().nth(2) == Some(&group.to_string()))
                })
                == Some(true)
        })
        .collect();
    assert_eq!(found.len(), 1, "one svscan in the group");
    let env = fs::read(format!("/proc/{}/environ", found[0])).unwrap();
    let env: Vec<&[u8]> = env.split(|&b| b == 0).filter(|e| !e.is_empty()).collect();
    assert_eq!(env.len(), 1);
    assert!(env[0].starts_with(format!("PATH={}:", bindir.display()).as_bytes()));
    let rpt: Vec<u32> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            fs::read(format!("/proc/{p}/cmdline"))
                .unwrap_or_default()
                .starts_with(b"readproctitle\0service\0errors:\0...")
        })
        .collect();
    assert!(!rpt.is_empty());
    let cmd = fs::read(format!("/proc/{}/cmdline", rpt[0])).unwrap();
    assert_eq!(cmd.len(), "readproctitle service errors: ".len() + 400 + 1);
    // Stop everything: the whole group (svscanboot, svscan, readproctitle,
    // supervise and the service).
    kill_group("-9", group);
    let _ = boot.wait();
}

#[test]
fn a_renamed_directory_is_supervised_again_under_its_new_name() {
    let t = TempDir::new("svscan-renamed");
    let root = t.join("service");
    script(root.join("old/run"), "exec sleep 1000\n");
    script(root.join("old/log/run"), "exec cat > /dev/null\n");
    let scan = Scan::start(&root);
    assert!(wait_until(10.0, || svok(&root, "old") && svok(&root, "old/log")));
    fs::rename(root.join("old"), root.join("new")).unwrap();
    // Both supervisors exit; the next scan starts them again, in the
    // directory under the name it has now.
    let svc = bin("svc");
    assert_eq!(
        run(svc.to_str().unwrap(), &["-dx", "new", "new/log"], &root).code,
        0
    );
    assert!(wait_until(5.0, || !svok(&root, "new") && !svok(&root, "new/log")));
    kill("-ALRM", scan.child.id());
    assert!(
        wait_until(10.0, || svok(&root, "new") && svok(&root, "new/log")),
        "{}",
        fs::read_to_string(&scan.stderr).unwrap()
    );
    let dir = root.join("new");
    assert!(wait_until(5.0, || pids_of(&["supervise", "new"], &dir)
        .len()
        == 1));
    assert_eq!(fs::read_to_string(&scan.stderr).unwrap(), "");
}

#[test]
fn a_removed_directory_keeps_its_supervise() {
    let t = TempDir::new("svscan-removed");
    let root = t.join("service");
    script(root.join("gone/run"), "exec sleep 1000\n");
    let scan = Scan::start(&root);
    assert!(wait_until(10.0, || svok(&root, "gone")));
    // Moved out of the scan directory: svscan neither stops nor restarts it.
    fs::rename(root.join("gone"), t.join("moved")).unwrap();
    kill("-ALRM", scan.child.id());
    let moved = t.join("moved");
    assert!(!wait_until(1.0, || !svok(t.path(), "moved")));
    assert_eq!(pids_of(&["supervise", "gone"], &moved).len(), 1);
    // Once it exits it is forgotten, not restarted.
    let svc = bin("svc");
    assert_eq!(
        run(svc.to_str().unwrap(), &["-dx", "moved"], t.path()).code,
        0
    );
    assert!(wait_until(5.0, || !svok(t.path(), "moved")));
    kill("-ALRM", scan.child.id());
    assert!(!wait_until(1.0, || svok(t.path(), "moved")));
    assert!(!root.join("gone").exists());
}

#[test]
fn a_tree_with_more_log_pipes_than_the_soft_limit_allows_comes_up() {
    // A log pipe holds two of svscan's descriptors for as long as its
    // service is there: at the usual soft limit of 1024 a tree stopped at
    // about 500 logged services (`unable to create pipe for NAME: process
    // cannot open more files`, every scan). svscan raises its soft limit,
    // within the hard one, when a pipe cannot be made for want of one;
    // every supervise, and so every service, gets the limit svscan was
    // started with. Here 30 logged services under a soft limit of 40.
    let t = TempDir::new("svscan-nofile");
    let root = t.join("service");
    let names: Vec<String> = (0..30).map(|i| format!("s{i}")).collect();
    for n in &names {
        script(
            root.join(n).join("run"),
            "ulimit -Sn > nofile.new && mv nofile.new nofile\nexec sleep 1000\n",
        );
        script(root.join(n).join("log/run"), "exec cat > /dev/null\n");
    }
    let sh = format!("ulimit -Sn 40 && exec {SVSCAN} {}", root.display());
    let mut command = Command::new("sh");
    command.args(["-c", &sh]);
    let scan = Scan::start_as(&root, command);
    for n in &names {
        for d in [n.clone(), format!("{n}/log")] {
            assert!(wait_until(20.0, || svok(&root, &d)), "{d} did not come up");
        }
        let nofile = root.join(n).join("nofile");
        assert!(wait_until(10.0, || nofile.exists()), "{n}");
        assert_eq!(fs::read_to_string(&nofile).unwrap(), "40\n", "{n}");
    }
    let limits = fs::read_to_string(format!("/proc/{}/limits", scan.child.id())).unwrap();
    let soft: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(soft > 40, "{limits}");
    assert_eq!(fs::read_to_string(&scan.stderr).unwrap(), "");
}

/// The signals a process ignores, from its /proc status (the SigIgn mask).
fn ignored_by(file: &Path) -> Option<String> {
    let text = fs::read_to_string(file).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|m| m.trim().to_string())
}

#[test]
fn signals_ignored_at_start_stay_ignored_by_svscan_and_its_services_as_the_original() {
    // A background job of a script starts with SIGINT and SIGQUIT ignored,
    // one under nohup with SIGHUP. Under the C svscan every service
    // inherits them ignored. Ours, which catches INT and HUP for its
    // shutdown and rescan, gave its children INT and HUP at their default,
    // and stopped the whole tree on an INT its starter meant it to ignore.
    let t = TempDir::new("svscan-ignored");
    let mut masks = Vec::new();
    for (name, dir) in [
        ("c", reference_bin("svscan").parent().unwrap().to_path_buf()),
        ("ours", Path::new(SVSCAN).parent().unwrap().to_path_buf()),
    ] {
        let root = t.join(name);
        script(
            root.join("s/run"),
            "grep SigIgn /proc/$$/status > ../s.ignored\nexec sleep 1000\n",
        );
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(format!(
            "trap '' INT QUIT HUP; PATH={}:$PATH; exec svscan {}",
            dir.display(),
            root.display()
        ));
        let scan = Scan::start_as(&root, sh);
        let file = root.join("s.ignored");
        assert!(wait_until(10.0, || ignored_by(&file).is_some()), "{name}");
        masks.push(ignored_by(&file).unwrap());
        if name == "ours" {
            // INT and HUP are ignored: svscan goes on scanning (ALRM, which
            // the original does not catch), its service up.
            kill("-INT", scan.child.id());
            kill("-HUP", scan.child.id());
            script(root.join("new/run"), "exec sleep 1000\n");
            kill("-ALRM", scan.child.id());
            assert!(wait_until(10.0, || svok(&root, "new")));
            assert!(svok(&root, "s"));
        }
        drop(scan);
    }
    // The classic signals, 1 to 31 (the C run also shows 32, one the C
    // library keeps for itself); HUP, INT and QUIT among them.
    let classic = |m: &str| u64::from_str_radix(m, 16).unwrap() & 0x7fff_ffff;
    assert_eq!(classic(&masks[0]), classic(&masks[1]), "{masks:?}");
    assert_eq!(classic(&masks[1]) & 0x7, 0x7, "{masks:?}");
}

/// A service name that is a symlink, swapped to a new release directory
/// (`ln -s v2 foo.new && mv -T foo.new foo`, the usual deployment): at the
/// next scan the new directory gets a supervise of its own, and the old
/// one keeps its supervise and service, neither stopped nor restarted (the
/// service is known by device and inode, not by name). Side by side with
/// the C svscan, which scans every five seconds.
#[test]
fn a_swapped_service_symlink_supervises_the_new_directory_and_keeps_the_old_as_the_original() {
    let t = TempDir::new("svscan-swap");
    let scans: Vec<_> = [
        ("c", reference_bin("svscan").parent().unwrap().to_path_buf()),
        ("ours", Path::new(SVSCAN).parent().unwrap().to_path_buf()),
    ]
    .into_iter()
    .map(|(name, dir)| {
        let top = t.join(name);
        for v in ["v1", "v2"] {
            script(top.join(v).join("run"), "exec sleep 1000\n");
        }
        let root = top.join("service");
        fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink(top.join("v1"), root.join("foo")).unwrap();
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(format!(
            "PATH={}:$PATH; exec svscan {}",
            dir.display(),
            root.display()
        ));
        (name, top, Scan::start_as(&root, sh))
    })
    .collect();
    for (name, top, _) in &scans {
        assert!(wait_until(10.0, || svok(top, "v1")), "{name}");
        let root = top.join("service");
        std::os::unix::fs::symlink(top.join("v2"), root.join("foo.new")).unwrap();
        fs::rename(root.join("foo.new"), root.join("foo")).unwrap();
    }
    for (name, top, _) in &scans {
        assert!(wait_until(10.0, || svok(top, "v2")), "{name}");
        let supervised = |v: &str| pids_of(&["supervise", "foo"], &top.join(v)).len();
        assert!(
            wait_until(5.0, || supervised("v1") == 1 && supervised("v2") == 1),
            "{name}"
        );
        assert!(svok(top, "v1"), "{name}");
        let svstat = bin("svstat");
        let old = run(svstat.to_str().unwrap(), &["v1"], top);
        assert!(old.stdout.starts_with("v1: up (pid "), "{name}: {old:?}");
    }
    for (_, top, scan) in scans {
        drop(scan);
        run(bin("svc").to_str().unwrap(), &["-dx", "v1", "v2"], &top);
        assert!(wait_until(5.0, || !svok(&top, "v1") && !svok(&top, "v2")));
    }
}

/// svscan under a memory limit (`softlimit -m`) that holds the service it
/// starts with but not the thousands added later: those without room are
/// warned about (`unable to start NAME: out of memory`, and tried again at
/// the next scan), svscan goes on, and TERM still ends it with 0. (An
/// allocation that failed used to end svscan, `svscan: fatal: out of
/// memory`, and leave its services unsupervised.) No supervise is on PATH:
/// each start fails at once in its child, and says so.
#[test]
fn services_past_a_memory_limit_are_warned_about_and_svscan_goes_on() {
    let t = TempDir::new("sv-memory");
    let root = t.join("service");
    script(root.join("s0/run"), "exec sleep 1000\n");
    let err = t.join("err");
    let softlimit = bin("softlimit");
    let started = |limit: usize| {
        default_signals();
        Command::new(&softlimit)
            .args(["-m", &limit.to_string(), SVSCAN])
            .arg(&root)
            .env("PATH", "/nonexistent")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&err).unwrap())
            .spawn()
            .unwrap()
    };
    let scanned = || {
        fs::read_to_string(&err)
            .unwrap_or_default()
            .contains("svscan: warning: unable to start supervise s0: file does not exist\n")
    };
    // The smallest limit, in steps of 64 KiB, under which svscan scans.
    let mut svscan = None;
    for limit in (24..64).map(|i| i * 64 * 1024) {
        let mut c = started(limit);
        if wait_until(5.0, || scanned() || c.try_wait().unwrap().is_some()) && scanned() {
            svscan = Some(c);
            break;
        }
        let _ = c.kill();
        let _ = c.wait();
    }
    let mut svscan = svscan.expect("svscan never scanned under 4 MiB");
    for i in 1..=3000 {
        fs::create_dir(root.join(format!("s{i}"))).unwrap();
    }
    kill("-HUP", svscan.id());
    assert!(wait_until(20.0, || fs::read_to_string(&err)
        .unwrap_or_default()
        .contains(": out of memory\n")));
    let text = fs::read_to_string(&err).unwrap();
    assert_eq!(
        svscan.try_wait().unwrap(),
        None,
        "{}",
        &text[text.len().saturating_sub(500)..]
    );
    for line in text.lines() {
        assert!(
            line.starts_with("svscan: warning: unable to start supervise s")
                || (line.starts_with("svscan: warning: unable to start s")
                    && line.ends_with(": out of memory")),
            "{line}"
        );
    }
    kill("-TERM", svscan.id());
    assert_eq!(exit_within(&mut svscan, 20.0), Some(0));
}
