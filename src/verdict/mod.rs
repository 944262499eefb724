//! The verdict vocabulary every command speaks: failures, findings, aborts and exits.
//!
//! Engines (`probe`, `run`, `load`, `triage`) describe what happened with these types; the exit
//! code is decided from them by [`decide`] alone, and each [`FindingKind`] carries its stable name,
//! the class of expectation it breaks and its likely cause in one exhaustive table
//! ([`FindingKind::info`]), so a new kind is a variant, its check and its text — the compiler
//! points at anything else.
//!
//! This module depends on nothing else in the crate.

mod finding;

pub use finding::{Finding, FindingClass, FindingKind, KindInfo, Level, by_level};

use serde::Serialize;

/// How a run ended. The numeric codes are stable and documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    /// 0: every check passed.
    Ok,
    /// 1: findings: headers missing, malformed or inconsistent; a failed expectation.
    Findings,
    /// 2: usage or input error: bad flags, bad URL, unreadable file, no model to use.
    Usage,
    /// 3: target unreachable.
    Unreachable,
    /// 3 as well: the target was reached, but the TLS handshake failed (its certificate
    /// refused, or no TLS spoken).
    TlsFailed,
    /// 3 as well: the target answered 401 or 403: authentication failed.
    AuthFailed,
    /// 4: the target accepted the connection but did not answer in time.
    Timeout,
    /// 5: the target answered with a broken response: a stream cut mid-way, a garbage body.
    Protocol,
    /// 5 as well: every answer was a server error (5xx), so nothing could be checked.
    ServerError,
    /// 6: this machine failed the run: a report or standard output could not be written, a
    /// file that exists could not be read.
    Io,
    /// 6 as well: this machine could not run it: a port could not be bound, the async runtime
    /// or the TLS setup did not start.
    Runtime,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Findings => 1,
            Exit::Usage => 2,
            Exit::Unreachable | Exit::TlsFailed | Exit::AuthFailed => 3,
            Exit::Timeout => 4,
            Exit::Protocol | Exit::ServerError => 5,
            Exit::Io | Exit::Runtime => 6,
        }
    }

    /// Every exit, for reading a name back.
    const ALL: [Exit; 11] = [
        Exit::Ok,
        Exit::Findings,
        Exit::Usage,
        Exit::Unreachable,
        Exit::TlsFailed,
        Exit::AuthFailed,
        Exit::Timeout,
        Exit::Protocol,
        Exit::ServerError,
        Exit::Io,
        Exit::Runtime,
    ];

    /// The exit a report's status word names (`tls_failed`, …), if it names one.
    pub fn named(name: &str) -> Option<Exit> {
        Exit::ALL.into_iter().find(|e| e.name() == name)
    }

    /// A stable one-word name, used in JSON reports.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Findings => "findings",
            Exit::Usage => "usage",
            Exit::Unreachable => "unreachable",
            Exit::TlsFailed => "tls_failed",
            Exit::AuthFailed => "auth_failed",
            Exit::Timeout => "timeout",
            Exit::Protocol => "protocol",
            Exit::ServerError => "server_error",
            Exit::Io => "io",
            Exit::Runtime => "runtime",
        }
    }

    /// The more severe of two exits: a run that could not start outranks one that could not
    /// finish, which outranks one that finished and found things.
    #[must_use]
    pub fn worst(self, other: Exit) -> Exit {
        let rank = |e: Exit| match e {
            Exit::Ok => 0,
            Exit::Findings => 1,
            Exit::Protocol | Exit::ServerError => 2,
            Exit::Timeout => 3,
            Exit::Unreachable | Exit::TlsFailed | Exit::AuthFailed => 4,
            Exit::Io | Exit::Runtime => 5,
            Exit::Usage => 6,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// The one place an exit is decided: the worst of what stopped or spoiled the run, and
/// [`Exit::Findings`] when anything was found or an expectation failed.
pub fn decide(faults: impl IntoIterator<Item = Exit>, found: bool) -> Exit {
    let start = if found { Exit::Findings } else { Exit::Ok };
    faults.into_iter().fold(start, Exit::worst)
}

/// The verdict as a code and a word, as reports carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Process exit code (see the README's exit-code table).
    pub exit_code: u8,
    /// `ok`, `findings`, `usage`, `unreachable`, `tls_failed`, `auth_failed`, `timeout`,
    /// `protocol`, `server_error`, `io` or `runtime`.
    pub status: &'static str,
}

impl From<Exit> for Outcome {
    fn from(exit: Exit) -> Self {
        Outcome {
            exit_code: exit.code(),
            status: exit.name(),
        }
    }
}

/// Why an exchange did not complete normally.
///
/// Reports name it by one word ([`FailureKind::name`]); a TLS failure's cause stays out of that
/// word, as its message already says it, and only chooses the hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// No TCP connection.
    Connect,
    /// The TCP connection was made, but the TLS handshake failed.
    Tls(TlsCause),
    /// The target accepted the connection but sent no headers in time, or a stream stalled.
    Timeout,
    /// The stream or body ended early or broke mid-way.
    StreamCut,
    /// The body is not what the content type promises.
    BadBody,
    /// The answer is not the endpoint's: a stream to a request for JSON, a stream with no
    /// event of the endpoint's kind or with bytes that are not text, an object without the
    /// endpoint's fields.
    ShapeContract,
    /// 401 or 403.
    Auth,
    /// Every answer was a 5xx: the gateway or its upstream is failing.
    ServerError,
}

/// What a TLS handshake failed on: each cause has its own remedy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsCause {
    /// The certificate is signed by no CA this machine or `--cacert` trusts.
    UnknownIssuer,
    /// A self-signed certificate that neither this machine's roots nor `--cacert` hold.
    SelfSigned,
    /// The certificate was issued for other names than the one connected to.
    WrongName,
    /// The certificate's validity period has ended.
    Expired,
    /// The certificate's validity period has not begun.
    NotYetValid,
    /// The port answered the handshake with something that is not TLS.
    NotTls,
    /// Anything else: a bad signature, a revoked certificate, an alert from the server, no
    /// protocol version or cipher in common.
    Other,
}

impl TlsCause {
    /// What the user can do about it.
    pub fn hint(self) -> &'static str {
        match self {
            TlsCause::UnknownIssuer | TlsCause::SelfSigned => {
                "pass `--cacert FILE` with the CA that issued the gateway's certificate, or with the self-signed certificate itself, in PEM (as curl takes it); `--insecure` skips the check"
            }
            TlsCause::WrongName => {
                "connect by a name the certificate was issued for, or reissue it with this host in its subjectAltName; `--insecure` skips the check"
            }
            TlsCause::Expired => "renew the gateway's certificate, or check this machine's clock",
            TlsCause::NotYetValid => {
                "check this machine's clock, or the certificate's start date (notBefore)"
            }
            TlsCause::NotTls => "the port does not speak TLS: use http://",
            TlsCause::Other => {
                "check the gateway's certificate and TLS settings (ratecheck speaks TLS 1.2 and 1.3); `--insecure` skips the certificate check"
            }
        }
    }
}

impl FailureKind {
    /// Every kind, TLS by one of its causes: for reading a report's name back.
    const NAMED: [FailureKind; 8] = [
        FailureKind::Connect,
        FailureKind::Tls(TlsCause::Other),
        FailureKind::Timeout,
        FailureKind::StreamCut,
        FailureKind::BadBody,
        FailureKind::ShapeContract,
        FailureKind::Auth,
        FailureKind::ServerError,
    ];

    /// The stable one-word name reports give it (`connect`, `tls`, `timeout`, …).
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Connect => "connect",
            FailureKind::Tls(_) => "tls",
            FailureKind::Timeout => "timeout",
            FailureKind::StreamCut => "stream_cut",
            FailureKind::BadBody => "bad_body",
            FailureKind::ShapeContract => "shape_contract",
            FailureKind::Auth => "auth",
            FailureKind::ServerError => "server_error",
        }
    }

    /// A short label, as reports count failures by class.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Connect => "no connection",
            FailureKind::Tls(_) => "TLS refused",
            FailureKind::Timeout => "timeout",
            FailureKind::StreamCut => "cut",
            FailureKind::BadBody => "unreadable body",
            FailureKind::ShapeContract => "not the endpoint's answer",
            FailureKind::Auth => "refused key",
            FailureKind::ServerError => "server error",
        }
    }

    /// The exit a failure of this class maps to.
    pub fn exit(self) -> Exit {
        match self {
            FailureKind::Connect => Exit::Unreachable,
            FailureKind::Tls(_) => Exit::TlsFailed,
            FailureKind::Auth => Exit::AuthFailed,
            FailureKind::Timeout => Exit::Timeout,
            FailureKind::StreamCut | FailureKind::BadBody | FailureKind::ShapeContract => {
                Exit::Protocol
            }
            FailureKind::ServerError => Exit::ServerError,
        }
    }

    /// Whether going on after this failure cannot help: the next request would meet the same
    /// refused connection, refused certificate, refused key or hanging target.
    pub fn stops_run(self) -> bool {
        matches!(
            self,
            FailureKind::Connect | FailureKind::Tls(_) | FailureKind::Auth | FailureKind::Timeout
        )
    }

    /// What the user can do about a failure of this class at `target`.
    pub fn hint(self, target: &str) -> String {
        match self {
            FailureKind::Connect => format!(
                "is the gateway running at {target}? Check the host, the port and http vs https"
            ),
            FailureKind::Tls(cause) => cause.hint().into(),
            FailureKind::Auth => "the gateway refused the key: set it in `RATECHECK_API_KEY` (or `LITELLM_API_KEY`, `OPENAI_API_KEY`), or name its variable with `--api-key-env VAR`".into(),
            FailureKind::Timeout => {
                "the target accepted the connection but did not answer; raise `--timeout` or check the gateway's upstream".into()
            }
            FailureKind::StreamCut | FailureKind::BadBody | FailureKind::ShapeContract => {
                "the target is not speaking the OpenAI-compatible API at this URL".into()
            }
            FailureKind::ServerError => "the gateway or its upstream is failing, so no header could be checked: see its logs, and try again when it answers 2xx (a 503 with `retry-after` asks for exactly that)".into(),
        }
    }
}

impl Serialize for FailureKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for FailureKind {
    /// A report read back keeps a TLS failure's kind, not its cause: the message still says it.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        FailureKind::NAMED
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                serde::de::Error::unknown_variant(
                    &name,
                    &[
                        "connect",
                        "tls",
                        "timeout",
                        "stream_cut",
                        "bad_body",
                        "shape_contract",
                        "auth",
                        "server_error",
                    ],
                )
            })
    }
}

/// A failure with its one-line description.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Failure {
    /// The class, which decides the exit code.
    pub kind: FailureKind,
    /// What happened, in one line.
    pub message: String,
}

impl Failure {
    /// The message, with what helps when the kind alone does not say it (a TLS failure's
    /// remedy), for reports that have no hint line of their own: `load`'s first error of each
    /// class.
    pub fn with_remedy(&self) -> String {
        match self.kind {
            FailureKind::Tls(cause) => format!("{} — {}", self.message, cause.hint()),
            _ => self.message.clone(),
        }
    }
}

/// Why a run stopped before sending everything.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Abort {
    /// The failure that stopped it.
    #[serde(flatten)]
    pub failure: Failure,
    /// What the user can do about it.
    pub hint: String,
    /// The exit it maps to: the failure's, or [`Exit::Usage`] when the user must say more.
    #[serde(skip)]
    pub exit: Exit,
}

impl Abort {
    /// A run stopped by `failure` at `target`, with the hint for its class.
    pub fn new(failure: Failure, target: &str) -> Self {
        Abort {
            hint: failure.kind.hint(target),
            exit: failure.kind.exit(),
            failure,
        }
    }

    /// A run that cannot start until the user names what it could not find (a model).
    pub fn needs_input(message: String, hint: &str) -> Self {
        Abort {
            failure: Failure {
                kind: FailureKind::BadBody,
                message,
            },
            hint: hint.to_string(),
            exit: Exit::Usage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exit_is_read_back_from_its_name() {
        for e in Exit::ALL {
            assert_eq!(Exit::named(e.name()), Some(e));
        }
        assert_eq!(Exit::named("fine"), None);
    }

    #[test]
    fn codes_are_stable_and_ordered() {
        let all = [
            Exit::Ok,
            Exit::Findings,
            Exit::Usage,
            Exit::Unreachable,
            Exit::Timeout,
            Exit::Protocol,
        ];
        for (i, e) in all.iter().enumerate() {
            assert_eq!(usize::from(e.code()), i);
        }
        assert_eq!(Exit::AuthFailed.code(), 3);
        assert_eq!(Exit::TlsFailed.code(), 3);
        assert_eq!(Exit::Findings.worst(Exit::Protocol), Exit::Protocol);
        assert_eq!(Exit::Unreachable.worst(Exit::Findings), Exit::Unreachable);
        assert_eq!(decide([], false), Exit::Ok);
        assert_eq!(decide([], true), Exit::Findings);
        assert_eq!(decide([Exit::Timeout, Exit::Protocol], true), Exit::Timeout);
    }

    /// A failure kind is written as one word and read back from it; a TLS failure's cause
    /// stays out of the word.
    #[test]
    fn failure_kinds_round_trip_by_name() {
        for kind in FailureKind::NAMED {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.name()));
            assert_eq!(serde_json::from_str::<FailureKind>(&json).unwrap(), kind);
        }
        let expired = FailureKind::Tls(TlsCause::Expired);
        assert_eq!(serde_json::to_string(&expired).unwrap(), "\"tls\"");
        assert_eq!(expired.exit(), Exit::TlsFailed);
        assert!(serde_json::from_str::<FailureKind>("\"tcp\"").is_err());
    }

    /// Every schema that names finding kinds names exactly these.
    #[test]
    fn schemas_list_every_kind() {
        let kinds: std::collections::BTreeSet<&str> = FindingKind::all()
            .into_iter()
            .map(FindingKind::name)
            .collect();
        assert_eq!(
            kinds.len(),
            FindingKind::all().len(),
            "a kind is listed twice"
        );
        for schema in ["probe", "run", "load", "fleet", "limits"] {
            let path = format!(
                "{}/docs/{schema}-report.schema.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let text = std::fs::read_to_string(&path).unwrap();
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            let mut enums = Vec::new();
            collect_kind_enums(&json, &mut enums);
            for e in enums {
                assert_eq!(e, kinds, "{path}");
            }
        }
    }

    fn collect_kind_enums<'a>(
        v: &'a serde_json::Value,
        out: &mut Vec<std::collections::BTreeSet<&'a str>>,
    ) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::Array(items)) = m.get("enum")
                    && items.iter().any(|i| i == "missing_on_shape")
                {
                    out.push(items.iter().filter_map(|i| i.as_str()).collect());
                }
                m.values().for_each(|x| collect_kind_enums(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| collect_kind_enums(x, out)),
            _ => {}
        }
    }
}
