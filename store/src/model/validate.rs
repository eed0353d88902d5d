//! Validation of a job spec. Every rule names the field path, why the value
//! is wrong and what is allowed, so the gRPC layer can answer
//! INVALID_ARGUMENT with a precise message (G5).

use serde::{Deserialize, Serialize};

use super::limits::*;
use super::{ExecutorSpec, JobSpec, Policies};
use crate::schedule::{Bounds, Schedule, ScheduleSpec};

/// A spec field that is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// Field path, e.g. `job.schedule.cron`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> ValidationError {
    ValidationError {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks `spec` and compiles its schedule. The compiled schedule is
/// returned so callers don't compile twice.
pub fn validate_spec(spec: &JobSpec) -> Result<Schedule, ValidationError> {
    validate_id(&spec.id)?;
    if spec.name.len() > MAX_NAME_LEN {
        return Err(err(
            "job.name",
            format!(
                "{} bytes is longer than the limit of {MAX_NAME_LEN}",
                spec.name.len()
            ),
        ));
    }
    validate_labels("job.labels", spec.labels.len(), spec.labels.iter())?;
    validate_labels(
        "job.node_selector",
        spec.node_selector.len(),
        spec.node_selector.iter(),
    )?;
    if let (Some(start), Some(end)) = (spec.start_at, spec.end_at)
        && end < start
    {
        return Err(err(
            "job.end_at",
            "is before job.start_at; the end bound must not precede the start",
        ));
    }
    validate_policies(&spec.policies)?;
    validate_executor(&spec.executor)?;
    if spec.exclude_calendars.len() > MAX_CALENDARS_PER_JOB {
        return Err(err(
            "job.exclude_calendars",
            format!(
                "{} calendars; at most {MAX_CALENDARS_PER_JOB}",
                spec.exclude_calendars.len()
            ),
        ));
    }
    for (i, name) in spec.exclude_calendars.iter().enumerate() {
        validate_name(&format!("job.exclude_calendars[{i}]"), name, MAX_JOB_ID_LEN)?;
        if spec.exclude_calendars[..i].contains(name) {
            return Err(err(
                format!("job.exclude_calendars[{i}]"),
                format!("{name:?} is named twice"),
            ));
        }
    }
    let (field, len) = match &spec.schedule {
        ScheduleSpec::Cron(s) => ("job.schedule.cron", s.len()),
        ScheduleSpec::Human(s) => ("job.schedule.human", s.len()),
        _ => ("job.schedule", 0),
    };
    if len > MAX_SCHEDULE_LEN {
        return Err(err(
            field,
            format!("{len} bytes is longer than the limit of {MAX_SCHEDULE_LEN}"),
        ));
    }
    let field = match &spec.schedule {
        ScheduleSpec::Cron(_) => "job.schedule.cron",
        ScheduleSpec::Human(_) => "job.schedule.human",
        ScheduleSpec::Calendar(_) => "job.schedule.calendar",
        ScheduleSpec::Interval(_) => "job.schedule.interval",
        ScheduleSpec::Once(_) => "job.schedule.once",
        ScheduleSpec::After { job_id, .. } => {
            validate_name("job.schedule.after.job_id", job_id, MAX_JOB_ID_LEN)?;
            if *job_id == spec.id {
                return Err(err(
                    "job.schedule.after.job_id",
                    "a job cannot run after itself",
                ));
            }
            "job.schedule.after"
        }
    };
    let bounds = Bounds {
        start: spec.start_at.map(super::time::to_datetime),
        end: spec.end_at.map(super::time::to_datetime),
    };
    if spec.time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(err(
            "job.time_zone",
            format!(
                "unknown time zone {:?}; use an IANA name such as \"Europe/Berlin\" or \"UTC\"",
                spec.time_zone
            ),
        ));
    }
    Schedule::compile(&spec.schedule, &spec.time_zone, bounds)
        .map_err(|e| err(field, e.to_string()))
}

fn validate_id(id: &str) -> Result<(), ValidationError> {
    if id.is_empty() || id.len() > MAX_JOB_ID_LEN {
        return Err(err(
            "job.id",
            format!("must be 1-{MAX_JOB_ID_LEN} characters, got {}", id.len()),
        ));
    }
    if let Some((pos, c)) = id
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
    {
        return Err(err(
            "job.id",
            format!(
                "character {c:?} at position {} is not allowed; use A-Z a-z 0-9 . _ : -",
                pos + 1
            ),
        ));
    }
    Ok(())
}

/// A worker queue, function or worker id: 1-`max` characters of
/// `[A-Za-z0-9._:-]`.
pub fn validate_name(field: &str, name: &str, max: usize) -> Result<(), ValidationError> {
    if name.is_empty() || name.len() > max {
        return Err(err(
            field,
            format!("must be 1-{max} characters, got {}", name.len()),
        ));
    }
    if let Some((pos, c)) = name
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
    {
        return Err(err(
            field,
            format!(
                "character {c:?} at position {} is not allowed; use A-Z a-z 0-9 . _ : -",
                pos + 1
            ),
        ));
    }
    Ok(())
}

fn validate_labels<'a>(
    field: &str,
    len: usize,
    labels: impl Iterator<Item = (&'a String, &'a String)>,
) -> Result<(), ValidationError> {
    if len > MAX_LABELS {
        return Err(err(
            field,
            format!("{len} entries is more than the limit of {MAX_LABELS}"),
        ));
    }
    for (k, v) in labels {
        let ok_key = !k.is_empty()
            && k.len() <= MAX_LABEL_LEN
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
        if !ok_key {
            return Err(err(
                format!("{field}[{k:?}]"),
                format!("key must be 1-{MAX_LABEL_LEN} characters of A-Z a-z 0-9 . _ - /"),
            ));
        }
        if v.len() > MAX_LABEL_LEN || v.contains(['=', ',']) {
            return Err(err(
                format!("{field}[{k:?}]"),
                format!("value must be at most {MAX_LABEL_LEN} bytes without '=' or ','"),
            ));
        }
    }
    Ok(())
}

fn validate_duration(field: &str, ms: u64) -> Result<(), ValidationError> {
    if ms > MAX_DURATION_MS {
        return Err(err(
            field,
            format!("{ms} ms is longer than the limit of {MAX_DURATION_MS} ms (366 days)"),
        ));
    }
    Ok(())
}

fn validate_policies(p: &Policies) -> Result<(), ValidationError> {
    if let Some(g) = p.misfire_grace_ms {
        validate_duration("job.policies.misfire_grace", g)?;
    }
    if p.max_instances > MAX_INSTANCES {
        return Err(err(
            "job.policies.max_instances",
            format!(
                "{} is more than the limit of {MAX_INSTANCES}",
                p.max_instances
            ),
        ));
    }
    if p.retry.max_retries > MAX_RETRIES {
        return Err(err(
            "job.policies.retries.max_retries",
            format!(
                "{} is more than the limit of {MAX_RETRIES}",
                p.retry.max_retries
            ),
        ));
    }
    validate_duration(
        "job.policies.retries.initial_backoff",
        p.retry.initial_backoff_ms,
    )?;
    validate_duration("job.policies.retries.max_backoff", p.retry.max_backoff_ms)?;
    if p.retry.multiplier_milli < 1000 || p.retry.multiplier_milli > 100_000 {
        return Err(err(
            "job.policies.retries.multiplier",
            "must be between 1.0 and 100.0",
        ));
    }
    if let Some(t) = p.timeout_ms {
        if t == 0 {
            return Err(err(
                "job.policies.timeout",
                "must be positive; leave it unset for no timeout",
            ));
        }
        validate_duration("job.policies.timeout", t)?;
    }
    validate_duration("job.policies.jitter", p.jitter_ms)?;
    if p.pause_after_failures > MAX_PAUSE_AFTER_FAILURES {
        return Err(err(
            "job.policies.pause_after_failures",
            format!(
                "{} is more than {MAX_PAUSE_AFTER_FAILURES}; 0 means never",
                p.pause_after_failures
            ),
        ));
    }
    Ok(())
}

fn validate_executor(e: &ExecutorSpec) -> Result<(), ValidationError> {
    match e {
        ExecutorSpec::Shell(s) => {
            match (s.argv.is_empty(), &s.command) {
                (true, None) => {
                    return Err(err("job.executor.shell", "give either argv or command"));
                }
                (false, Some(_)) => {
                    return Err(err("job.executor.shell", "give argv or command, not both"));
                }
                (_, Some(c)) if c.trim().is_empty() => {
                    return Err(err("job.executor.shell.command", "must not be empty"));
                }
                _ => {}
            }
            if s.argv.len() > MAX_ARGS {
                return Err(err(
                    "job.executor.shell.argv",
                    format!("more than {MAX_ARGS} arguments"),
                ));
            }
            if let Some(i) = s.argv.iter().position(|a| a.len() > MAX_ARG_LEN) {
                return Err(err(
                    format!("job.executor.shell.argv[{i}]"),
                    format!("longer than {MAX_ARG_LEN} bytes"),
                ));
            }
            if s.command.as_ref().is_some_and(|c| c.len() > MAX_ARG_LEN) {
                return Err(err(
                    "job.executor.shell.command",
                    format!("longer than {MAX_ARG_LEN} bytes"),
                ));
            }
            if s.env.len() > MAX_HEADERS {
                return Err(err(
                    "job.executor.shell.env",
                    format!("more than {MAX_HEADERS} entries"),
                ));
            }
            for (k, v) in &s.env {
                if k.is_empty()
                    || k.contains(['=', '\0'])
                    || v.len() > MAX_ARG_LEN
                    || v.contains('\0')
                {
                    return Err(err(
                        format!("job.executor.shell.env[{k:?}]"),
                        format!(
                            "name must be non-empty without '=' or NUL; value at most {MAX_ARG_LEN} bytes without NUL"
                        ),
                    ));
                }
                if k.starts_with("SCHEDULER_") {
                    return Err(err(
                        format!("job.executor.shell.env[{k:?}]"),
                        "SCHEDULER_* variables are set by the executor and cannot be overridden",
                    ));
                }
            }
        }
        ExecutorSpec::Http(h) => {
            if h.url.len() > MAX_URL_LEN {
                return Err(err(
                    "job.executor.http.url",
                    format!("longer than {MAX_URL_LEN} bytes"),
                ));
            }
            validate_url(&h.url)?;
            const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
            if !METHODS.contains(&h.method.as_str()) {
                return Err(err(
                    "job.executor.http.method",
                    format!("{:?} is not one of {}", h.method, METHODS.join(", ")),
                ));
            }
            if h.body.len() > MAX_HTTP_BODY {
                return Err(err(
                    "job.executor.http.body",
                    format!(
                        "{} bytes is larger than the limit of {MAX_HTTP_BODY}",
                        h.body.len()
                    ),
                ));
            }
            if h.headers.len() > MAX_HEADERS {
                return Err(err(
                    "job.executor.http.headers",
                    format!("more than {MAX_HEADERS} headers"),
                ));
            }
            for (i, (name, value)) in h.headers.iter().enumerate() {
                let ok_name = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                if !ok_name
                    || value.len() > MAX_ARG_LEN
                    || value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
                {
                    return Err(err(
                        format!("job.executor.http.headers[{i}]"),
                        "name must be an HTTP token; value at most 8 KiB without CR, LF or NUL",
                    ));
                }
                if name.to_ascii_lowercase().starts_with("x-scheduler-") {
                    return Err(err(
                        format!("job.executor.http.headers[{i}]"),
                        "X-Scheduler-* headers are set by the executor and cannot be overridden",
                    ));
                }
            }
            if let Some(c) = h.success_codes.iter().find(|c| !(100..=599).contains(*c)) {
                return Err(err(
                    "job.executor.http.success_codes",
                    format!("{c} is not an HTTP status (100-599)"),
                ));
            }
        }
        ExecutorSpec::Worker(w) => {
            validate_name("job.executor.worker.queue", &w.queue, MAX_QUEUE_LEN)?;
            validate_name(
                "job.executor.worker.function",
                &w.function,
                MAX_FUNCTION_LEN,
            )?;
            if let Some(args) = &w.args {
                if args.len() > MAX_WORKER_ARGS {
                    return Err(err(
                        "job.executor.worker.args",
                        format!(
                            "{} bytes is larger than the limit of {MAX_WORKER_ARGS}",
                            args.len()
                        ),
                    ));
                }
                if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(args) {
                    return Err(err("job.executor.worker.args", format!("is not JSON: {e}")));
                }
            }
        }
    }
    Ok(())
}

/// A light URL check: scheme, a host, an optional numeric port, no spaces.
fn validate_url(url: &str) -> Result<(), ValidationError> {
    let field = "job.executor.http.url";
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| {
            err(
                field,
                format!("{url:?} must start with http:// or https://"),
            )
        })?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = if host_port.starts_with('[') {
        match host_port.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return Err(err(field, format!("{url:?} has an unclosed IPv6 bracket"))),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.trim_start_matches('[').is_empty() {
        return Err(err(field, format!("{url:?} has no host")));
    }
    if let Some(p) = port
        && p.parse::<u16>().is_err()
    {
        return Err(err(
            field,
            format!("{url:?} has an invalid port {p:?} (1-65535)"),
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err(
            field,
            format!("{url:?} contains whitespace or control characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("backup.db-1:x_y").is_ok());
        assert_eq!(validate_id("").unwrap_err().field, "job.id");
        let e = validate_id("a b").unwrap_err();
        assert!(e.message.contains("position 2"), "{e}");
    }

    #[test]
    fn urls() {
        assert!(validate_url("http://127.0.0.1:8080/hook?x=1").is_ok());
        assert!(validate_url("https://example.com").is_ok());
        assert!(validate_url("https://[::1]:443/x").is_ok());
        assert!(validate_url("ftp://x").is_err());
        assert!(validate_url("http://").is_err());
        assert!(validate_url("http://host:99999/").is_err());
        assert!(validate_url("http://host/a b").is_err());
    }
}
