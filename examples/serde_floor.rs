//! The library floor for `scripts/bench.sh`: reads a file line by line and parses every
//! line with `serde_json` into a `Value` (lines that are not JSON are skipped), then
//! prints the lines and JSON documents seen. No classification, no output per line: the
//! cost of "just parse the JSON" in Rust, to compare fluxsight's throughput against.
//!
//! Usage: cargo run --release --example serde_floor -- FILE

use std::io::BufRead;

fn main() {
    let path = std::env::args().nth(1).expect("usage: serde_floor FILE");
    let file = std::fs::File::open(&path).expect("open input");
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(4096);
    let (mut lines, mut docs) = (0u64, 0u64);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => panic!("read: {e}"),
        }
        lines += 1;
        if serde_json::from_slice::<serde_json::Value>(&line).is_ok() {
            docs += 1;
        }
    }
    println!("{lines} lines, {docs} JSON documents");
}
