//! End-to-end against the Dataverse emulator: `coupler handover` stamps each coupled account
//! with its customer's No. so that BC's own match-based coupling on that one field reproduces
//! the store's couplings — collisions planted by the generator, a deleted coupled row, a key
//! too long for the column, a second run with nothing to do, and a run killed mid-apply.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};

mod common;
use common::read_csv;

mod world;
use world::*;

fn handover(world: &World, out: &str, extra: &[&str]) -> Output {
    handover_env(world, out, extra, None)
}

fn handover_env(world: &World, out: &str, extra: &[&str], failpoints: Option<&str>) -> Output {
    let mut command = handover_command(world, out, extra);
    if let Some(f) = failpoints {
        command.env("FAILPOINTS", f);
    }
    command.output().expect("run coupler")
}

/// `coupler handover … --json` of the world's CUSTOMER mapping through `accountnumber`.
fn handover_command(world: &World, out: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_coupler"));
    command
        .args([
            "handover",
            "--config",
            "dv.toml",
            "--mapping",
            "CUSTOMER",
            "--column",
            "accountnumber",
            "--out",
            out,
            "--json",
        ])
        .args(extra)
        .current_dir(world.path())
        .env("COUPLER_E2E_SECRET", SECRET);
    command
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)))
}

/// The plan's rows: status → set of (local id, integration id).
fn plan(world: &World, out: &str) -> BTreeMap<String, BTreeSet<(String, String)>> {
    let mut by_status: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for r in read_csv(&world.path().join(out).join("CUSTOMER/handover-plan.csv")) {
        by_status
            .entry(r["status"].clone())
            .or_default()
            .insert((r["local_id"].clone(), r["integration_id"].clone()));
    }
    by_status
}

/// accountid → accountnumber as the emulator holds it.
fn account_numbers(world: &World) -> BTreeMap<String, Option<String>> {
    world
        .emulator
        .controls()
        .table_cells("accounts")
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r["accountid"].clone().unwrap(),
                r.get("accountnumber").cloned().flatten(),
            )
        })
        .collect()
}

/// The rows BC's coupling would meet outside the store's couplings, computed independently:
/// active accounts not coupled in the store whose number — trailing spaces and case ignored,
/// as Dataverse compares — is the No. of a customer BC processes (not blocked, not coupled in
/// BC already through the couplings file).
fn expected_collisions(world: &World, stored: &[(String, String)]) -> BTreeSet<String> {
    let coupled: BTreeSet<&str> = stored.iter().map(|(_, i)| i.as_str()).collect();
    let in_bc: BTreeSet<String> = read_csv(&world.path().join("couplings.csv"))
        .into_iter()
        .map(|c| c["local_id"].trim().to_uppercase())
        .collect();
    let processed: BTreeSet<String> = read_csv(&world.path().join("customers.csv"))
        .into_iter()
        .filter(|c| c["Blocked"].is_empty())
        .map(|c| c["No."].trim().to_uppercase())
        .filter(|no| !in_bc.contains(no))
        .collect();
    read_csv(&world.path().join("accounts.csv"))
        .into_iter()
        .filter(|a| a["statecode"] == "0")
        .filter(|a| !coupled.contains(a["accountid"].as_str()))
        .filter(|a| processed.contains(&a["accountnumber"].trim_end().to_uppercase()))
        .map(|a| a["accountid"].clone())
        .collect()
}

/// The collisions the generator planted (rows that are no customer's counterpart) that BC
/// would meet.
fn planted(world: &World, expected: &BTreeSet<String>) -> BTreeSet<String> {
    read_csv(&world.path().join("handover_collisions.csv"))
        .into_iter()
        .map(|c| c["integration_id"].clone())
        .filter(|id| expected.contains(id))
        .collect()
}

#[test]
fn a_handover_reproduces_the_store_under_bcs_own_coupling() {
    let world = World::new(1500);
    let applied = world.apply("coupled");
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    let stored = stored_pairs(&world);
    assert!(stored.len() > 1000, "{}", stored.len());

    // 1. The plan: every planted collision BC would meet, and nothing else.
    let before = account_numbers(&world);
    let out = handover(&world, "plan", &[]);
    assert_eq!(out.status.code(), Some(1), "collisions are left");
    assert!(
        text(&out.stderr).contains("collision(s) left"),
        "{}",
        text(&out.stderr)
    );
    let j = json(&out);
    let planned = plan(&world, "plan");
    let collisions: BTreeSet<String> = planned["collision"]
        .iter()
        .map(|(_, i)| i.clone())
        .collect();
    let expected = expected_collisions(&world, &stored);
    assert_eq!(collisions, expected);
    // Among them the generator's planted ones (stale numbers on accounts coupler left
    // uncoupled are collisions too).
    assert!(
        !planted(&world, &expected).is_empty(),
        "the generator plants collisions"
    );
    assert_eq!(j["collisions"], expected.len() as u64);
    assert_eq!(j["couplings"], stored.len() as u64);
    assert_eq!(
        j["stamp"].as_u64().unwrap() + j["unchanged"].as_u64().unwrap(),
        stored.len() as u64,
        "{j}"
    );
    assert!(
        j["unchanged"].as_u64().unwrap() > 0,
        "some accounts carry their number already"
    );
    assert_eq!(j["written"], 0);
    assert_eq!(account_numbers(&world), before, "planning writes nothing");

    // 2. Planning with the collisions cleared: BC would reproduce every coupling.
    let out = handover(&world, "plan-clear", &["--clear-collisions"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let j = json(&out);
    assert_eq!(
        (j["verified"].as_u64(), j["mismatches"].as_u64()),
        (Some(stored.len() as u64), Some(0))
    );

    // 3. Applied: stamps and blanks written, verified on what the server holds.
    let out = handover(&world, "apply", &["--apply", "--clear-collisions"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let j = json(&out);
    assert_eq!(j["verified_on"], "server");
    assert_eq!(j["verified"], stored.len() as u64);
    assert_eq!(
        j["written"].as_u64().unwrap(),
        j["stamp"].as_u64().unwrap() + j["collisions"].as_u64().unwrap()
    );
    let numbers = account_numbers(&world);
    for (local, integration) in &stored {
        assert_eq!(numbers[integration].as_deref(), Some(local.as_str()));
    }
    for id in &expected {
        assert_eq!(numbers[id], None, "collision {id} blanked");
    }

    // 4. An independent run of BC's coupling, the single criterion No. <-> accountnumber
    //    under Dataverse's collation, against the emulator: exactly the store's couplings.
    let config = std::fs::read_to_string(world.path().join("dv.toml")).unwrap();
    let start = config.find("[[mappings.fields]]").unwrap();
    let end = config.find("\n[dataverse]").unwrap();
    let head = config[..start].replacen(
        "name = \"CUSTOMER\"",
        "name = \"CUSTOMER\"\ncollation = \"dataverse\"",
        1,
    );
    let bc = format!(
        "store = \"bc.db\"\n{head}[[mappings.fields]]\nlocal = \"No.\"\nintegration = \"accountnumber\"\ntype = \"code\"\nmatch = true\n{}",
        &config[end..]
    );
    std::fs::write(world.path().join("bc.toml"), bc).unwrap();
    let out = coupler(
        &["couple", "--config", "bc.toml", "--out", "bc", "--json"],
        world.path(),
        SECRET,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bc_pairs: BTreeSet<(String, String)> =
        read_csv(&world.path().join("bc/CUSTOMER/couplings.csv"))
            .into_iter()
            .map(|r| (r["local_id"].clone(), r["integration_id"].clone()))
            .collect();
    let stored_set: BTreeSet<(String, String)> = stored.iter().cloned().collect();
    assert_eq!(bc_pairs, stored_set);

    // 5. A second run has nothing left to do.
    let out = handover(&world, "again", &["--apply", "--clear-collisions"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let j = json(&out);
    assert_eq!(
        (
            j["stamp"].as_u64(),
            j["collisions"].as_u64(),
            j["written"].as_u64()
        ),
        (Some(0), Some(0), Some(0))
    );
    assert_eq!(j["unchanged"], stored.len() as u64);
}

#[test]
fn a_deleted_coupled_row_is_missing_and_fails_the_check() {
    let world = World::new(300);
    assert!(world.apply("coupled").status.success());
    let stored = stored_pairs(&world);
    let (gone_local, gone) = stored[0].clone();
    let rows: Vec<_> = plain(world.emulator.controls().table_rows("accounts").unwrap())
        .into_iter()
        .filter(|r| r["accountid"] != gone.as_str())
        .collect();
    world
        .emulator
        .controls()
        .set_rows("accounts", rows)
        .unwrap();
    let out = handover(&world, "plan", &["--clear-collisions"]);
    assert_eq!(out.status.code(), Some(1));
    let j = json(&out);
    assert_eq!(j["missing"], 1);
    assert_eq!(j["verified"], stored.len() as u64 - 1);
    let planned = plan(&world, "plan");
    assert_eq!(
        planned["missing"],
        BTreeSet::from([(gone_local.clone(), gone.clone())])
    );
    let mismatches = read_csv(&world.path().join("plan/CUSTOMER/handover-mismatches.csv"));
    assert!(
        mismatches
            .iter()
            .any(|m| m["local_id"] == gone_local && m["expected_integration_id"] == gone),
        "{mismatches:?}"
    );
    assert!(
        text(&out.stderr).contains("otherwise than the store"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_key_longer_than_the_column_is_refused_before_writing() {
    let world = World::new_with(300, "[tables.max_lengths]\naccountnumber = 6\n");
    assert!(world.apply("coupled").status.success());
    let stored = stored_pairs(&world);
    let before = account_numbers(&world);
    let out = handover(&world, "plan", &["--apply"]);
    assert_eq!(out.status.code(), Some(1));
    let j = json(&out);
    // The generated keys (C000001) have 7 characters: nothing is stamped.
    assert_eq!(j["too_long"], stored.len() as u64);
    assert_eq!(
        (j["stamp"].as_u64(), j["written"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(account_numbers(&world), before);
}

#[test]
fn a_handover_killed_at_any_step_is_finished_by_the_rerun() {
    // After the intent is journaled; after a $batch is marked sent (its answer not recorded);
    // after it is answered (not marked); after the first batch is marked done.
    for failpoint in [
        "handover::after_journal=return",
        "apply::batch_marked_sent=return",
        "apply::batch_answered=return",
        "apply::batch_marked=return",
    ] {
        let world = World::new(600);
        assert!(world.apply("coupled").status.success());
        let stored = stored_pairs(&world);
        let out = handover_env(
            &world,
            "killed",
            &["--apply", "--clear-collisions"],
            Some(failpoint),
        );
        assert!(!out.status.success(), "{failpoint}");
        assert!(
            text(&out.stderr).contains("fail point"),
            "{failpoint}: {}",
            text(&out.stderr)
        );
        let out = handover(&world, "rerun", &["--apply", "--clear-collisions"]);
        assert!(out.status.success(), "{failpoint}: {}", text(&out.stderr));
        let j = json(&out);
        assert_eq!(
            (j["verified"].as_u64(), j["mismatches"].as_u64()),
            (Some(stored.len() as u64), Some(0)),
            "{failpoint}"
        );
        let numbers = account_numbers(&world);
        for (local, integration) in &stored {
            assert_eq!(
                numbers[integration].as_deref(),
                Some(local.as_str()),
                "{failpoint}"
            );
        }
        // Nothing is pending in the journal any more: a third run writes nothing.
        let out = handover(&world, "third", &["--apply", "--clear-collisions"]);
        assert!(out.status.success(), "{failpoint}: {}", text(&out.stderr));
        assert_eq!(json(&out)["written"], 0, "{failpoint}");
    }
}

/// SIGKILL at random moments (after a random number of requests and `$batch` parts the server
/// has seen, not a clock), with faults injected, rerun until a run finishes: the end state is
/// that of an undisturbed handover.
#[test]
fn random_kills_under_faults_end_as_an_undisturbed_handover() {
    use dataverse_emulator::{Fault, FaultWhen};
    let mut rng = fastrand::Rng::with_seed(0x4a4d);
    for round in 0..2 {
        let world = World::new(400);
        assert!(world.apply("coupled").status.success());
        let stored = stored_pairs(&world);
        let collisions = expected_collisions(&world, &stored);
        let controls = world.emulator.controls();
        controls.inject_batch_part(Fault::Status(503), FaultWhen::EveryNth(7));
        controls.inject(Fault::DropConnection, FaultWhen::EveryNth(11));
        let events = || {
            let stats = controls.stats();
            stats.requests + stats.batch_parts
        };
        let mut finished = false;
        let mut outcomes = Vec::new();
        for attempt in 0..100 {
            let mut child = handover_command(
                &world,
                &format!("r{attempt}"),
                &["--apply", "--clear-collisions"],
            )
            .stdout(std::process::Stdio::null())
            .stderr(
                std::fs::File::create(world.path().join(format!("stderr-{attempt}.txt"))).unwrap(),
            )
            .spawn()
            .unwrap();
            let start = events();
            // A whole run is about 270 of them here (a $batch part per write): the first attempt
            // is always killed, later ones may finish.
            let kill_after = rng.u64(1..if attempt == 0 { 200 } else { 300 });
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break Some(status);
                }
                if events() >= start + kill_after {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    break None;
                }
                std::thread::yield_now();
            };
            outcomes.push(status.map_or(-9, |s| s.code().unwrap_or(-1)));
            if status.is_some_and(|s| s.success()) {
                finished = true;
                break;
            }
        }
        let last = std::fs::read_to_string(world.path().join("stderr-99.txt")).unwrap_or_default();
        assert!(
            finished,
            "round {round}: never finished ({outcomes:?}); the last run said: {last}"
        );
        assert_eq!(outcomes[0], -9, "round {round}: the first run was killed");
        controls.clear_faults();
        let numbers = account_numbers(&world);
        for (local, integration) in &stored {
            assert_eq!(
                numbers[integration].as_deref(),
                Some(local.as_str()),
                "round {round}"
            );
        }
        for id in &collisions {
            assert_eq!(numbers[id], None, "round {round}: collision {id}");
        }
        let out = handover(&world, "last", &["--apply", "--clear-collisions"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(json(&out)["written"], 0, "round {round}");
    }
}

#[test]
fn what_cannot_be_handed_over_is_refused_with_one_clear_line() {
    let dir = common::demo();
    let d = dir.path();
    let run = |args: &[&str]| {
        let mut all = vec![
            "handover",
            "--config",
            "coupling.toml",
            "--mapping",
            "CUSTOMER",
        ];
        all.extend_from_slice(args);
        let out = common::coupler(&all, d);
        (out.status.code(), text(&out.stderr))
    };
    let (code, err) = run(&["--column", "accountnumber"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no coupling store"), "{err}");
    common::apply(d, "applied");
    let (code, err) = run(&["--column", "acountnumber"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("acountnumber"), "{err}");
    let (code, err) = run(&["--column", "accountid"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("is the integration table's key"), "{err}");
    let (code, err) = run(&["--column", "accountnumber", "--apply"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("the integration side is a file"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // Planning from the export works.
    let (code, err) = run(&["--column", "accountnumber"]);
    assert_eq!(code, Some(0), "{err}");
}
