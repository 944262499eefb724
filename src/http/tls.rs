//! TLS to the target: the client settings both the general client and load's lanes use, and
//! the lanes' byte stream (plain TCP, or rustls over it).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::BytesMut;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The connection's bytes: plain TCP, or TLS over it.
#[derive(Debug)]
pub(super) enum Wire {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Wire {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Wire::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Wire::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Wire::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Wire::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Wire::Plain(s) => Pin::new(s).poll_flush(cx),
            Wire::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Wire::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Wire::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Wire {
    /// Reads what the connection has onto the end of `buf`, up to `size` bytes; `Ok(0)` at the
    /// end.
    ///
    /// A load test holding ten thousand streams that each wait most of their time for the next
    /// event must not hold a read buffer per stream for nothing. On plain TCP nothing is
    /// allocated until the socket is readable: the read goes into the thread's one scratch
    /// buffer and only the bytes read are kept (the events a stream sends are a few hundred
    /// bytes). TLS reads through its own buffer, so there `buf` grows by `size` at once.
    pub(super) async fn fill(&mut self, buf: &mut BytesMut, size: usize) -> io::Result<usize> {
        use tokio::io::AsyncReadExt;
        if buf.is_empty() {
            *buf = BytesMut::new();
        }
        match self {
            // Polled with the task's own waker, as tokio's own read is: a read that has to wait
            // (or that the runtime's cooperative budget defers) yields to the runtime, and a
            // short read forgets the socket's readiness, so the next wait goes straight to the
            // poller. The scratch buffer is only borrowed within one poll.
            Wire::Plain(s) => {
                std::future::poll_fn(|cx| {
                    SCRATCH.with_borrow_mut(|scratch| {
                        if scratch.len() < size {
                            scratch.resize(size, 0);
                        }
                        let mut read = ReadBuf::new(&mut scratch[..size]);
                        match Pin::new(&mut *s).poll_read(cx, &mut read) {
                            Poll::Ready(Ok(())) => {
                                buf.extend_from_slice(read.filled());
                                Poll::Ready(Ok(read.filled().len()))
                            }
                            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                            Poll::Pending => Poll::Pending,
                        }
                    })
                })
                .await
            }
            Wire::Tls(_) => {
                buf.reserve(size);
                self.read_buf(buf).await
            }
        }
    }
}

thread_local! {
    /// Where plain connections read before the bytes are kept (see [`Wire::fill`]).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The TLS settings every connection to the target uses, the general client's and the lanes':
/// the platform's roots and `--cacert` (rustls-platform-verifier, as reqwest uses it), with
/// curl's trust in a self-signed certificate `--cacert` holds (see [`Pinned`]); or nothing
/// checked with `insecure`. `alpn` is offered in order.
pub(crate) fn client_config(
    cacert: Option<&[u8]>,
    insecure: bool,
    alpn: &[&[u8]],
) -> anyhow::Result<rustls::ClientConfig> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let verifier: Arc<dyn ServerCertVerifier> = if insecure {
        Arc::new(Unchecked(provider.clone()))
    } else {
        let extra: Vec<CertificateDer<'static>> = match cacert {
            Some(pem) => CertificateDer::pem_slice_iter(pem).collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let platform = if extra.is_empty() {
            rustls_platform_verifier::Verifier::new(provider.clone())
        } else {
            rustls_platform_verifier::Verifier::new_with_extra_roots(
                extra.iter().cloned(),
                provider.clone(),
            )
        }?;
        Arc::new(Pinned {
            platform: Arc::new(platform),
            held: extra,
            algorithms: provider.signature_verification_algorithms,
        })
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// The TLS settings for lanes, which speak HTTP/1.1 only. `None` when they cannot be built;
/// the general client is used then.
pub(super) fn lane_config(settings: &super::ConnectSpec) -> Option<Arc<rustls::ClientConfig>> {
    client_config(
        settings.cacert.as_deref(),
        settings.insecure,
        &[b"http/1.1"],
    )
    .ok()
    .map(Arc::new)
}

/// The platform's verdict first; a certificate it refuses that is byte for byte one that
/// `--cacert` holds, and self-signed, is then checked as curl checks it: its dates and its
/// name (see [`super::cert`]). The handshake's signatures are verified as usual, with the
/// certificate's key.
#[derive(Debug)]
struct Pinned {
    platform: Arc<dyn ServerCertVerifier>,
    /// The certificates `--cacert` holds.
    held: Vec<CertificateDer<'static>>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let refused = match self.platform.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(refused) => refused,
        };
        if !self.held.iter().any(|p| p.as_ref() == end_entity.as_ref()) {
            return Err(refused);
        }
        match super::cert::check_pinned(end_entity, server_name, now, &self.algorithms) {
            None => Err(refused),
            Some(checked) => checked.map(|()| ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.platform.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.platform.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.platform.supported_verify_schemes()
    }
}

/// `--insecure`: any certificate is accepted, signatures still checked against its key.
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
