//! Read-only access that leaves no trace: [`Store::open_read_only`].
//!
//! A dry run (and `jobs`, `couplings export`) must not write to the store, and must not create
//! anything beside it either. SQLite's `mode=ro` is not enough in WAL mode: a read-only
//! connection still creates `store.db-wal` and `store.db-shm` when they are missing, owned by
//! whoever ran it — another OS user's dry run then leaves files the store's owner cannot write,
//! and the owner's next `--apply` fails with "attempt to write a readonly database".
//!
//! So a read-only open takes one of two paths:
//!
//! - **No WAL file** (no connection is open, and the last one checkpointed on close): the
//!   database file holds every committed transaction. It is opened `immutable=1` — no locks,
//!   no side files. A writer that starts meanwhile writes into its own new WAL and touches the
//!   database file only at a checkpoint; [`Store::verify_snapshot`] tells the caller whether
//!   that happened while it read (size or modification time changed), and the caller reads
//!   again.
//! - **A WAL file exists** (a writer is running, or one was killed), or the file has an older
//!   schema: the database and its WAL are copied into a private temporary folder, checked
//!   unchanged across the copy, and the copy is opened normally (SQLite recovers the WAL and
//!   migrates the schema in the copy). The copy is removed when the store is dropped.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rusqlite::{Connection, OpenFlags};

use crate::schema::{self, Identity};
use crate::{Store, StoreError, StoreOptions, SCHEMA_VERSION};

/// How often a snapshot is retried when the store changes under it.
const ATTEMPTS: u32 = 5;

/// A read-only store's source: what the database file looked like when it was opened, and the
/// private copy, if one was made.
#[derive(Debug)]
pub(crate) struct Snapshot {
    source: PathBuf,
    seen: FileState,
    _copy: Option<tempfile::TempDir>,
}

/// Size and modification time of the database file and of its WAL (absent: `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileState {
    db: (u64, Option<SystemTime>),
    wal: Option<(u64, Option<SystemTime>)>,
}

impl FileState {
    fn read(path: &Path) -> std::io::Result<FileState> {
        let meta = fs::metadata(path)?;
        let wal = match fs::metadata(wal_path(path)) {
            Ok(m) => Some((m.len(), m.modified().ok())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        Ok(FileState {
            db: (meta.len(), meta.modified().ok()),
            wal,
        })
    }

    /// Whether the WAL holds transactions the database file lacks.
    fn has_wal(&self) -> bool {
        self.wal.is_some_and(|(len, _)| len > 0)
    }
}

fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

impl Store {
    /// Opens an existing store for reading only, creating nothing beside it and changing
    /// nothing in it (see the module docs for how). Do not write through it: writes fail, or
    /// land in the private copy and are lost.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        crate::check_path(path)?;
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_owned(),
            });
        }
        let io = |e: std::io::Error| StoreError::InvalidInput {
            path: path.to_owned(),
            action: "opening the store read-only",
            reason: e.to_string(),
        };
        for _ in 0..ATTEMPTS {
            let seen = FileState::read(path).map_err(io)?;
            if !seen.has_wal() {
                match open_immutable(path, seen.clone())? {
                    Some(store) if FileState::read(path).map_err(io)? == seen => return Ok(store),
                    Some(_) => continue,
                    None => {} // an older schema: migrate a copy
                }
            }
            if let Some(store) = open_copy(path, &seen).map_err(io)? {
                return Ok(store);
            }
        }
        Err(StoreError::Unstable {
            path: path.to_owned(),
            attempts: ATTEMPTS,
        })
    }

    /// For a store from [`Store::open_read_only`]: whether everything read so far came from one
    /// consistent state of the file. `Err(Unstable)` when another process checkpointed into
    /// the file meanwhile (read again with a new snapshot). Always `Ok` for a private copy and
    /// for a store opened for writing.
    pub fn verify_snapshot(&self) -> Result<(), StoreError> {
        match &self.snapshot {
            Some(s) if s._copy.is_none() => match FileState::read(&s.source) {
                Ok(now) if now.db == s.seen.db => Ok(()),
                _ => Err(StoreError::Unstable {
                    path: s.source.clone(),
                    attempts: 1,
                }),
            },
            _ => Ok(()),
        }
    }
}

/// Opens the database file itself with `immutable=1` (no locks, no side files). `None` when the
/// schema is older than this build's (reading needs the migrated schema).
fn open_immutable(path: &Path, seen: FileState) -> Result<Option<Store>, StoreError> {
    let err = |source| StoreError::Sqlite {
        path: path.to_owned(),
        action: "opening the store read-only",
        source,
    };
    let uri = format!("file:{}?immutable=1", uri_path(path));
    let conn = Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    let identity = schema::identify(&conn).map_err(|source| {
        crate::store_err(
            path,
            crate::DEFAULT_BUSY_TIMEOUT,
            "reading the store header",
            source,
        )
    })?;
    let version = match identity {
        Identity::Ours(v) if v > SCHEMA_VERSION => {
            return Err(StoreError::TooNew {
                path: path.to_owned(),
                found: v,
                supported: SCHEMA_VERSION,
            })
        }
        Identity::Ours(v) if v == SCHEMA_VERSION => v,
        Identity::Ours(_) => return Ok(None),
        Identity::Empty => {
            return Err(StoreError::NotAStore {
                path: path.to_owned(),
                reason: "an empty file".to_owned(),
            })
        }
        Identity::Foreign(reason) => {
            return Err(StoreError::NotAStore {
                path: path.to_owned(),
                reason,
            })
        }
    };
    Ok(Some(Store {
        conn,
        path: path.to_owned(),
        busy_timeout: crate::DEFAULT_BUSY_TIMEOUT,
        version,
        snapshot: Some(Snapshot {
            source: path.to_owned(),
            seen,
            _copy: None,
        }),
    }))
}

/// Copies the database and its WAL into a private folder and opens the copy (recovering the WAL
/// and migrating the schema there). `None` when the files changed during the copy.
fn open_copy(path: &Path, seen: &FileState) -> std::io::Result<Option<Store>> {
    let dir = tempfile::Builder::new()
        .prefix("coupler-store-")
        .tempdir()?;
    let copy = dir.path().join("store.db");
    fs::copy(path, &copy)?;
    if seen.wal.is_some() {
        match fs::copy(wal_path(path), wal_path(&copy)) {
            Ok(_) => {}
            // The writer finished and removed its WAL meanwhile: try again.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    if FileState::read(path)? != *seen {
        return Ok(None);
    }
    let options = StoreOptions {
        create: false,
        ..StoreOptions::default()
    };
    let mut store = Store::open_with(&copy, options).map_err(std::io::Error::other)?;
    store.path = path.to_owned();
    store.snapshot = Some(Snapshot {
        source: path.to_owned(),
        seen: seen.clone(),
        _copy: Some(dir),
    });
    Ok(Some(store))
}

/// A path as the path part of an SQLite `file:` URI (`?`, `#` and `%` escaped).
fn uri_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            _ => out.push(c),
        }
    }
    out
}
