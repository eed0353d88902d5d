//! A TCP proxy per directed node-to-node link, so the harness can cut,
//! black-hole or delay a link without root. Node `i` dials peer `j`
//! through the proxy of link `i -> j` (`schedulerd --dial-via`): the
//! requests of `i` flow *forward* through it, the answers of `j` flow
//! *backward*. Each direction has its own [`Mode`].
//!
//! Healing is immediate for new and live connections: a pump re-reads its
//! mode whenever it changes. `Drop` closes live connections and refuses
//! new ones; `Blackhole` stops reading (the bytes wait in kernel buffers,
//! TCP back-pressure stalls the sender), as a silent network would.

use std::net::SocketAddr;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::{Duration, Instant};

/// What one direction of a link does with its bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Forward at once.
    #[default]
    Pass,
    /// Forward after this many milliseconds (order kept).
    Delay(u64),
    /// Close live connections, refuse new ones.
    Drop,
    /// Accept, never forward (hold the bytes).
    Blackhole,
}

/// The modes of both directions of one link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LinkModes {
    /// Requests of the dialling node.
    pub forward: Mode,
    /// Answers to it.
    pub backward: Mode,
}

/// One directed link's proxy; stops (with its connections) when dropped.
pub struct Proxy {
    /// Where the dialling node connects.
    pub addr: SocketAddr,
    modes: watch::Sender<LinkModes>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy on an ephemeral loopback port that forwards to `upstream`.
    pub async fn start(upstream: String) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (modes, rx) = watch::channel(LinkModes::default());
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let m = *rx.borrow();
                if m.forward == Mode::Drop || m.backward == Mode::Drop {
                    drop(inbound); // refused: the dialler sees a reset
                    continue;
                }
                tokio::spawn(connection(inbound, upstream.clone(), rx.clone()));
            }
        });
        Ok(Proxy {
            addr,
            modes,
            accept,
        })
    }

    /// Sets both directions.
    pub fn set(&self, modes: LinkModes) {
        self.modes.send_replace(modes);
    }

    /// The current modes.
    pub fn modes(&self) -> LinkModes {
        *self.modes.borrow()
    }

    /// Back to passing both ways.
    pub fn heal(&self) {
        self.set(LinkModes::default());
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Dropping `modes` ends every live pump (their `changed()` fails).
        self.accept.abort();
    }
}

#[derive(Clone, Copy)]
enum Dir {
    Forward,
    Backward,
}

impl Dir {
    fn pick(self, m: LinkModes) -> Mode {
        match self {
            Dir::Forward => m.forward,
            Dir::Backward => m.backward,
        }
    }
}

async fn connection(inbound: TcpStream, upstream: String, rx: watch::Receiver<LinkModes>) {
    let Ok(outbound) = TcpStream::connect(&upstream).await else {
        return; // the peer is down: the dialler sees its connection close
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (ir, iw) = inbound.into_split();
    let (or, ow) = outbound.into_split();
    // When either direction ends, the whole connection goes.
    tokio::select! {
        _ = pump(ir, ow, rx.clone(), Dir::Forward) => {}
        _ = pump(or, iw, rx, Dir::Backward) => {}
    }
}

/// Copies one direction under its mode. Reading and writing are split by a
/// queue so that a delay holds bytes without stalling the reader.
async fn pump(
    mut r: OwnedReadHalf,
    mut w: OwnedWriteHalf,
    mut rx: watch::Receiver<LinkModes>,
    dir: Dir,
) {
    let (tx, mut queue) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = async move {
        while let Some((at, bytes)) = queue.recv().await {
            tokio::time::sleep_until(at).await;
            if w.write_all(&bytes).await.is_err() {
                return;
            }
        }
    };
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let mode = dir.pick(*rx.borrow_and_update());
            let delay = match mode {
                Mode::Drop => return,
                Mode::Blackhole => {
                    // Hold: read nothing until the mode changes.
                    if rx.changed().await.is_err() {
                        return;
                    }
                    continue;
                }
                Mode::Pass => Duration::ZERO,
                Mode::Delay(ms) => Duration::from_millis(ms),
            };
            tokio::select! {
                n = r.read(&mut buf) => {
                    let n = match n {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if tx.send((Instant::now() + delay, buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
                changed = rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    };
    // The reader ends first on EOF or Drop; the writer then drains what
    // was already read (a delayed tail) and ends when the queue closes.
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(proxy: SocketAddr, within: Duration) -> bool {
        let attempt = async {
            let mut s = TcpStream::connect(proxy).await.ok()?;
            s.write_all(b"ping").await.ok()?;
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.ok()?;
            (&buf == b"ping").then_some(())
        };
        matches!(tokio::time::timeout(within, attempt).await, Ok(Some(())))
    }

    #[tokio::test]
    async fn modes_cut_delay_and_heal_each_direction() {
        let p = Proxy::start(echo_server().await.to_string())
            .await
            .expect("proxy");
        let short = Duration::from_millis(300);
        assert!(round_trip(p.addr, Duration::from_secs(5)).await, "pass");
        p.set(LinkModes {
            forward: Mode::Drop,
            backward: Mode::Pass,
        });
        assert!(!round_trip(p.addr, short).await, "forward dropped");
        p.set(LinkModes {
            forward: Mode::Pass,
            backward: Mode::Blackhole,
        });
        assert!(!round_trip(p.addr, short).await, "answers black-holed");
        p.set(LinkModes {
            forward: Mode::Delay(400),
            backward: Mode::Pass,
        });
        let t = Instant::now();
        assert!(round_trip(p.addr, Duration::from_secs(5)).await, "delayed");
        assert!(
            t.elapsed() >= Duration::from_millis(400),
            "{:?}",
            t.elapsed()
        );
        p.heal();
        assert!(round_trip(p.addr, Duration::from_secs(5)).await, "healed");
    }

    #[tokio::test]
    async fn a_live_connection_heals_after_a_blackhole() {
        let p = Proxy::start(echo_server().await.to_string())
            .await
            .expect("proxy");
        let mut s = TcpStream::connect(p.addr).await.expect("connect");
        p.set(LinkModes {
            forward: Mode::Blackhole,
            backward: Mode::Pass,
        });
        s.write_all(b"ping").await.expect("write");
        let mut buf = [0u8; 4];
        let held = tokio::time::timeout(Duration::from_millis(300), s.read_exact(&mut buf)).await;
        assert!(held.is_err(), "held while black-holed");
        p.heal();
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf))
            .await
            .expect("delivered after heal")
            .expect("read");
        assert_eq!(&buf, b"ping");
    }
}
