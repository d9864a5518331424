//! The lines of one object read in byte ranges, shared by the campaigns engine's audience chunks
//! and the availability sync's units.
//!
//! A range `[start, end)` owns the lines that start inside it: unless it starts at 0 it skips
//! the partial line it begins in (reading from `start - 1` tells whether `start` begins a line),
//! and it reads past `end`, in small extra reads, to finish its last line. Reads come in pieces,
//! so a range never holds more than a piece and one line. A gzip object cannot be entered in the
//! middle: it is one range, decompressed as it streams in.

use std::io::Write as _;
use std::ops::Range;

use async_trait::async_trait;
use memchr::memchr;

use crate::error::StoreError;

/// A range reads in pieces of at most this many bytes.
pub const READ_PIECE_BYTES: u64 = 1024 * 1024;
/// Past its end, a range finishes its last line in reads of this many bytes.
pub const EXTRA_READ_BYTES: u64 = 16 * 1024;
/// A gzip object is fetched in compressed pieces of this many bytes.
pub const GZIP_PIECE_BYTES: u64 = 256 * 1024;
/// Compressed bytes are fed to the decoder this many at a time, and the lines they yield handed
/// out before more: deflate expands at most about 1,000 times, so the decompressed buffer stays
/// within a few MiB however well the object compresses.
pub const GZIP_FEED_BYTES: usize = 4 * 1024;

/// One object, read by byte range.
#[async_trait]
pub trait RangeRead: Send + Sync {
    /// What the object is, for errors ("audience export", "score export").
    fn label(&self) -> &'static str;
    /// The bytes from `start` up to `end_exclusive` (cut at the end of the object).
    async fn read_range(&self, start: u64, end_exclusive: u64) -> Result<Vec<u8>, StoreError>;
}

/// Byte ranges of `range_bytes` (the last one shorter) covering an object of `size` bytes.
pub fn plan_ranges(size: u64, range_bytes: u64) -> Vec<Range<u64>> {
    let range_bytes = range_bytes.max(1);
    let mut ranges = Vec::with_capacity(size.div_ceil(range_bytes) as usize);
    let mut start = 0;
    while start < size {
        let end = (start + range_bytes).min(size);
        ranges.push(start..end);
        start = end;
    }
    ranges
}

/// The lines a range owns, each with the offset of its first byte (in the decompressed stream,
/// for gzip).
pub enum OwnedLines<R> {
    Range(RangeLines<R>),
    Gzip(Box<GzipLines<R>>),
}

impl<R: RangeRead> OwnedLines<R> {
    /// `size` is the object's size; `gzip` whether it is one gzip stream (or several, concatenated).
    pub async fn open(
        source: R,
        size: u64,
        range: Range<u64>,
        gzip: bool,
    ) -> Result<Self, StoreError> {
        if gzip {
            // Every line of a gzip stream starts, as far as byte ranges go, at 0: the range that
            // starts there owns them all, any other owns none.
            let owns_all = range.start == 0 && !range.is_empty();
            return Ok(OwnedLines::Gzip(Box::new(GzipLines {
                source,
                size: if owns_all { size } else { 0 },
                fetched: 0,
                decoder: flate2::write::MultiGzDecoder::new(Vec::new()),
                input: Vec::new(),
                input_at: 0,
                consumed: 0,
                offset: 0,
                finished: !owns_all,
            })));
        }
        let end = range.end.min(size);
        let mut lines = RangeLines {
            source,
            size,
            end,
            fetched: range.start.saturating_sub(1),
            buf: Vec::new(),
            consumed: 0,
            buf_offset: range.start.saturating_sub(1),
        };
        if range.start > 0 {
            // The line that ends at or after `start - 1` began before this range.
            lines.next_piece_of_line(true).await?;
        }
        Ok(OwnedLines::Range(lines))
    }

    pub async fn next_line(&mut self) -> Result<Option<(u64, &[u8])>, StoreError> {
        match self {
            OwnedLines::Range(lines) => lines.next_line().await,
            OwnedLines::Gzip(lines) => lines.next_line().await,
        }
    }

    /// Bytes fetched from the object so far (compressed bytes, for gzip).
    pub fn bytes_fetched(&self) -> u64 {
        match self {
            OwnedLines::Range(lines) => lines.fetched,
            OwnedLines::Gzip(lines) => lines.fetched,
        }
    }
}

pub struct RangeLines<R> {
    source: R,
    size: u64,
    end: u64,
    /// Offset of the next byte to fetch.
    fetched: u64,
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out; always at the start of a line.
    consumed: usize,
    /// Offset of `buf[0]`.
    buf_offset: u64,
}

impl<R: RangeRead> RangeLines<R> {
    async fn next_line(&mut self) -> Result<Option<(u64, &[u8])>, StoreError> {
        if self.buf_offset + self.consumed as u64 >= self.end {
            return Ok(None);
        }
        Ok(self
            .next_piece_of_line(false)
            .await?
            .map(|(offset, range)| (offset, &self.buf[range])))
    }

    /// The next line (without its newline) from the current position, fetching as needed.
    async fn next_piece_of_line(
        &mut self,
        skipping: bool,
    ) -> Result<Option<(u64, Range<usize>)>, StoreError> {
        let mut searched = self.consumed;
        loop {
            if let Some(position) = memchr(b'\n', &self.buf[searched..]) {
                let line = self.consumed..searched + position;
                let offset = self.buf_offset + self.consumed as u64;
                self.consumed = searched + position + 1;
                return Ok(Some((offset, line)));
            }
            if self.fetched >= self.size {
                if self.consumed < self.buf.len() && !skipping {
                    let line = self.consumed..self.buf.len();
                    let offset = self.buf_offset + self.consumed as u64;
                    self.consumed = self.buf.len();
                    return Ok(Some((offset, line)));
                }
                self.consumed = self.buf.len();
                return Ok(None);
            }
            if self.consumed > 0 {
                self.buf.drain(..self.consumed);
                self.buf_offset += self.consumed as u64;
                self.consumed = 0;
            }
            searched = self.buf.len();
            let until = if self.fetched < self.end {
                (self.fetched + READ_PIECE_BYTES).min(self.end)
            } else {
                (self.fetched + EXTRA_READ_BYTES).min(self.size)
            };
            let bytes = self.source.read_range(self.fetched, until).await?;
            if bytes.is_empty() {
                // The object shrank under us: what is there is all there is.
                self.size = self.fetched;
                continue;
            }
            self.fetched += bytes.len() as u64;
            if self.buf.is_empty() {
                self.buf = bytes;
            } else {
                self.buf.extend_from_slice(&bytes);
            }
        }
    }
}

pub struct GzipLines<R> {
    source: R,
    size: u64,
    fetched: u64,
    /// Decompressed bytes collect in the decoder's buffer; `consumed` of them are handed out.
    decoder: flate2::write::MultiGzDecoder<Vec<u8>>,
    /// The compressed piece being fed to the decoder, and how far.
    input: Vec<u8>,
    input_at: usize,
    consumed: usize,
    /// Offset in the decompressed stream of the decoder buffer's first byte.
    offset: u64,
    finished: bool,
}

impl<R: RangeRead> GzipLines<R> {
    async fn next_line(&mut self) -> Result<Option<(u64, &[u8])>, StoreError> {
        let mut searched = self.consumed;
        loop {
            let out = self.decoder.get_ref();
            if let Some(position) = memchr(b'\n', &out[searched..]) {
                let line = self.consumed..searched + position;
                let offset = self.offset + self.consumed as u64;
                self.consumed = searched + position + 1;
                return Ok(Some((offset, &self.decoder.get_ref()[line])));
            }
            if self.finished {
                if self.consumed < out.len() {
                    let line = self.consumed..out.len();
                    let offset = self.offset + self.consumed as u64;
                    self.consumed = out.len();
                    return Ok(Some((offset, &self.decoder.get_ref()[line])));
                }
                return Ok(None);
            }
            let consumed = std::mem::take(&mut self.consumed);
            self.decoder.get_mut().drain(..consumed);
            self.offset += consumed as u64;
            searched = self.decoder.get_ref().len();
            self.feed().await?;
        }
    }

    /// Moves the stream on: feeds the decoder the next bit of input, fetches the next piece, or
    /// finishes the stream at the end of the object.
    async fn feed(&mut self) -> Result<(), StoreError> {
        let label = self.source.label();
        if self.input_at < self.input.len() {
            let until = (self.input_at + GZIP_FEED_BYTES).min(self.input.len());
            self.decoder
                .write_all(&self.input[self.input_at..until])
                .map_err(|e| corrupt_gzip(label, e))?;
            self.input_at = until;
            return Ok(());
        }
        if self.fetched >= self.size {
            self.decoder
                .try_finish()
                .map_err(|e| corrupt_gzip(label, e))?;
            self.finished = true;
            return Ok(());
        }
        let until = (self.fetched + GZIP_PIECE_BYTES).min(self.size);
        let bytes = self.source.read_range(self.fetched, until).await?;
        if bytes.is_empty() {
            self.size = self.fetched;
            return Ok(());
        }
        self.fetched += bytes.len() as u64;
        self.input = bytes;
        self.input_at = 0;
        Ok(())
    }
}

fn corrupt_gzip(label: &'static str, error: std::io::Error) -> StoreError {
    StoreError::Corrupt {
        store: label,
        reason: format!("gzip stream: {error}"),
    }
}

#[cfg(test)]
mod tests;
