//! coupler's files adapter: CSV/XLSX exports in, `results.csv` / `couplings.csv` / `job.json`
//! out.
//!
//! - [`mod@read`] owns getting text out of exports: delimiter detection, decoding, headers, XLSX
//!   cell formatting, and errors that point at the file, line (or sheet row) and column. It
//!   produces the engine's [`coupler_engine::Table`] holding only the requested columns.
//! - [`mod@write`] owns producing files: spreadsheet-safe streaming CSV, atomic replacement of
//!   outputs, and reading a couplings CSV back.
//! - [`StagedFolder`] makes a job's output folder all-or-nothing (written aside, swapped in).
//! - [`FilesError`] is the one error type; its `Display` text is the message users see.
//!
//! Why these libraries:
//! - `csv` (BurntSushi): the reference for both directions. Outputs are written in its RFC 4180
//!   "necessary" quoting by this crate's own encoder ([`RowEncoder`], checked against the crate
//!   byte for byte), which skips the crate writer's per-field state machine and second copy.
//!   Files are read in its grammar (csv_core's: quoted delimiters, doubled quotes, embedded
//!   newlines, CR/LF/CRLF, blank lines skipped) by this crate's own tokenizer
//!   (`read/tokenize.rs`), which fills its `ByteRecord`s where whole records are wanted: it
//!   classifies 64 bytes at a time with SIMD, validates UTF-8 once per block, counts lines
//!   exactly, and hands over only the requested values, so reading two 1M-row exports costs
//!   less than the `csv` crate's bare parse of them. Tested against the `csv` crate record for
//!   record.
//! - `encoding_rs`: the WHATWG decoders Firefox uses; windows-1252 is what Excel writes for
//!   "CSV" on Western Windows. Decoding is streamed in front of the parser.
//! - `calamine`: pure-Rust XLSX reader (no Excel/LibreOffice needed) that exposes cell types, so
//!   numbers, booleans and dates can be rendered the way users see them in Excel.
//! - `tempfile`: temp files in the target folder that are deleted unless persisted, which gives
//!   atomic replace-by-rename.
//! - `rustix` (Linux only, already in the tree through `tempfile`): switches an output's temp
//!   file to `O_DIRECT` with a safe `fcntl` (why outputs skip the page cache: `block_file.rs`).
//!
//! # Example
//!
//! Read two columns of a Business Central export, after checking they are there, and write
//! them to a CSV that is safe to open in Excel:
//!
//! ```
//! use coupler_files::{check_columns, read_header, read_table, FileSource, SafeCsvWriter};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let export = dir.path().join("customers.csv");
//! std::fs::write(
//!     &export,
//!     "No.;Name;Phone No.\r\n\
//!      10000;Müller GmbH;+49 30 1234\r\n\
//!      10001;=HYPERLINK(\"http://example.com\");\r\n",
//! )?;
//!
//! // Check the columns first: a cheap look at the header, a clear message naming them.
//! let source = FileSource::csv(&export);
//! let header = read_header(&source)?;
//! let columns = ["No.".to_string(), "Name".to_string()];
//! check_columns(&source.path, &header, &columns)?;
//! let mistyped = check_columns(&source.path, &header, &["Phone Nr.".to_string()]);
//! assert!(mistyped
//!     .unwrap_err()
//!     .to_string()
//!     .contains("did you mean 'Phone No.'?"));
//!
//! let table = read_table(&source, &columns, &|_| {})?;
//! assert_eq!(table.len(), 2);
//! assert_eq!(table.cell(1, 1), r#"=HYPERLINK("http://example.com")"#);
//!
//! // The id column is written as-is, the name is guarded against formulas.
//! let output = dir.path().join("out").join("names.csv");
//! let mut writer = SafeCsvWriter::new(&output, &["local_id", "name"], &[true])?;
//! for row in 0..table.len() {
//!     writer.write_row([table.cell(row, 0), table.cell(row, 1)])?;
//! }
//! writer.finish()?;
//! assert_eq!(
//!     std::fs::read_to_string(&output)?,
//!     "local_id,name\n\
//!      10000,Müller GmbH\n\
//!      10001,\"'=HYPERLINK(\"\"http://example.com\"\")\"\n"
//! );
//! # Ok(())
//! # }
//! ```

mod block_file;
mod error;
mod folder;
pub mod read;
pub mod write;

pub use error::{FilesError, WINDOWS_1252_HINT};
pub use folder::StagedFolder;
pub use read::{
    check_columns, detect_delimiter, read_header, read_table, read_table_checking, CsvOptions,
    Encoding, FileSource, SourceFormat,
};
pub use write::{needs_formula_guard, read_couplings, write_atomically, RowEncoder, SafeCsvWriter};
