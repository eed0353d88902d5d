//! `clusterctl schedule next`: preview a schedule's fire times offline,
//! with the same engine the cluster uses (`store::schedule`).

use std::io::Write;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use store::schedule::{Bounds, MAX_SCHEDULE_LEN, Schedule, ScheduleSpec};

use crate::Output;

pub use store::model::MAX_PREVIEW_INSTANTS as MAX_COUNT;
// `--count`'s help text below spells the range out.
const _: () = assert!(MAX_COUNT == 1000);

#[derive(Subcommand, Debug)]
pub enum ScheduleCommand {
    /// Print the next fire times of a schedule (cron, phrase, @every, @at).
    Next(NextArgs),
}

#[derive(Args, Debug)]
pub struct NextArgs {
    /// The schedule: a cron string ("30 2 * * *", "@daily"), a phrase
    /// ("every day at 10:30"), "@every 10s" or "@at 2026-12-01T10:00:00Z".
    pub schedule: String,
    /// IANA time zone the schedule's wall times are in.
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// Start strictly after this instant (RFC 3339); default now.
    #[arg(long)]
    pub after: Option<String>,
    /// How many fire times to print (1-1000).
    #[arg(long, default_value_t = 5)]
    pub count: usize,
}

pub fn run(cmd: &ScheduleCommand, output: Output) -> Result<()> {
    match cmd {
        ScheduleCommand::Next(args) => next(args, output),
    }
}

fn next(args: &NextArgs, output: Output) -> Result<()> {
    if args.count == 0 || args.count > MAX_COUNT {
        bail!("--count must be 1-{MAX_COUNT}, got {}", args.count);
    }
    if args.schedule.len() > MAX_SCHEDULE_LEN {
        bail!("schedule: longer than {MAX_SCHEDULE_LEN} bytes");
    }
    let after: DateTime<Utc> = match &args.after {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .with_context(|| format!("--after: '{s}' is not an RFC 3339 instant"))?
            .with_timezone(&Utc),
        // The CLI may read the clock; the store never does.
        None => Utc::now(),
    };
    let spec = ScheduleSpec::detect(&args.schedule);
    let schedule = Schedule::compile(&spec, &args.tz, Bounds::default())
        .map_err(|e| anyhow::anyhow!("schedule: {e}"))?;
    let times: Vec<DateTime<Utc>> = schedule.upcoming(after, 0).take(args.count).collect();
    let mut out = std::io::stdout().lock();
    match output {
        Output::Json | Output::Jsonl => {
            let strings: Vec<String> = times
                .iter()
                .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
                .collect();
            writeln!(out, "{}", serde_json::to_string(&strings)?)?;
        }
        Output::Text => {
            if times.is_empty() {
                writeln!(
                    out,
                    "no fire times after {}",
                    after.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                )?;
            }
            let tz = schedule.tz();
            for t in &times {
                let local = t.with_timezone(&tz);
                writeln!(
                    out,
                    "{}  {} (UTC{})  {}",
                    local
                        .format("%Y-%m-%d %H:%M:%S%.3f")
                        .to_string()
                        .trim_end_matches(".000"),
                    local.format("%Z"),
                    local.format("%:z"),
                    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                )?;
            }
        }
    }
    Ok(())
}
