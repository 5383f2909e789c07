//! The constant database (djb's cdb) used for tcpserver's rules.
//!
//! All integers little-endian u32. A 2048-byte header of 256 (table
//! position, slot count) pairs; records (keylen, datalen, key, data) from
//! offset 2048 in insertion order; then the 256 hash tables in bucket order,
//! table i with twice as many slots as records in bucket `h & 255`, each slot
//! (hash, record position), records placed from slot `(h >> 8) % slots` by
//! linear probing. [`Writer`] lays files out exactly as the C tcprules does.
//!
//! Written here rather than taken from the `cdb` crate: that crate's reader
//! refuses a valid empty database (2048 bytes, what tcprules writes for an
//! empty rules file), which would make tcpserver drop every connection.

use std::io::{self, Seek, SeekFrom, Write};

/// Size of the header.
pub const HEADER: usize = 2048;

/// The cdb hash: h = 5381; h = (h * 33) ^ c.
pub fn hash(key: &[u8]) -> u32 {
    key.iter()
        .fold(5381u32, |h, &c| (h << 5).wrapping_add(h) ^ u32::from(c))
}

fn u32_at(b: &[u8], pos: usize) -> Option<u32> {
    let s = b.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// A database read into memory. Lookups fail with [`Corrupt`] when a
/// position points outside the file (the original reports `protocol error`).
pub struct Reader<D: AsRef<[u8]> = Vec<u8>> {
    data: D,
}

/// The file is not a well-formed cdb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

impl<D: AsRef<[u8]>> Reader<D> {
    /// A database over its bytes (owned, or borrowed from a cache).
    pub fn new(data: D) -> Self {
        Reader { data }
    }

    /// The data of the first record with `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<&[u8]>, Corrupt> {
        let data = self.data.as_ref();
        let h = hash(key);
        let slot = (h as usize & 255) * 8;
        let tpos = u32_at(data, slot).ok_or(Corrupt)? as usize;
        let slots = u32_at(data, slot + 4).ok_or(Corrupt)? as usize;
        if slots == 0 {
            return Ok(None);
        }
        let mut s = (h as usize >> 8) % slots;
        for _ in 0..slots {
            let at = tpos + s * 8;
            let sh = u32_at(data, at).ok_or(Corrupt)?;
            let rpos = u32_at(data, at + 4).ok_or(Corrupt)? as usize;
            if rpos == 0 {
                return Ok(None);
            }
            if sh == h {
                let klen = u32_at(data, rpos).ok_or(Corrupt)? as usize;
                let dlen = u32_at(data, rpos + 4).ok_or(Corrupt)? as usize;
                let kstart = rpos + 8;
                let k = data.get(kstart..kstart + klen).ok_or(Corrupt)?;
                if k == key {
                    let dstart = kstart + klen;
                    return data.get(dstart..dstart + dlen).ok_or(Corrupt).map(Some);
                }
            }
            s += 1;
            if s == slots {
                s = 0;
            }
        }
        Ok(None)
    }
}

/// Builds a database on a seekable writer.
pub struct Writer<W: Write + Seek> {
    out: io::BufWriter<W>,
    pos: u64,
    /// Per bucket: (hash, record position), in insertion order.
    buckets: Vec<Vec<(u32, u32)>>,
}

fn too_big() -> io::Error {
    io::Error::from_raw_os_error(nix::libc::ENOMEM)
}

impl<W: Write + Seek> Writer<W> {
    /// Starts a database: the header is written last.
    pub fn new(out: W) -> io::Result<Self> {
        let mut out = io::BufWriter::with_capacity(64 * 1024, out);
        out.seek(SeekFrom::Start(HEADER as u64))?;
        Ok(Writer {
            out,
            pos: HEADER as u64,
            buckets: vec![Vec::new(); 256],
        })
    }

    pub fn add(&mut self, key: &[u8], data: &[u8]) -> io::Result<()> {
        let h = hash(key);
        let pos = u32::try_from(self.pos).map_err(|_| too_big())?;
        self.out.write_all(&(key.len() as u32).to_le_bytes())?;
        self.out.write_all(&(data.len() as u32).to_le_bytes())?;
        self.out.write_all(key)?;
        self.out.write_all(data)?;
        self.pos += 8 + key.len() as u64 + data.len() as u64;
        if self.pos > u64::from(u32::MAX) {
            return Err(too_big());
        }
        self.buckets[h as usize & 255].push((h, pos));
        Ok(())
    }

    /// Writes the tables and the header; returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        let mut header = [0u8; HEADER];
        for (i, bucket) in self.buckets.iter().enumerate() {
            let slots = bucket.len() * 2;
            let tpos = u32::try_from(self.pos).map_err(|_| too_big())?;
            header[i * 8..i * 8 + 4].copy_from_slice(&tpos.to_le_bytes());
            header[i * 8 + 4..i * 8 + 8].copy_from_slice(&(slots as u32).to_le_bytes());
            let mut table = vec![(0u32, 0u32); slots];
            for &(h, p) in bucket {
                let mut s = (h as usize >> 8) % slots;
                while table[s].1 != 0 {
                    s += 1;
                    if s == slots {
                        s = 0;
                    }
                }
                table[s] = (h, p);
            }
            for (h, p) in table {
                self.out.write_all(&h.to_le_bytes())?;
                self.out.write_all(&p.to_le_bytes())?;
            }
            self.pos += slots as u64 * 8;
            if self.pos > u64::from(u32::MAX) {
                return Err(too_big());
            }
        }
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&header)?;
        self.out.flush()?;
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_duplicates() {
        let mut w = Writer::new(io::Cursor::new(Vec::new())).unwrap();
        w.add(b"one", b"1").unwrap();
        w.add(b"two", b"").unwrap();
        w.add(b"one", b"again").unwrap();
        w.add(b"", b"D\0").unwrap();
        let data = w.finish().unwrap().into_inner();
        let r = Reader::new(data);
        assert_eq!(r.get(b"one").unwrap(), Some(&b"1"[..]));
        assert_eq!(r.get(b"two").unwrap(), Some(&b""[..]));
        assert_eq!(r.get(b"").unwrap(), Some(&b"D\0"[..]));
        assert_eq!(r.get(b"three").unwrap(), None);
    }

    #[test]
    fn empty_database_is_2048_bytes_and_valid() {
        let w = Writer::new(io::Cursor::new(Vec::new())).unwrap();
        let data = w.finish().unwrap().into_inner();
        assert_eq!(data.len(), 2048);
        assert!(data.chunks(8).all(|c| c == [0, 8, 0, 0, 0, 0, 0, 0]));
        assert_eq!(Reader::new(data).get(b"x").unwrap(), None);
    }

    #[test]
    fn truncated_is_corrupt() {
        assert_eq!(Reader::new(vec![1, 2, 3]).get(b"x"), Err(Corrupt));
        let mut w = Writer::new(io::Cursor::new(Vec::new())).unwrap();
        w.add(b"k", b"v").unwrap();
        let mut data = w.finish().unwrap().into_inner();
        data.truncate(2050);
        assert_eq!(Reader::new(data).get(b"k"), Err(Corrupt));
    }

    #[test]
    fn known_hash() {
        assert_eq!(hash(b""), 5381);
        assert_eq!(hash(b"a"), (5381u32 * 33) ^ 97);
    }
}
