//! coupler's engine: Business Central's match-based coupling, reproduced exactly.
pub mod table;
pub use table::{Column, Table, TableError};
