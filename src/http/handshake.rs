//! What a failed TLS handshake means, in the user's words: the rustls error found inside
//! whatever error carried it (reqwest's, hyper's, tokio-rustls' `io::Error`), its
//! [`TlsCause`], and a message that says what the certificate said. The general client, load's
//! lanes and `record` all report TLS failures through [`failure`].

use std::error::Error;

use rustls::{CertificateError, InvalidMessage};

use crate::verdict::{Failure, FailureKind, TlsCause};

/// Who was connected to, as the message names it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer<'a> {
    /// `host:port`.
    pub addr: &'a str,
    /// The host the certificate must be issued for.
    pub host: &'a str,
    /// Whether `--cacert` added certificates to trust.
    pub cacert: bool,
}

/// The TLS failure `e` carries, if it carries one.
pub(crate) fn failure(e: &(dyn Error + 'static), peer: Peer<'_>) -> Option<Failure> {
    let tls = rustls_error(e)?;
    let cause = cause(tls);
    Some(Failure {
        kind: FailureKind::Tls(cause),
        message: message(cause, tls, peer),
    })
}

/// The rustls error somewhere in `e`'s chain. `io::Error` hides the error it wraps from
/// `source()`, so each one is opened.
fn rustls_error<'a>(e: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            && let Some(tls) = rustls_error(inner)
        {
            return Some(tls);
        }
        cur = err.source();
    }
    None
}

/// The cause, from rustls' error and the webpki error it may wrap.
fn cause(e: &rustls::Error) -> TlsCause {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => TlsCause::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsCause::WrongName
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsCause::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsCause::NotYetValid
            }
            // rustls passes webpki's `CaUsedAsEndEntity` on as it is: a self-signed
            // certificate (openssl marks those CA:TRUE) that no trusted root or `--cacert`
            // pin vouches for.
            CertificateError::Other(other)
                if matches!(
                    other.0.downcast_ref::<webpki::Error>(),
                    Some(webpki::Error::CaUsedAsEndEntity)
                ) =>
            {
                TlsCause::SelfSigned
            }
            _ => TlsCause::Other,
        },
        // A plain-HTTP port answers a ClientHello with `HTTP/1.1 400 …`: not a TLS record.
        rustls::Error::InvalidMessage(
            InvalidMessage::InvalidContentType
            | InvalidMessage::MessageTooLarge
            | InvalidMessage::UnknownProtocolVersion,
        ) => TlsCause::NotTls,
        _ => TlsCause::Other,
    }
}

/// The failure's one line.
fn message(cause: TlsCause, e: &rustls::Error, peer: Peer<'_>) -> String {
    let Peer { addr, host, cacert } = peer;
    let context = match e {
        rustls::Error::InvalidCertificate(c) => Some(c),
        _ => None,
    };
    match cause {
        TlsCause::UnknownIssuer => format!(
            "TLS: unknown issuer: the certificate {addr} presented is signed by no CA {}",
            if cacert {
                "this machine trusts or `--cacert` holds"
            } else {
                "this machine trusts"
            }
        ),
        TlsCause::SelfSigned => format!(
            "TLS: self-signed certificate: {addr} presented a certificate signed by itself, which {}",
            if cacert {
                "this machine does not trust and `--cacert` does not hold"
            } else {
                "this machine does not trust"
            }
        ),
        TlsCause::WrongName => match context {
            Some(CertificateError::NotValidForNameContext { presented, .. }) => format!(
                "TLS: the certificate {addr} presented is not valid for {host}: it names {}",
                names(presented)
            ),
            _ => format!("TLS: the certificate {addr} presented is not valid for {host}"),
        },
        TlsCause::Expired => match context {
            Some(CertificateError::ExpiredContext { time, not_after }) => format!(
                "TLS: certificate expired: the certificate {addr} presented was valid until {}; it is {} here",
                when(not_after.as_secs()),
                when(time.as_secs())
            ),
            _ => format!("TLS: certificate expired: the certificate {addr} presented has expired"),
        },
        TlsCause::NotYetValid => match context {
            Some(CertificateError::NotValidYetContext { time, not_before }) => format!(
                "TLS: certificate not yet valid: the certificate {addr} presented is valid from {}; it is {} here",
                when(not_before.as_secs()),
                when(time.as_secs())
            ),
            _ => format!(
                "TLS: certificate not yet valid: the certificate {addr} presented is not valid yet"
            ),
        },
        TlsCause::NotTls => {
            format!("TLS: {addr} does not speak TLS: what it answered is not a TLS record ({e})")
        }
        TlsCause::Other => format!("TLS: the handshake with {addr} failed: {e}"),
    }
}

/// webpki's names (`DnsName("example.com")`, `IpAddress(127.0.0.1)`) as a person writes them.
fn names(presented: &[String]) -> String {
    if presented.is_empty() {
        return "no host (its subjectAltName is empty or missing)".into();
    }
    presented
        .iter()
        .map(|n| {
            n.strip_prefix("DnsName(\"")
                .and_then(|n| n.strip_suffix("\")"))
                .or_else(|| {
                    n.strip_prefix("IpAddress(")
                        .and_then(|n| n.strip_suffix(')'))
                })
                .unwrap_or(n)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Seconds since the epoch as a UTC time, to the second.
fn when(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(|| format!("{secs} s after 1970"), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::pki_types::{ServerName, UnixTime};

    use super::*;

    /// An error as reqwest hands it over: rustls' error inside an `io::Error`, inside another.
    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }

    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    fn wrapped(e: rustls::Error) -> Outer {
        Outer(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
    }

    const PEER: Peer<'static> = Peer {
        addr: "127.0.0.1:8443",
        host: "127.0.0.1",
        cacert: false,
    };

    /// Every cause's message and hint, as the user reads them.
    #[test]
    fn each_cause_says_what_happened_and_what_helps() {
        let cert = |c| rustls::Error::InvalidCertificate(c);
        let ca_as_leaf = || {
            cert(CertificateError::Other(rustls::OtherError(Arc::new(
                webpki::Error::CaUsedAsEndEntity,
            ))))
        };
        let cases: Vec<(&str, rustls::Error, bool)> = vec![
            (
                "unknown issuer",
                cert(CertificateError::UnknownIssuer),
                false,
            ),
            (
                "unknown issuer, --cacert given",
                cert(CertificateError::UnknownIssuer),
                true,
            ),
            ("self-signed", ca_as_leaf(), false),
            ("self-signed, --cacert given", ca_as_leaf(), true),
            (
                "wrong name",
                cert(CertificateError::NotValidForNameContext {
                    expected: ServerName::try_from("127.0.0.1").unwrap(),
                    presented: vec![
                        "DnsName(\"example.com\")".into(),
                        "IpAddress(127.0.0.2)".into(),
                    ],
                }),
                true,
            ),
            (
                "no name at all",
                cert(CertificateError::NotValidForNameContext {
                    expected: ServerName::try_from("127.0.0.1").unwrap(),
                    presented: vec![],
                }),
                false,
            ),
            (
                "expired",
                cert(CertificateError::ExpiredContext {
                    time: at(1_800_000_000),
                    not_after: at(1_577_923_200),
                }),
                true,
            ),
            (
                "not yet valid",
                cert(CertificateError::NotValidYetContext {
                    time: at(1_577_923_200),
                    not_before: at(1_800_000_000),
                }),
                false,
            ),
            (
                "plain HTTP on the port",
                rustls::Error::InvalidMessage(InvalidMessage::InvalidContentType),
                false,
            ),
            (
                "an alert from the server",
                rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
                false,
            ),
        ];
        let mut text = String::new();
        for (what, e, cacert) in cases {
            let peer = Peer { cacert, ..PEER };
            let f = failure(&wrapped(e), peer).unwrap();
            let FailureKind::Tls(cause) = f.kind else {
                panic!("{what}: {:?}", f.kind);
            };
            text.push_str(&format!(
                "{what}: {cause:?}\n  {}\n  hint: {}\n",
                f.message,
                cause.hint()
            ));
        }
        insta::assert_snapshot!(text);
    }

    /// A failure with no rustls error in it is not a TLS failure.
    #[test]
    fn other_failures_are_not_tls() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(failure(&refused, PEER).is_none());
        assert!(failure(&Outer(refused), PEER).is_none());
        let bare = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(
            failure(&bare, PEER).unwrap().kind,
            FailureKind::Tls(TlsCause::UnknownIssuer)
        );
    }
}
