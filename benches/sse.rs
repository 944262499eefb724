//! What consuming SSE costs: ratecheck's stream readers (event parsing, end marker, usage and
//! error detection, timeline) — load's, on a lane, and the probe's, on the general client —
//! against a raw read of the same bytes from the same server with reqwest.
//!
//! A server on 127.0.0.1 (a thread of its own) answers every POST with one chunked
//! `text/event-stream` of EVENTS OpenAI chat chunks and `[DONE]`, as fast as the socket takes
//! them. The readers share one single-threaded runtime; the probe's and the raw one the same
//! HTTP stack (reqwest over hyper), the raw one only counting bytes. Runs alternate; medians are
//! printed.
//!
//!   cargo bench --bench sse            (RUNS=9 EVENTS=20000 to change the defaults)

use std::time::Instant;

use futures_util::StreamExt;
use ratecheck::endpoint::{Endpoint, Mode, Variant};
use ratecheck::http::{Client, ConnectSpec, Lane, Request, normalize_base};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The whole response, head and chunked body, built once.
fn response(events: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..events {
        let frame = format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token {i} \"}},\"finish_reason\":null}}],\"usage\":null}}\n\n"
        );
        body.extend_from_slice(format!("{:x}\r\n", frame.len()).as_bytes());
        body.extend_from_slice(frame.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    let done = "data: [DONE]\n\n";
    body.extend_from_slice(format!("{:x}\r\n{done}\r\n0\r\n\r\n", done.len()).as_bytes());
    let mut out =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec();
    out.extend_from_slice(&body);
    out
}

async fn serve(bytes: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let bytes = std::sync::Arc::new(bytes);
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let bytes = bytes.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    // One request per read is enough for these small POSTs.
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {
                            if sock.write_all(&bytes).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    url
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo test --all-targets` runs this once unoptimised as a smoke test: keep that short.
    let smoke = cfg!(debug_assertions);
    let runs = env("RUNS", if smoke { 1 } else { 9 });
    let events = env("EVENTS", if smoke { 500 } else { 20_000 });
    // The server runs on a thread and runtime of its own, the readers on a single-threaded
    // runtime (as load's workers run): a frame handed from the connection to its reader is then
    // a local wake-up, not a cross-core one, and what is measured is the readers' own cost
    // rather than how the scheduler interleaves three tasks on two cores.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            tx.send(serve(response(events)).await).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let url = rx.recv().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        ratecheck::http::install_crypto_provider();
        let settings = ConnectSpec::default();
        let client = Client::new(normalize_base(&url).unwrap(), settings).unwrap();
        let raw = reqwest::Client::new();
        let variant = Variant {
            endpoint: Endpoint::Chat,
            mode: Mode::Streaming,
        };
        let body = Endpoint::Chat.body("m", true);
        let lane = Lane::new(&client.clone().lean()).expect("a lane to an http:// target");
        let request = Request {
            variant,
            body: serde_json::Value::Null,
            headers: Vec::new(),
            raw_body: Some(bytes::Bytes::from(serde_json::to_vec(&body).unwrap())),
            round: 1,
            seq: 1,
        };
        let want = Some(u32::try_from(events).unwrap() + 1);
        let (mut load, mut probe, mut plain) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let t = Instant::now();
            let ex = lane.send(&request).await;
            load.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(ex.stream.as_ref().map(|s| s.events), want, "{ex:?}");

            let t = Instant::now();
            let ex = client.exchange(variant, "m", 1, 1).await;
            probe.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(ex.stream.as_ref().map(|s| s.events), want, "{ex:?}");

            let t = Instant::now();
            let resp = raw
                .post(format!("{url}/v1/chat/completions"))
                .json(&body)
                .send()
                .await
                .unwrap();
            let mut stream = resp.bytes_stream();
            let mut n = 0usize;
            while let Some(chunk) = stream.next().await {
                n += chunk.unwrap().len();
            }
            plain.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(n > events * 100);
        }
        // Runs go back to back, so the ratio within each run is less exposed to a shared,
        // noisy machine than the ratio of two medians.
        let ratio = |of: &[f64]| median(of.iter().zip(&plain).map(|(p, r)| p / r).collect());
        let (rl, rp) = (ratio(&load), ratio(&probe));
        println!("SSE, {events} events per stream, median of {runs}:");
        println!(
            "  load's stream reader (a lane, every event parsed): {:.1} ms",
            median(load)
        );
        println!(
            "  the probe's stream reader (reqwest, every event parsed): {:.1} ms",
            median(probe)
        );
        println!(
            "  raw read of the same bytes (reqwest, bytes counted): {:.1} ms",
            median(plain)
        );
        println!("  load / raw: {rl:.2}x; probe / raw: {rp:.2}x (medians of per-run ratios)");
    });
    parser_alone(runs, events);
}

/// The event parser alone, on the same stream held in memory and fed in 16 KiB reads: its cost
/// per event without the socket and HTTP layers, whose system time dominates (and varies) above.
fn parser_alone(runs: usize, events: usize) {
    let mut sse = Vec::new();
    for i in 0..events {
        sse.extend_from_slice(format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token {i} \"}},\"finish_reason\":null}}],\"usage\":null}}\n\n"
        ).as_bytes());
    }
    let mut per_event = Vec::new();
    for _ in 0..runs.max(3) {
        let t = Instant::now();
        let mut parser = ratecheck::http::sse::Parser::default();
        let mut out = Vec::new();
        let mut n = 0usize;
        for chunk in sse.chunks(16 << 10) {
            parser.push(chunk, &mut out).unwrap();
            n += out.len();
            out.clear();
        }
        assert_eq!(n, events);
        per_event.push(t.elapsed().as_secs_f64() * 1e9 / events as f64);
    }
    println!(
        "  event parser alone, from memory: {:.0} ns per event ({} bytes each, median of {})",
        median(per_event),
        sse.len() / events,
        runs.max(3)
    );
}
