#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fluxsight::fuzzing::render_row(data));
