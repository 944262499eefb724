//! A mutation fuzzer that runs on the stable toolchain: `cargo run --release --example fuzz --
//! TARGET SECONDS` with TARGET one of `headers`, `sse`, `scenario`, `evidence`, `all`.
//!
//! cargo-fuzz (libFuzzer) needs a nightly compiler; this needs nothing but the crate. It starts
//! from the real inputs the project keeps (the header captures of `tests/corpus/`, the shipped
//! scenarios, SSE streams of every dialect, the HAR and curl captures of `tests/evidence/`), mutates them at random (flip, insert, delete, repeat
//! and splice bytes, with a seed printed so any failure replays), and feeds each result to the
//! parser under test, catching panics. It reports executions and exits 1 on the first panic,
//! printing the input that caused it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let dir = match target {
        "headers" => root.join("tests/corpus"),
        "scenario" => root.join("scenarios"),
        "evidence" => root.join("tests/evidence/litellm-1.106.12"),
        _ => {
            for frame in [
                "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n",
                "event: message_start\r\ndata: {\"type\":\"message_start\"}\r\n\r\nevent: message_stop\r\ndata: {}\r\n\r\n",
                "event: response.completed\rdata: {\"type\":\"response.completed\",\"response\":{\"usage\":{}}}\r\r",
                ": ping\n\nevent: error\ndata: {\"error\":{\"message\":\"x\"}}\n\n",
            ] {
                out.push(frame.as_bytes().to_vec());
            }
            return out;
        }
    };
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if let Ok(bytes) = std::fs::read(e.path())
                && !bytes.is_empty()
            {
                out.push(bytes);
            }
        }
    }
    out
}

fn mutate(rng: &mut fastrand::Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    for _ in 0..rng.usize(1..8) {
        let len = input.len().max(1);
        match rng.u8(0..6) {
            0 if !input.is_empty() => {
                let at = rng.usize(..input.len());
                input[at] ^= 1 << rng.u8(0..8);
            }
            1 => {
                let at = rng.usize(..=input.len());
                let byte = *rng
                    .choice(b"\r\n:;,=\"-0123456789 \t\x1b\xff")
                    .unwrap_or(&b'x');
                input.insert(at, byte);
            }
            2 if !input.is_empty() => {
                let at = rng.usize(..input.len());
                let n = rng.usize(1..=(input.len() - at).min(32));
                input.drain(at..at + n);
            }
            3 if input.len() < 1 << 20 => {
                let at = rng.usize(..len.min(input.len()).max(1));
                let end = (at + rng.usize(1..64)).min(input.len());
                let piece: Vec<u8> = input[at..end].to_vec();
                for _ in 0..rng.usize(1..16) {
                    input.splice(at..at, piece.iter().copied());
                }
            }
            4 => {
                if let Some(other) = rng.choice(seeds) {
                    let from = rng.usize(..other.len().max(1)).min(other.len());
                    let to = (from + rng.usize(1..256)).min(other.len());
                    let at = rng.usize(..=input.len());
                    input.splice(at..at, other[from..to].iter().copied());
                }
            }
            _ => {}
        }
    }
}

fn run_one(target: &str, input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    match target {
        "headers" => {
            let lines: Vec<(String, String)> = text
                .lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                .collect();
            let pairs = lines.iter().map(|(n, v)| (n.as_str(), v.as_str()));
            let _ = ratecheck::headers::classify_all(pairs, &["remaining-tokens".into()]);
            for (_, v) in &lines {
                let _ = ratecheck::duration::parse(v);
            }
        }
        "evidence" => {
            let _ = ratecheck::evidence::parse("fuzz.har", input);
        }
        "sse" => {
            let mut parser = ratecheck::http::sse::Parser::default();
            let mut events = Vec::new();
            for chunk in input.chunks(7) {
                if parser.push(chunk, &mut events).is_err() {
                    break;
                }
            }
        }
        _ => {
            let _ = ratecheck::scenario::parse(Path::new("fuzz.yaml"), text.into_owned(), true);
        }
    }
}

fn fuzz(target: &str, seconds: u64, seed: u64) -> Result<u64, Vec<u8>> {
    let seeds = seeds(target);
    let mut rng = fastrand::Rng::with_seed(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runs = 0u64;
    while Instant::now() < deadline {
        let mut input = rng.choice(&seeds).cloned().unwrap_or_default();
        mutate(&mut rng, &mut input, &seeds);
        if catch_unwind(AssertUnwindSafe(|| run_one(target, &input))).is_err() {
            return Err(input);
        }
        runs += 1;
    }
    Ok(runs)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let target = args.first().map_or("all", String::as_str).to_string();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    let targets: Vec<&str> = if target == "all" {
        vec!["headers", "sse", "scenario", "evidence"]
    } else {
        vec![target.as_str()]
    };
    // Panics are caught and reported once, with their input, not printed for every run.
    std::panic::set_hook(Box::new(|_| {}));
    for t in targets {
        match fuzz(t, seconds, seed) {
            Ok(runs) => {
                println!("fuzz {t}: {runs} executions in {seconds} s, no panic (seed {seed})");
            }
            Err(input) => {
                println!(
                    "fuzz {t}: PANIC (seed {seed}) on input:\n{}",
                    String::from_utf8_lossy(&input)
                );
                std::process::exit(1);
            }
        }
    }
}
