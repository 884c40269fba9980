//! Host package for coupler's end-to-end tests and benchmarks; see the workspace members for the code.
