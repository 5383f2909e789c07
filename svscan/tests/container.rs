//! The statically linked binaries as process 1 of a container: a new PID
//! and mount namespace whose root holds only them, a static shell for the
//! run scripts, /etc/passwd, /etc/group and the service tree
//! (docs/container.md). Needs root, as CI has.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testutil::*;

const SVSCAN: &str = env!("CARGO_BIN_EXE_svscan");

/// The example image's root (examples/container/make-root: our static
/// binaries, busybox as sh and sleep, its /etc/passwd and /etc/group and
/// its service tree), with /dev/null as a container runtime provides it.
fn base_image(root: &Path) {
    let top = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let o = Command::new(top.join("examples/container/make-root"))
        .arg(root)
        .arg(static_bins())
        .arg(static_sh())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut programs = 0;
    for e in fs::read_dir(root.join("bin")).unwrap().flatten() {
        let data = fs::read(e.path()).unwrap();
        if data.starts_with(b"\x7fELF") {
            assert!(
                !has_interpreter(&data),
                "{:?} is not statically linked",
                e.path()
            );
            programs += 1;
        }
    }
    assert!(programs > 20, "{programs}");
    nix::sys::stat::mknod(
        &root.join("dev/null"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
}

/// [`base_image`] with the test's own services added to the tree.
fn image(root: &Path) {
    base_image(root);
    let sv = root.join("service");
    // The app: numbered lines to its log as fast as it can, with UID and
    // GID of the image's account web (envuidgid); notes TERM.
    script(
        sv.join("app/run"),
        "exec 2>&1\nexec envuidgid web sh -c '\
         trap \"echo got-term \\$UID \\$GID > /service/app-term; exit 0\" TERM\n\
         i=0; while :; do i=$((i+1)); echo \"line $i\"\n\
         if [ $((i % 50)) = 0 ]; then sleep 0.01; fi; done'\n",
    );
    script(sv.join("app/log/run"), "exec multilog s16777215 ./main\n");
    // Runs as web (setuidgid in the image).
    script(sv.join("worker/run"), "exec setuidgid web sleep 1000\n");
    // A TCP service under the seed's memory bound (the C tcpserver on a
    // current Debian cannot start under it); it answers with svstat.
    script(
        sv.join("tcp/run"),
        "exec softlimit -m 2000000 tcpserver -1 -RHl0 127.0.0.1 0 \
         svstat /service/worker >/service/tcp-port\n",
    );
    // Ignores TERM: KILLed after the timeout.
    script(sv.join("stubborn/run"), "trap '' TERM\nexec sleep 1000\n");
    // Leaves an orphan at each start (process 1 must reap it), and a stray
    // process that outlives its service and notes the TERM process 1 sends
    // before it exits.
    script(
        sv.join("orphans/run"),
        "( ./orphan & )\n( ./stray </dev/null >/dev/null 2>&1 & )\nexec sleep 1000\n",
    );
    script(
        sv.join("orphans/orphan"),
        "while [ ! -e /service/release ]; do sleep 0.02; done\n",
    );
    script(
        sv.join("orphans/stray"),
        "trap 'echo stray-term > /service/stray-term; exit 0' TERM\n\
         while :; do sleep 0.05; done\n",
    );
    fs::create_dir_all(sv.join(".svscan")).unwrap();
    fs::write(sv.join(".svscan/timeout-shutdown"), "1500\n").unwrap();
    fs::write(sv.join(".svscan/exitcode"), "3\n").unwrap();
    script(
        sv.join(".svscan/finish"),
        "echo finished > /service/finished\n",
    );
}

/// Whether a 64-bit ELF file names a program interpreter (PT_INTERP): a
/// dynamically linked program does, a static one does not.
fn has_interpreter(elf: &[u8]) -> bool {
    assert_eq!(&elf[..5], b"\x7fELF\x02", "a 64-bit ELF file");
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap()) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).any(|i| {
        let at = phoff + i * size;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 3
    })
}

fn svstat(dir: &Path) -> String {
    run(
        workspace_bin(SVSCAN, "svstat").to_str().unwrap(),
        &[dir.to_str().unwrap()],
        dir.parent().unwrap(),
    )
    .stdout
}

fn up(dir: &Path) -> bool {
    svstat(dir).contains(": up (pid ")
}

/// The host's pid of the service's process: its status holds the pid
/// inside the namespace of `init` (host pid of the namespace's process 1).
fn pid_of(dir: &Path, init: u32) -> u32 {
    let s = fs::read(dir.join("supervise/status")).unwrap();
    let inside = u32::from_le_bytes(s[12..16].try_into().unwrap());
    let ns = fs::read_link(format!("/proc/{init}/ns/pid")).unwrap();
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            if fs::read_link(e.path().join("ns/pid")).ok()? != ns {
                return None;
            }
            let st = fs::read_to_string(e.path().join("status")).ok()?;
            let nspid = st.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
            (nspid.split_whitespace().last()? == inside.to_string()).then_some(pid)
        })
        .expect("the service's process")
}

fn ids(pid: u32) -> (String, String) {
    let st = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        st.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    (field("Uid:"), field("Gid:"))
}

#[test]
fn static_binaries_run_a_tree_as_process_1_of_an_empty_root() {
    require_root("a PID namespace and a chroot");
    let t = TempDir::new("ct-root");
    let root = t.join("root");
    image(&root);
    let sv = root.join("service");
    // The example's web service listens on $PORT: a free one.
    let web_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = Command::new("unshare")
        .args(["--fork", "--pid", "--mount-proc"])
        .arg(format!("--root={}", root.display()))
        .args(["--wd=/", "/bin/svscan", "/service"])
        .env_clear()
        .env("PATH", "/bin")
        .env("PORT", web_port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for d in [
        "web", "web/log", "app", "app/log", "worker", "stubborn", "orphans", "tcp",
    ] {
        assert!(
            wait_until(20.0, || up(&sv.join(d))),
            "{d}: {}",
            svstat(&sv.join(d))
        );
    }
    assert!(wait_until(10.0, || fs::metadata(
        sv.join("app/log/main/current")
    )
    .is_ok_and(|m| m.len() > 2_000)));
    // svscan is process 1 of the namespace.
    let inner = children_of(c.id())
        .first()
        .map(|k| k.pid)
        .expect("svscan under unshare");
    let _guard = KillOnDrop(inner);
    assert!(is_namespace_init(inner));
    // The accounts came from the image's /etc/passwd.
    assert_eq!(
        ids(pid_of(&sv.join("worker"), inner)),
        ("1000".to_string(), "1000".to_string())
    );
    // The orphaned loop becomes process 1's child; released, it exits and
    // is reaped: then svscan's children are its supervisors and the stray
    // process only, none a zombie.
    assert!(
        wait_until(5.0, || children_of(inner)
            .iter()
            .any(|k| k.comm == "orphan")),
        "{:?}",
        children_of(inner)
    );
    fs::write(sv.join("release"), "").unwrap();
    assert!(wait_until(5.0, || children_of(inner).iter().all(|k| !k
        .zombie
        && (k.comm == "supervise" || k.comm == "stray"))));
    // The example's web service: ready (tcpserver -1 on its
    // notification-fd), serving as the account web.
    let svwait = workspace_bin(SVSCAN, "svwait");
    let o = run(
        svwait.to_str().unwrap(),
        &["-U", "-t", "10000", sv.join("web").to_str().unwrap()],
        &sv,
    );
    assert_eq!(o.code, 0, "{o:?}");
    let mut answer = String::new();
    std::io::Read::read_to_string(
        &mut std::net::TcpStream::connect(("127.0.0.1", web_port)).unwrap(),
        &mut answer,
    )
    .unwrap();
    assert_eq!(
        answer,
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello 127.0.0.1\r\n"
    );
    assert_eq!(
        ids(pid_of(&sv.join("web"), inner)),
        ("1000".to_string(), "1000".to_string())
    );
    // The static tcpserver serves under `softlimit -m 2000000`.
    assert!(wait_until(10.0, || fs::read_to_string(sv.join("tcp-port"))
        .is_ok_and(|p| p.ends_with('\n'))));
    let port: u16 = fs::read_to_string(sv.join("tcp-port"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for _ in 0..3 {
        let mut answer = String::new();
        std::io::Read::read_to_string(
            &mut std::net::TcpStream::connect(("127.0.0.1", port)).unwrap(),
            &mut answer,
        )
        .unwrap();
        assert!(
            answer.starts_with("/service/worker: up (pid "),
            "{answer:?}"
        );
    }
    // SIGHUP still rescans: a service added now comes up.
    script(sv.join("late/run"), "exec sleep 1000\n");
    kill("-HUP", inner);
    assert!(wait_until(10.0, || up(&sv.join("late"))));

    let begin = Instant::now();
    kill("-TERM", inner);
    assert_eq!(exit_within(&mut c, 15.0), Some(3));
    let took = begin.elapsed();
    // The stubborn service held the shutdown up to the timeout, no longer.
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    // Every service got TERM, the stray process too,
    // the finish script ran.
    assert_eq!(
        fs::read_to_string(sv.join("app-term")).unwrap(),
        "got-term 1000 1000\n"
    );
    assert_eq!(
        fs::read_to_string(sv.join("stray-term")).unwrap(),
        "stray-term\n"
    );
    assert_eq!(
        fs::read_to_string(sv.join("finished")).unwrap(),
        "finished\n"
    );
    // Every line written before the TERM is in the log, in order.
    let text = fs::read_to_string(sv.join("app/log/main/current")).unwrap();
    let mut n = 0;
    for l in text.lines() {
        n += 1;
        assert_eq!(l, format!("line {n}"), "line {n} of the log");
    }
    assert!(n > 50, "{n}");
    // tcpserver's lines are in the web log, stamped in local time (T),
    // the last one written as it stopped.
    let web_log = fs::read_to_string(sv.join("web/log/main/current")).unwrap();
    let last = web_log.lines().last().unwrap();
    assert!(
        last.len() == 29 + 25
            && last.as_bytes()[4] == b'-'
            && last.as_bytes()[19] == b'.'
            && last.ends_with(" tcpserver: status: 0/100"),
        "{web_log}"
    );
    // Nothing of the namespace is left.
    assert!(!Path::new(&format!("/proc/{inner}")).exists());
    for d in [
        "app", "app/log", "worker", "stubborn", "orphans", "tcp", "late",
    ] {
        assert!(
            svstat(&sv.join(d)).ends_with(": supervise not running\n"),
            "{d}"
        );
    }
}

#[test]
fn a_read_only_root_with_the_supervise_directories_and_logs_on_a_writable_mount() {
    // A container whose root file system is read-only (`docker run
    // --read-only --tmpfs /run`, Kubernetes' readOnlyRootFilesystem): each
    // `supervise` is a symlink to a directory under /run that does not
    // exist yet (supervise creates it, one level, as Debian's does), and
    // the log writes under /run too. Here /run is a host directory bound
    // there, so that the test can read it; the rest of the root is
    // remounted read-only in a mount namespace of its own.
    require_root("mount and PID namespaces");
    let t = TempDir::new("ct-ro");
    let root = t.join("root");
    base_image(&root);
    let sv = root.join("service");
    fs::remove_dir_all(&sv).unwrap();
    script(
        sv.join("ro/run"),
        "exec 2>&1\ntrap 'echo got-term > /run/ro-term; exit 0' TERM\n\
         if (: > /service/probe) 2>/dev/null; then echo root-writable; else echo started; fi\n\
         while :; do sleep 0.05; done\n",
    );
    script(sv.join("ro/log/run"), "exec multilog /run/ro-log\n");
    std::os::unix::fs::symlink("/run/ro", sv.join("ro/supervise")).unwrap();
    std::os::unix::fs::symlink("/run/ro.log", sv.join("ro/log/supervise")).unwrap();
    fs::create_dir_all(root.join("run")).unwrap();
    let run = t.join("run");
    fs::create_dir_all(&run).unwrap();
    let (r, w) = (root.display(), run.display());
    let setup = format!(
        "mount --bind {r} {r} && mount -o remount,bind,ro {r} {r} && \
         mount --bind {w} {r}/run && \
         exec unshare --fork --pid --mount-proc --root={r} --wd=/ /bin/svscan /service"
    );
    let mut c = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &setup])
        .env_clear()
        .env("PATH", "/bin:/usr/bin:/sbin:/usr/sbin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // On failure: KILL to svscan, process 1 of its namespace, ends it all.
    struct KillChildren(u32);
    impl Drop for KillChildren {
        fn drop(&mut self) {
            for k in children_of(self.0) {
                kill("-KILL", k.pid);
            }
        }
    }
    let _guard = KillChildren(c.id());
    // Seen from here, the supervise directories are under `run`.
    let view = t.join("view");
    for (name, target) in [("ro", "ro"), ("ro.log", "ro.log")] {
        fs::create_dir_all(view.join(name)).unwrap();
        std::os::unix::fs::symlink(run.join(target), view.join(name).join("supervise")).unwrap();
    }
    for d in ["ro", "ro.log"] {
        assert!(
            wait_until(20.0, || up(&view.join(d))),
            "{d}: {}",
            svstat(&view.join(d))
        );
    }
    assert!(wait_until(10.0, || fs::read_to_string(
        run.join("ro-log/current")
    )
    .is_ok_and(|s| s == "started\n")));
    // (The service found the root read-only: it logged "started".) The
    // supervise symlinks are still symlinks.
    for l in ["ro/supervise", "ro/log/supervise"] {
        assert!(fs::symlink_metadata(sv.join(l))
            .unwrap()
            .file_type()
            .is_symlink());
    }
    // The outer unshare became sh, then the inner unshare: svscan is its
    // child.
    let inner = children_of(c.id())
        .first()
        .map(|k| k.pid)
        .expect("svscan under unshare");
    assert!(is_namespace_init(inner));
    kill("-TERM", inner);
    assert_eq!(exit_within(&mut c, 15.0), Some(0));
    assert_eq!(
        fs::read_to_string(run.join("ro-term")).unwrap(),
        "got-term\n"
    );
    // The log was closed cleanly (mode 0744), with every line.
    let current = run.join("ro-log/current");
    assert_eq!(fs::read_to_string(&current).unwrap(), "started\n");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(&current).unwrap().mode() & 0o777, 0o744);
}
