//! multilog's parsers fed random input with a fixed seed: patterns,
//! tai64nlocal's labels and whole scripts (through the program). A clean
//! result or the exact error line and exit code; never a panic, a hang or
//! a signal death. `PARSER_CASES=N` runs longer.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use testutil::*;

const MULTILOG: &str = env!("CARGO_BIN_EXE_multilog");

#[test]
fn patterns_match_or_not_and_always_end() {
    let mut r = Rand::new(0x5eed_0101);
    for _ in 0..cases(50_000) {
        let (pn, ln) = (r.below(20), r.below(60));
        let pat = r.from(b"*ab.x \\-+", pn);
        let line = r.from(b"ab.x \\-+\n", ln);
        let m = multilog::pattern::matches(&pat, &line);
        // `*` alone matches everything.
        if pat == b"*" {
            assert!(m);
        }
    }
}

#[test]
fn tai64nlocal_converts_or_copies_any_input_in_any_pieces() {
    use multilog::tai64nlocal::Stream;
    let mut r = Rand::new(0x5eed_0102);
    for _ in 0..cases(20_000) {
        let mut input = Vec::new();
        for _ in 0..r.below(4) {
            let n = r.below(40);
            if r.below(4) != 0 {
                input.push(b'@');
            }
            input.extend(if r.below(2) == 0 {
                r.from(b"0123456789abcdef \n", n)
            } else {
                r.bytes(n)
            });
            input.push(b'\n');
        }
        input.truncate(input.len() - r.below(2).min(input.len()));
        let (mut whole, mut pieces) = (Vec::new(), Vec::new());
        let mut s = Stream::default();
        s.feed(&input, &mut whole);
        // The same input in random pieces gives the same output.
        let mut s = Stream::default();
        let mut rest = input.as_slice();
        while !rest.is_empty() {
            let k = 1 + r.below(rest.len());
            s.feed(&rest[..k], &mut pieces);
            rest = &rest[k..];
        }
        assert_eq!(whole, pieces, "{input:?}");
        // Every line ends as it ended, and one that does not begin with
        // `@` is copied unchanged.
        let count = |v: &[u8]| v.iter().filter(|&&b| b == b'\n').count();
        assert_eq!(count(&whole), count(&input), "{input:?} -> {whole:?}");
        if !input.contains(&b'@') {
            assert_eq!(whole, input);
        }
    }
}

#[test]
fn random_scripts_run_or_get_a_usage_or_fatal_line() {
    let t = TempDir::new("ml-scripts");
    let mut r = Rand::new(0x5eed_0103);
    // No '.' or '/' first: those are directories, which the program would
    // create; every other action is reached.
    let first = b"-+est=!n0123456789";
    for _ in 0..cases(150) {
        let mut args = Vec::new();
        for _ in 0..r.below(4) {
            let mut a = r.from(first, 1);
            let n = r.below(8);
            a.extend(r.from(b"0123456789aest*-+=!x", n));
            args.push(OsString::from_vec(a));
        }
        let o = run_within(10.0, MULTILOG, &args, t.path(), Some(b"a line\n"));
        match o.code {
            0 => {}
            100 => assert!(
                o.stderr.starts_with("multilog: usage: "),
                "{args:?}: {}",
                o.stderr
            ),
            111 => assert!(
                o.stderr.starts_with("multilog: fatal: "),
                "{args:?}: {}",
                o.stderr
            ),
            c => panic!("{args:?}: exit {c}: {}", o.stderr),
        }
    }
}
