# ElastiCache for Redis in cluster mode: the only thing the four services share.
# Services connect with RALLYPOINT_REDIS__URLS=rediss://<configuration endpoint>:6379,
# RALLYPOINT_REDIS__TLS=true and the AUTH token as RALLYPOINT_REDIS__PASSWORD; they find
# every shard from the cluster's slot map and follow failovers and resharding themselves.

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

  snapshot_retention_limit   = var.redis_snapshot_retention_days
  auto_minor_version_upgrade = true
  apply_immediately          = false
}
