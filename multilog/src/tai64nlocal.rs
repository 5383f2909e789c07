//! `tai64nlocal`: turn a leading `@<tai64n>` label into local time
//! `YYYY-MM-DD HH:MM:SS.NNNNNNNNN` (honouring TZ).
//!
//! Only lowercase hex digits are part of a label, as in the original. One
//! divergence (docs/divergences.md): where the original crashes (a label
//! that localtime cannot convert, e.g. `@` alone, uppercase hex, too few or
//! too many digits), the line is copied unchanged (a label of more than
//! 4096 digits with those digits only). The input is converted as it
//! comes, in pieces of any size: no line is held whole.
//! Exit codes: 0 at end of input, 111 silently on a read or write error.

use std::io::{ErrorKind, Read, Write};

use common::sys;
use common::tai::UNIX_EPOCH_LABEL;

use crate::find_newline;

/// The block read at a time: into a file, and into a pipe, where a block's
/// output must fill at most half its buffer ([`common::file::block_size`]).
const BLOCK: usize = 128 * 1024;
const PIPE_BLOCK: usize = 16 * 1024;

/// Digits of a label held to copy it unchanged if it cannot be converted;
/// a longer label that cannot be converted keeps these first ones only
/// (docs/divergences.md). Whatever its length, the value is computed as
/// the original does: a line of any length costs bounded memory.
const LABEL_HELD: usize = 4096;

/// Writes the local time of `secs`.`nanos` (the label's value) in the
/// original's format; false if it cannot be converted.
fn format_label(secs: u64, nanos: u64, out: &mut Vec<u8>, cache: &mut Cache) -> bool {
    let unix = secs.wrapping_sub(UNIX_EPOCH_LABEL) as i64;
    let Some(t) = cache.localtime(unix) else {
        return false;
    };
    // The original prints the int 1900 + tm_year as an unsigned long: a
    // year before 0 comes out as 2^64 plus the year (and the int wraps in
    // the last 1900 years that tm_year holds).
    let year = i64::from(1900i32.wrapping_add(t.year as i32)) as u64;
    out.extend_from_slice(
        format!(
            "{}-{:02}-{:02} {:02}:{:02}:{:02}.{:09}",
            year,
            t.mon + 1,
            t.mday,
            t.hour,
            t.min,
            t.sec,
            nanos
        )
        .as_bytes(),
    );
    true
}

/// Remembers the last conversion: log lines come in runs within a second.
#[derive(Default)]
struct Cache {
    last: Option<(i64, Option<sys::LocalTime>)>,
}

impl Cache {
    fn localtime(&mut self, t: i64) -> Option<sys::LocalTime> {
        if let Some((lt, r)) = self.last {
            if lt == t {
                return r;
            }
        }
        let r = sys::localtime(t);
        self.last = Some((t, r));
        r
    }
}

/// Where the input stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line.
    Start,
    /// After a line's `@`, in the label's digits.
    Label,
    /// In the rest of a line: copied as it comes.
    Rest,
}

/// The conversion as a stream: input in pieces of any size, one label's
/// digits held at most, so that neither a long line nor a long label is
/// read whole.
pub struct Stream {
    state: State,
    /// The label's first digits (at most [`LABEL_HELD`]).
    held: Vec<u8>,
    /// How many digits the label has so far.
    digits: usize,
    /// The value of its last 24 digits: seconds (mod 2^64), then the 8
    /// digits of nanoseconds.
    value: u128,
    cache: Cache,
}

impl Default for Stream {
    fn default() -> Stream {
        Stream {
            state: State::Start,
            held: Vec::new(),
            digits: 0,
            value: 0,
            cache: Cache::default(),
        }
    }
}

fn is_label_digit(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'a'..=b'f')
}

impl Stream {
    /// Converts the next piece of input, appending the output to `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while let Some(&first) = input.first() {
            match self.state {
                State::Start => {
                    if first == b'@' {
                        self.held.clear();
                        self.digits = 0;
                        self.value = 0;
                        self.state = State::Label;
                        input = &input[1..];
                    } else {
                        self.state = State::Rest;
                    }
                }
                State::Label => {
                    let n = input.iter().take_while(|&&b| is_label_digit(b)).count();
                    let room = LABEL_HELD.saturating_sub(self.held.len());
                    self.held.extend_from_slice(&input[..n.min(room)]);
                    for &c in &input[..n] {
                        let d = if c <= b'9' { c - b'0' } else { c - b'a' + 10 };
                        self.value = ((self.value << 4) | u128::from(d)) & ((1 << 96) - 1);
                    }
                    self.digits += n;
                    input = &input[n..];
                    if input.is_empty() {
                        // The label may go on in the next piece.
                        break;
                    }
                    self.end_label(out);
                }
                State::Rest => match find_newline(input) {
                    Some(p) => {
                        out.extend_from_slice(&input[..=p]);
                        input = &input[p + 1..];
                        self.state = State::Start;
                    }
                    None => {
                        out.extend_from_slice(input);
                        input = &[];
                    }
                },
            }
        }
    }

    /// A label's digits ended (the byte after them is not consumed): its
    /// local time, or the label unchanged where it cannot be converted.
    fn end_label(&mut self, out: &mut Vec<u8>) {
        // The last 8 digits nanoseconds, the rest seconds (mod 2^64).
        let (secs, nanos) = if self.digits >= 8 {
            ((self.value >> 32) as u64, (self.value & 0xffff_ffff) as u64)
        } else {
            (0, self.value as u64)
        };
        if !format_label(secs, nanos, out, &mut self.cache) {
            out.push(b'@');
            out.extend_from_slice(&self.held);
        }
        self.state = State::Rest;
    }
}

pub fn main() -> i32 {
    common::diag::set_program("tai64nlocal");
    common::sys::sigpipe_default();
    let mut input = common::file::stdin();
    let mut out = common::file::stdout();
    let mut buf = vec![0u8; common::file::block_size(BLOCK, PIPE_BLOCK)];
    let mut obuf: Vec<u8> = Vec::with_capacity(buf.len() * 2);
    let mut stream = Stream::default();
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return 111,
        };
        stream.feed(&buf[..n], &mut obuf);
        if out.write_all(&obuf).is_err() {
            return 111;
        }
        obuf.clear();
    }
    // A label that input ends in gets nothing written, as the original
    // stops inside it: its digits are only held.
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_in_utc() {
        std::env::set_var("TZ", "UTC");
        let mut c = Stream::default();
        let conv = |l: &str, c: &mut Stream| {
            let mut v = Vec::new();
            c.feed(format!("{l}\n").as_bytes(), &mut v);
            let mut v = String::from_utf8(v).unwrap();
            assert_eq!(v.pop(), Some('\n'));
            v
        };
        assert_eq!(
            conv("@4000000037c219bf2ef02e94 mark", &mut c),
            "1999-08-24 04:04:05.787492500 mark"
        );
        assert_eq!(
            conv("@400000000000000a00000000 epoch", &mut c),
            "1970-01-01 00:00:00.000000000 epoch"
        );
        assert_eq!(
            conv("@3fffffffffffffff00000000 before", &mut c),
            "1969-12-31 23:59:49.000000000 before"
        );
        assert_eq!(
            conv("@4000000037c219bf2ef02e94:colon", &mut c),
            "1999-08-24 04:04:05.787492500:colon"
        );
        assert_eq!(
            conv("@4000000037c219bfffffffff big", &mut c),
            "1999-08-24 04:04:05.4294967295 big"
        );
        assert_eq!(conv("no at", &mut c), "no at");
        assert_eq!(
            conv("x@4000000037c219bf2ef02e94 mid", &mut c),
            "x@4000000037c219bf2ef02e94 mid"
        );
        // A year before 0, printed unsigned as the original does.
        assert_eq!(
            conv("@3f85838cf8047ef711210c80 x", &mut c),
            "18446744072617027899-03-31 06:00:13.287378560 x"
        );
        // ... and the int 1900 + tm_year wrapped, as in the original.
        assert_eq!(
            conv("@40f0c2a77594199a00000005 x", &mut c),
            "18446744071562069319-12-31 18:36:00.000000005 x"
        );
        // Where the original crashes: copied unchanged.
        for l in [
            "@",
            "@x",
            "@4000000037C219BF2EF02E94 upper",
            "@4000000037c219bf mark",
        ] {
            assert_eq!(conv(l, &mut c), l);
        }
    }

    fn whole(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut s = Stream::default();
        s.feed(input, &mut out);
        out
    }

    #[test]
    fn pieces_of_any_size_give_the_output_of_the_whole() {
        std::env::set_var("TZ", "UTC");
        let input: &[u8] = b"@4000000037c219bf2ef02e94 mark\n@4000000037c219bf2ef02e94\nplain @x\n\
            @\n@4000000037C219BF2EF02E94 upper\n\n@400000000000000a00000000:epoch\n@4000";
        let want = whole(input);
        assert_eq!(
            String::from_utf8_lossy(&want),
            "1999-08-24 04:04:05.787492500 mark\n1999-08-24 04:04:05.787492500\nplain @x\n\
             @\n@4000000037C219BF2EF02E94 upper\n\n1970-01-01 00:00:00.000000000:epoch\n"
        );
        // Every split point, and pieces of one byte.
        for cut in 0..input.len() {
            let mut out = Vec::new();
            let mut s = Stream::default();
            s.feed(&input[..cut], &mut out);
            s.feed(&input[cut..], &mut out);
            assert_eq!(out, want, "cut at {cut}");
        }
        let mut out = Vec::new();
        let mut s = Stream::default();
        for b in input.chunks(1) {
            s.feed(b, &mut out);
        }
        assert_eq!(out, want);
    }

    #[test]
    fn a_long_label_counts_by_its_last_digits_and_is_never_held_whole() {
        std::env::set_var("TZ", "UTC");
        // As the original: digits beyond 24 shift older bits out.
        let mut long = b"@".to_vec();
        long.extend(std::iter::repeat_n(b'7', 100_000));
        long.extend_from_slice(b"4000000037c219bf2ef02e94 mark\n");
        assert_eq!(whole(&long), b"1999-08-24 04:04:05.787492500 mark\n");
        // One that cannot be converted keeps its first 4096 digits.
        let mut bad = b"@".to_vec();
        bad.extend(std::iter::repeat_n(b'0', 10_000));
        bad.extend_from_slice(b" x\n");
        let mut want = b"@".to_vec();
        want.extend(std::iter::repeat_n(b'0', LABEL_HELD));
        want.extend_from_slice(b" x\n");
        assert_eq!(whole(&bad), want);
        // A million digits in pieces: nothing written yet, 4096 held.
        let mut s = Stream::default();
        let mut out = Vec::new();
        s.feed(b"@", &mut out);
        for _ in 0..100 {
            s.feed(&bad[1..10_001], &mut out);
        }
        assert_eq!((out.len(), s.held.len()), (0, LABEL_HELD));
        assert!(s.held.capacity() < 2 * LABEL_HELD, "{}", s.held.capacity());
        s.feed(b"\n", &mut out);
        assert_eq!(out.len(), 1 + LABEL_HELD + 1);
    }
}
