# CloudWatch alarms, all notifying the SNS topic <name>-alarms (plus var.alarm_actions):
#   the services' own signals (metrics from the sidecars, namespace var.cloudwatch_namespace;
#     gauges of a unit of work, a queue-region or a region's pool or outbox, are set by
#     the instance that holds it, so they are read with Maximum over the service's tasks);
#   Redis nodes: memory, engine CPU, evictions (AWS/ElastiCache);
#   load balancers: unhealthy and missing targets (gateway, pool, server API), the pool's
#     5xx;
#   ECS: a service running fewer tasks than it wants (Container Insights).

locals {
  alarm_dims    = { for s in local.services : s => { Cluster = aws_ecs_cluster.main.name, Service = s } }
  alarm_actions = concat([aws_sns_topic.alarms.arn], var.alarm_actions)

  # Load balancer metrics by the service behind the balancer.
  lb_alarm = {
    gateway = {
      namespace = "AWS/NetworkELB"
      dims      = { LoadBalancer = aws_lb.gateway.arn_suffix, TargetGroup = aws_lb_target_group.gateway.arn_suffix }
    }
    "server-pool" = {
      namespace = "AWS/ApplicationELB"
      dims      = { LoadBalancer = aws_lb.pool.arn_suffix, TargetGroup = aws_lb_target_group.pool.arn_suffix }
    }
    # The gateways' server API: the same tasks seen through the API's ALB.
    "gateway-api" = {
      namespace = "AWS/ApplicationELB"
      dims      = { LoadBalancer = aws_lb.api.arn_suffix, TargetGroup = aws_lb_target_group.api.arn_suffix }
    }
  }

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

# --- the alarms on one metric ---------------------------------------------------------
#
# Each entry of local.metric_alarms is one alarm (aws_cloudwatch_metric_alarm.metric below),
# keyed by its name after "<name>-": the metric (namespace, metric_name, dimensions), the
# statistic over evaluation_periods periods of 60 s compared with the threshold, and the
# alarm's description. Missing data counts as OK (notBreaching) unless the entry sets
# treat_missing_data. A `for` makes one alarm per region, service, Redis node or load
# balancer. Every alarm notifies local.alarm_actions when it fires and when it clears.

locals {
  metric_alarms = merge(
    # --- the services' own signals (namespace var.cloudwatch_namespace) ---

    # Players wait too long for a match (too few players in their rating window, or the
    # matchmakers or the pool falling behind).
    {
      "matchmaker-oldest-wait" = {
        namespace           = var.cloudwatch_namespace
        metric_name         = "rallypoint_matchmaker_oldest_wait_seconds_by_task"
        dimensions          = local.alarm_dims["matchmaker"]
        statistic           = "Maximum"
        evaluation_periods  = 3
        comparison_operator = "GreaterThanThreshold"
        threshold           = var.alarm_oldest_wait_seconds
        description         = "The oldest queued ticket has waited more than ${var.alarm_oldest_wait_seconds} s (rallypoint_matchmaker_oldest_wait_seconds)."
      }
    },

    # No free game-server slot in a region: matches wait, then are cancelled and requeued.
    # Add game servers to the region.
    { for region in toset(var.regions) : "pool-free-capacity-zero-${region}" => {
      namespace           = var.cloudwatch_namespace
      metric_name         = "rallypoint_pool_free_capacity"
      dimensions          = merge(local.alarm_dims["server-pool"], { region = region })
      statistic           = "Maximum"
      evaluation_periods  = 3
      comparison_operator = "LessThanOrEqualToThreshold"
      threshold           = 0
      description         = "No free game-server capacity in region ${region} for 3 minutes (rallypoint_pool_free_capacity)."
    } },

    # Matches pile up waiting for a server in a region.
    { for region in toset(var.regions) : "pool-pending-high-${region}" => {
      namespace           = var.cloudwatch_namespace
      metric_name         = "rallypoint_pool_pending"
      dimensions          = merge(local.alarm_dims["server-pool"], { region = region })
      statistic           = "Maximum"
      evaluation_periods  = 3
      comparison_operator = "GreaterThanThreshold"
      threshold           = var.alarm_pool_pending
      description         = "More than ${var.alarm_pool_pending} matches wait for a game server in region ${region} (rallypoint_pool_pending)."
    } },

    # Results are not reaching PostgreSQL (database down or slow): ratings lag and players
    # whose result waits cannot queue again.
    {
      "results-outbox-depth-high" = {
        namespace           = var.cloudwatch_namespace
        metric_name         = "rallypoint_results_outbox_depth_by_task"
        dimensions          = local.alarm_dims["cache-warmer"]
        statistic           = "Maximum"
        evaluation_periods  = 5
        comparison_operator = "GreaterThanThreshold"
        threshold           = var.alarm_outbox_depth
        description         = "More than ${var.alarm_outbox_depth} results wait to be committed to PostgreSQL for 5 minutes (rallypoint_results_outbox_depth)."
      }
    },

    # Results were set aside (unreadable, or refused by PostgreSQL as data): they are not
    # rated until an operator fixes the cause and replays them (rallyctl dead-letters).
    { for region in toset(var.regions) : "results-dead-letters-${region}" => {
      namespace           = var.cloudwatch_namespace
      metric_name         = "rallypoint_results_dead_letters"
      dimensions          = merge(local.alarm_dims["cache-warmer"], { region = region })
      statistic           = "Maximum"
      evaluation_periods  = 1
      comparison_operator = "GreaterThanThreshold"
      threshold           = 0
      description         = "Results of region ${region} wait in the dead-letter list (rallypoint_results_dead_letters): see rallyctl dead-letters."
    } },

    # A service's instances cannot reach Redis (rallypoint_redis_up is 1 while the health
    # probe gets answers from every master). No data counts as down: the tasks or their
    # sidecars are gone.
    { for s in local.services : "${s}-redis-down" => {
      namespace           = var.cloudwatch_namespace
      metric_name         = "rallypoint_redis_up"
      dimensions          = local.alarm_dims[s]
      statistic           = "Minimum"
      evaluation_periods  = 2
      comparison_operator = "LessThanThreshold"
      threshold           = 1
      treat_missing_data  = "breaching"
      description         = "An instance of ${s} cannot reach Redis (rallypoint_redis_up < 1) for 2 minutes, or reports nothing."
    } },

    # --- Redis nodes (AWS/ElastiCache, per node) ---

    # With maxmemory-policy noeviction a full node refuses writes (queue joins, matches,
    # results fail): act long before it is full. Scale the node type or add shards.
    { for node in local.redis_nodes : "redis-memory-${node}" => {
      namespace           = "AWS/ElastiCache"
      metric_name         = "DatabaseMemoryUsagePercentage"
      dimensions          = { CacheClusterId = node }
      statistic           = "Maximum"
      evaluation_periods  = 3
      comparison_operator = "GreaterThanThreshold"
      threshold           = var.alarm_redis_memory_percent
      description         = "Redis node ${node} uses more than ${var.alarm_redis_memory_percent}% of maxmemory; at 100% it refuses writes (noeviction)."
    } },

    # Redis runs commands on one thread: EngineCPUUtilization is that thread.
    { for node in local.redis_nodes : "redis-engine-cpu-${node}" => {
      namespace           = "AWS/ElastiCache"
      metric_name         = "EngineCPUUtilization"
      dimensions          = { CacheClusterId = node }
      statistic           = "Average"
      evaluation_periods  = 5
      comparison_operator = "GreaterThanThreshold"
      threshold           = var.alarm_redis_engine_cpu_percent
      description         = "Redis node ${node}: the engine thread is over ${var.alarm_redis_engine_cpu_percent}% busy for 5 minutes; commands will queue up."
    } },

    # With noeviction there are never evictions; one means the parameter group is not the
    # one in this file (leases and match records may be gone).
    { for node in local.redis_nodes : "redis-evictions-${node}" => {
      namespace           = "AWS/ElastiCache"
      metric_name         = "Evictions"
      dimensions          = { CacheClusterId = node }
      statistic           = "Sum"
      evaluation_periods  = 1
      comparison_operator = "GreaterThanThreshold"
      threshold           = 0
      description         = "Redis node ${node} evicted keys: maxmemory-policy is not noeviction. Leases and match records may have been deleted."
    } },

    # --- load balancers ---

    # A target failing its health checks for 3 minutes: /health/ready has been 503 for
    # longer than a failover's grace (ops.redis_outage_grace_ms), or the task is broken. Its
    # established connections stay (gateway); it gets no new ones.
    { for s, lb in local.lb_alarm : "${s}-unhealthy-targets" => {
      namespace           = lb.namespace
      metric_name         = "UnHealthyHostCount"
      dimensions          = lb.dims
      statistic           = "Maximum"
      evaluation_periods  = 3
      comparison_operator = "GreaterThanThreshold"
      threshold           = 0
      description         = "A ${s} task has failed its load balancer health check (/health/ready) for 3 minutes."
    } },

    # No healthy target at all: new connections cannot be served (the load balancer fails
    # open and sends them to unhealthy targets, which answer 503).
    { for s, lb in local.lb_alarm : "${s}-no-healthy-targets" => {
      namespace           = lb.namespace
      metric_name         = "HealthyHostCount"
      dimensions          = lb.dims
      statistic           = "Minimum"
      evaluation_periods  = 2
      comparison_operator = "LessThanThreshold"
      threshold           = 1
      treat_missing_data  = "breaching"
      description         = "No ${s} task passes its load balancer health check: new connections are refused."
    } },

    # 5xx on the pool's API: from the ALB itself (no target, a timeout) or from the pool (a
    # result answers 503 while Redis replicas do not acknowledge, e.g. during a failover: a
    # minute of those is expected, hence 3 periods). An NLB sees no HTTP status: the
    # gateway's refusals are rallypoint_gateway_refused_total on its /metrics.
    { for metric in ["HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count"] : "pool-lb-${metric == "HTTPCode_ELB_5XX_Count" ? "elb" : "target"}-5xx" => {
      namespace           = "AWS/ApplicationELB"
      metric_name         = metric
      dimensions          = { LoadBalancer = aws_lb.pool.arn_suffix }
      statistic           = "Sum"
      evaluation_periods  = 3
      comparison_operator = "GreaterThanThreshold"
      threshold           = var.alarm_pool_5xx_per_minute
      description         = "The pool's internal load balancer counts more than ${var.alarm_pool_5xx_per_minute} ${metric} a minute for 3 minutes."
    } },
  )
}

resource "aws_cloudwatch_metric_alarm" "metric" {
  for_each            = local.metric_alarms
  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = 60
  evaluation_periods  = each.value.evaluation_periods
  comparison_operator = each.value.comparison_operator
  threshold           = each.value.threshold
  treat_missing_data  = lookup(each.value, "treat_missing_data", "notBreaching")
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- ECS: running below desired (Container Insights) ----------------------------------

# Tasks that crash, fail their health checks or cannot start (image, secrets, capacity)
# leave a service below its desired count. A deploy or scale-out starts tasks within a
# minute or two, so 5 minutes below means something is wrong. An alarm on an expression
# of two metrics (metric_query), hence not an entry of local.metric_alarms.
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
  # The expression's two metrics, per minute from Container Insights: the most tasks
  # desired, the fewest running.
  dynamic "metric_query" {
    for_each = { desired = { metric_name = "DesiredTaskCount", stat = "Maximum" }, running = { metric_name = "RunningTaskCount", stat = "Minimum" } }
    content {
      id = metric_query.key
      metric {
        namespace   = "ECS/ContainerInsights"
        metric_name = metric_query.value.metric_name
        dimensions  = { ClusterName = aws_ecs_cluster.main.name, ServiceName = each.key }
        stat        = metric_query.value.stat
        period      = 60
      }
    }
  }
}
