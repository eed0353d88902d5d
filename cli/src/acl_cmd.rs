//! `clusterctl acl bootstrap` and `clusterctl token create|list|revoke`.
//! A secret is printed once, to stdout, and never to stderr or a log.

use clap::Subcommand;
use proto::v1 as pb;

use crate::Output;
use crate::client::Cluster;

/// `clusterctl acl ...`.
#[derive(Subcommand, Debug)]
pub enum AclCommand {
    /// Create the first admin token (once per cluster) and print it.
    Bootstrap {
        /// The token's name.
        #[arg(long, default_value = "admin")]
        name: String,
    },
}

/// `clusterctl token ...` (admin only).
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token with a role and print its secret (shown once).
    Create {
        /// 1-64 characters of [A-Za-z0-9._:-]; also the user a client certificate names.
        name: String,
        /// reader, writer, shell, worker or admin.
        #[arg(long)]
        role: String,
        /// For a worker token: a queue it may serve (repeat; none: any).
        #[arg(long = "queue")]
        queues: Vec<String>,
    },
    /// List the tokens (names, roles, queues; never a secret).
    List,
    /// Revoke a token by name.
    Revoke {
        /// The token's name.
        name: String,
    },
}

fn print_secret(t: &pb::TokenSecret, out: Output) {
    let info = t.token.clone().unwrap_or_default();
    match out {
        Output::Json | Output::Jsonl => println!(
            "{}",
            serde_json::json!({
                "name": info.name,
                "role": info.role,
                "queues": info.queues,
                "secret": t.secret,
            })
        ),
        Output::Text => {
            println!("{}", t.secret);
            eprintln!(
                "token {:?} (role {}) created; the line above is its secret, shown this once: \
                 pass it as --token or $CLUSTERCTL_TOKEN",
                info.name, info.role
            );
        }
    }
}

/// Runs `acl ...`.
pub async fn acl(cluster: &Cluster, cmd: AclCommand, out: Output) -> anyhow::Result<()> {
    match cmd {
        AclCommand::Bootstrap { name } => {
            let t = cluster
                .with_acl(|mut c| {
                    let name = name.clone();
                    async move {
                        c.bootstrap(pb::AclBootstrapRequest { name })
                            .await
                            .map(tonic::Response::into_inner)
                    }
                })
                .await?;
            print_secret(&t, out);
            Ok(())
        }
    }
}

/// Runs `token ...`.
pub async fn token(cluster: &Cluster, cmd: TokenCommand, out: Output) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create { name, role, queues } => {
            let t = cluster
                .with_acl(|mut c| {
                    let req = pb::CreateTokenRequest {
                        name: name.clone(),
                        role: role.clone(),
                        queues: queues.clone(),
                    };
                    async move { c.create_token(req).await.map(tonic::Response::into_inner) }
                })
                .await?;
            print_secret(&t, out);
        }
        TokenCommand::List => {
            let list = cluster
                .with_acl(|mut c| async move {
                    c.list_tokens(pb::ListTokensRequest {})
                        .await
                        .map(tonic::Response::into_inner)
                })
                .await?;
            match out {
                Output::Json | Output::Jsonl => {
                    let v: Vec<serde_json::Value> = list
                        .tokens
                        .iter()
                        .map(|t| {
                            serde_json::json!({
                                "name": t.name,
                                "role": t.role,
                                "queues": t.queues,
                                "created_by": t.created_by,
                            })
                        })
                        .collect();
                    println!("{}", serde_json::Value::Array(v));
                }
                Output::Text => {
                    for t in &list.tokens {
                        let queues = if t.queues.is_empty() {
                            String::new()
                        } else {
                            format!("  queues {}", t.queues.join(","))
                        };
                        println!("{:<24} {:<7} by {}{queues}", t.name, t.role, t.created_by);
                    }
                }
            }
        }
        TokenCommand::Revoke { name } => {
            cluster
                .with_acl(|mut c| {
                    let name = name.clone();
                    async move {
                        c.revoke_token(pb::RevokeTokenRequest { name })
                            .await
                            .map(tonic::Response::into_inner)
                    }
                })
                .await?;
            if out == Output::Text {
                println!("token {name:?} revoked");
            } else {
                println!("{}", serde_json::json!({ "revoked": name }));
            }
        }
    }
    Ok(())
}
