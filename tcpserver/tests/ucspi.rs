//! The small ucspi tools: byte-exact transcripts with exit codes.

mod util;

use std::net::SocketAddr;

use util::*;

const ADDCR: &str = env!("CARGO_BIN_EXE_addcr");
const DELCR: &str = env!("CARGO_BIN_EXE_delcr");
const RECORDIO: &str = env!("CARGO_BIN_EXE_recordio");
const FIXCRIO: &str = env!("CARGO_BIN_EXE_fixcrio");
const ARGV0: &str = env!("CARGO_BIN_EXE_argv0");
const RBLSMTPD: &str = env!("CARGO_BIN_EXE_rblsmtpd");

/// Runs with `input` on stdin and the given environment (none of
/// rblsmtpd's variables inherited); (code, stdout, stderr).
fn pipe(bin: &str, args: &[&str], input: &[u8], env: &[(&str, &str)]) -> (i32, Vec<u8>, Vec<u8>) {
    run_input(
        bin,
        args,
        input,
        std::path::Path::new("."),
        env,
        &["RBLSMTPD", "TCPREMOTEIP"],
    )
}

#[test]
fn addcr_and_delcr() {
    assert_eq!(
        pipe(ADDCR, &[], b"a\nb\r\nc", &[]),
        (0, b"a\r\nb\r\r\nc".to_vec(), vec![])
    );
    assert_eq!(
        pipe(ADDCR, &[], b"\0\n\0", &[]),
        (0, b"\0\r\n\0".to_vec(), vec![])
    );
    assert_eq!(
        pipe(DELCR, &[], b"a\r\nb\r\r\nc\rd\r", &[]),
        (0, b"a\nb\r\nc\rd\r".to_vec(), vec![])
    );
    assert_eq!(
        pipe(DELCR, &[], b"\r\0\r\n", &[]),
        (0, b"\r\0\n".to_vec(), vec![])
    );
    assert_eq!(pipe(ADDCR, &[], b"", &[]), (0, vec![], vec![]));
    // Large input across blocks, \r\n split at every position.
    let big: Vec<u8> = b"x\r\n".iter().cycle().take(300_000).copied().collect();
    let (code, out, _) = pipe(DELCR, &[], &big, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        b"x\n"
            .iter()
            .cycle()
            .take(200_000)
            .copied()
            .collect::<Vec<u8>>()
    );
}

#[test]
fn recordio_transcript() {
    let (code, out, err) = pipe(
        RECORDIO,
        &["sh", "-c", "cat; printf 'out1\\nout2'"],
        b"line1\nline2\r\npartial",
        &[],
    );
    assert_eq!(code, 0);
    assert_eq!(out, b"line1\nline2\r\npartialout1\nout2");
    let err = String::from_utf8(err).unwrap();
    let pid = err.split(' ').next().unwrap().to_string();
    let lines: Vec<String> = err.lines().map(|l| l.replacen(&pid, "PID", 1)).collect();
    // The two directions interleave as the data flows; each keeps its order.
    let inp: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("PID <"))
        .map(String::as_str)
        .collect();
    let outp: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("PID >"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        inp,
        [
            "PID < line1 ",
            "PID < line2\r ",
            "PID < partial+",
            "PID < [EOF]"
        ]
    );
    // Each read is recorded as it came: cat's "partial" and printf's
    // output are two writes, read apart or, when the program ran ahead of
    // recordio, together (as the C recordio records them).
    let apart = [
        "PID > line1 ",
        "PID > line2\r ",
        "PID > partial+",
        "PID > out1 ",
        "PID > out2+",
        "PID > [EOF]",
    ];
    let together = [
        "PID > line1 ",
        "PID > line2\r ",
        "PID > partialout1 ",
        "PID > out2+",
        "PID > [EOF]",
    ];
    assert!(outp == apart || outp == together, "{outp:?}");
    assert_eq!(lines.len(), inp.len() + outp.len());
    // The program runs as recordio's own pid.
    let (_, out, err) = pipe(RECORDIO, &["sh", "-c", "echo $$"], b"", &[]);
    let pid = String::from_utf8(out).unwrap();
    // (The two directions may come in either order.)
    let err = String::from_utf8(err).unwrap();
    let pid = pid.trim();
    // The program's end of output always ends the transcript; the end of
    // recordio's own input comes first only if it is read before (the
    // spec: EOF on the program's output writes `> [EOF]` and exits).
    assert!(
        err.lines().any(|l| l == format!("{pid} > [EOF]")),
        "{err:?}"
    );
    assert!(
        err.lines().all(|l| l.starts_with(&format!("{pid} "))),
        "{err:?}"
    );
    assert_eq!(
        pipe(RECORDIO, &[], b"", &[]),
        (
            100,
            vec![],
            b"recordio: usage: recordio program [ arg ... ]\n".to_vec()
        )
    );
}

#[test]
fn fixcrio_both_directions() {
    let (code, out, err) = pipe(
        FIXCRIO,
        &["sh", "-c", "od -An -c | tr -s ' '; printf 'o1\\no2\\r\\n'"],
        b"x\ny\r\n",
        &[],
    );
    assert_eq!((code, err), (0, vec![]));
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out, " x \\r \\n y \\r \\n\r\no1\r\no2\r\n");
    assert_eq!(
        pipe(FIXCRIO, &[], b"", &[]),
        (
            100,
            vec![],
            b"fixcrio: usage: fixcrio program [ arg ... ]\n".to_vec()
        )
    );
    assert_eq!(
        pipe(FIXCRIO, &["/nonexistent/prog"], b"", &[]).2,
        b"fixcrio: fatal: unable to run /nonexistent/prog: file does not exist\n"
    );
}

/// The data of one direction (`<` or `>`) of a recordio transcript, put
/// back together from its lines.
fn transcribed(err: &[u8], dir: u8) -> Vec<u8> {
    let mut data = Vec::new();
    for line in err.split_inclusive(|&b| b == b'\n') {
        let rest = &line[line.iter().position(|&b| b == b' ').unwrap() + 1..];
        let Some(piece) = rest.strip_prefix(&[dir, b' ']) else {
            continue;
        };
        if piece == b"[EOF]\n" {
            continue;
        }
        match piece.strip_suffix(b" \n") {
            Some(p) => {
                data.extend_from_slice(p);
                data.push(b'\n');
            }
            None => data.extend_from_slice(piece.strip_suffix(b"+\n").unwrap()),
        }
    }
    data
}

#[test]
fn recordio_and_fixcrio_copy_both_ways_at_once() {
    // A program that writes as it reads, more than it reads: once both
    // pipes are full (64 KiB each), the copier must go on reading the
    // program's output while the program cannot take more input. A copier
    // blocked writing to the program, while the program is blocked writing
    // to it, waits forever (as ours did).
    let mut r = Rand::new(0x10);
    let mut input = r.from(b"abc\r\n", 4 << 20);
    input.push(b'\n');
    let twice: Vec<u8> = input
        .split_inclusive(|&b| b == b'\n')
        .flat_map(|l| [l, l].concat())
        .collect();
    let here = std::path::Path::new(".");
    let (code, out, err) = run_input_within(60.0, RECORDIO, &["sed", "p"], &input, here);
    assert_eq!(code, 0);
    assert!(out == twice, "recordio sed p: the output differs");
    assert!(
        transcribed(&err, b'<') == input,
        "the transcript of the input"
    );
    assert!(
        transcribed(&err, b'>') == twice,
        "the transcript of the output"
    );
    let (code, out, err) = run_input_within(60.0, FIXCRIO, &["sed", "p"], &input, here);
    assert_eq!((code, err), (0, vec![]));
    let mut prev = 0;
    let mut fixed = Vec::new();
    for b in &twice {
        if *b == b'\n' && prev != b'\r' {
            fixed.push(b'\r');
        }
        fixed.push(*b);
        prev = *b;
    }
    assert!(out == fixed, "fixcrio sed p: the output differs");
}

#[test]
fn argv0_runs_with_another_name() {
    assert_eq!(
        pipe(ARGV0, &["/bin/sh", "mysh", "-c", "echo $0"], b"", &[]),
        (0, b"mysh\n".to_vec(), vec![])
    );
    // The other arguments follow unchanged.
    assert_eq!(
        pipe(
            ARGV0,
            &["/bin/sh", "mysh", "-c", "echo $0 $1", "x", "arg"],
            b"",
            &[]
        ),
        (0, b"x arg\n".to_vec(), vec![])
    );
    assert_eq!(
        pipe(ARGV0, &["sh", "named", "-c", "echo $0"], b"", &[]).1,
        b"named\n"
    );
    let usage = b"argv0: usage: argv0 realname program [ arg ... ]\n".to_vec();
    assert_eq!(pipe(ARGV0, &["sh"], b"", &[]), (100, vec![], usage.clone()));
    assert_eq!(pipe(ARGV0, &[], b"", &[]), (100, vec![], usage));
    assert_eq!(
        pipe(ARGV0, &["no-such-program-x", "x"], b"", &[]),
        (
            111,
            vec![],
            b"argv0: fatal: unable to run no-such-program-x: file does not exist\n".to_vec()
        )
    );
}

const SMTP: &[u8] = b"HELO x\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\nnoop\r\nrset\r\nehlo y\r\nQUIT\r\nafter quit\r\n";

fn dialogue(message: &str) -> Vec<u8> {
    let r = "250 rblsmtpd.local\r\n";
    format!("220 rblsmtpd.local\r\n{r}{r}{message}\r\n{message}\r\n{r}{r}{r}221 rblsmtpd.local\r\n")
        .into_bytes()
}

fn log_line(err: &[u8], ip: &str, message: &str) {
    let err = String::from_utf8_lossy(err);
    let rest = err
        .strip_prefix(&format!("rblsmtpd: {ip} pid "))
        .unwrap_or_else(|| panic!("{err:?}"));
    let (pid, msg) = rest.split_once(": ").unwrap();
    assert!(pid.parse::<u32>().is_ok());
    assert_eq!(msg, format!("{message}\n"));
}

#[test]
fn rblsmtpd_environment_and_usage() {
    let ip = [("TCPREMOTEIP", "1.2.3.4")];
    let (code, out, err) = pipe(
        RBLSMTPD,
        &["echo", "smtpd"],
        SMTP,
        &[ip[0], ("RBLSMTPD", "custom msg")],
    );
    assert_eq!(
        (code, out.clone()),
        (0, dialogue("451 custom msg")),
        "{}",
        String::from_utf8_lossy(&out)
    );
    log_line(&err, "1.2.3.4", "451 custom msg");
    let (code, out, err) = pipe(
        RBLSMTPD,
        &["echo", "smtpd"],
        SMTP,
        &[ip[0], ("RBLSMTPD", "-bounce msg")],
    );
    assert_eq!((code, out), (0, dialogue("553 bounce msg")));
    log_line(&err, "1.2.3.4", "553 bounce msg");
    // -t0: the message only.
    let (code, out, _) = pipe(
        RBLSMTPD,
        &["-t0", "echo", "smtpd"],
        b"",
        &[ip[0], ("RBLSMTPD", "x")],
    );
    assert_eq!((code, out), (0, b"451 x\r\n".to_vec()));
    // Empty: accepted, the program runs. No list and no variable: too.
    assert_eq!(
        pipe(
            RBLSMTPD,
            &["echo", "smtpd"],
            b"",
            &[ip[0], ("RBLSMTPD", "")]
        ),
        (0, b"smtpd\n".to_vec(), vec![])
    );
    assert_eq!(
        pipe(RBLSMTPD, &["echo", "smtpd"], b"", &[ip[0]]),
        (0, b"smtpd\n".to_vec(), vec![])
    );
    // No TCPREMOTEIP: two spaces in the log line.
    let (_, _, err) = pipe(RBLSMTPD, &["-t0", "true"], b"", &[("RBLSMTPD", "y")]);
    assert!(String::from_utf8_lossy(&err).starts_with("rblsmtpd:  pid "));
    // Control characters in the message become '?'.
    let (_, out, _) = pipe(RBLSMTPD, &["-t0", "true"], b"", &[("RBLSMTPD", "a\x01b")]);
    assert_eq!(out, b"451 a?b\r\n");
    let usage = "rblsmtpd: usage: rblsmtpd [ -b ] [ -R ] [ -t timeout ] [ -r base ] [ -a base ] smtpd [ arg ... ]\n";
    assert_eq!(
        pipe(RBLSMTPD, &[], b"", &[]),
        (100, vec![], usage.as_bytes().to_vec())
    );
    assert_eq!(
        pipe(RBLSMTPD, &["-R", "true"], b"", &[]),
        (
            100,
            vec![],
            format!("rblsmtpd: illegal option -- R\n{usage}").into_bytes()
        )
    );
    assert_eq!(
        pipe(RBLSMTPD, &["/nonexistent/smtpd"], b"", &[]),
        (
            111,
            vec![],
            b"rblsmtpd: fatal: unable to run /nonexistent/smtpd: file does not exist\n".to_vec()
        )
    );
}

#[test]
fn rblsmtpd_holds_no_long_line_whole() {
    // Only a line's verb is answered: ours holds its first 1024 bytes and
    // drops the rest as it reads it. It used to hold the whole line, so a
    // client sending 20 MB without a newline made it take 32 MB (under a
    // 24 MB address space: `out of memory`, and the dialogue was gone).
    let mut input = b"HELO x\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 20_000_000));
    input.extend_from_slice(b"\r\nQUIT ");
    input.extend(std::iter::repeat_n(b'y', 20_000_000));
    input.extend_from_slice(b"\r\n");
    let sh = format!("ulimit -v 24000 && exec {RBLSMTPD} -t 60 true");
    let (code, out, err) = pipe(
        "sh",
        &["-c", &sh],
        &input,
        &[("RBLSMTPD", "-go away"), ("TCPREMOTEIP", "1.2.3.4")],
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    assert_eq!(
        String::from_utf8_lossy(&out),
        "220 rblsmtpd.local\r\n250 rblsmtpd.local\r\n553 go away\r\n221 rblsmtpd.local\r\n"
    );
}

#[test]
fn rblsmtpd_answers_pipelined_commands_at_once() {
    use std::process::{Command, Stdio};
    // More than one read's worth of commands in one write, the client then
    // waiting with its end open: every command is answered at once. Read
    // through a buffer, what one read left there waited for the -t timeout.
    let mut input = Vec::new();
    for i in 0..40 {
        input.extend_from_slice(format!("NOOP {i:04} {}\r\n", "x".repeat(40)).as_bytes());
    }
    input.extend_from_slice(b"QUIT\r\n");
    assert!(input.len() > 2048);
    let mut cmd = Command::new(RBLSMTPD);
    cmd.args(["-t", "60", "true"])
        .env("RBLSMTPD", "-go away")
        .env("TCPREMOTEIP", "1.2.3.4")
        .stderr(Stdio::null());
    // Everything, to the end of its output, well before the -t timeout.
    let out = output_while_open(&mut cmd, &input, 20.0, |_| false);
    let r = "250 rblsmtpd.local\r\n";
    assert_eq!(
        String::from_utf8_lossy(&out),
        format!(
            "220 rblsmtpd.local\r\n{}221 rblsmtpd.local\r\n",
            r.repeat(40)
        ),
        "every reply before the timeout"
    );
}

#[test]
fn rblsmtpd_dialogue_ends_after_the_timeout() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    // stdin stays open and silent: the dialogue ends after -t seconds.
    let start = Instant::now();
    let mut c = Command::new(RBLSMTPD)
        .args(["-t", "1", "true"])
        .env("RBLSMTPD", "go away")
        .env_remove("TCPREMOTEIP")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = c.stdin.take();
    let o = c.wait_with_output().unwrap();
    drop(stdin);
    let took = start.elapsed();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(o.stdout, b"220 rblsmtpd.local\r\n");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

/// `-t` is the original's `alarm(timeout)`: seconds modulo 2^32, and an
/// alarm of 0 is none. `-t 4294967297` ends a silent dialogue after one
/// second; `-t 18446744073709551615` (whose deadline overflowed ours, a
/// panic before the 220) and `-t 4294967296` keep the dialogue going.
#[test]
fn rblsmtpd_timeout_is_taken_modulo_2_32() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let start = Instant::now();
    let mut c = Command::new(RBLSMTPD)
        .args(["-t", "4294967297", "true"])
        .env("RBLSMTPD", "go away")
        .env_remove("TCPREMOTEIP")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = c.stdin.take();
    assert_eq!(exit_within(&mut c, 10.0), Some(0));
    drop(stdin);
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(900), "{took:?}");
    for t in ["18446744073709551615", "4294967296"] {
        let o = Command::new("sh")
            .args([
                "-c",
                "printf 'helo x\\r\\nquit\\r\\n' | \"$0\" -t \"$1\" true",
                RBLSMTPD,
                t,
            ])
            .env("RBLSMTPD", "go away")
            .env_remove("TCPREMOTEIP")
            .stderr(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "-t {t}");
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "220 rblsmtpd.local\r\n250 rblsmtpd.local\r\n221 rblsmtpd.local\r\n",
            "-t {t}"
        );
    }
}

#[test]
fn rblsmtpd_lists_in_dns() {
    let ns = loopback();
    dns_server_txt(
        ns,
        &[("2.0.0.127.white.example", [127, 0, 0, 2])],
        &[],
        &[(
            "2.0.0.127.rbl.example",
            &[b"Listed: see http://x/?ip=127.0.0.2", b"\x01ctl"],
        )],
    );
    let dns = ns.to_string();
    let env = |ip: &'static str| {
        vec![
            ("TCPREMOTEIP", ip),
            (
                "DNSCACHEIP",
                Box::leak(dns.clone().into_boxed_str()) as &str,
            ),
        ]
    };
    let listed = "451 Listed: see http://x/?ip=127.0.0.2?ctl";
    let (code, out, err) = pipe(
        RBLSMTPD,
        &["-r", "rbl.example", "echo", "smtpd"],
        SMTP,
        &env("127.0.0.2"),
    );
    assert_eq!((code, out), (0, dialogue(listed)));
    log_line(&err, "127.0.0.2", listed);
    // -b: 553.
    let (_, out, _) = pipe(
        RBLSMTPD,
        &["-b", "-r", "rbl.example", "-t0", "true"],
        b"",
        &env("127.0.0.2"),
    );
    assert_eq!(out, b"553 Listed: see http://x/?ip=127.0.0.2?ctl\r\n");
    // Not listed: the program runs.
    assert_eq!(
        pipe(
            RBLSMTPD,
            &["-r", "rbl.example", "echo", "ok"],
            b"",
            &env("127.0.0.3")
        )
        .1,
        b"ok\n"
    );
    // -a first: an allow list wins over a later -r.
    assert_eq!(
        pipe(
            RBLSMTPD,
            &["-a", "white.example", "-r", "rbl.example", "echo", "ok"],
            b"",
            &env("127.0.0.2")
        )
        .1,
        b"ok\n"
    );
    // $RBLSMTPD decides before any list.
    let mut e = env("127.0.0.3");
    e.push(("RBLSMTPD", "-go away"));
    assert_eq!(
        pipe(RBLSMTPD, &["-r", "rbl.example", "-t0", "true"], b"", &e).1,
        b"553 go away\r\n"
    );
    // A resolver that does not answer: fail open (-C) runs the program,
    // fail closed (-c) refuses with 451.
    let dead = vec![("TCPREMOTEIP", "127.0.0.2"), ("DNSCACHEIP", "127.0.78.250")];
    assert_eq!(
        pipe(RBLSMTPD, &["-r", "rbl.example", "echo", "ok"], b"", &dead).1,
        b"ok\n"
    );
    assert_eq!(
        pipe(
            RBLSMTPD,
            &["-c", "-r", "rbl.example", "-t0", "true"],
            b"",
            &dead
        )
        .1,
        b"451 temporary RBL lookup error\r\n"
    );
}

#[test]
fn shell_tools_installed_with_their_paths() {
    let t = TempDir::new("ucspi-scripts");
    let from = std::path::Path::new(ADDCR).parent().unwrap();
    let bin = install_toolkit(from, &t.join("prefix"), &[]);
    for s in ["mconnect", "tcpcat", "who@", "date@", "finger@", "http@"] {
        let text = std::fs::read_to_string(bin.join(s)).unwrap();
        assert!(text.starts_with("#!/bin/sh\n"));
        assert!(text.contains(&format!("bindir={}\n", bin.display())), "{s}");
    }
    let b = |s: &str| bin.join(s).to_str().unwrap().to_string();
    // A server on an ephemeral port stands for each service.
    let serve = |prog: &[&str]| {
        let mut args = vec!["-R", "-H", "-l0", "127.0.0.1", "0"];
        args.extend_from_slice(prog);
        server(&args, &[], &t)
    };
    let s = serve(&["sh", "-c", "printf 'line one\\r\\nline\\001two\\r\\n'"]);
    let port = s.port.to_string();
    let o = run(&b("tcpcat"), &["127.0.0.1", &port], t.path());
    assert_eq!(o, Out::new(0, "line one\r\nline\u{1}two\r\n", ""));
    // mconnect: stdin goes out with CRLF, the reply comes back.
    let s = serve(&["sh", "-c", "echo 220 hi; head -n 2 | od -An -c | tr -s ' '"]);
    let port = s.port.to_string();
    let (code, out, _) = pipe(
        &b("mconnect"),
        &["127.0.0.1", &port],
        b"HELO x\nQUIT\n",
        &[],
    );
    assert_eq!(code, 0);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "220 hi\n H E L O x \\r \\n Q U I T \\r \\n\n"
    );
    let _ = SocketAddr::from(([127, 0, 0, 1], 0));

    // who@, date@, finger@, http@ use their fixed ports: servers on a
    // loopback address of their own (binding ports below 1024 needs root,
    // as in CI).
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let host = "127.0.79.1";
    let fixed = |port: &str, prog: &[&str]| {
        let mut args = vec!["-R", "-H", "-l0", host, port];
        args.extend_from_slice(prog);
        server(&args, &[], &t)
    };
    let _who = fixed("11", &["printf", "root tty1\\r\\nbell\\001\\r\\n"]);
    assert_eq!(
        run(&b("who@"), &[host], t.path()),
        Out::new(0, "root tty1\nbell^A\n", "")
    );
    let _date = fixed("13", &["printf", "Sat Nov 21\\r\\n"]);
    assert_eq!(
        run(&b("date@"), &[host], t.path()),
        Out::new(0, "Sat Nov 21\n", "")
    );
    let _finger = fixed("79", &["sh", "-c", "read u; printf 'user=%s\\r\\n' \"$u\" | od -c | head -n 1 >/dev/null; printf 'asked [%s]\\r\\n' \"$u\""]);
    assert_eq!(
        run(&b("finger@"), &[host, "joe"], t.path()),
        Out::new(0, "asked [joe^M]\n", "")
    );
    let _http = fixed(
        "80",
        &[
            "sh",
            "-c",
            "read req; printf 'HTTP/1.0 200 OK\\r\\nX: y\\r\\n\\r\\nbody for %s\\r\\n' \"$req\"",
        ],
    );
    let o = run(&b("http@"), &[host, "index.html"], t.path());
    assert_eq!(o, Out::new(0, "body for GET /index.html HTTP/1.0\r\n", ""));
}

/// rblsmtpd whose client descriptor is non-blocking and empty for now: the
/// read's EAGAIN is not the client's end. Ours waits for the client's
/// line and answers it (the C one ended the dialogue after its greeting).
#[test]
fn rblsmtpd_waits_on_a_non_blocking_client() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let flags = nix::fcntl::fcntl(&r, nix::fcntl::FcntlArg::F_GETFL).unwrap();
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&r, nix::fcntl::FcntlArg::F_SETFL(flags)).unwrap();
    let mut c = Command::new(RBLSMTPD)
        .arg("true")
        .env_remove("TCPREMOTEIP")
        .env("RBLSMTPD", "blocked")
        .stdin(Stdio::from(r))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The greeting first; then the client speaks.
    let mut out = c.stdout.take().unwrap();
    let mut greeting = [0u8; 20];
    out.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"220 rblsmtpd.local\r\n");
    assert_eq!(c.try_wait().unwrap(), None, "rblsmtpd ended on EAGAIN");
    let mut w = std::fs::File::from(w);
    w.write_all(b"HELO x\r\nQUIT\r\n").unwrap();
    drop(w);
    let mut rest = Vec::new();
    out.read_to_end(&mut rest).unwrap();
    assert_eq!(exit_within(&mut c, 10.0), Some(0));
    assert_eq!(
        String::from_utf8(rest).unwrap(),
        "250 rblsmtpd.local\r\n221 rblsmtpd.local\r\n"
    );
}
