//! OData request syntax: system query options and `Prefer` headers ([`options`]), the
//! `$filter` language ([`filter`] parses, [`eval`] evaluates) and LIKE patterns ([`like`]).

pub(crate) mod eval;
pub(crate) mod filter;
pub(crate) mod like;
pub(crate) mod options;
