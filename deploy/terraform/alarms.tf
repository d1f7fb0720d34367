# CloudWatch alarms, all notifying the SNS topic <name>-alarms (plus var.alarm_actions):
#   the services' own signals (metrics from the sidecars, namespace var.cloudwatch_namespace;
#     gauges of a unit of work, a queue-region or a region's pool or outbox, are set by
#     the instance that holds it, so they are read with Maximum over the service's tasks);
#   Redis nodes: memory, engine CPU, evictions (AWS/ElastiCache);
#   load balancers: unhealthy and missing targets, the pool's 5xx;
#   ECS: a service running fewer tasks than it wants (Container Insights).

locals {
  alarm_dims    = { for s in local.services : s => { Cluster = aws_ecs_cluster.main.name, Service = s } }
  alarm_actions = concat([aws_sns_topic.alarms.arn], var.alarm_actions)

  # ElastiCache names the nodes of a cluster-mode replication group
  # <group>-<shard 0001..>-<node 001..>. Known at plan time, so each gets its alarms; after
  # resharding, apply again (shards added later get the next numbers).
  redis_nodes = flatten([
    for shard in range(1, var.redis_shards + 1) : [
      for node in range(1, var.redis_replicas_per_shard + 2) : format("%s-%04d-%03d", var.name, shard, node)
    ]
  ])
}

# Where every alarm goes. Not KMS-encrypted: CloudWatch cannot publish to a topic under
# the AWS-managed aws/sns key, and alarm texts carry no secrets.
resource "aws_sns_topic" "alarms" {
  name = "${var.name}-alarms"
  #checkov:skip=CKV_AWS_26:CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed aws/sns key; the messages are alarm names and states, no secrets
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
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
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
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
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
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
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
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
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
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
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
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
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- Redis nodes (AWS/ElastiCache, per node) -------------------------------------------

# With maxmemory-policy noeviction a full node refuses writes (queue joins, matches,
# results fail): act long before it is full. Scale the node type or add shards.
resource "aws_cloudwatch_metric_alarm" "redis_memory" {
  for_each            = toset(local.redis_nodes)
  alarm_name          = "${var.name}-redis-memory-${each.key}"
  alarm_description   = "Redis node ${each.key} uses more than ${var.alarm_redis_memory_percent}% of maxmemory; at 100% it refuses writes (noeviction)."
  namespace           = "AWS/ElastiCache"
  metric_name         = "DatabaseMemoryUsagePercentage"
  dimensions          = { CacheClusterId = each.key }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_redis_memory_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Redis runs commands on one thread: EngineCPUUtilization is that thread.
resource "aws_cloudwatch_metric_alarm" "redis_engine_cpu" {
  for_each            = toset(local.redis_nodes)
  alarm_name          = "${var.name}-redis-engine-cpu-${each.key}"
  alarm_description   = "Redis node ${each.key}: the engine thread is over ${var.alarm_redis_engine_cpu_percent}% busy for 5 minutes; commands will queue up."
  namespace           = "AWS/ElastiCache"
  metric_name         = "EngineCPUUtilization"
  dimensions          = { CacheClusterId = each.key }
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_redis_engine_cpu_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# With noeviction there are never evictions; one means the parameter group is not the
# one in this file (leases and match records may be gone).
resource "aws_cloudwatch_metric_alarm" "redis_evictions" {
  for_each            = toset(local.redis_nodes)
  alarm_name          = "${var.name}-redis-evictions-${each.key}"
  alarm_description   = "Redis node ${each.key} evicted keys: maxmemory-policy is not noeviction. Leases and match records may have been deleted."
  namespace           = "AWS/ElastiCache"
  metric_name         = "Evictions"
  dimensions          = { CacheClusterId = each.key }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- load balancers -------------------------------------------------------------------

locals {
  lb_alarm = {
    gateway = {
      namespace = "AWS/NetworkELB"
      dims      = { LoadBalancer = aws_lb.gateway.arn_suffix, TargetGroup = aws_lb_target_group.gateway.arn_suffix }
    }
    "server-pool" = {
      namespace = "AWS/ApplicationELB"
      dims      = { LoadBalancer = aws_lb.pool.arn_suffix, TargetGroup = aws_lb_target_group.pool.arn_suffix }
    }
  }
}

# A target failing its health checks for 3 minutes: /health/ready has been 503 for
# longer than a failover's grace (ops.redis_outage_grace_ms), or the task is broken. Its
# established connections stay (gateway); it gets no new ones.
resource "aws_cloudwatch_metric_alarm" "lb_unhealthy" {
  for_each            = local.lb_alarm
  alarm_name          = "${var.name}-${each.key}-unhealthy-targets"
  alarm_description   = "A ${each.key} task has failed its load balancer health check (/health/ready) for 3 minutes."
  namespace           = each.value.namespace
  metric_name         = "UnHealthyHostCount"
  dimensions          = each.value.dims
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# No healthy target at all: new connections cannot be served (the load balancer fails
# open and sends them to unhealthy targets, which answer 503).
resource "aws_cloudwatch_metric_alarm" "lb_no_healthy" {
  for_each            = local.lb_alarm
  alarm_name          = "${var.name}-${each.key}-no-healthy-targets"
  alarm_description   = "No ${each.key} task passes its load balancer health check: new connections are refused."
  namespace           = each.value.namespace
  metric_name         = "HealthyHostCount"
  dimensions          = each.value.dims
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# 5xx on the pool's API: from the ALB itself (no target, a timeout) or from the pool (a
# result answers 503 while Redis replicas do not acknowledge, e.g. during a failover: a
# minute of those is expected, hence 3 periods). An NLB sees no HTTP status: the
# gateway's refusals are rallypoint_gateway_refused_total on its /metrics.
resource "aws_cloudwatch_metric_alarm" "pool_5xx" {
  for_each            = toset(["HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count"])
  alarm_name          = "${var.name}-pool-lb-${each.key == "HTTPCode_ELB_5XX_Count" ? "elb" : "target"}-5xx"
  alarm_description   = "The pool's internal load balancer counts more than ${var.alarm_pool_5xx_per_minute} ${each.key} a minute for 3 minutes."
  namespace           = "AWS/ApplicationELB"
  metric_name         = each.key
  dimensions          = { LoadBalancer = aws_lb.pool.arn_suffix }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_pool_5xx_per_minute
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- ECS: running below desired (Container Insights) ----------------------------------

# Tasks that crash, fail their health checks or cannot start (image, secrets, capacity)
# leave a service below its desired count. A deploy or scale-out starts tasks within a
# minute or two, so 5 minutes below means something is wrong.
resource "aws_cloudwatch_metric_alarm" "tasks_below_desired" {
  for_each            = toset(local.services)
  alarm_name          = "${var.name}-${each.key}-tasks-below-desired"
  alarm_description   = "ECS service ${each.key} has run fewer tasks than desired for 5 minutes (crash loop, failing health checks, or tasks that cannot start)."
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "missing"
    expression  = "desired - running"
    label       = "desired tasks not running"
    return_data = true
  }
  metric_query {
    id = "desired"
    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "DesiredTaskCount"
      dimensions  = { ClusterName = aws_ecs_cluster.main.name, ServiceName = each.key }
      stat        = "Maximum"
      period      = 60
    }
  }
  metric_query {
    id = "running"
    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "RunningTaskCount"
      dimensions  = { ClusterName = aws_ecs_cluster.main.name, ServiceName = each.key }
      stat        = "Minimum"
      period      = 60
    }
  }
}
