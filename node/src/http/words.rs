//! A schedule in words, for people reading the dashboard and the API:
//! the common cron shapes get a sentence, anything else its own text.
//! Only ever shown, never parsed back.

use proto::v1 as pb;

/// `spec`'s schedule in words, with its zone when it is not UTC.
pub fn schedule_text(spec: &pb::JobSpec) -> String {
    let zone = match spec.time_zone.as_str() {
        "" | "UTC" => String::new(),
        z => format!(" ({z})"),
    };
    let text = match spec.schedule.as_ref().and_then(|s| s.kind.as_ref()) {
        None => return "no schedule".into(),
        Some(pb::schedule::Kind::Cron(c)) => cron_words(c),
        Some(pb::schedule::Kind::Human(h)) => h.clone(),
        Some(pb::schedule::Kind::Once(t)) => {
            return format!(
                "once, at {}",
                proto::time::millis(t).map_or_else(String::new, store::model::time::rfc3339_ms)
            );
        }
        Some(pb::schedule::Kind::Interval(i)) => {
            let every = i
                .every
                .as_ref()
                .and_then(proto::time::duration_millis)
                .map_or_else(String::new, super::json::duration_text);
            let max = i
                .every_max
                .as_ref()
                .and_then(proto::time::duration_millis)
                .map(super::json::duration_text);
            return match max {
                Some(max) => format!("every {every} to {max}"),
                None => format!("every {every}"),
            };
        }
        Some(pb::schedule::Kind::Calendar(c)) => {
            let fields = [
                ("year", &c.year),
                ("month", &c.month),
                ("day", &c.day),
                ("week", &c.week),
                ("day_of_week", &c.day_of_week),
                ("hour", &c.hour),
                ("minute", &c.minute),
                ("second", &c.second),
            ];
            let set: Vec<String> = fields
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("when {}", set.join(" "))
        }
        Some(pb::schedule::Kind::After(a)) => {
            return format!(
                "after each occurrence of {} {}",
                a.job_id,
                if a.on_finished { "ends" } else { "succeeds" }
            );
        }
    };
    format!("{text}{zone}")
}

fn is_num(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Five-field cron strings of the usual shapes in words; others as given.
fn cron_words(c: &str) -> String {
    let f: Vec<&str> = c.split_whitespace().collect();
    let [min, hour, dom, mon, dow] = f[..] else {
        return format!("cron {c}");
    };
    let at = |h: &str, m: &str| format!("{:0>2}:{:0>2}", h, m);
    match (min, hour, dom, mon, dow) {
        ("*", "*", "*", "*", "*") => "every minute".into(),
        (m, "*", "*", "*", "*") if m.starts_with("*/") => format!("every {} minutes", &m[2..]),
        (m, "*", "*", "*", "*") if is_num(m) => format!("every hour at minute {m}"),
        (m, h, "*", "*", "*") if is_num(m) && h.starts_with("*/") => {
            format!("every {} hours at minute {m}", &h[2..])
        }
        (m, h, "*", "*", "*") if is_num(m) && is_num(h) => format!("every day at {}", at(h, m)),
        (m, h, "*", "*", "1-5") if is_num(m) && is_num(h) => {
            format!("every weekday at {}", at(h, m))
        }
        (m, h, "*", "*", d) if is_num(m) && is_num(h) && is_num(d) => {
            match d.parse::<usize>().ok().and_then(|d| DAYS.get(d % 7)) {
                Some(day) => format!("every {day} at {}", at(h, m)),
                None => format!("cron {c}"),
            }
        }
        (m, h, d, "*", "*") if is_num(m) && is_num(h) && is_num(d) => {
            format!("on day {d} of every month at {}", at(h, m))
        }
        _ => format!("cron {c}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_cron_shapes_read_as_sentences() {
        for (cron, words) in [
            ("* * * * *", "every minute"),
            ("*/5 * * * *", "every 5 minutes"),
            ("15 * * * *", "every hour at minute 15"),
            ("30 9 * * *", "every day at 09:30"),
            ("0 18 * * 1-5", "every weekday at 18:00"),
            ("0 7 * * 0", "every Sunday at 07:00"),
            ("0 0 1 * *", "on day 1 of every month at 00:00"),
            ("0 0 L * *", "cron 0 0 L * *"),
            ("*/10 * * * * *", "cron */10 * * * * *"),
        ] {
            assert_eq!(cron_words(cron), words, "{cron}");
        }
    }
}
