//! tcprules and tcprulescheck: byte-identical databases against golden files
//! made with the C tcprules (tests/data/*.cdb, committed), bad lines, the
//! lookup order.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use testutil::*;

const TCPRULES: &str = env!("CARGO_BIN_EXE_tcprules");
const TCPRULESCHECK: &str = env!("CARGO_BIN_EXE_tcprulescheck");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn compile(dir: &Path, input: &[u8]) -> Out {
    let mut c = Command::new(TCPRULES)
        .args(["rules.cdb", "rules.tmp"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(input).unwrap();
    let o = c.wait_with_output().unwrap();
    Out {
        code: o.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn check(dir: &Path, env: &[(&str, &str)]) -> Out {
    let o = Command::new(TCPRULESCHECK)
        .arg("rules.cdb")
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    Out {
        code: o.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[test]
fn byte_identical_to_the_c_tcprules() {
    let t = TempDir::new("tr-golden");
    for name in ["forms", "many"] {
        let input = fs::read(format!("{DATA}/{name}.rules")).unwrap();
        assert_eq!(compile(t.path(), &input), Out::new(0, "", ""));
        let got = fs::read(t.join("rules.cdb")).unwrap();
        let want = fs::read(format!("{DATA}/{name}.cdb")).unwrap();
        assert!(
            got == want,
            "{name}.cdb differs from the C tcprules' output"
        );
        assert!(!t.join("rules.tmp").exists());
    }
    // An empty rules file: a valid, empty database of 2048 bytes.
    assert_eq!(compile(t.path(), b""), Out::new(0, "", ""));
    assert_eq!(fs::read(t.join("rules.cdb")).unwrap().len(), 2048);
    assert_eq!(
        check(t.path(), &[("TCPREMOTEIP", "1.2.3.4")]),
        Out::new(0, "default:\nallow connection\n", "")
    );
}

#[test]
fn usage_and_bad_lines_keep_the_old_database() {
    let t = TempDir::new("tr-bad");
    assert_eq!(
        run(TCPRULES, &["x"], t.path()),
        Out::new(100, "", "tcprules: usage: tcprules rules.cdb rules.tmp\n")
    );
    assert_eq!(
        run::<&str>(TCPRULESCHECK, &[], t.path()),
        Out::new(100, "", "tcprulescheck: usage: tcprulescheck rules.cdb\n")
    );
    assert_eq!(compile(t.path(), b"1.2.3.4:allow\n"), Out::new(0, "", ""));
    let good = fs::read(t.join("rules.cdb")).unwrap();
    for (line, shown) in [
        ("1.2.3.4:denied\n", "1.2.3.4:denied"),
        ("1.2.3.4:allow ,X=\"y\"  \t\n", "1.2.3.4:allow ,X=\"y\""),
        ("1.2.3.4:allow,X\n", "1.2.3.4:allow,X"),
        ("1.2.3.4:allow,X=\n", "1.2.3.4:allow,X="),
        ("1.2.3.4:allow,X=\"open\n", "1.2.3.4:allow,X=\"open"),
        ("1-2-3:allow\n", "1-2-3:allow"),
        ("a-b:deny\n", "a-b:deny"),
    ] {
        let input = format!("5.6.7.8:deny\n{line}9.9.9.9:allow\n");
        assert_eq!(
            compile(t.path(), input.as_bytes()),
            Out::new(
                100,
                "",
                &format!("tcprules: fatal: unable to parse this line: {shown}\n")
            ),
            "{line:?}"
        );
        assert_eq!(
            fs::read(t.join("rules.cdb")).unwrap(),
            good,
            "old database kept"
        );
    }
    // A temporary file that cannot be created.
    let o = Command::new(TCPRULES)
        .args(["rules.cdb", "nodir/rules.tmp"])
        .current_dir(t.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "tcprules: fatal: unable to create nodir/rules.tmp: file does not exist\n"
    );
    // A target that cannot be replaced.
    fs::create_dir(t.join("dir.cdb")).unwrap();
    fs::create_dir(t.join("dir.cdb/x")).unwrap();
    let o = Command::new(TCPRULES)
        .args(["dir.cdb", "rules.tmp"])
        .current_dir(t.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "tcprules: fatal: unable to move rules.tmp to dir.cdb: is a directory\n"
    );
}

#[test]
fn ipv6_keys_and_no_infinite_loop() {
    let t = TempDir::new("tr-v6");
    let input = b"::1:allow,V=\"six\"\n2001:db8::allow\n2001:db9:allow\nno colon at all\n";
    assert_eq!(compile(t.path(), input), Out::new(0, "", ""));
    assert_eq!(
        check(t.path(), &[("TCPREMOTEIP", "::1")]),
        Out::new(
            0,
            "rule ::1:\nset environment variable V=six\nallow connection\n",
            ""
        )
    );
    assert_eq!(
        check(t.path(), &[("TCPREMOTEIP", "2001:db8::2")]),
        Out::new(0, "rule 2001:db8::\nallow connection\n", "")
    );
    assert_eq!(
        check(t.path(), &[("TCPREMOTEIP", "2001:db9::2")]),
        Out::new(0, "default:\nallow connection\n", "")
    );
}

#[test]
fn lookup_order_with_the_spec_examples() {
    let t = TempDir::new("tr-check");
    fs::copy(format!("{DATA}/forms.cdb"), t.join("rules.cdb")).unwrap();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("TCPREMOTEIP", "1.2.3.38")], "rule 1.2.3.38:\nset environment variable A=x\nallow connection\n"),
        (
            &[("TCPREMOTEIP", "127.0.0.1"), ("TCPREMOTEINFO", "bill"), ("TCPREMOTEHOST", "foo.bar")],
            "rule bill@=foo.bar:\ndeny connection\n",
        ),
        (&[("TCPREMOTEIP", "127.0.0.1"), ("TCPREMOTEINFO", "joe")], "rule joe@127.0.0.1:\nallow connection\n"),
        (&[("TCPREMOTEIP", "127.0.0.1")], "rule 127.:\nset environment variable RELAYCLIENT=\nallow connection\n"),
        (
            &[("TCPREMOTEIP", "9.9.9.9"), ("TCPREMOTEHOST", "x.example.com")],
            "rule =.example.com:\nset environment variable X=a\"b\nallow connection\n",
        ),
        (
            &[("TCPREMOTEIP", "9.9.9.9"), ("TCPREMOTEHOST", "host.example.com")],
            "rule =host.example.com:\nset environment variable RELAYCLIENT=\nset environment variable TCPLOCALHOST=movie.edu\nallow connection\n",
        ),
        (&[("TCPREMOTEIP", "10.3.0.1")], "rule 10.3.:\ndeny connection\n"),
        (&[("TCPREMOTEIP", "1.2.3.4")], "rule 1.2.3.4:\nset environment variable X=b\nallow connection\n"),
        (&[("TCPREMOTEIP", "1.2.3.1")], "rule 1.2.3.1:\nallow connection\n"),
        // The leading space is part of the key: no match, the empty key.
        (&[("TCPREMOTEIP", "192.168.1.1")], "rule :\ndeny connection\n"),
        (&[], "rule :\ndeny connection\n"),
        // INFO set but empty still counts.
        (&[("TCPREMOTEIP", "1.2.3.38"), ("TCPREMOTEINFO", "")], "rule 1.2.3.38:\nset environment variable A=x\nallow connection\n"),
    ];
    for (env, out) in cases {
        assert_eq!(check(t.path(), env), Out::new(0, out, ""), "{env:?}");
    }
    // Unreadable databases.
    assert_eq!(
        run(TCPRULESCHECK, &["missing.cdb"], t.path()),
        Out::new(
            111,
            "",
            "tcprulescheck: fatal: unable to read missing.cdb: file does not exist\n"
        )
    );
    fs::write(t.join("garbage.cdb"), "not a database\n").unwrap();
    assert_eq!(
        run(TCPRULESCHECK, &["garbage.cdb"], t.path()),
        Out::new(
            111,
            "",
            "tcprulescheck: fatal: unable to read garbage.cdb: protocol error\n"
        )
    );
}

#[test]
fn tcprulescheck_on_a_fifo_or_an_endless_file_ends_at_once() {
    let t = TempDir::new("rules-special");
    nix::unistd::mkfifo(
        &t.join("r.cdb"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    assert_eq!(
        run_within(10.0, TCPRULESCHECK, &["r.cdb"], t.path(), None),
        Out::new(
            111,
            "",
            "tcprulescheck: fatal: unable to read r.cdb: unseekable descriptor\n"
        )
    );
    // /dev/zero reads as a database of empty tables: nothing matches, and
    // only the records a lookup needs are read (not the endless file).
    assert_eq!(
        run_within(10.0, TCPRULESCHECK, &["/dev/zero"], t.path(), None),
        Out::new(0, "default:\nallow connection\n", "")
    );
}

#[test]
fn random_rules_compile_or_are_refused_leaving_the_old_database() {
    // Random lines close to the grammar, with a fixed seed: tcprules
    // compiles them (and tcprulescheck reads the result), or refuses with
    // its fatal line and exit 100, the old database untouched.
    let t = TempDir::new("rules-random");
    let old = b"127.:allow\n";
    let o = run_input(TCPRULES, &["r.cdb", "r.tmp"], old, t.path(), &[], &[]);
    assert_eq!(o.0, 0);
    let before = fs::read(t.join("r.cdb")).unwrap();
    let mut r = Rand::new(0x5eed_0201);
    let alphabet: &[u8] = b"0123456789.:-=@,\"'+ #abdelnowxyXZ\n";
    for _ in 0..cases(150) {
        let n = r.below(120);
        let input = r.from(alphabet, n);
        let (code, out, err) = run_input(
            TCPRULES,
            &["new.cdb", "new.tmp"],
            &input,
            t.path(),
            &[],
            &[],
        );
        assert!(out.is_empty());
        let err = String::from_utf8_lossy(&err);
        match code {
            0 => {
                assert_eq!(err, "");
                let c = run_within(10.0, TCPRULESCHECK, &["new.cdb"], t.path(), None);
                assert_eq!(c.code, 0, "{}", c.stderr);
            }
            100 => assert!(
                err.starts_with("tcprules: fatal: unable to parse this line: "),
                "{err}"
            ),
            c => panic!("exit {c}: {err}"),
        }
        // Refused input leaves the database it would have replaced as it was.
        let (code, _, _) = run_input(TCPRULES, &["r.cdb", "r.tmp"], &input, t.path(), &[], &[]);
        if code != 0 {
            assert_eq!(fs::read(t.join("r.cdb")).unwrap(), before);
        } else {
            let (code, _, _) = run_input(TCPRULES, &["r.cdb", "r.tmp"], old, t.path(), &[], &[]);
            assert_eq!(code, 0);
        }
    }
}
