//! Interop suites live in `tests/`; see `tests/lab/README.md` for the lab they need.
