//! `tcprules rules.cdb rules.tmp`: compile stdin into rules.cdb.
//!
//! Written to rules.tmp, fsynced, then renamed over rules.cdb: a bad line or
//! any failure leaves rules.cdb as it was. Exit codes: 0, 100 usage or bad
//! line, 111 system errors.
//!
//! CIDR lines (docs/rules.md) add their keys like any other line, with the
//! line's origin at the end of the value. Where several lines make the same
//! key, the lookup finds the first record: the records of that key get the
//! values in order of specificity (the longer prefix first), ties in line
//! order, which is plain line order for files without CIDR lines (their
//! database is the C tcprules' byte for byte). IPv6 prefix lengths in use
//! are listed under the key `^/`.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{BufRead, Read};
use std::os::unix::fs::OpenOptionsExt;

use common::cdb::Writer;
use common::diag::{self, errno_of, B};
use common::rules::{self, Line};

/// A record to write: key, value (shared by the keys of one line), and the
/// specificity that orders records of the same key.
type Record = (Vec<u8>, std::rc::Rc<Vec<u8>>, u16);

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("tcprules");
    if args.len() < 3 {
        diag::usage("tcprules rules.cdb rules.tmp");
    }
    let (cdb, tmp) = (&args[1], &args[2]);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(tmp)
        .unwrap_or_else(|e| diag::fatal_sys(&[&"unable to create ", tmp], errno_of(&e)));
    let write_failed =
        |e: std::io::Error| -> ! { diag::fatal_sys(&[&"unable to write to ", tmp], errno_of(&e)) };
    let sync = file.try_clone().unwrap_or_else(|e| write_failed(e));
    let mut w = Writer::new(file).unwrap_or_else(|e| write_failed(e));
    let mut input = std::io::stdin().lock();
    let mut line = Vec::new();
    let mut records: Vec<Record> = Vec::new();
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
                    let address = rules::address_of(&line).unwrap_or_default();
                    rules::add_origin(&mut value, line_no, address);
                }
                let value = std::rc::Rc::new(value);
                for k in keys {
                    let spec = rules::specificity(&k, cidr);
                    records.push((k, value.clone(), spec));
                }
            }
            Err(rules::BadLine(l)) => {
                diag::die(diag::EXIT_USAGE, &[&"unable to parse this line: ", &B(&l)])
            }
        }
    }
    if any_cidr {
        order_by_specificity(&mut records);
    }
    for (k, v, _) in &records {
        if let Err(e) = w.add(k, v) {
            write_failed(e);
        }
    }
    if !v6_lengths.is_empty() {
        if let Err(e) = w.add(rules::V6_LENGTHS_KEY, &rules::lengths_value(&v6_lengths)) {
            write_failed(e);
        }
    }
    if let Err(e) = w.finish().and_then(|_| sync.sync_all()) {
        write_failed(e);
    }
    drop(sync);
    if let Err(e) = std::fs::rename(tmp, cdb) {
        diag::fatal_sys(&[&"unable to move ", tmp, &" to ", cdb], errno_of(&e));
    }
    0
}

/// Gives the records of each key, at their places, the values in order of
/// specificity (most specific first), ties in input order.
fn order_by_specificity(records: &mut [Record]) {
    let mut groups: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (i, (k, _, _)) in records.iter().enumerate() {
        groups.entry(k.as_slice()).or_default().push(i);
    }
    let groups: Vec<Vec<usize>> = groups.into_values().filter(|g| g.len() > 1).collect();
    for g in groups {
        let mut vals: Vec<(std::rc::Rc<Vec<u8>>, u16)> = g
            .iter()
            .map(|&i| (records[i].1.clone(), records[i].2))
            .collect();
        // Stable: equal specificity keeps input order.
        vals.sort_by_key(|v| std::cmp::Reverse(v.1));
        for (&i, (v, spec)) in g.iter().zip(vals) {
            records[i].1 = v;
            records[i].2 = spec;
        }
    }
}
