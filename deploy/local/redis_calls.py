#!/usr/bin/env python3
"""Which Redis commands a benchmark cost, per operation: reads `INFO commandstats` on
every node of the cluster before and after a run and prints, per command, the calls and
the microseconds Redis spent on them (summed over the nodes), per operation of the run.

usage: redis_calls.py snapshot OUT.json HOST:PORT...   record every node's counters now
       redis_calls.py diff BEFORE.json AFTER.json OPS  print the difference per operation
                                                       (and write it as JSON with --json)
       redis_calls.py monitor SECONDS HOST:PORT...     who sends what: every command the
                                                       nodes get from clients for SECONDS
                                                       (MONITOR), by program and key shape

`monitor` answers what commandstats cannot: which service sends each command, and how
many round trips an operation really takes (a script's own commands are left out, since
they cost no round trip). Programs are told apart by the client's port (`ss -tnp`, so run
it as the user running the services); ids in keys are shown as `#`. MONITOR slows Redis
down: use it to count, never while measuring CPU.

Masters and replicas are counted apart: a replica applies what its master did (a
script's writes arrive as MULTI ... EXEC), which is CPU on the machine but not a command
any service sent.

Redis's own `usec` counts only the time inside a command (not the reading and writing
of sockets, which is most of a small command's cost): the calls per operation are the
figure to make smaller, the usec says which of them are heavy. A script's own commands
(`redis.call` inside EVALSHA) are counted under their names too, so a step done by a
script shows as its EVALSHA plus what the script called.
"""
import collections
import json
import re
import select
import socket
import subprocess
import sys
import time


def info(address, section):
    host, port = address.rsplit(":", 1)
    return subprocess.run(
        ["redis-cli", "-h", host, "-p", port, "INFO", section],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def node_role(address):
    for line in info(address, "replication").splitlines():
        if line.startswith("role:"):
            return "replica" if line.strip().endswith("slave") else "master"
    return "master"


def node_stats(address):
    out = info(address, "commandstats")
    stats = {}
    for line in out.splitlines():
        # cmdstat_get:calls=10,usec=20,usec_per_call=2.00,rejected_calls=0,failed_calls=0
        if not line.startswith("cmdstat_"):
            continue
        name, fields = line[len("cmdstat_") :].split(":", 1)
        values = dict(kv.split("=", 1) for kv in fields.split(","))
        stats[name] = (int(values["calls"]), int(values["usec"]))
    return stats


def snapshot(out, addresses):
    total = {}
    for address in addresses:
        role = node_role(address)
        for name, (calls, usec) in node_stats(address).items():
            key = name if role == "master" else f"{name} (replica)"
            c, u = total.get(key, (0, 0))
            total[key] = (c + calls, u + usec)
    with open(out, "w") as f:
        json.dump(total, f)


def diff(before_path, after_path, ops):
    with open(before_path) as f:
        before = json.load(f)
    with open(after_path) as f:
        after = json.load(f)
    rows = []
    for name, (calls, usec) in after.items():
        c0, u0 = before.get(name, (0, 0))
        if calls - c0 > 0:
            rows.append((name, (calls - c0) / ops, (usec - u0) / ops))
    rows.sort(key=lambda r: -r[1])
    return rows


def client_programs():
    """The program behind each loopback client port, from `ss -tnp`."""
    out = subprocess.run(["ss", "-tnpH"], capture_output=True, text=True).stdout
    programs = {}
    for line in out.splitlines():
        m = re.search(r"127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:\d+\s.*users:\(\(\"([^\"]+)\"", line)
        if m:
            programs[m.group(1)] = m.group(2)
    return programs


# 1733000000.123456 [0 127.0.0.1:51234] "EVALSHA" "sha" "2" "key" ...
MONITOR_LINE = re.compile(r'^[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"(.*)$')
ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')


def shape(text):
    """A key with its ids (hex, numbers) shown as #."""
    return re.sub(r"[0-9a-f]{8,}|\d+", "#", text)[:60]


def monitor(seconds, addresses):
    programs = client_programs()
    conns = []
    for address in addresses:
        host, port = address.rsplit(":", 1)
        conn = socket.create_connection((host, int(port)))
        conn.sendall(b"MONITOR\r\n")
        conns.append(conn)
    # Every node's stream, read side by side until the time is up.
    buffers = {conn: b"" for conn in conns}
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select(conns, [], [], left)
        for conn in readable:
            buffers[conn] += conn.recv(1 << 20)
    for conn in conns:
        conn.close()
    counts = collections.Counter()
    for data in buffers.values():
        for raw in data.split(b"\r\n"):
            m = MONITOR_LINE.match(raw.decode(errors="replace").lstrip("+"))
            if not m or m.group(1) == "lua":
                continue
            program = programs.get(m.group(1).rsplit(":", 1)[-1], "?")
            args = ARG.findall(m.group(3))
            command = m.group(2).lower()
            # EVALSHA's first key says which script it is; other commands' first argument.
            target = args[2] if command in ("evalsha", "eval") and len(args) > 2 else (args[0] if args else "")
            counts[(program, f"{command} {shape(target)}")] += 1
    return counts


def main(argv):
    if len(argv) >= 4 and argv[1] == "monitor":
        counts = monitor(float(argv[2]), argv[3:])
        by_program = collections.Counter()
        for (program, _), n in counts.items():
            by_program[program] += n
        print(f"{sum(counts.values())} commands in {argv[2]} s; by program: "
              + ", ".join(f"{p} {n}" for p, n in by_program.most_common()))
        for (program, what), n in counts.most_common():
            print(f"{n:>8}  {program:<18}{what}")
        return 0
    if len(argv) >= 3 and argv[1] == "snapshot":
        snapshot(argv[2], argv[3:])
        return 0
    if len(argv) >= 5 and argv[1] == "diff":
        rows = diff(argv[2], argv[3], float(argv[4]))
        if "--json" in argv:
            print(json.dumps([{"command": n, "calls": c, "usec": u} for n, c, u in rows]))
            return 0
        print(f"{'command':<24}{'calls/op':>10}{'usec/op':>10}")
        for name, calls, usec in rows:
            print(f"{name:<24}{calls:>10.2f}{usec:>10.1f}")
        print(f"{'all':<24}{sum(r[1] for r in rows):>10.2f}{sum(r[2] for r in rows):>10.1f}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
