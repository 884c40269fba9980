//! One id, however it is spelled: GUIDs in any case and with or without braces, BC codes in any
//! case with spaces around, in the key columns and in existing couplings; outputs in one
//! canonical form (GUIDs lower-case without braces, codes trimmed and upper-cased).

use coupler_engine::report::Renderer;
use coupler_engine::*;

const GUID: &str = "5f641b45-48bc-a138-be13-4ea95426dd94";
const GUID_BC: &str = "{5F641B45-48BC-A138-BE13-4EA95426DD94}";
const OTHER: &str = "e6f8ed18-c7b7-4a95-a5bc-44ab02629774";

fn spec() -> CouplingSpec {
    CouplingSpec {
        mapping_name: "CUSTOMER".into(),
        local_caption: "Customer".into(),
        integration_caption: "Account".into(),
        integration_source: "accounts.csv".into(),
        local_key: "No.".into(),
        integration_key: "accountid".into(),
        criteria: vec![MatchCriterion::new(
            "Phone No.",
            "telephone1",
            FieldType::Text,
            0,
            false,
        )],
        priority_mode: PriorityMode::Cumulative,
        collation: Collation::Exact,
        local_filter: vec![],
        integration_filter: vec![],
    }
}

fn tables(local: &[[&str; 2]], integration: &[[&str; 2]]) -> (Table, Table) {
    fn rows<'r>(r: &[[&'r str; 2]]) -> Vec<Vec<&'r str>> {
        r.iter().map(|r| r.to_vec()).collect()
    }
    (
        Table::from_rows("customers.csv", &["No.", "Phone No."], &rows(local)).unwrap(),
        Table::from_rows(
            "accounts.csv",
            &["accountid", "telephone1"],
            &rows(integration),
        )
        .unwrap(),
    )
}

/// The `results.csv` rows and the `couplings.csv` rows of a run.
fn run(
    local: &[[&str; 2]],
    integration: &[[&str; 2]],
    existing: &ExistingCouplings,
) -> (Vec<[String; 10]>, Vec<[String; 3]>) {
    let (local, integration) = tables(local, integration);
    let spec = spec();
    let run = couple(&spec, &local, &integration, existing, RunOptions::default()).unwrap();
    let renderer = Renderer::new(&run);
    let mut buf = Default::default();
    let mut results = Vec::new();
    let mut couplings = Vec::new();
    for (i, record) in run.outcomes().iter().enumerate() {
        let row = renderer.render(i, &mut buf);
        if let Some(c) = Renderer::coupling(record, &row) {
            couplings.push(c.map(str::to_string));
        }
        results.push(row.map(str::to_string));
    }
    (results, couplings)
}

fn error(local: &[[&str; 2]], integration: &[[&str; 2]]) -> EngineError {
    let (local, integration) = tables(local, integration);
    let spec = spec();
    couple(
        &spec,
        &local,
        &integration,
        &ExistingCouplings::new(),
        RunOptions::default(),
    )
    .err()
    .expect("the job fails")
}

#[test]
fn a_coupling_spelled_as_bc_shows_the_crm_id_holds_the_account() {
    // Issue 16, finding 13: C9 holds the account in BC's spelling; C1 must not couple to it.
    let mut existing = ExistingCouplings::new();
    existing.add_other("C9", GUID_BC);
    let (results, couplings) = run(&[["C1", "555"]], &[[GUID, "555"]], &existing);
    let r = &results[0];
    assert_eq!(r[1], "already_coupled");
    assert_eq!(r[5], GUID);
    assert_eq!(r[6], "C9");
    assert_eq!(r[9], "existing");
    assert!(couplings.is_empty());
}

#[test]
fn an_account_exported_in_bc_spelling_is_held_by_a_dataverse_spelled_coupling() {
    let mut existing = ExistingCouplings::new();
    existing.add_other("C9", GUID);
    let (results, _) = run(&[["C1", "555"]], &[[GUID_BC, "555"]], &existing);
    assert_eq!(results[0][1], "already_coupled");
    assert_eq!(results[0][5], GUID);
}

#[test]
fn a_local_record_coupled_under_another_spelling_is_skipped() {
    let mut existing = ExistingCouplings::new();
    existing.add_own(" cust-0042", &GUID.to_uppercase());
    let (results, couplings) = run(
        &[["CUST-0042", "555"], ["C2", "555"]],
        &[[OTHER, "555"]],
        &existing,
    );
    assert_eq!(results[0][0], "CUST-0042");
    assert_eq!(results[0][1], "skipped");
    assert_eq!(
        results[0][8],
        format!(
            "CUST-0042 is already coupled to {GUID}; match-based coupling skips coupled records."
        )
    );
    // The other record couples: the account held by CUST-0042's coupling is another one.
    assert_eq!(
        couplings,
        [["C2".to_string(), OTHER.to_string(), "0".into()]]
    );
}

#[test]
fn outputs_name_records_by_their_canonical_ids() {
    let (results, couplings) = run(
        &[
            ["c00010 ", "1"],
            ["C00020", "2"],
            ["c00030", "2"],
            ["C00040", "3"],
        ],
        &[
            [GUID_BC, "1"],
            [&OTHER.to_uppercase(), "2"],
            ["acc-7", "3"],
            ["Acc-8", "3"],
        ],
        &ExistingCouplings::new(),
    );
    assert_eq!(
        couplings,
        [
            ["C00010".to_string(), GUID.to_string(), "0".into()],
            ["C00020".to_string(), OTHER.to_string(), "0".into()],
        ]
    );
    // Already coupled in this job: the candidate and its holder in canonical form.
    let r = &results[2];
    assert_eq!(
        (r[0].as_str(), r[1].as_str()),
        ("C00030", "already_coupled")
    );
    assert_eq!((r[5].as_str(), r[6].as_str()), (OTHER, "C00020"));
    assert!(r[8].starts_with("Single matching entity was found for C00030 "));
    // Integration ids that are not GUIDs are kept as read.
    let r = &results[3];
    assert_eq!(r[1], "multiple_matches");
    assert_eq!(r[5], "acc-7|Acc-8");
}

#[test]
fn local_codes_differing_in_case_or_spaces_are_one_record() {
    let err = error(
        &[
            ["CUST-0041", "1"],
            ["CUST-0042", "2"],
            ["cust-0042", "3"],
            ["CUST-0042 ", "4"],
        ],
        &[[GUID, "1"]],
    );
    assert_eq!(
        err,
        EngineError::DuplicateId {
            table: "customers.csv".into(),
            id: "cust-0042".into(),
            line: 4,
            first_line: 3,
            first_id: "CUST-0042".into(),
        }
    );
    assert_eq!(
        err.to_string(),
        "customers.csv line 4: duplicate id 'cust-0042' (first seen on line 3 as 'CUST-0042'; \
         BC reads both as one id: codes are trimmed and upper-cased, GUIDs have no case or braces)"
    );
    // A blank after trimming is a blank id.
    let err = error(&[["C1", "1"], ["   ", "2"]], &[[GUID, "1"]]);
    assert_eq!(
        err.to_string(),
        "customers.csv line 3: the id column 'No.' is blank"
    );
}

#[test]
fn guids_differing_in_case_or_braces_are_one_integration_row() {
    let err = error(&[["C1", "1"]], &[[OTHER, "9"], [GUID, "1"], [GUID_BC, "2"]]);
    assert_eq!(err.line(), 4);
    assert!(
        err.to_string().starts_with(&format!(
            "accounts.csv line 4: duplicate id '{GUID_BC}' (first seen on line 3 as '{GUID}'"
        )),
        "{err}"
    );
    // Integration ids that are not GUIDs keep their case: two rows.
    let (results, _) = run(
        &[["C1", "1"]],
        &[["acc-1", "1"], ["ACC-1", "1"]],
        &ExistingCouplings::new(),
    );
    assert_eq!(results[0][1], "multiple_matches");
}

#[test]
fn a_local_systemid_key_is_a_guid_too() {
    // A BC export keyed on SystemId, in BC's spelling; the coupling file in Dataverse's.
    let mut existing = ExistingCouplings::new();
    existing.add_own(GUID, OTHER);
    let (results, _) = run(
        &[
            [GUID_BC, "1"],
            ["{11111111-2222-3333-4444-555555555555}", "1"],
        ],
        &[["a-1", "1"]],
        &existing,
    );
    assert_eq!(results[0][0], GUID);
    assert_eq!(results[0][1], "skipped");
    assert_eq!(results[1][0], "11111111-2222-3333-4444-555555555555");
    assert_eq!(results[1][1], "coupled");
}
