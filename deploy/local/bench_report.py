#!/usr/bin/env python3
"""make bench's reports: the load generator's JSON reports (and the focused benchmarks'
printed lines) turned into bench/results/<date>.md and .json, with the machine and the
versions they were measured with.

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
        reports.append(report)
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
    for report in reports:
        md.append(f"## {report['run']}")
        md.append("")
        md.append(f"`rallypoint-loadgen {report['scenario']}` with `{json.dumps(report['settings'])}`")
        md.append("")
        md.append(table(report))
        md.append("")
        md.append(cpu_line(report["cpu"]))
        md.append("")
    for name, text in texts.items():
        md += [f"## {name}", "", "```", text, "```", "", cpu_line(text_cpu[name]), ""]
    with open(out_base + ".md", "w") as f:
        f.write("\n".join(md))


def main(argv):
    if len(argv) in (3, 4) and argv[1] == "table":
        with open(argv[2]) as f:
            print(table(json.load(f)))
        if len(argv) == 4:
            print(cpu_line(load_cpu(argv[3])))
    elif len(argv) == 5 and argv[1] == "write":
        write(argv[2], argv[3], argv[4])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
