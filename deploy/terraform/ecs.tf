# The ECS cluster and the four services, each its own Fargate service scaled on its own.
# Task definitions come from deploy/ecs/task-definitions/<service>.json (see main.tf).

resource "aws_ecs_cluster" "main" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

# The log groups the task definitions name (/ecs/rallypoint/<service>: the service's
# JSON logs and its sidecar's), and the one the sidecars write embedded metrics to.
resource "aws_cloudwatch_log_group" "task" {
  for_each          = local.log_groups
  name              = each.key
  retention_in_days = var.log_retention_days
}

resource "aws_cloudwatch_log_group" "metrics" {
  name              = "/ecs/${var.name}/metrics"
  retention_in_days = 7
}

resource "aws_ecs_task_definition" "service" {
  for_each = toset(local.services)

  family                   = local.task_json[each.key].family
  requires_compatibilities = local.task_json[each.key].requiresCompatibilities
  network_mode             = local.task_json[each.key].networkMode
  cpu                      = local.task_json[each.key].cpu
  memory                   = local.task_json[each.key].memory
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = aws_iam_role.task.arn
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
  }

  depends_on = [aws_cloudwatch_log_group.task]
}

locals {
  # Services behind a load balancer: their target group (client port).
  target_groups = {
    gateway       = aws_lb_target_group.gateway.arn
    "server-pool" = aws_lb_target_group.pool.arn
  }
}

resource "aws_ecs_service" "service" {
  for_each = toset(local.services)

  name                    = each.key
  cluster                 = aws_ecs_cluster.main.id
  task_definition         = aws_ecs_task_definition.service[each.key].arn
  launch_type             = "FARGATE"
  platform_version        = "1.4.0"
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

  health_check_grace_period_seconds = contains(keys(local.target_groups), each.key) ? 60 : null

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.service[each.key].id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = contains(keys(local.target_groups), each.key) ? [local.target_groups[each.key]] : []
    content {
      target_group_arn = load_balancer.value
      container_name   = each.key
      container_port   = local.ports[each.key]["client"]
    }
  }

  # Autoscaling owns the count after creation.
  lifecycle {
    ignore_changes = [desired_count]
  }

  depends_on = [
    aws_lb_listener.gateway_https,
    aws_lb_listener.pool,
    aws_iam_role_policy.task_execution,
    aws_secretsmanager_secret_version.app,
  ]
}
