//! Crash safety of `couple --apply` against the Dataverse emulator: the process dies at every
//! named crash point of the apply path (cli/src/failpoints.rs, compiled into the test build),
//! the same command is run again until it succeeds, and the end state — the rows Dataverse holds,
//! the store's couplings, what is left pending — must equal a run that never crashed. Plus the
//! findings that started it (planned updates lost, resumed writes not counted, orphan rows,
//! re-coupling to a deleted row) and a randomized SIGKILL test with faults injected.

mod world;
use world::*;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output, Stdio};

use dataverse_emulator::{Fault, FaultWhen, ThrottleKind};

/// `couple --apply` with crash points configured (`FAILPOINTS`, the `fail` crate's syntax).
fn apply_crashing(world: &World, out: &str, failpoints: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coupler"))
        .args([
            "couple", "--config", "dv.toml", "--out", out, "--json", "--apply",
        ])
        .current_dir(world.path())
        .env("COUPLER_E2E_SECRET", SECRET)
        .env("FAILPOINTS", failpoints)
        .output()
        .expect("run coupler")
}

/// Everything a run leaves in the world that matters: accounts by name (created rows get fresh
/// ids, so they are compared by what they hold), the store's couplings with created rows named
/// by their account, and whether anything is still pending.
#[derive(Debug, PartialEq, Eq)]
struct EndState {
    /// name → (e-mail, how many accounts have that name and e-mail).
    accounts: BTreeMap<(String, Option<String>), usize>,
    /// local id → the coupled account's id, or `new:<name>` for a row created by the run.
    couplings: BTreeMap<String, String>,
    pending: usize,
}

/// Asserts two end states are equal, naming only what differs (a whole state is thousands of
/// lines).
fn assert_same(state: &EndState, expected: &EndState, context: &str) {
    if state == expected {
        return;
    }
    let mut diffs = Vec::new();
    for (k, v) in &expected.accounts {
        if state.accounts.get(k) != Some(v) {
            diffs.push(format!(
                "account {k:?}: expected {v}, got {:?}",
                state.accounts.get(k)
            ));
        }
    }
    for (k, v) in &state.accounts {
        if !expected.accounts.contains_key(k) {
            diffs.push(format!("account {k:?}: unexpected, {v} row(s)"));
        }
    }
    for (k, v) in &expected.couplings {
        if state.couplings.get(k) != Some(v) {
            diffs.push(format!(
                "coupling of {k}: expected {v}, got {:?}",
                state.couplings.get(k)
            ));
        }
    }
    for (k, v) in &state.couplings {
        if !expected.couplings.contains_key(k) {
            diffs.push(format!("coupling of {k}: unexpected, to {v}"));
        }
    }
    if state.pending != expected.pending {
        diffs.push(format!(
            "pending: expected {}, got {}",
            expected.pending, state.pending
        ));
    }
    let shown: Vec<&String> = diffs.iter().take(12).collect();
    panic!(
        "{context}: {} difference(s) from a run that never crashed:\n{}",
        diffs.len(),
        shown
            .iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn end_state(world: &World, original_ids: &BTreeSet<String>) -> EndState {
    let rows = world.emulator.controls().table_rows("accounts").unwrap();
    let mut accounts = BTreeMap::new();
    let mut names = BTreeMap::new();
    for r in &rows {
        let id = r["accountid"].as_str().unwrap().to_string();
        let name = r["name"].as_str().unwrap_or("").to_string();
        let mail = r
            .get("emailaddress1")
            .and_then(|v| v.as_str())
            .map(String::from);
        *accounts.entry((name.clone(), mail)).or_insert(0) += 1;
        names.insert(id, name);
    }
    let couplings = stored_pairs(world)
        .into_iter()
        .map(|(l, i)| {
            let shown = if original_ids.contains(&i) {
                i
            } else {
                format!(
                    "new:{}",
                    names
                        .get(&i)
                        .cloned()
                        .unwrap_or_else(|| format!("MISSING ROW {i}"))
                )
            };
            (l, shown)
        })
        .collect();
    EndState {
        accounts,
        couplings,
        pending: pending_writes(world),
    }
}

/// Journal entries still planned or sent, read with the sqlite file itself.
fn pending_writes(world: &World) -> usize {
    let path = world.path().join("coupler.db");
    if !path.exists() {
        return 0;
    }
    let store = coupler_store::Store::open_read_only(&path).unwrap();
    store.journal_pending("CUSTOMER").unwrap().len()
}

fn account_ids(world: &World) -> BTreeSet<String> {
    world
        .emulator
        .controls()
        .table_rows("accounts")
        .unwrap()
        .iter()
        .map(|r| r["accountid"].as_str().unwrap().to_string())
        .collect()
}

/// Customers in the crash tests' worlds (`COUPLER_KILL_RECORDS` for the soak, default 300).
fn records() -> usize {
    std::env::var("COUPLER_KILL_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300)
}

/// A world with synchronization (BC's e-mail sent to Dataverse) and creates on.
fn busy_world() -> World {
    let world = World::new(records());
    world.enable(true, true);
    world
}

/// The end state of a run that never crashed, on a fresh world.
fn fault_free() -> EndState {
    let world = busy_world();
    let ids = account_ids(&world);
    let out = world.apply("a1");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let state = end_state(&world, &ids);
    assert_eq!(state.pending, 0);
    state
}

/// Runs with the crash point until the process dies there, then the same command without it
/// until it succeeds; returns the end state and the last job.json.
fn crash_then_finish(failpoints: &str) -> (EndState, serde_json::Value) {
    let world = busy_world();
    let ids = account_ids(&world);
    let out = apply_crashing(&world, "a1", failpoints);
    assert!(
        !out.status.success(),
        "the run did not crash at {failpoints}: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("fail point"),
        "died elsewhere: {}",
        text(&out.stderr)
    );
    let out = world.apply("a2");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let job = world.job("a2");
    (end_state(&world, &ids), job)
}

#[test]
fn a_crash_at_every_step_boundary_ends_as_a_run_that_never_crashed() {
    let expected = fault_free();
    assert!(expected.couplings.values().any(|v| v.starts_with("new:")));
    for point in [
        "apply::after_commit=return",
        "apply::batch_marked_sent=return",
        "apply::batch_answered=return",
        // A later batch: some writes done, the rest not.
        "apply::batch_answered=1*off->return",
        "apply::batch_marked=return",
        "apply::outputs_staged=return",
        "apply::outputs_swapped=return",
        "apply::before_finish=return",
    ] {
        let (state, job) = crash_then_finish(point);
        assert_same(&state, &expected, &format!("after a crash at {point}"));
        if point.contains("after_commit") {
            // Every write of the crashed job was sent by the rerun, and counted as resumed.
            let resumed = job["sync"]["applied"]["resumed"].as_u64().unwrap()
                + job["create_new"]["resumed"].as_u64().unwrap();
            assert!(resumed > 0, "{point}: {}", job);
        }
    }
}

#[test]
fn planned_updates_survive_a_crash_after_the_commit_and_are_reported_resumed() {
    // Finding 1 and 2: the couplings were committed, then the run died before any update was
    // sent; the rerun sees the records as skipped, and must still send every update.
    let world = World::new(300);
    world.enable(true, false);
    let out = apply_crashing(&world, "a1", "apply::after_commit=return");
    assert!(!out.status.success());
    let pairs = stored_pairs(&world);
    assert!(pairs.len() > 200, "the couplings were committed");
    world.emulator.controls().reset_stats();
    let out = world.apply("a2");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let job = world.job("a2");
    assert_eq!(job["outcomes"]["coupled"], 0);
    let applied = &job["sync"]["applied"];
    let resumed = applied["resumed"].as_u64().unwrap();
    assert!(resumed > 50, "{applied}");
    assert_eq!(applied["done"].as_u64().unwrap(), resumed, "{applied}");
    world.assert_synchronized(&pairs);
    assert_eq!(pending_writes(&world), 0);
}

#[test]
fn duplicate_local_records_each_get_their_own_created_row_after_a_crash() {
    // Finding 3: two BC records with the same match values and no Dataverse match; a crash
    // with their creates pending must not leave a row without its record.
    let world = World::new(300);
    world.enable(false, true);
    let customers = world.path().join("customers.csv");
    let text_before = std::fs::read_to_string(&customers).unwrap();
    let mut lines: Vec<String> = text_before.lines().map(String::from).collect();
    let header = lines[0].clone();
    let no = header.split(',').position(|h| h == "No.").unwrap();
    // Two twins of a customer nobody in Dataverse matches: a new name and phone.
    let template: Vec<String> = lines[1].split(',').map(String::from).collect();
    for id in ["CTWIN1", "CTWIN2"] {
        let mut row = template.clone();
        row[no] = id.into();
        let row: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, v)| match header.split(',').nth(i).unwrap() {
                "Name" => "Twin Holdings Ltd".into(),
                "Phone No." => "+1 555 0199 777".into(),
                "E-Mail" => "twin@example.com".into(),
                "Blocked" => String::new(),
                _ => v.clone(),
            })
            .collect();
        lines.push(row.join(","));
    }
    std::fs::write(&customers, lines.join("\n") + "\n").unwrap();
    let ids = account_ids(&world);
    let out = apply_crashing(&world, "a1", "apply::batch_answered=return");
    assert!(!out.status.success());
    let out = world.apply("a2");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let state = end_state(&world, &ids);
    let twins: Vec<&String> = ["CTWIN1", "CTWIN2"]
        .iter()
        .map(|id| state.couplings.get(*id).expect("each twin is coupled"))
        .collect();
    assert_eq!(twins, ["new:Twin Holdings Ltd", "new:Twin Holdings Ltd"]);
    assert_ne!(
        stored_pairs(&world)
            .iter()
            .filter(|(l, _)| l.starts_with("CTWIN"))
            .map(|(_, i)| i.clone())
            .collect::<BTreeSet<_>>()
            .len(),
        1,
        "two different rows"
    );
    // Every created row is coupled: no orphan.
    let coupled: BTreeSet<String> = stored_pairs(&world).into_iter().map(|(_, i)| i).collect();
    for id in account_ids(&world).difference(&ids) {
        assert!(coupled.contains(id), "created row {id} has no record");
    }
    assert_eq!(state.pending, 0);
}

#[test]
fn a_created_row_deleted_later_is_not_coupled_again_after_uncoupling() {
    // Finding 4: create, delete the row in Dataverse, uncouple the record, run again: a new
    // row, not the dead id.
    let world = World::new(300);
    world.enable(false, true);
    let out = world.apply("a1");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created = std::fs::read_to_string(world.path().join("a1/CUSTOMER/created.csv")).unwrap();
    let first = created
        .lines()
        .nth(1)
        .expect("a row was created")
        .to_string();
    let (local, dead) = first.split_once(',').unwrap();
    let controls = world.emulator.controls();
    let rows: Vec<_> = plain(controls.table_rows("accounts").unwrap())
        .into_iter()
        .filter(|r| r["accountid"] != dead)
        .collect();
    controls.set_rows("accounts", rows).unwrap();
    let out = coupler(
        &[
            "uncouple",
            "--config",
            "dv.toml",
            "--mapping",
            "CUSTOMER",
            "--local-id",
            local,
        ],
        world.path(),
        SECRET,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = world.apply("a2");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let now: BTreeMap<String, String> = stored_pairs(&world).into_iter().collect();
    let new_id = now.get(local).expect("coupled again");
    assert_ne!(new_id, dead, "not the deleted row");
    assert!(
        account_ids(&world).contains(new_id),
        "coupled to a row that exists"
    );
    assert_eq!(world.job("a2")["create_new"]["created"], 1);
}

/// Randomized kills with faults on: SIGKILL at a random moment, again and again, until a run
/// finishes; the end state must equal a fault-free run. Small here; `benches/soak.sh` runs the
/// long version.
#[test]
fn random_kills_under_throttling_and_503s_lose_nothing_and_do_nothing_twice() {
    let expected = fault_free();
    let seed: u64 = std::env::var("COUPLER_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng = fastrand::Rng::with_seed(seed);
    let rounds: u32 = std::env::var("COUPLER_KILL_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let (mut kills, mut runs) = (0u32, 0u32);
    for round in 0..rounds {
        let world = busy_world();
        world.write_configs("max_retries = 3", "");
        world.enable(true, true);
        let ids = account_ids(&world);
        let controls = world.emulator.controls();
        controls.inject_batch_part(Fault::Status(503), FaultWhen::EveryNth(7));
        controls.inject_batch_part(
            Fault::Throttle(ThrottleKind::Requests, 0),
            FaultWhen::EveryNth(11),
        );
        controls.inject(Fault::Status(503), FaultWhen::EveryNth(13));
        controls.inject(Fault::DropConnection, FaultWhen::EveryNth(23));
        // A lost answer: the server made the change, the client never heard of it.
        controls.inject_batch_part(Fault::LoseAnswer, FaultWhen::EveryNth(151));
        let mut finished = false;
        for attempt in 0..200 {
            runs += 1;
            let mut child = Command::new(env!("CARGO_BIN_EXE_coupler"))
                .args([
                    "couple",
                    "--config",
                    "dv.toml",
                    "--out",
                    &format!("r{attempt}"),
                    "--apply",
                    "--json",
                ])
                .current_dir(world.path())
                .env("COUPLER_E2E_SECRET", SECRET)
                .stdout(Stdio::null())
                .stderr(
                    std::fs::File::create(world.path().join(format!("stderr-{attempt}.txt")))
                        .unwrap(),
                )
                .spawn()
                .unwrap();
            // Kill after a random number of requests and $batch parts the server has seen (not
            // a clock): a whole run is about 130 of them here.
            let events = || {
                let stats = controls.stats();
                stats.requests + stats.batch_parts
            };
            let start = events();
            let kill_after = rng.u64(1..(records() as u64 / 2).max(160));
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break Some(status);
                }
                if events() >= start + kill_after {
                    kills += 1;
                    child.kill().unwrap();
                    child.wait().unwrap();
                    break None;
                }
                std::thread::yield_now();
            };
            if status.is_some_and(|s| s.success()) && pending_writes(&world) == 0 {
                finished = true;
                break;
            }
        }
        let last = std::fs::read_to_string(world.path().join("stderr-199.txt")).unwrap_or_default();
        assert!(
            finished,
            "round {round}: never finished; the last run said: {last}"
        );
        controls.clear_faults();
        let state = end_state(&world, &ids);
        assert_same(&state, &expected, &format!("round {round} (seed {seed})"));
    }
    // The soak script reads this line.
    eprintln!(
        "kill test: {rounds} round(s), {runs} run(s), {kills} killed, seed {seed}, {} records",
        records()
    );
}

#[test]
fn a_create_whose_answer_was_lost_is_recognised_on_the_retry_and_made_once() {
    let world = World::new(300);
    world.enable(false, true);
    let ids = account_ids(&world);
    // The first write is made by the server, but its answer never arrives.
    world
        .emulator
        .controls()
        .inject_batch_part(Fault::LoseAnswer, FaultWhen::RequestNumber(1));
    let out = world.apply("a1");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let job = world.job("a1");
    let create = &job["create_new"];
    assert_eq!(create["already_existed"], 1, "{create}");
    let created = create["created"].as_u64().unwrap();
    assert_eq!(created, create["planned"].as_u64().unwrap(), "{create}");
    let now = account_ids(&world);
    assert_eq!(
        now.len() as u64,
        ids.len() as u64 + created,
        "one row per create"
    );
    let coupled: BTreeSet<String> = stored_pairs(&world).into_iter().map(|(_, i)| i).collect();
    assert!(now.difference(&ids).all(|id| coupled.contains(id)));
}
