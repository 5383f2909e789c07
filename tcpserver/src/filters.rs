//! addcr and delcr: byte filters stdin -> stdout.
//!
//! addcr: every `\n` becomes `\r\n`. delcr: a `\r` right before `\n` is
//! removed (one per newline); any other `\r`, and one at the very end, stays.
//! Exit codes: 0 at end of input, 111 silently on a read or write error.

use std::io::{ErrorKind, Read, Write};

/// The block read at a time: into a file, and into a pipe, where a block's
/// output must fill at most half its buffer ([`common::file::block_size`]).
const BLOCK: usize = 64 * 1024;
const PIPE_BLOCK: usize = 32 * 1024;

/// addcr on one block.
pub fn addcr(input: &[u8], out: &mut Vec<u8>) {
    for &b in input {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
}

/// delcr on one block; `pending_cr` carries a `\r` that ended the previous
/// block (it is written once the next byte shows it is not before `\n`).
pub fn delcr(input: &[u8], out: &mut Vec<u8>, pending_cr: &mut bool) {
    for &b in input {
        if *pending_cr {
            *pending_cr = false;
            if b != b'\n' {
                out.push(b'\r');
            }
        }
        if b == b'\r' {
            *pending_cr = true;
        } else {
            out.push(b);
        }
    }
}

fn filter(mut f: impl FnMut(&[u8], &mut Vec<u8>), finish: impl FnOnce(&mut Vec<u8>)) -> i32 {
    // A reader that goes away ends the filter by SIGPIPE, as the original.
    common::sys::sigpipe_default();
    let mut input = common::file::stdin();
    let mut output = common::file::stdout();
    let mut buf = vec![0u8; common::file::block_size(BLOCK, PIPE_BLOCK)];
    let mut out = Vec::with_capacity(buf.len() * 2);
    loop {
        match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                f(&buf[..n], &mut out);
                if output.write_all(&out).is_err() {
                    return 111;
                }
                out.clear();
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return 111,
        }
    }
    finish(&mut out);
    if output
        .write_all(&out)
        .and_then(|()| output.flush())
        .is_err()
    {
        return 111;
    }
    0
}

pub fn addcr_main() -> i32 {
    common::diag::set_program("addcr");
    filter(addcr, |_| {})
}

pub fn delcr_main() -> i32 {
    common::diag::set_program("delcr");
    let pending = std::cell::Cell::new(false);
    filter(
        |i, o| {
            let mut p = pending.get();
            delcr(i, o, &mut p);
            pending.set(p);
        },
        |o| {
            if pending.get() {
                o.push(b'\r');
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        let mut o = Vec::new();
        addcr(b"a\nb\r\nc", &mut o);
        assert_eq!(o, b"a\r\nb\r\r\nc");
        let mut o = Vec::new();
        let mut p = false;
        delcr(b"a\r\nb\r\r\nc\rd\r", &mut o, &mut p);
        assert!(p);
        o.push(b'\r');
        assert_eq!(o, b"a\nb\r\nc\rd\r");
        // A \r at a block boundary.
        let mut o = Vec::new();
        let mut p = false;
        delcr(b"x\r", &mut o, &mut p);
        delcr(b"\ny\r", &mut o, &mut p);
        delcr(b"z", &mut o, &mut p);
        assert_eq!(o, b"x\ny\rz");
    }
}
