"""Helpers for bench/run.sh: watch the server, wait for the processor, write the report.

    report.py watch   --url U --pid P --out timeline.jsonl --stop-file F
    report.py catchup --url U --expected N --timeout 60
    report.py summary --workdir D --out results/<timestamp>.json  (reads what run.sh left in D)

``watch`` polls ``GET /readyz`` and ``/proc/<pid>`` every ``--interval`` seconds and appends
one JSON line per poll (processor counts, resident memory, CPU seconds) until the stop file
appears. ``summary`` turns wrk's BENCH lines, the probe results and that timeline into the
printed report and the JSON file.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

CLK_TCK = os.sysconf("SC_CLK_TCK")
MAX_WATCH_S = 1800.0


# -- server state -------------------------------------------------------------------------


def processor_counts(client: httpx.Client, url: str) -> dict[str, Any]:
    r = client.get(f"{url}/readyz")
    checks = r.json()["checks"]
    proc = checks["processor"]
    events = proc.get("events") or {}
    dropped = sum(v for k, v in events.items() if k.startswith("dropped_"))
    return {
        "ready": r.status_code == 200,
        "received": events.get("received", 0),
        "stored": events.get("stored", 0),
        "duplicates": events.get("duplicates", 0),
        "dropped": dropped,
        "dropped_by_reason": {k[8:]: v for k, v in events.items() if k.startswith("dropped_")},
        "batches": proc.get("batches"),
        "last_error": proc.get("last_error"),
        # events the queue holds that the processor has not committed (newer servers report it)
        "queue_pending": (checks.get("queue") or {}).get("pending"),
    }


def process_facts(pid: int) -> dict[str, Any]:
    """Resident memory now and at peak (kB), and CPU seconds used so far, from /proc."""
    facts: dict[str, Any] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                facts[key] = int(value.split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        facts["cpu_s"] = round((int(fields[11]) + int(fields[12])) / CLK_TCK, 2)
    except (OSError, ValueError, IndexError):
        pass
    return facts


def _auth(args: argparse.Namespace) -> dict[str, str]:
    """The operator key: /readyz shows its checks only to it."""
    return {"authorization": f"Bearer {args.token}"} if args.token else {}


def watch(args: argparse.Namespace) -> int:
    deadline = time.time() + MAX_WATCH_S
    with httpx.Client(timeout=10, headers=_auth(args)) as client, args.out.open("a") as out:
        while not args.stop_file.exists() and time.time() < deadline:
            row: dict[str, Any] = {"t": time.time()}
            try:
                row.update(processor_counts(client, args.url))
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                row["error"] = f"{type(exc).__name__}: {exc}"[:200]
            row.update(process_facts(args.pid))
            out.write(json.dumps(row) + "\n")
            out.flush()
            time.sleep(args.interval)
    return 0


def catchup(args: argparse.Namespace) -> int:
    """Wait until the processor has received at least --expected events."""
    deadline = time.monotonic() + args.timeout
    with httpx.Client(timeout=10, headers=_auth(args)) as client:
        while True:
            try:
                counts = processor_counts(client, args.url)
                if counts["received"] >= args.expected:
                    return 0
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                return 1
            time.sleep(0.1)


# -- the report ---------------------------------------------------------------------------


def parse_wrk(text: str) -> dict[str, Any]:
    """The BENCH and BENCH_STATUS lines that bench/collect.lua's done() prints."""
    result: dict[str, Any] = {}
    for line in text.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "BENCH":
            for pair in rest.split():
                key, _, value = pair.partition("=")
                result[key] = float(value) if "." in value else int(value)
        elif tag == "BENCH_STATUS":
            result["status_counts"] = dict(pair.split("=") for pair in rest.split())
    return result


def first_time(timeline: list[dict[str, Any]], expected: int, after: float) -> float | None:
    for row in timeline:
        if row["t"] >= after and row.get("received", -1) >= expected:
            return float(row["t"])
    return None


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _first_line(*cmd: str) -> str:
    """First line a command prints (stdout, else stderr), "" if nothing, "n/a" if it failed."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "n/a"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else ""


def machine_facts() -> dict[str, Any]:
    cpu = "n/a"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    repo = str(Path(__file__).resolve().parent)
    commit = _first_line("git", "-C", repo, "rev-parse", "--short", "HEAD")
    if _first_line("git", "-C", repo, "status", "--porcelain", "--untracked-files=no") not in (
        "",
        "n/a",
    ):
        commit += " (with uncommitted changes)"
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory_mb": os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20,
        "python": platform.python_version(),
        "footfall": importlib.metadata.version("footfall"),
        "commit": commit,
        "wrk": _first_line("wrk", "--version"),
        "kernel": platform.release(),
    }


def summary(args: argparse.Namespace) -> int:
    d: Path = args.workdir
    meta = {
        "timestamp": args.timestamp,
        "wrk_started_at": args.wrk_started_at,
        "wrk_ended_at": args.wrk_ended_at,
        "data_dir_mb": args.data_dir_mb,
        "machine": machine_facts(),
        "config": {
            "threads": args.threads,
            "connections": args.connections,
            "duration_s": args.duration,
        },
    }
    wrk = parse_wrk((d / "wrk.out").read_text()) if (d / "wrk.out").exists() else {}
    load = read_json(d / "visible-load.json")
    idle = read_json(d / "visible-idle.json")
    timeline = [
        json.loads(line) for line in (d / "timeline.jsonl").read_text().splitlines() if line
    ]
    # rows where both /readyz and /proc answered
    rows = [r for r in timeline if "received" in r and "cpu_s" in r]
    t_start, t_end = float(meta["wrk_started_at"]), float(meta["wrk_ended_at"])
    before: dict[str, Any] = next((r for r in reversed(rows) if r["t"] < t_start), {})
    at_end: dict[str, Any] = next((r for r in rows if r["t"] >= t_end), {})
    final: dict[str, Any] = rows[-1] if rows else {}
    during = [r for r in rows if t_start <= r["t"] <= t_end]

    wrk_accepted = int(wrk.get("accepted", 0))
    probes = int(load.get("events_accepted", 0)) + int(idle.get("events_accepted", 0))
    expected_after_load = wrk_accepted + int(load.get("events_accepted", 0))
    caught_up_at = first_time(rows, expected_after_load, t_end)
    server_cpu = processed_during = processed_after = None
    if at_end and before:
        span = at_end["t"] - before["t"]
        server_cpu = round((at_end["cpu_s"] - before["cpu_s"]) / span, 2)
        processed_during = round((at_end["received"] - before["received"]) / span)
    if at_end and caught_up_at and caught_up_at - at_end["t"] >= 2:  # else too few to measure
        backlog = expected_after_load - at_end["received"]
        processed_after = round(backlog / (caught_up_at - at_end["t"]))
    pending = [r["queue_pending"] for r in during if r.get("queue_pending") is not None]

    t0 = before.get("t", t_start)
    compact, last = [], -1.0
    for r in rows:  # one point a second, from just before wrk started
        if r["t"] >= t0 and r["t"] - last >= 1.0:
            last = r["t"]
            compact.append(
                {
                    "s": round(r["t"] - t_start, 1),
                    "received": r["received"],
                    "stored": r["stored"],
                    "queue_pending": r.get("queue_pending"),
                    "rss_mb": _mb(r.get("VmRSS")),
                    "cpu_s": r["cpu_s"],
                }
            )
    log = (d / "server.log").read_text(errors="replace") if (d / "server.log").exists() else ""
    problems = [
        line
        for line in log.splitlines()
        if any(w in line for w in ("ERROR", "CRITICAL", "Traceback", "WARNING"))
    ]

    report: dict[str, Any] = {
        "timestamp": meta.get("timestamp"),
        "machine": meta.get("machine", {}),
        "config": meta.get("config", {}),
        "load": {
            "requests": wrk.get("requests"),
            "events_sent": wrk.get("events"),
            "events_accepted": wrk_accepted,
            "requests_per_s": wrk.get("rps"),
            "events_per_s": wrk.get("eps"),
            "latency_ms": {k: wrk.get(f"{k}_ms") for k in ("p50", "p90", "p99", "max", "mean")},
            "non_200": wrk.get("non200"),
            "socket_errors": wrk.get("socket_errors"),
            "timeouts": wrk.get("timeouts"),
            "status_counts": wrk.get("status_counts", {}),
            "duration_s": wrk.get("duration_s"),
        },
        "ack_to_visible_s": {
            name: {
                k: v.get(k)
                for k in ("samples", "visible", "failed", "p50_s", "p99_s", "max_s", "min_s")
            }
            for name, v in (("under_load", load), ("idle", idle))
        },
        "processor": {
            "at_wrk_end": {
                k: at_end.get(k) for k in ("received", "stored", "duplicates", "dropped")
            },
            "backlog_at_wrk_end": expected_after_load - int(at_end.get("received", 0))
            if at_end
            else None,
            "caught_up_s_after_wrk_end": round(caught_up_at - t_end, 2) if caught_up_at else None,
            "events_per_s_during_load": processed_during,
            "events_per_s_after_load": processed_after,
            "queue_pending_at_wrk_end": at_end.get("queue_pending"),
            "queue_pending_max": max(pending) if pending else None,
            "final": {
                k: final.get(k)
                for k in ("received", "stored", "duplicates", "dropped", "dropped_by_reason")
            },
            "expected_events": wrk_accepted + probes,
            "last_error": final.get("last_error"),
        },
        "server": {
            "rss_mb_before_load": _mb(before.get("VmRSS")),
            "rss_mb_at_wrk_end": _mb(at_end.get("VmRSS")),
            "rss_mb_final": _mb(final.get("VmRSS")),
            "peak_rss_mb": _mb(final.get("VmHWM")),
            "cpu_cores_used_during_load": server_cpu,
            "threads": final.get("Threads"),
            "data_dir_mb": meta.get("data_dir_mb"),
            "shutdown_s": args.shutdown_s,
            "exit_status": args.exit_status,
            "log_problems": len(problems),
            "log_problem_lines": problems[:20],
        },
        "timeline": compact,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(render(report))
    print(f"\nwritten to {args.out}")
    problems = [
        text
        for failed, text in (
            (wrk_accepted == 0, "wrk got no events accepted"),
            (bool(wrk.get("non200")), f"{wrk.get('non200')} non-200 responses"),
            (bool(wrk.get("socket_errors") or wrk.get("timeouts")), "wrk had socket errors"),
            (bool(load.get("failed", 1) or idle.get("failed", 1)), "some probes failed"),
            (caught_up_at is None, "the processor did not catch up"),
            (final.get("received", 0) < wrk_accepted + probes, "accepted events are missing"),
        )
        if failed
    ]
    if problems:
        print("\nFAILED: " + "; ".join(problems))
    ok = not problems
    return 0 if ok else 1


def _mb(kb: int | None) -> float | None:
    return round(kb / 1024, 1) if kb is not None else None


def _s(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f} s"


def render(r: dict[str, Any]) -> str:
    m, c, load, proc, srv = r["machine"], r["config"], r["load"], r["processor"], r["server"]
    lat = load["latency_ms"]
    per_request = (load.get("events_sent") or 0) // max(load.get("requests") or 1, 1)
    lines = [
        f"footfall bench {r['timestamp']}",
        f"  machine: {m.get('nproc')} cores ({m.get('cpu')}), Python {m.get('python')}, "
        f"footfall {m.get('footfall')}, commit {m.get('commit')}, {m.get('wrk')}",
        f"  load: wrk {c.get('threads')} threads, {c.get('connections')} connections, "
        f"{c.get('duration_s')} s, {per_request} events per request",
        f"  requests/s {load['requests_per_s']}   events/s {load['events_per_s']}   "
        f"({load['requests']} requests, {load['events_accepted']} events accepted)",
        f"  collect latency: p50 {lat['p50']} ms, p90 {lat['p90']} ms, p99 {lat['p99']} ms, "
        f"max {lat['max']} ms",
        f"  non-200 responses: {load['non_200']}   socket errors: {load['socket_errors']}   "
        f"timeouts: {load['timeouts']}   statuses: {load['status_counts']}",
    ]
    for name, label in (("under_load", "under load"), ("idle", "idle")):
        v = r["ack_to_visible_s"][name]
        lines.append(
            f"  ack-to-visible {label}: p50 {_s(v.get('p50_s'))}, p99 {_s(v.get('p99_s'))}, "
            f"max {_s(v.get('max_s'))}, min {_s(v.get('min_s'))} "
            f"({v.get('visible')}/{v.get('samples')} samples visible)"
        )
    end, fin = proc["at_wrk_end"], proc["final"]
    expected = load["events_accepted"] or 0
    share = f"{100 * (end.get('stored') or 0) / expected:.0f}%" if expected else "n/a"
    caught = proc["caught_up_s_after_wrk_end"]
    lines += [
        f"  processor at wrk end: stored {end.get('stored')} events ({share} of those wrk had "
        f"acked), backlog {proc['backlog_at_wrk_end']} (queue pending "
        f"{proc['queue_pending_at_wrk_end']}, max during load {proc['queue_pending_max']})",
        f"  processor rate: {proc['events_per_s_during_load']} events/s during load, "
        f"{proc['events_per_s_after_load']} events/s after",
        f"  processor caught up {_s(caught)} after wrk ended"
        if caught is not None
        else "  processor did NOT catch up within the timeout",
        f"  processor final: received {fin.get('received')}, stored {fin.get('stored')}, "
        f"duplicates {fin.get('duplicates')}, dropped {fin.get('dropped')} "
        f"(accepted at least {proc['expected_events']}; wrk does not count requests in flight "
        "when it stops)",
        f"  server: RSS {srv['rss_mb_before_load']} MB before, {srv['rss_mb_at_wrk_end']} MB at "
        f"wrk end, peak {srv['peak_rss_mb']} MB; {srv['cpu_cores_used_during_load']} cores "
        f"busy during load; data dir {srv['data_dir_mb']} MB",
        f"  server stopped {_s(srv['shutdown_s'])} after SIGTERM, exit status {srv['exit_status']}"
        f"{' (uvicorn re-raises SIGTERM after a graceful shutdown)' if srv['exit_status'] == 143 else ''}"
        f"; {srv['log_problems']} warning/error lines in its log",
    ]
    if proc.get("last_error"):
        lines.append(f"  processor last error: {proc['last_error']}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("watch")
    w.add_argument("--url", required=True)
    w.add_argument("--pid", type=int, required=True)
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--stop-file", type=Path, required=True)
    w.add_argument("--interval", type=float, default=0.25)
    w.add_argument("--token", default="", help="the operator key (for /readyz's checks)")
    c = sub.add_parser("catchup")
    c.add_argument("--url", required=True)
    c.add_argument("--expected", type=int, required=True)
    c.add_argument("--timeout", type=float, default=60)
    c.add_argument("--token", default="", help="the operator key (for /readyz's checks)")
    s = sub.add_parser("summary")
    s.add_argument("--workdir", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--timestamp", required=True)
    s.add_argument("--wrk-started-at", type=float, required=True)
    s.add_argument("--wrk-ended-at", type=float, required=True)
    s.add_argument("--threads", type=int, required=True)
    s.add_argument("--connections", type=int, required=True)
    s.add_argument("--duration", type=int, required=True)
    s.add_argument("--data-dir-mb", type=float)
    s.add_argument("--shutdown-s", type=float, help="how long the server took to stop on SIGTERM")
    s.add_argument("--exit-status", type=int, help="the server's exit status")
    args = p.parse_args()
    args.url = getattr(args, "url", "").rstrip("/")
    return {"watch": watch, "catchup": catchup, "summary": summary}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
