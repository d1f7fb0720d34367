# The ECS cluster and the four services, each its own Fargate service scaled on its own.
# Task definitions come from deploy/ecs/task-definitions/<service>.json (see main.tf).

resource "aws_ecs_cluster" "main" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

# Each service's log group (/ecs/<name>/<service>: the service's JSON logs and its
# sidecar's), and the one the sidecars write embedded metrics to.
resource "aws_cloudwatch_log_group" "task" {
  for_each          = local.log_group
  name              = each.value
  retention_in_days = var.log_retention_days
  #checkov:skip=CKV_AWS_158:operational logs with no secrets in them, encrypted at rest by CloudWatch Logs' own key; a customer-managed KMS key adds a key policy to run and buys nothing here
  #checkov:skip=CKV_AWS_338:retention is var.log_retention_days (30 by default): operational logs, not an audit trail; raise it if your compliance asks for a year
}

resource "aws_cloudwatch_log_group" "metrics" {
  name              = "/ecs/${var.name}/metrics"
  retention_in_days = 7
  #checkov:skip=CKV_AWS_158:embedded-metric records (numbers only), encrypted at rest by CloudWatch Logs' own key
  #checkov:skip=CKV_AWS_338:the metrics are extracted into CloudWatch metrics on arrival; the raw records are only kept a week for debugging
}

resource "aws_ecs_task_definition" "service" {
  for_each = toset(local.services)

  # The JSON's family ("rallypoint-<service>") is a placeholder: the deployment names it.
  family                   = "${var.name}-${each.key}"
  requires_compatibilities = local.task_json[each.key].requiresCompatibilities
  network_mode             = local.task_json[each.key].networkMode
  cpu                      = local.task_json[each.key].cpu
  memory                   = local.task_json[each.key].memory
  execution_role_arn       = aws_iam_role.execution[each.key].arn
  task_role_arn            = aws_iam_role.task[each.key].arn
  container_definitions    = jsonencode(local.container_definitions[each.key])

  runtime_platform {
    operating_system_family = local.task_json[each.key].runtimePlatform.operatingSystemFamily
    cpu_architecture        = local.task_json[each.key].runtimePlatform.cpuArchitecture
  }

  lifecycle {
    precondition {
      condition = alltrue(flatten([
        for c in local.task_json[each.key].containerDefinitions : [for x in c.secrets : contains(keys(local.secret_arns[each.key]), x.name)]
      ]))
      error_message = "A secret in deploy/ecs/task-definitions/${each.key}.json has no Secrets Manager secret here: add it to local.secret_names in secrets.tf."
    }
    precondition {
      # Otherwise WAIT never sees enough replicas: every result answers 503, no match is announced.
      condition     = each.key != "server-pool" || tonumber(lookup(local.task_env[each.key], "RALLYPOINT_POOL__REPLICAS_TO_ACK", "1")) <= var.redis_replicas_per_shard
      error_message = "deploy/ecs/task-definitions/server-pool.json: RALLYPOINT_POOL__REPLICAS_TO_ACK (default 1) must not exceed redis_replicas_per_shard."
    }
    precondition {
      condition     = contains(keys(local.ports[each.key]), "ops")
      error_message = "deploy/ecs/task-definitions/${each.key}.json: the service container needs a port mapping named \"ops\"."
    }
    precondition {
      # The gateway NLB sends a PROXY protocol v2 header on every connection; a gateway
      # not expecting one would take it for a broken HTTP request.
      condition     = each.key != "gateway" || lower(lookup(local.task_env["gateway"], "RALLYPOINT_GATEWAY__PROXY_PROTOCOL", "false")) == "true"
      error_message = "deploy/ecs/task-definitions/gateway.json: RALLYPOINT_GATEWAY__PROXY_PROTOCOL must be true (the NLB target group sends PROXY protocol v2)."
    }
    precondition {
      condition     = each.key != "gateway" || contains(keys(local.task_env["gateway"]), "RALLYPOINT_GATEWAY__TRUSTED_PROXIES")
      error_message = "deploy/ecs/task-definitions/gateway.json: set RALLYPOINT_GATEWAY__TRUSTED_PROXIES (a placeholder; Terraform puts the NLB's subnets there)."
    }
  }

  depends_on = [aws_cloudwatch_log_group.task]
}

locals {
  # Services behind load balancers: each target group with the named port it targets
  # (the gateway's clients on the NLB, its server API on the API ALB).
  target_groups = {
    gateway = [
      { arn = aws_lb_target_group.gateway.arn, port = "client" },
      { arn = aws_lb_target_group.api.arn, port = "api" },
    ]
    "server-pool" = [{ arn = aws_lb_target_group.pool.arn, port = "client" }]
  }
}

resource "aws_ecs_service" "service" {
  for_each = toset(local.services)

  name                    = each.key
  cluster                 = aws_ecs_cluster.main.id
  task_definition         = aws_ecs_task_definition.service[each.key].arn
  launch_type             = "FARGATE"
  # LATEST: each new task gets the current Fargate platform (security patches).
  platform_version        = "LATEST"
  desired_count           = var.scaling[each.key].desired
  enable_ecs_managed_tags = true
  propagate_tags          = "SERVICE"

  # New tasks start before old ones stop; a deployment that never gets healthy rolls back.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  # Load balancer health checks are ignored this long after a task starts (it connects to
  # Redis and loads its state first).
  health_check_grace_period_seconds = contains(keys(local.target_groups), each.key) ? 60 : null

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.service[each.key].id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = lookup(local.target_groups, each.key, [])
    content {
      target_group_arn = load_balancer.value.arn
      container_name   = each.key
      container_port   = local.ports[each.key][load_balancer.value.port]
    }
  }

  # Autoscaling owns the count after creation.
  lifecycle {
    ignore_changes = [desired_count]
  }

  depends_on = [
    aws_lb_listener.gateway_tls,
    aws_lb_listener.pool,
    aws_lb_listener.api,
    aws_iam_role_policy.execution,
    aws_iam_role_policy_attachment.execution,
    aws_secretsmanager_secret_version.app,
  ]
}
