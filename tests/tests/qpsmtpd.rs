//! A real consumer, unchanged: Debian's qpsmtpd (the Perl SMTP server)
//! and the Perl modules it loads, unpacked beside the tests, behind our
//! tcpserver and behind the C one. Debian ships qpsmtpd's tcpserver
//! front end as a module only (`Qpsmtpd::TcpServer`, which reads
//! `TCPREMOTEIP`, `TCPLOCALIP` and the rest); the few lines that start it
//! on the connection are the test's. The rules give one client
//! `RELAYCLIENT` (qpsmtpd's `relay` plugin then lets it relay) and refuse
//! another. The parent decides and starts each program (`-RHl0`): three
//! SMTP sessions get the same replies, and the queued messages the same
//! `Received` lines, as behind the C tcpserver.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use testutil::*;

/// The front end: qpsmtpd on the connection tcpserver gives it.
const FRONT: &str = "\
use strict;
use IO::Socket::INET;
use Qpsmtpd::TcpServer;
$| = 1;
my $smtpd = Qpsmtpd::TcpServer->new();
$smtpd->load_plugins;
$smtpd->start_connection;
$smtpd->run(IO::Socket::INET->new_from_fd(0, 'r'));
$smtpd->run_hooks('post-connection');
$smtpd->connection->reset;
";

/// The replies to `commands` from the server on `port`, as a client at
/// `from`: the greeting first, then each command and its reply lines.
fn session(port: u16, from: [u8; 4], commands: &[&str]) -> Vec<String> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    sock.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    let s = TcpStream::from(sock);
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut out = Vec::new();
    let mut reply = |out: &mut Vec<String>| loop {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap_or(0) == 0 {
            return false;
        }
        let l = l.trim_end().to_string();
        let more = l.as_bytes().get(3) == Some(&b'-');
        out.push(l);
        if !more {
            return true;
        }
    };
    if !reply(&mut out) {
        return out;
    }
    for c in commands {
        out.push(format!("> {}", c.lines().next().unwrap_or_default()));
        w.write_all(format!("{c}\r\n").as_bytes()).unwrap();
        if !reply(&mut out) {
            break;
        }
    }
    out
}

/// The three sessions behind `tcpserver`, and what was queued.
fn serve(tcpserver: &Path, perl5: &Path, conf: &Path, dir: &Path) -> (String, String) {
    let maildir = dir.join("maildir");
    let _ = std::fs::remove_dir_all(&maildir);
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let plugins = format!("relay\nrcpt_ok\nqueue/maildir {}\n", maildir.display());
    std::fs::write(conf.join("plugins"), plugins).unwrap();
    let perl5 = format!("-I{}", perl5.display());
    let s = Listening::start(
        tcpserver.to_str().unwrap(),
        &[
            "-RHl0",
            "-x",
            "rules.cdb",
            "127.0.0.1",
            "0",
            "perl",
            &perl5,
            "front.pl",
        ],
        &[("QPSMTPD_CONFIG", conf.to_str().unwrap())],
        dir,
    );
    let mail = |to: &str| {
        vec![
            "HELO client.example".to_string(),
            "MAIL FROM:<a@example.com>".into(),
            "RCPT TO:<b@example.org>".into(),
            format!("RCPT TO:<{to}>"),
            "DATA".into(),
            "Subject: hello\r\n\r\nbody\r\n.".into(),
            "QUIT".into(),
        ]
    };
    let mut said = String::new();
    for (from, to) in [
        ([127, 0, 0, 1], "c@elsewhere.example"),
        ([127, 0, 0, 2], "d@elsewhere.example"),
        ([127, 0, 0, 3], "e@elsewhere.example"),
    ] {
        let commands = mail(to);
        let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
        said.push_str(&format!(
            "== from {}\n",
            from.map(|b| b.to_string()).join(".")
        ));
        for l in session(s.port, from, &commands) {
            said.push_str(&l);
            said.push('\n');
        }
    }
    // The queued messages' envelope and Received lines (what qpsmtpd
    // writes before its own next header), the time out.
    let mut queued = Vec::new();
    for f in std::fs::read_dir(maildir.join("new")).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .take_while(|l| !l.starts_with("Authentication-Results:"))
            .map(|l| l.split_once("; ").map_or(l, |(head, _)| head))
            .collect();
        queued.push(lines.join("\n"));
    }
    queued.sort();
    (said, queued.join("\n--\n") + "\n")
}

#[test]
fn debians_qpsmtpd_relays_for_the_client_our_rules_name_as_behind_the_c_tcpserver() {
    let t = TempDir::new("e2e-qpsmtpd");
    let root = t.join("root");
    unpack_debs(
        &[
            "qpsmtpd",
            "libnet-dns-perl",
            "libdigest-hmac-perl",
            "libmailtools-perl",
            "libnet-ip-perl",
        ],
        &root,
    );
    let conf = t.join("conf");
    std::fs::create_dir(&conf).unwrap();
    let plugin_dirs = root.join("usr/share/qpsmtpd/plugins");
    std::fs::write(
        conf.join("plugin_dirs"),
        format!("{}\n", plugin_dirs.display()),
    )
    .unwrap();
    std::fs::write(conf.join("me"), "mx.example.org\n").unwrap();
    std::fs::write(conf.join("rcpthosts"), "example.org\n").unwrap();
    // Warnings and worse only (its own default logs every step).
    std::fs::write(conf.join("loglevel"), "4\n").unwrap();
    std::fs::write(t.join("front.pl"), FRONT).unwrap();
    // qpsmtpd's relay plugin takes an empty RELAYCLIENT for none, unlike
    // qmail-smtpd: the rule gives it a value.
    compile_rules(
        bin_dir().join("tcpserver").to_str().unwrap(),
        t.path(),
        "rules.cdb",
        "127.0.0.2:allow,RELAYCLIENT=\"1\"\n127.0.0.3:deny\n",
    );
    let perl5 = root.join("usr/share/perl5");
    let ours = serve(&bin_dir().join("tcpserver"), &perl5, &conf, t.path());
    let c = serve(&reference_bin("tcpserver"), &perl5, &conf, t.path());
    let session = |relay: &str| {
        format!(
            "220 mx.example.org ESMTP qpsmtpd 0.94 ready; send us your mail, but not your spam.
> HELO client.example
250 mx.example.org Hi [IP] [IP]; I am so happy to meet you.
> MAIL FROM:<a@example.com>
250 <a@example.com>, sender OK - how exciting to get mail from you!
> RCPT TO:<b@example.org>
250 <b@example.org>, recipient ok
> RCPT TO:<TO>
{relay}
> DATA
354 go ahead
> Subject: hello
250 Queued!
> QUIT
221 mx.example.org closing connection. Have a wonderful day.
"
        )
    };
    let want = format!(
        "== from 127.0.0.1\n{}== from 127.0.0.2\n{}== from 127.0.0.3\n",
        session("550 Relaying denied (#5.7.1)")
            .replace("[IP]", "[127.0.0.1]")
            .replace("<TO>", "<c@elsewhere.example>"),
        session("250 <d@elsewhere.example>, recipient ok")
            .replace("[IP]", "[127.0.0.2]")
            .replace("<TO>", "<d@elsewhere.example>"),
    );
    let received = |ip: &str, to: &str| {
        format!(
            "Return-Path: <a@example.com>
Delivered-To: {to}
Received: from [{ip}] (HELO client.example) ({ip})
 by mx.example.org (qpsmtpd/0.94) with SMTP"
        )
    };
    let queued = [
        received("127.0.0.1", "b@example.org"),
        received(
            "127.0.0.2",
            "d@elsewhere.example\nDelivered-To: b@example.org",
        ),
    ];
    let mut queued = queued.to_vec();
    queued.sort();
    assert_eq!(ours, (want, queued.join("\n--\n") + "\n"));
    assert_eq!(ours, c);
}
