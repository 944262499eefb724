//! A certificate `--cacert` names that the server presents as its own: trusted as curl trusts
//! it, once it proves to be self-signed, valid now and issued for the name connected to.
//!
//! webpki refuses any certificate marked `CA:TRUE` as a server's own (`CaUsedAsEndEntity`),
//! and `openssl req -x509` marks every self-signed certificate so by default; curl (OpenSSL)
//! accepts such a certificate when `--cacert` holds it. [`check_pinned`] is the check that
//! takes webpki's place then. The name is checked by webpki itself (through rustls), since it
//! does not look at `CA:TRUE`; the validity period and the self-signature are read here from
//! the DER, because webpki keeps both to itself. Anything this reader does not understand
//! refuses the certificate.

use rustls::CertificateError;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// What the check reads from a certificate.
#[derive(Debug, PartialEq, Eq)]
struct Fields<'a> {
    /// The signed part, header included: the bytes the signature covers.
    tbs: &'a [u8],
    /// The signature's algorithm identifier, without its SEQUENCE header (as rustls names
    /// algorithms).
    signature_alg: &'a [u8],
    /// The signature.
    signature: &'a [u8],
    /// The issuer's name, DER.
    issuer: &'a [u8],
    /// The subject's name, DER.
    subject: &'a [u8],
    /// Seconds since the Unix epoch: the validity period's start.
    not_before: i64,
    /// Seconds since the Unix epoch: the validity period's end.
    not_after: i64,
    /// The public key's algorithm identifier, without its SEQUENCE header.
    key_alg: &'a [u8],
    /// The public key.
    key: &'a [u8],
}

/// The pinned certificate `leaf`, presented for `name` at `now`: `None` when it is not
/// self-signed (the pin does not apply, and the verifier's own refusal stands), else whether
/// it is valid now and for `name`.
pub(super) fn check_pinned(
    leaf: &CertificateDer<'_>,
    name: &ServerName<'_>,
    now: UnixTime,
    algorithms: &WebPkiSupportedAlgorithms,
) -> Option<Result<(), rustls::Error>> {
    let fields = read(leaf)?;
    if fields.issuer != fields.subject || !self_signature_holds(&fields, algorithms) {
        return None;
    }
    let at = |secs: i64| {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(secs).unwrap_or(0),
        ))
    };
    let now_secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if now_secs < fields.not_before {
        return Some(Err(CertificateError::NotValidYetContext {
            time: now,
            not_before: at(fields.not_before),
        }
        .into()));
    }
    if now_secs > fields.not_after {
        return Some(Err(CertificateError::ExpiredContext {
            time: now,
            not_after: at(fields.not_after),
        }
        .into()));
    }
    // webpki's own parse also refuses a critical extension it does not know.
    let parsed = match rustls::server::ParsedCertificate::try_from(leaf) {
        Ok(p) => p,
        Err(e) => return Some(Err(e)),
    };
    Some(rustls::client::verify_server_name(&parsed, name))
}

/// Whether the certificate's signature verifies with its own key, by an algorithm the crypto
/// provider offers for certificates.
fn self_signature_holds(fields: &Fields<'_>, algorithms: &WebPkiSupportedAlgorithms) -> bool {
    algorithms
        .all
        .iter()
        .filter(|a| {
            a.public_key_alg_id().as_ref() == fields.key_alg
                && a.signature_alg_id().as_ref() == fields.signature_alg
        })
        .any(|a| {
            a.verify_signature(fields.key, fields.tbs, fields.signature)
                .is_ok()
        })
}

/// DER tags this reader meets.
const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT Version`, present from X.509 v2 on.
const VERSION: u8 = 0xa0;

/// The fields of an X.509 certificate (RFC 5280 §4.1), or `None` if it is not one.
fn read(der: &[u8]) -> Option<Fields<'_>> {
    let (cert, rest) = expect(der, SEQUENCE)?;
    if !rest.is_empty() {
        return None;
    }
    let tbs = element(cert)?;
    let (signature_alg, cert) = expect(tbs.rest, SEQUENCE)?;
    let (signature, cert) = expect(cert, BIT_STRING)?;
    if tbs.tag != SEQUENCE || !cert.is_empty() {
        return None;
    }
    let signature = bits(signature)?;

    let mut t = tbs.contents;
    if t.first() == Some(&VERSION) {
        t = element(t)?.rest;
    }
    let (_serial, t) = expect(t, INTEGER)?;
    let (_signature, t) = expect(t, SEQUENCE)?;
    let issuer = element(t)?;
    let (validity, t) = expect(issuer.rest, SEQUENCE)?;
    let subject = element(t)?;
    let (spki, _extensions) = expect(subject.rest, SEQUENCE)?;
    if issuer.tag != SEQUENCE || subject.tag != SEQUENCE {
        return None;
    }

    let (not_before, validity) = time(validity)?;
    let (not_after, validity) = time(validity)?;
    if !validity.is_empty() {
        return None;
    }
    let (key_alg, spki) = expect(spki, SEQUENCE)?;
    let (key, spki) = expect(spki, BIT_STRING)?;
    if !spki.is_empty() {
        return None;
    }
    Some(Fields {
        tbs: tbs.whole,
        signature_alg,
        signature,
        issuer: issuer.whole,
        subject: subject.whole,
        not_before,
        not_after,
        key_alg,
        key: bits(key)?,
    })
}

/// One DER element.
struct Element<'a> {
    tag: u8,
    contents: &'a [u8],
    /// The element, header included.
    whole: &'a [u8],
    /// What follows it.
    rest: &'a [u8],
}

/// The DER element at the start of `input`. Only the single-byte tags and definite lengths of
/// DER.
fn element(input: &[u8]) -> Option<Element<'_>> {
    let (&tag, after_tag) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, mut after_len) = after_tag.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || after_len.len() < n {
            return None;
        }
        let (digits, rest) = after_len.split_at(n);
        after_len = rest;
        digits
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if after_len.len() < len {
        return None;
    }
    let header = input.len() - after_len.len();
    let (contents, rest) = after_len.split_at(len);
    Some(Element {
        tag,
        contents,
        whole: &input[..header + len],
        rest,
    })
}

/// The contents of an element that must have tag `tag`, and what follows it.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let e = element(input)?;
    (e.tag == tag).then_some((e.contents, e.rest))
}

/// A BIT STRING's bits, which here are whole bytes (keys and signatures).
fn bits(contents: &[u8]) -> Option<&[u8]> {
    match contents.split_first()? {
        (0, bits) => Some(bits),
        _ => None,
    }
}

/// A validity time (UTCTime or GeneralizedTime, in UTC as RFC 5280 requires) as seconds since
/// the Unix epoch, and what follows it.
fn time(input: &[u8]) -> Option<(i64, &[u8])> {
    let Element {
        tag,
        contents,
        rest,
        ..
    } = element(input)?;
    let text = std::str::from_utf8(contents).ok()?;
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, clock) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            // RFC 5280 §4.1.2.5.1: 50–99 are 1950–1999, 00–49 are 2000–2049.
            let yy: i16 = digits[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        (GENERALIZED_TIME, 14) => (digits[..4].parse().ok()?, &digits[4..]),
        _ => return None,
    };
    let two = |i: usize| clock[i..i + 2].parse::<i8>().ok();
    let at =
        jiff::civil::DateTime::new(year, two(0)?, two(2)?, two(4)?, two(6)?, two(8)?, 0).ok()?;
    let secs = jiff::tz::TimeZone::UTC.to_timestamp(at).ok()?.as_second();
    Some((secs, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed `CA:TRUE` certificate (P-256) for `IP:127.0.0.1`, valid 2026-01-01 to
    /// 2036-01-01: an `openssl req -x509` certificate, its dates fixed with `openssl ca
    /// -selfsign -startdate … -enddate …`.
    const SELF_SIGNED: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBWzCCAQCgAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAlsb2NhbGhv\n\
c3QwHhcNMjYwMTAxMDAwMDAwWhcNMzYwMTAxMDAwMDAwWjAUMRIwEAYDVQQDDAls\n\
b2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARNivlSrNDJGvGmOCfv\n\
lWYQrn+nz+1hWLXx24YqWsiQP1RX8RpDRL+I1oywy3iJ8RQApY2VNEpnwnGFTZFj\n\
cdnWo0MwQTAPBgNVHRMBAf8EBTADAQH/MA8GA1UdEQQIMAaHBH8AAAEwHQYDVR0O\n\
BBYEFICxkLAx+snTbInp8LlU6KCd3oUUMAoGCCqGSM49BAMCA0kAMEYCIQDIlBks\n\
u4o+sBB6lX8eZWU5j/uDqCEz2Wky/q1LQw9oagIhAIMQ5B9wkB08TseQDv/PKfUe\n\
X2b670yruUzwbhSxzt8b\n\
-----END CERTIFICATE-----\n";

    fn der(pem: &str) -> CertificateDer<'static> {
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    fn secs(y: i16, m: i8, d: i8) -> i64 {
        let at = jiff::civil::date(y, m, d).at(0, 0, 0, 0);
        jiff::tz::TimeZone::UTC
            .to_timestamp(at)
            .unwrap()
            .as_second()
    }

    fn unix(secs: i64) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs.try_into().unwrap()))
    }

    fn algorithms() -> WebPkiSupportedAlgorithms {
        rustls::crypto::ring::default_provider().signature_verification_algorithms
    }

    fn ip() -> ServerName<'static> {
        ServerName::try_from("127.0.0.1").unwrap()
    }

    #[test]
    fn reads_the_validity_period_and_the_names() {
        let cert = der(SELF_SIGNED);
        let f = read(&cert).unwrap();
        assert_eq!(f.not_before, secs(2026, 1, 1));
        assert_eq!(f.not_after, secs(2036, 1, 1));
        assert_eq!(f.issuer, f.subject);
        assert!(self_signature_holds(&f, &algorithms()));
    }

    #[test]
    fn a_pinned_certificate_is_checked_for_its_dates_and_its_name() {
        let cert = der(SELF_SIGNED);
        let algs = algorithms();
        let within = unix(secs(2030, 6, 1));
        assert_eq!(check_pinned(&cert, &ip(), within, &algs), Some(Ok(())));

        let after = check_pinned(&cert, &ip(), unix(secs(2036, 1, 2)), &algs);
        assert!(
            matches!(
                after,
                Some(Err(rustls::Error::InvalidCertificate(
                    CertificateError::ExpiredContext { .. }
                )))
            ),
            "{after:?}"
        );
        let before = check_pinned(&cert, &ip(), unix(secs(2025, 12, 31)), &algs);
        assert!(
            matches!(
                before,
                Some(Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidYetContext { .. }
                )))
            ),
            "{before:?}"
        );
        for other in ["127.0.0.2", "localhost", "example.com"] {
            let name = ServerName::try_from(other).unwrap();
            let refused = check_pinned(&cert, &name, within, &algs);
            assert!(
                matches!(
                    refused,
                    Some(Err(rustls::Error::InvalidCertificate(
                        CertificateError::NotValidForNameContext { .. }
                    )))
                ),
                "{other}: {refused:?}"
            );
        }
    }

    /// A certificate whose signature does not verify with its own key is not self-signed: the
    /// pin does not apply to it.
    #[test]
    fn a_broken_self_signature_is_not_trusted() {
        let mut cert = der(SELF_SIGNED).to_vec();
        let last = cert.len() - 1;
        cert[last] ^= 0x01;
        let cert = CertificateDer::from(cert);
        assert!(read(&cert).is_some());
        let within = unix(secs(2030, 6, 1));
        assert_eq!(check_pinned(&cert, &ip(), within, &algorithms()), None);
    }

    #[test]
    fn anything_else_is_not_read() {
        let cert = der(SELF_SIGNED);
        for cut in [0, 1, 2, 10, cert.len() / 2, cert.len() - 1] {
            assert_eq!(read(&cert[..cut]), None, "cut at {cut}");
        }
        let mut trailing = cert.to_vec();
        trailing.push(0);
        assert_eq!(read(&trailing), None);
        assert_eq!(read(b"\x30\x80\x00\x00"), None, "indefinite length");
    }

    #[test]
    fn both_kinds_of_time_are_read() {
        assert_eq!(
            time(b"\x17\x0d491231235959Z").unwrap().0,
            secs(2050, 1, 1) - 1
        );
        assert_eq!(time(b"\x17\x0d500101000000Z").unwrap().0, secs(1950, 1, 1));
        assert_eq!(
            time(b"\x18\x0f20500101000000Z").unwrap().0,
            secs(2050, 1, 1)
        );
        for bad in [
            &b"\x17\x0d500101000000+"[..],
            b"\x17\x0b5001010000Z",
            b"\x18\x0f20501301000000Z",
            b"\x02\x0d500101000000Z",
        ] {
            assert_eq!(time(bad), None, "{bad:?}");
        }
    }
}
