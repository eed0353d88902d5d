//! `--config FILE`: schedulerd's flags from a TOML file. Each key is a
//! long flag's name (`data-dir` or `data_dir`); a value the command line or
//! the flag's environment variable gives wins over the file. Booleans set
//! a switch when true; arrays repeat a flag (`label = ["zone=a", "ssd=1"]`).
//!
//! ```toml
//! id = 1
//! data-dir = "/var/lib/schedulerd"
//! listen = "10.0.0.1:7100"
//! join = ["10.0.0.2:7100", "10.0.0.3:7100"]
//! enable-shell-executor = false
//! ```

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{CommandFactory, FromArgMatches};

use crate::config::Args;

/// Parses `argv` (with the environment read through `env`), filling flags
/// that neither gives from the `--config` file, if one is named.
pub fn load(argv: Vec<OsString>, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Args> {
    let mut argv = argv;
    if let Some(path) = config_path(&argv, &env) {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("--config: reading {}", path.display()))?;
        let extra = from_toml(&text, &argv, &env)
            .with_context(|| format!("--config: {}", path.display()))?;
        argv.extend(extra);
    }
    let matches = Args::command().try_get_matches_from(argv)?;
    Ok(Args::from_arg_matches(&matches)?)
}

/// The `--config` path: from the command line, else `SCHEDULERD_CONFIG`.
fn config_path(argv: &[OsString], env: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let mut it = argv.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(p));
        }
    }
    env("SCHEDULERD_CONFIG").map(PathBuf::from)
}

/// The arguments the file adds: every key not already given.
fn from_toml(
    text: &str,
    argv: &[OsString],
    env: &impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Vec<OsString>> {
    let table: toml::Table = text.parse().context("not valid TOML")?;
    let cmd = Args::command();
    let mut out = Vec::new();
    for (key, value) in &table {
        let flag = key.replace('_', "-");
        let Some(arg) = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(flag.as_str()))
        else {
            let known: Vec<&str> = cmd.get_arguments().filter_map(|a| a.get_long()).collect();
            bail!("{key}: not a schedulerd flag; known: {}", known.join(", "));
        };
        if flag == "config" {
            bail!("{key}: a config file cannot name another");
        }
        let given = argv.iter().skip(1).any(|a| {
            let a = a.to_string_lossy();
            a == format!("--{flag}") || a.starts_with(&format!("--{flag}="))
        });
        let from_env = arg
            .get_env()
            .is_some_and(|e| env(&e.to_string_lossy()).is_some());
        if given || from_env {
            continue;
        }
        let values = match value {
            toml::Value::Array(items) => items.iter().collect(),
            v => vec![v],
        };
        for v in values {
            match v {
                toml::Value::Boolean(true) => out.push(format!("--{flag}").into()),
                toml::Value::Boolean(false) => {}
                toml::Value::String(s) => {
                    out.push(format!("--{flag}").into());
                    out.push(s.into());
                }
                toml::Value::Integer(i) => {
                    out.push(format!("--{flag}").into());
                    out.push(i.to_string().into());
                }
                other => bail!(
                    "{key}: a {} is not a flag value; give a string, integer, boolean or array of them",
                    other.type_str()
                ),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        use std::io::Write as _;
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        f
    }

    fn argv(args: &[&str]) -> Vec<OsString> {
        std::iter::once("schedulerd")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    const FILE: &str = r#"
id = 4
data_dir = "/from/file"
listen = "127.0.0.1:7100"
join = ["a:1", "b:2"]
enable-shell-executor = true
label = ["zone=a", "ssd=1"]
"#;

    #[test]
    fn the_file_fills_what_flags_and_env_leave_out() {
        let f = write(FILE);
        let path = f.path().display().to_string();
        let a = load(argv(&["--config", &path]), |_| None).expect("loads");
        assert_eq!(a.id, Some(4));
        assert_eq!(a.data_dir, PathBuf::from("/from/file"));
        assert_eq!(a.listen, "127.0.0.1:7100");
        assert_eq!(a.join, vec!["a:1".to_string(), "b:2".to_string()]);
        assert!(a.enable_shell_executor);
        assert_eq!(a.label, vec!["zone=a".to_string(), "ssd=1".to_string()]);
    }

    #[test]
    fn a_flag_and_an_env_var_win_over_the_file() {
        let f = write(FILE);
        let path = f.path().display().to_string();
        let a = load(
            argv(&["--config", &path, "--data-dir", "/from/flag"]),
            |_| None,
        )
        .expect("loads");
        assert_eq!(a.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(a.id, Some(4));
        // With the variable set, the file adds nothing for that flag, so
        // clap takes the variable (it reads the real environment).
        let env = |k: &str| (k == "SCHEDULERD_LISTEN").then(|| "10.0.0.9:7100".to_string());
        let added = from_toml(FILE, &argv(&[]), &env).expect("parses");
        let added: Vec<String> = added.iter().map(|a| a.to_string_lossy().into()).collect();
        assert!(!added.contains(&"--listen".to_string()), "{added:?}");
        assert!(added.contains(&"--data-dir".to_string()), "{added:?}");
    }

    #[test]
    fn the_path_may_come_from_the_environment() {
        let f = write(FILE);
        let path = f.path().display().to_string();
        let env = move |k: &str| (k == "SCHEDULERD_CONFIG").then(|| path.clone());
        let a = load(argv(&[]), env).expect("loads");
        assert_eq!(a.id, Some(4));
    }

    #[test]
    fn bad_files_say_which_key_and_why() {
        for (text, want) in [
            ("nope = 1\ndata-dir = \"/d\"", "nope: not a schedulerd flag"),
            ("listen = 1.5", "listen: a float is not a flag value"),
            ("id = [", "not valid TOML"),
        ] {
            let f = write(text);
            let path = f.path().display().to_string();
            let e = load(argv(&["--config", &path]), |_| None).expect_err("refused");
            assert!(format!("{e:#}").contains(want), "{want}: {e:#}");
        }
        let e = load(argv(&["--config", "/no/such/file.toml"]), |_| None).expect_err("missing");
        assert!(format!("{e:#}").contains("/no/such/file.toml"), "{e:#}");
    }
}
