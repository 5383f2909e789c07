//! tcpserver at the edge of its resources: a tight memory limit with
//! concurrent clients, a 30 MB rules database under the qmail template's
//! memory limit, and a descriptor limit under a burst of clients.

mod util;

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use util::*;

fn softlimit() -> std::path::PathBuf {
    workspace_bin(TCPSERVER, "softlimit")
}

/// A started server, killed when dropped: also when an assertion fails
/// before the test stops it.
struct Server(Child);

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `PREFIX... tcpserver -1 ARGS...`; the child and its port, or
/// `None` if it exited without printing a port.
fn start(prefix: &[&str], args: &[&str], dir: &TempDir) -> Option<(Server, u16)> {
    let mut cmd = Command::new(prefix.first().copied().unwrap_or(TCPSERVER));
    if prefix.is_empty() {
        cmd.arg("-1");
    } else {
        cmd.args(&prefix[1..]).arg(TCPSERVER).arg("-1");
    }
    let mut child = Server(
        cmd.args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(dir.join("stderr")).unwrap())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
    line.trim().parse().ok().map(|port| (child, port))
}

fn stop(c: Server) {
    drop(c);
}

fn v4(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// What one connection reads, or `None` if it could not connect.
fn fetch(port: u16) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&v4(port), Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    Some(out)
}

/// User + system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // Fields 14 and 15 of proc(5); `rest` starts at field 3.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn survives_its_lowest_memory_limit_with_eight_clients() {
    let t = TempDir::new("tcpserver-mem");
    let args = ["-RHl0", "127.0.0.1", "0", "/bin/echo", "hi"];
    // The lowest `softlimit -m` (to 64 KiB) under which it starts and
    // serves a connection (a static tcpserver starts under less than the
    // dynamic /bin/echo can be loaded in: then the child is the bound).
    let starts = |m: u64| -> bool {
        let m = m.to_string();
        match start(&[softlimit().to_str().unwrap(), "-m", &m], &args, &t) {
            Some((c, port)) => {
                let serves = fetch(port).as_deref() == Some(b"hi\n");
                stop(c);
                serves
            }
            None => false,
        }
    };
    let (mut lo, mut hi) = (64 * 1024u64, 256 * 1024 * 1024u64);
    assert!(starts(hi), "does not start even under 256 MB");
    while hi - lo > 64 * 1024 {
        let mid = (lo + hi) / 2;
        if starts(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let m = hi.to_string();
    let (mut server, port) = start(&[softlimit().to_str().unwrap(), "-m", &m], &args, &t).unwrap();
    // Eight clients for ten seconds, as fast as they can.
    let stopping = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (stopping, served) = (Arc::clone(&stopping), Arc::clone(&served));
            thread::spawn(move || {
                while !stopping.load(Ordering::SeqCst) {
                    if fetch(port).as_deref() == Some(b"hi\n") {
                        served.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        assert!(
            server.try_wait().unwrap().is_none(),
            "tcpserver died under softlimit -m {m}: {}",
            fs::read_to_string(t.join("stderr")).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(100));
    }
    stopping.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    assert!(server.try_wait().unwrap().is_none(), "tcpserver died");
    assert!(
        wait_until(10.0, || fetch(port).as_deref() == Some(b"hi\n")),
        "m={m} {}",
        fs::read_to_string(t.join("stderr")).unwrap_or_default()
    );
    let err = fs::read_to_string(t.join("stderr")).unwrap_or_default();
    assert!(!err.contains("memory allocation"), "{err}");
    assert!(served.load(Ordering::SeqCst) > 0);
    stop(server);
}

/// `tcpserver -RHl0 -x big.cdb` under `softlimit -m LIMIT`, its program
/// printing `$VAR`.
fn big_cdb_under(limit: &str, var: &str, t: &TempDir) -> (Server, u16) {
    let echo = format!("echo ${var}");
    let args = [
        "-RHl0",
        "-x",
        "big.cdb",
        "127.0.0.1",
        "0",
        "/bin/sh",
        "-c",
        &echo,
    ];
    start(&[softlimit().to_str().unwrap(), "-m", limit], &args, t).unwrap()
}

#[test]
fn thirty_megabyte_rules_under_the_qmail_memory_limit() {
    let t = TempDir::new("tcpserver-bigrules");
    let mut text = String::with_capacity(32 << 20);
    for i in 0..120_000u32 {
        text.push_str(&format!(
            "10.{}.{}.{}:allow,PAD=\"{:0200}\"\n",
            i >> 16,
            (i >> 8) & 255,
            i & 255,
            i
        ));
    }
    text.push_str("127.0.0.1:allow,FOUND=\"yes\"\n:deny\n");
    tcprules(t.path(), "big.cdb", &text);
    assert!(fs::metadata(t.join("big.cdb")).unwrap().len() > 28_000_000);
    let (server, port) = big_cdb_under("30000000", "FOUND", &t);
    for _ in 0..20 {
        assert_eq!(fetch(port).as_deref(), Some(&b"yes\n"[..]));
    }
    assert_eq!(fs::read_to_string(t.join("stderr")).unwrap(), "");
    stop(server);
}

#[test]
fn a_rule_too_large_for_the_memory_left_drops_its_connection_only() {
    // A 30 MB record under a 20 MB limit: the child that reads it says
    // so and drops the connection (the C tcpserver's child dies of
    // SIGSEGV when its mmap of the database fails); other clients are
    // served.
    let t = TempDir::new("tcpserver-bigrecord");
    let text = format!(
        "127.0.0.1:allow,BIG=\"{}\"\n:allow,SMALL=\"yes\"\n",
        "x".repeat(30_000_000)
    );
    tcprules(t.path(), "big.cdb", &text);
    let (server, port) = big_cdb_under("20000000", "SMALL", &t);
    for _ in 0..3 {
        assert_eq!(fetch(port).as_deref(), Some(&b""[..]));
    }
    // From another address: its own rule.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into())
        .unwrap();
    sock.connect(&v4(port).into()).unwrap();
    let mut s = TcpStream::from(sock);
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert_eq!(out, b"yes\n");
    let line = "tcpserver: warning: dropping connection, unable to read big.cdb: out of memory\n";
    assert!(wait_until(5.0, || {
        fs::read_to_string(t.join("stderr")).unwrap() == line.repeat(3)
    }));
    stop(server);
}

/// Starts tcpserver under `ulimit -n N` (through sh).
fn under_fd_limit(n: u32, args: &str, t: &TempDir) -> Option<(Server, u16)> {
    let cmd = format!("ulimit -n {n} && exec {TCPSERVER} -1 {args}");
    start(&["/bin/sh", "-c", &cmd], &[], t)
}

#[test]
fn a_burst_under_a_descriptor_limit_does_not_spin() {
    let t = TempDir::new("tcpserver-fds");
    let (mut server, port) = under_fd_limit(
        20,
        "-RHl0 -c 100 -b 100 127.0.0.1 0 /bin/sh -c 'sleep 1; echo hi'",
        &t,
    )
    .unwrap();
    let pid = server.id();
    let before = cpu_ticks(pid);
    let burst: Vec<_> = (0..50)
        .map(|_| thread::spawn(move || fetch(port)))
        .collect();
    for b in burst {
        let _ = b.join().unwrap();
    }
    let used = cpu_ticks(pid) - before;
    // Fifty connections cost the parent a few ticks; a spinning loop would
    // use every tick of the burst (at least one second).
    assert!(
        used < 50,
        "the server used {used} ticks of CPU for the burst"
    );
    assert!(server.try_wait().unwrap().is_none());
    assert_eq!(fetch(port).as_deref(), Some(&b"hi\n"[..]));
    stop(server);

    // The original's descriptor economy: fds 0 and 1 are left to the
    // connections, so it serves under `ulimit -n 4` (0, 1, 2, the listener).
    let (server, port) = under_fd_limit(4, "-RHl0 127.0.0.1 0 /bin/echo hi", &t).unwrap();
    for _ in 0..3 {
        assert_eq!(fetch(port).as_deref(), Some(&b"hi\n"[..]));
    }
    stop(server);

    // With no descriptor at all (its limit lowered to 0 while it runs),
    // every accept fails: one warning, no spin, the server stays, and it
    // serves again once the limit is back.
    let (mut server, port) = under_fd_limit(1024, "-RHl0 127.0.0.1 0 /bin/echo hi", &t).unwrap();
    let pid = server.id();
    let prlimit = |n: &str| {
        let ok = Command::new("prlimit")
            .args(["--pid", &pid.to_string(), &format!("--nofile={n}:1024")])
            .status()
            .unwrap()
            .success();
        assert!(ok, "prlimit failed");
    };
    prlimit("0");
    let before = cpu_ticks(pid);
    let pending: Vec<_> = (0..10)
        .filter_map(|_| TcpStream::connect(v4(port)).ok())
        .collect();
    let warned = "tcpserver: warning: unable to accept: process cannot open more files\n";
    // Whichever fails first, accept or (with no descriptor allowed) poll
    // itself, it is reported.
    assert!(wait_until(5.0, || !fs::read_to_string(t.join("stderr"))
        .unwrap_or_default()
        .is_empty()));
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(2) {
        thread::sleep(Duration::from_millis(100));
    }
    let used = cpu_ticks(pid) - before;
    assert!(
        used < 30,
        "the server used {used} ticks while out of descriptors"
    );
    assert!(server.try_wait().unwrap().is_none());
    // Each persistent error is reported once (with no descriptor allowed,
    // poll itself refuses to watch the listener).
    let err = fs::read_to_string(t.join("stderr")).unwrap();
    let mut lines: Vec<&str> = err.lines().collect();
    let n = lines.len();
    lines.sort();
    lines.dedup();
    assert_eq!(lines.len(), n, "a warning repeated: {err}");
    for l in &lines {
        assert!(
            format!("{l}\n") == warned
                || *l == "tcpserver: warning: unable to poll: invalid argument",
            "{err}"
        );
    }
    prlimit("1024");
    drop(pending);
    assert!(wait_until(10.0, || fetch(port).as_deref() == Some(b"hi\n")));
    stop(server);
}
