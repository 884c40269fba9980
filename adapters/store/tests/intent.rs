//! Intent before effect: a job's couplings and the writes that depend on them are committed in
//! one transaction; a create's coupling waits for its row; read-only opens leave no trace.

mod common;
use common::*;

use coupler_store::{
    ConflictKind, JobIntent, PlannedCreate, PlannedWrite, Store, StoreError, WriteState,
};

fn write(key: &str, operation: &str, id: &str) -> PlannedWrite {
    PlannedWrite {
        key: key.into(),
        mapping: "CUSTOMER".into(),
        target: format!("dataverse:accounts({id})"),
        operation: operation.into(),
        payload: format!(
            r#"{{"create":{},"entity_set":"accounts","id":"{id}","fields":{{}}}}"#,
            operation == "create"
        ),
    }
}

fn create(local: &str, id: &str) -> PlannedCreate {
    PlannedCreate {
        local_id: local.into(),
        integration_id: id.into(),
        write: write(&format!("job-1:create:{local}"), "create", id),
    }
}

fn keys(store: &Store) -> Vec<String> {
    store
        .journal_pending("CUSTOMER")
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect()
}

#[test]
fn couplings_and_their_writes_commit_together_and_writes_of_refused_pairs_are_dropped() {
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "job-0", "CUSTOMER");
    store
        .commit_couplings("job-0", &customer(), &pairs(&[("C9", "g2")]))
        .unwrap();
    start(&mut store, "job-1", "CUSTOMER");
    let intent = JobIntent {
        pairs: pairs(&[("C1", "g1"), ("C2", "g2")]),
        pair_writes: vec![
            ("C1".into(), write("job-1:update:g1", "update", "g1")),
            // C2's pair is refused (g2 is C9's): its update must not be planned.
            ("C2".into(), write("job-1:update:g2", "update", "g2")),
        ],
        creates: vec![create("C3", "n3")],
    };
    let done = store.commit_job("job-1", &customer(), &intent).unwrap();
    assert_eq!(done.couplings.inserted, pairs(&[("C1", "g1")]));
    assert_eq!(
        done.couplings.conflicts[0].kind,
        ConflictKind::IntegrationTaken
    );
    assert_eq!(done.creates.inserted, pairs(&[("C3", "n3")]));
    assert_eq!(done.journaled, 2);
    assert_eq!(keys(&store), ["job-1:create:C3", "job-1:update:g1"]);
    // The create's coupling holds its record, pending until the row exists.
    let c3 = store
        .couplings_of("CUSTOMER")
        .unwrap()
        .into_iter()
        .find(|c| c.local_id == "C3")
        .unwrap();
    assert!(c3.pending);
    assert_eq!(c3.integration_id, "n3");
}

#[test]
fn a_confirmed_create_confirms_its_coupling_and_a_refused_one_withdraws_it() {
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "job-1", "CUSTOMER");
    let intent = JobIntent {
        creates: vec![create("C3", "n3"), create("C4", "n4")],
        ..JobIntent::default()
    };
    store.commit_job("job-1", &customer(), &intent).unwrap();
    store
        .journal_mark_all(&[
            ("job-1:create:C3", WriteState::Sent, None),
            ("job-1:create:C4", WriteState::Sent, None),
        ])
        .unwrap();
    store
        .journal_mark_all(&[
            ("job-1:create:C3", WriteState::Done, None),
            ("job-1:create:C4", WriteState::Failed, Some("HTTP 400")),
        ])
        .unwrap();
    let couplings = store.couplings_of("CUSTOMER").unwrap();
    assert_eq!(couplings.len(), 1);
    assert_eq!(couplings[0].local_id, "C3");
    assert!(!couplings[0].pending);
    assert!(keys(&store).is_empty());
}

#[test]
fn uncoupling_a_record_whose_row_is_not_created_yet_withdraws_the_create() {
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "job-1", "CUSTOMER");
    let intent = JobIntent {
        creates: vec![create("C3", "n3")],
        ..JobIntent::default()
    };
    store.commit_job("job-1", &customer(), &intent).unwrap();
    store
        .uncouple("CUSTOMER", Some(&["C3".to_string()]), "unc-1")
        .unwrap();
    assert!(keys(&store).is_empty(), "no create left to send");
    let entry = store.journal_entry("job-1:create:C3").unwrap().unwrap();
    assert_eq!(entry.state, WriteState::Failed);
    assert!(entry.detail.unwrap().contains("withdrawn"));
}

#[test]
fn a_create_for_a_record_coupled_meanwhile_is_not_planned() {
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "job-0", "CUSTOMER");
    store
        .commit_couplings("job-0", &customer(), &pairs(&[("C3", "g3")]))
        .unwrap();
    start(&mut store, "job-1", "CUSTOMER");
    let intent = JobIntent {
        creates: vec![create("C3", "n3")],
        ..JobIntent::default()
    };
    let done = store.commit_job("job-1", &customer(), &intent).unwrap();
    assert_eq!(
        done.creates.conflicts[0].kind,
        ConflictKind::LocalAlreadyCoupled
    );
    assert_eq!(done.journaled, 0);
    assert!(keys(&store).is_empty());
}

#[test]
fn a_folder_or_an_empty_path_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let e = Store::open(dir.path()).unwrap_err();
    assert!(matches!(e, StoreError::NotAFile { .. }), "{e}");
    assert!(e.to_string().contains("is a folder"), "{e}");
    let e = Store::open(std::path::Path::new("")).unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
    let e = Store::open_read_only(dir.path()).unwrap_err();
    assert!(e.to_string().contains("is a folder"), "{e}");
}

fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_read_only_open_creates_nothing_and_sees_every_commit() {
    let (dir, path, mut store) = temp_store();
    start(&mut store, "job-1", "CUSTOMER");
    store
        .commit_couplings("job-1", &customer(), &pairs(&[("C1", "g1")]))
        .unwrap();
    drop(store);
    let before = listing(dir.path());
    assert_eq!(before, ["coupler.db"], "a closed store has no side files");
    let ro = Store::open_read_only(&path).unwrap();
    assert_eq!(ro.couplings().unwrap().len(), 1);
    ro.verify_snapshot().unwrap();
    assert_eq!(listing(dir.path()), before, "nothing created beside it");
    drop(ro);
    assert_eq!(listing(dir.path()), before);

    // While a writer holds the store open, its commits live in the WAL: the snapshot must see
    // them, still without creating anything.
    let mut writer = Store::open(&path).unwrap();
    writer
        .commit_couplings("job-1", &customer(), &pairs(&[("C2", "g2")]))
        .unwrap();
    let during = listing(dir.path());
    let ro = Store::open_read_only(&path).unwrap();
    assert_eq!(ro.couplings().unwrap().len(), 2);
    assert_eq!(listing(dir.path()), during);
    drop(ro);
    drop(writer);
}

#[test]
fn a_read_only_open_notices_a_checkpoint_under_it() {
    let (_dir, path, mut store) = temp_store();
    start(&mut store, "job-1", "CUSTOMER");
    drop(store);
    let ro = Store::open_read_only(&path).unwrap();
    ro.verify_snapshot().unwrap();
    // Another process commits and closes (checkpointing into the file).
    let mut writer = Store::open(&path).unwrap();
    writer
        .commit_couplings("job-1", &customer(), &pairs(&[("C2", "g2")]))
        .unwrap();
    drop(writer);
    assert!(matches!(
        ro.verify_snapshot(),
        Err(StoreError::Unstable { .. })
    ));
}

#[test]
fn uncoupling_a_pair_withdraws_the_writes_still_planned_for_it() {
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "job-1", "CUSTOMER");
    let file_row = |key: &str| PlannedWrite {
        key: key.into(),
        mapping: "CUSTOMER".into(),
        target: "file:bc-updates.csv(C1)".into(),
        operation: "bc_update".into(),
        payload: "{}".into(),
    };
    let intent = JobIntent {
        pairs: pairs(&[("C1", "g1"), ("C2", "g2")]),
        pair_writes: vec![
            ("C1".into(), write("job-1:update:g1", "update", "g1")),
            ("C1".into(), file_row("job-1:bc_update:C1")),
            ("C2".into(), write("job-1:update:g2", "update", "g2")),
        ],
        ..JobIntent::default()
    };
    store.commit_job("job-1", &customer(), &intent).unwrap();
    store
        .uncouple("CUSTOMER", Some(&["C1".to_string()]), "unc-1")
        .unwrap();
    assert_eq!(keys(&store), ["job-1:update:g2"], "only C2's write is left");
    let e = store.journal_entry("job-1:update:g1").unwrap().unwrap();
    assert_eq!(e.state, WriteState::Failed);
    assert!(e.detail.unwrap().contains("uncoupled"));
}
