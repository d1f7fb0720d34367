#!/usr/bin/env python3
"""Offline checks of the deployment artifacts in deploy/ (run it with deploy/check.sh).

Checks, each printed as it passes or fails; the exit code is 1 when any failed:
  (a) deploy/ecs/task-definitions/<service>.json is valid RegisterTaskDefinition input
      by botocore's ECS service model (no AWS call), and has the shape the rest of the
      deployment relies on (Fargate, awsvpc, a container named after the service running
      rallypoint-<service>, named ports "ops" (and "client"), awslogs).
  (b) deploy/compose/docker-compose.yml parses as YAML, every depends_on target exists,
      environment values are strings, each service has a /health/ready health check.
  (c) every deploy/terraform/*.tf parses (python-hcl2), every variable has a
      description, and the metrics sidecar's config template renders to YAML that fits
      an SSM standard parameter.
  (d) every RALLYPOINT_* name is RALLYPOINT_<SECTION>__<KEY> of a section the service
      reads (a service ignores other sections, so --check-config would not see a typo);
      every RALLYPOINT_* environment of the compose services and of the task definitions
      (environment plus secrets, secrets given dummy values that pass validation) passes
      `rallypoint-<service> --check-config` with exactly that environment plus PATH; and
      with one made-up key of the service's own section added it fails and names the key.
      Binaries: $CARGO_TARGET_DIR/debug or <repo>/target/debug.
      DEPLOY_CHECK_SKIP_CONFIG=1 skips (d) (and says so).
  (e) every task definition's stopTimeout exceeds RALLYPOINT_SHUTDOWN__DRAIN_DEADLINE_MS
      (in seconds, set explicitly) and is at most Fargate's 120, and its health check
      curls /health/ready on the ops port.
  (f) no deployment lets guests in: no task definition or Terraform file sets
      RALLYPOINT_GATEWAY__ALLOW_GUESTS to true or declares itself a development one
      (RALLYPOINT_INSTANCE__ENVIRONMENT=development); the only file that may enable
      guests is the compose file, which is for development, and it must say so
      (instance.environment = development, without which the gateway refuses to start).
      `check_deploy.py --self-test` proves this check fails on such files.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
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
    "RALLYPOINT_POOL__TOKEN": "dummy-pool-token-0123456789abcdef",
    "RALLYPOINT_POOL__JOIN_SECRET": "dummy-pool-join-secret-0123456789abcdef",
    # Set only during a rotation (deploy/OPERATIONS.md section 5).
    "RALLYPOINT_GATEWAY__PREVIOUS_JWT_SECRET": "dummy-old-jwt-secret-0123456789",
    "RALLYPOINT_POOL__PREVIOUS_TOKEN": "dummy-old-pool-token-0123456789",
    "RALLYPOINT_OPS__ADMIN_TOKEN": "dummy-admin-token-0123456789abcdef",
    "RALLYPOINT_DATABASE__URL": "postgres://rallypoint:dummy@db.invalid:5432/rallypoint",
}
SSM_STANDARD_MAX = 4096
FARGATE_MAX_STOP_TIMEOUT = 120


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
        if log.get("logDriver") != "awslogs" or log.get("options", {}).get("awslogs-group") != f"/ecs/rallypoint/{service}":
            problems.append(f"container {c.get('name')!r} must log with awslogs to /ecs/rallypoint/{service}")
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


def check_terraform(r: Report) -> None:
    r.section("(c) Terraform (python-hcl2) and the metrics sidecar's config")
    files = sorted(TF_DIR.glob("*.tf"))
    if not r.check(bool(files), f"{rel(TF_DIR)} has .tf files"):
        return
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


# --- (e) stop timeouts and health checks --------------------------------------------------


def check_shutdown_and_health(r: Report, tasks: dict[str, dict]) -> None:
    r.section("(e) stop timeout vs drain deadline; health checks")
    for service, task in tasks.items():
        main = main_container(service, task)
        if main is None:
            r.fail(f"{service}: no service container")
            continue
        env = env_of(main)
        raw = env.get("RALLYPOINT_SHUTDOWN__DRAIN_DEADLINE_MS")
        stop = main.get("stopTimeout")
        if raw is None or not raw.isdigit():
            r.fail(f"{service}: RALLYPOINT_SHUTDOWN__DRAIN_DEADLINE_MS must be set explicitly (milliseconds), is {raw!r}")
        elif not isinstance(stop, int):
            r.fail(f"{service}: the service container needs an integer stopTimeout")
        else:
            drain_s = int(raw) / 1000
            r.check(
                drain_s < stop <= FARGATE_MAX_STOP_TIMEOUT,
                f"{service}: stopTimeout {stop} s > drain deadline {drain_s:g} s, and <= {FARGATE_MAX_STOP_TIMEOUT}",
                "raise stopTimeout (Fargate allows 120 s) or lower the drain deadline",
            )
        ops = port_of(env.get("RALLYPOINT_OPS__LISTEN"))
        command = " ".join((main.get("healthCheck") or {}).get("command", []))
        r.check(
            "/health/ready" in command and f"localhost:{ops}/health/ready" in command,
            f"{service}: health check curls /health/ready on the ops port {ops}",
            f"healthCheck command is {command!r}",
        )


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
    """Proves check (f) fails on deploy files that let guests in, and passes on ones that
    do not."""
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
    return 1 if failed else 0


def main() -> int:
    if "--self-test" in sys.argv[1:]:
        return self_test()
    r = Report()
    print(f"deploy check of {rel(DEPLOY)}/ in {REPO}")
    tasks = load_task_definitions(r)
    compose_services = load_compose(r)
    check_terraform(r)
    check_configs(r, tasks, compose_services)
    check_shutdown_and_health(r, tasks)
    check_guests(r, tasks, compose_services)
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
