//! Synchronization planning (docs/semantics.md#synchronization-after-coupling): directions, conflicts, constants, Code fields,
//! typed equality, unreadable values, order, and the plan/apply/re-plan property.

use coupler_engine::sync::{
    conflict_message, plan_sync, ConflictResolution, FieldMapping, PlanDirection, PlanRow,
    PlanStatus, SyncDirection, SyncError, SyncPlan, SyncSpec,
};
use coupler_engine::{FieldType, Table};
use proptest::prelude::*;

use ConflictResolution as R;
use FieldType as T;
use PlanDirection::{FromIntegration as FROM, ToIntegration as TO};
use PlanStatus::{Conflict, Failed, Unchanged, Update};
use SyncDirection as D;

fn spec(direction: D, resolution: R, fields: Vec<FieldMapping>) -> SyncSpec {
    SyncSpec {
        mapping_name: "CUSTOMER".into(),
        local_table_caption: "Customer".into(),
        integration_table_caption: "Account".into(),
        direction,
        conflict_resolution: resolution,
        fields,
    }
}

fn f(local: &str, integration: &str, t: FieldType, d: D) -> FieldMapping {
    FieldMapping::new(local, integration, t, d)
}

fn table(name: &str, columns: &[&str], rows: &[&[&str]]) -> Table {
    let rows: Vec<Vec<&str>> = rows.iter().map(|r| r.to_vec()).collect();
    Table::from_rows(name, columns, &rows).unwrap()
}

/// `(direction, field, old, new, status)` of each row, for compact assertions.
fn summary(plan: &SyncPlan) -> Vec<(PlanDirection, &str, &str, &str, PlanStatus)> {
    plan.rows
        .iter()
        .map(|r| {
            (
                r.direction,
                r.field.as_str(),
                r.old_value.as_str(),
                r.new_value.as_str(),
                r.status,
            )
        })
        .collect()
}

fn one_pair(s: &SyncSpec, local: &Table, integration: &Table) -> SyncPlan {
    plan_sync(s, local, integration, &[(0, 0)]).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Directions (rule 1 and 2)

/// Which directions each field's rows appear in, for every mapping direction × resolution ×
/// field direction.
#[test]
fn direction_matrix() {
    let cases: &[(D, R, D, &[PlanDirection])] = &[
        // One-way mappings ignore the resolution.
        (D::ToIntegration, R::None, D::Bidirectional, &[TO]),
        (D::ToIntegration, R::Get, D::Bidirectional, &[TO]),
        (D::ToIntegration, R::None, D::ToIntegration, &[TO]),
        (D::ToIntegration, R::None, D::FromIntegration, &[]),
        (D::FromIntegration, R::None, D::Bidirectional, &[FROM]),
        (D::FromIntegration, R::Send, D::Bidirectional, &[FROM]),
        (D::FromIntegration, R::None, D::FromIntegration, &[FROM]),
        (D::FromIntegration, R::None, D::ToIntegration, &[]),
        // Bidirectional: send → to, get → from, none → both (to first).
        (D::Bidirectional, R::Send, D::Bidirectional, &[TO]),
        (D::Bidirectional, R::Send, D::ToIntegration, &[TO]),
        (D::Bidirectional, R::Send, D::FromIntegration, &[]),
        (D::Bidirectional, R::Get, D::Bidirectional, &[FROM]),
        (D::Bidirectional, R::Get, D::FromIntegration, &[FROM]),
        (D::Bidirectional, R::Get, D::ToIntegration, &[]),
        (D::Bidirectional, R::None, D::Bidirectional, &[TO, FROM]),
        (D::Bidirectional, R::None, D::ToIntegration, &[TO]),
        (D::Bidirectional, R::None, D::FromIntegration, &[FROM]),
    ];
    let local = table("customers", &["Name", "City"], &[&["A", "X"]]);
    let integration = table("accounts", &["name", "city"], &[&["B", "Y"]]);
    for &(md, res, fd, expected) in cases {
        // A bidirectional second field keeps every direction that runs non-empty.
        let s = spec(
            md,
            res,
            vec![
                f("Name", "name", T::Text, fd),
                f("City", "city", T::Text, D::Bidirectional),
            ],
        );
        let plan = one_pair(&s, &local, &integration);
        let got: Vec<PlanDirection> = plan
            .rows
            .iter()
            .filter(|r| r.field == "name" || r.field == "Name")
            .map(|r| r.direction)
            .collect();
        assert_eq!(
            got, expected,
            "mapping {md:?}, resolution {res:?}, field {fd:?}"
        );
        let helper: Vec<PlanDirection> = plan
            .rows
            .iter()
            .filter(|r| r.field == "city" || r.field == "City")
            .map(|r| r.direction)
            .collect();
        assert_eq!(helper, s.first_sync_directions());
    }
}

#[test]
fn send_runs_local_to_integration_only() {
    let s = spec(
        D::Bidirectional,
        R::Send,
        vec![
            f("Name", "name", T::Text, D::Bidirectional),
            f("City", "address1_city", T::Text, D::ToIntegration),
            f("Phone", "telephone1", T::Text, D::FromIntegration),
        ],
    );
    let local = table(
        "customers",
        &["Name", "City", "Phone"],
        &[&["Adatum", "Oslo", "1"]],
    );
    let integration = table(
        "accounts",
        &["name", "address1_city", "telephone1"],
        &[&["ADATUM", "Oslo", "2"]],
    );
    let plan = one_pair(&s, &local, &integration);
    assert_eq!(
        summary(&plan),
        vec![
            (TO, "name", "ADATUM", "Adatum", Update),
            (TO, "address1_city", "Oslo", "Oslo", Unchanged),
        ]
    );
    assert_eq!(
        (plan.pairs_updated, plan.pairs_unchanged, plan.pairs_failed),
        (1, 0, 0)
    );
    assert_eq!(plan.counters.modified, 1);
}

#[test]
fn get_runs_integration_to_local_only() {
    let s = spec(
        D::Bidirectional,
        R::Get,
        vec![
            f("Name", "name", T::Text, D::Bidirectional),
            f("City", "address1_city", T::Text, D::ToIntegration),
            f("Phone", "telephone1", T::Text, D::FromIntegration),
        ],
    );
    let local = table(
        "customers",
        &["Name", "City", "Phone"],
        &[&["Adatum", "Oslo", "1"]],
    );
    let integration = table(
        "accounts",
        &["name", "address1_city", "telephone1"],
        &[&["ADATUM", "Bergen", "2"]],
    );
    let plan = one_pair(&s, &local, &integration);
    assert_eq!(
        summary(&plan),
        vec![
            (FROM, "Name", "Adatum", "ADATUM", Update),
            (FROM, "Phone", "1", "2", Update),
        ]
    );
}

#[test]
fn one_way_mapping_skips_fields_of_the_other_direction() {
    let s = spec(
        D::FromIntegration,
        R::Send, // ignored: the mapping is one-way
        vec![
            f("Name", "name", T::Text, D::Bidirectional),
            f("City", "address1_city", T::Text, D::ToIntegration),
        ],
    );
    let local = table("customers", &["Name", "City"], &[&["A", "X"]]);
    let integration = table("accounts", &["name", "address1_city"], &[&["B", "Y"]]);
    let plan = one_pair(&s, &local, &integration);
    assert_eq!(summary(&plan), vec![(FROM, "Name", "A", "B", Update)]);
    assert_eq!(s.local_columns(), vec!["Name".to_string()]);
    assert_eq!(s.integration_columns(), vec!["name".to_string()]);
}

// ---------------------------------------------------------------------------------------------
// Conflicts (rule 6)

#[test]
fn conflict_text_is_bcs_exact_text() {
    let s = spec(D::Bidirectional, R::None, vec![]);
    assert_eq!(
        conflict_message(&s, TO, "Phone No.", "telephone1"),
        "Cannot update a record in the Account table. The mapping between Phone No. field on the Customer table and the telephone1 field on the Account table is bi-directional, and one or both values have changed since the last synchronization."
    );
    // Integration → local: BC's label names source and destination, so the sides swap.
    assert_eq!(
        conflict_message(&s, FROM, "Phone No.", "telephone1"),
        "Cannot update a record in the Customer table. The mapping between telephone1 field on the Account table and the Phone No. field on the Customer table is bi-directional, and one or both values have changed since the last synchronization."
    );
}

fn conflict_spec() -> SyncSpec {
    spec(
        D::Bidirectional,
        R::None,
        vec![
            f("Name", "name", T::Text, D::Bidirectional),
            f("City", "address1_city", T::Text, D::ToIntegration),
            f("Phone", "telephone1", T::Text, D::Bidirectional),
            f("Web", "websiteurl", T::Text, D::FromIntegration),
            f("Code", "accountnumber", T::Code, D::Bidirectional),
        ],
    )
}

#[test]
fn none_fails_the_record_when_a_bidirectional_field_differs() {
    let s = conflict_spec();
    let local = table(
        "customers",
        &["Name", "City", "Phone", "Web", "Code"],
        &[&["Adatum", "Oslo", "555", "a.com", "C1"]],
    );
    let integration = table(
        "accounts",
        &[
            "name",
            "address1_city",
            "telephone1",
            "websiteurl",
            "accountnumber",
        ],
        &[&["Adatum Ltd", "Bergen", "555", "b.com", "C1"]],
    );
    let plan = one_pair(&s, &local, &integration);
    assert_eq!(
        summary(&plan),
        vec![
            (TO, "name", "Adatum Ltd", "Adatum", Conflict),
            (TO, "address1_city", "Bergen", "Oslo", Failed),
            (TO, "telephone1", "555", "555", Unchanged),
            (TO, "accountnumber", "C1", "C1", Unchanged),
            (FROM, "Name", "Adatum", "Adatum Ltd", Conflict),
            (FROM, "Phone", "555", "555", Unchanged),
            (FROM, "Web", "a.com", "b.com", Failed),
            (FROM, "Code", "C1", "C1", Unchanged),
        ]
    );
    let to_text = conflict_message(&s, TO, "Name", "name");
    let from_text = conflict_message(&s, FROM, "Name", "name");
    assert_eq!(plan.rows[0].message, to_text);
    // The record's other updates fail with the record's error: the first conflict's text.
    assert_eq!(plan.rows[1].message, to_text);
    assert_eq!(plan.rows[2].message, "");
    assert_eq!(plan.rows[4].message, from_text);
    assert_eq!(plan.rows[6].message, from_text);
    assert_eq!(
        (plan.pairs_updated, plan.pairs_unchanged, plan.pairs_failed),
        (0, 0, 1)
    );
    assert_eq!(plan.counters.failed, 2);
    assert_eq!(plan.counters.modified, 0);
}

#[test]
fn none_names_each_conflicting_field_and_the_first_as_the_record_error() {
    let s = conflict_spec();
    let local = table(
        "customers",
        &["Name", "City", "Phone", "Web", "Code"],
        &[&["Adatum", "Oslo", "555", "a.com", "C1"]],
    );
    let integration = table(
        "accounts",
        &[
            "name",
            "address1_city",
            "telephone1",
            "websiteurl",
            "accountnumber",
        ],
        &[&["Adatum", "Bergen", "556", "a.com", "C1"]],
    );
    let plan = one_pair(&s, &local, &integration);
    let to: Vec<&PlanRow> = plan.rows.iter().filter(|r| r.direction == TO).collect();
    assert_eq!(to[2].status, Conflict);
    assert_eq!(
        to[2].message,
        conflict_message(&s, TO, "Phone", "telephone1")
    );
    assert_eq!(to[1].status, Failed);
    assert_eq!(
        to[1].message,
        conflict_message(&s, TO, "Phone", "telephone1")
    );
}

#[test]
fn none_syncs_one_directional_fields_when_bidirectional_fields_are_equal() {
    let s = conflict_spec();
    let local = table(
        "customers",
        &["Name", "City", "Phone", "Web", "Code"],
        &[&["Adatum", "Oslo", "555", "a.com", "C1"]],
    );
    let integration = table(
        "accounts",
        &[
            "name",
            "address1_city",
            "telephone1",
            "websiteurl",
            "accountnumber",
        ],
        &[&["Adatum", "Bergen", "555", "b.com", "C1"]],
    );
    let plan = one_pair(&s, &local, &integration);
    assert_eq!(plan.count(Conflict), 0);
    assert_eq!(plan.count(Failed), 0);
    let updates: Vec<_> = summary(&plan)
        .into_iter()
        .filter(|r| r.4 == Update)
        .collect();
    assert_eq!(
        updates,
        vec![
            (TO, "address1_city", "Bergen", "Oslo", Update),
            (FROM, "Web", "a.com", "b.com", Update),
        ]
    );
    assert!(plan.rows.iter().all(|r| r.message.is_empty()));
    assert_eq!((plan.pairs_updated, plan.pairs_failed), (1, 0));
    assert_eq!(plan.counters.modified, 2);
}

#[test]
fn send_and_get_never_conflict() {
    for res in [R::Send, R::Get] {
        let mut s = conflict_spec();
        s.conflict_resolution = res;
        let local = table(
            "customers",
            &["Name", "City", "Phone", "Web", "Code"],
            &[&["Adatum", "Oslo", "555", "a.com", "C1"]],
        );
        let integration = table(
            "accounts",
            &[
                "name",
                "address1_city",
                "telephone1",
                "websiteurl",
                "accountnumber",
            ],
            &[&["Other", "Bergen", "556", "b.com", "C2"]],
        );
        let plan = one_pair(&s, &local, &integration);
        assert_eq!(plan.count(Conflict) + plan.count(Failed), 0, "{res:?}");
        assert_eq!(plan.count(Update), 4, "{res:?}");
    }
}

#[test]
fn code_asymmetry_is_checked_per_direction() {
    // Local Code "ABC" vs integration "abc": differs local → integration (integration text is
    // compared as is) but not integration → local (source trimmed and upper-cased).
    let s = spec(
        D::Bidirectional,
        R::None,
        vec![
            f("Code", "accountnumber", T::Code, D::Bidirectional),
            f("Web", "websiteurl", T::Text, D::FromIntegration),
            f("City", "address1_city", T::Text, D::ToIntegration),
        ],
    );
    let local = table(
        "customers",
        &["Code", "Web", "City"],
        &[&["ABC", "a.com", "Oslo"]],
    );
    let integration = table(
        "accounts",
        &["accountnumber", "websiteurl", "address1_city"],
        &[&["abc", "b.com", "Bergen"]],
    );
    let plan = one_pair(&s, &local, &integration);
    assert_eq!(
        summary(&plan),
        vec![
            (TO, "accountnumber", "abc", "ABC", Conflict),
            (TO, "address1_city", "Bergen", "Oslo", Failed),
            (FROM, "Code", "ABC", "ABC", Unchanged),
            (FROM, "Web", "a.com", "b.com", Update),
        ]
    );
    assert_eq!(plan.pairs_failed, 1);
    assert_eq!((plan.counters.failed, plan.counters.modified), (1, 1));
}

// ---------------------------------------------------------------------------------------------
// Constants (rule 3)

#[test]
fn constants_are_written_to_the_integration_side() {
    let s = spec(
        D::Bidirectional,
        R::None,
        vec![
            f("Name", "name", T::Text, D::Bidirectional),
            FieldMapping::constant("systemuser", "owneridtype", T::Text),
            // Declared bidirectional: still written to the integration side only, never a
            // conflict.
            FieldMapping {
                direction: D::Bidirectional,
                ..FieldMapping::constant("1.50", "creditlimit", T::Decimal)
            },
        ],
    );
    let local = table("customers", &["Name"], &[&["A"], &["B"]]);
    let integration = table(
        "accounts",
        &["name", "owneridtype", "creditlimit"],
        &[&["A", "team", "7"], &["B", "systemuser", "1.5"]],
    );
    let plan = plan_sync(&s, &local, &integration, &[(0, 0), (1, 1)]).unwrap();
    assert_eq!(
        summary(&plan),
        vec![
            (TO, "name", "A", "A", Unchanged),
            (TO, "owneridtype", "team", "systemuser", Update),
            (TO, "creditlimit", "7", "1.5", Update),
            (FROM, "Name", "A", "A", Unchanged),
            (TO, "name", "B", "B", Unchanged),
            (TO, "owneridtype", "systemuser", "systemuser", Unchanged),
            (TO, "creditlimit", "1.5", "1.5", Unchanged),
            (FROM, "Name", "B", "B", Unchanged),
        ]
    );
    assert_eq!((plan.pairs_updated, plan.pairs_unchanged), (1, 1));
    // A constant has no local column to read.
    assert_eq!(s.local_columns(), vec!["Name".to_string()]);
    assert_eq!(
        s.integration_columns(),
        vec![
            "name".to_string(),
            "owneridtype".into(),
            "creditlimit".into()
        ]
    );
}

#[test]
fn constants_are_not_part_of_an_integration_to_local_sync() {
    let s = spec(
        D::Bidirectional,
        R::Get,
        vec![
            f("Name", "name", T::Text, D::Bidirectional),
            FieldMapping::constant("systemuser", "owneridtype", T::Text),
        ],
    );
    let local = table("customers", &["Name"], &[&["A"]]);
    let integration = table("accounts", &["name", "owneridtype"], &[&["B", "team"]]);
    let plan = one_pair(&s, &local, &integration);
    assert_eq!(summary(&plan), vec![(FROM, "Name", "A", "B", Update)]);
}

#[test]
fn invalid_constant_configurations_are_rejected() {
    let base = |field: FieldMapping| {
        spec(
            D::ToIntegration,
            R::None,
            vec![f("Name", "name", T::Text, D::Bidirectional), field],
        )
    };
    let from = FieldMapping {
        direction: D::FromIntegration,
        ..FieldMapping::constant("x", "owneridtype", T::Text)
    };
    assert_eq!(
        base(from).validate(),
        Err(SyncError::ConstantFromIntegration {
            integration_field: "owneridtype".into()
        })
    );
    let err = base(FieldMapping::constant("lots", "creditlimit", T::Decimal))
        .validate()
        .unwrap_err();
    assert!(matches!(err, SyncError::InvalidConstant { ref value, .. } if value == "lots"));
    assert!(
        err.to_string()
            .contains("the constant 'lots' is not a valid number"),
        "{err}"
    );
    let both = FieldMapping {
        constant: Some("x".into()),
        ..f("Name", "owneridtype", T::Text, D::ToIntegration)
    };
    assert!(matches!(
        base(both).validate(),
        Err(SyncError::LocalAndConstant { .. })
    ));
    let neither = FieldMapping {
        local_field: None,
        ..f("Name", "owneridtype", T::Text, D::ToIntegration)
    };
    assert!(matches!(
        base(neither).validate(),
        Err(SyncError::NoSource { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Code fields (rule 4, 5)

#[test]
fn code_values_are_trimmed_and_upper_cased() {
    let fields = vec![f("Currency", "currencycode", T::Code, D::Bidirectional)];
    let local = table(
        "customers",
        &["Currency"],
        &[&["usd "], &["EUR"], &["NOK"], &[""]],
    );
    let integration = table(
        "accounts",
        &["currencycode"],
        &[&["USD"], &[" eur"], &["NOK "], &["  "]],
    );
    let pairs = [(0, 0), (1, 1), (2, 2), (3, 3)];

    // Local → integration: the Code value (trimmed, upper-cased) against the integration value
    // as it is.
    let send = spec(D::Bidirectional, R::Send, fields.clone());
    let plan = plan_sync(&send, &local, &integration, &pairs).unwrap();
    assert_eq!(
        summary(&plan),
        vec![
            (TO, "currencycode", "USD", "USD", Unchanged),
            (TO, "currencycode", " eur", "EUR", Update),
            (TO, "currencycode", "NOK ", "NOK", Update),
            (TO, "currencycode", "  ", "", Update),
        ]
    );

    // Integration → local: against the source trimmed and upper-cased; written that way.
    let get = spec(D::Bidirectional, R::Get, fields);
    let plan = plan_sync(&get, &local, &integration, &pairs).unwrap();
    assert_eq!(
        summary(&plan),
        vec![
            (FROM, "Currency", "usd ", "USD", Unchanged),
            (FROM, "Currency", "EUR", "EUR", Unchanged),
            (FROM, "Currency", "NOK", "NOK", Unchanged),
            (FROM, "Currency", "", "", Unchanged),
        ]
    );
    let integration = table("accounts", &["currencycode"], &[&[" gbp "]]);
    let plan = plan_sync(&get, &local, &integration, &[(0, 0)]).unwrap();
    assert_eq!(
        summary(&plan),
        vec![(FROM, "Currency", "usd ", "GBP", Update)]
    );
}

#[test]
fn text_is_compared_as_stored() {
    let s = spec(
        D::ToIntegration,
        R::None,
        vec![f("Name", "name", T::Text, D::Bidirectional)],
    );
    let local = table(
        "customers",
        &["Name"],
        &[&["Adatum"], &["Adatum "], &["Zoë"], &[""]],
    );
    let integration = table(
        "accounts",
        &["name"],
        &[&["adatum"], &["Adatum"], &["Zoë"], &[""]],
    );
    let plan = plan_sync(&s, &local, &integration, &[(0, 0), (1, 1), (2, 2), (3, 3)]).unwrap();
    let statuses: Vec<PlanStatus> = plan.rows.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![Update, Update, Unchanged, Unchanged]);
    assert_eq!(plan.rows[1].new_value, "Adatum ");
}

// ---------------------------------------------------------------------------------------------
// Typed equality (rule 4, 5)

#[test]
fn values_compare_by_type_and_are_written_canonically() {
    let s = spec(
        D::ToIntegration,
        R::None,
        vec![
            f("Credit", "creditlimit", T::Decimal, D::Bidirectional),
            f(
                "Employees",
                "numberofemployees",
                T::Integer,
                D::Bidirectional,
            ),
            f("Blocked", "donotemail", T::Boolean, D::Bidirectional),
            f("Since", "since", T::Date, D::Bidirectional),
        ],
    );
    let local = table(
        "customers",
        &["Credit", "Employees", "Blocked", "Since"],
        &[
            &["1.50", "10", "yes", "2024-02-29"],
            &["", "0", "", ""],
            &["01.25", "1e2", "No", "2024-03-01T10:00:00Z"],
        ],
    );
    let integration = table(
        "accounts",
        &["creditlimit", "numberofemployees", "donotemail", "since"],
        &[
            &["1.5", "10.0", "1", "2024-02-29T08:30:00Z"],
            &["0", "", "false", ""],
            &["1.2", "99", "true", "2024-02-29"],
        ],
    );
    let plan = plan_sync(&s, &local, &integration, &[(0, 0), (1, 1), (2, 2)]).unwrap();
    assert_eq!(
        summary(&plan),
        vec![
            (TO, "creditlimit", "1.5", "1.5", Unchanged),
            (TO, "numberofemployees", "10.0", "10", Unchanged),
            (TO, "donotemail", "1", "true", Unchanged),
            (TO, "since", "2024-02-29T08:30:00Z", "2024-02-29", Unchanged),
            (TO, "creditlimit", "0", "0", Unchanged),
            (TO, "numberofemployees", "", "0", Unchanged),
            (TO, "donotemail", "false", "false", Unchanged),
            (TO, "since", "", "", Unchanged),
            (TO, "creditlimit", "1.2", "1.25", Update),
            (TO, "numberofemployees", "99", "100", Update),
            (TO, "donotemail", "true", "false", Update),
            (TO, "since", "2024-02-29", "2024-03-01", Update),
        ]
    );
    assert_eq!((plan.pairs_updated, plan.pairs_unchanged), (1, 2));
    assert_eq!((plan.counters.modified, plan.counters.unchanged), (1, 2));
}

// ---------------------------------------------------------------------------------------------
// Unreadable values (rule 7, 8)

#[test]
fn an_unreadable_value_fails_its_row_and_the_record() {
    let s = spec(
        D::Bidirectional,
        R::None,
        vec![
            f("Name", "name", T::Text, D::ToIntegration),
            f(
                "Employees",
                "numberofemployees",
                T::Integer,
                D::ToIntegration,
            ),
            f("City", "address1_city", T::Text, D::ToIntegration),
            f("Web", "websiteurl", T::Text, D::FromIntegration),
        ],
    );
    let local = table(
        "customers",
        &["Name", "Employees", "City", "Web"],
        &[&["Adatum", "abc", "Oslo", "a.com"]],
    );
    let integration = table(
        "accounts",
        &["name", "numberofemployees", "address1_city", "websiteurl"],
        &[&["Other", "5", "Oslo", "b.com"]],
    );
    let plan = one_pair(&s, &local, &integration);
    assert_eq!(
        summary(&plan),
        vec![
            (TO, "name", "Other", "Adatum", Failed),
            (TO, "numberofemployees", "5", "abc", Failed),
            (TO, "address1_city", "Oslo", "Oslo", Unchanged),
            // The other direction is another record: it goes on.
            (FROM, "Web", "a.com", "b.com", Update),
        ]
    );
    let expected = "The data could not be updated because of the following error: Customer field 'Employees': 'abc' is not a valid number: expected digits with an optional sign, '.' decimal point and exponent.";
    assert_eq!(plan.rows[1].message, expected);
    assert_eq!(plan.rows[0].message, expected);
    assert_eq!(plan.rows[2].message, "");
    assert_eq!(plan.pairs_failed, 1);
    assert_eq!((plan.counters.failed, plan.counters.modified), (1, 1));
}

#[test]
fn an_unreadable_destination_is_not_overwritten() {
    let s = spec(
        D::FromIntegration,
        R::None,
        vec![
            f(
                "Employees",
                "numberofemployees",
                T::Integer,
                D::Bidirectional,
            ),
            f("Since", "since", T::Date, D::Bidirectional),
        ],
    );
    let local = table(
        "customers",
        &["Employees", "Since"],
        &[&["1.5", "2024-01-01"]],
    );
    let integration = table(
        "accounts",
        &["numberofemployees", "since"],
        &[&["7", "01/02/2024"]],
    );
    let plan = one_pair(&s, &local, &integration);
    assert_eq!(
        summary(&plan),
        vec![
            (FROM, "Employees", "1.5", "7", Failed),
            (FROM, "Since", "2024-01-01", "01/02/2024", Failed),
        ]
    );
    // Each unreadable row names its own value; 1.5 is no integer.
    assert_eq!(
        plan.rows[0].message,
        "The data could not be updated because of the following error: Customer field 'Employees': '1.5' is not a valid integer: expected a whole number."
    );
    assert!(plan.rows[1]
        .message
        .contains("Account field 'since': '01/02/2024' is not a valid date"));
}

#[test]
fn conflict_rows_stay_conflicts_when_a_value_is_unreadable() {
    let s = spec(
        D::Bidirectional,
        R::None,
        vec![
            f("Name", "name", T::Text, D::Bidirectional),
            f(
                "Employees",
                "numberofemployees",
                T::Integer,
                D::ToIntegration,
            ),
            f("City", "address1_city", T::Text, D::ToIntegration),
        ],
    );
    let local = table(
        "customers",
        &["Name", "Employees", "City"],
        &[&["A", "x", "Oslo"]],
    );
    let integration = table(
        "accounts",
        &["name", "numberofemployees", "address1_city"],
        &[&["B", "5", "Bergen"]],
    );
    let plan = one_pair(&s, &local, &integration);
    let to: Vec<_> = summary(&plan).into_iter().filter(|r| r.0 == TO).collect();
    assert_eq!(
        to,
        vec![
            (TO, "name", "B", "A", Conflict),
            (TO, "numberofemployees", "5", "x", Failed),
            (TO, "address1_city", "Bergen", "Oslo", Failed),
        ]
    );
    // BC transfers fields before checking conflicts: the transfer error is the record's error.
    assert!(plan.rows[2]
        .message
        .starts_with("The data could not be updated"));
    assert_eq!(
        plan.rows[0].message,
        conflict_message(&s, TO, "Name", "name")
    );
}

// ---------------------------------------------------------------------------------------------
// Order, errors, columns (rule 9; rule 2)

#[test]
fn rows_follow_pairs_then_direction_then_field_order() {
    let s = spec(
        D::Bidirectional,
        R::None,
        vec![
            f("B", "b", T::Text, D::FromIntegration),
            f("A", "a", T::Text, D::ToIntegration),
            f("C", "c", T::Text, D::Bidirectional),
        ],
    );
    let local = table(
        "l",
        &["A", "B", "C"],
        &[&["1", "1", "1"], &["2", "2", "2"], &["3", "3", "3"]],
    );
    let integration = table(
        "i",
        &["a", "b", "c"],
        &[&["1", "1", "1"], &["2", "2", "2"], &["3", "3", "3"]],
    );
    let pairs = [(2, 0), (0, 2), (1, 1)];
    let plan = plan_sync(&s, &local, &integration, &pairs).unwrap();
    let order: Vec<(u32, u32, PlanDirection, &str)> = plan
        .rows
        .iter()
        .map(|r| {
            (
                r.local_row,
                r.integration_row,
                r.direction,
                r.field.as_str(),
            )
        })
        .collect();
    let mut expected = Vec::new();
    for (l, i) in pairs {
        expected.extend([
            (l, i, TO, "a"),
            (l, i, TO, "c"),
            (l, i, FROM, "B"),
            (l, i, FROM, "C"),
        ]);
    }
    assert_eq!(order, expected);
    assert_eq!(plan, plan_sync(&s, &local, &integration, &pairs).unwrap());
    // Pair (1, 1) holds equal values: unchanged; the others differ on "c" both ways.
    assert_eq!((plan.pairs_unchanged, plan.pairs_failed), (1, 2));
}

#[test]
fn no_pairs_no_rows() {
    let s = conflict_spec();
    let local = table("customers", &["Name", "City", "Phone", "Web", "Code"], &[]);
    let integration = table(
        "accounts",
        &[
            "name",
            "address1_city",
            "telephone1",
            "websiteurl",
            "accountnumber",
        ],
        &[],
    );
    let plan = plan_sync(&s, &local, &integration, &[]).unwrap();
    assert_eq!(plan, SyncPlan::default());
}

#[test]
fn configuration_and_data_errors() {
    // A direction that runs with no field mapping: BC's exact text.
    let s = spec(
        D::Bidirectional,
        R::None,
        vec![f("Name", "name", T::Text, D::ToIntegration)],
    );
    let err = s.validate().unwrap_err();
    assert_eq!(
        err,
        SyncError::NoFieldMappings {
            mapping: "CUSTOMER".into(),
            direction: FROM
        }
    );
    assert_eq!(
        err.to_string(),
        "There are no field mapping rows for the Integration Table Mapping Name CUSTOMER in the Integration Field Mapping table."
    );
    // The same mapping is fine when only local → integration runs.
    let send = SyncSpec {
        conflict_resolution: R::Send,
        ..s.clone()
    };
    assert_eq!(send.validate(), Ok(()));

    // The same destination written twice in one direction.
    let dup = spec(
        D::ToIntegration,
        R::None,
        vec![
            f("Name", "name", T::Text, D::Bidirectional),
            f("Name 2", "name", T::Text, D::Bidirectional),
        ],
    );
    assert_eq!(
        dup.validate(),
        Err(SyncError::DuplicateDestination {
            direction: TO,
            field: "name".into()
        })
    );

    // Missing column, out-of-range row.
    let local = table("customers.csv", &["Name"], &[&["A"]]);
    let integration = table("accounts.csv", &["title"], &[&["B"]]);
    let err = plan_sync(&send, &local, &integration, &[(0, 0)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "accounts.csv: column 'name' not found; the columns are: title"
    );
    let integration = table("accounts.csv", &["name"], &[&["B"]]);
    assert_eq!(
        plan_sync(&send, &local, &integration, &[(0, 1)]),
        Err(SyncError::RowOutOfRange {
            table: "accounts.csv".into(),
            row: 1,
            len: 1
        })
    );
}

#[test]
fn names_match_the_contract() {
    assert_eq!(TO.name(), "to-integration");
    assert_eq!(FROM.name(), "from-integration");
    let names: Vec<&str> = [Update, Unchanged, Conflict, Failed]
        .iter()
        .map(|s| s.name())
        .collect();
    assert_eq!(names, ["update", "unchanged", "conflict", "failed"]);
    for d in [D::Bidirectional, D::ToIntegration, D::FromIntegration] {
        assert_eq!(D::parse(d.name()), Some(d));
    }
    for r in [R::None, R::Send, R::Get] {
        assert_eq!(R::parse(r.name()), Some(r));
    }
    assert_eq!(
        R::Send.bc_caption(),
        "Send data update to integration table"
    );
    assert_eq!(
        R::Get.bc_caption(),
        "Get data update from integration table"
    );
}

// ---------------------------------------------------------------------------------------------
// Properties

/// Cells per type: a few values that collide by type (`1.5`/`1.50`, `yes`/`1`, case, spaces).
fn values(t: FieldType) -> &'static [&'static str] {
    match t {
        T::Text => &["", "a", "A", "a ", "Zoë"],
        T::Code => &["", "ab", "AB", " ab", "CD"],
        T::Integer => &["", "0", "7", "7.0", "1e1", "10"],
        T::Decimal => &["", "0", "1.5", "1.50", "-2", "0.001"],
        T::Boolean => &["", "0", "1", "yes", "No", "true"],
        T::Date => &["", "2024-02-29", "2024-02-29T10:00:00Z", "2023-01-01"],
        T::Option => unreachable!("option fields take no part in synchronization"),
    }
}

const TYPES: [FieldType; 6] = [
    T::Text,
    T::Code,
    T::Integer,
    T::Decimal,
    T::Boolean,
    T::Date,
];
const DIRECTIONS: [D; 3] = [D::Bidirectional, D::ToIntegration, D::FromIntegration];

#[derive(Debug, Clone)]
struct Case {
    spec: SyncSpec,
    local: Vec<Vec<String>>,
    integration: Vec<Vec<String>>,
    pairs: Vec<(u32, u32)>,
}

const ROWS: usize = 6;

/// A mapping of up to 5 field mappings (distinct columns `L0..`, `I0..`, maybe a constant),
/// tables of 6 rows, and pairs (possibly repeating rows).
fn case(resolutions: Vec<ConflictResolution>) -> impl Strategy<Value = Case> {
    let field = (
        0usize..6,
        0usize..3,
        proptest::bool::weighted(0.15),
        0usize..6,
    );
    (
        proptest::collection::vec(field, 1..6),
        0usize..3,
        proptest::sample::select(resolutions),
        proptest::collection::vec((0usize..64, 0usize..64), ROWS * 12),
        proptest::collection::vec((0u32..ROWS as u32, 0u32..ROWS as u32), 0..10),
    )
        .prop_map(|(fields, md, resolution, cells, pairs)| {
            let mut mappings = Vec::new();
            for (n, &(t, d, constant, cv)) in fields.iter().enumerate() {
                let t = TYPES[t];
                let local = format!("L{n}");
                let integration = format!("I{n}");
                if constant {
                    let vs = values(t);
                    mappings.push(FieldMapping::constant(vs[cv % vs.len()], &integration, t));
                } else {
                    mappings.push(FieldMapping::new(&local, &integration, t, DIRECTIONS[d]));
                }
            }
            let n = mappings.len();
            let cell = |row: usize, col: usize, side: usize| -> String {
                let t = mappings[col].field_type;
                let vs = values(t);
                let (a, b) = cells[(row * 6 + col) % cells.len()];
                vs[if side == 0 { a } else { b } % vs.len()].to_string()
            };
            let local = (0..ROWS)
                .map(|r| (0..n).map(|c| cell(r, c, 0)).collect())
                .collect();
            let integration = (0..ROWS)
                .map(|r| (0..n).map(|c| cell(r, c, 1)).collect())
                .collect();
            Case {
                spec: spec(DIRECTIONS[md], resolution, mappings),
                local,
                integration,
                pairs,
            }
        })
}

fn tables(c: &Case) -> (Table, Table) {
    let n = c.spec.fields.len();
    let lc: Vec<String> = (0..n).map(|i| format!("L{i}")).collect();
    let ic: Vec<String> = (0..n).map(|i| format!("I{i}")).collect();
    let lc: Vec<&str> = lc.iter().map(String::as_str).collect();
    let ic: Vec<&str> = ic.iter().map(String::as_str).collect();
    (
        Table::from_rows("local", &lc, &c.local).unwrap(),
        Table::from_rows("integration", &ic, &c.integration).unwrap(),
    )
}

/// Writes every `update` row into the case's table copies.
fn apply(c: &mut Case, plan: &SyncPlan) {
    for r in plan.rows.iter().filter(|r| r.status == Update) {
        let (rows, row, prefix) = match r.direction {
            TO => (&mut c.integration, r.integration_row, 'I'),
            FROM => (&mut c.local, r.local_row, 'L'),
        };
        let col: usize = r.field.strip_prefix(prefix).unwrap().parse().unwrap();
        rows[row as usize][col] = r.new_value.clone();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// With one direction (send, get, or a one-way mapping), planning, applying the updates and
    /// planning again leaves nothing to do.
    #[test]
    fn applying_a_one_way_plan_converges(mut c in case(vec![R::Send, R::Get])) {
        // A one-way plan: repeated pairs would apply twice; keep each row once per side.
        let mut seen_l = [false; ROWS];
        let mut seen_i = [false; ROWS];
        c.pairs.retain(|&(l, i)| {
            let fresh = !seen_l[l as usize] && !seen_i[i as usize];
            seen_l[l as usize] = true;
            seen_i[i as usize] = true;
            fresh
        });
        prop_assume!(c.spec.validate().is_ok());
        let (local, integration) = tables(&c);
        let plan = plan_sync(&c.spec, &local, &integration, &c.pairs).unwrap();
        prop_assert_eq!(plan.count(Conflict), 0);
        prop_assert_eq!(plan.count(Failed), 0);
        apply(&mut c, &plan);
        let (local, integration) = tables(&c);
        let again = plan_sync(&c.spec, &local, &integration, &c.pairs).unwrap();
        prop_assert!(again.rows.iter().all(|r| r.status == Unchanged), "{:#?}", again.rows);
        prop_assert_eq!(again.rows.len(), plan.rows.len());
        prop_assert_eq!(again.pairs_unchanged as usize, c.pairs.len());
    }

    /// Structure of every plan: one row per pair × participating field × direction, in order;
    /// conflicts only on bidirectional fields with resolution none; a record with a conflict or
    /// failure has no update; summaries add up; planning is deterministic.
    #[test]
    fn plan_structure(c in case(vec![R::None, R::Send, R::Get])) {
        prop_assume!(c.spec.validate().is_ok());
        let (local, integration) = tables(&c);
        let plan = plan_sync(&c.spec, &local, &integration, &c.pairs).unwrap();
        prop_assert_eq!(&plan, &plan_sync(&c.spec, &local, &integration, &c.pairs).unwrap());

        let mut expected = Vec::new();
        for &(l, i) in &c.pairs {
            for &d in c.spec.first_sync_directions() {
                for fm in c.spec.fields.iter().filter(|fm| c.spec.takes_part(fm, d)) {
                    expected.push((l, i, d, fm.destination(d).to_string()));
                }
            }
        }
        let got: Vec<_> = plan.rows.iter()
            .map(|r| (r.local_row, r.integration_row, r.direction, r.field.clone()))
            .collect();
        prop_assert_eq!(got, expected);

        let mut failed_pairs = 0;
        let mut updated_pairs = 0;
        let mut at = 0;
        for _ in &c.pairs {
            let mut pair_failed = false;
            let mut pair_updated = false;
            for &d in c.spec.first_sync_directions() {
                let n = c.spec.fields.iter().filter(|fm| c.spec.takes_part(fm, d)).count();
                let record = &plan.rows[at..at + n];
                at += n;
                let failed = record.iter().any(|r| matches!(r.status, Conflict | Failed));
                let updated = record.iter().any(|r| r.status == Update);
                prop_assert!(!(failed && updated));
                pair_failed |= failed;
                pair_updated |= updated;
                for r in record {
                    let fm = c.spec.fields.iter().find(|fm| fm.destination(d) == r.field).unwrap();
                    if r.status == Conflict {
                        prop_assert!(c.spec.detects_conflicts());
                        prop_assert_eq!(fm.direction, D::Bidirectional);
                        prop_assert!(fm.local_field.is_some());
                    }
                    prop_assert_eq!(r.message.is_empty(), matches!(r.status, Update | Unchanged));
                    // Generated values are all valid: failures come from conflicts only.
                    if r.status == Failed {
                        prop_assert!(record.iter().any(|x| x.status == Conflict));
                    }
                }
            }
            failed_pairs += pair_failed as u64;
            updated_pairs += (!pair_failed && pair_updated) as u64;
        }
        prop_assert_eq!(plan.pairs_failed, failed_pairs);
        prop_assert_eq!(plan.pairs_updated, updated_pairs);
        prop_assert_eq!(
            plan.pairs_failed + plan.pairs_updated + plan.pairs_unchanged,
            c.pairs.len() as u64
        );
        let records = c.pairs.len() as u64 * c.spec.first_sync_directions().len() as u64;
        prop_assert_eq!(
            plan.counters.failed + plan.counters.modified + plan.counters.unchanged,
            records
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Performance (run with `cargo test -p coupler-engine --release --test sync -- --ignored`)

#[test]
#[ignore = "timing; run in release"]
fn plans_100k_pairs_of_10_fields_quickly() {
    const PAIRS: usize = 100_000;
    let types = [T::Text, T::Code, T::Decimal, T::Boolean, T::Date];
    let fields: Vec<FieldMapping> = (0..10)
        .map(|i| {
            FieldMapping::new(
                &format!("L{i}"),
                &format!("I{i}"),
                types[i % 5],
                D::Bidirectional,
            )
        })
        .collect();
    let s = spec(D::Bidirectional, R::Send, fields);
    let lc: Vec<String> = (0..10).map(|i| format!("L{i}")).collect();
    let ic: Vec<String> = (0..10).map(|i| format!("I{i}")).collect();
    let mut local = Table::new("l", lc).unwrap();
    let mut integration = Table::new("i", ic).unwrap();
    let cell = |row: usize, col: usize, side: usize| -> String {
        let v = (row * 7 + col * 3 + side * (row % 3)) % 50;
        match types[col % 5] {
            T::Text => format!("Name {v}"),
            T::Code => format!("c{v}"),
            T::Decimal => format!("{v}.50"),
            T::Boolean => ["true", "false"][v % 2].to_string(),
            _ => format!("2024-01-{:02}", v % 28 + 1),
        }
    };
    for r in 0..PAIRS {
        let l: Vec<String> = (0..10).map(|c| cell(r, c, 0)).collect();
        let i: Vec<String> = (0..10).map(|c| cell(r, c, 1)).collect();
        local
            .push_row(r as u64, l.iter().map(String::as_str))
            .unwrap();
        integration
            .push_row(r as u64, i.iter().map(String::as_str))
            .unwrap();
    }
    let pairs: Vec<(u32, u32)> = (0..PAIRS as u32).map(|r| (r, r)).collect();
    let start = std::time::Instant::now();
    let plan = plan_sync(&s, &local, &integration, &pairs).unwrap();
    let elapsed = start.elapsed();
    eprintln!(
        "planned {} rows ({} updates) in {:?}",
        plan.rows.len(),
        plan.count(Update),
        elapsed
    );
    assert_eq!(plan.rows.len(), PAIRS * 10);
    assert!(elapsed.as_secs_f64() < 1.0, "{elapsed:?}");
}

/// The generator behind the properties is not vacuous: most cases validate, and their plans
/// hold updates, unchanged rows, conflicts and constants.
#[test]
fn property_cases_cover_the_interesting_outcomes() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = case(vec![R::None, R::Send, R::Get]);
    let (mut valid, mut updates, mut unchanged, mut conflicts, mut failed, mut constants) =
        (0, 0, 0, 0, 0, 0);
    for _ in 0..500 {
        let c = strategy.new_tree(&mut runner).unwrap().current();
        if c.spec.validate().is_err() {
            continue;
        }
        valid += 1;
        constants += c.spec.fields.iter().any(|f| f.constant.is_some()) as usize;
        let (local, integration) = tables(&c);
        let plan = plan_sync(&c.spec, &local, &integration, &c.pairs).unwrap();
        updates += plan.count(Update);
        unchanged += plan.count(Unchanged);
        conflicts += plan.count(Conflict);
        failed += plan.count(Failed);
    }
    eprintln!(
        "valid {valid}, updates {updates}, unchanged {unchanged}, conflicts {conflicts}, failed {failed}, constants {constants}"
    );
    assert!(valid > 250, "only {valid} of 500 cases validate");
    for (what, n) in [
        ("updates", updates),
        ("unchanged", unchanged),
        ("conflicts", conflicts),
        ("failed", failed),
        ("constants", constants),
    ] {
        assert!(n > 20, "{what}: {n}");
    }
}

// ---------------------------------------------------------------------------------------------
// Lookups through couplings (rule 11)

const G1: &str = "5f641b45-48bc-a138-be13-4ea95426dd94";
const G2: &str = "e6f8ed18-c7b7-4a95-a5bc-44ab02629774";

/// CUSTOMER's couplings: C1 ↔ G1, C2 ↔ G2 (written as BC shows a CRM ID).
fn customers() -> std::sync::Arc<coupler_engine::Translation> {
    let mut t = coupler_engine::Translation::new("CUSTOMER");
    t.add("C1", G1);
    t.add("c2", "{E6F8ED18-C7B7-4A95-A5BC-44AB02629774}");
    std::sync::Arc::new(t)
}

fn company(d: D, clear: bool) -> FieldMapping {
    FieldMapping {
        via: Some(customers()),
        clear_on_failed_sync: clear,
        ..f("Company No.", "_parentcustomerid_value", T::Code, d)
    }
}

fn contacts(local: &[[&str; 2]], integration: &[[&str; 2]]) -> (Table, Table) {
    let l: Vec<&[&str]> = local.iter().map(|r| r.as_slice()).collect();
    let i: Vec<&[&str]> = integration.iter().map(|r| r.as_slice()).collect();
    (
        table("contacts", &["Name", "Company No."], &l),
        table("dv_contacts", &["fullname", "_parentcustomerid_value"], &i),
    )
}

fn contact_spec(direction: D, resolution: R, clear: bool) -> SyncSpec {
    SyncSpec {
        mapping_name: "CONTACT".into(),
        local_table_caption: "Contact".into(),
        integration_table_caption: "Contact".into(),
        ..spec(
            direction,
            resolution,
            vec![
                f("Name", "fullname", T::Text, direction),
                company(direction, clear),
            ],
        )
    }
}

#[test]
fn a_lookup_is_written_to_dataverse_as_the_coupled_id() {
    let s = contact_spec(D::ToIntegration, R::None, false);
    let (local, integration) = contacts(
        &[["Ann", "c1 "], ["Bob", "C2"], ["Cy", ""], ["Di", "C1"]],
        &[
            ["Ann", ""],
            // The same id in another spelling: unchanged.
            ["Bob", "{E6F8ED18-C7B7-4A95-A5BC-44AB02629774}"],
            // A blank key clears the lookup.
            ["Cy", G1],
            ["Di", G2],
        ],
    );
    let plan = plan_sync(&s, &local, &integration, &[(0, 0), (1, 1), (2, 2), (3, 3)]).unwrap();
    let lookups: Vec<_> = summary(&plan)
        .into_iter()
        .filter(|r| r.1 == "_parentcustomerid_value")
        .collect();
    assert_eq!(
        lookups,
        [
            (TO, "_parentcustomerid_value", "", G1, Update),
            (
                TO,
                "_parentcustomerid_value",
                "{E6F8ED18-C7B7-4A95-A5BC-44AB02629774}",
                G2,
                Unchanged
            ),
            (TO, "_parentcustomerid_value", G1, "", Update),
            (TO, "_parentcustomerid_value", G2, G1, Update),
        ]
    );
}

#[test]
fn a_lookup_to_a_record_not_coupled_fails_the_record_with_bcs_text_unless_cleared() {
    let (local, integration) = contacts(&[["Ann", "C9"]], &[["Anne", G1]]);
    let plan = one_pair(
        &contact_spec(D::ToIntegration, R::None, false),
        &local,
        &integration,
    );
    let text = "The data could not be updated because of the following error: Company No. C9 must be coupled to a Dataverse record.";
    // The whole record fails: the name is not written either.
    assert_eq!(
        plan.rows
            .iter()
            .map(|r| (r.field.as_str(), r.status, r.message.as_str()))
            .collect::<Vec<_>>(),
        [
            ("fullname", Failed, text),
            ("_parentcustomerid_value", Failed, text)
        ]
    );
    assert_eq!((plan.pairs_failed, plan.counters.failed), (1, 1));
    // "Clear Value on Failed Sync": the lookup is cleared, the record written.
    let plan = one_pair(
        &contact_spec(D::ToIntegration, R::None, true),
        &local,
        &integration,
    );
    assert_eq!(
        summary(&plan),
        [
            (TO, "fullname", "Anne", "Ann", Update),
            (TO, "_parentcustomerid_value", G1, "", Update)
        ]
    );
}

#[test]
fn a_lookup_comes_back_to_bc_as_the_coupled_key() {
    let s = contact_spec(D::FromIntegration, R::None, false);
    let (local, integration) = contacts(
        &[["Ann", ""], ["Bob", "c2"], ["Cy", "C1"], ["Di", "C1"]],
        &[
            ["Ann", "5F641B45-48BC-A138-BE13-4EA95426DD94"],
            ["Bob", G2],
            ["Cy", ""],
            // An account nobody coupled.
            ["Di", "0b1d7a0e-3c1e-4a53-9d3c-2f6a1e0c9b11"],
        ],
    );
    let plan = plan_sync(&s, &local, &integration, &[(0, 0), (1, 1), (2, 2), (3, 3)]).unwrap();
    let lookups: Vec<_> = plan
        .rows
        .iter()
        .filter(|r| r.field == "Company No.")
        .map(|r| {
            (
                r.old_value.as_str(),
                r.new_value.as_str(),
                r.status,
                r.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        lookups,
        [
            ("", "C1", Update, ""),
            // BC's Code value c2 is C2 already.
            ("c2", "C2", Unchanged, ""),
            ("C1", "", Update, ""),
            (
                "C1",
                "0b1d7a0e-3c1e-4a53-9d3c-2f6a1e0c9b11",
                Failed,
                "The data could not be updated because of the following error: _parentcustomerid_value 0b1d7a0e-3c1e-4a53-9d3c-2f6a1e0c9b11 must be coupled to a Dataverse record."
            ),
        ]
    );
}

#[test]
fn a_bidirectional_lookup_that_differs_is_a_conflict() {
    let s = contact_spec(D::Bidirectional, R::None, false);
    let (local, integration) =
        contacts(&[["Ann", "C1"], ["Bob", "C2"]], &[["Ann", G2], ["Bob", G2]]);
    let plan = plan_sync(&s, &local, &integration, &[(0, 0), (1, 1)]).unwrap();
    let statuses: Vec<_> = plan
        .rows
        .iter()
        .filter(|r| r.field.contains("ompany") || r.field.contains("parent"))
        .map(|r| (r.local_row, r.direction, r.status))
        .collect();
    assert_eq!(
        statuses,
        [
            (0, TO, Conflict),
            (0, FROM, Conflict),
            (1, TO, Unchanged),
            (1, FROM, Unchanged)
        ]
    );
}
