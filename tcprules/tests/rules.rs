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

/// A failed compile left `dir/rules.cdb` as `good` and removed rules.tmp.
fn old_database_kept(dir: &Path, good: &[u8]) {
    assert_eq!(
        fs::read(dir.join("rules.cdb")).unwrap(),
        good,
        "old database kept"
    );
    assert!(!dir.join("rules.tmp").exists(), "temporary file removed");
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
        // Shown as the original shows it: up to the first NUL byte.
        ("1.2.3.4:allow,X\0y\n", "1.2.3.4:allow,X"),
        ("1.2.3.4:deny\0x\n", "1.2.3.4:deny"),
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
        old_database_kept(t.path(), &good);
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
    assert!(!t.join("rules.tmp").exists(), "temporary file removed");
    // The database as its own temporary file (it works when every line is
    // good): a bad line leaves the file there, never none, which
    // `tcpserver -X` would take for no rules at all.
    let same = |input: &[u8]| {
        run_within(
            10.0,
            TCPRULES,
            &["same.cdb", "same.cdb"],
            t.path(),
            Some(input),
        )
    };
    assert_eq!(same(b"1.2.3.4:deny\n"), Out::new(0, "", ""));
    assert_eq!(same(b"1.2.3.4:denied\n").code, 100);
    assert!(t.join("same.cdb").is_file());
}

#[test]
fn a_full_disk_keeps_the_old_database_and_gives_the_space_back() {
    // In a private mount namespace (root, as in CI): a small tmpfs, nearly
    // full, and rules that do not fit. The C tcprules says the same line
    // and keeps the old database, but leaves its partial rules.tmp filling
    // the disk; ours removes it.
    let t = TempDir::new("tr-full");
    let mut rules = String::new();
    for i in 0..3000 {
        rules.push_str(&format!(
            "10.{}.{}.7:allow,X=\"{}\"\n",
            i % 256,
            i / 256,
            "y".repeat(20)
        ));
    }
    fs::write(t.join("big.txt"), rules).unwrap();
    fs::create_dir(t.join("mnt")).unwrap();
    let script = r#"set -e
mount -t tmpfs -o size=64k tmpfs "$T/mnt"
cd "$T/mnt"
echo '1.2.3.4:allow' | "$1" rules.cdb rules.tmp
cp rules.cdb old.cdb
dd if=/dev/zero of=filler bs=1k count=100 2>/dev/null || true
for bin in "$1" "$2"; do
    if "$bin" rules.cdb rules.tmp < "$T/big.txt" 2> "$T/err"; then exit 1; else echo "exit $?"; fi
    cat "$T/err"
    cmp -s rules.cdb old.cdb && echo "old database kept"
    if [ -e rules.tmp ]; then echo "rules.tmp left"; rm rules.tmp; fi
done
"#;
    let c = reference_bin("tcprules");
    let o = Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            TCPRULES,
        ])
        .arg(&c)
        .env("T", t.path())
        .output()
        .unwrap();
    let line = "tcprules: fatal: unable to write to rules.tmp: out of disk space\n";
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("exit 111\n{line}old database kept\nexit 111\n{line}old database kept\nrules.tmp left\n"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success());
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
fn tcprulescheck_on_a_fifo_a_device_or_an_empty_file_fails_at_once_as_the_original() {
    // The original maps the database; a mapping of size 0 fails, and it
    // says "invalid argument". A FIFO or a device has size 0, so none is
    // read (no hang on the FIFO, no endless read of /dev/zero, which read
    // as a file would be a database of empty tables allowing everything).
    // A short file is corrupt: "protocol error".
    let t = TempDir::new("rules-special");
    nix::unistd::mkfifo(
        &t.join("fifo.cdb"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    fs::write(t.join("empty.cdb"), "").unwrap();
    fs::write(t.join("short.cdb"), "not a database\n").unwrap();
    let c = reference_bin("tcprulescheck");
    for (file, reason) in [
        ("fifo.cdb", "invalid argument"),
        ("empty.cdb", "invalid argument"),
        ("/dev/zero", "invalid argument"),
        ("/dev/null", "invalid argument"),
        ("short.cdb", "protocol error"),
    ] {
        let want = Out::new(
            111,
            "",
            &format!("tcprulescheck: fatal: unable to read {file}: {reason}\n"),
        );
        assert_eq!(
            run_within(10.0, TCPRULESCHECK, &[file], t.path(), None),
            want,
            "{file}"
        );
        assert_eq!(
            run_within(10.0, c.to_str().unwrap(), &[file], t.path(), None),
            want,
            "{file}: the C tcprulescheck"
        );
    }
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

/// The records of a CDB in file order, decoded here independently of
/// common::cdb: (key, value).
fn records(cdb: &[u8]) -> Vec<(String, Vec<u8>)> {
    let u32_at = |p: usize| u32::from_le_bytes(cdb[p..p + 4].try_into().unwrap()) as usize;
    // The first table starts where the records end.
    let end = (0..256).map(|i| u32_at(i * 8)).min().unwrap();
    let mut out = Vec::new();
    let mut p = 2048;
    while p < end {
        let (kl, dl) = (u32_at(p), u32_at(p + 4));
        let key = String::from_utf8(cdb[p + 8..p + 8 + kl].to_vec()).unwrap();
        out.push((key, cdb[p + 8 + kl..p + 8 + kl + dl].to_vec()));
        p += 8 + kl + dl;
    }
    out
}

#[test]
fn cidr_lines_make_the_originals_keys() {
    let t = TempDir::new("tr-cidr-keys");
    let input = "10.0.0.0/8:deny\n172.16.0.0/12:allow\n192.168.0.0/16:allow,A=\"16\"\n\
                 10.1.16.0/20:allow\n10.9.8.0/24:deny\n192.168.1.32/27:allow\n\
                 10.9.9.9/32:allow\n0.0.0.0/0:deny\n";
    assert_eq!(compile(t.path(), input.as_bytes()), Out::new(0, "", ""));
    let got = records(&fs::read(t.join("rules.cdb")).unwrap());
    let origin =
        |line: u32, a: &str| format!("#{line}/{}\0", a.split('/').nth(1).unwrap()).into_bytes();
    let mut want: Vec<(String, Vec<u8>)> = vec![(
        "10.".into(),
        [b"D\0".to_vec(), origin(1, "10.0.0.0/8")].concat(),
    )];
    for n in 16..=31 {
        want.push((format!("172.{n}."), origin(2, "172.16.0.0/12")));
    }
    want.push((
        "192.168.".into(),
        [b"+A=16\0".to_vec(), origin(3, "192.168.0.0/16")].concat(),
    ));
    for n in 16..=31 {
        want.push((format!("10.1.{n}."), origin(4, "10.1.16.0/20")));
    }
    want.push((
        "10.9.8.".into(),
        [b"D\0".to_vec(), origin(5, "10.9.8.0/24")].concat(),
    ));
    for n in 32..=63 {
        want.push((format!("192.168.1.{n}"), origin(6, "192.168.1.32/27")));
    }
    want.push(("10.9.9.9".into(), origin(7, "10.9.9.9/32")));
    want.push((
        "".into(),
        [b"D\0".to_vec(), origin(8, "0.0.0.0/0")].concat(),
    ));
    assert_eq!(got, want);
}

/// tcprulescheck's answer without our `from line` lines.
fn answer(bin: &str, dir: &Path, ip: &str) -> String {
    let o = Command::new(bin)
        .arg("rules.cdb")
        .current_dir(dir)
        .env_clear()
        .env("TCPREMOTEIP", ip)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{bin} {ip}");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with("from line "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A NUL byte in a name or value splits the stored entry: what follows it
/// is an entry of its own, and a `+NAME` without `=` is shown verbatim, as
/// the C tcprulescheck shows it (a server ignores it).
#[test]
fn entries_split_by_a_nul_byte_are_shown_as_the_original_shows_them() {
    let t = TempDir::new("tr-nul");
    let rules = b"1.2.3.4:allow,A=\"x\0y\",B\0C=\"z\",D=\"q\"\n5.6.7.8:deny,E=\"1\"\n";
    assert_eq!(compile(t.path(), rules), Out::new(0, "", ""));
    let want = "rule 1.2.3.4:\nset environment variable A=x\nset environment variable B\n\
                set environment variable D=q\nallow connection\n";
    assert_eq!(answer(TCPRULESCHECK, t.path(), "1.2.3.4"), want);
    let c_check = reference_bin("tcprulescheck");
    for ip in ["1.2.3.4", "5.6.7.8", "9.9.9.9"] {
        assert_eq!(
            answer(TCPRULESCHECK, t.path(), ip),
            answer(c_check.to_str().unwrap(), t.path(), ip),
            "{ip}"
        );
    }
}

#[test]
fn the_c_tcprulescheck_reads_cidr_rules_as_ours_does() {
    let t = TempDir::new("tr-cidr-c");
    let c_check = reference_bin("tcprulescheck");
    let c_check = c_check.to_str().unwrap();
    // Every block, and an address just inside and just outside each end.
    let blocks = [
        (
            "10.0.0.0/8",
            "10.0.0.0",
            "10.255.255.255",
            "9.255.255.255",
            "11.0.0.0",
        ),
        (
            "172.16.0.0/12",
            "172.16.0.0",
            "172.31.255.255",
            "172.15.255.255",
            "172.32.0.0",
        ),
        (
            "192.168.0.0/16",
            "192.168.0.0",
            "192.168.255.255",
            "192.167.255.255",
            "192.169.0.0",
        ),
        (
            "100.64.16.0/20",
            "100.64.16.0",
            "100.64.31.255",
            "100.64.15.255",
            "100.64.32.0",
        ),
        (
            "198.51.100.0/24",
            "198.51.100.0",
            "198.51.100.255",
            "198.51.99.255",
            "198.51.101.0",
        ),
        (
            "203.0.113.32/27",
            "203.0.113.32",
            "203.0.113.63",
            "203.0.113.31",
            "203.0.113.64",
        ),
        (
            "203.0.113.200/32",
            "203.0.113.200",
            "203.0.113.200",
            "203.0.113.199",
            "203.0.113.201",
        ),
    ];
    let mut input = String::new();
    for (i, b) in blocks.iter().enumerate() {
        input.push_str(&format!("{}:allow,BLOCK=\"{i}\"\n", b.0));
    }
    assert_eq!(compile(t.path(), input.as_bytes()), Out::new(0, "", ""));
    let mut checked = 0;
    for (i, b) in blocks.iter().enumerate() {
        for (ip, inside) in [(b.1, true), (b.2, true), (b.3, false), (b.4, false)] {
            let ours = answer(TCPRULESCHECK, t.path(), ip);
            assert_eq!(ours, answer(c_check, t.path(), ip), "{ip}");
            if inside {
                assert!(ours.contains(&format!("BLOCK={i}\n")), "{ip}: {ours}");
            } else {
                assert!(!ours.contains(&format!("BLOCK={i}\n")), "{ip}: {ours}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 28);
    // /0: every address, for both.
    assert_eq!(compile(t.path(), b"0.0.0.0/0:deny\n"), Out::new(0, "", ""));
    for ip in ["1.2.3.4", "255.255.255.255"] {
        assert_eq!(
            answer(TCPRULESCHECK, t.path(), ip),
            "rule :\ndeny connection\n"
        );
        assert_eq!(answer(c_check, t.path(), ip), "rule :\ndeny connection\n");
    }
}

#[test]
fn overlapping_cidr_rules_the_more_specific_wins_ties_by_line_order() {
    let t = TempDir::new("tr-cidr-overlap");
    let input = "10.1.16.0/20:deny\n10.1.20.0/22:allow,W=\"22\"\n10.1.20.0/24:allow,W=\"24\"\n\
                 10.1.20.0/22:allow,W=\"second 22\"\n10.1.21.:allow,W=\"plain\"\n";
    assert_eq!(compile(t.path(), input.as_bytes()), Out::new(0, "", ""));
    let ck = |ip: &str| check(t.path(), &[("TCPREMOTEIP", ip)]).stdout;
    assert_eq!(
        ck("10.1.20.7"),
        "rule 10.1.20.:\nfrom line 3: 10.1.20.0/24\nset environment variable W=24\nallow connection\n"
    );
    assert_eq!(
        ck("10.1.22.7"),
        "rule 10.1.22.:\nfrom line 2: 10.1.20.0/22\nset environment variable W=22\nallow connection\n"
    );
    // A plain a.b.c. line is a /24: more specific than the /22.
    assert_eq!(
        ck("10.1.21.7"),
        "rule 10.1.21.:\nset environment variable W=plain\nallow connection\n"
    );
    assert_eq!(
        ck("10.1.17.7"),
        "rule 10.1.17.:\nfrom line 1: 10.1.16.0/20\ndeny connection\n"
    );
    // Without CIDR lines, duplicates keep line order: the first wins.
    assert_eq!(
        compile(t.path(), b"1.2.3.:deny\n1.2.3.:allow\n"),
        Out::new(0, "", "")
    );
    assert_eq!(ck("1.2.3.4"), "rule 1.2.3.:\ndeny connection\n");
    // `:` is as specific as `0.0.0.0/0`: the earlier line wins, either way
    // round (a plain `:` used to win over an earlier /0).
    for (text, want) in [
        (":deny\n0.0.0.0/0:allow\n", "rule :\ndeny connection\n"),
        (
            "0.0.0.0/0:allow\n:deny\n",
            "rule :\nfrom line 1: 0.0.0.0/0\nallow connection\n",
        ),
    ] {
        assert_eq!(compile(t.path(), text.as_bytes()), Out::new(0, "", ""));
        assert_eq!(ck("1.2.3.4"), want, "{text}");
    }
}

#[test]
fn ipv6_cidr_rules() {
    let t = TempDir::new("tr-cidr-v6");
    let input = "2001:db8::/48:deny\n2001:db8:0:1::/64:allow,N=\"64\"\n\
                 2001:db8:0:1::5/128:allow,N=\"128\"\n2001:db8:0:2::/64:allow,N=\"other\"\n";
    assert_eq!(compile(t.path(), input.as_bytes()), Out::new(0, "", ""));
    let ck = |ip: &str| answer(TCPRULESCHECK, t.path(), ip);
    assert_eq!(
        ck("2001:db8:0:1::5"),
        format!(
            "rule ^{}:\nset environment variable N=128\nallow connection\n",
            bits("2001:db8:0:1::5", 128)
        )
    );
    assert_eq!(
        ck("2001:db8:0:1::6"),
        format!(
            "rule ^{}:\nset environment variable N=64\nallow connection\n",
            bits("2001:db8:0:1::", 64)
        )
    );
    assert_eq!(
        ck("2001:db8:0:ff::1"),
        format!("rule ^{}:\ndeny connection\n", bits("2001:db8::", 48))
    );
    assert_eq!(ck("2001:db9::1"), "default:\nallow connection\n");
    // IPv4 clients never see them.
    assert_eq!(ck("1.2.3.4"), "default:\nallow connection\n");
    // The lengths record.
    let recs = records(&fs::read(t.join("rules.cdb")).unwrap());
    assert_eq!(
        recs.last().unwrap(),
        &("^/".to_string(), b"128,64,48".to_vec())
    );
}

/// The first `len` bits of an IPv6 address as 0/1.
fn bits(ip: &str, len: usize) -> String {
    let o = ip.parse::<std::net::Ipv6Addr>().unwrap().octets();
    (0..len)
        .map(|i| {
            if o[i / 8] >> (7 - i % 8) & 1 == 1 {
                '1'
            } else {
                '0'
            }
        })
        .collect()
}

#[test]
fn bad_prefixes_are_bad_lines_and_keep_the_old_database() {
    let t = TempDir::new("tr-cidr-bad");
    assert_eq!(
        compile(t.path(), b"1.2.3.0/24:allow\n"),
        Out::new(0, "", "")
    );
    let good = fs::read(t.join("rules.cdb")).unwrap();
    for line in [
        "10.1.2.0/33:allow",
        "10.1.2.1/24:deny",
        "10.1.2.0/:allow",
        "10.1.2/24:allow",
        "2001:db8::1/64:deny",
        "2001:db8::/129:deny",
    ] {
        let input = format!("5.6.7.0/24:deny\n{line}\n");
        assert_eq!(
            compile(t.path(), input.as_bytes()),
            Out::new(
                100,
                "",
                &format!("tcprules: fatal: unable to parse this line: {line}\n")
            ),
            "{line}"
        );
        assert_eq!(fs::read(t.join("rules.cdb")).unwrap(), good);
    }
}

#[test]
fn a_fifo_as_the_temporary_file_fails_at_once_as_the_original() {
    // open_trunc is non-blocking: a FIFO without a reader is ENXIO, and the
    // old database stays.
    let t = TempDir::new("rules-tmp-fifo");
    fs::write(t.join("r.cdb"), b"old").unwrap();
    nix::unistd::mkfifo(
        &t.join("r.tmp"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let want = Out::new(
        111,
        "",
        "tcprules: fatal: unable to create r.tmp: device not configured\n",
    );
    let ours = run_within(
        10.0,
        TCPRULES,
        &["r.cdb", "r.tmp"],
        t.path(),
        Some(b":allow\n"),
    );
    assert_eq!(ours, want);
    let c = reference_bin("tcprules");
    let theirs = run_within(
        10.0,
        c.to_str().unwrap(),
        &["r.cdb", "r.tmp"],
        t.path(),
        Some(b":allow\n"),
    );
    assert_eq!(theirs, want, "the C tcprules");
    assert_eq!(fs::read(t.join("r.cdb")).unwrap(), b"old");
}

#[test]
fn input_that_cannot_be_read_keeps_the_old_database() {
    let t = TempDir::new("tr-unread");
    assert_eq!(compile(t.path(), b"1.2.3.4:allow\n"), Out::new(0, "", ""));
    let good = fs::read(t.join("rules.cdb")).unwrap();
    // Descriptor 0 open for writing only (read gives EBADF, which must not
    // pass for end of input) and a directory (EISDIR).
    let wo = fs::File::create(t.join("wo")).unwrap();
    for (input, reason) in [
        (Stdio::from(wo), "file descriptor not open"),
        (
            Stdio::from(fs::File::open(t.path()).unwrap()),
            "is a directory",
        ),
    ] {
        let o = Command::new(TCPRULES)
            .args(["rules.cdb", "rules.tmp"])
            .current_dir(t.path())
            .stdin(input)
            .output()
            .unwrap();
        assert_eq!(
            (o.status.code(), String::from_utf8_lossy(&o.stderr).as_ref()),
            (
                Some(111),
                format!("tcprules: fatal: unable to read input: {reason}\n").as_str()
            )
        );
        old_database_kept(t.path(), &good);
    }
    // Descriptor 0 closed (`<&-`): the same, where the /dev/null that the
    // Rust runtime puts in its place would compile to an empty database.
    let o = Command::new("sh")
        .args(["-c", "exec \"$0\" rules.cdb rules.tmp <&-", TCPRULES])
        .current_dir(t.path())
        .output()
        .unwrap();
    assert_eq!(
        (o.status.code(), String::from_utf8_lossy(&o.stderr).as_ref()),
        (
            Some(111),
            "tcprules: fatal: unable to read input: file descriptor not open\n"
        )
    );
    old_database_kept(t.path(), &good);
}

#[test]
fn a_line_too_long_for_the_memory_left_is_a_read_error_and_keeps_the_old_database() {
    let t = TempDir::new("tr-longline");
    assert_eq!(compile(t.path(), b"1.2.3.4:allow\n"), Out::new(0, "", ""));
    let good = fs::read(t.join("rules.cdb")).unwrap();
    // One line with no end, under a 200 MB address space: the original's
    // getln fails, "unable to read input: out of memory".
    let mut c = Command::new("sh")
        .args([
            "-c",
            &format!("ulimit -v 200000 && exec {TCPRULES} rules.cdb rules.tmp"),
        ])
        .current_dir(t.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = c.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 20];
        // Up to 400 MB, or until tcprules has gone (a broken pipe).
        for _ in 0..400 {
            if input.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let o = c.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert_eq!(
        (o.status.code(), String::from_utf8_lossy(&o.stderr).as_ref()),
        (
            Some(111),
            "tcprules: fatal: unable to read input: out of memory\n"
        )
    );
    old_database_kept(t.path(), &good);
}

/// The line of a tcprulescheck answer that sets `L`, the number of the
/// rule line that matched in the random rule sets below.
fn line_set(answer: &str) -> Option<String> {
    answer
        .lines()
        .find(|l| l.starts_with("set environment variable L="))
        .map(|l| format!("{l}\n"))
}

/// Random IPv4 rule sets, CIDR blocks of every length from /0 to /32 and
/// plain `a.`, `a.b.`, `a.b.c.` and address lines, over a small part of the
/// address space so that they overlap; every address tried gets the rule
/// of the most specific block that holds it, the earlier line among
/// equally specific ones (docs/rules.md): a model of that decides, and
/// ours and the C tcprulescheck, reading the same database, answer it.
#[test]
fn random_ipv4_blocks_give_the_most_specific_rule_to_ours_and_the_c_tcprulescheck() {
    let t = TempDir::new("tr-cidr-random");
    let c_check = reference_bin("tcprulescheck");
    let c_check = c_check.to_str().unwrap();
    let mut r = Rand::new(0xc1d4);
    // An address in 10.0-1.0-3.0-255, as a number.
    let addr = |r: &mut Rand| {
        u32::from_be_bytes([10, r.below(2) as u8, r.below(4) as u8, r.below(256) as u8])
    };
    let quad = |a: u32| {
        let b = a.to_be_bytes();
        format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
    };
    let mask = |len: u32| if len == 0 { 0 } else { u32::MAX << (32 - len) };
    for case in 0..cases(15) {
        // (network, length) per line; the line's rule sets L to its number.
        let mut blocks = Vec::new();
        let mut text = String::new();
        for line in 1..=(2 + r.below(12)) {
            let len = [0, 8, 12, 15, 16, 20, 22, 23, 24, 25, 27, 30, 31, 32][r.below(14)];
            let net = addr(&mut r) & mask(len);
            let b = net.to_be_bytes();
            let written = match (r.below(3), len) {
                // The plain forms of the octet lengths.
                (0, 0) => String::new(),
                (0, 8) => format!("{}.", b[0]),
                (0, 16) => format!("{}.{}.", b[0], b[1]),
                (0, 24) => format!("{}.{}.{}.", b[0], b[1], b[2]),
                (0, 32) => quad(net),
                _ => format!("{}/{len}", quad(net)),
            };
            text.push_str(&format!("{written}:allow,L=\"{line}\"\n"));
            blocks.push((net, len, line));
        }
        assert_eq!(
            compile(t.path(), text.as_bytes()),
            Out::new(0, "", ""),
            "{text}"
        );
        for _ in 0..20 {
            let ip = match r.below(2) {
                0 => addr(&mut r),
                _ => {
                    let (net, len, _) = blocks[r.below(blocks.len())];
                    net | (r.next_u64() as u32 & !mask(len))
                }
            };
            let want = blocks
                .iter()
                .filter(|&&(net, len, _)| ip & mask(len) == net)
                .max_by_key(|&&(_, len, line)| (len, std::cmp::Reverse(line)))
                .map(|&(_, _, line)| format!("set environment variable L={line}\n"));
            for bin in [TCPRULESCHECK, c_check] {
                let got = answer(bin, t.path(), &quad(ip));
                let env_line = line_set(&got);
                assert_eq!(
                    env_line,
                    want,
                    "case {case}, {bin}, {}: {got}\nrules:\n{text}",
                    quad(ip)
                );
            }
        }
    }
}

/// The same for IPv6 blocks (keys only ours reads): random rule sets of
/// blocks from /0 to /128 over an overlapping part of 2001:db8::/32, and a
/// plain `:` or `0.0.0.0/0` line now and then; every address gets the rule
/// of the most specific block that holds it, the earlier line among equal
/// ones, else the plain default.
#[test]
fn random_ipv6_blocks_give_the_most_specific_rule() {
    use std::net::Ipv6Addr;
    let t = TempDir::new("tr-cidr6-random");
    let mut r = Rand::new(0xc1d6);
    let base = u128::from(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0));
    let addr = |r: &mut Rand| {
        base | (r.below(4) as u128) << 64 | (r.below(4) as u128) << 48 | r.below(256) as u128
    };
    let mask = |len: u32| {
        if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        }
    };
    for case in 0..cases(15) {
        let mut blocks = Vec::new();
        let mut default = None;
        let mut text = String::new();
        for line in 1..=(2 + r.below(12)) {
            if r.below(8) == 0 {
                // A plain default (`:` or its /0): every client, v4 or v6.
                let written = ["", "0.0.0.0/0"][r.below(2)];
                text.push_str(&format!("{written}:allow,L=\"{line}\"\n"));
                default.get_or_insert(line);
                continue;
            }
            let len = [0, 16, 32, 48, 56, 63, 64, 65, 72, 96, 112, 120, 127, 128][r.below(14)];
            let net = addr(&mut r) & mask(len);
            text.push_str(&format!(
                "{}/{len}:allow,L=\"{line}\"\n",
                Ipv6Addr::from(net)
            ));
            blocks.push((net, len, line));
        }
        assert_eq!(
            compile(t.path(), text.as_bytes()),
            Out::new(0, "", ""),
            "{text}"
        );
        for _ in 0..20 {
            let ip = match (r.below(2), blocks.is_empty()) {
                (0, _) | (_, true) => addr(&mut r),
                _ => {
                    let (net, len, _) = blocks[r.below(blocks.len())];
                    net | ((u128::from(r.next_u64()) << 64 | u128::from(r.next_u64())) & !mask(len))
                }
            };
            let want = blocks
                .iter()
                .filter(|&&(net, len, _)| ip & mask(len) == net)
                .max_by_key(|&&(_, len, line)| (len, std::cmp::Reverse(line)))
                .map(|&(_, _, line)| line)
                .or(default)
                .map(|line| format!("set environment variable L={line}\n"));
            let shown = Ipv6Addr::from(ip).to_string();
            let got = answer(TCPRULESCHECK, t.path(), &shown);
            let env_line = line_set(&got);
            assert_eq!(
                env_line, want,
                "case {case}, {shown}: {got}\nrules:\n{text}"
            );
        }
    }
}
