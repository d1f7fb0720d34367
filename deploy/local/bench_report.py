#!/usr/bin/env python3
"""make bench's reports: the load generator's JSON reports (and the focused benchmarks'
printed lines) turned into bench/results/<date>.md and .json, with the machine and the
versions they were measured with.

Each load generator scenario also gets its CPU per operation by program (microseconds of
CPU time, from /proc over the run, divided by the scenario's operations: connections,
deliveries, whispers, matched tickets): unlike latency, that figure is stable on a shared
machine. The report compares it with the previous results file (the one it replaces, or
the newest before it) and flags every program whose CPU per operation grew by more than
15%.

usage: bench_report.py table REPORT.json [CPU.json]  print one report as a table
       bench_report.py write WORK_DIR OUT_BASE REPO_ROOT
       bench_report.py figure REPORT.json NAME          print one figure's value
       bench_report.py peer WORK_DIR OUT_BASE            make bench-peer's report

The peer report (bench_peer.sh's runs, named peer-<side>-<shape>-<rate>.json and
peer-<side>-idle.json) gives, per shape, each side's highest deliveries/s with delivery
latency p99 under 10 ms and nothing lost, the CPU per delivery of the servers and the
Redis CPU per room message at the highest rate both sides ran cleanly, bytes per idle
connection, and Rallypoint's ratio to the peer for each.
"""
import glob
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone


def run(*command):
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "not found"


def fmt(value):
    if value == int(value) or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def cpu_line(cpu):
    """Where the cores went, from cpu_share.py's figures."""
    if not cpu:
        return "CPU: not recorded"
    top = [p for p in cpu["programs"] if p["cores"] >= 0.01][:8]
    parts = ", ".join(f"{p['program']} {p['cores']:.2f}" for p in top)
    return (
        f"CPU: {cpu['machine_busy_cores']:.2f} of {cpu['cores']} cores busy over "
        f"{cpu['seconds']:.0f} s; by program (cores): {parts}"
    )


# What one operation of each load generator scenario is: (the figure that counts them,
# its name in the report).
OPERATIONS = {
    "connections": ("connections opened", "connection"),
    "fanout": ("delivered", "delivery"),
    "whisper": ("delivered", "whisper"),
    "matchmaking": ("tickets matched", "matched ticket"),
    "parties": ("matches announced", "match"),
}
# A program's CPU per operation that grew by more than this is flagged.
MORE_EXPENSIVE = 1.15
# Below this many microseconds per operation a program is noise, never flagged.
NOISE_US = 2.0
# The load generator's process name: the same work in every run, so the host's yardstick.
LOAD_GENERATOR = "rallypoint-loadgen"


def cpu_seconds_at(timeline, t):
    """{program: CPU seconds used up to wall-clock time t}, interpolated between the two
    reads of cpu_share.py's timeline around t."""
    before = [s for s in timeline if s["t"] <= t] or timeline[:1]
    after = [s for s in timeline if s["t"] >= t] or timeline[-1:]
    a, b = before[-1], after[0]
    share = 0.0 if b["t"] == a["t"] else (t - a["t"]) / (b["t"] - a["t"])
    names = set(a["cpu_s"]) | set(b["cpu_s"])
    return {
        n: a["cpu_s"].get(n, 0) + share * (b["cpu_s"].get(n, 0) - a["cpu_s"].get(n, 0))
        for n in names
    }


def cpu_per_op(report, cpu):
    """{operation, count, programs: {program: us}, total_us, window_s}, or None. Where the
    load generator marked the span it measured (its `window`: after connecting and
    warming, before closing) and cpu_share.py kept a timeline, only that span's CPU
    counts; else the whole run's."""
    spec = OPERATIONS.get(report.get("scenario"))
    if not spec or not cpu:
        return None
    name, operation = spec
    count = next((f["value"] for f in report["figures"] if f["name"] == name), 0)
    if not count:
        return None
    window, timeline = report.get("window"), cpu.get("timeline")
    if window and timeline and len(timeline) > 1:
        start = cpu_seconds_at(timeline, window["start"])
        end = cpu_seconds_at(timeline, window["end"])
        seconds = window["end"] - window["start"]
        used = {n: end[n] - start.get(n, 0) for n in end}
        programs = {
            n: s * 1e6 / count
            for n, s in sorted(used.items(), key=lambda kv: -kv[1])
            if s >= 0.01 * seconds
        }
    else:
        seconds = cpu["seconds"]
        programs = {
            p["program"]: p["cores"] * cpu["seconds"] * 1e6 / count
            for p in cpu["programs"]
            if p["cores"] >= 0.01
        }
    return {
        "operation": operation,
        "count": count,
        "programs": programs,
        "total_us": sum(programs.values()),
        "window_s": round(seconds, 1),
    }


def cpu_per_op_line(per_op):
    if not per_op:
        return None
    parts = ", ".join(f"{program} {us:.1f}" for program, us in per_op["programs"].items())
    return (
        f"CPU per {per_op['operation']}"
        + (f" (over the {per_op['window_s']:.0f} s measured)" if "window_s" in per_op else "")
        + f": {per_op['total_us']:.1f} µs in all; "
        f"by program (µs): {parts}"
    )


def previous_results(out_base):
    """The results file this run is compared with: the one it replaces, else the newest
    one before it (a `make bench` file: the side-by-side's `-peer` files measure other
    things)."""
    if os.path.exists(out_base + ".json"):
        path = out_base + ".json"
    else:
        older = sorted(
            p
            for p in glob.glob(os.path.join(os.path.dirname(out_base), "*.json"))
            if not p.endswith("-peer.json")
            and os.path.basename(p) < os.path.basename(out_base) + ".json"
        )
        if not older:
            return None, None
        path = older[-1]
    try:
        with open(path) as f:
            return os.path.basename(path), json.load(f)
    except (OSError, ValueError):
        return None, None


def more_expensive(reports, previous):
    """Lines naming every (run, program) whose CPU per operation grew past the limit."""
    # A file written before CPU per operation was reported still has each run's CPU.
    before = {
        r.get("run"): r.get("cpu_per_op") or cpu_per_op(r, r.get("cpu"))
        for r in (previous or {}).get("scenarios", [])
    }
    flagged = []
    for report in reports:
        now, then = report.get("cpu_per_op"), before.get(report["run"])
        if not now or not then:
            continue
        # The load generator drives the same work in both runs: how far its own CPU per
        # operation moved says how far the host moved (unless its code changed).
        driver_now = now["programs"].get(LOAD_GENERATOR)
        driver_then = then["programs"].get(LOAD_GENERATOR)
        driver = (
            f"; the load generator {(driver_now / driver_then - 1) * 100:+.0f}%"
            if driver_now and driver_then
            else ""
        )
        for program, us in now["programs"].items():
            old = then["programs"].get(program)
            if old and max(old, us) >= NOISE_US and us > old * MORE_EXPENSIVE:
                moved_with = driver if program != LOAD_GENERATOR else ""
                flagged.append(
                    f"- **{report['run']}**: {program} {old:.1f} → {us:.1f} µs per "
                    f"{now['operation']} (+{(us / old - 1) * 100:.0f}%{moved_with})"
                )
    return flagged


def load_cpu(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def table(report):
    lines = [f"| {report['scenario']} | |", "|---|---|"]
    for figure in report["figures"]:
        unit = f" {figure['unit']}" if figure["unit"] else ""
        lines.append(f"| {figure['name']} | {fmt(figure['value'])}{unit} |")
    for problem in report["problems"]:
        lines.append(f"| **BROKEN** | {problem} |")
    for note in report["notes"]:
        lines.append(f"| note | {note} |")
    return "\n".join(lines)


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as meminfo:
            mem_kib = int(meminfo.readline().split()[1])
    except OSError:
        mem_kib = 0
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
    }


def versions(repo):
    return {
        "rallypoint": run("git", "-C", repo, "describe", "--always", "--dirty"),
        "rustc": run("rustc", "--version"),
        "redis": run("redis-server", "--version"),
        "postgresql": run("pg_config", "--version") or run("psql", "--version"),
    }


def write(work, out_base, repo):
    reports = []
    # In the order they ran.
    for path in sorted(glob.glob(os.path.join(work, "*.json")), key=os.path.getmtime):
        with open(path) as f:
            report = json.load(f)
        report["run"] = os.path.basename(path)[:-5]
        report["cpu"] = load_cpu(path[:-5] + ".cpu")
        report["cpu_per_op"] = cpu_per_op(report, report["cpu"])
        reports.append(report)
    previous_name, previous = previous_results(out_base)
    texts, text_cpu = {}, {}
    for path in sorted(glob.glob(os.path.join(work, "*.txt")), key=os.path.getmtime):
        name = os.path.basename(path)[:-4]
        with open(path) as f:
            texts[name] = f.read().strip()
        text_cpu[name] = load_cpu(path[:-4] + ".cpu")
    result = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "versions": versions(repo),
        "command": "make bench",
        "scenarios": reports,
        "benchmarks": texts,
        "benchmarks_cpu": text_cpu,
    }
    flagged = more_expensive(reports, previous)
    result["compared_with"] = previous_name
    result["more_expensive"] = flagged
    with open(out_base + ".json", "w") as f:
        json.dump(result, f, indent=2)
    m, v = result["machine"], result["versions"]
    md = [
        f"# make bench, {result['date']}",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}; "
        "the load generator, the whole stack (2 gateways, 2 matchmakers, 2 pools, a cache-warmer, "
        "a 6-node Redis Cluster, PostgreSQL) all on this one machine.",
        f"Versions: Rallypoint {v['rallypoint']}; {v['rustc']}; {v['redis']}; {v['postgresql']}.",
        "Reproduce: `make bench` (each scenario's command is in its settings below).",
        "",
    ]
    profiles = os.path.join("bench", "profiles", os.path.basename(out_base))
    if os.path.isdir(os.path.join(repo, profiles)):
        md += [
            f"Profiles: `{profiles}/<run>.txt`, a perf profile of the whole machine while each "
            "run below ran (`perf report --sort comm,dso,symbol`). Each run's CPU line says how "
            "busy the machine was and which programs used it.",
            "",
        ]
    if previous_name:
        md.append(f"## CPU per operation compared with {previous_name}")
        md.append("")
        if flagged:
            md.append(
                f"More than {round((MORE_EXPENSIVE - 1) * 100)}% more CPU per operation than before "
                "(with how far the load generator's own CPU per operation moved in the same run: "
                "a path that moved with it points at the host, not the code, unless the load "
                "generator itself changed):"
            )
            md.append("")
            md += flagged
        elif any(
            r.get("cpu_per_op") or r.get("cpu") for r in (previous or {}).get("scenarios", [])
        ):
            md.append(
                f"No program got more than {round((MORE_EXPENSIVE - 1) * 100)}% more expensive "
                "per operation in any scenario."
            )
        else:
            md.append("The previous file has no CPU per operation to compare with.")
        md.append("")
    md += abuse_summary(reports)
    for report in reports:
        md.append(f"## {report['run']}")
        md.append("")
        md.append(f"`rallypoint-loadgen {report['scenario']}` with `{json.dumps(report['settings'])}`")
        md.append("")
        md.append(table(report))
        md.append("")
        md.append(cpu_line(report["cpu"]))
        line = cpu_per_op_line(report.get("cpu_per_op"))
        if line:
            md.append("")
            md.append(line)
        md.append("")
    for name, text in texts.items():
        md += [f"## {name}", "", "```", text, "```", "", cpu_line(text_cpu[name]), ""]
    # make bench runs bench_peer.sh into WORK/peer: its comparison is a section here.
    peer_summary = os.path.join(work, "peer", "summary.md")
    if os.path.exists(peer_summary):
        with open(peer_summary) as f:
            md += [f.read(), ""]
    with open(out_base + ".md", "w") as f:
        f.write("\n".join(md))


def abuse_summary(reports):
    """The abuse scenario's headline: honest latency alone and under the flood."""
    lines = []
    for report in reports:
        if report.get("scenario") != "abuse":
            continue
        v = lambda name: figure_value(report, name)
        def ms(name):
            value = v(name)
            return "n/a" if value is None else f"{value:.1f}"
        def n(name):
            value = v(name)
            return "0" if value is None else f"{value:,.0f}"
        lines += [
            f"## Honest players under attack ({report['run']})",
            "",
            "| honest players | baseline | under flood |",
            "|---|---|---|",
            f"| delivery latency p50 / p99 (ms) | {ms('honest delivery latency baseline p50')} / "
            f"{ms('honest delivery latency baseline p99')} | {ms('honest delivery latency under flood p50')} / "
            f"{ms('honest delivery latency under flood p99')} |",
            f"| connect to first pong p50 / p99 (ms) | {ms('honest connect latency baseline p50')} / "
            f"{ms('honest connect latency baseline p99')} | {ms('honest connect latency under flood p50')} / "
            f"{ms('honest connect latency under flood p99')} |",
            f"| gateways CPU (% of a core) | {ms('gateways CPU baseline')} | {ms('gateways CPU under flood')} |",
            "",
            f"Lost: {n('lost')}, duplicated: {n('duplicated')}; the flood: "
            f"{n('abuser frames sent')} garbage frames, connections closed 1008: "
            f"{n('abuser connections closed 1008')}, 1009: {n('abuser connections closed 1009')}, "
            f"upgrades refused 429: {n('abuser upgrades refused 429')}; storm connects: {n('storm connects')}; "
            f"half-open handshakes opened: {n('half-open sockets opened')}, closed by the gateway: "
            f"{n('half-open sockets closed by the gateway')}.",
            "",
        ]
    return lines


def figure_value(report, name):
    return next((f["value"] for f in report["figures"] if f["name"] == name), None)


P99_LIMIT_MS = 10.0
SIDES = ("rallypoint", "socketio")
SIDE_NAMES = {"rallypoint": "Rallypoint", "socketio": "Socket.IO 4.8 + sharded redis-adapter"}


def peer_runs(work):
    """{(side, shape): [run, ...] by rate} and {side: idle report}."""
    runs, idle = {}, {}
    for path in glob.glob(os.path.join(work, "peer-*.json")):
        parts = os.path.basename(path)[:-5].split("-")
        with open(path) as f:
            report = json.load(f)
        side = parts[1]
        if parts[2] == "idle":
            idle[side] = report
            continue
        shape, rate = "-".join(parts[2:-1]), int(parts[-1])
        p99 = figure_value(report, "delivery latency p99")
        runs.setdefault((side, shape), []).append(
            {
                "rate": rate,
                "members": report["settings"].get("members"),
                "delivered_per_s": figure_value(report, "delivered per second") or 0.0,
                "p99_ms": p99,
                "clean": not report["problems"] and p99 is not None and p99 < P99_LIMIT_MS,
                "lost": figure_value(report, "lost") or 0,
                "server_us": figure_value(report, "servers CPU per delivery"),
                "redis_us": figure_value(report, "Redis CPU per message"),
                "redis_above_idle_us": figure_value(report, "Redis CPU per message above idle"),
                "redis_idle_pct": figure_value(report, "Redis CPU idle"),
                "problems": report["problems"],
            }
        )
    for side_runs in runs.values():
        side_runs.sort(key=lambda r: r["rate"])
    return runs, idle


def idle_kib(report):
    """KiB per idle connection of the first server measured."""
    if not report:
        return None
    return next(
        (f["value"] for f in report["figures"] if f["name"].endswith("RSS per connection")), None
    )


def ratio(ours, theirs, better_high):
    if not ours or not theirs:
        return "n/a"
    r = ours / theirs if better_high else theirs / ours
    return f"{ours / theirs:.2f}x" + (" (better)" if r >= 1 else " (worse)")


def peer(work, out_base):
    runs, idle = peer_runs(work)
    shapes = sorted({shape for _, shape in runs}, key=lambda s: int(s.split("-")[1]))
    summary = {"shapes": {}, "idle_kib": {side: idle_kib(idle.get(side)) for side in SIDES}}
    md = [
        "## Side by side with Socket.IO (`make bench-peer`)",
        "",
        "The same load generator drives Rallypoint (2 gateways, its 6-node Redis Cluster) and "
        "the peer (2 Node.js Socket.IO 4.8 servers with `@socket.io/redis-adapter`'s sharded "
        "adapter, one channel per room, on their own 6-node Redis Cluster), on this machine: both are up at once and take "
        "turns rate by rate, never both under load together, so a drifting machine moves both "
        "sides' figures alike. Each shape's rate rises until delivery latency p99 passes "
        f"{P99_LIMIT_MS:.0f} ms twice in a row. The load generator runs on one thread (`--threads 1`). CPU is read from /proc over each run (servers: the two "
        "gateways or the two Node processes; Redis: all six nodes). Each run first measures "
        "10 s (a whole gateway heartbeat; 3 s in a quick run) with the members connected and nothing sent: \"above idle\" leaves out what Redis "
        "burns anyway (the cluster bus; for Rallypoint also the gateways' session heartbeats, "
        "health checks and pub/sub canaries), so it is what the room messages themselves cost.",
        "",
        "| shape | figure | Rallypoint | Socket.IO | Rallypoint vs peer |",
        "|---|---|---|---|---|",
    ]
    details = []
    for shape in shapes:
        ours, theirs = runs.get(("rallypoint", shape), []), runs.get(("socketio", shape), [])
        best = {
            side: max((r["delivered_per_s"] for r in rs if r["clean"]), default=0.0)
            for side, rs in (("rallypoint", ours), ("socketio", theirs))
        }
        clean_rates = {r["rate"] for r in ours if r["clean"]} & {r["rate"] for r in theirs if r["clean"]}
        common = max(clean_rates) if clean_rates else min(
            {r["rate"] for r in ours} & {r["rate"] for r in theirs}, default=None
        )
        at = lambda rs: next((r for r in rs if r["rate"] == common), {})  # noqa: E731
        o, t = at(ours), at(theirs)
        summary["shapes"][shape] = {
            "best_delivered_per_s": best,
            "compared_at_rate": common,
            "server_us_per_delivery": {"rallypoint": o.get("server_us"), "socketio": t.get("server_us")},
            "redis_us_per_message": {"rallypoint": o.get("redis_us"), "socketio": t.get("redis_us")},
            "redis_us_per_message_above_idle": {
                "rallypoint": o.get("redis_above_idle_us"),
                "socketio": t.get("redis_above_idle_us"),
            },
            "runs": {"rallypoint": ours, "socketio": theirs},
        }
        members = (ours or theirs or [{}])[0].get("members")
        label = f"{shape.replace('-', ' of ')}"
        md.append(
            f"| {label} | deliveries/s at p99 < {P99_LIMIT_MS:.0f} ms | {fmt(best['rallypoint'])} | "
            f"{fmt(best['socketio'])} | {ratio(best['rallypoint'], best['socketio'], True)} |"
        )
        if common is not None and members:
            for key, what in (
                ("server_us", "server CPU per delivery"),
                ("redis_us", "Redis CPU per room message"),
                ("redis_above_idle_us", "Redis CPU per room message above idle"),
            ):
                a, b = o.get(key), t.get(key)
                md.append(
                    f"| {label} | {what} at {common * members:,} deliveries/s | "
                    f"{fmt(a) + ' µs' if a is not None else 'n/a'} | "
                    f"{fmt(b) + ' µs' if b is not None else 'n/a'} | {ratio(a, b, False)} |"
                )
        for side, rs in (("rallypoint", ours), ("socketio", theirs)):
            for r in rs:
                details.append(
                    f"| {SIDE_NAMES[side].split(' ')[0]} | {label} | {r['rate']:,} | "
                    f"{fmt(r['delivered_per_s'])} | {fmt(r['p99_ms']) if r['p99_ms'] is not None else 'n/a'} | "
                    f"{fmt(r['server_us']) if r['server_us'] is not None else 'n/a'} | "
                    f"{fmt(r['redis_us']) if r['redis_us'] is not None else 'n/a'} "
                    f"({fmt(r['redis_above_idle_us']) if r['redis_above_idle_us'] is not None else 'n/a'}) | "
                    f"{fmt(r['redis_idle_pct']) + '%' if r['redis_idle_pct'] is not None else 'n/a'} | "
                    f"{'; '.join(r['problems']) or 'none'} |"
                )
    a, b = summary["idle_kib"]["rallypoint"], summary["idle_kib"]["socketio"]
    md.append(
        f"| idle connections | memory per connection | {fmt(a) + ' KiB' if a else 'n/a'} | "
        f"{fmt(b) + ' KiB' if b else 'n/a'} | {ratio(a, b, False)} |"
    )
    md += [
        "",
        "Every run (`rallypoint-loadgen --protocol rallypoint|socketio fanout --rooms R --members M --rate N`):",
        "",
        "| side | shape | messages/s | deliveries/s | p99 ms | server µs/delivery | Redis µs/message (above idle) | Redis idle | broken |",
        "|---|---|---|---|---|---|---|---|---|",
    ] + details + [""]
    text = "\n".join(md)
    with open(out_base + ".json", "w") as f:
        json.dump(summary, f, indent=2)
    with open(out_base + ".md", "w") as f:
        f.write(f"# make bench-peer, {datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}\n\n")
        f.write(f"Machine: {json.dumps(machine())}\n\n" + text)
    with open(os.path.join(work, "summary.md"), "w") as f:
        f.write(text)
    print(text)


def main(argv):
    if len(argv) in (3, 4) and argv[1] == "table":
        with open(argv[2]) as f:
            report = json.load(f)
        print(table(report))
        if len(argv) == 4:
            cpu = load_cpu(argv[3])
            print(cpu_line(cpu))
            line = cpu_per_op_line(cpu_per_op(report, cpu))
            if line:
                print(line)
    elif len(argv) == 5 and argv[1] == "write":
        write(argv[2], argv[3], argv[4])
    elif len(argv) == 4 and argv[1] == "figure":
        with open(argv[2]) as f:
            value = figure_value(json.load(f), argv[3])
        print("nan" if value is None else value)
    elif len(argv) == 4 and argv[1] == "peer":
        peer(argv[2], argv[3])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
