//! Per-IP limits (an extension, docs/rules.md): `-C`, MAXCONNIP from the
//! rules, DIEMSG, TCPCONNNUM, the `-v` line; and CIDR rules as tcpserver
//! applies them.

mod util;

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use util::*;

fn v4(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn rules(dir: &TempDir, text: &str) {
    tcprules(dir.path(), "rules.cdb", text);
}

/// A connection from `from` kept open; the first line the program wrote.
fn open_from(to: SocketAddr, from: IpAddr) -> (TcpStream, String) {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    s.bind(&SocketAddr::new(from, 0).into()).unwrap();
    s.connect_timeout(&to.into(), Duration::from_secs(5))
        .unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut line = String::new();
    let _ = BufReader::new(&s).read_line(&mut line);
    (s, line)
}

/// The program: says its TCPCONNNUM (or `none`), then waits for input.
const HOLD: &str = "echo \"n=${TCPCONNNUM-none}\"; read x";

/// tcpserver's arguments: `-R -H -l0`, `opts`, then 127.0.0.1, any port
/// and the [`HOLD`] program.
fn holding(opts: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec!["-R", "-H", "-l0"];
    args.extend_from_slice(opts);
    args.extend(["127.0.0.1", "0", "sh", "-c", HOLD]);
    args
}

#[test]
fn five_served_the_sixth_refused_another_address_still_served() {
    let t = TempDir::new("pi-five");
    rules(&t, ":allow,DIEMSG=\"421 too many connections from you\"\n");
    let s = server(&holding(&["-v", "-C", "5", "-x", "rules.cdb"]), &[], &t);
    let one = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    let mut held = Vec::new();
    for i in 1..=5 {
        let (c, line) = open_from(v4(s.port), one);
        assert_eq!(line, format!("n={i}\n"));
        held.push(c);
    }
    // The sixth: the message and CRLF, then end of file.
    let (mut c, line) = open_from(v4(s.port), one);
    assert_eq!(line, "421 too many connections from you\r\n");
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    // Another address is served meanwhile; it counts on its own.
    let (other, line) = open_from(v4(s.port), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    assert_eq!(line, "n=1\n");
    assert!(wait_until(5.0, || s.log().contains("per-ip limit")));
    let log = s.log();
    let limit_lines: Vec<&str> = log.lines().filter(|l| l.contains("per-ip")).collect();
    assert_eq!(limit_lines, ["tcpserver: per-ip limit 127.0.0.1 5/5"]);
    // One leaves: the next one from 127.0.0.1 is served again.
    drop(held.pop());
    drop(other);
    assert!(wait_until(5.0, || s.log().matches(" end ").count() >= 3));
    let (_c, line) = open_from(v4(s.port), one);
    assert_eq!(line, "n=5\n");
}

#[test]
fn maxconnip_from_a_rule_overrides_c_and_without_limits_nothing_changes() {
    let t = TempDir::new("pi-rule");
    rules(
        &t,
        "127.0.0.2:allow,MAXCONNIP=\"1\"\n127.0.0.3:allow,MAXCONIP=\"3\"\n:allow\n",
    );
    let s = server(&holding(&["-C", "2", "-x", "rules.cdb"]), &[], &t);
    let from = |d: u8| IpAddr::V4(Ipv4Addr::new(127, 0, 0, d));
    // 127.0.0.2: one; the second is closed without a word (no DIEMSG).
    let (_a, line) = open_from(v4(s.port), from(2));
    assert_eq!(line, "n=1\n");
    let (_b, line) = open_from(v4(s.port), from(2));
    assert_eq!(line, "");
    // 127.0.0.3: three (the other spelling); 127.0.0.1: -C's two.
    let mut held = Vec::new();
    for i in 1..=3 {
        let (c, line) = open_from(v4(s.port), from(3));
        assert_eq!(line, format!("n={i}\n"));
        held.push(c);
    }
    assert_eq!(open_from(v4(s.port), from(3)).1, "");
    for i in 1..=2 {
        let (c, line) = open_from(v4(s.port), from(1));
        assert_eq!(line, format!("n={i}\n"));
        held.push(c);
    }
    assert_eq!(open_from(v4(s.port), from(1)).1, "");

    // No -C and no limit in the rules: no TCPCONNNUM, no limit.
    let s = server(&holding(&["-x", "rules.cdb"]), &[], &t);
    for _ in 0..4 {
        let (c, line) = open_from(v4(s.port), from(1));
        assert_eq!(line, "n=none\n");
        held.push(c);
    }
}

/// The edges docs/rules.md names: a limit of 0 refuses every client it
/// applies to (a rule's `MAXCONNIP="0"` with its DIEMSG, `-C 0`), and a
/// `MAXCONNIP` that is not a plain decimal number is ignored, so `-C`
/// applies.
#[test]
fn a_limit_of_0_refuses_and_a_limit_that_is_no_number_is_ignored() {
    let t = TempDir::new("pi-edges");
    rules(
        &t,
        "127.0.0.2:allow,MAXCONNIP=\"0\",DIEMSG=\"421 closed to you\"\n\
         127.0.0.3:allow,MAXCONNIP=\"3x\"\n127.0.0.4:allow,MAXCONNIP=\"\"\n\
         127.0.0.5:allow,MAXCONNIP=\"-1\"\n:allow\n",
    );
    let s = server(&holding(&["-C", "1", "-x", "rules.cdb"]), &[], &t);
    let from = |d: u8| IpAddr::V4(Ipv4Addr::new(127, 0, 0, d));
    assert_eq!(open_from(v4(s.port), from(2)).1, "421 closed to you\r\n");
    let mut held = Vec::new();
    for d in [3, 4, 5] {
        let (c, line) = open_from(v4(s.port), from(d));
        assert_eq!(line, "n=1\n", "127.0.0.{d}");
        held.push(c);
        assert_eq!(open_from(v4(s.port), from(d)).1, "", "127.0.0.{d}");
    }
    let s = server(&holding(&["-C", "0", "-x", "rules.cdb"]), &[], &t);
    assert_eq!(open_from(v4(s.port), from(1)).1, "");
}

#[test]
fn ipv6_clients_count_per_64_and_cidr_rules_apply() {
    if std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_err() {
        panic!("IPv6 loopback is needed for this test");
    }
    let t = TempDir::new("pi-six");
    rules(
        &t,
        "::1/128:allow,WHO=\"one\"\n::/64:allow,WHO=\"net\"\n127.0.0.0/8:allow,WHO=\"v4\"\n",
    );
    let s = server(
        &[
            "-R",
            "-H",
            "-l0",
            "-C",
            "1",
            "-x",
            "rules.cdb",
            "::",
            "0",
            "sh",
            "-c",
            "echo \"$WHO $TCPCONNNUM\"; read x",
        ],
        &[],
        &t,
    );
    let (_a, line) = open_from(
        SocketAddr::from((Ipv6Addr::LOCALHOST, s.port)),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    );
    assert_eq!(line, "one 1\n");
    let (_b, line) = open_from(
        SocketAddr::from((Ipv6Addr::LOCALHOST, s.port)),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    );
    assert_eq!(line, "");
    let (_c, line) = open_from(v4(s.port), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(line, "v4 1\n");
}
