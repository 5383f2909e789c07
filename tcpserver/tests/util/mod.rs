//! A tiny DNS server and ident server for the tests, and helpers to run
//! tcpserver and talk to it.
#![allow(dead_code)]

use std::collections::HashMap;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

pub use testutil::*;

pub const TCPSERVER: &str = env!("CARGO_BIN_EXE_tcpserver");
pub const TCPCLIENT: &str = env!("CARGO_BIN_EXE_tcpclient");

/// A distinct loopback address for each test that needs servers on fixed
/// ports (53, 113), so tests can run in parallel.
pub fn loopback() -> IpAddr {
    static N: AtomicU8 = AtomicU8::new(1);
    IpAddr::from([127, 0, 77, N.fetch_add(1, Ordering::SeqCst)])
}

/// Answers on `addr:53`: A records and PTR records from the maps, NXDOMAIN
/// for anything else. Names are matched case-insensitively.
pub fn dns_server(addr: IpAddr, a: &[(&str, [u8; 4])], ptr: &[(&str, &str)]) {
    dns_server_txt(addr, a, ptr, &[]);
}

/// [`dns_server`] with TXT records too (each given as character-strings).
pub fn dns_server_txt(
    addr: IpAddr,
    a: &[(&str, [u8; 4])],
    ptr: &[(&str, &str)],
    txt: &[(&str, &[&[u8]])],
) {
    let txt: HashMap<String, Vec<Vec<u8>>> = txt
        .iter()
        .map(|(n, t)| (n.to_lowercase(), t.iter().map(|s| s.to_vec()).collect()))
        .collect();
    let sock = UdpSocket::bind((addr, 53)).expect("bind DNS port 53 (tests run as root)");
    let a: HashMap<String, [u8; 4]> = a.iter().map(|(n, ip)| (n.to_lowercase(), *ip)).collect();
    let ptr: HashMap<String, String> = ptr
        .iter()
        .map(|(n, t)| (n.to_lowercase(), t.to_string()))
        .collect();
    thread::spawn(move || loop {
        let mut buf = [0u8; 512];
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            return;
        };
        let q = &buf[..n];
        let mut pos = 12;
        let mut labels = Vec::new();
        while pos < q.len() && q[pos] != 0 {
            let l = q[pos] as usize;
            labels.push(String::from_utf8_lossy(&q[pos + 1..pos + 1 + l]).to_lowercase());
            pos += 1 + l;
        }
        let name = labels.join(".");
        let qtype = u16::from_be_bytes([q[pos + 1], q[pos + 2]]);
        let question = &q[12..pos + 5];
        let mut answers: Vec<(u16, Vec<u8>)> = Vec::new();
        if qtype == 1 {
            if let Some(ip) = a.get(&name) {
                answers.push((1, ip.to_vec()));
            }
        } else if qtype == 12 {
            if let Some(t) = ptr.get(&name) {
                let mut rd = Vec::new();
                for l in t.split('.') {
                    rd.push(l.len() as u8);
                    rd.extend_from_slice(l.as_bytes());
                }
                rd.push(0);
                answers.push((12, rd));
            }
        }
        if qtype == 16 {
            if let Some(strings) = txt.get(&name) {
                let mut rd = Vec::new();
                for st in strings {
                    rd.push(st.len() as u8);
                    rd.extend_from_slice(st);
                }
                answers.push((16, rd));
            }
        }
        let known = a.contains_key(&name) || ptr.contains_key(&name) || txt.contains_key(&name);
        let mut r = Vec::new();
        r.extend_from_slice(&q[..2]);
        r.extend_from_slice(&[0x81, if known { 0x80 } else { 0x83 }, 0, 1]);
        r.extend_from_slice(&(answers.len() as u16).to_be_bytes());
        r.extend_from_slice(&[0, 0, 0, 0]);
        r.extend_from_slice(question);
        for (t, rd) in answers {
            r.extend_from_slice(&[0xc0, 12]);
            r.extend_from_slice(&t.to_be_bytes());
            r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            r.extend_from_slice(&(rd.len() as u16).to_be_bytes());
            r.extend_from_slice(&rd);
        }
        let _ = sock.send_to(&r, from);
    });
}

/// Answers every query on `addr:53` with the query itself, changed by
/// `edit` (a resolver that fails, or one whose replies are damaged).
pub fn dns_server_echoing(addr: IpAddr, edit: fn(&mut Vec<u8>)) {
    let sock = UdpSocket::bind((addr, 53)).expect("bind DNS port 53 (tests run as root)");
    thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let mut r = buf[..n].to_vec();
            edit(&mut r);
            let _ = sock.send_to(&r, from);
        }
    });
}

/// Answers ident queries on `addr:113` with `reply` (the text after the
/// ports, e.g. ` : USERID : UNIX : joe`); records the queries.
pub fn ident_server(addr: IpAddr, reply: &'static str) -> Arc<Mutex<Vec<String>>> {
    let l = TcpListener::bind((addr, 113)).expect("bind ident port 113 (tests run as root)");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            let mut line = String::new();
            let _ = BufReader::new(&c).read_line(&mut line);
            s2.lock().unwrap().push(line.clone());
            let ports = line.trim_end();
            let _ = c.write_all(format!("{ports}{reply}\r\n").as_bytes());
        }
    });
    seen
}

/// Starts `tcpserver -1 ARGS...` and reads the port it prints; killed
/// when dropped.
pub fn server(args: &[&str], env: &[(&str, &str)], dir: &TempDir) -> Listening {
    Listening::start(TCPSERVER, args, env, dir.path())
}

/// Connects (from `from` if given), sends `input`, reads to end of file.
pub fn talk(to: SocketAddr, from: Option<IpAddr>, input: &[u8]) -> Vec<u8> {
    talk_from(to, from, input).0
}

/// [`talk`], also returning the local port of the connection.
pub fn talk_from(to: SocketAddr, from: Option<IpAddr>, input: &[u8]) -> (Vec<u8>, u16) {
    let domain = socket2::Domain::for_address(to);
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, None).unwrap();
    if let Some(f) = from {
        s.bind(&SocketAddr::new(f, 0).into()).unwrap();
    }
    s.connect_timeout(&to.into(), Duration::from_secs(5))
        .unwrap();
    let mut s: std::net::TcpStream = s.into();
    let local = s.local_addr().unwrap().port();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(input).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    (out, local)
}

/// `KEY=VALUE` lines into a map.
pub fn env_map(text: &[u8]) -> HashMap<String, String> {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The environment a connection's program sees (PROTO and TCP* only).
pub const SHOW_ENV: &str = "env | grep -E '^(PROTO|TCP)' | sort";

/// Compiles `text` into `dir/CDB` with the real tcprules (CIDR lines
/// included, as users compile them).
pub fn tcprules(dir: &Path, cdb: &str, text: &str) {
    compile_rules(TCPSERVER, dir, cdb, text);
}
