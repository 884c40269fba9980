//! Byte-stream adapters under the CSV parser: one counts the bytes taken from the file (for
//! progress reports), the other turns a legacy single-byte encoding into UTF-8 on the fly so the
//! parser and the rest of the crate only ever see UTF-8.

use std::io::{self, Read};

use encoding_rs::{Decoder, Encoding};

/// Counts the bytes read from `inner`.
pub(crate) struct Counting<R> {
    pub(crate) inner: R,
    pub(crate) count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

const CHUNK: usize = 64 * 1024;

/// Decodes `inner` from `encoding` to UTF-8, streaming. A UTF-8 or UTF-16 BOM at the start
/// overrides `encoding` (encoding_rs's BOM sniffing): a file that says it is UTF-8 is.
pub(crate) struct DecodeToUtf8<R> {
    inner: R,
    decoder: Decoder,
    input: Vec<u8>,
    output: Vec<u8>,
    out_pos: usize,
    finished: bool,
}

impl<R: Read> DecodeToUtf8<R> {
    pub(crate) fn new(inner: R, encoding: &'static Encoding) -> Self {
        DecodeToUtf8 {
            inner,
            decoder: encoding.new_decoder(),
            input: vec![0; CHUNK],
            output: Vec::new(),
            out_pos: 0,
            finished: false,
        }
    }

    /// The undecoded input.
    pub(crate) fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Decodes the next input chunk into `output`. Returns false at the end of the stream.
    fn refill(&mut self) -> io::Result<bool> {
        if self.finished {
            return Ok(false);
        }
        let n = loop {
            match self.inner.read(&mut self.input) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        let last = n == 0;
        let room = self
            .decoder
            .max_utf8_buffer_length(n)
            .unwrap_or(n * 3 + 16)
            .max(16);
        self.output.clear();
        self.output.resize(room, 0);
        let (_result, read, written, _replaced) =
            self.decoder
                .decode_to_utf8(&self.input[..n], &mut self.output, last);
        debug_assert_eq!(read, n, "output buffer sized by max_utf8_buffer_length");
        self.output.truncate(written);
        self.out_pos = 0;
        if last {
            self.finished = true;
        }
        Ok(true)
    }
}

impl<R: Read> Read for DecodeToUtf8<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.out_pos >= self.output.len() {
            if !self.refill()? {
                return Ok(0);
            }
        }
        let available = &self.output[self.out_pos..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.out_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1252_decodes_across_tiny_reads() {
        let bytes: &[u8] = &[0x4D, 0xFC, 0x6C, 0x6C, 0x65, 0x72, b',', 0x80];
        let mut r = DecodeToUtf8::new(bytes, encoding_rs::WINDOWS_1252);
        let mut out = Vec::new();
        let mut one = [0u8; 1];
        while r.read(&mut one).unwrap() == 1 {
            out.push(one[0]);
        }
        assert_eq!(String::from_utf8(out).unwrap(), "Müller,€");
    }
}
