//! Memory that runs out: a program that cannot allocate ends with
//! `PROG: fatal: out of memory` and exit 111, as the C programs do, never
//! an abort. The filters that read standard input are run under
//! `softlimit -a` at limits from the smallest they work under downwards;
//! each failure must name the program (some printed the line without it).

use std::path::Path;

use testutil::*;

/// `softlimit -a limit prog args` with `input` on stdin and stdout a file
/// (where the filters read their largest blocks): exit code (-1: a signal
/// ended it) and stderr.
fn under(limit: usize, prog: &str, args: &[&str], input: &[u8], cwd: &Path) -> (i32, String) {
    let path = bin_dir().join(prog);
    let softlimit = bin_dir().join("softlimit");
    let limit = limit.to_string();
    let mut all = vec![
        "-c",
        "exec \"$@\" > out",
        "sh",
        softlimit.to_str().unwrap(),
        "-a",
        &limit,
        path.to_str().unwrap(),
    ];
    all.extend(args);
    let (code, _, err) = run_input("sh", &all, input, cwd, &[], &[]);
    (code, String::from_utf8_lossy(&err).into_owned())
}

#[test]
fn a_filter_out_of_memory_names_itself() {
    let t = TempDir::new("oom-names");
    let step = 64 * 1024;
    for (prog, args) in [
        ("tai64n", &[][..]),
        ("tai64nlocal", &[][..]),
        ("addcr", &[][..]),
        ("delcr", &[][..]),
        ("multilog", &["e"][..]),
    ] {
        let input = b"@4000000037c219bf2ef02e94 a line\n";
        let works = |l: usize| {
            let (code, err) = under(l, prog, args, input, t.path());
            code == 0 && (err.is_empty() || prog == "multilog")
        };
        // The smallest limit (in steps) it works under.
        let least = (4..4096)
            .map(|i| i * step)
            .find(|&l| works(l))
            .unwrap_or_else(|| panic!("{prog} never ran under 256 MiB"));
        let mut named = 0;
        for l in (least.saturating_sub(32 * step)..least).step_by(step) {
            let (code, err) = under(l, prog, args, input, t.path());
            // Too little even to start the program: the kernel refuses
            // the exec (softlimit says so) or ends it by a signal, or the
            // dynamic loader gives up before main (127).
            if err.starts_with("softlimit: fatal: unable to run ") || code == -1 || code == 127 {
                continue;
            }
            if code == 0 {
                continue;
            }
            assert_eq!(
                (code, err.as_str()),
                (111, format!("{prog}: fatal: out of memory\n").as_str()),
                "{prog} under -a {l}"
            );
            named += 1;
        }
        assert!(
            named > 0,
            "{prog}: no limit below {least} ran out of memory"
        );
    }
}
