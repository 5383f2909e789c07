//! `tcprulescheck rules.cdb`: print the rule that applies to
//! $TCPREMOTEIP (default 0.0.0.0), $TCPREMOTEHOST and $TCPREMOTEINFO.
//! Exit codes: 0, 100 usage, 111 unreadable database. A key made by a
//! CIDR line (an extension) is followed by the line it came from:
//! `from line N: ADDRESS/L`.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;

use common::diag::{self, errno_of};
use common::rules::{self, Entry};
use nix::errno::Errno;

pub fn main(args: &[OsString]) -> i32 {
    diag::set_program("tcprulescheck");
    common::sys::sigpipe_default();
    let Some(file) = args.get(1) else {
        diag::usage("tcprulescheck rules.cdb");
    };
    let var = |n: &str| std::env::var_os(n).map(OsString::into_vec);
    let ip = var("TCPREMOTEIP").unwrap_or_else(|| b"0.0.0.0".to_vec());
    let host = var("TCPREMOTEHOST");
    let info = var("TCPREMOTEINFO");
    let unreadable = |e: Errno| -> ! { diag::fatal_sys(&[&"unable to read ", file], e) };
    // Only the records the lookup needs are read: a FIFO or a huge file in
    // its place fails or costs nothing.
    let db = common::cdb::Reader::open(file).unwrap_or_else(|e| unreadable(errno_of(&e)));
    let found = rules::lookup(&db, &ip, host.as_deref(), info.as_deref())
        .unwrap_or_else(|e| unreadable(e.errno()));
    let mut out = Vec::new();
    match found {
        None => out.extend_from_slice(b"default:\nallow connection\n"),
        Some((key, value)) => {
            out.extend_from_slice(b"rule ");
            out.extend_from_slice(&key);
            out.extend_from_slice(b":\n");
            let entries: Vec<_> = rules::entries(&value).collect();
            for e in &entries {
                if let Some((line, block)) = match e {
                    Entry::Origin(o) => rules::origin(&key, o),
                    _ => None,
                } {
                    out.extend_from_slice(format!("from line {line}: {block}\n").as_bytes());
                }
            }
            let mut deny = false;
            for e in entries {
                match e {
                    Entry::Origin(_) => {}
                    Entry::Deny => {
                        deny = true;
                        break;
                    }
                    // Every `+` entry, verbatim, as the original shows it
                    // (a server ignores one without `=`).
                    Entry::Set { text, .. } | Entry::NoValue(text) => {
                        out.extend_from_slice(b"set environment variable ");
                        out.extend_from_slice(text);
                        out.push(b'\n');
                    }
                }
            }
            out.extend_from_slice(if deny {
                b"deny connection\n"
            } else {
                b"allow connection\n"
            });
        }
    }
    let _ = std::io::stdout().lock().write_all(&out);
    0
}
