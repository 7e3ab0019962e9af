//! Fuzzes `inkspot::fuzz::query`; see that function for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| inkspot::fuzz::query(data));
