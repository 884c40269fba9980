//! End-to-end against the local Dataverse emulator: the real `coupler` binary reads the
//! integration side from the emulator (in this process, on loopback) and must produce exactly
//! what it produces from the same data as a CSV file — also under injected faults — or fail with
//! one clear line. The CSV twin is written in Dataverse's default row order (primary key), the
//! order the emulator serves.

use std::process::Command;

mod common;
use common::read_csv;

use dataverse_emulator::{Fault, FaultWhen, ThrottleKind};

mod world;
use world::*;

impl World {
    fn results(&self, out: &str) -> String {
        std::fs::read_to_string(self.path().join(out).join("CUSTOMER/results.csv")).unwrap()
    }

    /// Runs the CSV twin and the Dataverse config; asserts identical outputs; returns the
    /// Dataverse job.json.
    fn assert_same_as_csv(&self) -> serde_json::Value {
        let csv = self.couple("csv.toml", "out-csv");
        assert!(csv.status.success(), "{}", text(&csv.stderr));
        let dv = self.couple("dv.toml", "out-dv");
        assert!(dv.status.success(), "{}", text(&dv.stderr));
        // Messages name the source: the file, or the environment URL (BC's M2).
        let url = self.emulator.url();
        let from_csv = self.results("out-csv").replace("accounts-sorted.csv", &url);
        same_lines(&from_csv, &self.results("out-dv"));
        let couplings = |out: &str| {
            std::fs::read_to_string(self.path().join(out).join("CUSTOMER/couplings.csv")).unwrap()
        };
        same_lines(&couplings("out-csv"), &couplings("out-dv"));
        let (a, b) = (self.job("out-csv"), self.job("out-dv"));
        assert_eq!(a["counters"], b["counters"]);
        assert_eq!(a["outcomes"], b["outcomes"]);
        assert_eq!(
            a["errors"].to_string().replace("accounts-sorted.csv", &url),
            b["errors"].to_string()
        );
        b
    }
}

/// Equal texts, or a failure showing the first differing line (not two whole files).
fn same_lines(expected: &str, actual: &str) {
    for (n, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        assert_eq!(e, a, "first difference on line {}", n + 1);
    }
    assert_eq!(
        expected.lines().count(),
        actual.lines().count(),
        "line counts differ"
    );
}

#[test]
fn dataverse_source_gives_the_same_results_as_the_csv_export_over_several_pages() {
    let world = World::new(12_000);
    let job = world.assert_same_as_csv();
    let http = &job["http"];
    assert!(job["integration_records_read"].as_u64().unwrap() > 10_000);
    // A token, the metadata, the row count, and at least three 5000-row pages.
    assert!(http["requests"].as_u64().unwrap() >= 5, "{http}");
    assert_eq!(http["retries"], 0);
    assert_eq!(http["throttled"], 0);
    assert_eq!(job["integration_read"]["strategy"], "bulk");
    // Every page carried the page-size preference; the filter went to the server.
    let log = world.emulator.controls().requests();
    let pages: Vec<_> = log
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/data/v9.2/accounts"))
        .collect();
    assert!(pages.len() >= 3, "{} page requests", pages.len());
    for p in &pages {
        assert_eq!(
            p.prefer,
            vec!["odata.maxpagesize=5000".to_string()],
            "{}",
            p.path_and_query
        );
    }
    assert!(
        pages[0]
            .path_and_query
            .contains("$filter=statecode%20eq%200"),
        "{}",
        pages[0].path_and_query
    );
}

#[test]
fn lookup_strategy_gives_the_same_results_with_fewer_rows() {
    let world = World::new(3_000);
    world.write_configs("", "read_strategy = \"lookup\"\n");
    let job = world.assert_same_as_csv();
    assert_eq!(job["integration_read"]["strategy"], "lookup");
    let read = job["integration_records_read"].as_u64().unwrap();
    let all = world.job("out-csv")["integration_records_read"]
        .as_u64()
        .unwrap();
    assert!(read <= all, "{read} > {all}");
    // The queries are In lookups.
    assert!(world
        .emulator
        .controls()
        .requests()
        .iter()
        .any(|r| r.path_and_query.contains("Microsoft.Dynamics.CRM.In")));
}

#[test]
fn auto_strategy_picks_lookups_for_a_small_selection() {
    let world = World::new(12_000);
    // Keep 20 local records: a few In queries beat three pages.
    let customers = std::fs::read_to_string(world.path().join("customers.csv")).unwrap();
    let few: Vec<&str> = customers.lines().take(21).collect();
    std::fs::write(world.path().join("customers.csv"), few.join("\n") + "\n").unwrap();
    let job = world.assert_same_as_csv();
    assert_eq!(job["integration_read"]["strategy"], "lookup", "{job}");
}

#[test]
fn throttling_storm_503s_and_a_dropped_connection_are_survived_with_identical_results() {
    let world = World::new(12_000);
    let controls = world.emulator.controls();
    // Requests: 1 token, 2-3 metadata, then count and pages: hit the pages.
    controls.inject(
        Fault::Throttle(ThrottleKind::Requests, 0),
        FaultWhen::NextRequests(4),
    );
    controls.inject(Fault::Status(503), FaultWhen::RequestNumber(7));
    controls.inject(Fault::DropConnection, FaultWhen::RequestNumber(9));
    controls.inject(Fault::Status(502), FaultWhen::RequestNumber(10));
    let job = world.assert_same_as_csv();
    let http = &job["http"];
    assert!(http["throttled"].as_u64().unwrap() >= 4, "{http}");
    assert!(http["retries"].as_u64().unwrap() >= 7, "{http}");
}

#[test]
fn retries_are_bounded_and_the_error_names_the_request() {
    let world = World::new(2_000);
    world.write_configs("max_retries = 2", "");
    world
        .emulator
        .controls()
        .inject(Fault::Status(503), FaultWhen::NextRequests(1000));
    let out = world.couple("dv.toml", "out-dv");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("gave up after 3 attempts"), "{err}");
    assert!(err.contains("GET EntityDefinitions"), "{err}");
    assert!(err.contains("503"), "{err}");
    assert!(!world.path().join("out-dv").exists());
}

#[test]
fn bad_secret_fails_with_entra_s_reason_and_never_shows_the_secret() {
    let world = World::new(200);
    let out = coupler(
        &["couple", "--config", "dv.toml", "--out", "out-dv"],
        world.path(),
        "wrong-secret-value",
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("AADSTS7000215"), "{err}");
    assert!(err.contains("invalid_client"), "{err}");
    assert!(!err.contains("wrong-secret-value"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn missing_secret_variable_is_named() {
    let world = World::new(200);
    let out = Command::new(env!("CARGO_BIN_EXE_coupler"))
        .args(["couple", "--config", "dv.toml"])
        .current_dir(world.path())
        .env_remove("COUPLER_E2E_SECRET")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("COUPLER_E2E_SECRET is not set"), "{err}");
}

#[test]
fn certificate_credentials_work_with_both_assertion_algorithms() {
    let world = World::new(500);
    for alg in ["PS256", "RS256"] {
        world.write_configs(
            &format!("certificate = \"test-app.pem\"\ncertificate_algorithm = \"{alg}\""),
            "",
        );
        world.assert_same_as_csv();
    }
    // A certificate the emulator does not know is refused by the token endpoint.
    std::fs::copy(
        root().join("fixtures/dataverse/test-other-app.pem"),
        world.path().join("other.pem"),
    )
    .unwrap();
    world.write_configs("certificate = \"other.pem\"", "");
    let out = world.couple("dv.toml", "out-other");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("AADSTS"), "{err}");
    assert!(!err.contains("PRIVATE KEY"), "{err}");
}

#[test]
fn administration_mode_is_its_own_plain_error() {
    let world = World::new(200);
    world.emulator.controls().set_admin_mode(true);
    let out = coupler(
        &["connection", "test", "--config", "dv.toml"],
        world.path(),
        SECRET,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with(
            "The connection test has failed. The Dataverse environment is in administration mode"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("Admin Only mode"), "{stdout}");
    // Never retried.
    assert_eq!(
        world.emulator.controls().stats().by_status.get(&403),
        Some(&1)
    );
    let out = world.couple("dv.toml", "out-dv");
    assert!(text(&out.stderr).contains("administration mode"));
}

#[test]
fn connection_test_checks_currency_tables_and_columns() {
    let world = World::new(200);
    let run = |world: &World| {
        let out = coupler(
            &["connection", "test", "--config", "dv.toml"],
            world.path(),
            SECRET,
        );
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    world.write_configs("local_currency = \"USD\"", "");
    let (code, stdout, stderr) = run(&world);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(
        stdout.trim_end(),
        "The connection test was successful. The settings are valid."
    );
    assert!(stderr.contains("WhoAmI"), "{stderr}");
    // EUR exists in Dataverse: the current rule accepts it, the strict rule does not.
    world.write_configs("local_currency = \"EUR\"", "");
    assert_eq!(run(&world).0, Some(0));
    world.write_configs("local_currency = \"EUR\"\nstrict_currency = true", "");
    let (code, stdout, _) = run(&world);
    assert_eq!(code, Some(1));
    assert_eq!(
        stdout.trim_end(),
        "The connection test has failed. LCY Code EUR does not match ISO Currency Code USD of the Common Data Service base currency."
    );
    world.write_configs("local_currency = \"DKK\"", "");
    let (code, stdout, _) = run(&world);
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("Your local currency code DKK does not match any ISO Currency Code"),
        "{stdout}"
    );

    // A typo in a column name: suggested, before anything runs.
    world.write_configs("", "");
    let config = std::fs::read_to_string(world.path().join("dv.toml")).unwrap();
    std::fs::write(
        world.path().join("dv.toml"),
        config.replace(
            "integration = \"telephone1\"",
            "integration = \"telephone\"",
        ),
    )
    .unwrap();
    let (code, stdout, _) = run(&world);
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("column 'telephone' does not exist"),
        "{stdout}"
    );
    assert!(stdout.contains("did you mean 'telephone1'"), "{stdout}");
    let out = world.couple("dv.toml", "out-dv");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("did you mean 'telephone1'"));
    assert!(!world.path().join("out-dv").exists());

    // An unknown table.
    std::fs::write(
        world.path().join("dv.toml"),
        config.replace(
            "dataverse_table = \"accounts\"",
            "dataverse_table = \"acounts\"",
        ),
    )
    .unwrap();
    let (code, stdout, _) = run(&world);
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("no table with the entity set name 'acounts'; did you mean 'accounts'?"),
        "{stdout}"
    );
}

#[test]
fn plain_http_to_a_remote_host_is_refused_before_any_request() {
    let world = World::new(100);
    let config = std::fs::read_to_string(world.path().join("dv.toml")).unwrap();
    let url = world.emulator.url();
    std::fs::write(
        world.path().join("dv.toml"),
        config.replacen(
            &format!("url = \"{url}\""),
            "url = \"http://contoso.crm.dynamics.com\"",
            1,
        ),
    )
    .unwrap();
    let out = world.couple("dv.toml", "out-dv");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("plain http is allowed only to this machine"),
        "{err}"
    );
    assert_eq!(world.emulator.controls().stats().requests, 0);
}

#[test]
fn sync_after_coupling_plans_in_a_dry_run_and_applies_exactly_once() {
    let world = World::new(2_000);
    world.enable(true, false);
    let before = world.emails();
    // Dry run: a plan, no write.
    let out = world.couple("dv.toml", "dry");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = std::fs::read_to_string(world.path().join("dry/CUSTOMER/sync-plan.csv")).unwrap();
    assert!(plan
        .starts_with("local_id,integration_id,direction,field,old_value,new_value,status,message"));
    let accounts_to_update: std::collections::BTreeSet<&str> = plan
        .lines()
        .filter(|l| l.contains(",to-integration,") && l.contains(",update,"))
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert!(accounts_to_update.len() > 10);
    assert_eq!(world.emails(), before);

    let out = world.apply("a1");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let job = world.job("a1");
    // One PATCH per account with changes.
    assert_eq!(
        job["sync"]["applied"]["done"].as_u64().unwrap() as usize,
        accounts_to_update.len(),
        "{}",
        job["sync"]
    );
    assert_eq!(job["sync"]["applied"]["failed"], 0);
    let pairs = world.coupled("a1");
    world.assert_synchronized(&pairs);
    // Only the coupled pairs were touched.
    let after = world.emails();
    let coupled: std::collections::BTreeSet<&String> = pairs.iter().map(|(_, i)| i).collect();
    for (id, mail) in &before {
        if !coupled.contains(id) {
            assert_eq!(&after[id], mail);
        }
    }
    // A rerun couples nothing new and writes nothing.
    world.emulator.controls().reset_stats();
    let out = world.apply("a2");
    assert!(out.status.success());
    assert_eq!(world.job("a2")["outcomes"]["coupled"], 0);
    let batches = world
        .emulator
        .controls()
        .requests()
        .iter()
        .filter(|r| r.path_and_query.contains("$batch"))
        .count();
    assert_eq!(batches, 0);
}

#[test]
fn throttling_past_the_retry_budget_leaves_writes_pending_for_the_next_run() {
    let world = World::new(1_000);
    world.write_configs("max_retries = 1", "");
    world.enable(true, false);
    let controls = world.emulator.controls();
    // Every $batch part throttled: the client gives up on them after one retry.
    controls.inject_batch_part(
        Fault::Throttle(ThrottleKind::Requests, 1),
        FaultWhen::NextRequests(100_000),
    );
    let out = world.apply("a1");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("still pending"),
        "{}",
        text(&out.stderr)
    );
    let applied = world.job("a1")["sync"]["applied"].clone();
    let pending = applied["pending"].as_u64().unwrap();
    assert!(pending > 0, "{applied}");
    assert_eq!(applied["done"], 0);
    controls.clear_faults();
    // The same command again sends exactly the pending writes.
    let out = world.apply("a2");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let applied = world.job("a2")["sync"]["applied"].clone();
    assert_eq!(applied["resumed"].as_u64().unwrap(), pending, "{applied}");
    assert_eq!(applied["done"].as_u64().unwrap(), pending, "{applied}");
    world.assert_synchronized(&stored_pairs(&world));
}

#[test]
fn a_run_killed_mid_sync_is_finished_by_the_same_command_and_a_deleted_row_is_not_recreated() {
    let world = World::new(3_000);
    world.enable(true, false);
    let controls = world.emulator.controls();
    // Slow batch parts so that the process can be killed half-way through the writes.
    controls.inject_batch_part(
        Fault::Delay(std::time::Duration::from_millis(20)),
        FaultWhen::EveryNth(1),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_coupler"))
        .args([
            "couple", "--config", "dv.toml", "--out", "a1", "--json", "--apply",
        ])
        .current_dir(world.path())
        .env("COUPLER_E2E_SECRET", SECRET)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill (SIGKILL) once some writes have landed: polling the server, not the clock.
    let mut killed = false;
    for _ in 0..6000 {
        if controls.stats().batch_parts >= 30 {
            child.kill().unwrap();
            killed = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.wait();
    assert!(killed, "the run ended before it could be killed");
    controls.clear_faults();
    // The couplings were committed before the sync began; some accounts are not written yet.
    let pairs = stored_pairs(&world);
    assert!(pairs.len() > 1000);
    let (emails, local) = (world.emails(), world.local_emails());
    let unwritten: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(l, i)| emails[i] != Some(local[l].clone()).filter(|s| !s.is_empty()))
        .collect();
    assert!(
        unwritten.len() > 1,
        "the kill came too late to test resuming"
    );
    // One of them is deleted in Dataverse before the rerun.
    let deleted = unwritten[0].1.clone();
    let rows: Vec<_> = plain(controls.table_rows("accounts").unwrap())
        .into_iter()
        .filter(|r| r["accountid"] != deleted.as_str())
        .collect();
    let count = rows.len();
    controls.set_rows("accounts", rows).unwrap();

    let out = world.apply("a2");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let applied = world.job("a2")["sync"]["applied"].clone();
    assert!(applied["resumed"].as_u64().unwrap() > 0, "{applied}");
    assert_eq!(applied["not_found"], 1, "{applied}");
    assert_eq!(applied["failed"], 0, "{applied}");
    assert_eq!(
        controls.table_rows("accounts").unwrap().len(),
        count,
        "no row recreated"
    );
    let survivors: Vec<(String, String)> =
        pairs.into_iter().filter(|(_, i)| *i != deleted).collect();
    world.assert_synchronized(&survivors);
    // Nothing is pending any more: a third run writes nothing.
    controls.reset_stats();
    let out = world.apply("a3");
    assert!(out.status.success());
    assert_eq!(world.job("a3")["sync"]["applied"]["done"], 0);
}

#[test]
fn a_503_inside_a_batch_is_retried_for_that_part_only() {
    let world = World::new(2_000);
    world.enable(true, false);
    let controls = world.emulator.controls();
    controls.inject_batch_part(Fault::Status(503), FaultWhen::RequestNumber(7));
    let out = world.apply("a1");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let job = world.job("a1");
    assert_eq!(job["sync"]["applied"]["failed"], 0, "{}", job["sync"]);
    assert_eq!(job["sync"]["applied"]["pending"], 0, "{}", job["sync"]);
    assert!(
        job["http"]["retries"].as_u64().unwrap() >= 1,
        "{}",
        job["http"]
    );
    world.assert_synchronized(&world.coupled("a1"));
}

#[test]
fn create_new_if_no_match_creates_each_row_once_and_couples_it() {
    let world = World::new(1_000);
    world.enable(false, true);
    let before = world
        .emulator
        .controls()
        .table_rows("accounts")
        .unwrap()
        .len();
    let out = world.apply("a1");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let job = world.job("a1");
    let created = job["create_new"]["created"].as_u64().unwrap();
    assert_eq!(created, job["outcomes"]["no_match"].as_u64().unwrap());
    assert!(created > 10);
    assert_eq!(job["counters"]["inserted"].as_u64().unwrap(), created);
    let after = world
        .emulator
        .controls()
        .table_rows("accounts")
        .unwrap()
        .len();
    assert_eq!(after as u64, before as u64 + created);
    let list = std::fs::read_to_string(world.path().join("a1/CUSTOMER/created.csv")).unwrap();
    assert_eq!(list.lines().count() as u64, created + 1);
    // Rerun: the created rows are coupled now; nothing is created again.
    let out = world.apply("a2");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        world
            .emulator
            .controls()
            .table_rows("accounts")
            .unwrap()
            .len(),
        after
    );
    assert_eq!(world.job("a2")["create_new"]["created"], 0);
}

/// Dataverse's "Relationship Type" labels, as the emulator serves them for `customertypecode`.
const RELATIONSHIP_TYPES: [&str; 12] = [
    "Competitor",
    "Consultant",
    "Customer",
    "Investor",
    "Partner",
    "Influencer",
    "Press",
    "Prospect",
    "Reseller",
    "Supplier",
    "Vendor",
    "Other",
];

/// Adds a `Type` caption column to customers.csv: the label of the true account's type, but
/// "Competitor" for every 7th customer (a disagreement the option criterion must see).
/// Returns the ids of those customers.
fn add_type_captions(world: &World, extra: Option<&str>) -> Vec<String> {
    let dir = world.path();
    let types: std::collections::HashMap<String, usize> = read_csv(&dir.join("accounts.csv"))
        .into_iter()
        .map(|r| {
            (
                r["accountid"].clone(),
                r["customertypecode"].parse().unwrap(),
            )
        })
        .collect();
    let truth: std::collections::HashMap<String, String> = read_csv(&dir.join("truth.csv"))
        .into_iter()
        .map(|r| (r["local_id"].clone(), r["integration_id"].clone()))
        .collect();
    let mut reader = csv::Reader::from_path(dir.join("customers.csv")).unwrap();
    let mut header = reader.headers().unwrap().clone();
    header.push_field("Type");
    let key = header.iter().position(|h| h == "No.").unwrap();
    let mut writer = csv::Writer::from_path(dir.join("customers-typed.csv")).unwrap();
    writer.write_record(&header).unwrap();
    let mut changed = Vec::new();
    for (n, row) in reader.records().enumerate() {
        let mut row = row.unwrap();
        let id = row[key].to_string();
        let code = truth
            .get(&id)
            .and_then(|a| types.get(a))
            .copied()
            .unwrap_or(3);
        let caption = if n % 7 == 3 && code != 1 {
            changed.push(id);
            "Competitor"
        } else {
            RELATIONSHIP_TYPES[code - 1]
        };
        row.push_field(caption);
        writer.write_record(&row).unwrap();
    }
    if let Some(extra) = extra {
        // An unmapped caption on the first data line.
        writer.flush().unwrap();
        drop(writer);
        let text = std::fs::read_to_string(dir.join("customers-typed.csv")).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        let first = lines[1].rsplit_once(',').unwrap().0.to_string() + "," + extra;
        lines[1] = &first;
        std::fs::write(dir.join("customers-typed.csv"), lines.join("\n") + "\n").unwrap();
    } else {
        writer.flush().unwrap();
    }
    changed
}

#[test]
fn option_fields_take_their_map_from_dataverse_metadata() {
    let world = World::new(1500);
    let changed = add_type_captions(&world, None);
    let option_field = |options: &str| {
        format!(
            "\n[[mappings.fields]]\nlocal = \"Type\"\nintegration = \"customertypecode\"\ntype = \"option\"\nmatch = true\npriority = 0\n{options}"
        )
    };
    let configured: Vec<String> = RELATIONSHIP_TYPES
        .iter()
        .enumerate()
        .map(|(i, l)| format!("\"{l}\" = {}", i + 1))
        .collect();
    for (name, options) in [
        (
            "csv.toml",
            format!("options = {{ {} }}", configured.join(", ")),
        ),
        ("dv.toml", String::new()),
    ] {
        let path = world.path().join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("csv = \"customers.csv\"", "csv = \"customers-typed.csv\"");
        std::fs::write(&path, text + &option_field(&options)).unwrap();
    }
    // The map read from metadata gives what the configured map gives, record for record.
    world.assert_same_as_csv();
    let results = read_csv(&world.path().join("out-dv/CUSTOMER/results.csv"));
    let coupled = results.iter().filter(|r| r["outcome"] == "coupled").count();
    assert!(coupled > 1000, "{coupled}");
    let truth: std::collections::HashMap<String, String> =
        read_csv(&world.path().join("truth.csv"))
            .into_iter()
            .map(|r| (r["local_id"].clone(), r["integration_id"].clone()))
            .collect();
    // A customer whose caption disagrees with its account's type is never coupled to it.
    assert!(changed.len() > 100);
    for r in &results {
        if changed.contains(&r["local_id"]) {
            assert_ne!(
                truth.get(&r["local_id"]),
                Some(&r["integration_id"]),
                "{r:?}"
            );
        }
    }
    // Matched values show the caption's choice value.
    assert!(
        results[0]["matched_values"].contains("Type: "),
        "{:?}",
        results[0]
    );

    // A caption Dataverse has no label for stops the job, naming file, line, column and labels.
    add_type_captions(&world, Some("Wholesaler"));
    let out = world.couple("dv.toml", "out-bad");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("customers-typed.csv line 2, column 'Type': option 'Wholesaler' has no option mapping; the mapped captions are: Competitor, Consultant, Customer"),
        "{err}"
    );
}

/// A table filter in BC's syntax on the Dataverse side: what translates exactly is pushed down
/// as `$filter` (job.json says what), the whole filter is evaluated locally too, and the result
/// is exactly that of the same filter on the CSV export — including the case-sensitive part,
/// which Dataverse alone (case-insensitive) would get wrong.
#[test]
fn a_table_filter_pushed_down_gives_the_rows_of_the_same_filter_on_the_csv_export() {
    let world = World::new(1500);
    let filter = "table_filter = { name = \"@d*|K*|*Oy\", telephone1 = \"<>''\" }\n";
    world.write_configs("", filter);
    let csv_path = world.path().join("csv.toml");
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let with_filter = csv.replacen(
        "csv = \"accounts-sorted.csv\"\n",
        &format!("csv = \"accounts-sorted.csv\"\n{filter}"),
        1,
    );
    assert_ne!(with_filter, csv);
    std::fs::write(&csv_path, with_filter).unwrap();
    let job = world.assert_same_as_csv();
    let pushed = job["integration_read"]["pushed_down"].to_string();
    assert!(pushed.contains("startswith(name,'K')"), "{pushed}");
    assert!(pushed.contains("telephone1 ne null"), "{pushed}");
    // The filter kept some accounts and left others out.
    let accounts = read_csv(&world.path().join("accounts.csv")).len() as u64;
    let read = job["integration_records_read"].as_u64().unwrap();
    assert!(read > 0 && read < accounts / 2, "{read} of {accounts}");
}

/// A malformed table filter is a config error pointing at the position in the expression.
#[test]
fn a_malformed_table_filter_names_the_key_and_the_position() {
    let world = World::new(50);
    world.write_configs("", "table_filter = { name = \"(A|B\" }\n");
    let out = world.couple("dv.toml", "out");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("[mappings.integration] table_filter.\"name\" = \"(A|B\": "),
        "{err}"
    );
    assert!(err.contains("position"), "{err}");
}

/// Random table filters on the Dataverse side: whatever part of each is pushed down, the rows
/// coupler keeps are exactly those of the same filter evaluated on the CSV export — a pushed
/// condition may only widen what Dataverse returns, never drop a row the filter keeps.
#[test]
fn random_table_filters_agree_between_push_down_and_the_csv_export() {
    let world = World::new(300);
    let accounts = read_csv(&world.path().join("accounts.csv"));
    let mut rng = fastrand::Rng::with_seed(18);
    let names: Vec<&str> = accounts.iter().map(|a| a["name"].as_str()).collect();
    let prefix = |rng: &mut fastrand::Rng| {
        let name = names[rng.usize(..names.len())];
        let n = rng.usize(1..=2).min(name.chars().count());
        let p: String = name.chars().take(n).collect();
        // Dataverse compares case-insensitively; BC does not (unless `@`).
        if rng.bool() {
            p.to_lowercase()
        } else {
            p
        }
    };
    let csv_template = std::fs::read_to_string(world.path().join("csv.toml")).unwrap();
    let (mut pushed_any, mut kept_between) = (0, 0);
    for _ in 0..16 {
        let atom = |rng: &mut fastrand::Rng| -> String {
            let p = prefix(rng).replace('\'', "''");
            match rng.usize(..8) {
                0 => format!("{p}*"),
                1 => format!("@{p}*"),
                2 => format!("*{p}*"),
                3 => format!("<>{p}*"),
                4 => "*Oy".to_string(),
                5 => format!("'{}'", names[rng.usize(..names.len())].replace('\'', "''")),
                6 => format!("?{p}*"),
                _ => "<>''".to_string(),
            }
        };
        let parts: Vec<String> = (0..rng.usize(1..=3)).map(|_| atom(&mut rng)).collect();
        let joined = parts.join(if rng.bool() { "|" } else { "&" });
        let phone = if rng.bool() {
            ", telephone1 = \"<>''\""
        } else {
            ""
        };
        let filter = format!(
            "table_filter = {{ name = \"{}\"{phone} }}\n",
            joined.replace('\\', "\\\\").replace('"', "\\\"")
        );
        world.write_configs("", &filter);
        let with_filter = csv_template.replacen(
            "csv = \"accounts-sorted.csv\"\n",
            &format!("csv = \"accounts-sorted.csv\"\n{filter}"),
            1,
        );
        std::fs::write(world.path().join("csv.toml"), with_filter).unwrap();
        let job = world.assert_same_as_csv();
        if job["integration_read"]["pushed_down"].is_array() {
            pushed_any += 1;
        }
        let kept = job["integration_records_read"].as_u64().unwrap();
        kept_between += u32::from(kept > 0 && (kept as usize) < accounts.len());
    }
    assert!(
        pushed_any >= 8,
        "only {pushed_any} of 16 filters pushed anything down"
    );
    // Most filters keep some accounts and leave others out (so the comparison says something).
    assert!(
        kept_between >= 8,
        "only {kept_between} of 16 filters were selective"
    );
}
