//! multilog (script, matcher, log directories) and the tai64n filters.

pub mod logdir;
pub mod multilog;
pub mod pattern;
pub mod script;
pub mod tai64n;
pub mod tai64nlocal;

/// Position of the first `\n` in `s`, a word at a time (the hot path of
/// multilog and tai64n: no per-byte branch over long lines).
pub fn find_newline(s: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = LO * b'\n' as u64;
    let mut i = 0;
    while i + 8 <= s.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[i..i + 8]);
        let x = u64::from_le_bytes(w) ^ NL;
        // A zero byte in x is a newline in s.
        let found = x.wrapping_sub(LO) & !x & HI;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    s[i..].iter().position(|&b| b == b'\n').map(|p| p + i)
}

#[cfg(test)]
mod tests {
    use super::find_newline;

    #[test]
    fn newline_search() {
        assert_eq!(find_newline(b""), None);
        assert_eq!(find_newline(b"abc"), None);
        assert_eq!(find_newline(b"\n"), Some(0));
        for n in 0..40 {
            let mut v = vec![b'x'; n];
            v.push(b'\n');
            v.extend_from_slice(b"tail\n");
            assert_eq!(find_newline(&v), Some(n));
        }
        // Bytes next to '\n' (0x0a) in value do not fool it.
        assert_eq!(
            find_newline(b"\x0b\x09\x8a\xff\x00\x0b\x09\x8a\x0a"),
            Some(8)
        );
    }
}
