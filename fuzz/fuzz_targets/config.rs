//! Fuzzes `inkspot::fuzz::config`; see that function for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| inkspot::fuzz::config(data));
