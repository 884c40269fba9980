//! The byte sink under [`SafeCsvWriter`](crate::SafeCsvWriter): output written in whole,
//! aligned blocks past the page cache where the file system allows it.
//!
//! Why: an output written through the page cache is copied into kernel pages allocated for it,
//! and on a virtual machine a page the host has not backed yet is expensive. At 10M records
//! (1.3 GB of results and couplings) that copy was 17 % of all CPU samples of a run, more than
//! any phase of the engine, and it ran on the one thread that appends the rendered blocks. The
//! file is fsynced before it is renamed into place anyway, so the page cache buys nothing here.
//!
//! On Linux the temp file is switched to `O_DIRECT` and written in [`BLOCK`]-sized pieces from
//! one reused buffer aligned to [`ALIGN`]; the last, partial block is padded with zeros to the
//! alignment and the file is cut back to its length afterwards. Where the file system refuses
//! direct I/O (tmpfs, some network file systems) — when the flag is set, or at a write — and
//! outside Linux, the same blocks go through the page cache; nothing else changes.

use std::io::{self, Write};

use tempfile::NamedTempFile;

/// Bytes per write: large enough that a write's fixed cost vanishes, small enough that the two
/// outputs' buffers stay a rounding error of the run's memory.
const BLOCK: usize = 2 << 20;

/// The alignment `O_DIRECT` asks of a write's buffer, length and file offset: 4 KiB covers
/// devices with 512-byte and with 4 KiB logical blocks.
const ALIGN: usize = 4096;

/// A temp file filled block by block (see the module docs). Dropping it deletes the temp file.
pub(crate) struct BlockFile {
    temp: NamedTempFile,
    /// Whether the file is in direct-I/O mode right now.
    direct: bool,
    /// `BLOCK + ALIGN` bytes; the block is the aligned window `buffer[start..start + BLOCK]`.
    buffer: Vec<u8>,
    start: usize,
    /// Bytes of the block in use.
    filled: usize,
    /// Bytes handed to the file so far (the file's length, once finished).
    length: u64,
}

impl BlockFile {
    pub(crate) fn new(temp: NamedTempFile) -> Self {
        let buffer = vec![0u8; BLOCK + ALIGN];
        let start = (ALIGN - buffer.as_ptr() as usize % ALIGN) % ALIGN;
        let direct = set_direct(temp.as_file(), true).is_ok();
        BlockFile {
            temp,
            direct,
            buffer,
            start,
            filled: 0,
            length: 0,
        }
    }

    /// Appends `bytes`, writing every block that fills up.
    pub(crate) fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = (BLOCK - self.filled).min(bytes.len());
            let at = self.start + self.filled;
            self.buffer[at..at + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            if self.filled == BLOCK {
                self.write_block(BLOCK)?;
            }
        }
        Ok(())
    }

    /// Writes what is left, cuts a padded file back to its length, and returns the temp file
    /// (not yet fsynced).
    pub(crate) fn finish(mut self) -> io::Result<NamedTempFile> {
        let tail = self.filled;
        if tail > 0 {
            let padded = if self.direct {
                tail.div_ceil(ALIGN) * ALIGN
            } else {
                tail
            };
            let at = self.start + tail;
            self.buffer[at..self.start + padded].fill(0);
            self.write_block(padded)?;
            // The block counted its padding; the file ends where the data does.
            self.length -= (padded - tail) as u64;
            if padded > tail {
                self.temp.as_file().set_len(self.length)?;
            }
        }
        Ok(self.temp)
    }

    /// Writes the first `len` bytes of the block (a multiple of [`ALIGN`] while direct) and
    /// empties it. A refusal of direct I/O, or a short write that leaves the rest unaligned,
    /// turns direct I/O off for the rest of the file instead of failing.
    fn write_block(&mut self, len: usize) -> io::Result<()> {
        let mut done = 0;
        while done < len {
            let pending = &self.buffer[self.start + done..self.start + len];
            match self.temp.as_file().write(pending) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    done += n;
                    if self.direct && n % ALIGN != 0 {
                        self.stop_direct()?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if self.direct && refuses_direct(&e) => self.stop_direct()?,
                Err(e) => return Err(e),
            }
        }
        self.length += len as u64;
        self.filled = 0;
        Ok(())
    }

    fn stop_direct(&mut self) -> io::Result<()> {
        set_direct(self.temp.as_file(), false)?;
        self.direct = false;
        Ok(())
    }

    #[cfg(test)]
    fn is_direct(&self) -> bool {
        self.direct
    }
}

/// Turns direct I/O on or off for an open file.
#[cfg(target_os = "linux")]
fn set_direct(file: &std::fs::File, on: bool) -> io::Result<()> {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    let flags = fcntl_getfl(file)?;
    let flags = if on {
        flags | OFlags::DIRECT
    } else {
        flags - OFlags::DIRECT
    };
    Ok(fcntl_setfl(file, flags)?)
}

#[cfg(not(target_os = "linux"))]
fn set_direct(_file: &std::fs::File, on: bool) -> io::Result<()> {
    if on {
        Err(io::ErrorKind::Unsupported.into())
    } else {
        Ok(())
    }
}

/// `EINVAL` from a direct write: this file system (or this buffer) takes no direct I/O.
#[cfg(target_os = "linux")]
fn refuses_direct(error: &io::Error) -> bool {
    error.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())
}

#[cfg(not(target_os = "linux"))]
fn refuses_direct(_error: &io::Error) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes 0, 1, …, 250, 0, 1, … (a prime period, so a block written at the wrong offset
    /// or twice shows).
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    fn open_in(dir: &std::path::Path) -> BlockFile {
        BlockFile::new(NamedTempFile::new_in(dir).unwrap())
    }

    /// Finishes `file` and reads back what it holds.
    fn read_back(file: BlockFile) -> Vec<u8> {
        let temp = file.finish().unwrap();
        std::fs::read(temp.path()).unwrap()
    }

    fn written(pieces: &[usize]) -> (Vec<u8>, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let total: usize = pieces.iter().sum();
        let data = pattern(total);
        let mut file = open_in(dir.path());
        let mut at = 0;
        for &n in pieces {
            file.write_all(&data[at..at + n]).unwrap();
            at += n;
        }
        (data, read_back(file))
    }

    #[test]
    fn the_file_holds_exactly_the_bytes_written() {
        // Empty, smaller than the alignment, exactly a block, a block and a tail, pieces that
        // straddle blocks, and one piece larger than two blocks.
        let cases: [&[usize]; 7] = [
            &[],
            &[1],
            &[ALIGN],
            &[BLOCK],
            &[BLOCK, 17],
            &[ALIGN - 1, BLOCK, 3, BLOCK - 5, 11],
            &[2 * BLOCK + ALIGN + 1],
        ];
        for pieces in cases {
            let (data, file) = written(pieces);
            assert_eq!(file.len(), data.len(), "pieces {pieces:?}");
            assert!(file == data, "pieces {pieces:?}: contents differ");
        }
    }

    #[test]
    fn the_page_cache_path_writes_the_same_bytes() {
        // Direct I/O turned off up front (a file system without it), and after the first
        // block (a short direct write): the same file either way.
        for blocks_before in [0, 1] {
            let dir = tempfile::tempdir().unwrap();
            let data = pattern(2 * BLOCK + 12_345);
            let mut file = open_in(dir.path());
            let (first, rest) = data.split_at(blocks_before * BLOCK);
            file.write_all(first).unwrap();
            file.stop_direct().unwrap();
            assert!(!file.is_direct());
            file.write_all(rest).unwrap();
            assert!(
                read_back(file) == data,
                "direct I/O off after {blocks_before} blocks"
            );
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn direct_io_is_used_where_the_file_system_takes_it() {
        // /dev/shm is tmpfs, which refuses O_DIRECT when the flag is set (older kernels) or
        // at the first write (newer ones); the target folder is an ordinary disk. Either way
        // the bytes arrive; on a file system that takes direct I/O the writer stays direct.
        let shm = std::path::Path::new("/dev/shm");
        if shm.is_dir() {
            let mut file = open_in(shm);
            let data = pattern(BLOCK + 1);
            file.write_all(&data).unwrap();
            assert!(read_back(file) == data);
        }
        let dir = tempfile::tempdir_in(".").unwrap();
        let mut file = open_in(dir.path());
        if file.is_direct() {
            file.write_all(&pattern(BLOCK)).unwrap();
            assert!(
                file.is_direct(),
                "a full block was written past the page cache"
            );
        }
    }
}
