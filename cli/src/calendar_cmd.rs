//! `clusterctl calendar add|update|get|list|delete`: exclusion calendars,
//! named sets of days (dates, ranges, cron expressions) in a zone on which
//! the jobs that name them (`job add --exclude-calendar NAME`) do not fire.

use clap::{Args, Subcommand};
use proto::v1 as pb;

use crate::Output;
use crate::client::Cluster;

/// `clusterctl calendar ...`.
#[derive(Subcommand, Debug)]
pub enum CalendarCommand {
    /// Create a calendar (fails if the name exists).
    Add(CalendarArgs),
    /// Replace a calendar's days; the jobs that name it move at once.
    Update {
        #[command(flatten)]
        args: CalendarArgs,
        /// Only if the calendar is at this version.
        #[arg(long, default_value_t = 0)]
        expected_version: u64,
    },
    /// Show a calendar and the jobs that name it.
    Get {
        /// The calendar's name.
        name: String,
    },
    /// List the calendars.
    List,
    /// Delete a calendar no job names.
    Delete {
        /// The calendar's name.
        name: String,
    },
}

/// A calendar's days.
#[derive(Args, Debug)]
pub struct CalendarArgs {
    /// 1-128 characters of [A-Za-z0-9._:-].
    pub name: String,
    /// An excluded day, YYYY-MM-DD (repeat).
    #[arg(long = "date")]
    pub dates: Vec<String>,
    /// Excluded days FROM..TO, both included (repeat).
    #[arg(long = "range")]
    pub ranges: Vec<String>,
    /// A cron expression; the days it fires on are excluded (repeat).
    /// "0 0 * * 6,0" excludes weekends.
    #[arg(long = "cron")]
    pub crons: Vec<String>,
    /// The zone the days are read in (IANA); default UTC.
    #[arg(long = "tz", default_value = "")]
    pub time_zone: String,
    /// Free text.
    #[arg(long, default_value = "")]
    pub description: String,
}

impl CalendarArgs {
    fn spec(&self) -> anyhow::Result<pb::CalendarSpec> {
        let ranges = self
            .ranges
            .iter()
            .map(|r| {
                let (from, to) = r.split_once("..").ok_or_else(|| {
                    anyhow::anyhow!("--range {r:?}: write it FROM..TO, e.g. 2026-12-31..2027-01-02")
                })?;
                Ok(pb::DateRange {
                    from: from.trim().into(),
                    to: to.trim().into(),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(pb::CalendarSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            time_zone: self.time_zone.clone(),
            dates: self.dates.clone(),
            ranges,
            crons: self.crons.clone(),
        })
    }
}

fn json(c: &pb::Calendar) -> serde_json::Value {
    let s = c.spec.clone().unwrap_or_default();
    serde_json::json!({
        "name": s.name,
        "description": s.description,
        "time_zone": if s.time_zone.is_empty() { "UTC".to_string() } else { s.time_zone },
        "dates": s.dates,
        "ranges": s.ranges.iter().map(|r| format!("{}..{}", r.from, r.to)).collect::<Vec<_>>(),
        "crons": s.crons,
        "version": c.version,
        "updated_by": c.updated_by,
        "used_by": c.used_by,
    })
}

fn print(c: &pb::Calendar, out: Output) {
    let v = json(c);
    match out {
        Output::Json | Output::Jsonl => println!("{v}"),
        Output::Text => {
            println!(
                "{} (version {}, {}): dates {} ranges {} crons {}",
                v["name"].as_str().unwrap_or_default(),
                c.version,
                v["time_zone"].as_str().unwrap_or_default(),
                v["dates"],
                v["ranges"],
                v["crons"],
            );
            if !c.used_by.is_empty() {
                println!("  used by: {}", c.used_by.join(", "));
            }
        }
    }
}

/// Runs `calendar ...`.
pub async fn run(cluster: &Cluster, cmd: CalendarCommand, out: Output) -> anyhow::Result<()> {
    match cmd {
        CalendarCommand::Add(args) => put(cluster, &args, 0, true, out).await,
        CalendarCommand::Update {
            args,
            expected_version,
        } => put(cluster, &args, expected_version, false, out).await,
        CalendarCommand::Get { name } => {
            let c = cluster
                .with_calendars(|mut c| {
                    let name = name.clone();
                    async move {
                        c.get_calendar(pb::GetCalendarRequest { name })
                            .await
                            .map(tonic::Response::into_inner)
                    }
                })
                .await?;
            print(&c, out);
            Ok(())
        }
        CalendarCommand::List => {
            let r = cluster
                .with_calendars(|mut c| async move {
                    c.list_calendars(pb::ListCalendarsRequest {})
                        .await
                        .map(tonic::Response::into_inner)
                })
                .await?;
            match out {
                Output::Json => println!(
                    "{}",
                    serde_json::Value::Array(r.calendars.iter().map(json).collect())
                ),
                _ => r.calendars.iter().for_each(|c| print(c, out)),
            }
            Ok(())
        }
        CalendarCommand::Delete { name } => {
            cluster
                .with_calendars(|mut c| {
                    let name = name.clone();
                    async move {
                        c.delete_calendar(pb::DeleteCalendarRequest { name })
                            .await
                            .map(tonic::Response::into_inner)
                    }
                })
                .await?;
            eprintln!("calendar {name:?} deleted");
            Ok(())
        }
    }
}

async fn put(
    cluster: &Cluster,
    args: &CalendarArgs,
    expected_version: u64,
    create_only: bool,
    out: Output,
) -> anyhow::Result<()> {
    let spec = args.spec()?;
    let c = cluster
        .with_calendars(|mut c| {
            let spec = spec.clone();
            async move {
                c.put_calendar(pb::PutCalendarRequest {
                    calendar: Some(spec),
                    expected_version,
                    create_only,
                })
                .await
                .map(tonic::Response::into_inner)
            }
        })
        .await?;
    print(&c, out);
    Ok(())
}
