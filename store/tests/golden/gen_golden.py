#!/usr/bin/env python3
"""Generate golden fire times for the schedule engine from outside references.

References: croniter (cron strings) and APScheduler 3.11's CronTrigger
(structured calendar fields). The output, schedule_golden.json, is committed;
the Rust test `store/tests/schedule_golden.rs` compares against it and lists
every case where the time rules of docs/time.md make us differ on purpose.

Run:  python3 store/tests/golden/gen_golden.py
It creates its own virtualenv (./.venv next to this file, git-ignored) and
installs the pinned references there.
"""
import json
import os
import subprocess
import sys
import venv

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".venv")
PINS = ["croniter==7.0.0", "apscheduler==3.11.*", "tzdata"]


def ensure_venv():
    """Re-exec inside a private venv with the pinned references."""
    if os.environ.get("GOLDEN_IN_VENV") == "1":
        return
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        venv.create(VENV, with_pip=True)
        subprocess.check_call([py, "-m", "pip", "install", "-q", *PINS])
    os.environ["GOLDEN_IN_VENV"] = "1"
    os.execv(py, [py, os.path.abspath(__file__), *sys.argv[1:]])


ensure_venv()

from datetime import datetime, timedelta, timezone  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

import apscheduler  # noqa: E402
import croniter as croniter_mod  # noqa: E402
from apscheduler.triggers.cron import CronTrigger  # noqa: E402
from croniter import croniter  # noqa: E402

COUNT = 6

# (id, expression, zone, after (UTC, RFC 3339), count)
CRON_CASES = [
    ("every-15-min", "*/15 * * * *", "UTC", "2026-01-01T00:07:00Z", COUNT),
    ("weekdays-9am-ny", "0 9 * * 1-5", "America/New_York", "2026-03-05T00:00:00Z", COUNT),
    ("ny-0230-spring-gap", "30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 3),
    ("ny-hourly-30-spring-gap", "30 * * * *", "America/New_York", "2026-03-08T05:00:00Z", 4),
    ("ny-0130-fall-back", "30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 3),
    ("ny-every-30-fall-back", "*/30 * * * *", "America/New_York", "2026-11-01T04:45:00Z", COUNT),
    ("ny-hourly-macro-fall-back", "@hourly", "America/New_York", "2026-11-01T04:30:00Z", 4),
    ("london-every-2h-fall-back", "0 */2 * * *", "Europe/London", "2026-10-24T22:00:00Z", COUNT),
    ("paris-daily-0230-spring", "30 2 * * *", "Europe/Paris", "2026-03-28T12:00:00Z", 3),
    ("lord-howe-15-min-fall-back", "*/15 * * * *", "Australia/Lord_Howe", "2026-04-04T13:50:00Z", 8),
    ("vixie-or-13th-or-friday", "0 0 13 * 5", "UTC", "2026-03-01T00:00:00Z", COUNT),
    ("step-dom-is-restricted", "0 0 */10 * 1", "UTC", "2026-03-01T00:00:00Z", COUNT),
    ("feb-30-or-monday", "0 0 30 2 MON", "UTC", "2026-01-01T00:00:00Z", 4),
    ("last-day-of-month", "0 0 L * *", "UTC", "2027-12-15T00:00:00Z", 4),
    ("last-friday", "0 0 * * 5L", "UTC", "2026-01-01T00:00:00Z", 4),
    ("third-friday", "0 0 * * 5#3", "UTC", "2026-01-01T00:00:00Z", 4),
    ("sunday-as-7", "0 12 * * 7", "UTC", "2026-03-01T13:00:00Z", 3),
    ("sunday-and-saturday", "15 10 * * 6,0", "Asia/Tokyo", "2026-03-01T00:00:00Z", 4),
    ("new-year", "0 0 1 1 *", "Europe/Berlin", "2026-06-01T00:00:00Z", 3),
    ("leap-day", "0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", 2),
    ("names", "0 8 * jan-mar mon-fri", "UTC", "2026-03-27T00:00:00Z", 4),
    ("seconds-first", "*/20 5 * * * *", "UTC", "2026-01-01T00:00:00Z", 4),
    ("kolkata-half-hour-zone", "0 9 * * *", "Asia/Kolkata", "2026-01-01T00:00:00Z", 2),
    ("santiago-midnight-spring", "0 0 * * *", "America/Santiago", "2026-09-04T12:00:00Z", 4),
    ("range-with-step", "10-40/15 3 * * *", "UTC", "2026-01-01T00:00:00Z", 4),
    ("london-0130-spring-gap", "30 1 * * *", "Europe/London", "2026-03-28T12:00:00Z", 3),
    ("london-0130-fall-back", "30 1 * * *", "Europe/London", "2026-10-24T12:00:00Z", 3),
    ("lord-howe-fixed-hour-fall-back", "*/15 1 * * *", "Australia/Lord_Howe", "2026-04-04T13:50:00Z", 6),
    ("lord-howe-0210-spring-gap", "10 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z", 2),
    ("chatham-quarter-hour-zone", "45 2 * * *", "Pacific/Chatham", "2026-09-26T00:00:00Z", 3),
    ("sydney-weekly-fall-back", "0 2 * * 0", "Australia/Sydney", "2026-03-30T00:00:00Z", 3),
    ("santiago-hourly-fall-back", "0 * * * *", "America/Santiago", "2026-04-04T01:30:00Z", 5),
    ("dublin-negative-dst", "0 12 * * *", "Europe/Dublin", "2026-03-27T00:00:00Z", 4),
    ("quarter-end-months", "0 6 1 1,4,7,10 *", "UTC", "2026-02-01T00:00:00Z", 4),
    ("minute-list-hours-range", "0,20,40 8-10 * * *", "Asia/Singapore", "2026-01-01T00:00:00Z", COUNT),
    ("dow-range-sunday-7", "0 0 * * 5-7", "UTC", "2026-03-05T00:00:00Z", 4),
    ("every-minute-first-second-gap", "* * * * *", "America/New_York", "2026-03-08T06:58:00Z", 4),
]

# (id, fields, zone, after, count): APScheduler CronTrigger keyword arguments.
CALENDAR_CASES = [
    ("cal-weekdays-9", {"day_of_week": "mon-fri", "hour": "9"}, "America/New_York", "2026-03-05T00:00:00Z", COUNT),
    ("cal-dow-0-is-monday", {"day_of_week": "0"}, "UTC", "2026-03-01T00:00:00Z", 3),
    ("cal-last-fri", {"day": "last fri", "hour": "17"}, "UTC", "2026-01-01T00:00:00Z", 4),
    ("cal-3rd-fri", {"day": "3rd fri", "hour": "10", "minute": "30"}, "UTC", "2026-01-01T00:00:00Z", 4),
    ("cal-last-day", {"day": "last"}, "UTC", "2028-01-15T00:00:00Z", 3),
    ("cal-friday-13th-and", {"day": "13", "day_of_week": "fri"}, "UTC", "2026-01-01T00:00:00Z", 3),
    ("cal-minute-30-fall-back", {"minute": "30"}, "America/New_York", "2026-11-01T04:00:00Z", 4),
    ("cal-0230-spring-gap", {"hour": "2", "minute": "30"}, "America/New_York", "2026-03-07T12:00:00Z", 3),
    ("cal-0130-fall-back", {"hour": "1", "minute": "30"}, "America/New_York", "2026-10-31T12:00:00Z", 3),
    ("cal-iso-week-10", {"week": "10", "hour": "6"}, "UTC", "2026-01-01T00:00:00Z", 4),
    ("cal-leap-day", {"month": "2", "day": "29"}, "UTC", "2026-01-01T00:00:00Z", 2),
    ("cal-seconds", {"minute": "5", "second": "*/20"}, "UTC", "2026-01-01T00:00:00Z", 4),
    ("cal-month-names-step", {"month": "jan-jun", "day": "*/10", "hour": "8"}, "Europe/Paris", "2026-05-25T00:00:00Z", 4),
    ("cal-year-list", {"year": "2027,2029", "month": "7", "day": "4"}, "UTC", "2026-01-01T00:00:00Z", 2),
    ("cal-sunday-name", {"day_of_week": "sun", "hour": "12"}, "Europe/London", "2026-03-26T00:00:00Z", 3),
    ("cal-dow-step", {"day_of_week": "*/2", "hour": "7"}, "UTC", "2026-03-01T00:00:00Z", 5),
    ("cal-day-step", {"day": "*/10", "hour": "0"}, "UTC", "2026-02-15T00:00:00Z", 4),
    ("cal-hour-range-step", {"hour": "8-17/3", "minute": "15"}, "Asia/Kolkata", "2026-01-01T00:00:00Z", 5),
    ("cal-second-only", {"second": "30"}, "UTC", "2026-01-01T00:00:10Z", 3),
    ("cal-month-only", {"month": "6"}, "UTC", "2026-01-01T00:00:00Z", 3),
    ("cal-last-sun-lord-howe", {"day": "last sun", "hour": "1", "minute": "45"}, "Australia/Lord_Howe", "2026-03-01T00:00:00Z", 2),
    ("cal-1st-mon-and-week", {"day": "1st mon", "week": "*/2"}, "UTC", "2026-01-01T00:00:00Z", 4),
]


def parse_utc(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def fmt(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_croniter(expr, zone, after, count):
    tz = ZoneInfo(zone)
    start = parse_utc(after).astimezone(tz)
    six = len(expr.split()) == 6
    it = croniter(expr, start, second_at_beginning=six) if six else croniter(expr, start)
    return [fmt(it.get_next(datetime)) for _ in range(count)]


def run_apscheduler(fields, zone, after, count):
    trig = CronTrigger(timezone=ZoneInfo(zone), **fields)
    now = parse_utc(after).astimezone(ZoneInfo(zone))
    out = []
    prev = None
    for _ in range(count):
        # Strictly after: APScheduler's own "now" is inclusive.
        nxt = trig.get_next_fire_time(prev, (prev or now) + timedelta(microseconds=1))
        if nxt is None:
            break
        out.append(fmt(nxt))
        prev = nxt
    return out


def main():
    cases = []
    for cid, expr, zone, after, count in CRON_CASES:
        case = {"id": cid, "kind": "cron", "expr": expr, "tz": zone, "after": after,
                "count": count, "reference": "croniter"}
        try:
            case["expected"] = run_croniter(expr, zone, after, count)
        except Exception as e:  # the reference refuses: record why
            case["error"] = f"{type(e).__name__}: {e}"
        cases.append(case)
    for cid, fields, zone, after, count in CALENDAR_CASES:
        case = {"id": cid, "kind": "calendar", "fields": fields, "tz": zone, "after": after,
                "count": count, "reference": "apscheduler"}
        try:
            case["expected"] = run_apscheduler(fields, zone, after, count)
        except Exception as e:
            case["error"] = f"{type(e).__name__}: {e}"
        cases.append(case)
    doc = {
        "generated_by": "store/tests/golden/gen_golden.py",
        "references": {
            "croniter": croniter_mod.__version__ if hasattr(croniter_mod, "__version__") else "7.0.0",
            "apscheduler": apscheduler.__version__ if hasattr(apscheduler, "__version__") else "3.11",
            "python": sys.version.split()[0],
        },
        "cases": cases,
    }
    path = os.path.join(HERE, "schedule_golden.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {path}")


if __name__ == "__main__":
    main()
