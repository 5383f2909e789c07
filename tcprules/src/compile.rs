//! `tcprules rules.cdb rules.tmp`: compile stdin into rules.cdb.
//!
//! Written to rules.tmp, fsynced, then renamed over rules.cdb: a bad line or
//! any failure leaves rules.cdb as it was, and removes rules.tmp (the
//! original leaves it: on a full disk, the space it filled stays taken).
//! Exit codes: 0, 100 usage or bad line, 111 system errors.
//!
//! CIDR lines (docs/rules.md) add their keys like any other line, with the
//! line's origin at the end of the value, as the lines come (nothing is
//! held but the table the CDB needs anyway; the line, its keys and its
//! value reuse their buffers). Where several lines make the
//! same key, a lookup finds the most specific (the longer prefix), ties in
//! line order: the hash tables list them so (`Writer::finish_ranked`). A
//! file without CIDR lines keeps plain line order: its database is the C
//! tcprules' byte for byte. IPv6 prefix lengths in use are listed under the
//! key `^/`.

use std::ffi::OsString;
use std::io::BufRead;

use common::cdb::Writer;
use common::diag::{self, errno_of, Part, B};
use common::rules::{self, Kind, Parsed};
use nix::errno::Errno;

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("tcprules");
    common::sys::sigpipe_default();
    if args.len() < 3 {
        diag::usage("tcprules rules.cdb rules.tmp");
    }
    let (cdb, tmp) = (&args[1], &args[2]);
    let file = common::file::open_trunc(tmp, 0o644)
        .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to create ", tmp], errno_of(&e)));
    let write_failed =
        |e: std::io::Error| -> ! { fail(tmp, cdb, &[&"unable to write to ", tmp], errno_of(&e)) };
    let sync = file.try_clone().unwrap_or_else(|e| write_failed(e));
    let mut w = Writer::new(file).unwrap_or_else(|e| write_failed(e));
    let mut parsed = Parsed::default();
    let mut any_cidr = false;
    let mut v6_lengths = Vec::new();
    let mut line_no = 0u64;
    let input = std::io::BufReader::with_capacity(64 * 1024, common::file::stdin());
    let read = for_each_line(input, |line| {
        line_no += 1;
        match rules::parse_line_into(line, &mut parsed) {
            Ok(Kind::Skip) => {}
            Ok(Kind::Rule(cidr)) => {
                if let Some(c) = cidr {
                    any_cidr = true;
                    if c.v6 {
                        v6_lengths.push(c.len);
                    }
                    rules::add_origin(&mut parsed.value, line_no, c.len);
                }
                for k in parsed.keys.iter() {
                    let rank = rules::specificity(k, cidr);
                    if let Err(e) = w.add_ranked(k, &parsed.value, rank) {
                        write_failed(e);
                    }
                }
            }
            Err(rules::BadLine(l)) => {
                // The original prints the line as a C string: up to its
                // first NUL byte.
                let shown = l.split(|&b| b == 0).next().unwrap_or_default();
                remove_scratch(tmp, cdb);
                diag::die(
                    diag::EXIT_USAGE,
                    &[&"unable to parse this line: ", &B(shown)],
                )
            }
        }
    });
    if let Err(e) = read {
        fail(tmp, cdb, &[&"unable to read input"], errno_of(&e));
    }
    if !v6_lengths.is_empty() {
        if let Err(e) = w.add(rules::V6_LENGTHS_KEY, &rules::lengths_value(&v6_lengths)) {
            write_failed(e);
        }
    }
    if let Err(e) = w.finish_ranked(any_cidr).and_then(|_| sync.sync_all()) {
        write_failed(e);
    }
    drop(sync);
    if let Err(e) = std::fs::rename(tmp, cdb) {
        fail(
            tmp,
            cdb,
            &[&"unable to move ", tmp, &" to ", cdb],
            errno_of(&e),
        );
    }
    0
}

/// A system error once `tmp` exists: `tmp` goes, then the fatal line.
fn fail(tmp: &OsString, cdb: &OsString, parts: &[&dyn Part], e: Errno) -> ! {
    remove_scratch(tmp, cdb);
    diag::fatal_sys(parts, e)
}

/// Removes `tmp`, unless it is `cdb` itself (`tcprules rules.cdb
/// rules.cdb` works when every line is good): tcpserver takes a missing
/// rules file for no rules at all, and would let everybody in.
fn remove_scratch(tmp: &OsString, cdb: &OsString) {
    use std::os::unix::fs::MetadataExt;
    let same = match (std::fs::metadata(tmp), std::fs::metadata(cdb)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    };
    if !same {
        let _ = std::fs::remove_file(tmp);
    }
}

/// Calls `f` with every line of `input` (its `\n` included; the last one
/// may lack it). A line that lies whole in the reader's buffer is passed
/// from there; only one cut by the buffer's end is copied. A line too long
/// for the memory left is a read error, ENOMEM, as the original's getln
/// (`unable to read input: out of memory`).
fn for_each_line(mut input: impl BufRead, mut f: impl FnMut(&[u8])) -> std::io::Result<()> {
    let mut cut = Vec::new();
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            if !cut.is_empty() {
                f(&cut);
            }
            return Ok(());
        }
        let used = match buf.iter().position(|&b| b == b'\n') {
            Some(i) if cut.is_empty() => {
                f(&buf[..=i]);
                i + 1
            }
            Some(i) => {
                common::sys::extend_or_enomem(&mut cut, &buf[..=i])?;
                f(&cut);
                cut.clear();
                i + 1
            }
            None => {
                common::sys::extend_or_enomem(&mut cut, buf)?;
                buf.len()
            }
        };
        input.consume(used);
    }
}

#[cfg(test)]
mod tests {
    use super::for_each_line;

    #[test]
    fn lines_across_the_buffer_and_a_last_one_without_newline() {
        let text = b"a\nbcdefgh\n\nlast";
        for cap in 1..=text.len() + 1 {
            let mut got = Vec::new();
            let r = std::io::BufReader::with_capacity(cap, &text[..]);
            for_each_line(r, |l| got.push(l.to_vec())).unwrap();
            let want: Vec<&[u8]> = vec![b"a\n", b"bcdefgh\n", b"\n", b"last"];
            assert_eq!(got, want, "capacity {cap}");
        }
    }
}
