#![no_main]

#[allow(dead_code)] // each target uses one function of the shared file
#[path = "../src/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::stack(data));
