#!/usr/bin/env python3
"""Where the machine's cores went while a benchmark ran: CPU time per program (the load
generator, each service, Redis, PostgreSQL, ...) and how busy the whole machine was, so
a figure that falls short of its target says what bounds it.

usage: cpu_share.py watch OUT.json   sample /proc until SIGTERM or SIGINT, then write OUT.json

Every process is read twice a second (a process that exits between two reads loses at
most its last half second). Programs are named by their executable (argv[0]'s basename);
several processes of one program are summed. Each read is kept in a timeline (wall-clock
time, CPU seconds per program so far), so a report can take the CPU of the span a load
generator measured (its `window`) rather than of the whole run with its set-up.
"""
import json
import os
import signal
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")
INTERVAL_S = 0.5


def machine_busy_ticks():
    """(busy, total) jiffies of all cores since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def program_name(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return None
    if not argv0:
        return None  # a kernel thread
    # "postgres: checkpointer", "redis-server 127.0.0.1:7000 [cluster]"
    name = os.path.basename(argv0.split(" ", 1)[0]).rstrip(":")
    return name or None


def process_ticks():
    """{pid: (name, utime + stime)} for every user process."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields follow the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        name = program_name(entry)
        if name is not None:
            found[int(entry)] = (name, int(fields[11]) + int(fields[12]))
    return found


def used_by_program(first, last):
    """{name: (ticks used since the first read, processes)}; a process born during the
    run counts from zero."""
    by_program = {}
    for pid, (name, ticks) in last.items():
        before = first.get(pid, (name, 0))[1]
        used, count = by_program.get(name, (0, 0))
        by_program[name] = (used + max(ticks - before, 0), count + 1)
    return by_program


def watch(out):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    started = time.monotonic()
    busy0, total0 = machine_busy_ticks()
    first = process_ticks()
    last = dict(first)
    timeline = [{"t": round(time.time(), 3), "cpu_s": {}}]
    while not stop:
        time.sleep(INTERVAL_S)
        for pid, seen in process_ticks().items():
            last[pid] = seen
        timeline.append(
            {
                "t": round(time.time(), 3),
                "cpu_s": {
                    name: round(used / TICKS, 2)
                    for name, (used, _) in used_by_program(first, last).items()
                    if used > 0
                },
            }
        )
    seconds = time.monotonic() - started
    busy1, total1 = machine_busy_ticks()
    cores = os.cpu_count() or 1
    by_program = used_by_program(first, last)
    programs = sorted(
        (
            {
                "program": name,
                "processes": count,
                "cores": round(used / TICKS / seconds, 3),
            }
            for name, (used, count) in by_program.items()
            if used > 0
        ),
        key=lambda p: -p["cores"],
    )
    report = {
        "seconds": round(seconds, 1),
        "cores": cores,
        "machine_busy_cores": round((busy1 - busy0) / max(total1 - total0, 1) * cores, 2),
        "programs": programs,
        "timeline": timeline,
    }
    with open(out, "w") as f:
        json.dump(report, f, indent=2)


def main(argv):
    if len(argv) == 3 and argv[1] == "watch":
        watch(argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
