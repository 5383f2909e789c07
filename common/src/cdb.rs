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

/// Bytes read at once at a record's start ([`Reader::get`]).
const RECORD_BLOCK: usize = 256;

/// The cdb hash: h = 5381; h = (h * 33) ^ c.
pub fn hash(key: &[u8]) -> u32 {
    key.iter()
        .fold(5381u32, |h, &c| (h << 5).wrapping_add(h) ^ u32::from(c))
}

/// Where a database's bytes come from: a file read with `pread` (only the
/// records a lookup needs), or bytes in memory.
pub trait Source {
    /// Fills `buf` from `pos`; end of data is [`Error::Corrupt`].
    fn read_at(&self, buf: &mut [u8], pos: u64) -> Result<(), Error>;
}

impl Source for std::fs::File {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> Result<(), Error> {
        use std::os::unix::fs::FileExt;
        self.read_exact_at(buf, pos).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => Error::Corrupt,
            _ => Error::Io(crate::diag::errno_of(&e)),
        })
    }
}

impl Source for Vec<u8> {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> Result<(), Error> {
        let start = usize::try_from(pos).map_err(|_| Error::Corrupt)?;
        let end = start.checked_add(buf.len()).ok_or(Error::Corrupt)?;
        buf.copy_from_slice(self.get(start..end).ok_or(Error::Corrupt)?);
        Ok(())
    }
}

/// Empties `v` and makes room in it for `n` bytes
/// ([`crate::sys::reserve_or_enomem`]), or fails with ENOMEM.
fn room(v: &mut Vec<u8>, n: usize) -> Result<(), Error> {
    v.clear();
    crate::sys::reserve_or_enomem(v, n).map_err(|_| Error::Io(nix::errno::Errno::ENOMEM))
}

/// Two little-endian u32 from 8 bytes.
fn pair(b: &[u8]) -> (u32, u32) {
    (
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
    )
}

/// Why a lookup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A position points outside the database (the original reports
    /// `protocol error`).
    Corrupt,
    /// Reading failed.
    Io(nix::errno::Errno),
    /// A lookup reading more than [`Reader::reading_at_most`] allows.
    TooLong,
}

impl Error {
    /// The errno a message reports: EPROTO for a corrupt database.
    pub fn errno(self) -> nix::errno::Errno {
        match self {
            Error::Corrupt => nix::errno::Errno::EPROTO,
            Error::Io(e) => e,
            Error::TooLong => nix::errno::Errno::E2BIG,
        }
    }
}

/// A database, read a record at a time: a lookup reads the header slot,
/// the hash slots it probes and the one record it returns, never the whole
/// file (a 30 MB rules.cdb costs a connection what a small one does).
pub struct Reader<S: Source = std::fs::File> {
    src: S,
    /// Size of the database: no record can be longer, so a corrupt length
    /// never makes a huge allocation.
    size: u64,
    /// Most bytes one lookup reads ([`Reader::reading_at_most`]).
    max: u64,
    /// The header, when read whole ([`Held`]); empty otherwise, and each
    /// lookup reads the one pair it needs.
    header: Vec<u8>,
}

impl Reader<std::fs::File> {
    /// Opens a database file. Non-blocking, so that opening a FIFO in its
    /// place does not wait for a writer (its lookups then fail: its size
    /// is 0, see [`Reader::get`]).
    pub fn open(path: impl AsRef<std::path::Path>) -> io::Result<Self> {
        Ok(Self::open_as(path)?.0)
    }

    /// [`Reader::open`], and what the file was when opened.
    fn open_as(path: impl AsRef<std::path::Path>) -> io::Result<(Self, Identity)> {
        let f = crate::file::open_read(path)?;
        let m = f.metadata()?;
        let r = Reader {
            src: f,
            size: m.len(),
            max: u64::MAX,
            header: Vec::new(),
        };
        Ok((r, Identity::of(&m)))
    }
}

/// What a file is, as far as a reader kept open can tell a change: the
/// same inode with the same size, owner, mode and times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity([i64; 10]);

impl Identity {
    fn of(m: &std::fs::Metadata) -> Identity {
        use std::os::unix::fs::MetadataExt;
        Identity([
            m.dev() as i64,
            m.ino() as i64,
            m.size() as i64,
            i64::from(m.mode()),
            i64::from(m.uid()),
            i64::from(m.gid()),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
        ])
    }

    /// Whether the file was last changed (content or inode) at least
    /// [`SETTLED`] before `now`. A change after `now` then gives it other
    /// times, whatever the granularity of the file system's clock (a
    /// change within the same tick as the last one would not: a header
    /// read then may be older than the file, and is read again).
    fn settled_at(&self, now: std::time::SystemTime) -> bool {
        let [.., m, mn, c, cn] = self.0;
        // Whole seconds, rounded up.
        let last = m.max(c) + i64::from(mn > 0 || cn > 0);
        now.duration_since(std::time::UNIX_EPOCH)
            .is_ok_and(|d| last.saturating_add(SETTLED) <= d.as_secs() as i64)
    }
}

/// Seconds after its last change when a file's header may be kept
/// ([`Held`]): more than any file system's timestamp granularity (FAT's
/// two seconds) and the lag of the kernel's coarse clock.
const SETTLED: i64 = 3;

/// A database file kept open from lookup to lookup by a server's loop
/// (tcpserver's parent): each [`Held::get`] looks at the path (one stat)
/// and reads from the file held while the path still names it, unchanged;
/// otherwise it opens the path again. What a lookup finds is what the
/// original's open for each connection finds: a new file renamed into
/// place (tcprules), a changed one, a removed one (the open's error) are
/// all seen at the next lookup.
///
/// The header (the 256 table pointers every key's lookup starts from) is
/// read whole, once for all of a connection's keys, and kept from
/// connection to connection once the file has not changed for
/// three seconds: any later change gives the file other times, and
/// the header is read again. Nothing else of the content is kept.
pub struct Held {
    max: u64,
    open: Option<(Reader, Identity)>,
    /// Whether the held reader's header may serve the next lookups.
    settled: bool,
}

impl Held {
    /// Nothing held yet; each reader read at most `max` bytes a lookup
    /// ([`Reader::reading_at_most`]).
    pub fn new(max: u64) -> Held {
        Held {
            max,
            open: None,
            settled: false,
        }
    }

    /// The database `path` names now.
    pub fn get(&mut self, path: impl AsRef<std::path::Path>) -> io::Result<&Reader> {
        // The clock before the stat: a change after the stat comes later.
        self.get_at(path.as_ref(), std::time::SystemTime::now())
    }

    /// [`Held::get`] with the clock read before the stat.
    fn get_at(
        &mut self,
        path: &std::path::Path,
        clock: std::time::SystemTime,
    ) -> io::Result<&Reader> {
        let now = match std::fs::metadata(path) {
            Ok(m) => Identity::of(&m),
            Err(e) => {
                self.open = None;
                return Err(e);
            }
        };
        // Another file, or a changed one, is closed before the open: a
        // server at its descriptor limit has room for the new one.
        let (mut r, id) = match self.open.take().filter(|(_, id)| *id == now) {
            Some(h) if self.settled => return Ok(&self.open.insert(h).0),
            Some(h) => h,
            None => {
                self.settled = false;
                let (r, id) = Reader::open_as(path)?;
                (r.reading_at_most(self.max), id)
            }
        };
        // A change after the stat, while the header is read or later,
        // gives the file other times than `id`: seen at the next stat.
        self.settled = r.read_header() && id.settled_at(clock);
        Ok(&self.open.insert((r, id)).0)
    }
}

impl Reader<Vec<u8>> {
    /// A database in memory.
    pub fn new(data: Vec<u8>) -> Self {
        let size = data.len() as u64;
        Reader {
            src: data,
            size,
            max: u64::MAX,
            header: Vec::new(),
        }
    }
}

impl<S: Source> Reader<S> {
    /// A reader whose lookups read at most `max` bytes in all (slots
    /// probed, keys compared, the data returned): a lookup that would read
    /// more is [`Error::TooLong`]. A caller that must bound what it
    /// allocates and how long it reads (tcpserver's parent) hands such a
    /// lookup to one that need not.
    pub fn reading_at_most(mut self, max: u64) -> Self {
        self.max = max;
        self
    }

    /// Counts `n` bytes against the lookup's budget.
    fn spend(&self, budget: &mut u64, n: u64) -> Result<(), Error> {
        *budget = budget.checked_sub(n).ok_or(Error::TooLong)?;
        Ok(())
    }

    fn pair_at(&self, pos: u64) -> Result<(u32, u32), Error> {
        let mut b = [0u8; 8];
        self.src.read_at(&mut b, pos)?;
        Ok(pair(&b))
    }

    /// Reads the header whole, for the lookups to come (one read instead
    /// of one for each key tried: tcpserver tries up to five for an
    /// address no rule names, more with a name or `-r`); whether it was
    /// read. A database smaller than a header, a failed read or no memory
    /// for it leave each lookup to read its pair, and find what is wrong.
    pub fn read_header(&mut self) -> bool {
        let h = &mut self.header;
        h.clear();
        if self.size < HEADER as u64 || room(h, HEADER).is_err() {
            return false;
        }
        h.resize(HEADER, 0);
        if self.src.read_at(h, 0).is_err() {
            h.clear();
            return false;
        }
        true
    }

    /// The `len` bytes at `pos`, into `out` (its earlier contents gone).
    /// Room the memory left cannot give is ENOMEM, `out of memory`, as
    /// the original's reading into a stralloc: a server drops that one
    /// connection (tcpserver's parent too) instead of ending.
    fn bytes_at(&self, pos: u64, len: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        if pos
            .checked_add(u64::from(len))
            .is_none_or(|end| end > self.size)
        {
            return Err(Error::Corrupt);
        }
        room(out, len as usize)?;
        out.resize(len as usize, 0);
        self.src.read_at(out, pos)
    }

    /// Whether the `key.len()` bytes at `pos` are `key`: compared a
    /// block at a time, not read into an allocation (a lookup in a
    /// server's loop allocates only the data it returns).
    fn key_at(&self, pos: u64, key: &[u8]) -> Result<bool, Error> {
        if pos
            .checked_add(key.len() as u64)
            .is_none_or(|end| end > self.size)
        {
            return Err(Error::Corrupt);
        }
        let mut block = [0u8; 256];
        let mut at = pos;
        for want in key.chunks(block.len()) {
            let got = &mut block[..want.len()];
            self.src.read_at(got, at)?;
            if got != want {
                return Ok(false);
            }
            at += want.len() as u64;
        }
        Ok(true)
    }

    /// Whether the record at `rpos` has `key`; if so, its data into
    /// `data`. The record's lengths, its key and a short data (a rule's
    /// usual few bytes) come in one read of up to [`RECORD_BLOCK`] bytes:
    /// a lookup that finds its key at the first probe costs three reads
    /// (header slot, hash slot, record), not five.
    fn record_at(
        &self,
        rpos: u64,
        key: &[u8],
        budget: &mut u64,
        data: &mut Vec<u8>,
    ) -> Result<bool, Error> {
        self.spend(budget, 8)?;
        let kstart = rpos + 8;
        let mut block = [0u8; RECORD_BLOCK];
        // Past the end of the file, the lengths are corrupt, as a read of
        // them alone would find.
        let left = self.size.checked_sub(rpos).filter(|&r| r >= 8);
        let n = left.ok_or(Error::Corrupt)?.min(RECORD_BLOCK as u64) as usize;
        let got = &mut block[..n];
        self.src.read_at(got, rpos)?;
        let (klen, dlen) = pair(got);
        if klen as usize != key.len() {
            return Ok(false);
        }
        self.spend(budget, u64::from(klen))?;
        let kend = 8 + key.len();
        let same = if kend <= n {
            &got[8..kend] == key
        } else {
            self.key_at(kstart, key)?
        };
        if !same {
            return Ok(false);
        }
        self.spend(budget, u64::from(dlen))?;
        let dstart = kstart + u64::from(klen);
        match kend.checked_add(dlen as usize).filter(|&e| e <= n) {
            Some(dend) => {
                room(data, dlen as usize)?;
                data.extend_from_slice(&got[kend..dend]);
            }
            None => self.bytes_at(dstart, dlen, data)?,
        }
        Ok(true)
    }

    /// The data of the first record with `key`.
    ///
    /// A database of size 0 (an empty file, or a FIFO or device in its
    /// place, which has no size) fails every lookup with EINVAL, `invalid
    /// argument`, as the original's does: its mmap of 0 bytes fails so.
    /// Read as a file, /dev/zero would look like a database of empty
    /// tables and allow every connection.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let mut data = Vec::new();
        Ok(self.get_into(key, &mut data)?.then_some(data))
    }

    /// [`Reader::get`] into `data` (whether a record was found; `data` is
    /// empty when none was): a caller looking up in a loop keeps one buffer
    /// for every lookup instead of an allocation each (tcpserver's parent,
    /// where every heap page written after a fork is a fault).
    pub fn get_into(&self, key: &[u8], data: &mut Vec<u8>) -> Result<bool, Error> {
        data.clear();
        if self.size == 0 {
            return Err(Error::Io(nix::errno::Errno::EINVAL));
        }
        let mut budget = self.max;
        let h = hash(key);
        self.spend(&mut budget, 8)?;
        let at = (h as usize & 255) * 8;
        let (tpos, slots) = match self.header.get(at..at + 8) {
            Some(b) => pair(b),
            None => self.pair_at(at as u64)?,
        };
        if slots == 0 {
            return Ok(false);
        }
        // A table that runs past the end of the file is read as far as the
        // probe goes, as the original's: a truncated database still finds
        // the keys whose slots come before its end. A slot past the end is
        // Corrupt, so a table claiming more slots than the file holds costs
        // no more probes than the file has slots.
        let (tpos, slots) = (u64::from(tpos), u64::from(slots));
        let mut s = u64::from(h >> 8) % slots;
        for _ in 0..slots {
            self.spend(&mut budget, 8)?;
            let (sh, rpos) = self.pair_at(tpos + s * 8)?;
            if rpos == 0 {
                return Ok(false);
            }
            if sh == h && self.record_at(u64::from(rpos), key, &mut budget, data)? {
                return Ok(true);
            }
            s += 1;
            if s == slots {
                s = 0;
            }
        }
        Ok(false)
    }
}

/// Builds a database on a seekable writer.
pub struct Writer<W: Write + Seek> {
    out: io::BufWriter<W>,
    pos: u64,
    /// Per bucket: (hash, record position, rank), in insertion order.
    buckets: Vec<Vec<(u32, u32, u16)>>,
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
        self.add_ranked(key, data, 0)
    }

    /// [`Writer::add`] with a rank: [`Writer::finish_ranked`] makes a
    /// lookup of a key that has several records find the one of the
    /// highest rank (ties: the first added).
    pub fn add_ranked(&mut self, key: &[u8], data: &[u8], rank: u16) -> io::Result<()> {
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
        self.buckets[h as usize & 255].push((h, pos, rank));
        Ok(())
    }

    /// Writes the tables and the header; returns the underlying writer.
    /// Records of one key are found in the order they were added.
    pub fn finish(self) -> io::Result<W> {
        self.finish_ranked(false)
    }

    /// [`Writer::finish`]; with `by_rank`, records of one key are found
    /// highest rank first, ties in the order added. Only the order of the
    /// slots changes (the records stay where they were written): the
    /// lookup of a key skips slots of other keys, so their order among
    /// themselves does not matter.
    pub fn finish_ranked(mut self, by_rank: bool) -> io::Result<W> {
        if by_rank {
            for b in &mut self.buckets {
                b.sort_by_key(|e| std::cmp::Reverse(e.2));
            }
        }
        let mut header = [0u8; HEADER];
        for (i, bucket) in self.buckets.iter().enumerate() {
            let slots = bucket.len() * 2;
            let tpos = u32::try_from(self.pos).map_err(|_| too_big())?;
            header[i * 8..i * 8 + 4].copy_from_slice(&tpos.to_le_bytes());
            header[i * 8 + 4..i * 8 + 8].copy_from_slice(&(slots as u32).to_le_bytes());
            let mut table = vec![(0u32, 0u32); slots];
            for &(h, p, _) in bucket {
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
    fn keys_longer_than_a_block_are_compared_whole() {
        let key: Vec<u8> = (0..600u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut w = Writer::new(io::Cursor::new(Vec::new())).unwrap();
        w.add(&key, b"found").unwrap();
        let data = w.finish().unwrap().into_inner();
        assert_eq!(
            Reader::new(data.clone()).get(&key).unwrap(),
            Some(b"found".to_vec())
        );
        // The record's key differs from the one asked for in its last
        // byte only (the hash slot still points at it): no match.
        let mut changed = data.clone();
        changed[HEADER + 8 + 599] ^= 1;
        assert_eq!(Reader::new(changed.clone()).get(&key).unwrap(), None);
        // Nor in its first block only.
        changed = data;
        changed[HEADER + 8] ^= 1;
        assert_eq!(Reader::new(changed).get(&key).unwrap(), None);
    }

    #[test]
    fn records_on_both_sides_of_the_first_read_are_found_whole() {
        // A record's lengths, key and data come in one read of
        // RECORD_BLOCK bytes when they fit, in more when they do not.
        let lens = [0, 1, 100, 239, 247, 248, 249, 256, 300, 1000];
        let mut w = Writer::new(io::Cursor::new(Vec::new())).unwrap();
        let mut records = Vec::new();
        for (i, &kn) in lens.iter().enumerate() {
            for (j, &dn) in lens.iter().enumerate() {
                let mut key = vec![b'k'; kn];
                if kn >= 2 {
                    key[..2].copy_from_slice(&[i as u8, j as u8]);
                }
                let data: Vec<u8> = (0..dn).map(|x| (x * 7 + i + j) as u8).collect();
                w.add(&key, &data).unwrap();
                records.push((key, data));
            }
        }
        let data = w.finish().unwrap().into_inner();
        // With the header read whole first, the same answers.
        let mut whole = Reader::new(data.clone());
        assert!(whole.read_header());
        for db in [Reader::new(data), whole] {
            for (k, _) in &records {
                let first = records.iter().find(|(k2, _)| k2 == k).map(|(_, d2)| d2);
                assert_eq!(
                    db.get(k).unwrap().as_ref(),
                    first,
                    "key of {} bytes",
                    k.len()
                );
            }
            assert_eq!(db.get(&[b'k'; 250]).unwrap(), None);
        }
    }

    /// An empty directory of this test run's.
    fn scratch(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("cdb-held-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A database of one record, `key` -> `data`.
    fn one_record(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut w = Writer::new(io::Cursor::new(Vec::new())).unwrap();
        w.add(key, data).unwrap();
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn a_held_file_rewritten_in_place_at_once_is_read_anew() {
        // Rewritten faster than the file system's clock ticks, in place,
        // to the same size: the times may not change from one rewrite to
        // the next, so the header of a file this young is read again for
        // every lookup. Two keys in different header slots.
        let dir = scratch("young");
        let path = dir.join("rules.cdb");
        let (a, b) = (b"1.2.3.4".as_slice(), b"1.2.3.5".as_slice());
        assert_ne!(hash(a) & 255, hash(b) & 255);
        let mut held = Held::new(u64::MAX);
        for i in 0..200 {
            let (key, other) = if i % 2 == 0 { (a, b) } else { (b, a) };
            std::fs::write(&path, one_record(key, b"+X=y")).unwrap();
            let db = held.get(&path).unwrap();
            assert_eq!(
                db.get(key).unwrap().as_deref(),
                Some(&b"+X=y"[..]),
                "rewrite {i}"
            );
            assert_eq!(db.get(other).unwrap(), None);
        }
        assert!(!held.settled);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_settled_file_keeps_its_header_until_it_changes() {
        let dir = scratch("settled");
        let path = dir.join("rules.cdb");
        std::fs::write(&path, one_record(b"a", b"1")).unwrap();
        let mut held = Held::new(u64::MAX);
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        assert_eq!(
            held.get_at(&path, later).unwrap().get(b"a").unwrap(),
            Some(b"1".to_vec())
        );
        assert!(held.settled);
        assert_eq!(held.open.as_ref().unwrap().0.header.len(), HEADER);
        // Changed in place, to the same size, at another time: read anew.
        std::fs::write(&path, one_record(b"b", b"2")).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30))
            .unwrap();
        let db = held.get_at(&path, later).unwrap();
        assert_eq!(db.get(b"b").unwrap(), Some(b"2".to_vec()));
        assert_eq!(db.get(b"a").unwrap(), None);
        // Smaller than a header: no header kept, the lookup's error.
        std::fs::write(&path, b"short").unwrap();
        assert_eq!(
            held.get_at(&path, later).unwrap().get(b"a"),
            Err(Error::Corrupt)
        );
        assert!(!held.settled);
        // Gone: the stat's error, nothing held.
        std::fs::remove_file(&path).unwrap();
        assert!(held.get_at(&path, later).is_err());
        assert!(held.open.is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn settled_three_seconds_after_the_last_change() {
        let id = |m: i64, mn: i64, c: i64, cn: i64| Identity([0, 0, 0, 0, 0, 0, m, mn, c, cn]);
        let at = |s: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
        assert!(id(100, 0, 100, 0).settled_at(at(103)));
        assert!(!id(100, 0, 100, 0).settled_at(at(102)));
        // The later of the two times, rounded up to a whole second.
        assert!(!id(100, 0, 101, 0).settled_at(at(103)));
        assert!(!id(100, 1, 100, 0).settled_at(at(103)));
        assert!(id(100, 1, 100, 0).settled_at(at(104)));
    }

    #[test]
    fn round_trip_and_duplicates() {
        let mut w = Writer::new(io::Cursor::new(Vec::new())).unwrap();
        w.add(b"one", b"1").unwrap();
        w.add(b"two", b"").unwrap();
        w.add(b"one", b"again").unwrap();
        w.add(b"", b"D\0").unwrap();
        let data = w.finish().unwrap().into_inner();
        let r = Reader::new(data);
        assert_eq!(r.get(b"one").unwrap(), Some(b"1".to_vec()));
        assert_eq!(r.get(b"two").unwrap(), Some(b"".to_vec()));
        assert_eq!(r.get(b"").unwrap(), Some(b"D\0".to_vec()));
        assert_eq!(r.get(b"three").unwrap(), None);
        // One buffer for many lookups: each leaves only its own record.
        let mut data = b"left over from before".to_vec();
        assert_eq!(r.get_into(b"one", &mut data), Ok(true));
        assert_eq!(data, b"1");
        assert_eq!(r.get_into(b"two", &mut data), Ok(true));
        assert_eq!(data, b"");
        assert_eq!(r.get_into(b"three", &mut data), Ok(false));
        assert_eq!(data, b"");
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
    fn a_limited_reader_refuses_lookups_that_read_more() {
        let mut w = Writer::new(io::Cursor::new(Vec::new())).unwrap();
        w.add(b"small", &[b's'; 16]).unwrap();
        w.add(b"large", &[b'l'; 17]).unwrap();
        let data = w.finish().unwrap().into_inner();
        // A lookup of "small" reads 8 (header) + 8 (slot) + 8 (record
        // header) + 5 (key) + 16 (data) bytes: 45.
        let db = Reader::new(data.clone()).reading_at_most(45);
        assert_eq!(db.get(b"small"), Ok(Some(vec![b's'; 16])));
        assert_eq!(db.get(b"large"), Err(Error::TooLong));
        assert_eq!(db.get(b"none"), Ok(None));
        let db = Reader::new(data).reading_at_most(44);
        assert_eq!(db.get(b"small"), Err(Error::TooLong));
    }

    #[test]
    fn a_table_past_the_end_costs_no_more_probes_than_the_file_has_slots() {
        // Every header slot claims a table of 2^31 slots at 2048: a probe
        // per claimed slot would be billions of reads. The probes stop at
        // the first slot past the end.
        let mut data = Vec::new();
        for _ in 0..256 {
            data.extend_from_slice(&2048u32.to_le_bytes());
            data.extend_from_slice(&0x8000_0000u32.to_le_bytes());
        }
        data.extend_from_slice(&[0xff; 64]);
        assert_eq!(Reader::new(data).get(b"key"), Err(Error::Corrupt));
    }

    #[test]
    fn size_zero_is_invalid_argument() {
        let e = Error::Io(nix::errno::Errno::EINVAL);
        assert_eq!(Reader::new(Vec::new()).get(b"x"), Err(e));
        let r = Reader::open("/dev/zero").unwrap();
        assert_eq!(r.get(b"x"), Err(e));
    }

    #[test]
    fn truncated_is_corrupt() {
        assert_eq!(Reader::new(vec![1, 2, 3]).get(b"x"), Err(Error::Corrupt));
        let mut w = Writer::new(io::Cursor::new(Vec::new())).unwrap();
        w.add(b"k", b"v").unwrap();
        let mut data = w.finish().unwrap().into_inner();
        data.truncate(2050);
        assert_eq!(Reader::new(data).get(b"k"), Err(Error::Corrupt));
    }

    #[test]
    fn a_truncated_table_finds_the_keys_whose_slots_come_before_the_end() {
        // One record: a table of two slots, the file's last 16 bytes. Cut
        // the last 8: the key probed at the first slot is found there, as
        // the original finds it; the key probed at the second is corrupt.
        let slot = |k: &[u8]| (hash(k) >> 8) % 2;
        let key = |s| {
            (0..)
                .map(|i| format!("k{i}").into_bytes())
                .find(|k| slot(k) == s)
        };
        let (first, second) = (key(0).unwrap(), key(1).unwrap());
        for (key, found) in [(first, true), (second, false)] {
            let mut w = Writer::new(io::Cursor::new(Vec::new())).unwrap();
            w.add(&key, b"v").unwrap();
            let mut data = w.finish().unwrap().into_inner();
            data.truncate(data.len() - 8);
            let want = if found {
                Ok(Some(b"v".to_vec()))
            } else {
                Err(Error::Corrupt)
            };
            assert_eq!(Reader::new(data).get(&key), want);
        }
    }

    #[test]
    fn ranked_records_of_one_key() {
        let build = |by_rank| {
            let mut w = Writer::new(io::Cursor::new(Vec::new())).unwrap();
            w.add_ranked(b"k", b"first, 20", 20).unwrap();
            w.add_ranked(b"other", b"o", 255).unwrap();
            w.add_ranked(b"k", b"second, 24", 24).unwrap();
            w.add_ranked(b"k", b"third, 24", 24).unwrap();
            Reader::new(w.finish_ranked(by_rank).unwrap().into_inner())
        };
        assert_eq!(build(false).get(b"k").unwrap(), Some(b"first, 20".to_vec()));
        let r = build(true);
        assert_eq!(r.get(b"k").unwrap(), Some(b"second, 24".to_vec()));
        assert_eq!(r.get(b"other").unwrap(), Some(b"o".to_vec()));
    }

    #[test]
    fn known_hash() {
        assert_eq!(hash(b""), 5381);
        assert_eq!(hash(b"a"), (5381u32 * 33) ^ 97);
    }
}
