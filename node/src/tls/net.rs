//! TLS under tonic: [`incoming`] (the handshakes, for
//! `Server::serve_with_incoming`) and [`TlsConnector`] (for
//! `Endpoint::connect_with_connector`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::http::Uri;
use tonic::transport::server::Connected;

use super::{CertIdentity, ReloadingTls};

/// A client that has not finished its handshake by then is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; further accepts wait (the kernel's
/// backlog holds them), so a flood of slow handshakes cannot exhaust memory.
const MAX_HANDSHAKES: usize = 256;

/// What the server knows about the other end of a connection. Every request
/// on a connection from [`incoming`] carries it in its extensions
/// (`request.extensions().get::<PeerInfo>()`, or [`peer_identity`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The client's address.
    pub remote_addr: Option<SocketAddr>,
    /// Whom the client's certificate names, when it presented one: the
    /// verifier checked it against the cluster CA before this was read. A
    /// certificate that names no one gives `None`, like no certificate.
    pub identity: Option<CertIdentity>,
}

/// The identity the caller's certificate names, when the request came
/// over a connection from [`incoming`] with a client certificate.
pub fn peer_identity<T>(request: &tonic::Request<T>) -> Option<&CertIdentity> {
    request
        .extensions()
        .get::<PeerInfo>()
        .and_then(|info| info.identity.as_ref())
}

/// A server-side TLS connection, handshake done, with its [`PeerInfo`].
pub struct TlsConn {
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    info: PeerInfo,
}

impl TlsConn {
    /// What is known about the client.
    pub fn info(&self) -> &PeerInfo {
        &self.info
    }

    /// The negotiated ALPN protocol, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.stream.get_ref().1.alpn_protocol()
    }
}

impl Connected for TlsConn {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        self.info.clone()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The TLS connections of `listener`, for `serve_with_incoming`: accepts
/// (TCP_NODELAY on), handshakes each connection in its own task with the
/// configs current at accept, under [`HANDSHAKE_TIMEOUT`], and yields only
/// the connections whose handshake succeeded. A failed handshake (a
/// plaintext client, a certificate from another CA, an expired one) is
/// logged at debug and closed. Stops when the stream is dropped.
pub fn incoming(listener: TcpListener, tls: ReloadingTls) -> ReceiverStream<io::Result<TlsConn>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        loop {
            let permit = tokio::select! {
                _ = tx.closed() => return,
                permit = handshakes.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let (tcp, remote) = tokio::select! {
                _ = tx.closed() => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors and the like: do not spin.
                        tracing::warn!(error = %e, "accepting a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY on an accepted connection");
            }
            let acceptor = tls.acceptor();
            let tx = tx.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let stream =
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            tracing::debug!(%remote, error = %e, "TLS handshake refused");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%remote, "TLS handshake timed out");
                            return;
                        }
                    };
                let identity = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|certs| certs.first())
                    .and_then(|leaf| match CertIdentity::from_der(leaf) {
                        Ok(identity) => Some(identity),
                        Err(e) => {
                            tracing::debug!(%remote, error = %e, "client certificate names no one");
                            None
                        }
                    });
                let info = PeerInfo {
                    remote_addr: Some(remote),
                    identity,
                };
                let _ = tx.send(Ok(TlsConn { stream, info })).await;
            });
        }
    });
    ReceiverStream::new(rx)
}

/// A TLS connector for tonic channels (`Endpoint::connect_with_connector`
/// or `connect_with_connector_lazy`): dials the URI's host and port,
/// TCP_NODELAY on, and verifies the server's certificate against the CA and
/// the host (a DNS name or an IP address the certificate must list).
///
/// Give the endpoint an `http://` URI: TLS is done here, so tonic must
/// not try its own (with one of tonic's TLS features on, it refuses an
/// `https://` URI that has no `tls_config`). Port 80 is assumed for a URI
/// with no port. `Endpoint::connect_timeout` still applies; the endpoint's
/// TCP options do not (they belong to tonic's own connector).
#[derive(Clone, Debug)]
pub struct TlsConnector {
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    Fixed(Arc<ClientConfig>),
    Reloading(ReloadingTls),
}

impl TlsConnector {
    /// A connector with one fixed config (a user's, say:
    /// [`super::client_config_from_files`]).
    pub fn new(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector {
            source: Source::Fixed(config),
        }
    }

    pub(super) fn reloading(tls: ReloadingTls) -> TlsConnector {
        TlsConnector {
            source: Source::Reloading(tls),
        }
    }

    fn config(&self) -> Arc<ClientConfig> {
        match &self.source {
            Source::Fixed(c) => c.clone(),
            Source::Reloading(tls) => tls.client_config(),
        }
    }

    /// Dials `uri` and completes the handshake.
    pub async fn connect(
        &self,
        uri: &Uri,
    ) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        let host = uri
            .host()
            .ok_or_else(|| invalid(format!("{uri}: no host")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let name =
            ServerName::try_from(host.to_string()).map_err(|e| invalid(format!("{uri}: {e}")))?;
        let tcp = TcpStream::connect((host, port)).await?;
        tcp.set_nodelay(true)?;
        tokio_rustls::TlsConnector::from(self.config())
            .connect(name, tcp)
            .await
    }
}

impl tonic::codegen::Service<Uri> for TlsConnector {
    type Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect(&uri).await.map(TokioIo::new) })
    }
}
