//! A real consumer, unchanged: Debian's ucspi-proxy (with its libbg),
//! unpacked beside the tests, behind our tcpserver the two ways its
//! manual gives: `tcpserver ... ucspi-proxy HOST PORT` (it connects
//! itself) and `tcpserver ... tcpclient HOST PORT ucspi-proxy` (it copies
//! between tcpserver's fds 0 and 1 and tcpclient's 6 and 7). Side by
//! side with the C tcpserver and tcpclient: the client reads the same
//! bytes and the proxy logs the same lines.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use testutil::*;

/// Sends a line through the proxy on `port`, reads the backend's two
/// lines back, then hangs up.
fn ping(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"ping\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.iter().filter(|&&b| b == b'\n').count() < 2 {
        match s.read(&mut buf).unwrap() {
            0 => break,
            n => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8(got).unwrap()
}

/// Both proxies behind the tcpserver and tcpclient of `bin`: what two
/// clients read, and the proxies' log lines, pids taken out.
fn through(bin: &Path, proxy: &Path, lib: &Path, backend: u16, dir: &Path) -> (String, String) {
    let tcpserver = bin.join("tcpserver");
    let tcpserver = tcpserver.to_str().unwrap();
    let tcpclient = bin.join("tcpclient");
    let (proxy, backend) = (proxy.to_str().unwrap(), backend.to_string());
    let env = [("LD_LIBRARY_PATH", lib.to_str().unwrap())];
    let direct = [
        "-RHl0",
        "127.0.0.1",
        "0",
        proxy,
        "-v",
        "127.0.0.1",
        &backend,
    ];
    let via = [
        "-RHl0",
        "127.0.0.1",
        "0",
        tcpclient.to_str().unwrap(),
        "-RHl0",
        "127.0.0.1",
        &backend,
        proxy,
        "-v",
    ];
    let mut read = String::new();
    let mut logs = String::new();
    for args in [&direct[..], &via[..]] {
        let s = Listening::start(tcpserver, args, &env, dir);
        read.push_str(&ping(s.port));
        assert!(
            wait_until(10.0, || s.log().lines().count() >= 2),
            "{}",
            s.log()
        );
        for l in s.log().lines() {
            // ucspi-proxy[PID]: ...
            let l = l.split_once("]: ").map_or(l, |(_, rest)| rest);
            logs.push_str(l);
            logs.push('\n');
        }
    }
    (read, logs)
}

#[test]
fn debians_ucspi_proxy_behind_our_tcpserver_and_tcpclient_as_behind_the_cs() {
    let t = TempDir::new("e2e-ucspi-proxy");
    let root = t.join("root");
    unpack_debs(&["ucspi-proxy", "libbg2"], &root);
    let (proxy, lib) = (root.join("usr/bin/ucspi-proxy"), root.join("usr/lib"));
    let backend = Listening::start(
        bin_dir().join("tcpserver").to_str().unwrap(),
        &[
            "-RHl0",
            "127.0.0.1",
            "0",
            "sh",
            "-c",
            "echo \"backend sees $TCPREMOTEIP\"; cat",
        ],
        &[],
        t.path(),
    );
    let ours = through(&bin_dir(), &proxy, &lib, backend.port, t.path());
    let c = through(
        reference_bin("tcpserver").parent().unwrap(),
        &proxy,
        &lib,
        backend.port,
        t.path(),
    );
    let read = "backend sees 127.0.0.1\nping\n".repeat(2);
    let logs = "client hangup\nbytes: client->server 5->5 server->client 28->28\n".repeat(2);
    assert_eq!(ours, (read, logs));
    assert_eq!(ours, c);
}
