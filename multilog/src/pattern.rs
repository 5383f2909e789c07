//! multilog's patterns (spec/multilog.md, "Pattern matching").
//!
//! Anchored at both ends. A byte other than `*` matches itself. `*` followed
//! by C skips up to the first C of the line (no backtracking; no C: no
//! match); `*` at the end matches the rest.

/// Whether `pat` matches the whole of `line`.
pub fn matches(pat: &[u8], line: &[u8]) -> bool {
    let (mut p, mut l) = (0, 0);
    loop {
        match pat.get(p) {
            None => return l == line.len(),
            Some(b'*') => {
                let Some(&c) = pat.get(p + 1) else {
                    return true;
                };
                match line[l..].iter().position(|&b| b == c) {
                    Some(off) => l += off,
                    None => return false,
                }
                p += 1;
            }
            Some(&c) => {
                if line.get(l) != Some(&c) {
                    return false;
                }
                p += 1;
                l += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn spec_reference_results() {
        let cases: &[(&str, &str, bool)] = &[
            ("hello", "hello world", false),
            ("hello*", "hello world", true),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            (
                "named[*]: Cleaned cache *",
                "named[135]: Cleaned cache of 3121 RRs",
                true,
            ),
            ("*b", "aab", true),
            ("*b", "abab", false),
            ("*b*", "abab", true),
            ("a*c", "abcbc", false),
            ("*a", "bba", true),
            ("a*b", "ab", true),
            ("a**", "axx", false),
            ("a**b", "axb", false),
            ("a**", "a*", true),
        ];
        for (p, l, want) in cases {
            assert_eq!(matches(p.as_bytes(), l.as_bytes()), *want, "{p:?} vs {l:?}");
        }
    }
}
