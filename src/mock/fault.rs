//! `ratecheck mock --fault KIND`: a gateway that misbehaves in one named way, on 127.0.0.1.
//!
//! It speaks HTTP/1.1 by hand over real sockets, not through axum, because the faults are the
//! things a well-behaved server library will not do: hang before the head, cut a chunked
//! stream mid-way, reset the connection, send a line with no end. Users run it to see what
//! ratecheck says about each fault before they meet it on their own gateway; the test suite runs
//! it on port 0 and checks every row of the README's fault table against it.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::bodies::{Usage, json_body, sse_frames};
use crate::endpoint::Endpoint;

/// How the faulty gateway misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// Accept, read the request, never answer.
    Hang,
    /// Accept, read the request, reset the connection.
    Reset,
    /// Answer correctly, but only after 2 s.
    SlowFirstByte,
    /// A stream with one event, then the socket closed mid-chunk.
    CutStream,
    /// A stream with one event, then silence with the socket open.
    StallStream,
    /// A stream with a valid event every 200 ms, for two minutes.
    Trickle,
    /// A whole stream to `[DONE]`, then the connection held open.
    OpenAfterDone,
    /// A stream whose second line runs for 17 MiB without an end.
    LongLine,
    /// 200 `application/json` with an HTML body.
    Garbage,
    /// 200 `application/json`, gzip-encoded.
    Gzip,
    /// 401 to everything.
    Unauthorized,
    /// 500 with an error body and no wait advice.
    ServerError,
    /// 502 with an HTML body.
    BadGateway,
    /// 503 with `retry-after: 1`.
    Unavailable,
    /// 503 where a 429 was due: the counters say exhausted, with `retry-after: 1`.
    UnavailableForLimit,
    /// 307 to another origin for every POST.
    RedirectAway,
    /// 307 to `/v1/moved` on the same server, which answers a chat completion.
    RedirectHere,
    /// 200 `text/event-stream` to every request, streaming or not: 4 KiB of random bytes,
    /// then `data: [DONE]`.
    RandomBytes,
    /// A well-formed stream of the endpoint's events to every request, also to those that
    /// asked for JSON.
    StreamForJson,
    /// Streams of keep-alive comments and `data: [DONE]`, no event; JSON answers are correct.
    EmptyStream,
    /// Answers whose text carries bytes that are not UTF-8: in every stream's `data`, and in
    /// every JSON body.
    InvalidUtf8,
    /// 200 JSON that is not the endpoint's object, to every request: a chat completion
    /// without `choices`, an embeddings list without `data`, a message without `content`.
    WrongObject,
    /// 500 to every streaming request; JSON answers are correct (a gateway whose streaming
    /// path is broken).
    StreamsFail,
    /// Echo the request's credentials back in headers and body (a leaky gateway).
    EchoCredentials,
    /// Echo every request header and the request line back, with terminal escape sequences,
    /// raw HTML and a `javascript:` link in the body (a hostile gateway).
    EchoEverything,
}

/// A running faulty gateway. It serves until dropped.
#[derive(Debug)]
pub struct FaultServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl FaultServer {
    /// Binds `127.0.0.1:port` (0 picks a free port). `away` is the port `RedirectAway` sends
    /// its POSTs to, on 127.0.0.1.
    pub async fn start(fault: Fault, port: u16, away: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, fault, away));
            }
        });
        Ok(Self { addr, task })
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads the head, then as much body as `Content-Length` says (at most 1 MiB).
async fn read_request(sock: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 || buf.len() > 1 << 20 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
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

fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

/// A 200 `text/event-stream` head (plus `extra` header lines) and one chunked event, flushed.
async fn sse_head_and_one_event(sock: &mut TcpStream, extra: &str) {
    let event = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n{extra}\r\n"
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(chunk(event).as_bytes()).await;
    let _ = sock.flush().await;
}

/// A whole response with a `Content-Length` and `connection: close`.
fn whole(status: &str, ctype: &str, extra: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}",
        body.len()
    )
}

/// A correct answer to the request: a completion, streamed when asked, or the model list.
fn correct(request: &str) -> String {
    if request.starts_with("GET") {
        return whole(
            "200 OK",
            "application/json",
            "",
            "{\"object\":\"list\",\"data\":[{\"id\":\"mock-model\",\"object\":\"model\"}]}",
        );
    }
    if request.contains("\"stream\":true") {
        let body = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n";
        whole("200 OK", "text/event-stream", "", body)
    } else {
        whole(
            "200 OK",
            "application/json",
            "",
            "{\"object\":\"chat.completion\",\"choices\":[{\"message\":{\"content\":\"hi\"}}]}",
        )
    }
}

async fn serve(mut sock: TcpStream, fault: Fault, away: u16) {
    let request = read_request(&mut sock).await;
    match fault {
        Fault::Hang => tokio::time::sleep(Duration::from_mins(2)).await,
        Fault::Reset => {
            // A zero linger turns the close into a reset.
            let _ = sock.set_zero_linger();
        }
        Fault::SlowFirstByte => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let _ = sock.write_all(correct(&request).as_bytes()).await;
        }
        Fault::CutStream => {
            sse_head_and_one_event(&mut sock, "x-ratelimit-remaining-requests: 9\r\n").await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            // Closed without the terminating zero-length chunk: the stream is cut.
        }
        Fault::StallStream => {
            sse_head_and_one_event(&mut sock, "").await;
            tokio::time::sleep(Duration::from_mins(2)).await;
        }
        Fault::Trickle => {
            sse_head_and_one_event(&mut sock, "").await;
            let event = "data: {\"choices\":[{\"delta\":{\"content\":\".\"}}]}\n\n";
            for _ in 0..600 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if sock.write_all(chunk(event).as_bytes()).await.is_err() {
                    return;
                }
            }
        }
        Fault::OpenAfterDone if !request.contains("\"stream\":true") => {
            let _ = sock.write_all(correct(&request).as_bytes()).await;
        }
        Fault::OpenAfterDone => {
            sse_head_and_one_event(&mut sock, "").await;
            let _ = sock.write_all(chunk("data: [DONE]\n\n").as_bytes()).await;
            tokio::time::sleep(Duration::from_mins(2)).await;
        }
        Fault::LongLine => {
            sse_head_and_one_event(&mut sock, "").await;
            let piece = format!("data: {}", "x".repeat((1 << 20) - 6));
            for _ in 0..17 {
                if sock.write_all(chunk(&piece).as_bytes()).await.is_err() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
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
        Fault::StreamsFail if request.contains("\"stream\":true") => {
            let resp = whole_fault(Fault::ServerError, &request, away);
            let _ = sock.write_all(resp.as_bytes()).await;
        }
        Fault::StreamsFail
        | Fault::RandomBytes
        | Fault::StreamForJson
        | Fault::EmptyStream
        | Fault::InvalidUtf8
        | Fault::WrongObject => {
            let _ = sock.write_all(&shape_fault(fault, &request)).await;
        }
        _ => {
            let resp = whole_fault(fault, &request, away);
            let _ = sock.write_all(resp.as_bytes()).await;
        }
    }
    let _ = sock.flush().await;
}

/// The endpoint a request was sent to, by its path.
fn endpoint_of(request: &str) -> Endpoint {
    let path = request.split_whitespace().nth(1).unwrap_or_default();
    Endpoint::ALL
        .into_iter()
        .find(|e| path.starts_with(e.path()))
        .unwrap_or(Endpoint::Chat)
}

/// Counters that look healthy, so that only the body can give the answer away.
const COUNTERS: &str =
    "x-ratelimit-limit-requests: 1000\r\nx-ratelimit-remaining-requests: 999\r\n";

/// A whole response of raw bytes, which may not be text.
fn whole_bytes(ctype: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n{COUNTERS}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// The endpoint's correct stream, whole.
fn stream_of(endpoint: Endpoint) -> String {
    let usage = Usage {
        prompt: 5,
        completion: 4,
    };
    if endpoint == Endpoint::Embeddings {
        let body = json_body(endpoint, "m", 1, usage);
        return format!("data: {body}\n\ndata: [DONE]\n\n");
    }
    sse_frames(endpoint, "m", 1, usage, true).concat()
}

/// The faults of the shape contract: answers with good headers whose bodies are not the
/// endpoint's.
fn shape_fault(fault: Fault, request: &str) -> Vec<u8> {
    let endpoint = endpoint_of(request);
    if request.starts_with("GET") {
        return correct(request).into_bytes();
    }
    let stream = request.contains("\"stream\":true");
    let usage = Usage {
        prompt: 5,
        completion: 4,
    };
    let sse = "text/event-stream";
    let json = "application/json";
    match fault {
        Fault::RandomBytes => {
            // xorshift: the same noise every time, so a failing test can be replayed.
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            let mut body: Vec<u8> = (0..4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x.to_le_bytes()[0]
                })
                .collect();
            body.extend_from_slice(b"\n\ndata: [DONE]\n\n");
            whole_bytes(sse, &body)
        }
        Fault::StreamForJson => whole_bytes(sse, stream_of(endpoint).as_bytes()),
        Fault::EmptyStream if stream => {
            whole_bytes(sse, b": keep-alive\n\n: keep-alive\n\ndata: [DONE]\n\n")
        }
        // The answers to requests for JSON, which these faults leave correct.
        Fault::StreamsFail | Fault::EmptyStream => whole_bytes(
            json,
            json_body(endpoint, "m", 1, usage).to_string().as_bytes(),
        ),
        Fault::InvalidUtf8 => {
            // The model's name in every answer, `"m"`, becomes `"m\xC3("`: a lead byte whose
            // continuation never comes.
            let text = if stream {
                stream_of(endpoint)
            } else {
                json_body(endpoint, "m", 1, usage).to_string()
            };
            let mut body = Vec::with_capacity(text.len());
            for (i, part) in text.split("\"model\":\"m\"").enumerate() {
                if i > 0 {
                    body.extend_from_slice(b"\"model\":\"m\xC3(\"");
                }
                body.extend_from_slice(part.as_bytes());
            }
            whole_bytes(if stream { sse } else { json }, &body)
        }
        _ => {
            let body = match endpoint {
                Endpoint::Chat => r#"{"id":"chatcmpl-1","object":"chat.completion","model":"m"}"#,
                Endpoint::Completions => {
                    r#"{"id":"cmpl-1","object":"text_completion","model":"m"}"#
                }
                Endpoint::Responses => {
                    r#"{"id":"resp_1","object":"response","status":"completed"}"#
                }
                Endpoint::Messages => r#"{"id":"msg_1","type":"message","role":"assistant"}"#,
                Endpoint::Embeddings => r#"{"object":"list","model":"m"}"#,
            };
            whole_bytes(json, body.as_bytes())
        }
    }
}

/// The faults answered with one whole response.
fn whole_fault(fault: Fault, request: &str, away: u16) -> String {
    let json = "application/json";
    match fault {
        Fault::Garbage => whole(
            "200 OK",
            json,
            "",
            "<html><body>502 Bad Gateway</body></html>",
        ),
        Fault::Unauthorized => whole(
            "401 Unauthorized",
            json,
            "",
            "{\"error\":{\"message\":\"invalid key\"}}",
        ),
        Fault::ServerError => whole(
            "500 Internal Server Error",
            json,
            "",
            "{\"error\":{\"message\":\"internal error\",\"type\":\"server_error\"}}",
        ),
        Fault::BadGateway => whole(
            "502 Bad Gateway",
            "text/html",
            "",
            "<html><body>502 Bad Gateway</body></html>",
        ),
        Fault::Unavailable => whole(
            "503 Service Unavailable",
            json,
            "retry-after: 1\r\n",
            "{\"error\":{\"message\":\"overloaded\"}}",
        ),
        Fault::UnavailableForLimit => whole(
            "503 Service Unavailable",
            json,
            "retry-after: 1\r\nx-ratelimit-limit-requests: 10\r\nx-ratelimit-remaining-requests: 0\r\n",
            "{\"error\":{\"message\":\"rate limit exceeded\"}}",
        ),
        Fault::RedirectAway => format!(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{away}/v1/chat/completions?token=abc\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ),
        Fault::RedirectHere => {
            if request.starts_with("POST /v1/moved") {
                whole(
                    "200 OK",
                    json,
                    "x-ratelimit-remaining-requests: 5\r\n",
                    "{\"object\":\"chat.completion\",\"choices\":[]}",
                )
            } else {
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: /v1/moved\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
            }
        }
        Fault::EchoCredentials => echo_credentials(request),
        _ => echo_everything(request),
    }
}

fn echo_credentials(request: &str) -> String {
    let auth = header_of(request, "authorization");
    let key = auth.trim_start_matches("Bearer ").to_string();
    let stream = request.contains("\"stream\":true");
    let body = if stream {
        format!("data: {{\"choices\":[],\"echo\":\"{key}\"}}\n\ndata: [DONE]\n\n")
    } else {
        format!("{{\"object\":\"chat.completion\",\"choices\":[],\"echo\":\"{key}\"}}")
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
    whole(
        status,
        ctype,
        &format!(
            "x-echo-auth: {auth}\r\nset-cookie: session={key}\r\nx-debug-key: {key}\r\nx-ratelimit-remaining-requests: 5\r\nx-ratelimit-limit-requests: 10\r\n"
        ),
        &body,
    )
}

fn echo_everything(request: &str) -> String {
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
    let quoted = serde_json::to_string(&format!("{line} {hostile}")).unwrap_or_default();
    // Raw, not JSON-escaped: the escape bytes themselves, as a careless gateway sends them.
    let raw = format!("{line} {hostile}");
    let body = if error {
        format!("upstream failed: {raw}")
    } else if stream {
        format!(
            "data: {{\"choices\":[],\"echo\":{quoted}}}\n\nevent: error\ndata: {raw}\n\ndata: [DONE]\n\n"
        )
    } else {
        format!("{{\"object\":\"chat.completion\",\"choices\":[],\"echo\":{quoted}}}")
    };
    let (status, ctype) = if error {
        ("500 Internal Server Error", "text/plain")
    } else if stream {
        ("200 OK", "text/event-stream")
    } else {
        ("200 OK", "application/json")
    };
    whole(
        status,
        ctype,
        &format!(
            "{echoed}x-echo-line: {line}\r\nserver: <b>evil</b>\r\nx-ratelimit-remaining-requests: 5\r\nx-ratelimit-limit-requests: 10\r\n"
        ),
        &body,
    )
}
