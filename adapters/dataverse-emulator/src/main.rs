//! `dataverse-emulator`: serves a local Dataverse Web API from a TOML configuration until
//! Ctrl-C, printing the URLs and a ready-to-paste `[dataverse]` snippet for coupler.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use dataverse_emulator::{start_on, EmulatorConfig, Fault, FaultWhen, ServiceProtection};

/// A local Dataverse Web API emulator (tables from CSV, token endpoint, OData, $batch, faults).
#[derive(Debug, Parser)]
#[command(name = "dataverse-emulator", version)]
struct Args {
    /// The emulator's TOML configuration.
    #[arg(long)]
    config: PathBuf,
    /// Address to listen on (overrides `listen` in the configuration).
    #[arg(long)]
    listen: Option<String>,
    /// Start in administration mode.
    #[arg(long)]
    admin_mode: bool,
    /// Turn service-protection limits off (on by default with Dataverse's defaults).
    #[arg(long)]
    no_service_protection: bool,
    /// Service protection: requests per window per client (default 6000).
    #[arg(long)]
    requests_per_window: Option<u32>,
    /// Service protection: window length in seconds (default 300).
    #[arg(long)]
    window_secs: Option<u32>,
    /// Service protection: combined execution time per window, ms (default 1200000).
    #[arg(long)]
    execution_ms_per_window: Option<u64>,
    /// Service protection: concurrent requests per client (default 52).
    #[arg(long)]
    concurrent: Option<u32>,
    /// Answer this fraction of Web API requests with 503 (0.0–1.0).
    #[arg(long)]
    fail_rate: Option<f64>,
    /// Drop the connection mid-response for this fraction of Web API requests.
    #[arg(long)]
    drop_rate: Option<f64>,
    /// Delay every Web API request by this many milliseconds.
    #[arg(long)]
    delay_ms: Option<u64>,
    /// Lifetime of issued tokens in seconds (overrides the configuration).
    #[arg(long)]
    token_lifetime: Option<u64>,
    /// Seed for --fail-rate and --drop-rate.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Don't log requests to stderr.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut config = match EmulatorConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dataverse-emulator: {e}");
            return ExitCode::from(2);
        }
    };
    if args.admin_mode {
        config.admin_mode = true;
    }
    if let Some(secs) = args.token_lifetime {
        config.token_lifetime_secs = secs;
    }
    let listen = args.listen.clone().unwrap_or_else(|| config.listen.clone());
    let emulator = match start_on(config.clone(), &listen) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("dataverse-emulator: {e}");
            return ExitCode::from(2);
        }
    };
    let controls = emulator.controls();
    controls.set_log_to_stderr(!args.quiet);
    if !args.no_service_protection {
        let defaults = ServiceProtection::default();
        controls.set_service_protection(ServiceProtection {
            requests_per_window: args
                .requests_per_window
                .unwrap_or(defaults.requests_per_window),
            window_secs: args.window_secs.unwrap_or(defaults.window_secs),
            execution_ms_per_window: args
                .execution_ms_per_window
                .unwrap_or(defaults.execution_ms_per_window),
            concurrent: args.concurrent.unwrap_or(defaults.concurrent),
            retry_after_secs: None,
        });
    }
    if let Some(p) = args.fail_rate.filter(|p| *p > 0.0) {
        controls.inject(Fault::Status(503), FaultWhen::Probability(p, args.seed));
    }
    if let Some(p) = args.drop_rate.filter(|p| *p > 0.0) {
        controls.inject(
            Fault::DropConnection,
            FaultWhen::Probability(p, args.seed.wrapping_add(1)),
        );
    }
    if let Some(ms) = args.delay_ms.filter(|ms| *ms > 0) {
        controls.inject(
            Fault::Delay(Duration::from_millis(ms)),
            FaultWhen::EveryNth(1),
        );
    }
    print_banner(&config, &emulator.url());

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dataverse-emulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = runtime.block_on(tokio::signal::ctrl_c()) {
        eprintln!("dataverse-emulator: cannot wait for Ctrl-C: {e}");
    }
    eprintln!("dataverse-emulator: stopping");
    emulator.stop();
    ExitCode::SUCCESS
}

/// The URLs and a `[dataverse]` snippet; never a secret.
fn print_banner(config: &EmulatorConfig, url: &str) {
    println!("Dataverse emulator listening.");
    println!("Environment URL: {url}");
    println!("Web API:         {url}/api/data/v9.2/");
    println!(
        "Token URL:       {url}/{}/oauth2/v2.0/token",
        config.tenant_id
    );
    println!();
    println!("Paste into coupler's configuration:");
    println!();
    println!("[dataverse]");
    println!("url = \"{url}\"");
    println!("tenant_id = \"{}\"", config.tenant_id);
    if let Some(client) = config.clients.first() {
        println!("client_id = \"{}\"", client.client_id);
        match (&client.secret_env, &client.secret, &client.certificate) {
            (Some(var), _, _) => println!("client_secret_env = \"{var}\""),
            (None, Some(_), _) => println!(
                "client_secret_env = \"COUPLER_CLIENT_SECRET\"   # set it to the secret in the emulator's config"
            ),
            (None, None, Some(cert)) => {
                println!("certificate = \"{}\"", config.resolve(cert).display())
            }
            _ => {}
        }
    }
    println!("authority = \"{url}\"");
    println!("local_currency = \"{}\"", config.currency.base);
}
