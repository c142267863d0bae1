#!/usr/bin/env python
"""Analytics benchmark: the dashboard and a month's TAT percentiles over a million studies.

With N signed studies in a scratch database (30 hospitals of uneven size, 40 radiologists,
eight modality/body-part mixes, 7 % STAT / 23 % urgent, turnaround drawn from a log-normal
with a long tail so that a few % breach, the newest still open), it measures, each against
the bare SQL aggregate for the same numbers run over psycopg in the same run:

1. the dashboard's headline (``overview``: open queue by priority with oldest / at risk /
   breached, the month's SLA compliance overall and per hospital) as a manager;
2. a month's TAT percentiles (``tat_breakdown``: p50/p90/p95 final and preliminary,
   compliance and volume, overall and by hospital, modality, priority, radiologist and
   hour of day) as a manager;
3. the same for one hospital, as its hospital user (what the portal asks).

Rows are generated inside PostgreSQL (``INSERT ... SELECT`` from ``generate_series``), in
chunks with a progress bar.

    .venv/bin/python bench/analytics.py --studies 1000000 --repeat 30
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import bar_chart, prepare_database  # noqa: E402

DB_NAME = "readingcenter_bench_analytics"
CHUNK = 100_000

# (modality, body part, subspecialty), repeated to weight the mix: radiographs dominate.
MIX = [
    ("CR", "CHEST", "chest"), ("CR", "CHEST", "chest"), ("CR", "CHEST", "chest"),
    ("CT", "HEAD", "neuro"), ("CT", "HEAD", "neuro"), ("CT", "CHEST", "chest"),
    ("CT", "ABDOMEN", "body"), ("MR", "BRAIN", "neuro"), ("DX", "KNEE", "msk"),
    ("US", "ABDOMEN", "body"),
]  # fmt: skip
MODELS = [("head-ct-ich", "1.2.0"), ("head-ct-ich", "1.3.0"), ("chest-cr-ptx", "0.9.1")]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def progress(done: int, total: int, label: str, started: float) -> None:
    width = 30
    filled = round(width * done / total)
    rate = done / max(1e-9, time.perf_counter() - started)
    line = f"  {label} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} ({rate:,.0f}/s)"
    if sys.stderr.isatty():
        print(line, end="\n" if done == total else "\r", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)


# -- the data -------------------------------------------------------------------------------------

# One chunk's draws, kept in a temporary table so that study, case and report agree.
DRAW_SQL = """
    create temporary table draw on commit drop as
    select n,
           -- Uneven hospitals: a power of a uniform draw favours the first ones.
           (%(hospitals)s::bigint[])[1 + floor(%(nh)s * power(random(), 1.6))::int] as hospital_id,
           1 + floor(random() * %(nmix)s)::int as mix,
           (%(readers)s::bigint[])[1 + floor(random() * %(nr)s)::int] as reader_id,
           random() as p_roll, random() as ai_roll, random() as crit_roll, random() as pre_roll,
           now() - random() * interval '365 days' as arrived_at,
           -- Box-Muller: a standard normal for the log-normal turnaround.
           sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) as z
    from generate_series(%(lo)s::bigint, %(hi)s::bigint) as n
"""
SHAPE_SQL = """
    create temporary table shaped on commit drop as
    select d.*, m.modality, m.body_part, m.subspecialty,
           case when p_roll < 0.07 then 'stat' when p_roll < 0.30 then 'urgent'
                else 'routine' end as priority,
           case when p_roll < 0.07 then 0 when p_roll < 0.30 then 1 else 2 end as priority_rank,
           case when p_roll < 0.07 then %(stat)s when p_roll < 0.30 then %(urgent)s
                else %(routine)s end as target
    from draw d
    join unnest(%(modalities)s::text[], %(body_parts)s::text[], %(subs)s::text[])
         with ordinality as m(modality, body_part, subspecialty, i) on m.i = d.mix
"""
TIMES_SQL = """
    create temporary table timed on commit drop as
    select s.*,
           -- Median 30 % of the target, sigma 0.65: about 3 % past the target, a long tail.
           s.arrived_at + make_interval(secs => 60 * s.target * 0.30 * exp(0.65 * s.z))
               as done_at
    from shaped s
"""
STUDY_SQL = """
    insert into studies_study ({columns})
    select n, '1.2.826.0.1.3680043.10.778.' || n, 'bench-' || n, hospital_id, 'complete',
           'Patient^' || n, 'P' || (n %% 300000), 'A' || lpad(n::text, 10, '0'),
           modality || ' ' || body_part, array[modality], body_part, priority,
           modality || ' ' || initcap(body_part), arrived_at, arrived_at, arrived_at, 1, 1, 20
           {fill}
    from timed
"""
STUDY_COLUMNS = ("id, study_instance_uid, orthanc_id, hospital_id, status, patient_name, "
                 "patient_id, accession_number, study_description, modalities, "
                 "body_part_examined, priority, requested_procedure_description, received_at, "
                 "completed_at, updated_at, version, series_count, instance_count")  # fmt: skip
CASE_SQL = """
    insert into worklist_case ({columns})
    select n, n, hospital_id,
           case when done_at <= now() then 'signed' else 'unread' end,
           priority, priority_rank, arrived_at,
           arrived_at + make_interval(mins => target),
           arrived_at + make_interval(secs => 60 * target * %(at_risk)s),
           case when ai_roll < 0.35 then 0.5 + ai_roll else 0 end, ai_roll < 0.05,
           modality, array[modality], body_part, subspecialty,
           case when done_at <= now() then reader_id end,
           case when done_at <= now() then arrived_at end,
           case when done_at <= now() and priority = 'stat' and pre_roll < 0.5
                then arrived_at + (done_at - arrived_at) * 0.4 end,
           case when done_at <= now() then done_at end,
           '', arrived_at, coalesce(least(done_at, now()), now())
           {fill}
    from timed
"""
CASE_COLUMNS = ("id, study_id, hospital_id, state, priority, priority_rank, arrived_at, due_at, "
                "at_risk_at, ai_score, ai_flagged, modality, modalities, body_part, "
                "subspecialty, claimed_by_id, claimed_at, preliminary_at, signed_at, "
                "removed_reason, created_at, updated_at")  # fmt: skip
REPORT_SQL = """
    insert into reports_report ({columns})
    select n, n, n, hospital_id, 'signed', 'final', '', 'None available.',
           'Findings of ' || modality || ' ' || body_part || '.', 'Impression.', '',
           case when crit_roll < 0.02
                then '[{{"finding": "Acute intracranial haemorrhage", "category": "minutes"}}]'
                else '[]' end::jsonb,
           case when ai_roll < 0.35 then jsonb_build_array(jsonb_build_object(
               'finding', 'f', 'sentence', 'AI sentence.', 'model_name', m.name,
               'model_version', m.version, 'probability', 0.9)) else '[]'::jsonb end,
           '{{}}'::jsonb,
           case when ai_roll < 0.35 then jsonb_build_array(jsonb_build_object(
               'finding', 'f', 'model_name', m.name, 'model_version', m.version,
               'review', 'accepted',
               'outcome', case when pre_roll < 0.55 then 'kept' when pre_roll < 0.80
                               then 'edited' else 'removed' end,
               'similarity', case when pre_roll < 0.55 then 1.0 when pre_roll < 0.80
                                  then round((0.6 + 0.4 * pre_roll)::numeric, 3)
                                  else round((0.5 * pre_roll)::numeric, 3) end))
                else '[]'::jsonb end,
           1, reader_id, reader_id, 1, done_at, 'Reader ' || reader_id || ', MD',
           'final report', md5(n::text) || md5(n::text || 'x'), done_at, done_at
           {fill}
    from timed t
    join unnest(%(model_names)s::text[], %(model_versions)s::text[])
         with ordinality as m(name, version, i) on m.i = 1 + (t.n %% %(nmodels)s)
    where t.done_at <= now()
"""
REPORT_COLUMNS = ("id, study_id, case_id, hospital_id, state, kind, technique, comparison, "
                  "findings, impression, addendum_text, critical_findings, ai_draft, ai_review, "
                  "ai_acceptance, revision, author_id, signed_by_id, version_number, signed_at, "
                  "signature_name, signature_meaning, content_sha256, created_at, "
                  "updated_at")  # fmt: skip

ZERO = {"character varying": "''", "text": "''", "integer": "0", "smallint": "0",
        "bigint": "0", "double precision": "0", "numeric": "0", "boolean": "false",
        "jsonb": "'{}'::jsonb", "ARRAY": "'{}'", "timestamp with time zone": "now()",
        "date": "current_date"}  # fmt: skip


def fill(conn, table: str, columns: str) -> tuple[str, str]:
    """Columns other apps may have added since this was written (NOT NULL, no database
    default: Django keeps defaults in Python), filled with a zero value of their type."""
    given = {c.strip() for c in columns.split(",")}
    rows = conn.execute(
        "select column_name, data_type from information_schema.columns where table_name = %s "
        "and is_nullable = 'NO' and column_default is null",
        (table,),
    ).fetchall()
    extra = [(name, ZERO.get(kind, "''")) for name, kind in rows if name not in given]
    if not extra:
        return columns, ""
    return (columns + ", " + ", ".join(n for n, _ in extra),
            ", " + ", ".join(v for _, v in extra))  # fmt: skip


def populate(database_url: str, n_studies: int, n_hospitals: int, n_readers: int, seed: float):
    import psycopg
    from django.conf import settings

    from readingcenter.accounts.models import Role, User
    from readingcenter.hospitals.models import Hospital
    from readingcenter.sla.models import SlaPolicy

    zones = ["Asia/Seoul", "Asia/Shanghai", "Asia/Tokyo", "Asia/Singapore", "Europe/London"]
    hospitals = Hospital.objects.bulk_create(
        [
            Hospital(name=f"Hospital {i:02d}", code=f"h{i:02d}", time_zone=zones[i % len(zones)])
            for i in range(n_hospitals)
        ]
    )
    # Every hospital's contract, at the default targets; a third of them promise STAT as
    # "a preliminary in time" (the clock stops at the first report), as EDs often ask.
    minutes = settings.SLA_DEFAULT_MINUTES
    SlaPolicy.objects.bulk_create(
        [
            SlaPolicy(hospital=h, priority=p, target_minutes=minutes[p],
                      clock_end="preliminary" if p == "stat" and i % 3 == 0 else "final")
            for i, h in enumerate(hospitals)
            for p in ("stat", "urgent", "routine")
        ]
    )  # fmt: skip
    readers = []
    for i in range(n_readers):
        user = User(username=f"reader{i:02d}", role=Role.RADIOLOGIST, first_name=f"Reader {i:02d}")
        user.set_unusable_password()
        readers.append(user)
    readers = User.objects.bulk_create(readers)
    params = {
        "hospitals": [h.id for h in hospitals],
        "nh": n_hospitals,
        "readers": [u.id for u in readers],
        "nr": n_readers,
        "nmix": len(MIX),
        "modalities": [m for m, _, _ in MIX],
        "body_parts": [b for _, b, _ in MIX],
        "subs": [s for _, _, s in MIX],
        "stat": minutes["stat"],
        "urgent": minutes["urgent"],
        "routine": minutes["routine"],
        "at_risk": settings.SLA_DEFAULT_AT_RISK_PERCENT / 100,
        "model_names": [m for m, _ in MODELS],
        "model_versions": [v for _, v in MODELS],
        "nmodels": len(MODELS),
    }
    say(f"==> {n_studies:,} studies, their cases and final reports (INSERT ... SELECT)")
    started = time.perf_counter()
    # Autocommit, so that each chunk's conn.transaction() is a transaction of its own (and
    # its temporary tables go at its commit), not a savepoint inside one long transaction.
    with psycopg.connect(database_url, autocommit=True) as conn:
        study_cols, study_fill = fill(conn, "studies_study", STUDY_COLUMNS)
        case_cols, case_fill = fill(conn, "worklist_case", CASE_COLUMNS)
        report_cols, report_fill = fill(conn, "reports_report", REPORT_COLUMNS)
        conn.execute("select setseed(%s)", (seed,))
        for lo in range(1, n_studies + 1, CHUNK):
            hi = min(n_studies, lo + CHUNK - 1)
            with conn.transaction():
                # Bulk load: a lost commit only loses generated rows.
                conn.execute("set local synchronous_commit = off")
                conn.execute(DRAW_SQL, {**params, "lo": lo, "hi": hi})
                conn.execute(SHAPE_SQL, params)
                conn.execute(TIMES_SQL)
                conn.execute(STUDY_SQL.format(columns=study_cols, fill=study_fill), params)
                conn.execute(CASE_SQL.format(columns=case_cols, fill=case_fill), params)
                conn.execute(REPORT_SQL.format(columns=report_cols, fill=report_fill), params)
            progress(hi, n_studies, "studies", started)
        for table in ("studies_study", "worklist_case", "reports_report"):
            conn.execute(
                f"select setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(select max(id) from {table}))"
            )
    say(f"    inserted in {time.perf_counter() - started:.0f} s; vacuum analyze")
    t0 = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("vacuum analyze studies_study, worklist_case, reports_report")
        signed, open_ = conn.execute(
            "select count(*) filter (where state = 'signed'), count(*) filter "
            "(where state <> 'signed') from worklist_case"
        ).fetchone()
        late = conn.execute(
            "select count(*) from worklist_case where state = 'signed' and signed_at > due_at"
        ).fetchone()[0]
    say(f"    vacuumed in {time.perf_counter() - t0:.0f} s")
    return hospitals, signed, open_, late


# -- the bare SQL baselines -----------------------------------------------------------------------

# The clock stops at the final, or at the first report for a to-preliminary policy.
STOP = ("case when p.clock_end = 'preliminary' then least(c.preliminary_at, c.signed_at) "
        "else c.signed_at end")  # fmt: skip
POLICY = "left join sla_slapolicy p on p.hospital_id = c.hospital_id and p.priority = c.priority"
BARE_QUEUE = """
    select c.priority, count(*), min(c.arrived_at),
           count(*) filter (where {stop} is null and c.at_risk_at <= %(now)s
                            and c.due_at > %(now)s),
           count(*) filter (where {stop} is null and c.due_at <= %(now)s)
    from worklist_case c {policy}
    where c.state in ('unread', 'claimed', 'in_report') group by c.priority
"""
BARE_COMPLIANCE = """
    select c.hospital_id, count(*), count(*) filter (where {stop} <= c.due_at)
    from worklist_case c {policy}
    where c.state = 'signed' and c.signed_at >= %(start)s and c.signed_at < %(end)s
    group by c.hospital_id
"""
BARE_QUEUE = BARE_QUEUE.format(stop=STOP, policy=POLICY)
BARE_COMPLIANCE = BARE_COMPLIANCE.format(stop=STOP, policy=POLICY)
BARE_TAT = """
    select grouping(hospital_id, modality, priority, claimed_by_id, hour),
           hospital_id, modality, priority, claimed_by_id, hour, count(*),
           count(*) filter (where met),
           percentile_cont(array[0.5, 0.9, 0.95]) within group (order by final_min),
           count(preliminary_min),
           percentile_cont(array[0.5, 0.9, 0.95]) within group (order by preliminary_min)
    from (select c.hospital_id, c.modality, c.priority, c.claimed_by_id,
                 {stop} <= c.due_at as met,
                 date_part('epoch', c.signed_at - c.arrived_at) / 60 as final_min,
                 date_part('epoch', c.preliminary_at - c.arrived_at) / 60 as preliminary_min,
                 extract(hour from c.arrived_at at time zone h.time_zone)::int as hour
          from worklist_case c join hospitals_hospital h on h.id = c.hospital_id {policy}
          where c.state = 'signed' and c.signed_at >= %(start)s and c.signed_at < %(end)s
                {hospital}) c
    group by grouping sets ((), (hospital_id), (modality), (priority), (claimed_by_id), (hour))
"""


def bare_tat_sql(hospital: str) -> str:
    return BARE_TAT.format(hospital=hospital, stop=STOP, policy=POLICY)


def timed(fn, repeat: int) -> tuple[list[float], object]:
    out, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out, result


def report(title: str, ours: list[float], bare: list[float]) -> dict:
    row = {
        "p50": statistics.median(ours),
        "p95": pct(ours, 95),
        "sql_p50": statistics.median(bare),
        "sql_p95": pct(bare, 95),
    }
    row["ratio_p50"] = row["p50"] / row["sql_p50"]
    row["ratio_p95"] = row["p95"] / row["sql_p95"]
    print(f"\n{title}")
    print(f"  ours (selector)  p50 {row['p50']:8.2f} ms   p95 {row['p95']:8.2f} ms")
    print(f"  bare SQL         p50 {row['sql_p50']:8.2f} ms   p95 {row['sql_p95']:8.2f} ms")
    print(f"  ratio ours / bare: p50 {row['ratio_p50']:.2f}x, p95 {row['ratio_p95']:.2f}x")
    bars = [("ours p50", row["p50"]), ("bare SQL p50", row["sql_p50"]),
            ("ours p95", row["p95"]), ("bare SQL p95", row["sql_p95"])]  # fmt: skip
    print(bar_chart(bars, "ms"))
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=1_000_000)
    parser.add_argument("--hospitals", type=int, default=30)
    parser.add_argument("--readers", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=30, help="timed runs of each measurement")
    parser.add_argument("--seed", type=float, default=0.42)
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/readingcenter")
    database_url = prepare_database(base, DB_NAME)
    env = {**os.environ, "DATABASE_URL": database_url}
    os.environ.update(env)
    say(f"==> migrating a scratch database ({DB_NAME})")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readingcenter.settings")
    import django

    django.setup()
    import psycopg
    from django.utils import timezone

    from readingcenter.accounts.models import Role, User
    from readingcenter.analytics import selectors
    from readingcenter.analytics.selectors import Period

    t0 = time.perf_counter()
    hospitals, signed, open_, late = populate(
        database_url, args.studies, args.hospitals, args.readers, args.seed
    )
    seeded = time.perf_counter() - t0
    manager = User.objects.create_user(username="bench.manager", password="x", role=Role.MANAGER)
    big = hospitals[0]
    hospital_user = User.objects.create_user(
        username="bench.hospital", password="x", role=Role.HOSPITAL, hospital=big
    )
    today = timezone.now().date()
    last = today.replace(day=1) - dt.timedelta(days=1)
    month = Period.month(last.year, last.month, "UTC")
    now = timezone.now()
    window = {"start": month.start, "end": month.end, "now": now}

    print(
        f"Analytics benchmark: {args.studies:,} studies ({signed:,} signed, {open_:,} open, "
        f"{late:,} signed late = {100 * late / max(1, signed):.1f} %), {args.hospitals} "
        f"hospitals, {args.readers} radiologists, {os.cpu_count()} CPU cores; seeded in "
        f"{seeded:.0f} s; month {month.start:%Y-%m} (UTC), {args.repeat} timed runs each"
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        plan = "\n".join(r[0] for r in conn.execute("explain " + bare_tat_sql(""), window))
        month_signed = sum(r[1] for r in conn.execute(BARE_COMPLIANCE, window).fetchall())
        scans = sorted(
            set(
                re.findall(
                    r"(?:Index Only |Index |Seq |Bitmap Heap )Scan"
                    r"(?: using \S+)? on worklist_case",
                    plan,
                )
            )
        )
        print(f"  {month_signed:,} cases signed that month; plan: {'; '.join(scans)}")

        def bare_overview():
            return (conn.execute(BARE_QUEUE, window).fetchall(),
                    conn.execute(BARE_COMPLIANCE, window).fetchall())  # fmt: skip

        def ours_overview():
            return selectors.overview(user=manager, period=month, now=now)

        def bare_tat(hospital=""):
            sql = bare_tat_sql(hospital)
            return lambda: conn.execute(sql, {**window, "h": big.id}).fetchall()

        def ours_tat(user):
            return lambda: selectors.tat_breakdown(user=user, period=month)

        results = {}
        say("==> 1. dashboard overview")
        timed(ours_overview, 3)  # warm-up: caches, plans
        timed(bare_overview, 3)
        ours, ov = timed(ours_overview, args.repeat)
        bare, (queue, comp) = timed(bare_overview, args.repeat)
        assert ov.signed == sum(r[1] for r in comp) and ov.met == sum(r[2] for r in comp)
        assert sum(q.open for q in ov.queue) == sum(r[1] for r in queue)
        results["overview"] = report(
            "Dashboard overview (open queue by priority + the month's compliance per hospital)",
            ours, bare,
        )  # fmt: skip
        print(f"  the month: {ov.signed:,} signed, compliance {100 * ov.compliance:.2f} %; "
              f"open now: {sum(q.open for q in ov.queue):,}")  # fmt: skip

        say("==> 2. a month's TAT percentiles, all hospitals (manager)")
        timed(ours_tat(manager), 3)
        timed(bare_tat(), 3)
        ours, tat = timed(ours_tat(manager), args.repeat)
        bare, rows = timed(bare_tat(), args.repeat)
        overall = next(r for r in rows if r[0] == 31)
        assert tat.overall.count == overall[6]
        assert tat.overall.final_p50 == round(float(overall[8][0]), 1)
        results["tat"] = report(
            "A month's TAT p50/p90/p95 by hospital, modality, priority, radiologist, hour",
            ours, bare,
        )  # fmt: skip
        o = tat.overall
        print(f"  the month's TAT (min): p50 {o.final_p50}  p90 {o.final_p90}  p95 "
              f"{o.final_p95}; STAT preliminary p50 {o.preliminary_p50} "
              f"({o.preliminary_count:,})")  # fmt: skip

        say("==> 3. a month's TAT percentiles, one hospital (its hospital user)")
        hospital_sql = "and c.hospital_id = %(h)s"
        timed(ours_tat(hospital_user), 3)
        timed(bare_tat(hospital_sql), 3)
        ours, tat = timed(ours_tat(hospital_user), args.repeat)
        bare, rows = timed(bare_tat(hospital_sql), args.repeat)
        assert tat.overall.count == next(r for r in rows if r[0] == 31)[6]
        results["hospital"] = report(
            f"The same for one hospital ({big.name}, {tat.overall.count:,} cases), as its user",
            ours, bare,
        )  # fmt: skip

    print("\nSummary (p50, ms)")
    bars = [(f"{k} ours", v["p50"]) for k, v in results.items()]
    bars += [(f"{k} bare SQL", v["sql_p50"]) for k, v in results.items()]
    print(bar_chart(bars, "ms"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
