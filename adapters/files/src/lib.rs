//! coupler's files adapter (placeholder; being written).
