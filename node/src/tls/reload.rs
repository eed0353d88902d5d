//! [`ReloadingTls`]: the node's TLS configs, re-read from the directory
//! when its files change, swapped atomically.
//!
//! It polls: every [`RELOAD_EVERY`] it reads the three files and compares a
//! hash of their contents with the loaded one. Not `notify`: Kubernetes
//! updates a mounted secret by swapping a `..data` symlink, an operator may
//! `mv` a whole directory into place, and `cp -p` or `tar` keep old mtimes;
//! inotify watches and mtimes miss some of these, while reading three small
//! files every two seconds sees them all, costs nothing measurable, and
//! needs no new dependency.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::{ClientConfig, ServerConfig};
use tokio::task::JoinHandle;

use super::{CERT_FILE, RawDir, TlsConnector, TlsDir, TlsError};

/// How often [`ReloadingTls::watch`] looks at the directory.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// One consistent generation of configs, from one load of the directory.
pub struct TlsConfigs {
    /// The node id the certificate names (fixed for the life of the process).
    pub node_id: u64,
    /// When the node certificate expires.
    pub not_after: SystemTime,
    /// The listener's config ([`TlsDir::server_config`]).
    pub server: Arc<ServerConfig>,
    /// The node-to-node calls' config ([`TlsDir::client_config`]).
    pub client: Arc<ClientConfig>,
    fingerprint: u128,
}

impl std::fmt::Debug for TlsConfigs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfigs")
            .field("node_id", &self.node_id)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl TlsConfigs {
    fn build(dir: &TlsDir) -> Result<TlsConfigs, TlsError> {
        Ok(TlsConfigs {
            node_id: dir.node_id(),
            not_after: dir.not_after(),
            server: dir.server_config()?,
            client: dir.client_config()?,
            fingerprint: dir.fingerprint(),
        })
    }
}

/// The node's TLS configs, reloaded from its directory without a restart.
/// Cheap to clone (shared). Each new connection takes the current configs
/// ([`ReloadingTls::acceptor`], [`ReloadingTls::connector`]); connections
/// already open keep theirs.
#[derive(Clone, Debug)]
pub struct ReloadingTls {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    current: ArcSwap<TlsConfigs>,
}

impl ReloadingTls {
    /// Loads the directory; fails as [`TlsDir::load`] does.
    pub fn load(dir: impl Into<PathBuf>) -> Result<ReloadingTls, TlsError> {
        let dir = dir.into();
        let configs = TlsConfigs::build(&TlsDir::load(&dir)?)?;
        Ok(ReloadingTls {
            inner: Arc::new(Inner {
                dir,
                current: ArcSwap::from_pointee(configs),
            }),
        })
    }

    /// The directory it reads.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The node id the certificate names; a reload never changes it.
    pub fn node_id(&self) -> u64 {
        self.inner.current.load().node_id
    }

    /// The current configs.
    pub fn current(&self) -> Arc<TlsConfigs> {
        self.inner.current.load_full()
    }

    /// The current listener config.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.inner.current.load().server.clone()
    }

    /// The current node-to-node client config.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.inner.current.load().client.clone()
    }

    /// An acceptor with the current listener config: take one per
    /// connection (as [`super::incoming`] does).
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.server_config())
    }

    /// A connector for node-to-node channels that takes the current client
    /// config at each connect.
    pub fn connector(&self) -> TlsConnector {
        TlsConnector::reloading(self.clone())
    }

    /// Re-reads the directory now. `Ok(true)`: new configs are in place;
    /// `Ok(false)`: the contents are the loaded ones; `Err`: the files do
    /// not load (or name another node), and the old configs stay.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let raw = RawDir::read(&self.inner.dir)?;
        let current = self.inner.current.load();
        if raw.fingerprint() == current.fingerprint {
            return Ok(false);
        }
        let dir = TlsDir::from_raw(&self.inner.dir, &raw)?;
        if dir.node_id() != current.node_id {
            return Err(TlsError::NodeIdChanged {
                path: self.inner.dir.join(CERT_FILE),
                old: current.node_id,
                new: dir.node_id(),
            });
        }
        self.inner.current.store(Arc::new(TlsConfigs::build(&dir)?));
        Ok(true)
    }

    /// Polls the directory every `every` and reloads on change (see the
    /// module docs), logging each reload and each new failure once. Stops
    /// when every handle of this `ReloadingTls` is dropped.
    pub fn watch(&self, every: Duration) -> JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            let mut last_error: Option<String> = None;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let tls = ReloadingTls { inner };
                let result = tokio::task::spawn_blocking({
                    let tls = tls.clone();
                    move || tls.reload()
                })
                .await;
                match result {
                    Ok(Ok(true)) => {
                        last_error = None;
                        let now = tls.current();
                        tracing::info!(
                            dir = %tls.dir().display(),
                            node_id = now.node_id,
                            expires_in_days = days_left(now.not_after),
                            "TLS certificates reloaded"
                        );
                    }
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => {
                        let text = e.to_string();
                        if last_error.as_deref() != Some(text.as_str()) {
                            tracing::warn!(
                                error = %text,
                                "TLS reload failed; the previous certificates stay in use"
                            );
                            last_error = Some(text);
                        }
                    }
                    Err(join) => {
                        tracing::error!(error = %join, "TLS reload task failed");
                    }
                }
            }
        })
    }
}

fn days_left(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::now()) {
        Ok(d) => (d.as_secs() / 86_400) as i64,
        Err(e) => -((e.duration().as_secs() / 86_400) as i64),
    }
}
