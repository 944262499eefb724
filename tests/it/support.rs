//! Test helpers: the `ratecheck` binary, and raw TCP servers that misbehave on purpose.
//!
//! The faulty servers speak HTTP/1.1 by hand over real sockets, so a test can hang, cut a
//! chunked stream mid-way or send garbage exactly as a broken gateway would.

use std::process::{Command, Output};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The result of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `ratecheck` with `args` and extra environment, with the key variables cleared.
pub async fn ratecheck(args: &[&str], env: &[(&str, &str)]) -> Run {
    let args: Vec<String> = args.iter().map(std::string::ToString::to_string).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let out: Output = tokio::task::spawn_blocking(move || {
        // `RATECHECK_BIN` runs the suite's checks against another build (e.g. an older release,
        // to count what it gets wrong on the same captures).
        let bin = std::env::var("RATECHECK_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_ratecheck").to_string());
        let mut cmd = Command::new(bin);
        cmd.args(&args);
        for var in [
            "RATECHECK_API_KEY",
            "LITELLM_API_KEY",
            "OPENAI_API_KEY",
            "NO_COLOR",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in &env {
            cmd.env(k, v);
        }
        cmd.output().expect("run ratecheck")
    })
    .await
    .expect("join");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// How a faulty server misbehaves.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Accept, read the request, never answer.
    Hang,
    /// 200 `text/event-stream`, one event, then close the socket mid-chunk.
    CutStream,
    /// 200 `text/event-stream`, one event, then silence with the socket open.
    StallStream,
    /// 200 `application/json` with an HTML body.
    Garbage,
    /// Echo the request's credentials back in headers and body (a leaky gateway).
    EchoCredentials,
    /// 401 to everything.
    Unauthorized,
    /// 200 `application/json`, gzip-encoded.
    Gzip,
    /// 200 `text/event-stream`, a valid event every 200 ms, forever.
    Trickle,
    /// A whole stream to `[DONE]`, then the connection held open.
    OpenAfterDone,
    /// 307 to another origin (`127.0.0.1:PORT`) for every POST.
    RedirectAway(u16),
    /// 307 to `/v1/moved` on the same server, which answers a chat completion.
    RedirectHere,
    /// Echo every request header and the request line back, in headers and body, with terminal
    /// escape sequences, raw HTML and a `javascript:` link in the body (a hostile gateway).
    EchoEverything,
}

/// Starts a faulty server on 127.0.0.1:0; returns its base URL. It serves until the test ends.
pub async fn faulty_server(fault: Fault) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve(sock, fault));
        }
    });
    format!("http://{addr}")
}

async fn read_request(sock: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Read the head, then as much body as Content-Length says.
    loop {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let len = text[..head_end]
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= head_end + 4 + len {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn header_of(request: &str, name: &str) -> String {
    request
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
        .unwrap_or_default()
}

/// A 200 `text/event-stream` head (plus `extra` header lines) and one chunked event, flushed.
async fn sse_head_and_one_event(sock: &mut TcpStream, extra: &str) {
    let event = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n{extra}\r\n"
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock
        .write_all(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes())
        .await;
    let _ = sock.flush().await;
}

async fn serve(mut sock: TcpStream, fault: Fault) {
    let request = read_request(&mut sock).await;
    match fault {
        Fault::Hang => {
            tokio::time::sleep(Duration::from_mins(1)).await;
        }
        Fault::CutStream => {
            sse_head_and_one_event(&mut sock, "x-ratelimit-remaining-requests: 9\r\n").await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            // Close without the terminating zero-length chunk: the stream is cut.
        }
        Fault::StallStream => {
            sse_head_and_one_event(&mut sock, "").await;
            tokio::time::sleep(Duration::from_mins(1)).await;
        }
        Fault::Gzip => {
            // gzip of {"object":"chat.completion","choices":[{"message":{"content":"compressed"}}]}
            const BODY: [u8; 88] = [
                31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 29, 139, 187, 13, 128, 48, 12, 68, 119, 185, 26,
                49, 64, 86, 65, 20, 193, 156, 32, 136, 196, 8, 187, 179, 178, 59, 17, 237, 251, 4,
                116, 187, 40, 142, 4, 57, 179, 207, 162, 245, 185, 233, 69, 27, 166, 65, 180, 8,
                13, 105, 9, 84, 154, 229, 131, 72, 1, 209, 230, 108, 255, 50, 234, 119, 8, 238,
                232, 125, 237, 31, 193, 136, 62, 238, 77, 0, 0, 0,
            ];
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                BODY.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(&BODY).await;
        }
        Fault::Trickle => {
            sse_head_and_one_event(&mut sock, "").await;
            let event = "data: {\"choices\":[{\"delta\":{\"content\":\".\"}}]}\n\n";
            for _ in 0..600 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let chunk = format!("{:x}\r\n{event}\r\n", event.len());
                if sock.write_all(chunk.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
        Fault::OpenAfterDone => {
            sse_head_and_one_event(&mut sock, "").await;
            let done = "data: [DONE]\n\n";
            let _ = sock
                .write_all(format!("{:x}\r\n{done}\r\n", done.len()).as_bytes())
                .await;
            tokio::time::sleep(Duration::from_mins(1)).await;
        }
        Fault::Garbage => {
            let body = "<html><body>502 Bad Gateway</body></html>";
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        }
        Fault::EchoCredentials => {
            let auth = header_of(&request, "authorization");
            let key = auth.trim_start_matches("Bearer ").to_string();
            let stream = request.contains("\"stream\":true");
            let body = if stream {
                format!("data: {{\"echo\":\"{key}\"}}\n\ndata: [DONE]\n\n")
            } else {
                format!("{{\"object\":\"chat.completion\",\"echo\":\"{key}\"}}")
            };
            let ctype = if stream {
                "text/event-stream"
            } else {
                "application/json"
            };
            let status = if request.contains("/v1/completions") {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\nx-echo-auth: {auth}\r\nset-cookie: session={key}\r\nx-debug-key: {key}\r\nx-ratelimit-remaining-requests: 5\r\nx-ratelimit-limit-requests: 10\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        }
        Fault::RedirectAway(_) | Fault::RedirectHere | Fault::EchoEverything => {
            let resp = hostile_response(fault, &request);
            let _ = sock.write_all(resp.as_bytes()).await;
        }
        Fault::Unauthorized => {
            let body = "{\"error\":{\"message\":\"invalid key\"}}";
            let resp = format!(
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        }
    }
}

/// The answers of the redirecting and echoing faults.
fn hostile_response(fault: Fault, request: &str) -> String {
    match fault {
        Fault::RedirectAway(port) => format!(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{port}/v1/chat/completions?token=abc\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ),
        Fault::RedirectHere => {
            if request.starts_with("POST /v1/moved") {
                let body = "{\"object\":\"chat.completion\",\"choices\":[]}";
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nx-ratelimit-remaining-requests: 5\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: /v1/moved\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
            }
        }
        Fault::EchoEverything => {
            let line = request.lines().next().unwrap_or_default().to_string();
            let mut echoed = String::new();
            for l in request.lines().skip(1).take_while(|l| !l.is_empty()) {
                if let Some((n, v)) = l.split_once(':') {
                    echoed.push_str(&format!("x-echo-{}: {}\r\n", n.trim(), v.trim()));
                }
            }
            let hostile =
                "\u{1b}]0;pwned\u{7}\u{1b}[2J<script>alert(1)</script>[click](javascript:alert(1))";
            let stream = request.contains("\"stream\":true");
            let error = request.contains("/v1/completions");
            let quoted = serde_json::to_string(&format!("{line} {hostile}")).unwrap();
            // Raw, not JSON-escaped: the escape bytes themselves, as a careless gateway sends them.
            let raw = format!("{line} {hostile}");
            let body = if error {
                format!("upstream failed: {raw}")
            } else if stream {
                format!(
                    "data: {{\"echo\":{quoted}}}\n\nevent: error\ndata: {raw}\n\ndata: [DONE]\n\n"
                )
            } else {
                format!("{{\"object\":\"chat.completion\",\"echo\":{quoted}}}")
            };
            let ctype = if error {
                "text/plain"
            } else if stream {
                "text/event-stream"
            } else {
                "application/json"
            };
            let status = if error {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            format!(
                "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n{echoed}x-echo-line: {line}\r\nserver: <b>evil</b>\r\nx-ratelimit-remaining-requests: 5\r\nx-ratelimit-limit-requests: 10\r\n\r\n{body}",
                body.len()
            )
        }
        _ => unreachable!("not a hostile fault"),
    }
}

/// A loopback port with nothing listening on it.
pub async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// Asserts that `value` validates against the JSON Schema text `schema` (one of `docs/`).
pub fn assert_valid(schema: &str, value: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(schema).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

/// The `kind` of every finding in `owner["findings"]` (a probe, load or step report).
pub fn finding_kinds(owner: &serde_json::Value) -> Vec<String> {
    owner["findings"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|f| f["kind"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
