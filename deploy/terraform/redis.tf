# ElastiCache for Redis in cluster mode: the only thing the four services share.
# Services connect with RALLYPOINT_REDIS__URLS=rediss://<configuration endpoint>:6379,
# RALLYPOINT_REDIS__TLS=true and the AUTH token as RALLYPOINT_REDIS__PASSWORD; they find
# every shard from the cluster's slot map and follow failovers and resharding themselves.
#
# Redis holds state that exists nowhere else (the results outbox, the queues, live
# matches: deploy/OPERATIONS.md section 6), so the cluster must not evict, is snapshotted
# daily, leaves a final snapshot if it is ever deleted, and Terraform refuses to destroy
# or replace it (prevent_destroy: remove that line on purpose first if you really mean it).

resource "aws_elasticache_subnet_group" "redis" {
  name        = "${var.name}-redis"
  description = "Rallypoint Redis Cluster"
  subnet_ids  = var.private_subnet_ids
}

resource "aws_elasticache_parameter_group" "redis" {
  name        = "${var.name}-redis7-cluster"
  family      = "redis7"
  description = "Rallypoint: Redis 7 in cluster mode"

  parameter {
    name  = "cluster-enabled"
    value = "yes"
  }

  # The redis7 family's default is volatile-lru, which under memory pressure evicts keys
  # with a TTL: leases and match records. A full node must refuse writes instead (the
  # services warn at start when the policy is anything else).
  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }
}

# ElastiCache's slow log and engine log (failovers, replication, OOM refusals).
resource "aws_cloudwatch_log_group" "redis" {
  for_each          = toset(["slow-log", "engine-log"])
  name              = "/elasticache/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  #checkov:skip=CKV_AWS_158:Redis engine and slow logs hold commands' names and timings, no values; encrypted at rest by CloudWatch Logs' own key
  #checkov:skip=CKV_AWS_338:retention is var.log_retention_days (30 by default): operational logs, not an audit trail
}

resource "aws_elasticache_replication_group" "redis" {
  replication_group_id = var.name
  description          = "Rallypoint Redis Cluster (cluster mode enabled)"
  engine               = "redis"
  engine_version       = var.redis_engine_version
  node_type            = var.redis_node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.redis.name
  subnet_group_name    = aws_elasticache_subnet_group.redis.name
  security_group_ids   = [aws_security_group.redis.id]

  num_node_groups         = var.redis_shards
  replicas_per_node_group = var.redis_replicas_per_shard

  automatic_failover_enabled = true
  multi_az_enabled           = true
  transit_encryption_enabled = true
  at_rest_encryption_enabled = true
  auth_token                 = local.secret_values["RALLYPOINT_REDIS__PASSWORD"]
  auth_token_update_strategy = "ROTATE"

  # Snapshots come from a replica; maintenance (patching) fails over one shard at a time.
  snapshot_retention_limit   = var.redis_snapshot_retention_days
  snapshot_window            = var.redis_snapshot_window
  maintenance_window         = var.redis_maintenance_window
  final_snapshot_identifier  = "${var.name}-final"
  auto_minor_version_upgrade = true
  apply_immediately          = false

  # Failovers, node replacements and maintenance events go to the alarm topic too.
  notification_topic_arn = aws_sns_topic.alarms.arn

  dynamic "log_delivery_configuration" {
    for_each = aws_cloudwatch_log_group.redis
    content {
      destination      = log_delivery_configuration.value.name
      destination_type = "cloudwatch-logs"
      log_format       = "json"
      log_type         = log_delivery_configuration.key
    }
  }

  lifecycle {
    prevent_destroy = true
  }
  #checkov:skip=CKV_AWS_191:encrypted at rest with ElastiCache's AWS-owned key; a customer-managed KMS key is a compliance choice (add kms_key_id) that this deployment does not need
}
