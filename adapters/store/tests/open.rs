//! Opening: creating, recognising, refusing other files, schema versions, pragmas.

mod common;

use std::time::Duration;

use common::*;
use coupler_store::{Store, StoreError, StoreOptions, APPLICATION_ID, SCHEMA_VERSION};

#[test]
fn new_file_is_a_wal_store_at_the_latest_version() {
    let (_dir, path, store) = temp_store();
    assert_eq!(store.schema_version(), SCHEMA_VERSION);
    assert_eq!(store.path(), path);
    assert_eq!(store.busy_timeout(), Duration::from_secs(30));
    let conn = raw(&path);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let app: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app, APPLICATION_ID);
    let v: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let who: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'application'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(who, "coupler-store");
}

#[test]
fn reopening_keeps_data() {
    let (_dir, path, mut store) = temp_store();
    start(&mut store, "job-1", "CUSTOMER");
    store
        .commit_couplings("job-1", &customer(), &pairs(&[("C1", "g1")]))
        .unwrap();
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.couplings().unwrap().len(), 1);
    assert_eq!(store.jobs().unwrap().len(), 1);
}

#[test]
fn empty_file_becomes_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.db");
    std::fs::write(&path, b"").unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version(), SCHEMA_VERSION);
}

#[test]
fn newer_schema_is_refused_naming_the_path() {
    let (_dir, path, store) = temp_store();
    drop(store);
    raw(&path)
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let e = Store::open(&path).unwrap_err();
    match &e {
        StoreError::TooNew {
            found, supported, ..
        } => {
            assert_eq!((*found, *supported), (99, SCHEMA_VERSION))
        }
        other => panic!("{other}"),
    }
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("newer"), "{msg}");
    assert_eq!(e.path(), path);
}

#[test]
fn non_sqlite_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        (
            "config.toml",
            b"[[mappings]]\nname = \"CUSTOMER\"\n".repeat(40),
        ),
        ("short.txt", b"hello".to_vec()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &content).unwrap();
        let e = Store::open(&path).unwrap_err();
        assert!(matches!(e, StoreError::NotAStore { .. }), "{name}: {e:?}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        assert!(e.to_string().contains("not a coupler store"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), content, "{name} was changed");
    }
}

#[test]
fn another_applications_sqlite_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    raw(&path)
        .execute_batch(
            "CREATE TABLE invoices (id INTEGER PRIMARY KEY); INSERT INTO invoices VALUES (1);",
        )
        .unwrap();
    let e = Store::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::NotAStore { .. }), "{e:?}");
    assert!(e.to_string().contains("invoices"), "{e}");
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    let conn = raw(&path);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "journal mode was changed");
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 1);

    let path = dir.path().join("app.db");
    raw(&path)
        .execute_batch("PRAGMA application_id = 1234")
        .unwrap();
    let e = Store::open(&path).unwrap_err();
    assert!(e.to_string().contains("application_id 0x000004d2"), "{e}");
}

#[test]
fn missing_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/coupler.db");
    let e = Store::open(&path).unwrap_err();
    assert!(matches!(e, StoreError::Sqlite { .. }), "{e:?}");
    assert!(e.to_string().contains("no/such/dir/coupler.db"), "{e}");
    assert!(e.to_string().contains("opening the store"), "{e}");
}

#[test]
fn concurrent_first_opens_migrate_once() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coupler.db");
        let barrier = std::sync::Barrier::new(4);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        Store::open(&path).map(|st| st.schema_version())
                    })
                })
                .collect();
            for h in handles {
                assert_eq!(h.join().unwrap().unwrap(), SCHEMA_VERSION);
            }
        });
        let n: i64 = raw(&path)
            .query_row(
                "SELECT count(*) FROM meta WHERE key = 'application'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1);
    }
}

#[test]
fn busy_timeout_is_settable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coupler.db");
    let mut store = Store::open_with(
        &path,
        StoreOptions {
            busy_timeout: Duration::from_millis(250),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    assert_eq!(store.busy_timeout(), Duration::from_millis(250));
    store.set_busy_timeout(Duration::from_secs(2)).unwrap();
    assert_eq!(store.busy_timeout(), Duration::from_secs(2));
}

#[test]
fn open_without_create_refuses_a_missing_file_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coupler.db");
    let options = StoreOptions {
        create: false,
        ..StoreOptions::default()
    };
    let e = Store::open_with(&path, options).unwrap_err();
    assert!(matches!(e, StoreError::Missing { .. }), "{e:?}");
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    assert!(!path.exists());
    drop(Store::open(&path).unwrap());
    assert_eq!(
        Store::open_with(&path, options).unwrap().schema_version(),
        SCHEMA_VERSION
    );
}
