# CloudWatch alarms on the key signals (metrics from the sidecars, namespace
# var.cloudwatch_namespace). Gauges of a unit of work (a queue-region, a region's pool or
# outbox) are set by the instance that holds it, so they are read with Maximum over the
# service's tasks. Notifications go to var.alarm_actions.

locals {
  alarm_dims = { for s in local.services : s => { Cluster = aws_ecs_cluster.main.name, Service = s } }
}

# Players wait too long for a match (too few players in their rating window, or the
# matchmakers or the pool falling behind).
resource "aws_cloudwatch_metric_alarm" "matchmaker_oldest_wait" {
  alarm_name          = "${var.name}-matchmaker-oldest-wait"
  alarm_description   = "The oldest queued ticket has waited more than ${var.alarm_oldest_wait_seconds} s (rallypoint_matchmaker_oldest_wait_seconds)."
  namespace           = var.cloudwatch_namespace
  metric_name         = "rallypoint_matchmaker_oldest_wait_seconds_by_task"
  dimensions          = local.alarm_dims["matchmaker"]
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_oldest_wait_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

# No free game-server slot in a region: matches wait, then are cancelled and requeued.
# Add game servers to the region.
resource "aws_cloudwatch_metric_alarm" "pool_free_capacity_zero" {
  for_each            = toset(var.regions)
  alarm_name          = "${var.name}-pool-free-capacity-zero-${each.key}"
  alarm_description   = "No free game-server capacity in region ${each.key} for 3 minutes (rallypoint_pool_free_capacity)."
  namespace           = var.cloudwatch_namespace
  metric_name         = "rallypoint_pool_free_capacity"
  dimensions          = merge(local.alarm_dims["server-pool"], { region = each.key })
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "LessThanOrEqualToThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

# Matches pile up waiting for a server in a region.
resource "aws_cloudwatch_metric_alarm" "pool_pending_high" {
  for_each            = toset(var.regions)
  alarm_name          = "${var.name}-pool-pending-high-${each.key}"
  alarm_description   = "More than ${var.alarm_pool_pending} matches wait for a game server in region ${each.key} (rallypoint_pool_pending)."
  namespace           = var.cloudwatch_namespace
  metric_name         = "rallypoint_pool_pending"
  dimensions          = merge(local.alarm_dims["server-pool"], { region = each.key })
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_pool_pending
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

# Results are not reaching PostgreSQL (database down or slow): ratings lag and players
# whose result waits cannot queue again.
resource "aws_cloudwatch_metric_alarm" "outbox_depth_high" {
  alarm_name          = "${var.name}-results-outbox-depth-high"
  alarm_description   = "More than ${var.alarm_outbox_depth} results wait to be committed to PostgreSQL for 5 minutes (rallypoint_results_outbox_depth)."
  namespace           = var.cloudwatch_namespace
  metric_name         = "rallypoint_results_outbox_depth_by_task"
  dimensions          = local.alarm_dims["cache-warmer"]
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_outbox_depth
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

# Results were set aside (unreadable, or refused by PostgreSQL as data): they are not
# rated until an operator fixes the cause and replays them (rallyctl dead-letters).
resource "aws_cloudwatch_metric_alarm" "results_dead_letters" {
  for_each            = toset(var.regions)
  alarm_name          = "${var.name}-results-dead-letters-${each.key}"
  alarm_description   = "Results of region ${each.key} wait in the dead-letter list (rallypoint_results_dead_letters): see rallyctl dead-letters."
  namespace           = var.cloudwatch_namespace
  metric_name         = "rallypoint_results_dead_letters"
  dimensions          = merge(local.alarm_dims["cache-warmer"], { region = each.key })
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

# A service's instances cannot reach Redis (rallypoint_redis_up is 1 while the health
# probe gets answers from every master). No data counts as down: the tasks or their
# sidecars are gone.
resource "aws_cloudwatch_metric_alarm" "redis_up" {
  for_each            = toset(local.services)
  alarm_name          = "${var.name}-${each.key}-redis-down"
  alarm_description   = "An instance of ${each.key} cannot reach Redis (rallypoint_redis_up < 1) for 2 minutes, or reports nothing."
  namespace           = var.cloudwatch_namespace
  metric_name         = "rallypoint_redis_up"
  dimensions          = local.alarm_dims[each.key]
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}
