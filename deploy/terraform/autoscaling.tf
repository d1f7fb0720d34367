# Application Auto Scaling: each service tracks its own signal, published by its tasks'
# metrics sidecars (deploy/ecs/otel-collector.yaml.tpl) to CloudWatch with dimensions
# Cluster and Service; the statistic is the Average over the service's tasks, i.e. the
# load per task, which target tracking holds at var.scaling[service].target:
#   gateway       rallypoint_gateway_connections            WebSocket connections per task
#   matchmaker    rallypoint_matchmaker_queued_by_task      tickets queued per task
#   server-pool   rallypoint_pool_pending_by_task           matches waiting for a server per task
#   cache-warmer  rallypoint_results_outbox_depth_by_task   results not yet in PostgreSQL per task
# A second policy per service tracks CPU; scale-out happens when either asks.
#
# Scale-in stops tasks with SIGTERM: they drain (a gateway's clients reconnect to the
# others) and their units of work (queue-regions, regions, outboxes) are taken over by the
# remaining instances within a lease.

locals {
  scaling_metric = {
    gateway        = "rallypoint_gateway_connections"
    matchmaker     = "rallypoint_matchmaker_queued_by_task"
    "server-pool"  = "rallypoint_pool_pending_by_task"
    "cache-warmer" = "rallypoint_results_outbox_depth_by_task"
  }
}

resource "aws_appautoscaling_target" "service" {
  for_each           = toset(local.services)
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.service[each.key].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.scaling[each.key].min
  max_capacity       = var.scaling[each.key].max
}

resource "aws_appautoscaling_policy" "signal" {
  for_each           = toset(local.services)
  name               = "${var.name}-${each.key}-${local.scaling_metric[each.key]}"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.service[each.key].service_namespace
  resource_id        = aws_appautoscaling_target.service[each.key].resource_id
  scalable_dimension = aws_appautoscaling_target.service[each.key].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.scaling[each.key].target
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    customized_metric_specification {
      namespace   = var.cloudwatch_namespace
      metric_name = local.scaling_metric[each.key]
      statistic   = "Average"

      dimensions {
        name  = "Cluster"
        value = aws_ecs_cluster.main.name
      }
      dimensions {
        name  = "Service"
        value = each.key
      }
    }
  }
}

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
    scale_in_cooldown  = 300

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
