//! The worked examples of docs/semantics.md, Microsoft's test expectations, and each rule, on small tables.

use coupler_engine::report::Renderer;
use coupler_engine::*;

struct Case {
    local_cols: Vec<&'static str>,
    local: Vec<Vec<&'static str>>,
    integ_cols: Vec<&'static str>,
    integ: Vec<Vec<&'static str>>,
    criteria: Vec<MatchCriterion>,
    mode: PriorityMode,
    local_filter: TableFilter,
    integration_filter: TableFilter,
    existing: ExistingCouplings,
}

fn crit(local: &str, integ: &str, priority: u32) -> MatchCriterion {
    MatchCriterion {
        local_field: local.into(),
        integration_field: integ.into(),
        field_type: FieldType::Text,
        priority,
        case_sensitive: false,
        ..MatchCriterion::default()
    }
}

fn typed(local: &str, integ: &str, t: FieldType, cs: bool) -> MatchCriterion {
    MatchCriterion {
        field_type: t,
        case_sensitive: cs,
        ..crit(local, integ, 0)
    }
}

impl Case {
    fn new(
        local_cols: &[&'static str],
        local: &[&[&'static str]],
        integ_cols: &[&'static str],
        integ: &[&[&'static str]],
        criteria: Vec<MatchCriterion>,
    ) -> Self {
        Case {
            local_cols: local_cols.to_vec(),
            local: local.iter().map(|r| r.to_vec()).collect(),
            integ_cols: integ_cols.to_vec(),
            integ: integ.iter().map(|r| r.to_vec()).collect(),
            criteria,
            mode: PriorityMode::Cumulative,
            local_filter: vec![],
            integration_filter: vec![],
            existing: ExistingCouplings::new(),
        }
    }

    fn spec(&self) -> CouplingSpec {
        CouplingSpec {
            mapping_name: "CUSTOMER".into(),
            local_caption: "Customer".into(),
            integration_caption: "Account".into(),
            integration_source: "https://contoso.crm.dynamics.com".into(),
            local_key: self.local_cols[0].into(),
            integration_key: self.integ_cols[0].into(),
            criteria: self.criteria.clone(),
            priority_mode: self.mode,
            collation: coupler_engine::Collation::Exact,
            local_filter: self.local_filter.clone(),
            integration_filter: self.integration_filter.clone(),
        }
    }

    /// (local id, outcome, integration id / candidates, trace, message) per results row, plus the log.
    fn run(&self) -> (Vec<[String; 10]>, JobLog) {
        let local = Table::from_rows("customers.csv", &self.local_cols, &self.local).unwrap();
        let integ = Table::from_rows("accounts.csv", &self.integ_cols, &self.integ).unwrap();
        let spec = self.spec();
        let run = couple(&spec, &local, &integ, &self.existing, RunOptions::default()).unwrap();
        let renderer = Renderer::new(&run);
        let mut buf = Default::default();
        let rows = (0..run.outcomes().len())
            .map(|i| renderer.render(i, &mut buf).map(str::to_string))
            .collect();
        (rows, run.log().clone())
    }

    fn outcomes(&self) -> Vec<String> {
        self.run()
            .0
            .iter()
            .map(|r| {
                if r[2].is_empty() {
                    r[1].clone()
                } else {
                    format!("{}:{}", r[1], r[2])
                }
            })
            .collect()
    }
}

fn phones(local: &[&'static str], integ: &[&'static str]) -> Case {
    let l: Vec<Vec<&'static str>> = local
        .iter()
        .enumerate()
        .map(|(i, p)| vec![["C1", "C2", "C3", "C4", "C5"][i], *p])
        .collect();
    let a: Vec<Vec<&'static str>> = integ
        .iter()
        .enumerate()
        .map(|(i, p)| vec![["A1", "A2", "A3", "A4", "A5"][i], *p])
        .collect();
    let l: Vec<&[&str]> = l.iter().map(|r| r.as_slice()).collect();
    let a: Vec<&[&str]> = a.iter().map(|r| r.as_slice()).collect();
    Case::new(
        &["No.", "Phone No."],
        &l,
        &["accountid", "telephone1"],
        &a,
        vec![crit("Phone No.", "telephone1", 0)],
    )
}

#[test]
fn microsoft_expectation_all_five_phones_equal() {
    let c = phones(&["1", "2", "3", "4", "5"], &["1", "2", "3", "4", "5"]);
    let (_, log) = c.run();
    assert_eq!((log.counters.coupled, log.counters.failed), (5, 0));
    assert!(log.errors.is_empty());
}

#[test]
fn microsoft_expectation_two_of_five_phones_equal() {
    let c = phones(&["1", "2", "3", "4", "5"], &["1", "2", "x3", "x4", "x5"]);
    let (_, log) = c.run();
    assert_eq!((log.counters.coupled, log.counters.failed), (2, 3));
    assert_eq!(
        log.errors,
        vec!["Failed to couple 3 record(s), because no unique uncoupled matching entity was found in https://contoso.crm.dynamics.com with the specified matching criteria."]
    );
}

#[test]
fn microsoft_expectation_all_accounts_share_customer_one_phone() {
    let c = phones(&["1", "2", "3", "4", "5"], &["1", "1", "1", "1", "1"]);
    let (rows, log) = c.run();
    assert_eq!((log.counters.coupled, log.counters.failed), (0, 5));
    assert_eq!(rows[0][1], "multiple_matches");
    assert_eq!(rows[0][4], "5");
    assert_eq!(rows[0][5], "A1|A2|A3|A4|A5");
    assert!(rows[1..].iter().all(|r| r[1] == "no_match"));
    assert_eq!(log.errors.len(), 1);
}

fn worked(local: &[&'static str], integ: &[&[&'static str]]) -> Case {
    Case::new(
        &["No.", "Phone No.", "Name"],
        &[local],
        &["accountid", "telephone1", "name"],
        integ,
        vec![crit("Phone No.", "telephone1", 0), crit("Name", "name", 1)],
    )
}

#[test]
fn worked_example_later_level_narrows_multiple_matches() {
    let c = worked(
        &["C1", "555", "Adatum"],
        &[&["A1", "555", "Other"], &["A2", "555", "Adatum"]],
    );
    let (rows, log) = c.run();
    assert_eq!(rows[0][1], "coupled");
    assert_eq!(rows[0][2], "A2");
    assert_eq!(rows[0][3], "1");
    assert_eq!(rows[0][7], "p0:multiple(2) p1:coupled");
    assert_eq!(rows[0][8], "");
    assert_eq!(log.counters.coupled, 1);
}

#[test]
fn worked_example_later_level_cannot_rescue_no_match() {
    let c = worked(&["C1", "555", "Adatum"], &[&["A1", "444", "Adatum"]]);
    let (rows, _) = c.run();
    assert_eq!(rows[0][1], "no_match");
    assert_eq!(rows[0][7], "p0:no_match p1:no_match");
    assert_eq!(rows[0][3], "1");
    assert_eq!(
        rows[0][8],
        "No matching entity was found for C1 in https://contoso.crm.dynamics.com by matching on following fields: Phone No., Name."
    );
}

#[test]
fn independent_mode_lets_a_later_level_rescue() {
    let mut c = worked(&["C1", "555", "Adatum"], &[&["A1", "444", "Adatum"]]);
    c.mode = PriorityMode::Independent;
    assert_eq!(c.outcomes(), vec!["coupled:A1"]);
    let (rows, _) = c.run();
    assert_eq!(rows[0][7], "p0:no_match p1:coupled");
}

#[test]
fn worked_example_blank_phone_lets_name_decide() {
    let c = worked(&["C1", "", "Adatum"], &[&["A1", "444", "Adatum"]]);
    let (rows, _) = c.run();
    assert_eq!(rows[0][1], "coupled");
    assert_eq!(rows[0][7], "p0:no_match(blank) p1:coupled");
}

#[test]
fn worked_example_single_match_already_coupled() {
    let mut c = worked(&["C1", "555", "Adatum"], &[&["A1", "555", "Adatum"]]);
    c.criteria.truncate(1);
    c.existing.add_other("V9", "A1");
    let (rows, log) = c.run();
    assert_eq!(rows[0][1], "already_coupled");
    assert_eq!(rows[0][5], "A1");
    assert_eq!(rows[0][6], "V9");
    assert_eq!(rows[0][9], "existing");
    assert_eq!(
        rows[0][8],
        "Single matching entity was found for C1 in https://contoso.crm.dynamics.com by matching on following fields: Phone No., but it is already coupled."
    );
    assert_eq!(log.counters.failed, 1);
}

#[test]
fn first_come_first_served_in_processing_order() {
    let c = Case::new(
        &["No.", "Phone No."],
        &[&["C2", "555"], &["C1", "555"]],
        &["accountid", "telephone1"],
        &[&["A1", "555"]],
        vec![crit("Phone No.", "telephone1", 0)],
    );
    let (rows, log) = c.run();
    assert_eq!(rows[0][1], "coupled");
    assert_eq!(rows[0][0], "C2");
    assert_eq!(rows[1][1], "already_coupled");
    assert_eq!(rows[1][6], "C2");
    assert_eq!(rows[1][9], "this_job");
    assert_eq!((log.counters.coupled, log.counters.failed), (1, 1));
}

#[test]
fn already_coupled_at_p0_is_narrowed_to_the_same_row_or_nothing() {
    // p0 finds A1 (taken), p1 narrows to A1 again → still already coupled.
    let mut c = worked(&["C1", "555", "Adatum"], &[&["A1", "555", "Adatum"]]);
    c.existing.add_other("X", "A1");
    let (rows, _) = c.run();
    assert_eq!(rows[0][7], "p0:already_coupled p1:already_coupled");
    // p1 name differs → the last level's result (no match) is the outcome.
    let mut c = worked(&["C1", "555", "Adatum"], &[&["A1", "555", "Other"]]);
    c.existing.add_other("X", "A1");
    let (rows, _) = c.run();
    assert_eq!(rows[0][1], "no_match");
    assert_eq!(rows[0][7], "p0:already_coupled p1:no_match");
}

#[test]
fn same_integration_field_at_a_later_level_replaces_the_condition() {
    // p0: Phone No. → telephone1 gives 0; p1: Mobile → telephone1 replaces it and finds A1.
    let c = Case::new(
        &["No.", "Phone No.", "Mobile"],
        &[&["C1", "111", "222"]],
        &["accountid", "telephone1"],
        &[&["A1", "222"]],
        vec![
            crit("Phone No.", "telephone1", 0),
            crit("Mobile", "telephone1", 1),
        ],
    );
    assert_eq!(c.outcomes(), vec!["coupled:A1"]);
    let (rows, _) = c.run();
    assert_eq!(rows[0][7], "p0:no_match p1:coupled");
}

#[test]
fn filters_are_never_reset_after_an_all_blank_level() {
    // p0 phone 555 → 2 matches; p1 all blank → no_match(blank); p2 city narrows p0's set.
    let c = Case::new(
        &["No.", "Phone No.", "Name", "City"],
        &[&["C1", "555", "", "Oslo"]],
        &["accountid", "telephone1", "name", "city"],
        &[
            &["A1", "555", "x", "Oslo"],
            &["A2", "555", "y", "Bergen"],
            &["A3", "999", "z", "Oslo"],
        ],
        vec![
            crit("Phone No.", "telephone1", 0),
            crit("Name", "name", 1),
            crit("City", "city", 2),
        ],
    );
    let (rows, _) = c.run();
    assert_eq!(rows[0][7], "p0:multiple(2) p1:no_match(blank) p2:coupled");
    assert_eq!(rows[0][2], "A1");
}

#[test]
fn no_criteria_fails_once_with_m1_and_skipped_records_stay_skipped() {
    let mut c = Case::new(
        &["No.", "Name"],
        &[&["C1", "A"], &["C2", "B"]],
        &["accountid", "name"],
        &[&["A1", "A"]],
        vec![],
    );
    c.existing.add_own("C2", "A7");
    let (rows, log) = c.run();
    assert_eq!(rows[0][1], "no_criteria");
    assert_eq!(
        rows[0][8],
        "You must specify which fields on the table mapping 'Customer - Account' should be used for match-based coupling."
    );
    assert_eq!(rows[0][3], "");
    assert_eq!(rows[1][1], "skipped");
    assert_eq!(log.counters.failed, 1);
    assert_eq!(log.errors, vec![rows[0][8].clone()]);
}

#[test]
fn coupled_local_records_are_skipped_and_not_counted() {
    let mut c = phones(&["1", "2"], &["1", "2"]);
    c.existing.add_own("C1", "A1");
    let (rows, log) = c.run();
    assert_eq!(rows[0][1], "skipped");
    assert_eq!(
        rows[0][8],
        "C1 is already coupled to A1; match-based coupling skips coupled records."
    );
    assert_eq!(rows[1][1], "coupled");
    assert_eq!(
        log.counters,
        Counters {
            coupled: 1,
            ..Counters::default()
        }
    );
    assert_eq!(log.outcomes.skipped, 1);
}

#[test]
fn filters_select_local_records_and_candidates() {
    let mut c = Case::new(
        &["No.", "Phone No.", "Blocked"],
        &[&["C1", "1", ""], &["C2", "2", "All"], &["C3", "3", ""]],
        &["accountid", "telephone1", "statecode"],
        &[&["A1", "1", "0"], &["A2", "2", "0"], &["A3", "3", "1"]],
        vec![crit("Phone No.", "telephone1", 0)],
    );
    c.local_filter = vec![("Blocked".into(), "".into())];
    c.integration_filter = vec![("statecode".into(), "0".into())];
    let (rows, log) = c.run();
    let ids: Vec<_> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(ids, vec![("C1", "coupled"), ("C3", "no_match")]);
    assert_eq!(log.local_records, 2);
    assert_eq!(log.integration_records, 2);
}

#[test]
fn criterion_on_a_filtered_column_is_a_configuration_error() {
    let mut c = phones(&["1"], &["1"]);
    c.integration_filter = vec![("telephone1".into(), "1".into())];
    let local = Table::from_rows("l", &["No.", "Phone No."], &[vec!["C1", "1"]]).unwrap();
    let integ = Table::from_rows("i", &["accountid", "telephone1"], &[vec!["A1", "1"]]).unwrap();
    let spec = c.spec();
    let err = couple(&spec, &local, &integ, &c.existing, RunOptions::default())
        .err()
        .unwrap();
    assert!(
        matches!(err, EngineError::CriterionOnFilteredColumn { .. }),
        "{err}"
    );
}

fn one(t: FieldType, cs: bool, local: &'static str, integ: &'static str) -> String {
    let c = Case::new(
        &["No.", "v"],
        &[&["C1", local]],
        &["accountid", "v"],
        &[&["A1", integ]],
        vec![typed("v", "v", t, cs)],
    );
    c.outcomes().remove(0)
}

#[test]
fn text_comparison_rules() {
    assert_eq!(
        one(FieldType::Text, false, "ADATUM", "adatum"),
        "coupled:A1"
    );
    assert_eq!(one(FieldType::Text, true, "ADATUM", "adatum"), "no_match");
    assert_eq!(one(FieldType::Text, false, "Adatum ", "Adatum"), "no_match");
    assert_eq!(one(FieldType::Text, false, "ÉCOLE", "école"), "coupled:A1");
    assert_eq!(one(FieldType::Text, false, "Ecole", "école"), "no_match");
    // Blank local text never matches a blank integration value.
    assert_eq!(one(FieldType::Text, false, "", ""), "no_match");
}

#[test]
fn code_comparison_rules() {
    assert_eq!(one(FieldType::Code, true, " usd ", "USD"), "coupled:A1");
    assert_eq!(one(FieldType::Code, true, "usd", "usd"), "no_match");
    assert_eq!(one(FieldType::Code, false, "usd", "Usd"), "coupled:A1");
    assert_eq!(one(FieldType::Code, false, "   ", ""), "no_match");
}

#[test]
fn numeric_boolean_and_date_rules() {
    assert_eq!(one(FieldType::Decimal, false, "1.50", "1.5"), "coupled:A1");
    assert_eq!(one(FieldType::Integer, false, "", "0"), "coupled:A1");
    assert_eq!(one(FieldType::Integer, false, "", ""), "coupled:A1");
    assert_eq!(one(FieldType::Integer, false, "2", "3"), "no_match");
    assert_eq!(one(FieldType::Boolean, false, "", "No"), "coupled:A1");
    assert_eq!(one(FieldType::Boolean, false, "Yes", "1"), "coupled:A1");
    assert_eq!(one(FieldType::Boolean, false, "true", "0"), "no_match");
    assert_eq!(
        one(FieldType::Date, false, "2024-03-01", "2024-03-01T00:00:00Z"),
        "coupled:A1"
    );
    assert_eq!(one(FieldType::Date, false, "", ""), "coupled:A1");
    assert_eq!(one(FieldType::Date, false, "2024-03-01", ""), "no_match");
}

#[test]
fn invalid_values_name_table_line_and_column() {
    let c = Case::new(
        &["No.", "v"],
        &[&["C1", "1"], &["C2", "abc"]],
        &["accountid", "v"],
        &[&["A1", "1"]],
        vec![typed("v", "v", FieldType::Decimal, false)],
    );
    let local = Table::from_rows("customers.csv", &c.local_cols, &c.local).unwrap();
    let integ = Table::from_rows("accounts.csv", &c.integ_cols, &c.integ).unwrap();
    let spec = c.spec();
    let err = couple(&spec, &local, &integ, &c.existing, RunOptions::default())
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "customers.csv line 3, column 'v': 'abc' is not a valid number: expected digits with an optional sign, '.' decimal point and exponent"
    );
}

#[test]
fn duplicate_and_blank_ids_are_rejected_with_lines() {
    let local = Table::from_rows(
        "customers.csv",
        &["No."],
        &[vec!["C1"], vec!["C2"], vec!["C1"]],
    )
    .unwrap();
    let integ = Table::from_rows("accounts.csv", &["accountid"], &[vec!["A1"]]).unwrap();
    let mut spec = phones(&[], &[]).spec();
    spec.criteria.clear();
    let existing = ExistingCouplings::new();
    let err = couple(&spec, &local, &integ, &existing, RunOptions::default())
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "customers.csv line 4: duplicate id 'C1' (first seen on line 2)"
    );
    let integ = Table::from_rows("accounts.csv", &["accountid"], &[vec!["A1"], vec![""]]).unwrap();
    let local = Table::from_rows("customers.csv", &["No."], &[vec!["C1"]]).unwrap();
    let err = couple(&spec, &local, &integ, &existing, RunOptions::default())
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "accounts.csv line 3: the id column 'accountid' is blank"
    );
}

#[test]
fn candidates_are_capped_at_ten_in_source_order() {
    let integ: Vec<Vec<String>> = (0..12)
        .rev()
        .map(|i| vec![format!("A{i:02}"), "x".to_string()])
        .collect();
    let local = Table::from_rows("l", &["No.", "v"], &[vec!["C1", "X"]]).unwrap();
    let integ = Table::from_rows("i", &["accountid", "v"], &integ).unwrap();
    let spec = CouplingSpec {
        criteria: vec![crit("v", "v", 0)],
        local_key: "No.".into(),
        integration_key: "accountid".into(),
        ..phones(&[], &[]).spec()
    };
    let existing = ExistingCouplings::new();
    let run = couple(&spec, &local, &integ, &existing, RunOptions::default()).unwrap();
    let r = Renderer::new(&run);
    let mut buf = Default::default();
    let row = r.render(0, &mut buf);
    assert_eq!(row[4], "12");
    assert_eq!(row[5], "A11|A10|A09|A08|A07|A06|A05|A04|A03|A02");
}

#[test]
fn a_pair_another_job_committed_first_is_demoted_and_rebooked() {
    let case = phones(&["1", "2", "3"], &["1", "2", "9"]);
    let local = Table::from_rows("customers.csv", &case.local_cols, &case.local).unwrap();
    let integ = Table::from_rows("accounts.csv", &case.integ_cols, &case.integ).unwrap();
    let spec = case.spec();
    let mut run = couple(&spec, &local, &integ, &case.existing, RunOptions::default()).unwrap();
    assert_eq!(run.log().counters.coupled, 2);
    assert_eq!(run.log().counters.failed, 1);
    let level_0 = |log: &JobLog| {
        let c = &log.by_level[0];
        (c.coupled, c.no_match, c.already_coupled, c.skipped)
    };
    assert_eq!(level_0(run.log()), (2, 1, 0, 0));
    // A concurrent job coupled A1 to C9 first; another coupled C2 (to A2) first.
    assert!(run.demote_to_already_coupled(0, "C9"));
    assert!(run.demote_to_skipped(1, "A2"));
    // Only coupled records can be demoted.
    assert!(!run.demote_to_already_coupled(2, "X"));
    let renderer = Renderer::new(&run);
    let mut buf = Default::default();
    let row: Vec<String> = renderer
        .render(0, &mut buf)
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(row[1], "already_coupled");
    assert_eq!(row[5], "A1");
    assert_eq!(row[6], "C9");
    assert_eq!(row[7], "p0:already_coupled");
    assert_eq!(row[9], "concurrent_job");
    let row: Vec<String> = renderer
        .render(1, &mut buf)
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(row[1], "skipped");
    assert!(row[8].contains("already coupled to A2"), "{}", row[8]);
    let log = run.log();
    assert_eq!(log.counters.coupled, 0);
    assert_eq!(log.counters.failed, 2);
    assert_eq!(log.outcomes.already_coupled, 1);
    assert_eq!(log.outcomes.skipped, 1);
    // A skipped record has no deciding level.
    assert_eq!(level_0(log), (0, 1, 1, 0));
    assert_eq!(
        log.errors,
        vec!["Failed to couple 2 record(s), because no unique uncoupled matching entity was found in https://contoso.crm.dynamics.com with the specified matching criteria."]
    );
}

#[test]
fn dataverse_collation_ignores_case_accents_and_trailing_spaces_whatever_the_flag_says() {
    let run = |collation: Collation, local: &'static str, integ: &'static str| {
        let mut case = Case::new(
            &["No.", "Name"],
            &[&["C1", local]],
            &["accountid", "name"],
            &[&["A1", integ]],
            vec![typed("Name", "name", FieldType::Text, true)],
        );
        case.mode = PriorityMode::Cumulative;
        let local_t = Table::from_rows("customers.csv", &case.local_cols, &case.local).unwrap();
        let integ_t = Table::from_rows("accounts.csv", &case.integ_cols, &case.integ).unwrap();
        let spec = CouplingSpec {
            collation,
            ..case.spec()
        };
        let r = couple(
            &spec,
            &local_t,
            &integ_t,
            &case.existing,
            RunOptions::default(),
        )
        .unwrap();
        r.outcomes()[0].outcome.name()
    };
    let ai = Collation::Dataverse {
        accent_sensitive: false,
    };
    let as_ = Collation::Dataverse {
        accent_sensitive: true,
    };
    // Case-sensitive criterion: exact mode keeps it; Dataverse's collation does not.
    assert_eq!(run(Collation::Exact, "Café Ltd", "CAFÉ LTD"), "no_match");
    assert_eq!(run(ai, "Café Ltd", "CAFÉ LTD"), "coupled");
    // Accents: folded under _CI_AI, kept under _CI_AS.
    assert_eq!(run(ai, "Cafe Ltd", "Café Ltd"), "coupled");
    assert_eq!(run(as_, "Cafe Ltd", "Café Ltd"), "no_match");
    assert_eq!(run(as_, "CAFÉ LTD", "café ltd"), "coupled");
    // Trailing spaces are ignored, leading ones are not.
    assert_eq!(run(ai, "Adatum  ", "adatum"), "coupled");
    assert_eq!(run(ai, " Adatum", "adatum"), "no_match");
    assert_eq!(run(Collation::Exact, "Adatum ", "Adatum"), "no_match");
}
