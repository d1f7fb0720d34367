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
}
# A program's CPU per operation that grew by more than this is flagged.
MORE_EXPENSIVE = 1.15
# Below this many microseconds per operation a program is noise, never flagged.
NOISE_US = 2.0


def cpu_per_op(report, cpu):
    """{operation, count, programs: {program: us}, total_us}, or None."""
    spec = OPERATIONS.get(report.get("scenario"))
    if not spec or not cpu:
        return None
    name, operation = spec
    count = next((f["value"] for f in report["figures"] if f["name"] == name), 0)
    if not count:
        return None
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
    }


def cpu_per_op_line(per_op):
    if not per_op:
        return None
    parts = ", ".join(f"{program} {us:.1f}" for program, us in per_op["programs"].items())
    return (
        f"CPU per {per_op['operation']}: {per_op['total_us']:.1f} µs in all; "
        f"by program (µs): {parts}"
    )


def previous_results(out_base):
    """The results file this run is compared with: the one it replaces, else the newest
    one before it."""
    if os.path.exists(out_base + ".json"):
        path = out_base + ".json"
    else:
        older = sorted(
            p
            for p in glob.glob(os.path.join(os.path.dirname(out_base), "*.json"))
            if os.path.basename(p) < os.path.basename(out_base) + ".json"
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
    before = {r.get("run"): r.get("cpu_per_op") for r in (previous or {}).get("scenarios", [])}
    flagged = []
    for report in reports:
        now, then = report.get("cpu_per_op"), before.get(report["run"])
        if not now or not then:
            continue
        for program, us in now["programs"].items():
            old = then["programs"].get(program)
            if old and max(old, us) >= NOISE_US and us > old * MORE_EXPENSIVE:
                flagged.append(
                    f"- **{report['run']}**: {program} {old:.1f} → {us:.1f} µs per "
                    f"{now['operation']} (+{(us / old - 1) * 100:.0f}%)"
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
                f"More than {round((MORE_EXPENSIVE - 1) * 100)}% more CPU per operation than before:"
            )
            md.append("")
            md += flagged
        elif any(r.get("cpu_per_op") for r in (previous or {}).get("scenarios", [])):
            md.append(
                f"No program got more than {round((MORE_EXPENSIVE - 1) * 100)}% more expensive "
                "per operation in any scenario."
            )
        else:
            md.append("The previous file has no CPU per operation to compare with.")
        md.append("")
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
    with open(out_base + ".md", "w") as f:
        f.write("\n".join(md))


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
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
