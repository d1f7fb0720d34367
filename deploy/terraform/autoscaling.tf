# Application Auto Scaling: each service scales on what it really spends.
#
#   gateway       rallypoint_gateway_connections (WebSocket connections per task, the
#                 Average over its tasks, published by the metrics sidecars), target
#                 var.scaling.gateway.target. Scale-in is slow on purpose
#                 (var.gateway_scale_in_cooldown_seconds, 15 min): every scale-in stops a
#                 gateway, and all of its clients reconnect. A second policy on CPU may
#                 scale out (a fan-out burst) but never in.
#   matchmaker,   average CPU (ECSServiceAverageCPUUtilization), var.cpu_target_percent.
#   server-pool,  Their work metrics (tickets queued, matches pending, results in the
#   cache-warmer  outbox) measure demand on things more tasks do not add (one holder per
#                 queue-region or region; game-server slots; PostgreSQL), so they are
#                 alarms (alarms.tf), not scaling signals. The matchmaker's maximum is
#                 capped at its units of work (queues x regions): more tasks are standbys.
#
# Scale-in stops tasks with SIGTERM after the load balancer's deregistration delay: they
# drain (a gateway's clients reconnect to the others) and their units of work are taken
# over by the remaining instances within a lease. deploy/OPERATIONS.md section 2.

locals {
  # The matchmaker's units of work: one lease holder each (deploy/OPERATIONS.md section 2).
  matchmaker_units = length(var.queues) * length(var.regions)
}

resource "aws_appautoscaling_target" "service" {
  for_each           = toset(local.services)
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.service[each.key].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.scaling[each.key].min
  max_capacity       = var.scaling[each.key].max

  lifecycle {
    precondition {
      condition     = each.key != "matchmaker" || var.scaling["matchmaker"].max <= local.matchmaker_units
      error_message = "scaling.matchmaker.max must not exceed queues x regions (${local.matchmaker_units}): a matchmaker without a queue-region to hold is a standby."
    }
  }
}

# The gateway: connections per task.
resource "aws_appautoscaling_policy" "gateway_connections" {
  name               = "${var.name}-gateway-connections"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.service["gateway"].service_namespace
  resource_id        = aws_appautoscaling_target.service["gateway"].resource_id
  scalable_dimension = aws_appautoscaling_target.service["gateway"].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.scaling["gateway"].target
    scale_out_cooldown = 60
    # Slow: each scale-in is a reconnect wave for one gateway's clients.
    scale_in_cooldown = var.gateway_scale_in_cooldown_seconds

    customized_metric_specification {
      namespace   = var.cloudwatch_namespace
      metric_name = "rallypoint_gateway_connections"
      statistic   = "Average"

      dimensions {
        name  = "Cluster"
        value = aws_ecs_cluster.main.name
      }
      dimensions {
        name  = "Service"
        value = "gateway"
      }
    }
  }
}

# CPU: the scaling signal of the matchmaker, pool and cache-warmer; for the gateway a
# scale-out guard only (disable_scale_in: its scale-in follows connections alone).
resource "aws_appautoscaling_policy" "cpu" {
  for_each           = toset(local.services)
  name               = "${var.name}-${each.key}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.service[each.key].service_namespace
  resource_id        = aws_appautoscaling_target.service[each.key].resource_id
  scalable_dimension = aws_appautoscaling_target.service[each.key].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_out_cooldown = 60
    scale_in_cooldown  = each.key == "gateway" ? var.gateway_scale_in_cooldown_seconds : 300
    disable_scale_in   = each.key == "gateway"

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
