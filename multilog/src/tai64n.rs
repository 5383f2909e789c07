//! `tai64n`: prefix every line with `@` + TAI64N label + space.
//!
//! The label is the time the line's first byte is taken from the input; all
//! lines of one read share one clock reading (they arrived together). Input
//! is read in large blocks and output written once per block.
//! Exit codes: 0 at end of input, 111 silently on a read or write error.

use std::io::{ErrorKind, Read, Write};

use common::tai::Tai64n;

use crate::find_newline;

/// The block read at a time: into a file, and into a pipe, where a block's
/// output must fill at most half its buffer ([`common::file::block_size`]).
const BLOCK: usize = 128 * 1024;
const PIPE_BLOCK: usize = 16 * 1024;

pub fn main() -> i32 {
    common::diag::set_program("tai64n");
    common::sys::sigpipe_default();
    let mut input = common::file::stdin();
    let mut out = common::file::stdout();
    let mut buf = vec![0u8; common::file::block_size(BLOCK, PIPE_BLOCK)];
    let mut obuf: Vec<u8> = Vec::with_capacity(buf.len() * 2);
    // Whether the next byte starts a line.
    let mut at_start = true;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return 0,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return 111,
        };
        let mut label = Tai64n::now().label().to_vec();
        label.push(b' ');
        let mut data = &buf[..n];
        while !data.is_empty() {
            if at_start {
                obuf.extend_from_slice(&label);
            }
            match find_newline(data) {
                Some(p) => {
                    obuf.extend_from_slice(&data[..=p]);
                    data = &data[p + 1..];
                    at_start = true;
                }
                None => {
                    obuf.extend_from_slice(data);
                    data = &[];
                    at_start = false;
                }
            }
        }
        if out.write_all(&obuf).is_err() {
            return 111;
        }
        obuf.clear();
    }
}
