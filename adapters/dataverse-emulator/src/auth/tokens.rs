//! Issued access tokens: opaque random strings mapped to their client and expiry.

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    tokens: HashMap<String, (String, Instant)>,
}

impl TokenStore {
    /// Issues a token for `client_id` valid for `lifetime`.
    pub(crate) fn issue(&mut self, client_id: &str, lifetime: Duration) -> String {
        let now = Instant::now();
        self.tokens.retain(|_, (_, expires)| *expires > now);
        let token = format!(
            "emu.{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        self.tokens
            .insert(token.clone(), (client_id.to_owned(), now + lifetime));
        token
    }

    /// The client of a valid, unexpired token.
    pub(crate) fn validate(&self, token: &str) -> Option<String> {
        self.tokens
            .get(token)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(client, _)| client.clone())
    }

    /// Makes every issued token invalid.
    pub(crate) fn expire_all(&mut self) {
        self.tokens.clear();
    }
}
