//! State shared by the server threads and [`crate::Controls`]: immutable setup (URL, tenant,
//! clients) plus the store, settings, tokens, fault queues, throttle windows and statistics,
//! each behind its own lock (held briefly; never two at once except store-then-nothing).

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::auth::jwt::RegisteredCert;
use crate::auth::tokens::TokenStore;
use crate::collation::Collation;
use crate::controls::{RequestRecord, Stats};
use crate::faults::FaultQueue;
use crate::store::Store;
use crate::throttle::{ServiceProtection, Throttle};

/// A registered client, resolved (secret read, certificate parsed).
#[derive(Debug)]
pub(crate) struct ClientState {
    pub client_id: String,
    pub secret: Option<String>,
    pub certificate: Option<RegisteredCert>,
    pub system_administrator: bool,
    pub user_id: String,
}

/// Switches that can change while serving.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub admin_mode: bool,
    pub collation: Collation,
    pub token_lifetime_secs: u64,
    pub service_protection: Option<ServiceProtection>,
    pub log_to_stderr: bool,
}

/// Fault rules for the three kinds of requests.
#[derive(Debug, Default)]
pub(crate) struct FaultQueues {
    pub api: FaultQueue,
    pub batch_parts: FaultQueue,
    pub token: FaultQueue,
}

#[derive(Debug)]
pub(crate) struct Shared {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub tenant_id: String,
    pub tenant_guid: Option<String>,
    pub clients: Vec<ClientState>,
    pub page_size_max: usize,
    pub dop_hint: u32,
    pub business_unit_id: String,
    pub store: RwLock<Store>,
    pub settings: Mutex<Settings>,
    pub tokens: Mutex<TokenStore>,
    pub faults: Mutex<FaultQueues>,
    pub throttle: Mutex<Throttle>,
    pub stats: Mutex<Stats>,
    pub log: Mutex<Vec<RequestRecord>>,
}

/// Locks ignoring poisoning: a panicking request must not take the emulator down.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    pub(crate) fn stats_mut(&self) -> MutexGuard<'_, Stats> {
        lock(&self.stats)
    }

    pub(crate) fn read_store(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write_store(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The tenant shown in `WWW-Authenticate`.
    pub(crate) fn tenant_for_challenge(&self) -> &str {
        self.tenant_guid.as_deref().unwrap_or(&self.tenant_id)
    }

    pub(crate) fn client(&self, client_id: &str) -> Option<&ClientState> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }
}
