//! The Kubernetes deployment, tested without Kubernetes.
//!
//! `deploy/kubernetes/base/` is the StatefulSet without TLS;
//! `deploy/kubernetes/overlays/secure/` patches it for TLS with cert-manager
//! certificates. Both are rendered here as `kubectl kustomize` renders them
//! ([`render`]: resources, images, JSON patches, namespace; anything else
//! panics), and what the pods run is read from the rendered objects.
//!
//! 1. The base's manifests pass schema validation with `kubernetes-validate`
//!    (strict: unknown fields are errors), and a broken copy does not, so
//!    the check is not vacuous. The rendered overlay's Kubernetes objects
//!    pass it too; its cert-manager objects (which the validator has no
//!    schema for) pass a structural check of their own
//!    ([`check_cert_manager`]): the issuers chain, one certificate per pod
//!    with its DNS names and its node id, mounted as a directory.
//! 2. Pods are real `schedulerd` processes started with exactly the args and
//!    env that the StatefulSet gives its container, read from the rendered
//!    manifest: only the downward-API values (pod name, namespace, pod IP)
//!    are supplied here, and `$(VAR)` references are expanded as the kubelet
//!    does. Each pod runs in its own mount and UTS namespaces (`unshare`):
//!    its hostname is the pod name, a hosts file maps every pod's DNS name
//!    under the headless Service to the pod's own loopback address
//!    (127.X.Y.10+k, X.Y random so that runs do not collide), its data
//!    volume is a directory of the test mounted at the manifest's
//!    mountPath, and each Secret volume a directory laid out as the kubelet
//!    lays it out (the manifest's `items`, `..data` swapped atomically on an
//!    update). The base: bootstrap, pod 1 recreated on its volume with a new
//!    IP, scaling to five and back to three by the README's procedure, and
//!    pod 0 losing its volume. The secure overlay: certificates made per
//!    test with `node::tls::certgen` from the overlay's Certificates (as
//!    cert-manager would issue them), the cluster forms over mutual TLS, a
//!    client with the CA works by every name the certificates promise, a
//!    plaintext client is refused, the probes answer by the readiness rule,
//!    and a renewed certificate reaches a running pod.
//!
//! Both need things a developer machine may lack (root and `unshare`; the
//! validator). Without them a test prints why and passes, unless `CI` is
//! set: there it fails, so CI never skips silently. `.ci/run` installs the
//! validator and sets `CI`.

use std::collections::BTreeMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use chaos_tests::harness::{self, Launch, Proc, status, wait_cluster, wait_for};
use node::tls::certgen::{Ca, Leaf, Validity};
use proto::v1 as pb;
use proto::v1::acl_service_client::AclServiceClient;
use proto::v1::cluster_service_client::ClusterServiceClient;
use proto::v1::job_service_client::JobServiceClient;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Deserialize;
use serde_json::Value;
use tonic::transport::{Channel, Endpoint};

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/kubernetes");
/// The namespace the base's pods pretend to run in (the base sets none;
/// the secure overlay's is its own).
const NAMESPACE: &str = "scheduler-test";
/// The pretend cluster's DNS domain (Kubernetes' default).
const CLUSTER_DOMAIN: &str = "cluster.local";
/// Kubernetes versions to validate against: the oldest we support (gRPC
/// probes and the PVC retention policy are on by default from 1.27; 1.29 is
/// the oldest still maintained by the big providers) and the newest the
/// validator knows.
const K8S_VERSIONS: [&str; 2] = ["1.29.0", "1.37.0"];
/// cert-manager's API group: objects the validator has no schema for.
const CERT_MANAGER: &str = "cert-manager.io/v1";

fn base_dir() -> PathBuf {
    Path::new(DEPLOY).join("base")
}

fn secure_dir() -> PathBuf {
    Path::new(DEPLOY).join("overlays").join("secure")
}

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

/// Every document of a YAML file (empty ones skipped).
fn load_all(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            Value::deserialize(doc).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// A one-document YAML file.
fn load_file(path: &Path) -> Value {
    let mut docs = load_all(path);
    assert_eq!(docs.len(), 1, "{}: expected one document", path.display());
    docs.remove(0)
}

/// A file of the base, as it is (not rendered).
fn load(file: &str) -> Value {
    load_file(&base_dir().join(file))
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

fn strings(v: &Value, path: &str) -> Vec<String> {
    list(v, path)
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("manifest: {path} holds a non-string"))
                .to_string()
        })
        .collect()
}

fn kind(o: &Value) -> &str {
    text(o, "kind")
}

fn name(o: &Value) -> &str {
    text(o, "metadata.name")
}

/// A kustomization, rendered as `kubectl kustomize` renders it.
struct Rendered {
    /// Its `namespace:`, if it sets one.
    namespace: Option<String>,
    objects: Vec<Value>,
}

/// Renders the kustomization in `dir` for the features these manifests
/// use: `resources` (YAML files of one or more documents, and directories
/// holding a kustomization, rendered first), `images` (name, newName,
/// newTag), `patches` (a JSON patch from a file, with a target) and
/// `namespace`. Any other field panics, so a feature that the manifests
/// start to use cannot be ignored here by accident.
/// `the_renderer_agrees_with_kubectl_kustomize` compares it with kustomize
/// where `kubectl` is installed.
fn render(dir: &Path) -> Rendered {
    let k = load_file(&dir.join("kustomization.yaml"));
    let fields = k.as_object().expect("a kustomization is a map");
    for field in fields.keys() {
        assert!(
            [
                "apiVersion",
                "kind",
                "namespace",
                "resources",
                "images",
                "patches"
            ]
            .contains(&field.as_str()),
            "{}: the test's renderer does not know `{field}`: teach render() in \
             node/tests/statefulset.rs",
            dir.display()
        );
    }
    assert_eq!(kind(&k), "Kustomization");
    let mut objects = Vec::new();
    for r in strings(&k, "resources") {
        let path = dir.join(&r);
        if path.is_dir() {
            objects.extend(render(&path).objects);
        } else {
            objects.extend(load_all(&path));
        }
    }
    if let Some(images) = k.get("images") {
        for image in images.as_array().expect("images is a list") {
            set_image(&mut objects, image);
        }
    }
    if let Some(patches) = k.get("patches") {
        for patch in patches.as_array().expect("patches is a list") {
            apply_patch(dir, patch, &mut objects);
        }
    }
    let namespace = k
        .get("namespace")
        .map(|n| n.as_str().expect("namespace is a string").to_string());
    if let Some(ns) = &namespace {
        for o in &mut objects {
            assert!(
                [
                    "ConfigMap",
                    "Service",
                    "StatefulSet",
                    "PodDisruptionBudget",
                    "Certificate",
                    "Issuer"
                ]
                .contains(&kind(o)),
                "the renderer does not know whether {} is namespaced",
                kind(o)
            );
            o["metadata"]["namespace"] = Value::String(ns.clone());
        }
    }
    Rendered { namespace, objects }
}

/// kustomize's `images` transformer: containers whose image is `name`
/// (with any tag) get `newName:newTag`.
fn set_image(objects: &mut [Value], image: &Value) {
    for field in image.as_object().expect("an image is a map").keys() {
        assert!(
            ["name", "newName", "newTag"].contains(&field.as_str()),
            "images: the renderer does not know `{field}`"
        );
    }
    let from = text(image, "name");
    for o in objects.iter_mut() {
        let Some(pod) = o.pointer_mut("/spec/template/spec") else {
            continue;
        };
        for list in ["containers", "initContainers"] {
            let Some(containers) = pod.get_mut(list).and_then(Value::as_array_mut) else {
                continue;
            };
            for c in containers {
                let current = c["image"].as_str().unwrap_or_default().to_string();
                let (old_name, old_tag) = match current.rsplit_once(':') {
                    Some((n, t)) if !t.contains('/') => (n.to_string(), Some(t.to_string())),
                    _ => (current.clone(), None),
                };
                if old_name != from {
                    continue;
                }
                let new_name = image
                    .get("newName")
                    .and_then(Value::as_str)
                    .unwrap_or(&old_name);
                let new_tag = image
                    .get("newTag")
                    .and_then(Value::as_str)
                    .map(String::from)
                    .or(old_tag);
                c["image"] = Value::String(match new_tag {
                    Some(t) => format!("{new_name}:{t}"),
                    None => new_name.to_string(),
                });
            }
        }
    }
}

/// A `patches:` entry: a JSON patch file applied to the objects its target
/// names (at least one).
fn apply_patch(dir: &Path, patch: &Value, objects: &mut [Value]) {
    for field in patch.as_object().expect("a patch is a map").keys() {
        assert!(
            ["path", "target"].contains(&field.as_str()),
            "patches: the renderer knows only a JSON patch in a file with a target, not `{field}`"
        );
    }
    let file = dir.join(text(patch, "path"));
    let ops = load_file(&file);
    let ops = ops.as_array().unwrap_or_else(|| {
        panic!(
            "{}: the renderer knows only JSON patches (a list of operations)",
            file.display()
        )
    });
    let target = at(patch, "target");
    for field in target.as_object().expect("a target is a map").keys() {
        assert!(
            ["group", "version", "kind", "name"].contains(&field.as_str()),
            "patch target: the renderer does not select by `{field}`"
        );
    }
    let wants = |o: &Value| {
        let api = text(o, "apiVersion");
        let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
        [
            ("group", group),
            ("version", version),
            ("kind", kind(o)),
            ("name", name(o)),
        ]
        .iter()
        .all(|(field, have)| target.get(*field).is_none_or(|w| w == *have))
    };
    let mut matched = 0;
    for o in objects.iter_mut().filter(|o| wants(o)) {
        json_patch(o, ops, &file.display().to_string());
        matched += 1;
    }
    assert!(
        matched > 0,
        "{}: its target matches nothing",
        file.display()
    );
}

/// Applies RFC 6902 operations (`test`, `add`, `replace`, `remove`).
fn json_patch(doc: &mut Value, ops: &[Value], what: &str) {
    fn unescape(token: &str) -> String {
        token.replace("~1", "/").replace("~0", "~")
    }
    for op in ops {
        let path = text(op, "path");
        let value = || at(op, "value").clone();
        match text(op, "op") {
            "test" => {
                let found = doc.pointer(path);
                assert_eq!(
                    found,
                    Some(&value()),
                    "{what}: `test` of {path} fails: the base has {found:?}"
                );
            }
            "replace" => {
                let slot = doc
                    .pointer_mut(path)
                    .unwrap_or_else(|| panic!("{what}: replace {path}: no such value"));
                *slot = value();
            }
            "add" | "remove" => {
                let (parent, last) = path
                    .rsplit_once('/')
                    .unwrap_or_else(|| panic!("{what}: bad path {path}"));
                let last = unescape(last);
                let adding = text(op, "op") == "add";
                let parent = doc
                    .pointer_mut(parent)
                    .unwrap_or_else(|| panic!("{what}: {path}: no parent"));
                match (parent, adding) {
                    (Value::Array(a), true) if last == "-" => a.push(value()),
                    (Value::Array(a), adding) => {
                        let i: usize = last
                            .parse()
                            .unwrap_or_else(|_| panic!("{what}: {path}: not an index"));
                        assert!(i <= a.len() && (adding || i < a.len()), "{what}: {path}");
                        if adding {
                            a.insert(i, value());
                        } else {
                            a.remove(i);
                        }
                    }
                    (Value::Object(m), true) => {
                        m.insert(last, value());
                    }
                    (Value::Object(m), false) => {
                        m.remove(&last)
                            .unwrap_or_else(|| panic!("{what}: remove {path}: no such value"));
                    }
                    _ => panic!("{what}: {path}: the parent is not a list or a map"),
                }
            }
            other => panic!("{what}: the renderer does not know op {other}"),
        }
    }
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

/// A probe as the kubelet runs it.
#[derive(Debug)]
enum Probe {
    /// gRPC health, plaintext (the kubelet's gRPC probes cannot do TLS):
    /// passes when the service is SERVING.
    Grpc { port: u16, service: String },
    /// HTTP GET: passes on a status from 200 to 399.
    Http { port: u16, path: String },
    /// A TCP connection: passes when it is accepted.
    Tcp { port: u16 },
}

impl Probe {
    fn read(container: &Value, which: &str) -> Probe {
        let probe = at(container, which);
        let handlers: Vec<&String> = probe
            .as_object()
            .expect("a probe is a map")
            .keys()
            .filter(|k| ["grpc", "httpGet", "tcpSocket", "exec"].contains(&k.as_str()))
            .collect();
        assert_eq!(handlers.len(), 1, "{which} needs exactly one handler");
        let port = |v: &Value| port_of(container, at(v, "port"));
        if let Some(g) = probe.get("grpc") {
            Probe::Grpc {
                port: port(g),
                service: g
                    .get("service")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            }
        } else if let Some(h) = probe.get("httpGet") {
            assert!(
                h.get("scheme").is_none_or(|s| s == "HTTP"),
                "{which}: the test probes plain HTTP only"
            );
            Probe::Http {
                port: port(h),
                path: text(h, "path").to_string(),
            }
        } else if let Some(t) = probe.get("tcpSocket") {
            Probe::Tcp { port: port(t) }
        } else {
            panic!("{which}: the test cannot run an exec probe")
        }
    }

    /// Whether the kubelet would count this probe of the pod at `ip` a
    /// success.
    async fn passes(&self, ip: &str) -> bool {
        match self {
            Probe::Grpc { port, service } => {
                health(&format!("{ip}:{port}"), service).await == Some(1)
            }
            Probe::Http { port, path } => http_get(&format!("{ip}:{port}"), path)
                .await
                .is_some_and(|s| (200..400).contains(&s)),
            Probe::Tcp { port } => tokio::time::timeout(
                Duration::from_secs(3),
                tokio::net::TcpStream::connect(format!("{ip}:{port}")),
            )
            .await
            .is_ok_and(|c| c.is_ok()),
        }
    }
}

/// A container port, by number or by name.
fn port_of(container: &Value, port: &Value) -> u16 {
    if let Some(n) = port.as_u64() {
        return u16::try_from(n).expect("a port number");
    }
    let wanted = port.as_str().expect("a port is a number or a name");
    list(container, "ports")
        .iter()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(wanted))
        .and_then(|p| p.get("containerPort").and_then(Value::as_u64))
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("the container has no port named {wanted}"))
}

/// The status code of `GET path` at `addr` (HTTP/1.1, as the kubelet asks).
async fn http_get(addr: &str, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ask = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-probe/1.29\r\n\
             Connection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await.ok()?;
        let answer = String::from_utf8_lossy(&answer);
        answer.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(3), ask)
        .await
        .ok()
        .flatten()
}

/// A Secret volume the container mounts.
#[derive(Clone, Debug)]
struct SecretMount {
    volume: String,
    mount_path: String,
    secret: String,
    /// Secret key -> file path in the directory.
    items: Vec<(String, String)>,
    mode: u32,
}

/// What the StatefulSet gives each pod's schedulerd container.
struct StatefulSet {
    name: String,
    service: String,
    namespace: String,
    replicas: u64,
    container: Value,
    config_name: String,
    config: Vec<(String, String)>,
    /// Where the data volume is mounted.
    data_mount: String,
    /// The Secret volumes, mounted as directories.
    secrets: Vec<SecretMount>,
    /// The container's gRPC port.
    port: u16,
    readiness: Probe,
    liveness: Probe,
    startup: Probe,
}

impl StatefulSet {
    /// The base's StatefulSet, in [`NAMESPACE`].
    fn load() -> StatefulSet {
        StatefulSet::from_objects(&render(&base_dir()).objects, NAMESPACE)
    }

    /// The StatefulSet among rendered `objects`, its pods in `namespace`.
    fn from_objects(objects: &[Value], namespace: &str) -> StatefulSet {
        let one = |k: &str| {
            let found: Vec<&Value> = objects.iter().filter(|o| kind(o) == k).collect();
            assert_eq!(found.len(), 1, "expected one {k}");
            found[0]
        };
        let sts = one("StatefulSet");
        let cm = one("ConfigMap");
        if let Some(ns) = sts.pointer("/metadata/namespace") {
            assert_eq!(ns, namespace);
        }
        let pod = at(sts, "spec.template.spec");
        let containers = list(pod, "containers");
        let container = containers
            .iter()
            .find(|c| c.get("name").and_then(Value::as_str) == Some("schedulerd"))
            .expect("the StatefulSet has no container named schedulerd")
            .clone();
        assert!(
            container.get("command").is_none(),
            "the test runs the image's entrypoint (schedulerd) with the container's args; \
             a command in the manifest would bypass it"
        );
        let claim = text(sts, "spec.volumeClaimTemplates.0.metadata.name");
        let volumes = pod
            .get("volumes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut data_mount = None;
        let mut secrets = Vec::new();
        for m in list(&container, "volumeMounts") {
            let volume = text(m, "name");
            let mount_path = text(m, "mountPath").to_string();
            assert!(
                m.get("subPath").is_none() && m.get("subPathExpr").is_none(),
                "{volume} is mounted with a subPath: updates of its files would not reach \
                 the pod"
            );
            if volume == claim {
                data_mount = Some(mount_path);
                continue;
            }
            let v = volumes
                .iter()
                .find(|v| name_of(v) == volume)
                .unwrap_or_else(|| panic!("volumeMounts names an unknown volume {volume}"));
            if v.get("emptyDir").is_some() {
                // Scratch space (/tmp): the pods of the test do not need it.
                continue;
            }
            let secret = v
                .get("secret")
                .unwrap_or_else(|| panic!("volume {volume}: the test knows emptyDir and secret"));
            let items = match secret.get("items") {
                Some(items) => items
                    .as_array()
                    .expect("items is a list")
                    .iter()
                    .map(|i| (text(i, "key").to_string(), text(i, "path").to_string()))
                    .collect(),
                None => panic!("volume {volume}: the test needs the Secret's items"),
            };
            let mode = secret
                .get("defaultMode")
                .map(|m| m.as_u64().expect("defaultMode is a number"))
                .unwrap_or(0o644);
            secrets.push(SecretMount {
                volume: volume.to_string(),
                mount_path,
                secret: text(secret, "secretName").to_string(),
                items,
                mode: u32::try_from(mode).expect("a file mode"),
            });
        }
        let data_mount =
            data_mount.unwrap_or_else(|| panic!("the container does not mount the {claim} volume"));
        let config = at(cm, "data")
            .as_object()
            .expect("the ConfigMap's data is not a map")
            .iter()
            .map(|(k, v)| {
                let v = v
                    .as_str()
                    .unwrap_or_else(|| panic!("ConfigMap: data.{k} is not a string"));
                (k.clone(), v.to_string())
            })
            .collect();
        let grpc = serde_json::json!("grpc");
        StatefulSet {
            name: name(sts).to_string(),
            service: text(sts, "spec.serviceName").to_string(),
            namespace: namespace.to_string(),
            replicas: at(sts, "spec.replicas").as_u64().expect("spec.replicas"),
            port: port_of(&container, &grpc),
            readiness: Probe::read(&container, "readinessProbe"),
            liveness: Probe::read(&container, "livenessProbe"),
            startup: Probe::read(&container, "startupProbe"),
            config_name: name(cm).to_string(),
            config,
            data_mount,
            secrets,
            container,
        }
    }

    fn pod_name(&self, k: u64) -> String {
        format!("{}-{k}", self.name)
    }

    /// The pod's DNS name under the headless Service.
    fn fqdn(&self, k: u64) -> String {
        format!(
            "{}.{}.{}.svc.{CLUSTER_DOMAIN}",
            self.pod_name(k),
            self.service,
            self.namespace
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
                    "metadata.namespace" => self.namespace.clone(),
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

    /// The value of flag `--name` in pod `k`'s args (`--name=V` or
    /// `--name V`).
    fn flag(&self, k: u64, flag: &str) -> Option<String> {
        let args = self.args(&self.env(k, "0.0.0.0"));
        let eq = format!("{flag}=");
        args.iter().enumerate().find_map(|(i, a)| {
            a.strip_prefix(&eq)
                .map(String::from)
                .or_else(|| (a == flag).then(|| args.get(i + 1).cloned()).flatten())
        })
    }
}

fn name_of(v: &Value) -> &str {
    v.get("name").and_then(Value::as_str).unwrap_or_default()
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

    /// The directory behind a Secret volume (the same for every pod: they
    /// all see one Secret).
    fn secret_volume(&self, volume: &str) -> PathBuf {
        self.root.join("secrets").join(volume)
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
/// `k`, on its volume, with the Secret volumes at their mountPaths.
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
    // A tmpfs over the data mount point's parent, so the mount points can
    // be made without touching the host's filesystem; every mount must be
    // below it.
    let mut mounts = vec![(sts.data_mount.clone(), volume.clone(), "rw")];
    for s in &sts.secrets {
        assert!(
            Path::new(&s.mount_path).starts_with(parent),
            "the test can make mount points only below {} (a tmpfs there), not {}",
            parent.display(),
            s.mount_path
        );
        mounts.push((s.mount_path.clone(), net.secret_volume(&s.volume), "ro"));
    }
    let script = r#"set -e
hostname "$1"
mount --bind "$2" /etc/hosts
mount -t tmpfs tmpfs "$3"
shift 3
while [ "$1" != "--" ]; do
  mkdir -p "$1"
  mount --bind "$2" "$1"
  if [ "$3" = ro ]; then mount -o remount,bind,ro "$1"; fi
  shift 3
done
shift
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
    ];
    for (target, source, mode) in mounts {
        args.extend([target, source.display().to_string(), mode.to_string()]);
    }
    args.push("--".into());
    args.push(env!("CARGO_BIN_EXE_schedulerd").into());
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
        let ip = net.ip(k);
        wait_for(
            &format!("pod {k} to pass its readiness, liveness and startup probes"),
            || async {
                let ready = sts.readiness.passes(&ip).await;
                let live = sts.liveness.passes(&ip).await;
                let started = sts.startup.passes(&ip).await;
                (ready && live && started).then_some(())
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
    // The others elect a new leader once pod 0's lease has run out.
    wait_for(
        "pods 1 and 2 to elect a leader other than pod 0",
        || async {
            let s = harness::status(&a2).await?;
            s.leader.filter(|l| *l != 1).map(|_| ())
        },
    )
    .await;
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

/// The base's Kubernetes objects: every YAML file but the kustomization.
fn resource_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(base_dir())
        .expect("deploy/kubernetes/base")
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
    // A kind it has no schema for is only a warning: count it a failure,
    // so that nothing passes unchecked.
    let unchecked = text.contains("Couldn't find schema");
    (out.status.success() && !unchecked, text)
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
    let sts =
        std::fs::read_to_string(base_dir().join("statefulset.yaml")).expect("statefulset.yaml");
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

// ---------------------------------------------------------------------------
// The secure overlay (deploy/kubernetes/overlays/secure): cert-manager
// certificates, TLS, probes that work with TLS.
// ---------------------------------------------------------------------------

fn cert_manager_objects<'a>(objects: &'a [Value], k: &'a str) -> impl Iterator<Item = &'a Value> {
    objects
        .iter()
        .filter(move |o| text(o, "apiVersion") == CERT_MANAGER && kind(o) == k)
}

/// The Services with a cluster IP (not the headless one).
fn client_services(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .filter(|o| kind(o) == "Service")
        .filter(|o| o.pointer("/spec/clusterIP").and_then(Value::as_str) != Some("None"))
        .map(|o| name(o).to_string())
        .collect()
}

/// The cert-manager objects of the rendered overlay, checked by structure
/// (the validator has no schema for them): a self-signed Issuer signs the
/// CA Certificate, a CA Issuer signs with its Secret, and each pod `k` of
/// the StatefulSet reads (its `--tls-dir`) a Secret volume, mounted as a
/// directory with the file names schedulerd reads, of a Certificate from
/// the CA Issuer that names the pod's DNS names and its node id. Returns
/// the CA Certificate and each pod's Certificate.
fn check_cert_manager(objects: &[Value], sts: &StatefulSet) -> (Value, BTreeMap<u64, Value>) {
    for o in objects
        .iter()
        .filter(|o| text(o, "apiVersion").starts_with("cert-manager.io/"))
    {
        assert_eq!(text(o, "apiVersion"), CERT_MANAGER, "{}", name(o));
        assert!(
            ["Issuer", "Certificate"].contains(&kind(o)),
            "unexpected cert-manager kind {}",
            kind(o)
        );
        assert_eq!(
            o.pointer("/metadata/namespace").and_then(Value::as_str),
            Some(sts.namespace.as_str()),
            "{} {} is not in the StatefulSet's namespace",
            kind(o),
            name(o)
        );
    }
    let issuers: Vec<&Value> = cert_manager_objects(objects, "Issuer").collect();
    let certificates: Vec<&Value> = cert_manager_objects(objects, "Certificate").collect();
    let issued_by = |c: &Value, issuer: &Value| {
        let r = at(c, "spec.issuerRef");
        text(r, "name") == name(issuer)
            && r.get("kind").is_none_or(|k| k == "Issuer")
            && r.get("group").is_none_or(|g| g == "cert-manager.io")
    };
    let self_signed: Vec<&&Value> = issuers
        .iter()
        .filter(|i| i.pointer("/spec/selfSigned").is_some())
        .collect();
    assert_eq!(self_signed.len(), 1, "one self-signed bootstrap Issuer");
    let ca_certs: Vec<&&Value> = certificates
        .iter()
        .filter(|c| c.pointer("/spec/isCA") == Some(&Value::Bool(true)))
        .collect();
    assert_eq!(ca_certs.len(), 1, "one CA Certificate");
    let ca_cert = *ca_certs[0];
    assert!(
        issued_by(ca_cert, self_signed[0]),
        "the CA Certificate is not signed by the self-signed Issuer"
    );
    let ca_secret = text(ca_cert, "spec.secretName");
    let ca_issuers: Vec<&&Value> = issuers
        .iter()
        .filter(|i| i.pointer("/spec/ca/secretName").and_then(Value::as_str) == Some(ca_secret))
        .collect();
    assert_eq!(ca_issuers.len(), 1, "one CA Issuer using {ca_secret}");
    let ca_issuer = *ca_issuers[0];
    assert!(
        sts.secrets.iter().all(|s| s.secret != ca_secret),
        "a pod mounts the CA's Secret {ca_secret}: the CA key must stay out of the pods"
    );

    let mut per_pod = BTreeMap::new();
    for k in 0..sts.replicas {
        let pod = sts.pod_name(k);
        let tls_dir = sts
            .flag(k, "--tls-dir")
            .unwrap_or_else(|| panic!("pod {pod} has no --tls-dir"));
        let mount = sts
            .secrets
            .iter()
            .find(|s| s.mount_path == tls_dir)
            .unwrap_or_else(|| panic!("pod {pod}: nothing is mounted at its --tls-dir {tls_dir}"));
        for (key, file) in [
            ("ca.crt", node::tls::CA_FILE),
            ("tls.crt", node::tls::CERT_FILE),
            ("tls.key", node::tls::KEY_FILE),
        ] {
            assert!(
                mount.items.contains(&(key.to_string(), file.to_string())),
                "pod {pod}: its Secret volume does not map {key} to {file}: {:?}",
                mount.items
            );
        }
        let mine: Vec<&&Value> = certificates
            .iter()
            .filter(|c| text(c, "spec.secretName") == mount.secret)
            .collect();
        assert_eq!(
            mine.len(),
            1,
            "pod {pod}: one Certificate writes {}",
            mount.secret
        );
        let c = *mine[0];
        assert!(
            issued_by(c, ca_issuer),
            "{}: not issued by the CA Issuer",
            name(c)
        );
        assert!(c.pointer("/spec/isCA").is_none_or(|v| v == false));
        let dns = strings(c, "spec.dnsNames");
        let short = format!("{pod}.{}", sts.service);
        let mut wanted = vec![
            sts.fqdn(k),
            format!("{short}.{}.svc", sts.namespace),
            format!("{short}.{}", sts.namespace),
            short.clone(),
        ];
        // The client Services' names: clients reach any pod through them.
        for service in client_services(objects) {
            wanted.push(format!("{service}.{}.svc.{CLUSTER_DOMAIN}", sts.namespace));
            wanted.push(format!("{service}.{}.svc", sts.namespace));
        }
        for want in wanted {
            assert!(
                dns.contains(&want),
                "{}: no DNS name {want}: {dns:?}",
                name(c)
            );
        }
        // The name it advertises to its peers is one of them.
        let advertise = sts.flag(k, "--advertise").expect("--advertise");
        let host = advertise
            .rsplit_once(':')
            .map_or(advertise.as_str(), |h| h.0);
        assert!(dns.iter().any(|d| d == host), "{}: no {host}", name(c));
        // The node id, as schedulerd derives it from the hostname.
        let id = node::config::id_from_hostname(&pod).expect("a pod's node id");
        assert_eq!(
            strings(c, "spec.uris"),
            [node::tls::CertIdentity::Node(id).uri()],
            "{}: the SAN URI must name node {id}",
            name(c)
        );
        let usages = strings(c, "spec.usages");
        for want in ["server auth", "client auth"] {
            assert!(usages.iter().any(|u| u == want), "{}: no {want}", name(c));
        }
        per_pod.insert(k, c.clone());
    }
    (ca_cert.clone(), per_pod)
}

/// A Secret's data.
type SecretData = BTreeMap<String, Vec<u8>>;

/// What cert-manager puts into the Secret of `cert`, a Certificate signed
/// by the CA Issuer: `tls.crt` (a certificate with the spec's DNS names and
/// SAN URI), `tls.key` and `ca.crt`. Made with certgen, as `clusterctl
/// certs node` makes them.
fn issue(cert: &Value, ca: &Ca) -> (Leaf, SecretData) {
    let uris = strings(cert, "spec.uris");
    let [uri] = uris.as_slice() else {
        panic!("{}: one SAN URI", name(cert))
    };
    let id: u64 = uri
        .strip_prefix(node::tls::NODE_URI_PREFIX)
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("{}: {uri} names no node", name(cert)));
    let leaf = ca
        .node(id, &strings(cert, "spec.dnsNames"), Validity::days(1))
        .expect("a node certificate");
    let data = BTreeMap::from([
        ("tls.crt".to_string(), leaf.cert_pem().as_bytes().to_vec()),
        ("tls.key".to_string(), leaf.key_pem().as_bytes().to_vec()),
        ("ca.crt".to_string(), ca.cert_pem().as_bytes().to_vec()),
    ]);
    (leaf, data)
}

/// Writes a Secret volume as the kubelet's atomic writer does: the
/// projected files (`items`: key -> path, with the volume's mode) in a new
/// hidden timestamped directory, `..data` pointing at it (replaced by a
/// rename, so a reader sees the old set or the new one), each file a
/// symlink through `..data`, and the previous directory removed.
fn write_secret_volume(dir: &Path, mount: &SecretMount, data: &SecretData) {
    use std::os::unix::fs::{PermissionsExt, symlink};
    std::fs::create_dir_all(dir).expect("secret volume");
    let stamp = format!(
        "..{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let fresh = dir.join(&stamp);
    std::fs::create_dir(&fresh).expect("timestamped dir");
    for (key, path) in &mount.items {
        let bytes = data
            .get(key)
            .unwrap_or_else(|| panic!("Secret {} has no key {key}", mount.secret));
        let file = fresh.join(path);
        std::fs::write(&file, bytes).expect("write a secret file");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mount.mode))
            .expect("chmod");
    }
    let old = std::fs::read_link(dir.join("..data")).ok();
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    symlink(&stamp, &tmp).expect("..data_tmp");
    std::fs::rename(&tmp, dir.join("..data")).expect("swap ..data");
    for (_, path) in &mount.items {
        let link = dir.join(path);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(Path::new("..data").join(path), &link).expect("file symlink");
        }
    }
    if let Some(old) = old {
        std::fs::remove_dir_all(dir.join(old)).expect("remove the old files");
    }
}

/// Writes every Secret volume of the pods that projects `secret`.
fn publish_secret(sts: &StatefulSet, net: &Net, secret: &str, data: &SecretData) {
    for m in sts.secrets.iter().filter(|m| m.secret == secret) {
        write_secret_volume(&net.secret_volume(&m.volume), m, data);
    }
}

/// A tonic connector that dials `addr` and verifies the server as `name`:
/// a client that resolved `name` to `addr` (the pods' DNS names exist only
/// in their own hosts file).
#[derive(Clone)]
struct DialAs {
    addr: String,
    name: String,
    config: Arc<rustls::ClientConfig>,
}

type TlsStream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

impl DialAs {
    async fn handshake(&self) -> std::io::Result<TlsStream> {
        let server_name = ServerName::try_from(self.name.clone())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let tcp = tokio::net::TcpStream::connect(&self.addr).await?;
        tokio::time::timeout(
            Duration::from_secs(5),
            tokio_rustls::TlsConnector::from(self.config.clone()).connect(server_name, tcp),
        )
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake"))?
    }

    async fn channel(&self) -> Option<Channel> {
        let port = self.addr.rsplit_once(':').map(|a| a.1)?;
        Endpoint::from_shared(format!("http://{}:{port}", self.name))
            .ok()?
            .connect_timeout(Duration::from_secs(3))
            .connect_with_connector(self.clone())
            .await
            .ok()
    }

    /// The certificate the server presents, DER.
    async fn served_cert(&self) -> Option<Vec<u8>> {
        let tls = self.handshake().await.ok()?;
        let certs = tls.get_ref().1.peer_certificates()?;
        certs.first().map(|c| c.to_vec())
    }

    async fn status(&self) -> Option<pb::ClusterStatus> {
        let mut req = tonic::Request::new(pb::StatusRequest {});
        req.set_timeout(Duration::from_secs(3));
        ClusterServiceClient::new(self.channel().await?)
            .status(req)
            .await
            .ok()
            .map(tonic::Response::into_inner)
    }

    async fn health(&self, service: &str) -> Option<i32> {
        use tonic_health::pb::HealthCheckRequest;
        use tonic_health::pb::health_client::HealthClient;
        let r = HealthClient::new(self.channel().await?)
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .ok()?;
        Some(r.into_inner().status)
    }
}

impl tonic::codegen::Service<tonic::codegen::http::Uri> for DialAs {
    type Response = hyper_util::rt::TokioIo<TlsStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: tonic::codegen::http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.handshake().await.map(hyper_util::rt::TokioIo::new) })
    }
}

fn bearer<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    r
}

fn pem_der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("a PEM certificate")
        .to_vec()
}

#[test]
fn secure_overlay_keeps_its_promises() {
    let rendered = render(&secure_dir());
    let ns = rendered
        .namespace
        .clone()
        .expect("the secure overlay sets a namespace");
    let sts = StatefulSet::from_objects(&rendered.objects, &ns);
    let (_, per_pod) = check_cert_manager(&rendered.objects, &sts);
    assert_eq!(per_pod.len(), 3, "a Certificate per pod");
    for k in 0..sts.replicas {
        let args = sts.args(&sts.env(k, "10.0.0.1"));
        assert!(
            !args.iter().any(|a| a == "--insecure"),
            "pod {k} still runs --insecure: {args:?}"
        );
        // The pod's own directory, chosen by the downward API.
        assert_eq!(
            sts.flag(k, "--tls-dir").as_deref(),
            Some(format!("/var/lib/schedulerd-tls/{}", sts.pod_name(k)).as_str())
        );
    }
    // No probe of the overlay may be a gRPC one: the kubelet's are plaintext.
    for p in [&sts.readiness, &sts.liveness, &sts.startup] {
        assert!(
            !matches!(p, Probe::Grpc { .. }),
            "{p:?} cannot pass under TLS"
        );
    }
    assert!(
        matches!(&sts.readiness, Probe::Http { path, .. } if path == "/readyz"),
        "{:?}",
        sts.readiness
    );
    // Everything else is the base's.
    let base = render(&base_dir());
    let sts_of = |objects: &[Value]| {
        let mut s = objects
            .iter()
            .find(|o| kind(o) == "StatefulSet")
            .expect("a StatefulSet")
            .clone();
        let c = s
            .pointer_mut("/spec/template/spec/containers/0")
            .expect("a container");
        for field in [
            "args",
            "env",
            "readinessProbe",
            "livenessProbe",
            "startupProbe",
        ] {
            c[field] = Value::Null;
        }
        c["volumeMounts"] = Value::Null;
        s["spec"]["template"]["spec"]["volumes"] = Value::Null;
        s["metadata"]["namespace"] = Value::Null;
        s
    };
    assert_eq!(sts_of(&base.objects), sts_of(&rendered.objects));
}

#[test]
fn secure_overlay_passes_strict_schema_validation() {
    let exe = match validator() {
        Ok(exe) => exe,
        Err(why) => {
            runnable("secure_overlay_passes_strict_schema_validation", Err(why));
            return;
        }
    };
    let rendered = render(&secure_dir());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for (i, o) in rendered
        .objects
        .iter()
        .filter(|o| text(o, "apiVersion") != CERT_MANAGER)
        .enumerate()
    {
        let path = dir.path().join(format!("{i}-{}.yaml", kind(o)));
        // JSON is YAML.
        std::fs::write(&path, serde_json::to_string_pretty(o).expect("json")).expect("write");
        files.push(path);
    }
    assert_eq!(files.len(), 5, "the base's five objects");
    for version in K8S_VERSIONS {
        let (ok, out) = validate(&exe, version, &files);
        assert!(
            ok,
            "the rendered overlay does not validate against Kubernetes {version}:\n{out}"
        );
    }
}

#[test]
fn the_renderer_agrees_with_kubectl_kustomize() {
    // An extra check where kubectl is installed (CI images have none): the
    // renderer above is what the other tests rely on.
    let kubectl = std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into());
    let works = Command::new(&kubectl)
        .args(["kustomize", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !works {
        eprintln!("NOT CHECKED: no kubectl to compare the renderer with");
        return;
    }
    let sorted = |mut objects: Vec<Value>| {
        objects.sort_by_key(|o| (kind(o).to_string(), name(o).to_string()));
        objects
    };
    for dir in [base_dir(), secure_dir()] {
        let out = Command::new(&kubectl)
            .arg("kustomize")
            .arg(&dir)
            .output()
            .expect("kubectl kustomize");
        assert!(
            out.status.success(),
            "kubectl kustomize {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let theirs: Vec<Value> = serde_norway::Deserializer::from_str(&text)
            .map(|d| Value::deserialize(d).expect("kustomize's YAML"))
            .collect();
        let ours = render(&dir).objects;
        assert_eq!(
            sorted(ours),
            sorted(theirs),
            "{}: the renderer and kustomize differ",
            dir.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_overlay_pods_form_a_tls_cluster_and_take_a_renewed_certificate() {
    if !runnable(
        "secure_overlay_pods_form_a_tls_cluster_and_take_a_renewed_certificate",
        can_make_pods(),
    ) {
        return;
    }
    let rendered = render(&secure_dir());
    let ns = rendered.namespace.clone().expect("a namespace");
    let sts = StatefulSet::from_objects(&rendered.objects, &ns);
    let (ca_spec, per_pod) = check_cert_manager(&rendered.objects, &sts);
    let root = tempfile::tempdir().expect("tempdir");
    let net = Net::new(root.path(), &sts, sts.replicas);
    // The CA that the CA Certificate describes, and what cert-manager would
    // write into each pod's Secret.
    let ca = Ca::generate(text(&ca_spec, "spec.commonName"), Validity::days(1)).expect("CA");
    let ca_pem = root.path().join("ca.pem");
    std::fs::write(&ca_pem, ca.cert_pem()).expect("ca.pem");
    for cert in per_pod.values() {
        let (_, data) = issue(cert, &ca);
        publish_secret(&sts, &net, text(cert, "spec.secretName"), &data);
    }
    let sink = chaos_tests::sink::Sink::start().await.expect("sink");
    let mut pods: BTreeMap<u64, Proc> = (0..sts.replicas)
        .map(|k| (k, start_pod(&sts, &net, k)))
        .collect();

    // A client with the CA (`clusterctl --tls-ca`), dialling each pod by
    // its DNS name.
    let client = node::tls::client_config_from_files(&ca_pem, None).expect("client config");
    let dial = |k: u64, name: String| DialAs {
        addr: format!("{}:{}", net.ip(k), sts.port),
        name,
        config: client.clone(),
    };
    let by_dns = |k: u64| dial(k, sts.fqdn(k));
    let ids: Vec<u64> = (1..=sts.replicas).collect();
    let s = wait_for(
        "the pods to form a cluster over mutual TLS (a leader and every pod a voter, asked \
         over TLS through pod 0 by its DNS name)",
        || async {
            let s = by_dns(0).status().await?;
            let mut v: Vec<u64> = s.members.iter().filter(|m| m.voter).map(|m| m.id).collect();
            v.sort();
            (s.leader.is_some() && v == ids && !s.membership_changing).then_some(s)
        },
    )
    .await;
    for m in &s.members {
        assert_eq!(m.addr, format!("{}:{}", sts.fqdn(m.id - 1), sts.port));
    }

    // The probes: ready once it knows a leader (and gRPC health "" says
    // the same, over TLS), alive, started.
    for k in 0..sts.replicas {
        let ip = net.ip(k);
        wait_for(
            &format!("pod {k} to pass its readiness, liveness and startup probes"),
            || async {
                let ready = sts.readiness.passes(&ip).await;
                let live = sts.liveness.passes(&ip).await;
                let started = sts.startup.passes(&ip).await;
                (ready && live && started).then_some(())
            },
        )
        .await;
        assert_eq!(
            by_dns(k).health("").await,
            Some(1),
            "pod {k}: gRPC health \"\""
        );
    }

    // A plaintext client gets nothing, and neither would a kubelet gRPC probe.
    let plain = async {
        let ch = Channel::from_shared(format!("http://{}", pods[&1].addr))
            .ok()?
            .connect_timeout(Duration::from_secs(3))
            .connect()
            .await
            .ok()?;
        ClusterServiceClient::new(ch)
            .status(pb::StatusRequest {})
            .await
            .ok()
    };
    let plain = tokio::time::timeout(Duration::from_secs(10), plain)
        .await
        .ok()
        .flatten();
    assert!(plain.is_none(), "a plaintext status call was answered");
    assert_eq!(health(&pods[&1].addr, "").await, None);

    // Every name a client may dial works: the client Service's (any pod may
    // answer it), and what `kubectl exec POD -- clusterctl` uses (the pod's
    // CLUSTERCTL_CLUSTER and CLUSTERCTL_TLS_CA, the latter read through the
    // pod's mounts).
    let services = client_services(&rendered.objects);
    let [service] = services.as_slice() else {
        panic!("one client Service: {services:?}")
    };
    let service = format!("{service}.{ns}.svc.{CLUSTER_DOMAIN}");
    for k in 0..sts.replicas {
        dial(k, service.clone())
            .status()
            .await
            .unwrap_or_else(|| panic!("pod {k} does not answer as {service}"));
        let env = sts.env(k, &net.ip(k));
        let var = |name: &str| {
            env.iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("pod {k} has no {name}"))
        };
        let cluster = var("CLUSTERCTL_CLUSTER");
        let (host, _) = cluster.rsplit_once(':').expect("HOST:PORT");
        let in_pod_ca = var("CLUSTERCTL_TLS_CA");
        let m = sts
            .secrets
            .iter()
            .find(|m| Path::new(&in_pod_ca).starts_with(&m.mount_path))
            .unwrap_or_else(|| panic!("pod {k}: {in_pod_ca} is on no Secret volume"));
        let rest = Path::new(&in_pod_ca)
            .strip_prefix(&m.mount_path)
            .expect("below the mount");
        let ca_file = net.secret_volume(&m.volume).join(rest);
        let config = node::tls::client_config_from_files(&ca_file, None)
            .unwrap_or_else(|e| panic!("pod {k}: CLUSTERCTL_TLS_CA {in_pod_ca}: {e}"));
        let exec = DialAs {
            addr: format!("{}:{}", net.ip(k), sts.port),
            name: host.to_string(),
            config,
        };
        exec.status()
            .await
            .unwrap_or_else(|| panic!("pod {k}: clusterctl with {cluster} and {in_pod_ca}"));
    }

    // Calls need a token from the start; the ACL bootstrap is as without
    // Kubernetes (`clusterctl acl bootstrap` with `--tls-ca`); jobs fire
    // across the pods' mutual TLS.
    let ch = by_dns(1).channel().await.expect("a TLS channel to pod 1");
    let e = JobServiceClient::new(ch.clone())
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .expect_err("an anonymous list under TLS");
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
    let admin = AclServiceClient::new(ch.clone())
        .bootstrap(pb::AclBootstrapRequest::default())
        .await
        .expect("acl bootstrap over TLS")
        .into_inner()
        .secret;
    JobServiceClient::new(ch)
        .create_job(bearer(every_second("tick", &sink.url()), &admin))
        .await
        .expect("create a job with the admin token");
    let fired = |n: usize| {
        let sink = sink.clone();
        move || {
            let count = sink.hits().iter().filter(|h| h.accepted).count();
            async move { (count >= n).then_some(count) }
        }
    };
    let before = wait_for("three runs of the job at the sink", fired(3)).await;

    // cert-manager renews pod 0's certificate (a new key): the kubelet
    // swaps the files in the directory, and pod 0 serves the new one
    // without a restart, and keeps talking to its peers.
    let pid = pods[&0].pid();
    let (renewed, data) = issue(&per_pod[&0], &ca);
    publish_secret(&sts, &net, text(&per_pod[&0], "spec.secretName"), &data);
    let want = pem_der(renewed.cert_pem());
    wait_for(
        "pod 0 to serve its renewed certificate (reloaded from its Secret volume)",
        || async { (by_dns(0).served_cert().await? == want).then_some(()) },
    )
    .await;
    assert_eq!(pods[&0].pid(), pid, "pod 0 was restarted");
    let ch0 = by_dns(0).channel().await.expect("a TLS channel to pod 0");
    wait_for("a write through pod 0 with its renewed certificate", || {
        let mut c = JobServiceClient::new(ch0.clone());
        let admin = admin.clone();
        async move {
            match c
                .create_job(bearer(harness::daily_job("after-renewal"), &admin))
                .await
            {
                Err(s) if s.code() == tonic::Code::AlreadyExists => Some(()),
                r => r.ok().map(|_| ()),
            }
        }
    })
    .await;
    wait_for("more runs after the renewal", fired(before + 3)).await;

    // Readiness follows the rule, liveness does not: a pod left alone
    // (its two peers killed) loses its leader and is not ready, but stays
    // alive (a minority is no reason to restart it).
    let s = by_dns(0).status().await.expect("status");
    let leader = s.leader.expect("a leader");
    let alone = (0..sts.replicas)
        .find(|k| k + 1 != leader)
        .expect("a follower");
    for k in (0..sts.replicas).filter(|k| *k != alone) {
        pods.get_mut(&k).expect("pod").kill();
    }
    let ip = net.ip(alone);
    let readyz = match &sts.readiness {
        Probe::Http { port, path } => (format!("{ip}:{port}"), path.clone()),
        other => panic!("readiness is {other:?}"),
    };
    wait_for(
        &format!("pod {alone}, alone, to answer its readiness probe with 503 (no leader)"),
        || async { (http_get(&readyz.0, &readyz.1).await? == 503).then_some(()) },
    )
    .await;
    assert!(
        sts.liveness.passes(&ip).await,
        "pod {alone} alone is not live"
    );
    assert_eq!(
        by_dns(alone).health("").await,
        Some(2),
        "gRPC health \"\" of pod {alone} disagrees (NOT_SERVING expected)"
    );
    for k in (0..sts.replicas).filter(|k| *k != alone) {
        pods.get_mut(&k).expect("pod").relaunch().expect("restart");
    }
    for k in 0..sts.replicas {
        let ip = net.ip(k);
        wait_for(&format!("pod {k} to be ready again"), || async {
            sts.readiness.passes(&ip).await.then_some(())
        })
        .await;
    }
}
