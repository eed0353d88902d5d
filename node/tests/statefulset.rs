//! The Kubernetes deployment, tested without Kubernetes.
//!
//! 1. The manifests in `deploy/kubernetes/` pass schema validation with
//!    `kubernetes-validate` (strict: unknown fields are errors), and a
//!    broken copy does not, so the check is not vacuous.
//! 2. Pods are real `schedulerd` processes started with exactly the args and
//!    env that the StatefulSet gives its container, read from the manifest:
//!    only the downward-API values (pod name, namespace, pod IP) are
//!    supplied here, and `$(VAR)` references are expanded as the kubelet
//!    does. Each pod runs in its own mount and UTS namespaces (`unshare`):
//!    its hostname is the pod name, a hosts file maps every pod's DNS name
//!    under the headless Service to the pod's own loopback address
//!    (127.X.Y.10+k, X.Y random so that runs do not collide), and its
//!    volume is a directory of the test mounted at the manifest's
//!    mountPath. Then: bootstrap, pod 1 recreated on its volume with a new
//!    IP, scaling to five and back to three by the README's procedure, and
//!    pod 0 losing its volume.
//!
//! Both need things a developer machine may lack (root and `unshare`; the
//! validator). Without them a test prints why and passes, unless `CI` is
//! set: there it fails, so CI never skips silently. `.ci/run` installs the
//! validator and sets `CI`.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chaos_tests::harness::{self, Launch, Proc, status, wait_cluster, wait_for};
use proto::v1 as pb;
use proto::v1::cluster_service_client::ClusterServiceClient;
use proto::v1::job_service_client::JobServiceClient;
use serde_json::Value;

const MANIFESTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/kubernetes");
/// The namespace the pods pretend to run in.
const NAMESPACE: &str = "scheduler-test";
/// The pretend cluster's DNS domain (Kubernetes' default).
const CLUSTER_DOMAIN: &str = "cluster.local";
/// Kubernetes versions to validate against: the oldest we support (gRPC
/// probes and the PVC retention policy are on by default from 1.27; 1.29 is
/// the oldest still maintained by the big providers) and the newest the
/// validator knows.
const K8S_VERSIONS: [&str; 2] = ["1.29.0", "1.37.0"];

/// Whether a test can run: `Err(why)` skips it, or fails it under CI.
fn runnable(test: &str, check: Result<(), String>) -> bool {
    match check {
        Ok(()) => true,
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("{test} cannot run, and CI is set so it may not be skipped: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED {test}: {why} (with CI set, this is a failure)");
            false
        }
    }
}

fn load(file: &str) -> Value {
    let path = Path::new(MANIFESTS).join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// The value at a dotted path (`spec.template.spec`); numbers index lists.
fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, key| {
        let next = match key.parse::<usize>() {
            Ok(i) => v.get(i),
            Err(_) => v.get(key),
        };
        next.unwrap_or_else(|| panic!("manifest has no {path} (missing at {key:?})"))
    })
}

fn text<'a>(v: &'a Value, path: &str) -> &'a str {
    at(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("manifest: {path} is not a string"))
}

fn list<'a>(v: &'a Value, path: &str) -> &'a Vec<Value> {
    at(v, path)
        .as_array()
        .unwrap_or_else(|| panic!("manifest: {path} is not a list"))
}

/// Expands `$(VAR)` as the kubelet does: a defined variable is replaced,
/// an undefined reference stays as written, and `$$` is a literal `$`.
fn expand(s: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(close) = tail.strip_prefix("$(").and_then(|t| t.find(')')) {
            let name = &tail[2..2 + close];
            match env.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&tail[..3 + close]),
            }
            rest = &tail[3 + close..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// What the StatefulSet gives each pod's schedulerd container.
struct StatefulSet {
    name: String,
    service: String,
    replicas: u64,
    container: Value,
    config_name: String,
    config: Vec<(String, String)>,
    /// Where the data volume is mounted.
    data_mount: String,
    /// The gRPC port and health service names of the probes.
    port: u16,
    ready_service: String,
    live_service: String,
}

impl StatefulSet {
    fn load() -> StatefulSet {
        let sts = load("statefulset.yaml");
        let cm = load("configmap.yaml");
        assert_eq!(text(&sts, "kind"), "StatefulSet");
        let containers = list(&sts, "spec.template.spec.containers");
        let container = containers
            .iter()
            .find(|c| c.get("name").and_then(Value::as_str) == Some("schedulerd"))
            .expect("statefulset.yaml: no container named schedulerd")
            .clone();
        assert!(
            container.get("command").is_none(),
            "the test runs the image's entrypoint (schedulerd) with the container's args; \
             a command in the manifest would bypass it"
        );
        let claim = text(&sts, "spec.volumeClaimTemplates.0.metadata.name");
        let data_mount = list(&container, "volumeMounts")
            .iter()
            .find(|m| m.get("name").and_then(Value::as_str) == Some(claim))
            .map(|m| text(m, "mountPath").to_string())
            .unwrap_or_else(|| panic!("the container does not mount the {claim} volume"));
        let port = |probe: &str| {
            at(&container, &format!("{probe}.grpc.port"))
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or_else(|| panic!("{probe}.grpc.port is not a port number"))
        };
        let service = |probe: &str| {
            container
                .get(probe)
                .and_then(|p| p.get("grpc"))
                .and_then(|g| g.get("service"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        assert_eq!(port("readinessProbe"), port("livenessProbe"));
        let config = at(&cm, "data")
            .as_object()
            .expect("configmap.yaml: data is not a map")
            .iter()
            .map(|(k, v)| {
                let v = v
                    .as_str()
                    .unwrap_or_else(|| panic!("configmap.yaml: data.{k} is not a string"));
                (k.clone(), v.to_string())
            })
            .collect();
        StatefulSet {
            name: text(&sts, "metadata.name").to_string(),
            service: text(&sts, "spec.serviceName").to_string(),
            replicas: at(&sts, "spec.replicas").as_u64().expect("spec.replicas"),
            port: port("readinessProbe"),
            ready_service: service("readinessProbe"),
            live_service: service("livenessProbe"),
            config_name: text(&cm, "metadata.name").to_string(),
            config,
            data_mount,
            container,
        }
    }

    fn pod_name(&self, k: u64) -> String {
        format!("{}-{k}", self.name)
    }

    /// The pod's DNS name under the headless Service.
    fn fqdn(&self, k: u64) -> String {
        format!(
            "{}.{}.{NAMESPACE}.svc.{CLUSTER_DOMAIN}",
            self.pod_name(k),
            self.service
        )
    }

    /// The container's environment for pod `k` at `ip`, as the kubelet
    /// builds it: envFrom first, then env in order (each value may refer to
    /// the variables before it).
    fn env(&self, k: u64, ip: &str) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = vec![
            // The image's PATH and the kubelet's HOSTNAME.
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOSTNAME".into(), self.pod_name(k)),
        ];
        if let Some(from) = self.container.get("envFrom").and_then(Value::as_array) {
            for source in from {
                let name = text(source, "configMapRef.name");
                assert_eq!(name, self.config_name, "envFrom names an unknown ConfigMap");
                env.extend(self.config.iter().cloned());
            }
        }
        for var in list(&self.container, "env") {
            let name = text(var, "name").to_string();
            let value = if let Some(v) = var.get("value").and_then(Value::as_str) {
                expand(v, &env)
            } else {
                match text(var, "valueFrom.fieldRef.fieldPath") {
                    "metadata.name" => self.pod_name(k),
                    "metadata.namespace" => NAMESPACE.to_string(),
                    "status.podIP" => ip.to_string(),
                    other => panic!("env {name}: the test cannot supply fieldRef {other}"),
                }
            };
            env.push((name, value));
        }
        env
    }

    fn args(&self, env: &[(String, String)]) -> Vec<String> {
        list(&self.container, "args")
            .iter()
            .map(|a| expand(a.as_str().expect("args are strings"), env))
            .collect()
    }
}

/// The pretend pod network: pod k at 127.X.Y.(10+k), or 127.X.Y.(20+k)
/// once it has been moved (a recreated pod gets a new IP), names in a hosts
/// file that every pod sees.
struct Net {
    base: String,
    hosts: PathBuf,
    root: PathBuf,
    names: Vec<String>,
    moved: std::collections::BTreeSet<u64>,
}

impl Net {
    fn new(root: &Path, sts: &StatefulSet, pods: u64) -> Net {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let r = h.finish();
        let net = Net {
            base: format!("127.{}.{}", 100 + r % 100, (r >> 8) % 250 + 1),
            hosts: root.join("hosts"),
            root: root.to_path_buf(),
            names: (0..pods)
                .map(|k| {
                    format!(
                        "{} {}.{} {}",
                        sts.fqdn(k),
                        sts.pod_name(k),
                        sts.service,
                        sts.pod_name(k)
                    )
                })
                .collect(),
            moved: Default::default(),
        };
        net.write_hosts();
        net
    }

    /// Rewrites the hosts file in place (same inode), so the pods' bind
    /// mounts see the change, as cluster DNS would serve it.
    fn write_hosts(&self) {
        let mut lines = String::from("127.0.0.1 localhost\n");
        for (k, names) in (0u64..).zip(&self.names) {
            lines.push_str(&format!("{} {names}\n", self.ip(k)));
        }
        std::fs::write(&self.hosts, lines).expect("write hosts file");
    }

    /// Pod `k` comes back with another IP.
    fn move_pod(&mut self, k: u64) {
        self.moved.insert(k);
        self.write_hosts();
    }

    fn ip(&self, k: u64) -> String {
        let offset = if self.moved.contains(&k) { 20 } else { 10 };
        format!("{}.{}", self.base, offset + k)
    }

    fn volume(&self, k: u64) -> PathBuf {
        self.root.join(format!("pvc-{k}"))
    }
}

/// Root and `unshare` with mount and UTS namespaces.
fn can_make_pods() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("pods need root (mount and UTS namespaces)".into());
    }
    let probe = Command::new("unshare")
        .args(["--mount", "--uts", "sh", "-c", "hostname probe-0"])
        .status()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if !probe.success() {
        return Err(format!("unshare --mount --uts does not work here: {probe}"));
    }
    Ok(())
}

/// Starts pod `k`: schedulerd with the container's args and env, as pod
/// `k`, on its volume.
fn start_pod(sts: &StatefulSet, net: &Net, k: u64) -> Proc {
    let ip = net.ip(k);
    let env = sts.env(k, &ip);
    let volume = net.volume(k);
    std::fs::create_dir_all(&volume).expect("create the pod's volume");
    let mount = Path::new(&sts.data_mount);
    let parent = mount
        .parent()
        .filter(|p| *p != Path::new("/"))
        .expect("the data volume's mountPath needs a parent below /");
    // A tmpfs over the mount point's parent, so the mount point can be
    // made without touching the host's filesystem.
    let script = r#"set -e
hostname "$1"
mount --bind "$2" /etc/hosts
mount -t tmpfs tmpfs "$3"
mkdir -p "$4"
mount --bind "$5" "$4"
shift 5
exec "$@""#;
    let mut args: Vec<String> = vec![
        "--mount".into(),
        "--uts".into(),
        "--propagation".into(),
        "private".into(),
        "sh".into(),
        "-c".into(),
        script.into(),
        "sh".into(),
        sts.pod_name(k),
        net.hosts.display().to_string(),
        parent.display().to_string(),
        sts.data_mount.clone(),
        volume.display().to_string(),
        env!("CARGO_BIN_EXE_schedulerd").into(),
    ];
    args.extend(sts.args(&env));
    let launch = Launch {
        program: "unshare".into(),
        args,
        env,
    };
    Proc::start_with(k + 1, &format!("{ip}:{}", sts.port), &volume, launch).expect("start a pod")
}

async fn health(addr: &str, service: &str) -> Option<i32> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .ok()?
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .await
        .ok()?;
    let r = HealthClient::new(ch)
        .check(HealthCheckRequest {
            service: service.to_string(),
        })
        .await
        .ok()?;
    Some(r.into_inner().status)
}

/// The README's scale-down step: `clusterctl leave --id N` through any pod.
async fn leave(addr: &str, id: u64) {
    wait_for(
        &format!("node {id} to be removed through {addr}"),
        || async {
            let mut c = ClusterServiceClient::connect(format!("http://{addr}"))
                .await
                .ok()?;
            match c.remove_member(pb::RemoveMemberRequest { id }).await {
                Ok(_) => Some(()),
                Err(s) if s.code() == tonic::Code::NotFound => Some(()),
                Err(_) => None,
            }
        },
    )
    .await
}

fn pinned_id(net: &Net, k: u64) -> Option<String> {
    std::fs::read_to_string(net.volume(k).join("node.id"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// An every-second job that posts to `url`.
fn every_second(id: &str, url: &str) -> pb::CreateJobRequest {
    let mut req = harness::daily_job(id);
    if let Some(spec) = req.job.as_mut() {
        spec.schedule = Some(pb::Schedule {
            kind: Some(pb::schedule::Kind::Cron("* * * * * *".into())),
        });
        spec.executor = Some(pb::Executor {
            kind: Some(pb::executor::Kind::Http(pb::HttpExecutor {
                url: url.to_string(),
                ..Default::default()
            })),
        });
    }
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_pods_bootstrap_restart_and_scale() {
    if !runnable(
        "statefulset_pods_bootstrap_restart_and_scale",
        can_make_pods(),
    ) {
        return;
    }
    let sts = StatefulSet::load();
    assert_eq!(sts.replicas, 3, "the StatefulSet runs three replicas");
    let root = tempfile::tempdir().expect("tempdir");
    let mut net = Net::new(root.path(), &sts, 5);
    let sink = chaos_tests::sink::Sink::start().await.expect("sink");

    // podManagementPolicy: Parallel, so all three start at once.
    let mut pods: BTreeMap<u64, Proc> = (0..3).map(|k| (k, start_pod(&sts, &net, k))).collect();
    let addr = |pods: &BTreeMap<u64, Proc>, k: u64| pods[&k].addr.clone();
    let s = wait_cluster(&addr(&pods, 0), &[1, 2, 3]).await;
    for m in &s.members {
        assert_eq!(
            m.addr,
            format!("{}:{}", sts.fqdn(m.id - 1), sts.port),
            "node {} does not advertise its pod's DNS name",
            m.id
        );
    }
    for k in 0..3 {
        // A joiner pins its id once its join returns, which may be just
        // after the membership that wait_cluster saw was committed.
        let want = (k + 1).to_string();
        let pinned = wait_for(&format!("pod {k} to pin its id"), || async {
            pinned_id(&net, k)
        })
        .await;
        assert_eq!(pinned, want, "pod {k}'s id");
        let a = addr(&pods, k);
        wait_for(
            &format!("pod {k} to pass its readiness and liveness probes"),
            || async {
                let ready = health(&a, &sts.ready_service).await? == 1;
                let live = health(&a, &sts.live_service).await? == 1;
                (ready && live).then_some(())
            },
        )
        .await;
    }

    let mut jobs = JobServiceClient::connect(format!("http://{}", addr(&pods, 2)))
        .await
        .expect("connect");
    jobs.create_job(every_second("tick", &sink.url()))
        .await
        .expect("create a job");
    let fired = |n: usize| {
        let sink = sink.clone();
        move || {
            let count = sink.hits().iter().filter(|h| h.accepted).count();
            async move { (count >= n).then_some(count) }
        }
    };
    let before = wait_for("three runs of the job at the sink", fired(3)).await;

    // Pod 1 is deleted (SIGTERM) and recreated on its volume, with a new
    // pod IP behind the same DNS name: its peers must find it again.
    let mut p1 = pods.remove(&1).expect("pod 1");
    let exit = p1.terminate(Duration::from_secs(30)).await;
    assert!(
        exit.is_some_and(|e| e.success()),
        "pod 1 did not stop cleanly: {exit:?}"
    );
    drop(p1);
    net.move_pod(1);
    pods.insert(1, start_pod(&sts, &net, 1));
    let a1 = addr(&pods, 1);
    wait_for(
        "pod 1 to rejoin as node 2, the same member, and serve the job",
        || async {
            let s = status(&a1).await?;
            let me = s.members.iter().find(|m| m.id == 2)?;
            let ids: Vec<u64> = s.members.iter().map(|m| m.id).collect();
            (s.leader.is_some() && me.healthy && me.voter && ids == [1, 2, 3]).then_some(())?;
            let mut c = JobServiceClient::connect(format!("http://{a1}"))
                .await
                .ok()?;
            c.get_job(pb::GetJobRequest { id: "tick".into() })
                .await
                .ok()
                .map(|_| ())
        },
    )
    .await;
    assert_eq!(pinned_id(&net, 1).as_deref(), Some("2"));
    // A write through pod 0 reaches pod 1 at its new IP: either it is
    // replicated there, or (if node 2 leads again) forwarded there.
    let c0 = JobServiceClient::connect(format!("http://{}", addr(&pods, 0)))
        .await
        .expect("connect");
    wait_for("a write through pod 0 after pod 1 moved", || {
        let mut c0 = c0.clone();
        async move {
            match c0.create_job(harness::daily_job("after-restart")).await {
                // A retry of a write whose answer was lost.
                Err(s) if s.code() == tonic::Code::AlreadyExists => Some(()),
                r => r.ok().map(|_| ()),
            }
        }
    })
    .await;
    wait_for("pod 1 at its new IP to serve the new write", || async {
        let mut c = JobServiceClient::connect(format!("http://{a1}"))
            .await
            .ok()?;
        c.get_job(pb::GetJobRequest {
            id: "after-restart".into(),
        })
        .await
        .ok()
        .map(|_| ())
    })
    .await;

    // kubectl scale --replicas=5: pods 3 and 4 start empty and join as voters.
    for k in 3..5 {
        pods.insert(k, start_pod(&sts, &net, k));
    }
    let s = wait_cluster(&addr(&pods, 0), &[1, 2, 3, 4, 5]).await;
    assert_eq!(s.members.len(), 5, "{s:?}");

    // Back to three, as the README says: leave, then scale (which stops the
    // highest ordinals first and, with whenScaled: Delete, drops their
    // volumes).
    for id in [5, 4] {
        leave(&addr(&pods, 1), id).await;
    }
    for k in [4, 3] {
        let mut p = pods.remove(&k).expect("pod");
        p.terminate(Duration::from_secs(30)).await;
        std::fs::remove_dir_all(net.volume(k)).expect("delete the PVC");
    }
    let s = wait_cluster(&addr(&pods, 0), &[1, 2, 3]).await;
    assert_eq!(s.members.len(), 3, "{s:?}");
    jobs.create_job(harness::daily_job("after-scale-down"))
        .await
        .expect("a write after scaling down");
    wait_for("more runs after scaling down", fired(before + 3)).await;

    // Pod 0 loses its volume. It must not bootstrap a second cluster, nor
    // come back as a voter with an empty log: it refuses and exits.
    let p0 = pods.get_mut(&0).expect("pod 0");
    p0.terminate(Duration::from_secs(30)).await;
    std::fs::remove_dir_all(net.volume(0)).expect("lose pod 0's volume");
    std::fs::create_dir_all(net.volume(0)).expect("a new, empty volume");
    p0.restart().expect("start pod 0 on an empty volume");
    let exit = wait_for("pod 0 to refuse to rejoin on an empty volume", || {
        let e = p0.exited();
        async move { e }
    })
    .await;
    assert!(!exit.success(), "pod 0 exited successfully: {exit}");
    let log = std::fs::read_to_string(net.volume(0).with_extension("log")).unwrap_or_default();
    assert!(
        log.contains("clusterctl leave --id 1"),
        "pod 0's error does not give the procedure:\n{log}"
    );
    let a2 = addr(&pods, 2);
    let s = wait_cluster(&a2, &[1, 2, 3]).await;
    assert!(s.leader.is_some_and(|l| l != 1), "{s:?}");
    // The procedure: remove the old member; the restarted pod joins as new.
    leave(&a2, 1).await;
    let p0 = pods.get_mut(&0).expect("pod 0");
    p0.restart().expect("restart pod 0");
    let a0 = p0.addr.clone();
    wait_cluster(&a0, &[1, 2, 3]).await;
    wait_for("pod 0 to serve the jobs again", || async {
        let mut c = JobServiceClient::connect(format!("http://{a0}"))
            .await
            .ok()?;
        c.get_job(pb::GetJobRequest {
            id: "after-scale-down".into(),
        })
        .await
        .ok()
        .map(|_| ())
    })
    .await;
}

/// The validator: `$KUBERNETES_VALIDATE` (set by `.ci/run`), else
/// `kubernetes-validate` on the PATH.
fn validator() -> Result<PathBuf, String> {
    let exe = std::env::var_os("KUBERNETES_VALIDATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("kubernetes-validate"));
    match Command::new(&exe).arg("--version").output() {
        Ok(o) if o.status.success() => Ok(exe),
        Ok(o) => Err(format!("{} --version failed: {}", exe.display(), o.status)),
        Err(e) => Err(format!(
            "{} is not installed ({e}); `bash .ci/run` installs it, or \
             `pip install kubernetes-validate`",
            exe.display()
        )),
    }
}

/// The Kubernetes objects: every YAML file but the kustomization.
fn resource_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(MANIFESTS)
        .expect("deploy/kubernetes")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .collect();
    files.sort();
    files
}

fn validate(exe: &Path, version: &str, files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(exe)
        .args(["--strict", "--quiet", "-k", version])
        .args(files)
        .output()
        .expect("run the validator");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn manifests_pass_strict_schema_validation_and_broken_ones_fail() {
    let exe = match validator() {
        Ok(exe) => exe,
        Err(why) => {
            runnable("manifests_pass_strict_schema_validation", Err(why));
            return;
        }
    };
    let files = resource_files();
    assert!(files.len() >= 5, "expected the five manifests: {files:?}");
    for version in K8S_VERSIONS {
        let (ok, out) = validate(&exe, version, &files);
        assert!(
            ok,
            "the manifests do not validate against Kubernetes {version}:\n{out}"
        );
    }
    // Not vacuous: a misspelt field and a wrong type are rejected.
    let sts = std::fs::read_to_string(Path::new(MANIFESTS).join("statefulset.yaml"))
        .expect("statefulset.yaml");
    let dir = tempfile::tempdir().expect("tempdir");
    for (what, from, to) in [
        (
            "a misspelt field",
            "podManagementPolicy:",
            "podManagmentPolicy:",
        ),
        ("a wrong type", "replicas: 3", "replicas: three"),
        (
            "a field in the wrong place",
            "      terminationGracePeriodSeconds:",
            "      terminationGracePeriod:",
        ),
    ] {
        assert!(sts.contains(from), "statefulset.yaml lacks {from:?}");
        let bad = dir.path().join("statefulset.yaml");
        std::fs::write(&bad, sts.replacen(from, to, 1)).expect("write");
        let (ok, out) = validate(&exe, K8S_VERSIONS[0], &[bad]);
        assert!(!ok, "the validator accepted {what}:\n{out}");
    }
}

#[test]
fn kustomization_lists_every_manifest() {
    let k = load("kustomization.yaml");
    let mut listed: Vec<String> = list(&k, "resources")
        .iter()
        .map(|r| r.as_str().expect("a file name").to_string())
        .collect();
    listed.sort();
    let mut files: Vec<String> = resource_files()
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    files.sort();
    assert_eq!(listed, files);
}

#[test]
fn manifests_keep_the_promises_of_the_design() {
    let sts = load("statefulset.yaml");
    let pod = at(&sts, "spec.template.spec");
    let c = &list(pod, "containers")[0];
    assert_eq!(at(&sts, "spec.replicas"), 3);
    assert_eq!(text(&sts, "spec.podManagementPolicy"), "Parallel");
    assert_eq!(text(&sts, "spec.serviceName"), "scheduler-peers");
    assert_eq!(at(pod, "securityContext.runAsNonRoot"), true);
    assert_eq!(at(c, "securityContext.readOnlyRootFilesystem"), true);
    assert_eq!(at(c, "securityContext.allowPrivilegeEscalation"), false);
    assert!(at(pod, "terminationGracePeriodSeconds").as_u64() >= Some(10));
    assert!(at(c, "readinessProbe.grpc.port").is_u64());
    assert!(at(c, "resources.requests").is_object());
    let peers = load("service-peers.yaml");
    assert_eq!(at(&peers, "spec.clusterIP"), "None");
    assert_eq!(at(&peers, "spec.publishNotReadyAddresses"), true);
    let pdb = load("pdb.yaml");
    assert_eq!(at(&pdb, "spec.maxUnavailable"), 1);
}

#[test]
fn expansion_follows_the_kubelet() {
    let env = vec![
        ("A".to_string(), "x".to_string()),
        ("B".to_string(), "$(A)".to_string()),
    ];
    assert_eq!(expand("$(A):1", &env), "x:1");
    assert_eq!(expand("$(C)-$(A)", &env), "$(C)-x");
    assert_eq!(expand("$$(A) $", &env), "$(A) $");
    assert_eq!(expand("$(A", &env), "$(A");
}
