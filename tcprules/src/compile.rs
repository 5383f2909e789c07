//! `tcprules rules.cdb rules.tmp`: compile stdin into rules.cdb.
//!
//! Written to rules.tmp, fsynced, then renamed over rules.cdb: a bad line or
//! any failure leaves rules.cdb as it was. Exit codes: 0, 100 usage or bad
//! line, 111 system errors.
//!
//! CIDR lines (docs/rules.md) add their keys like any other line, with the
//! line's origin at the end of the value, as the lines come (nothing is
//! held but the table the CDB needs anyway). Where several lines make the
//! same key, a lookup finds the most specific (the longer prefix), ties in
//! line order: the hash tables list them so (`Writer::finish_ranked`). A
//! file without CIDR lines keeps plain line order: its database is the C
//! tcprules' byte for byte. IPv6 prefix lengths in use are listed under the
//! key `^/`.

use std::ffi::OsString;
use std::io::{BufRead, Read};

use common::cdb::Writer;
use common::diag::{self, errno_of, B};
use common::rules::{self, Line};

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("tcprules");
    if args.len() < 3 {
        diag::usage("tcprules rules.cdb rules.tmp");
    }
    let (cdb, tmp) = (&args[1], &args[2]);
    let file = common::file::open_trunc(tmp, 0o644)
        .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to create ", tmp], errno_of(&e)));
    let write_failed =
        |e: std::io::Error| -> ! { diag::fatal_sys(&[&"unable to write to ", tmp], errno_of(&e)) };
    let sync = file.try_clone().unwrap_or_else(|e| write_failed(e));
    let mut w = Writer::new(file).unwrap_or_else(|e| write_failed(e));
    let mut input = std::io::stdin().lock();
    let mut line = Vec::new();
    let mut any_cidr = false;
    let mut v6_lengths = Vec::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        match input.by_ref().read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => diag::fatal_sys(&[&"unable to read input"], errno_of(&e)),
        }
        line_no += 1;
        match rules::parse_line(&line) {
            Ok(Line::Skip) => {}
            Ok(Line::Rule {
                keys,
                mut value,
                cidr,
            }) => {
                if let Some(c) = cidr {
                    any_cidr = true;
                    if c.v6 {
                        v6_lengths.push(c.len);
                    }
                    rules::add_origin(&mut value, line_no, c.len);
                }
                for k in keys {
                    let rank = rules::specificity(&k, cidr);
                    if let Err(e) = w.add_ranked(&k, &value, rank) {
                        write_failed(e);
                    }
                }
            }
            Err(rules::BadLine(l)) => {
                diag::die(diag::EXIT_USAGE, &[&"unable to parse this line: ", &B(&l)])
            }
        }
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
        diag::fatal_sys(&[&"unable to move ", tmp, &" to ", cdb], errno_of(&e));
    }
    0
}
