#!/usr/bin/env python3
"""Offline checks of the deployment artifacts in deploy/ (run it with deploy/check.sh).

Checks, each printed as it passes or fails; the exit code is 1 when any failed:
  (a) deploy/ecs/task-definitions/<service>.json is valid RegisterTaskDefinition input
      by botocore's ECS service model (no AWS call), and has the shape the rest of the
      deployment relies on (Fargate, awsvpc, a container named after the service running
      rallypoint-<service>, named ports "ops" (and "client"), awslogs in non-blocking mode
      with a max-buffer-size, the placeholder names Terraform replaces).
  (b) deploy/compose/docker-compose.yml parses as YAML, every depends_on target exists,
      environment values are strings, each service has a /health/ready health check.
  (c) every deploy/terraform/*.tf parses (python-hcl2), every variable has a
      description, the metrics sidecar's config template renders to YAML that fits an SSM
      standard parameter, the provider lock file is committed or deploy/README.md says
      why not, and git ignores Terraform state, plans and tfvars.
  (d) every RALLYPOINT_* name is RALLYPOINT_<SECTION>__<KEY> of a section the service
      reads (a service ignores other sections, so --check-config would not see a typo);
      every RALLYPOINT_* environment of the compose services and of the task definitions
      (environment plus secrets, secrets given dummy values that pass validation) passes
      `rallypoint-<service> --check-config` with exactly that environment plus PATH; and
      with one made-up key of the service's own section added it fails and names the key.
      Binaries: $CARGO_TARGET_DIR/debug or <repo>/target/debug.
      DEPLOY_CHECK_SKIP_CONFIG=1 skips (d) (and says so).
  (e) health that does not recycle tasks on a Redis failover: every container health
      check curls /health/live on the ops port (never /health/ready, which turns 503 in
      an outage: ECS would replace the tasks); every task definition sets
      RALLYPOINT_OPS__REDIS_OUTAGE_GRACE_MS to at least a 60 s failover; every load
      balancer health check in Terraform asks the ops port's /health/ready.
  (f) no deployment lets guests in: no task definition or Terraform file sets
      RALLYPOINT_GATEWAY__ALLOW_GUESTS to true or declares itself a development one
      (RALLYPOINT_INSTANCE__ENVIRONMENT=development); the only file that may enable
      guests is the compose file, which is for development, and it must say so
      (instance.environment = development, without which the gateway refuses to start).
      `check_deploy.py --self-test` proves this check fails on such files.
  (g) the drain arithmetic, per service: RALLYPOINT_SHUTDOWN__DRAIN_DEADLINE_MS set
      explicitly; stopTimeout > the drain deadline and <= 120; the target group's
      deregistration delay (deploy/terraform/lb.tf) > the drain deadline (gateway) or
      >= pool.long_poll_max_ms + the drain deadline (server-pool); the gateway's target
      group keeps connections through a drain (NLB, connection_termination = false,
      unhealthy targets keep theirs) and sends PROXY protocol v2, which the gateway's
      task definition expects (and sets no client_ip_header).
  (h) no hard-coded name: no literal "rallypoint" in a Terraform string that is not a
      description, a metric name or the variable defaults; every account-wide name
      (cluster, families, log groups, roles, load balancers, target groups by
      name_prefix, security groups, secrets, parameters, topic, alarms, ElastiCache)
      derives from var.name; every "rallypoint" in a task definition is a placeholder that
      Terraform replaces (and the Terraform doing so is there) or the binary's name.
  (i) checkov (its own virtualenv, made by deploy/check.sh; path in $DEPLOY_CHECK_CHECKOV)
      over deploy/terraform: no failed check, no parsing error; every skipped check has
      its reason in a `#checkov:skip=CKV_...:reason` comment (all are listed), and every
      skip is still needed (checkov run again without the skip comments fails exactly
      those). CHECKOV_SKIPS below lists global skips with reasons (none so far).
      `check_deploy.py --self-test` also proves (g) and (h) fail on bad files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import botocore.session
import botocore.validate
import hcl2
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
TASK_DIR = DEPLOY / "ecs" / "task-definitions"
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
TF_DIR = DEPLOY / "terraform"
OTEL_TEMPLATE = DEPLOY / "ecs" / "otel-collector.yaml.tpl"

# Service -> its own config section, where a made-up key must be refused.
SERVICES = {
    "gateway": "GATEWAY",
    "matchmaker": "MATCHMAKER",
    "server-pool": "POOL",
    "cache-warmer": "WARMER",
}
MADE_UP_KEY = "NO_SUCH_KEY"
# The config sections each service reads (services/*/src/lib.rs DEFAULTS, and
# crates/service-runtime/src/config.rs for the common ones).
COMMON_SECTIONS = {"instance", "redis", "ops", "log", "shutdown", "matchmaking"}
SERVICE_SECTIONS = {
    "gateway": {"gateway"},
    "matchmaker": {"matchmaker"},
    "server-pool": {"pool"},
    "cache-warmer": {"database", "warmer"},
}

# Dummy values for the task definitions' `secrets`, each passing the services' checks
# (secrets of 16+ characters, the join secret 32+, a postgres:// URL). Never real secrets.
DUMMY_SECRETS = {
    "RALLYPOINT_REDIS__PASSWORD": "dummy-redis-auth-token-0123456789",
    "RALLYPOINT_GATEWAY__JWT_SECRET": "dummy-jwt-secret-0123456789abcdef",
    "RALLYPOINT_GATEWAY__API_TOKEN": "dummy-api-token-0123456789abcdef",
    "RALLYPOINT_POOL__TOKEN": "dummy-pool-token-0123456789abcdef",
    "RALLYPOINT_POOL__JOIN_SECRET": "dummy-pool-join-secret-0123456789abcdef",
    # Set only during a rotation (deploy/OPERATIONS.md section 5).
    "RALLYPOINT_GATEWAY__PREVIOUS_JWT_SECRET": "dummy-old-jwt-secret-0123456789",
    "RALLYPOINT_GATEWAY__PREVIOUS_API_TOKEN": "dummy-old-api-token-0123456789",
    "RALLYPOINT_POOL__PREVIOUS_TOKEN": "dummy-old-pool-token-0123456789",
    "RALLYPOINT_OPS__ADMIN_TOKEN": "dummy-admin-token-0123456789abcdef",
    "RALLYPOINT_DATABASE__URL": "postgres://rallypoint:dummy@db.invalid:5432/rallypoint",
}
SSM_STANDARD_MAX = 4096
FARGATE_MAX_STOP_TIMEOUT = 120
# ops.redis_outage_grace_ms must cover an ElastiCache failover (deploy/OPERATIONS.md section 6).
FAILOVER_MS = 60_000
# pool.long_poll_max_ms when the task definition does not set it (services/server-pool).
POOL_LONG_POLL_DEFAULT_MS = 30_000
# Checks skipped for the whole run (checkov --skip-check), each with its reason. Empty:
# every skip is an inline `#checkov:skip=CKV_...:reason` next to the resource it concerns.
CHECKOV_SKIPS: dict[str, str] = {}


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []

    def section(self, title: str) -> None:
        print(f"\n== {title}")

    def ok(self, what: str) -> None:
        self.passed += 1
        print(f"  ok    {what}")

    def fail(self, what: str) -> None:
        self.failed.append(what)
        print(f"  FAIL  {what}")

    def check(self, condition: bool, what: str, why: str = "") -> bool:
        if condition:
            self.ok(what)
        else:
            self.fail(f"{what}: {why}" if why else what)
        return condition


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def port_of(listen: str | None) -> int | None:
    if not listen or ":" not in listen:
        return None
    try:
        return int(listen.rsplit(":", 1)[1])
    except ValueError:
        return None


# --- (a) task definitions -------------------------------------------------------------


def load_task_definitions(r: Report) -> dict[str, dict]:
    r.section("(a) ECS task definitions: RegisterTaskDefinition input (botocore ECS model)")
    shape = (
        botocore.session.get_session()
        .get_service_model("ecs")
        .operation_model("RegisterTaskDefinition")
        .input_shape
    )
    validator = botocore.validate.ParamValidator()
    tasks: dict[str, dict] = {}
    found = sorted(p.stem for p in TASK_DIR.glob("*.json"))
    r.check(
        found == sorted(SERVICES),
        f"{rel(TASK_DIR)} holds one file per service",
        f"found {found}, expected {sorted(SERVICES)}",
    )
    for service in SERVICES:
        path = TASK_DIR / f"{service}.json"
        if not path.is_file():
            r.fail(f"{rel(path)}: missing")
            continue
        try:
            params = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            r.fail(f"{rel(path)}: not JSON: {e}")
            continue
        report = validator.validate(params, shape)
        if report.has_errors():
            r.fail(f"{rel(path)}: invalid RegisterTaskDefinition input:\n{report.generate_report()}")
            continue
        r.ok(f"{rel(path)}: valid RegisterTaskDefinition input")
        tasks[service] = params
        check_task_shape(r, service, path, params)
    return tasks


def main_container(service: str, task: dict) -> dict | None:
    return next((c for c in task.get("containerDefinitions", []) if c.get("name") == service), None)


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("environment", [])}


def check_task_shape(r: Report, service: str, path: Path, task: dict) -> None:
    name = rel(path)
    problems = []
    if task.get("family") != f"rallypoint-{service}":
        problems.append(f"family is {task.get('family')!r}, expected 'rallypoint-{service}'")
    if task.get("requiresCompatibilities") != ["FARGATE"]:
        problems.append("requiresCompatibilities must be [\"FARGATE\"]")
    if task.get("networkMode") != "awsvpc":
        problems.append("networkMode must be awsvpc (Fargate)")
    main = main_container(service, task)
    if main is None:
        problems.append(f"no container named {service!r} (Terraform finds the service container by name)")
    else:
        if main.get("command", [None])[0] != f"rallypoint-{service}":
            problems.append(f"container {service!r} must run rallypoint-{service}, runs {main.get('command')}")
        if not main.get("essential", True):
            problems.append(f"container {service!r} must be essential")
        ports = {p.get("name"): p.get("containerPort") for p in main.get("portMappings", [])}
        if "ops" not in ports:
            problems.append("the service container needs a port mapping named \"ops\"")
        if service in ("gateway", "server-pool") and "client" not in ports:
            problems.append("the service container needs a port mapping named \"client\" (load balancer target)")
        env = env_of(main)
        if port_of(env.get("RALLYPOINT_OPS__LISTEN")) != ports.get("ops"):
            problems.append("RALLYPOINT_OPS__LISTEN's port must be the \"ops\" port mapping")
        if not env.get("RALLYPOINT_REDIS__URLS", "").startswith("rediss://"):
            problems.append("RALLYPOINT_REDIS__URLS must be a rediss:// (TLS) URL")
        if service == "gateway" and not main.get("ulimits"):
            problems.append("the gateway needs a nofile ulimit")
    for c in task.get("containerDefinitions", []):
        # Terraform rewrites these three lists/objects of every container.
        for key in ("environment", "secrets", "logConfiguration"):
            if key not in c:
                problems.append(f"container {c.get('name')!r} has no {key!r} (Terraform expects one, [] is fine)")
        log = c.get("logConfiguration", {})
        options = log.get("options", {})
        if log.get("logDriver") != "awslogs" or options.get("awslogs-group") != f"/ecs/rallypoint/{service}":
            problems.append(
                f"container {c.get('name')!r} must log with awslogs to /ecs/rallypoint/{service} "
                "(the placeholder Terraform replaces with /ecs/<name>/<service>)"
            )
        # Blocking mode stalls a container's writes to stdout when CloudWatch Logs is slow.
        if options.get("mode") != "non-blocking" or not re.fullmatch(r"\d+[kmg]", options.get("max-buffer-size", "")):
            problems.append(f"container {c.get('name')!r}: awslogs needs mode non-blocking and a max-buffer-size (e.g. 25m)")
        for s in c.get("secrets", []):
            if s["name"].startswith("RALLYPOINT_") and s["name"] not in DUMMY_SECRETS:
                problems.append(f"secret {s['name']} has no dummy value in check_deploy.py DUMMY_SECRETS (and needs one in deploy/terraform/secrets.tf)")
    r.check(not problems, f"{name}: shape Terraform and the services rely on", "; ".join(problems))


# --- (b) docker-compose ----------------------------------------------------------------


def load_compose(r: Report) -> dict:
    r.section("(b) docker-compose.yml")
    try:
        doc = yaml.safe_load(COMPOSE.read_text())
    except (OSError, yaml.YAMLError) as e:
        r.fail(f"{rel(COMPOSE)}: does not parse: {e}")
        return {}
    services = doc.get("services") if isinstance(doc, dict) else None
    if not r.check(isinstance(services, dict) and bool(services), f"{rel(COMPOSE)}: parses, with services"):
        return {}
    missing = []
    for name, svc in services.items():
        deps = svc.get("depends_on") or []
        targets = list(deps) if isinstance(deps, (list, dict)) else []
        for dep in targets:
            if dep not in services:
                missing.append(f"{name} -> {dep}")
            elif isinstance(deps, dict):
                cond = (deps[dep] or {}).get("condition", "service_started")
                if cond not in ("service_started", "service_healthy", "service_completed_successfully"):
                    missing.append(f"{name} -> {dep}: unknown condition {cond!r}")
                if cond == "service_healthy" and "healthcheck" not in services[dep]:
                    missing.append(f"{name} -> {dep}: service_healthy, but {dep} has no healthcheck")
    r.check(not missing, "every depends_on target exists (with a valid condition)", ", ".join(missing))
    bad_env = []
    for name, svc in services.items():
        env = svc.get("environment") or {}
        if isinstance(env, dict):
            bad_env += [f"{name}.{k}" for k, v in env.items() if not isinstance(v, str)]
        else:
            bad_env.append(f"{name} (use a mapping)")
    r.check(not bad_env, "environment values are quoted strings", ", ".join(bad_env))
    checked = 0
    for name, svc, binary in rallypoint_compose_services(services):
        env = svc.get("environment") or {}
        port = port_of(env.get("RALLYPOINT_OPS__LISTEN"))
        test = " ".join(map(str, (svc.get("healthcheck") or {}).get("test", [])))
        checked += 1
        r.check(
            port is not None and f"localhost:{port}/health/ready" in test,
            f"compose {name}: health check on its ops port's /health/ready",
            f"RALLYPOINT_OPS__LISTEN={env.get('RALLYPOINT_OPS__LISTEN')!r}, healthcheck {test!r}",
        )
    r.check(checked > 0, "compose runs Rallypoint services", "no service runs a rallypoint-<service> binary")
    return services


def command_binary(svc: dict) -> str | None:
    cmd = svc.get("command")
    if isinstance(cmd, str):
        cmd = cmd.split()
    return cmd[0] if cmd else None


def rallypoint_compose_services(services: dict):
    for name, svc in services.items():
        binary = command_binary(svc)
        if binary and binary.startswith("rallypoint-") and binary[len("rallypoint-"):] in SERVICES:
            yield name, svc, binary


# --- (c) terraform and the sidecar config ------------------------------------------------


def check_terraform(r: Report) -> dict[str, dict]:
    """Checks (c); returns every .tf file that parses, by name, as python-hcl2 reads it."""
    r.section("(c) Terraform (python-hcl2) and the metrics sidecar's config")
    docs: dict[str, dict] = {}
    files = sorted(TF_DIR.glob("*.tf"))
    if not r.check(bool(files), f"{rel(TF_DIR)} has .tf files"):
        return docs
    reads_json = False
    variables, undescribed = 0, []
    for path in files:
        try:
            with path.open() as f:
                doc = hcl2.load(f)
        except Exception as e:  # lark raises several kinds; all mean "does not parse"
            r.fail(f"{rel(path)}: does not parse: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
            continue
        r.ok(f"{rel(path)}: parses")
        docs[path.name] = doc
        if "task-definitions" in path.read_text():
            reads_json = True
        for block in doc.get("variable", []):
            for vname, body in block.items():
                variables += 1
                if not body.get("description"):
                    undescribed.append(vname.strip('"'))
    r.check(
        not undescribed,
        f"every Terraform variable ({variables}) has a description",
        f"add one to: {', '.join(undescribed)}",
    )
    r.check(reads_json, "Terraform reads the task definitions from deploy/ecs/task-definitions/", "it must (one source of truth)")

    template = OTEL_TEMPLATE.read_text()
    for service in SERVICES:
        values = {
            "service": service,
            "ops_port": "9100",
            "cluster": "rallypoint",
            "region": "eu-west-1",
            "cw_namespace": "Rallypoint",
            "log_group": "/ecs/rallypoint/metrics",
        }
        rendered = re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)
        left = re.findall(r"\$\{[^}]*\}", rendered)
        compact = "\n".join(
            line for line in rendered.splitlines() if line.strip() and not line.strip().startswith("#")
        )
        try:
            config = yaml.safe_load(compact)
            pipelines = config["service"]["pipelines"]["metrics"]
            ok = not left and "prometheus" in pipelines["receivers"] and "awsemf" in pipelines["exporters"]
            why = f"unknown template variables {left}" if left else "no prometheus -> awsemf pipeline"
        except (yaml.YAMLError, KeyError, TypeError) as e:
            ok, why = False, f"does not render to a collector config: {e}"
        r.check(ok, f"{rel(OTEL_TEMPLATE)} renders for {service}", why)
        r.check(
            len(compact) <= SSM_STANDARD_MAX,
            f"{rel(OTEL_TEMPLATE)} for {service} fits an SSM standard parameter ({len(compact)} <= {SSM_STANDARD_MAX} characters)",
            "shorten it or use the Advanced tier in otel.tf",
        )

    # The provider lock file pins the providers' checksums. It can only be made with
    # access to the Terraform registry (`terraform providers lock`); where that is not
    # possible, deploy/README.md must say so and how to make it.
    lock = TF_DIR / ".terraform.lock.hcl"
    readme = (DEPLOY / "README.md").read_text()
    r.check(
        lock.is_file() or "terraform providers lock" in readme,
        f"provider lock: {rel(lock)} is committed, or deploy/README.md says how to make it",
        "commit it (terraform providers lock -platform=...) or document why it is missing",
    )
    samples = ["terraform.tfstate", "terraform.tfstate.backup", "prod.tfvars", ".terraform/x", "plan.tfplan", "backend.hcl"]
    ignored = subprocess.run(
        ["git", "-C", str(REPO), "check-ignore", "--no-index", *[str(TF_DIR / s) for s in samples]],
        capture_output=True, text=True,
    ).stdout.split()
    not_ignored = [s for s in samples if str(TF_DIR / s) not in ignored]
    kept = subprocess.run(
        ["git", "-C", str(REPO), "check-ignore", "--no-index", "-q", str(lock), str(TF_DIR / "backend.hcl.example")],
        capture_output=True,
    ).returncode == 0
    r.check(
        not not_ignored and not kept,
        "git ignores Terraform state, plans, tfvars, backend.hcl and .terraform/ (but not the lock file or the examples)",
        f"not ignored: {', '.join(not_ignored)}" if not_ignored else "the lock file or backend.hcl.example is ignored",
    )
    return docs


# --- (d) the services accept the environments -------------------------------------------


def binary_dir() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR") or str(REPO / "target")
    return Path(target) / "debug"


def run_check_config(binary: Path, env: dict[str, str]) -> tuple[int, str]:
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    try:
        proc = subprocess.run(
            [str(binary), "--check-config"],
            env=full_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        return -1, "timed out after 30 s"
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def environments(tasks: dict[str, dict], compose_services: dict) -> list[tuple[str, str, dict[str, str]]]:
    """(label, service, RALLYPOINT_* environment) of every compose service and task."""
    cases = []
    for name, svc, binary in rallypoint_compose_services(compose_services):
        env = {k: str(v) for k, v in (svc.get("environment") or {}).items() if k.startswith("RALLYPOINT_")}
        cases.append((f"compose {name}", binary[len("rallypoint-"):], env))
    for service, task in tasks.items():
        main = main_container(service, task)
        if main is None:
            continue
        env = {k: v for k, v in env_of(main).items() if k.startswith("RALLYPOINT_")}
        for s in main.get("secrets", []):
            if s["name"].startswith("RALLYPOINT_"):
                env[s["name"]] = DUMMY_SECRETS.get(s["name"], "dummy-value-0123456789abcdef")
        cases.append((f"task definition {service}", service, env))
    return cases


def check_configs(r: Report, tasks: dict[str, dict], compose_services: dict) -> None:
    r.section("(d) the services accept these environments (rallypoint-<service> --check-config)")
    cases = environments(tasks, compose_services)
    # A service ignores sections it does not read, so a misspelt section (or a single
    # `_` where `__` belongs) would pass --check-config unnoticed: check the names first.
    for label, service, env in cases:
        sections = COMMON_SECTIONS | SERVICE_SECTIONS[service]
        strays = [k for k in env if k.removeprefix("RALLYPOINT_").split("__")[0].lower() not in sections or "__" not in k]
        r.check(
            not strays,
            f"{label}: every variable is RALLYPOINT_<SECTION>__<KEY> of a section rallypoint-{service} reads",
            f"{', '.join(strays)} would be ignored (sections: {', '.join(sorted(sections))})",
        )
    if os.environ.get("DEPLOY_CHECK_SKIP_CONFIG") == "1":
        print("  SKIP  DEPLOY_CHECK_SKIP_CONFIG=1: the environments were NOT checked against the services")
        return
    bindir = binary_dir()
    missing = [s for s in SERVICES if not (bindir / f"rallypoint-{s}").is_file()]
    if missing:
        r.fail(
            f"no binaries {', '.join('rallypoint-' + s for s in missing)} in {bindir}: "
            "run `cargo build --workspace --bins` (or set CARGO_TARGET_DIR to where they are)"
        )
        return

    def run(case):
        label, service, env = case
        binary = bindir / f"rallypoint-{service}"
        good = run_check_config(binary, env)
        key = f"RALLYPOINT_{SERVICES[service]}__{MADE_UP_KEY}"
        bad = run_check_config(binary, {**env, key: "1"})
        return label, service, key, len(env), good, bad

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, cases))
    for label, service, key, count, (code, out), (bad_code, bad_out) in results:
        if "--check-config" in out and ("unexpected argument" in out or "unrecognized" in out):
            r.fail(
                f"{label}: rallypoint-{service} in {bindir} does not know --check-config: "
                "the binaries predate the flag; rebuild with `cargo build --workspace --bins`"
            )
            continue
        last = out.splitlines()[-1] if out else "(no output)"
        r.check(
            code == 0 and "config ok" in out,
            f"{label}: rallypoint-{service} --check-config accepts its {count} RALLYPOINT_* variables",
            f"exit {code}: {last}",
        )
        r.check(
            bad_code != 0 and MADE_UP_KEY.lower() in bad_out.lower(),
            f"{label}: with {key}=1 it fails and names the key",
            f"exit {bad_code}: {bad_out.splitlines()[-1] if bad_out else '(no output)'}",
        )


# --- HCL helpers ---------------------------------------------------------------------
# python-hcl2 keeps the quotes of string literals ('"/ecs/${var.name}"') and gives other
# expressions as "${...}" ('${local.x["gateway"]}'); block labels come quoted too.


def unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


def tf_resources(docs: dict[str, dict]):
    """(file, type, name, body) of every resource block."""
    for file, doc in docs.items():
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                for rname, body in named.items():
                    yield file, unquote(rtype), unquote(rname), body


def tf_locals(docs: dict[str, dict]) -> dict:
    merged = {}
    for doc in docs.values():
        for block in doc.get("locals", []):
            merged.update({unquote(k): v for k, v in block.items() if not k.startswith("__")})
    return merged


def local_int(value, local_values: dict) -> int | None:
    """An integer attribute: a literal, or `local.map["key"]` / `local.name` holding one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    m = re.fullmatch(r'\$\{local\.(\w+)(?:\["([^"]+)"\])?\}', str(value))
    if not m:
        return None
    held = local_values.get(m.group(1))
    if m.group(2) is not None:
        held = {unquote(k): v for k, v in held.items()}.get(m.group(2)) if isinstance(held, dict) else None
    return held if isinstance(held, int) and not isinstance(held, bool) else None


def first_block(body: dict, name: str) -> dict:
    blocks = body.get(name) or [{}]
    return blocks[0] if isinstance(blocks, list) else blocks


# --- (e) health checks --------------------------------------------------------------------


def check_health(r: Report, tasks: dict[str, dict], docs: dict[str, dict]) -> None:
    r.section("(e) health: containers on /health/live, load balancers on /health/ready, a Redis outage grace")
    for service, task in tasks.items():
        main = main_container(service, task)
        if main is None:
            r.fail(f"{service}: no service container")
            continue
        env = env_of(main)
        ops = port_of(env.get("RALLYPOINT_OPS__LISTEN"))
        command = " ".join((main.get("healthCheck") or {}).get("command", []))
        # ECS replaces a task whose essential container is unhealthy: checking readiness
        # there would replace every task of every service during a Redis outage.
        r.check(
            f"localhost:{ops}/health/live" in command and "/health/ready" not in command,
            f"{service}: container health check curls /health/live on the ops port {ops}",
            f"healthCheck command is {command!r}",
        )
        grace = env.get("RALLYPOINT_OPS__REDIS_OUTAGE_GRACE_MS", "")
        r.check(
            grace.isdigit() and int(grace) >= FAILOVER_MS,
            f"{service}: RALLYPOINT_OPS__REDIS_OUTAGE_GRACE_MS ({grace or 'unset'}) covers a {FAILOVER_MS // 1000} s failover",
            f"set it to at least {FAILOVER_MS} (the load balancers would take every task out during a failover)",
        )
    target_groups = [(f, n, b) for f, t, n, b in tf_resources(docs) if t == "aws_lb_target_group"]
    r.check(bool(target_groups), "Terraform has load balancer target groups", "none found")
    for file, name, body in target_groups:
        hc = first_block(body, "health_check")
        path, port = unquote(hc.get("path")), str(hc.get("port", ""))
        r.check(
            path == "/health/ready" and '["ops"]' in port,
            f"{file}: target group {name} health-checks /health/ready on the ops port",
            f"path {path!r}, port {port!r}",
        )


# --- (g) the drain arithmetic -----------------------------------------------------------


def drain_findings(tasks: dict[str, dict], docs: dict[str, dict]) -> list[tuple[bool, str, str]]:
    """(ok, what, why) for the drain arithmetic of these task definitions and Terraform."""
    out: list[tuple[bool, str, str]] = []
    drain_s: dict[str, float] = {}
    for service, task in tasks.items():
        main = main_container(service, task)
        if main is None:
            out.append((False, f"{service}: a service container", "none named after the service"))
            continue
        raw = env_of(main).get("RALLYPOINT_SHUTDOWN__DRAIN_DEADLINE_MS")
        stop = main.get("stopTimeout")
        if raw is None or not raw.isdigit():
            out.append((False, f"{service}: RALLYPOINT_SHUTDOWN__DRAIN_DEADLINE_MS set explicitly (milliseconds)", f"is {raw!r}"))
            continue
        drain_s[service] = int(raw) / 1000
        out.append((
            isinstance(stop, int) and not isinstance(stop, bool) and drain_s[service] < stop <= FARGATE_MAX_STOP_TIMEOUT,
            f"{service}: stopTimeout {stop} s > drain deadline {drain_s[service]:g} s, and <= {FARGATE_MAX_STOP_TIMEOUT}",
            "raise stopTimeout (an integer; Fargate allows 120 s) or lower the drain deadline",
        ))

    local_values = tf_locals(docs)
    groups = {name: (file, body) for file, t, name, body in tf_resources(docs) if t == "aws_lb_target_group"}
    # Which service, and which of its named ports, each target group serves: ecs.tf's
    # local.target_groups (a service -> [{arn, port}], or a bare ARN for its client port).
    served: list[tuple[str, str, str]] = []
    for service, refs in (local_values.get("target_groups") or {}).items():
        for ref in refs if isinstance(refs, list) else [refs]:
            m = re.search(r"aws_lb_target_group\.(\w+)\.arn", str(ref.get("arn") if isinstance(ref, dict) else ref))
            port = unquote(ref.get("port")) if isinstance(ref, dict) else "client"
            if m:
                served.append((unquote(service), m.group(1), port))
    out.append((
        bool(served) and {tg for _, tg, _ in served} == set(groups),
        f"every target group serves a service (local.target_groups: {', '.join(f'{s}:{p} -> {tg}' for s, tg, p in sorted(served))})",
        f"target groups {sorted(groups)}, mapped {sorted(tg for _, tg, _ in served)}",
    ))
    for service, tg, port in sorted(served):
        if tg not in groups or service not in drain_s:
            out.append((False, f"{service}: target group {tg} and a drain deadline", "missing"))
            continue
        file, body = groups[tg]
        delay = local_int(body.get("deregistration_delay"), local_values)
        if delay is None:
            out.append((False, f"{file}: {tg}'s deregistration_delay is a number (or a local holding one)", f"is {body.get('deregistration_delay')!r}"))
            continue
        drain = drain_s[service]
        if service == "server-pool":
            main = main_container(service, tasks[service])
            poll_ms = env_of(main).get("RALLYPOINT_POOL__LONG_POLL_MAX_MS", str(POOL_LONG_POLL_DEFAULT_MS))
            poll = int(poll_ms) / 1000 if poll_ms.isdigit() else float("inf")
            out.append((
                delay >= poll + drain,
                f"{service}: deregistration delay {delay} s >= long poll {poll:g} s + drain deadline {drain:g} s",
                "a game server's long poll in flight would be cut: raise deregistration_delay_s in lb.tf",
            ))
        elif port != "client":
            # Short HTTP calls (the gateway's server API): in flight ones end within the drain.
            out.append((
                delay >= drain,
                f"{service}:{port}: deregistration delay {delay} s >= drain deadline {drain:g} s",
                "raise deregistration_delay_s in lb.tf",
            ))
        else:
            out.append((
                delay > drain,
                f"{service}: deregistration delay {delay} s > drain deadline {drain:g} s",
                "raise deregistration_delay_s in lb.tf",
            ))
        if service == "gateway" and port == "client":
            out += gateway_connection_findings(file, tg, body, tasks.get("gateway"))
    return out


def gateway_connection_findings(file: str, tg: str, body: dict, task: dict | None) -> list[tuple[bool, str, str]]:
    """The gateway's target group keeps its sockets through a drain, and hands the client's
    address over in a PROXY header the gateway expects."""
    health_state = first_block(body, "target_health_state")
    env = env_of(main_container("gateway", task) or {}) if task else {}
    return [
        (
            unquote(body.get("protocol")) in ("TCP", "TLS") and body.get("connection_termination", False) is False,
            f"{file}: {tg} is an NLB target group that keeps established connections after deregistration (connection_termination = false)",
            f"protocol {body.get('protocol')!r}, connection_termination {body.get('connection_termination')!r}",
        ),
        (
            health_state.get("enable_unhealthy_connection_termination") is False,
            f"{file}: {tg} keeps an unhealthy gateway's connections (enable_unhealthy_connection_termination = false)",
            f"target_health_state is {health_state!r}",
        ),
        (
            body.get("proxy_protocol_v2") is True
            and env.get("RALLYPOINT_GATEWAY__PROXY_PROTOCOL", "").lower() == "true"
            and bool(env.get("RALLYPOINT_GATEWAY__TRUSTED_PROXIES"))
            and "RALLYPOINT_GATEWAY__CLIENT_IP_HEADER" not in env,
            f"{file}: {tg} sends PROXY protocol v2, and the gateway expects it (PROXY_PROTOCOL=true, TRUSTED_PROXIES set, no CLIENT_IP_HEADER)",
            f"proxy_protocol_v2 {body.get('proxy_protocol_v2')!r}; gateway PROXY_PROTOCOL "
            f"{env.get('RALLYPOINT_GATEWAY__PROXY_PROTOCOL')!r}, TRUSTED_PROXIES {env.get('RALLYPOINT_GATEWAY__TRUSTED_PROXIES')!r}, "
            f"CLIENT_IP_HEADER {env.get('RALLYPOINT_GATEWAY__CLIENT_IP_HEADER')!r}",
        ),
    ]


def check_drain(r: Report, tasks: dict[str, dict], docs: dict[str, dict]) -> None:
    r.section("(g) drain arithmetic: drain deadline, stopTimeout, deregistration delays")
    for ok, what, why in drain_findings(tasks, docs):
        r.check(ok, what, why)


# --- (h) names derived from var.name ------------------------------------------------------

# A deployment's name in a string, not a metric name (rallypoint_...) nor an environment
# variable (RALLYPOINT_...).
HARD_NAME = re.compile(r"rallypoint(?!_)", re.IGNORECASE)
# Keys whose text is prose, not a name.
PROSE_KEYS = {"description", "alarm_description", "error_message"}
# Account-wide names, by resource type: each must derive from var.name.
NAMED = {
    "aws_ecs_cluster": ["name"],
    "aws_ecs_task_definition": ["family"],
    "aws_cloudwatch_log_group": ["name"],
    "aws_iam_role": ["name"],
    "aws_lb": ["name"],
    "aws_lb_target_group": ["name_prefix"],
    "aws_security_group": ["name"],
    "aws_secretsmanager_secret": ["name"],
    "aws_ssm_parameter": ["name"],
    "aws_sns_topic": ["name"],
    "aws_cloudwatch_metric_alarm": ["alarm_name"],
    "aws_appautoscaling_policy": ["name"],
    "aws_elasticache_replication_group": ["replication_group_id", "final_snapshot_identifier"],
    "aws_elasticache_parameter_group": ["name"],
    "aws_elasticache_subnet_group": ["name"],
}


def strip_interpolations(text: str) -> str:
    """The literal parts of an HCL string: every ${...} (nested braces too) removed."""
    out, depth, i = [], 0, 0
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if depth and text[i] == "{":
            depth += 1
        elif depth and text[i] == "}":
            depth -= 1
        elif not depth:
            out.append(text[i])
        i += 1
    return "".join(out)


def walk(value, path=()):
    """(path, string) of every string in a parsed document, skipping python-hcl2's own keys."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not str(k).startswith("__"):
                yield from walk(v, path + (unquote(str(k)),))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, path + (i,))
    elif isinstance(value, str):
        yield path, value


def derives_from_name(text: str, local_values: dict, depth: int = 0) -> bool:
    if "var.name" in text:
        return True
    if depth > 3:
        return False
    return any(
        derives_from_name(json.dumps(local_values.get(m), default=str), local_values, depth + 1)
        for m in re.findall(r"local\.(\w+)", text)
    )


# Placeholders in the task definitions and the Terraform that replaces each (main.tf,
# ecs.tf): (what, matches a JSON path, the Terraform it needs).
def _container(path, key):
    return len(path) >= 3 and path[0] == "containerDefinitions" and path[2] == key


TASK_PLACEHOLDERS = [
    ("family", lambda p, t, s: p == ("family",), r'family\s*=\s*"\$\{var\.name\}-\$\{each\.key\}"'),
    ("taskRoleArn", lambda p, t, s: p == ("taskRoleArn",), r"task_role_arn\s*=\s*aws_iam_role\.task\[each\.key\]\.arn"),
    ("executionRoleArn", lambda p, t, s: p == ("executionRoleArn",), r"execution_role_arn\s*=\s*aws_iam_role\.execution\[each\.key\]\.arn"),
    ("awslogs-group", lambda p, t, s: _container(p, "logConfiguration") and p[-1] == "awslogs-group", r'"awslogs-group"\s*=\s*local\.log_group\[s\]'),
    ("secrets' valueFrom", lambda p, t, s: _container(p, "secrets") and p[-1] == "valueFrom", r"valueFrom\s*=\s*lookup\(local\.secret_arns\[s\]"),
    ("the service's image", lambda p, t, s: _container(p, "image") and t["containerDefinitions"][p[1]].get("name") == s, r"image\s*=\s*c\.name == s \? var\.image"),
    ("RALLYPOINT_REDIS__URLS", lambda p, t, s: _container(p, "environment") and p[-1] == "value"
        and t["containerDefinitions"][p[1]]["environment"][p[3]].get("name") == "RALLYPOINT_REDIS__URLS",
        r"RALLYPOINT_REDIS__URLS\s*=\s*local\.redis_url"),
    # The binary's name (rallypoint-<service>), not a deployment's.
    ("the command", lambda p, t, s: _container(p, "command") and p[-1] == 0, None),
]


def name_findings(tasks: dict[str, dict], docs: dict[str, dict], tf_text: str) -> list[str]:
    """Names that do not derive from var.name (empty: none)."""
    problems = []
    local_values = tf_locals(docs)
    for file, doc in docs.items():
        for path, value in walk(doc):
            literal = strip_interpolations(value)
            if not HARD_NAME.search(literal) or any(k in PROSE_KEYS for k in path if isinstance(k, str)):
                continue
            where = ".".join(str(k) for k in path)
            # The deployment name's default; the CloudWatch namespace (deployments are told
            # apart by the Cluster dimension, = var.name); the provider's project tag.
            if (path[0] == "variable" and path[2:] in (("name", "default"), ("cloudwatch_namespace", "default"))) or \
                    (path[-1] == "project" and "default_tags" in path):
                continue
            problems.append(f"{file}: {where} = {value} hard-codes a name (use var.name)")
    for file, rtype, rname, body in tf_resources(docs):
        for key in NAMED.get(rtype, []):
            value = body.get(key)
            if value is None:
                if not (rtype == "aws_lb_target_group" and "name" in body):
                    problems.append(f"{file}: {rtype}.{rname} has no {key}")
                else:
                    problems.append(f"{file}: {rtype}.{rname} uses name; use name_prefix (replaceable, and unique per deployment)")
                continue
            text = str(value)
            if "each." in text:
                text += " " + str(body.get("for_each", ""))
            if not derives_from_name(text, local_values):
                problems.append(f"{file}: {rtype}.{rname}.{key} = {value} does not derive from var.name")
    code = "\n".join(line for line in tf_text.splitlines() if not line.lstrip().startswith("#"))
    for service, task in tasks.items():
        for path, value in walk(task):
            if not HARD_NAME.search(value):
                continue
            kind = next((k for k in TASK_PLACEHOLDERS if k[1](path, task, service)), None)
            where = ".".join(str(k) for k in path)
            if kind is None:
                problems.append(f"task definition {service}: {where} = {value!r} names the deployment and Terraform does not replace it")
            elif kind[2] and not re.search(kind[2], code):
                problems.append(f"task definition {service}: {where} is a placeholder, but the Terraform replacing {kind[0]} is gone")
    return problems


def check_names(r: Report, tasks: dict[str, dict], docs: dict[str, dict]) -> None:
    r.section("(h) every name derives from var.name (no hard-coded 'rallypoint')")
    tf_text = "\n".join(p.read_text() for p in sorted(TF_DIR.glob("*.tf")))
    problems = name_findings(tasks, docs, tf_text)
    r.check(
        not problems,
        "Terraform names derive from var.name; the task definitions' 'rallypoint' names are placeholders Terraform replaces",
        "\n        " + "\n        ".join(problems),
    )


# --- (i) checkov -----------------------------------------------------------------------


def run_checkov(checkov: str, directory: Path) -> dict:
    proc = subprocess.run(
        [checkov, "--directory", str(directory), "--framework", "terraform", "--skip-download",
         "--compact", "--output", "json",
         *(["--skip-check", ",".join(CHECKOV_SKIPS)] if CHECKOV_SKIPS else [])],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "LOG_LEVEL": "ERROR"},
    )
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"checkov exited {proc.returncode} without a JSON report: {(proc.stderr or proc.stdout).strip()[-500:]}")
    # One framework: one report (a list when checkov ran several).
    return doc[0] if isinstance(doc, list) else doc


def check_checkov(r: Report) -> None:
    r.section("(i) checkov (static analysis of deploy/terraform)")
    checkov = os.environ.get("DEPLOY_CHECK_CHECKOV")
    if not checkov or not Path(checkov).is_file():
        r.fail("checkov not found: run this through deploy/check.sh, which installs it ($DEPLOY_CHECK_CHECKOV)")
        return
    try:
        report = run_checkov(checkov, TF_DIR)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        r.fail(f"checkov did not run: {e}")
        return
    results, summary = report.get("results", {}), report.get("summary", {})
    failed = results.get("failed_checks", [])
    r.check(
        summary.get("parsing_errors", 1) == 0,
        f"checkov {summary.get('checkov_version', '?')} parses every file ({summary.get('resource_count', '?')} resources)",
        f"{summary.get('parsing_errors')} parsing errors",
    )
    r.check(
        not failed,
        f"checkov: {summary.get('passed', 0)} passed, {len(failed)} failed, {summary.get('skipped', 0)} skipped",
        "; ".join(f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]}): {c.get('check_name', '')}" for c in failed),
    )
    # Every skip, with its reason, grouped by check and reason.
    skipped: dict[tuple[str, str], list[str]] = {}
    unexplained = []
    for c in results.get("skipped_checks", []):
        reason = (c.get("check_result") or {}).get("suppress_comment") or CHECKOV_SKIPS.get(c["check_id"], "")
        if not reason.strip() or reason.strip() == "No comment provided":
            unexplained.append(f"{c['check_id']} {c['resource']}")
        skipped.setdefault((c["check_id"], reason), []).append(c["resource"])
    print("        skipped, with the reason given in the Terraform:")
    for (check_id, reason), resources in sorted(skipped.items()):
        bases = sorted({res.split("[")[0] for res in resources})
        print(f"          {check_id} on {', '.join(bases)}: {reason}")
    r.check(
        not unexplained,
        f"every skipped check says why ({len(skipped)} skip comments, {summary.get('skipped', 0)} resources)",
        f"no reason: {', '.join(unexplained)}",
    )

    # A skip that no longer suppresses anything hides nothing, but lies about the code.
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "terraform"
        shutil.copytree(TF_DIR, copy, ignore=shutil.ignore_patterns(".terraform"))
        for path in copy.glob("*.tf"):
            path.write_text("".join(l for l in path.read_text().splitlines(keepends=True) if "#checkov:skip=" not in l))
        try:
            bare = run_checkov(checkov, copy)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            r.fail(f"checkov without the skip comments did not run: {e}")
            return
    would_fail = {(c["check_id"], c["resource"].split("[")[0]) for c in bare.get("results", {}).get("failed_checks", [])}
    stale = sorted({
        f"{c['check_id']} on {c['resource'].split('[')[0]}"
        for c in results.get("skipped_checks", [])
        if (c["check_id"], c["resource"].split("[")[0]) not in would_fail and c["check_id"] not in CHECKOV_SKIPS
    })
    r.check(not stale, "every inline skip is still needed (checkov fails those resources without it)", f"remove: {', '.join(stale)}")


TRUE_WORDS = {"true", "1", "yes", "on"}


def guest_problems(cases: list[tuple[str, str, dict[str, str]]], terraform: dict[str, str]) -> list[str]:
    """Why these deploy files would let guests in (empty: they do not).

    `cases` are (label, service, RALLYPOINT_* environment) as `environments` gives them;
    `terraform` maps a .tf file's name to its text."""
    problems = []
    for label, _service, env in cases:
        guests = env.get("RALLYPOINT_GATEWAY__ALLOW_GUESTS", "false").strip().lower() in TRUE_WORDS
        development = env.get("RALLYPOINT_INSTANCE__ENVIRONMENT", "production").strip().lower() == "development"
        if label.startswith("compose "):
            if guests and not development:
                problems.append(f"{label}: enables guests without RALLYPOINT_INSTANCE__ENVIRONMENT=development")
        elif guests:
            problems.append(f"{label}: enables guests (RALLYPOINT_GATEWAY__ALLOW_GUESTS); a deployment players reach never may")
        elif development:
            problems.append(f"{label}: declares a development environment; deployments are production or staging")
    for name, text in terraform.items():
        # The variable's name, then its value within the same block (HCL or JSON).
        if re.search(r"ALLOW_GUESTS[^}]{0,80}?true", text, re.IGNORECASE) or \
                re.search(r"allow_guests\s*=\s*true", text, re.IGNORECASE):
            problems.append(f"{name}: enables guests")
        if re.search(r"INSTANCE__ENVIRONMENT[^}]{0,80}?development", text, re.IGNORECASE):
            problems.append(f"{name}: declares a development environment")
    return problems


def check_guests(r: Report, tasks: dict[str, dict], compose_services: dict) -> None:
    r.section("(f) no deployment lets guests in")
    terraform = {rel(p): p.read_text() for p in sorted(TF_DIR.glob("*.tf"))}
    problems = guest_problems(environments(tasks, compose_services), terraform)
    r.check(not problems, "guests only in the development compose file", "; ".join(problems))


def self_test() -> int:
    """Proves checks (f), (g) and (h) fail on deploy files that break them, and pass on
    ones that do not."""
    production = {"RALLYPOINT_GATEWAY__ALLOW_GUESTS": "false"}
    cases = {
        "a task definition with guests": ([("task definition gateway", "gateway", {"RALLYPOINT_GATEWAY__ALLOW_GUESTS": "true"})], {}),
        "a development task definition": ([("task definition gateway", "gateway", {"RALLYPOINT_INSTANCE__ENVIRONMENT": "development"})], {}),
        "compose with guests, not development": ([("compose gateway-1", "gateway", {"RALLYPOINT_GATEWAY__ALLOW_GUESTS": "true"})], {}),
        "Terraform with guests": ([], {"ecs.tf": '{ name = "RALLYPOINT_GATEWAY__ALLOW_GUESTS", value = "true" }'}),
        "Terraform in JSON form with guests": ([], {"ecs.tf": '"name": "RALLYPOINT_GATEWAY__ALLOW_GUESTS",\n  "value": "true"'}),
    }
    failed = 0
    for what, (env_cases, tf) in cases.items():
        if not guest_problems(env_cases, tf):
            print(f"  FAIL  (f) passes {what}")
            failed += 1
        else:
            print(f"  ok    (f) refuses {what}")
    fine = [
        ("task definition gateway", "gateway", production),
        ("compose gateway-1", "gateway", {"RALLYPOINT_GATEWAY__ALLOW_GUESTS": "true", "RALLYPOINT_INSTANCE__ENVIRONMENT": "development"}),
    ]
    tf_fine = {"ecs.tf": '{ name = "RALLYPOINT_GATEWAY__ALLOW_GUESTS", value = "false" }'}
    if guest_problems(fine, tf_fine):
        print(f"  FAIL  (f) refuses files without guests: {guest_problems(fine, tf_fine)}")
        failed += 1
    else:
        print("  ok    (f) passes production files and the development compose file")
    failed += self_test_drain() + self_test_names()
    return 1 if failed else 0


def _task(service: str, env: dict[str, str], stop=30, **extra) -> dict:
    container = {"name": service, "environment": [{"name": k, "value": v} for k, v in env.items()], "stopTimeout": stop}
    container.update(extra)
    return {"family": f"rallypoint-{service}", "containerDefinitions": [container]}


def _lb_docs(gateway_delay=20, pool_delay=40, api_delay=10, **gateway_tg) -> dict[str, dict]:
    gateway = {
        "protocol": '"TCP"', "connection_termination": False, "proxy_protocol_v2": True,
        "target_health_state": [{"enable_unhealthy_connection_termination": False}],
        "deregistration_delay": '${local.deregistration_delay_s["gateway"]}',
    }
    gateway.update(gateway_tg)
    return {"lb.tf": {
        "locals": [{
            "deregistration_delay_s": {"gateway": gateway_delay, '"server-pool"': pool_delay, '"gateway-api"': api_delay},
            "target_groups": {
                "gateway": [
                    {"arn": "${aws_lb_target_group.gateway.arn}", "port": '"client"'},
                    {"arn": "${aws_lb_target_group.api.arn}", "port": '"api"'},
                ],
                '"server-pool"': [{"arn": "${aws_lb_target_group.pool.arn}", "port": '"client"'}],
            },
        }],
        "resource": [{'"aws_lb_target_group"': {
            '"gateway"': gateway,
            '"pool"': {"protocol": '"HTTP"', "deregistration_delay": '${local.deregistration_delay_s["server-pool"]}'},
            '"api"': {"protocol": '"HTTP"', "deregistration_delay": '${local.deregistration_delay_s["gateway-api"]}'},
        }}],
    }}


def self_test_drain() -> int:
    """Proves (g) fails on each way the drain arithmetic can break, and passes a good set."""
    gw_env = {"RALLYPOINT_SHUTDOWN__DRAIN_DEADLINE_MS": "10000", "RALLYPOINT_GATEWAY__PROXY_PROTOCOL": "true",
              "RALLYPOINT_GATEWAY__TRUSTED_PROXIES": "10.0.0.0/16"}
    pool_env = {"RALLYPOINT_SHUTDOWN__DRAIN_DEADLINE_MS": "10000"}
    good = {"gateway": _task("gateway", gw_env), "server-pool": _task("server-pool", pool_env)}
    cases = {
        "a gateway delay equal to the drain deadline": (good, _lb_docs(gateway_delay=10)),
        "a pool delay shorter than the long poll + drain": (good, _lb_docs(pool_delay=30)),
        "a server API delay shorter than the drain deadline": (good, _lb_docs(api_delay=5)),
        "a pool delay that misses a longer long poll": (
            {**good, "server-pool": _task("server-pool", {**pool_env, "RALLYPOINT_POOL__LONG_POLL_MAX_MS": "40000"})}, _lb_docs()),
        "a stopTimeout equal to the drain deadline": ({**good, "gateway": _task("gateway", gw_env, stop=10)}, _lb_docs()),
        "a stopTimeout over 120": ({**good, "server-pool": _task("server-pool", pool_env, stop=121)}, _lb_docs()),
        "a drain deadline left to its default": (
            {**good, "server-pool": _task("server-pool", {})}, _lb_docs()),
        "an NLB that cuts connections at the end of the delay": (good, _lb_docs(connection_termination=True)),
        "an NLB that cuts an unhealthy gateway's connections": (
            good, _lb_docs(target_health_state=[{"enable_unhealthy_connection_termination": True}])),
        "a gateway that does not expect PROXY protocol": (
            {**good, "gateway": _task("gateway", {**gw_env, "RALLYPOINT_GATEWAY__PROXY_PROTOCOL": "false"})}, _lb_docs()),
        "a gateway that still believes X-Forwarded-For": (
            {**good, "gateway": _task("gateway", {**gw_env, "RALLYPOINT_GATEWAY__CLIENT_IP_HEADER": "x-forwarded-for"})}, _lb_docs()),
        "an ALB in front of the gateway": (good, _lb_docs(protocol='"HTTP"')),
    }
    failed = 0
    for what, (tasks, docs) in cases.items():
        if all(ok for ok, _, _ in drain_findings(tasks, docs)):
            print(f"  FAIL  (g) passes {what}")
            failed += 1
        else:
            print(f"  ok    (g) refuses {what}")
    bad = [what for ok, what, _ in drain_findings(good, _lb_docs()) if not ok]
    if bad:
        print(f"  FAIL  (g) refuses a good set: {bad}")
        failed += 1
    else:
        print("  ok    (g) passes a good set (gateway delay 20 s, pool 40 s, drain 10 s, stopTimeout 30 s)")
    return failed


def self_test_names() -> int:
    """Proves (h) fails on hard-coded names, and passes derived ones."""
    def tf(rtype, body, local_values=None):
        doc = {"resource": [{f'"{rtype}"': {'"x"': body}}]}
        if local_values:
            doc["locals"] = [local_values]
        return {"x.tf": doc}
    tf_code = 'family = "${var.name}-${each.key}"'
    task = {"family": "rallypoint-gateway", "containerDefinitions": [{"name": "gateway", "command": ["rallypoint-gateway"]}]}
    cases = {
        "a literal log group name": ({}, tf("aws_cloudwatch_log_group", {"name": '"/ecs/rallypoint/gateway"'}), tf_code),
        "a literal role name": ({}, tf("aws_iam_role", {"name": '"rallypoint-task"'}), tf_code),
        "a target group with a fixed name": ({}, tf("aws_lb_target_group", {"name": '"${var.name}-gateway"'}), tf_code),
        "an alarm name not derived from var.name": ({}, tf("aws_cloudwatch_metric_alarm", {"alarm_name": '"gateway-down"'}), tf_code),
        "a task family Terraform no longer replaces": ({"gateway": task}, {}, 'family = local.task_json[each.key].family'),
        "a task definition naming a log group Terraform does not replace": (
            {"gateway": {"containerDefinitions": [{"name": "gateway", "dockerLabels": {"group": "/ecs/rallypoint/x"}}]}}, {}, tf_code),
    }
    failed = 0
    for what, (tasks, docs, text) in cases.items():
        if not name_findings(tasks, docs, text):
            print(f"  FAIL  (h) passes {what}")
            failed += 1
        else:
            print(f"  ok    (h) refuses {what}")
    fine_docs = tf("aws_lb_target_group", {"name_prefix": '"${local.tg_prefix}gw"'}, {"tg_prefix": "${substr(var.name, 0, 4)}"})
    fine = name_findings({"gateway": task}, fine_docs, tf_code)
    if fine:
        print(f"  FAIL  (h) refuses derived names: {fine}")
        failed += 1
    else:
        print("  ok    (h) passes names derived from var.name and the placeholder family Terraform replaces")
    return failed


def main() -> int:
    if "--self-test" in sys.argv[1:]:
        return self_test()
    r = Report()
    print(f"deploy check of {rel(DEPLOY)}/ in {REPO}")
    tasks = load_task_definitions(r)
    compose_services = load_compose(r)
    docs = check_terraform(r)
    check_configs(r, tasks, compose_services)
    check_health(r, tasks, docs)
    check_guests(r, tasks, compose_services)
    check_drain(r, tasks, docs)
    check_names(r, tasks, docs)
    check_checkov(r)
    print()
    if r.failed:
        print(f"deploy check FAILED: {len(r.failed)} of {r.passed + len(r.failed)} checks failed:")
        for what in r.failed:
            print(f"  - {what.splitlines()[0]}")
        return 1
    print(f"deploy check passed: {r.passed} checks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
