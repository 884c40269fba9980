//! A generated world for the end-to-end tests against the Dataverse emulator: generated data,
//! its accounts served by an emulator in this process (on loopback), configs for the real
//! `coupler` binary, and readers of what the emulator and the store hold afterwards.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use coupler_dataverse::odata::guid_order_key;
use coupler_generate::{generate, GenerateOptions};
use dataverse_emulator::{EmulatorConfig, RunningEmulator};

pub const SECRET: &str = "e2e-secret-not-for-production";
pub const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
pub const TENANT: &str = "contoso.onmicrosoft.com";

pub fn coupler(args: &[&str], cwd: &Path, secret: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coupler"))
        .args(args)
        .current_dir(cwd)
        .env("COUPLER_E2E_SECRET", secret)
        .output()
        .expect("run coupler")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Generated data, its accounts served by an emulator, and a CSV twin in the emulator's order.
pub struct World {
    pub dir: tempfile::TempDir,
    pub emulator: RunningEmulator,
}

impl World {
    pub fn new(records: usize) -> World {
        World::new_with(records, "")
    }

    /// [`World::new`], with `accounts_extra` appended to the emulator's accounts table (e.g.
    /// `[tables.max_lengths]`).
    pub fn new_with(records: usize, accounts_extra: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        generate(&GenerateOptions { records, seed: 11 }, data, &|_| {}).unwrap();
        // These tests are about CUSTOMER (the accounts the emulator serves): the generated
        // CONTACT mapping, on contact files, is left out.
        let config = std::fs::read_to_string(data.join("coupling.toml")).unwrap();
        let contact = config
            .find("# ------------------------------------------------------------------------- CONTACT")
            .expect("the generated CONTACT block");
        let customer_only = &config[..contact];
        std::fs::write(data.join("coupling.toml"), customer_only).unwrap();
        write_sorted_twin(
            &data.join("accounts.csv"),
            &data.join("accounts-sorted.csv"),
        );
        std::fs::copy(
            root().join("fixtures/dataverse/test-app.pem"),
            data.join("test-app.pem"),
        )
        .unwrap();
        std::fs::write(
            data.join("emulator.toml"),
            format!(
                r#"
tenant_id = "{TENANT}"
[[clients]]
client_id = "{CLIENT}"
secret = "{SECRET}"
certificate = "test-app.pem"
[currency]
base = "USD"
[[currency.currencies]]
iso = "USD"
name = "US Dollar"
[[currency.currencies]]
iso = "EUR"
name = "Euro"
[[tables]]
logical_name = "account"
entity_set = "accounts"
primary_id = "accountid"
primary_name = "name"
csv = "accounts.csv"
[tables.types]
statecode = "State"
customertypecode = "Picklist"
{accounts_extra}"#
            ),
        )
        .unwrap();
        let config = EmulatorConfig::load(data.join("emulator.toml")).unwrap();
        let emulator = dataverse_emulator::start(config).unwrap();
        let world = World { dir, emulator };
        world.write_configs("", "");
        world
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `csv.toml` (the sorted CSV twin) and `dv.toml` (the emulator); `dataverse_extra` is
    /// appended to `[dataverse]`, `integration_extra` to `[mappings.integration]`.
    pub fn write_configs(&self, dataverse_extra: &str, integration_extra: &str) {
        let generated = std::fs::read_to_string(self.path().join("coupling.toml")).unwrap();
        let csv = generated.replace("csv = \"accounts.csv\"", "csv = \"accounts-sorted.csv\"");
        std::fs::write(self.path().join("csv.toml"), csv).unwrap();
        let url = self.emulator.url();
        let dv = generated.replace(
            "csv = \"accounts.csv\"\nkey = \"accountid\"",
            &format!("dataverse_table = \"accounts\"\n{integration_extra}"),
        ) + &format!(
            r#"
[dataverse]
url = "{url}"
authority = "{url}"
tenant_id = "{TENANT}"
client_id = "{CLIENT}"
retry_delay_ms = 5
{}
"#,
            if dataverse_extra.contains("certificate") || dataverse_extra.contains("client_secret")
            {
                dataverse_extra.to_string()
            } else {
                format!("client_secret_env = \"COUPLER_E2E_SECRET\"\n{dataverse_extra}")
            }
        );
        assert!(dv.contains("dataverse_table"), "config template changed");
        std::fs::write(self.path().join("dv.toml"), dv).unwrap();
    }

    pub fn couple(&self, config: &str, out: &str) -> Output {
        coupler(
            &["couple", "--config", config, "--out", out, "--json"],
            self.path(),
            SECRET,
        )
    }

    pub fn job(&self, out: &str) -> serde_json::Value {
        let text =
            std::fs::read_to_string(self.path().join(out).join("CUSTOMER/job.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

/// The accounts in Dataverse's default order (primary key, SQL Server's GUID order).
pub fn write_sorted_twin(from: &Path, to: &Path) {
    let mut reader = csv::Reader::from_path(from).unwrap();
    let header = reader.headers().unwrap().clone();
    let key = header.iter().position(|h| h == "accountid").unwrap();
    let mut rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    rows.sort_by_key(|r| guid_order_key(&r[key]));
    let mut writer = csv::Writer::from_path(to).unwrap();
    writer.write_record(&header).unwrap();
    for r in rows {
        writer.write_record(&r).unwrap();
    }
    writer.flush().unwrap();
}

// ---- synchronize after coupling, create new, journal and resume (`--apply`) ----

impl World {
    /// Turns on `sync_after_coupling` (send: BC's values go to Dataverse) and/or
    /// `create_new_if_no_match` in dv.toml.
    pub fn enable(&self, sync: bool, create: bool) {
        let config = std::fs::read_to_string(self.path().join("dv.toml")).unwrap();
        let mut extra = String::new();
        if sync {
            extra.push_str("sync_after_coupling = true\nupdate_conflict_resolution = \"send\"\n");
        }
        if create {
            extra.push_str("create_new_if_no_match = true\n");
        }
        let config = config.replacen(
            "name = \"CUSTOMER\"",
            &format!("name = \"CUSTOMER\"\n{extra}"),
            1,
        );
        std::fs::write(self.path().join("dv.toml"), config).unwrap();
    }

    pub fn apply(&self, out: &str) -> Output {
        coupler(
            &[
                "couple", "--config", "dv.toml", "--out", out, "--json", "--apply",
            ],
            self.path(),
            SECRET,
        )
    }

    /// accountid → emailaddress1 as the emulator holds it.
    pub fn emails(&self) -> std::collections::BTreeMap<String, Option<String>> {
        self.emulator
            .controls()
            .table_cells("accounts")
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    r["accountid"].clone().unwrap(),
                    r.get("emailaddress1").cloned().flatten(),
                )
            })
            .collect()
    }

    /// The coupled pairs (local id, integration id) of a job's couplings.csv.
    pub fn coupled(&self, out: &str) -> Vec<(String, String)> {
        std::fs::read_to_string(self.path().join(out).join("CUSTOMER/couplings.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let mut f = l.split(',');
                (f.next().unwrap().to_string(), f.next().unwrap().to_string())
            })
            .collect()
    }

    /// The local E-Mail of every customer.
    pub fn local_emails(&self) -> std::collections::BTreeMap<String, String> {
        let mut reader = csv::Reader::from_path(self.path().join("customers.csv")).unwrap();
        let header = reader.headers().unwrap().clone();
        let (id, mail) = (
            header.iter().position(|h| h == "No.").unwrap(),
            header.iter().position(|h| h == "E-Mail").unwrap(),
        );
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[id].to_string(), r[mail].to_string())
            })
            .collect()
    }

    /// After a `send` synchronization every coupled account carries its customer's e-mail.
    pub fn assert_synchronized(&self, pairs: &[(String, String)]) {
        let (emails, local) = (self.emails(), self.local_emails());
        for (l, i) in pairs {
            let want = Some(local[l].clone()).filter(|s| !s.is_empty());
            assert_eq!(emails[i], want, "account {i} of customer {l}");
        }
    }
}

/// Rows as `set_rows` takes them: without the `@odata` annotations.
pub fn plain(
    rows: Vec<serde_json::Map<String, serde_json::Value>>,
) -> Vec<serde_json::Map<String, serde_json::Value>> {
    rows.into_iter()
        .map(|r| r.into_iter().filter(|(k, _)| !k.starts_with('@')).collect())
        .collect()
}

/// The couplings in the store (local id, integration id).
pub fn stored_pairs(world: &World) -> Vec<(String, String)> {
    let export = coupler(
        &[
            "couplings",
            "export",
            "--config",
            "dv.toml",
            "--mapping",
            "CUSTOMER",
        ],
        world.path(),
        SECRET,
    );
    text(&export.stdout)
        .lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split(',');
            (f.next().unwrap().to_string(), f.next().unwrap().to_string())
        })
        .collect()
}
