# Inputs of the Rallypoint deployment. Required: vpc_id, private_subnet_ids,
# public_subnet_ids, image, certificate_arn, database_url. The rest have defaults.

variable "name" {
  description = "Name of the deployment: prefix of every resource, the ECS cluster's name, and the first part of the secrets' and SSM parameters' names. The task definitions' placeholder ARNs assume \"rallypoint\"; any name works, since the ARNs are filled in here."
  type        = string
  default     = "rallypoint"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name: 2-21 characters of lower-case letters, digits and '-', starting with a letter (it becomes part of ALB and ElastiCache names)."
  }
}

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-1"
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

# --- network ---------------------------------------------------------------------------

variable "vpc_id" {
  description = "The VPC everything runs in."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (at least two, in different availability zones) for the ECS tasks, ElastiCache and the internal load balancer. Tasks need outbound access to ECR, Secrets Manager, SSM, CloudWatch (NAT gateway or VPC endpoints)."
  type        = list(string)
  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "private_subnet_ids: give at least two subnets in different availability zones (Multi-AZ Redis, ALB)."
  }
}

variable "public_subnet_ids" {
  description = "Public subnets (at least two availability zones) for the internet-facing gateway load balancer."
  type        = list(string)
  validation {
    condition     = length(var.public_subnet_ids) >= 2
    error_message = "public_subnet_ids: an ALB needs subnets in at least two availability zones."
  }
}

variable "client_cidrs" {
  description = "Where game clients connect from (the gateway ALB's listeners)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "game_server_cidrs" {
  description = "Where dedicated game servers call the server pool's internal load balancer from. null: the whole VPC."
  type        = list(string)
  default     = null
}

variable "ops_cidrs" {
  description = "Networks allowed to reach every task's ops port directly (/health, /metrics, /v1/stats with the admin token), e.g. a bastion or VPN range. Empty: only the load balancers' health checks and the in-task metrics sidecar."
  type        = list(string)
  default     = []
}

# --- image and TLS ---------------------------------------------------------------------

variable "image" {
  description = "The Rallypoint image (deploy/docker/Dockerfile) with a tag or digest, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/rallypoint:1.2.3. Replaces the placeholder image of every service container."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for the gateway's HTTPS listener (clients connect to wss://<your domain>/ws)."
  type        = string
}

variable "gateway_http_forward" {
  description = "Also forward plain HTTP (port 80) to the gateways instead of redirecting it to HTTPS: for clients that speak ws:// only (the Rust SDK and the load generator, so far). Leave false in production."
  type        = bool
  default     = false
}

variable "gateway_alb_idle_timeout_seconds" {
  description = "The gateway ALB's idle timeout: a WebSocket with no frame for this long is closed by the ALB. Must be well above the client heartbeat (gateway.heartbeat_ms in the gateway's task definition, 10 s) and the gateway's own idle timeout (30 s)."
  type        = number
  default     = 300
}

variable "pool_alb_idle_timeout_seconds" {
  description = "The internal pool ALB's idle timeout; above the longest assignments long poll (pool.long_poll_max_ms, 30 s)."
  type        = number
  default     = 120
}

# --- Redis (ElastiCache) ---------------------------------------------------------------

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.r7g.large"
}

variable "redis_engine_version" {
  description = "Redis engine version (7.x: the services use sharded pub/sub, SSUBSCRIBE/SPUBLISH)."
  type        = string
  default     = "7.1"
  validation {
    condition     = startswith(var.redis_engine_version, "7.")
    error_message = "redis_engine_version: Redis 7.x is needed (sharded pub/sub)."
  }
}

variable "redis_shards" {
  description = "Shards (node groups) of the cluster."
  type        = number
  default     = 3
}

variable "redis_replicas_per_shard" {
  description = "Replicas per shard (at least 1: automatic failover and Multi-AZ need one)."
  type        = number
  default     = 1
  validation {
    condition     = var.redis_replicas_per_shard >= 1
    error_message = "redis_replicas_per_shard: at least 1 (automatic failover)."
  }
}

variable "redis_auth_token" {
  description = "Redis AUTH token (16-128 printable characters, no @, \" or /). null: a random one is generated. Kept in Secrets Manager as <name>/redis-auth-token."
  type        = string
  default     = null
  sensitive   = true
}

variable "redis_snapshot_retention_days" {
  description = "Days of automatic Redis snapshots (0: none). Redis holds live state (queues, matches, results not yet in PostgreSQL)."
  type        = number
  default     = 3
}

# --- server pool -----------------------------------------------------------------------

variable "pool_join_secret" {
  description = "The key of players' join tokens (pool.join_secret, 32+ characters), which the game servers hold too. null: a random one is generated. Set it to rotate: give the game servers the new value first (deploy/OPERATIONS.md section 5). Kept in Secrets Manager as <name>/pool-join-secret."
  type        = string
  default     = null
  sensitive   = true
  validation {
    condition     = var.pool_join_secret == null || length(coalesce(var.pool_join_secret, "-")) >= 32
    error_message = "pool_join_secret: at least 32 characters (or null to generate one)."
  }
}

# --- PostgreSQL ------------------------------------------------------------------------

variable "database_url" {
  description = "The cache-warmer's PostgreSQL (RDS) URL, postgres://user:password@host:5432/db; for TLS with RDS's CA (installed in the image) append ?sslmode=verify-full&sslrootcert=/usr/local/share/rallypoint/rds-global-bundle.pem. Kept in Secrets Manager as <name>/database-url."
  type        = string
  sensitive   = true
  validation {
    condition     = startswith(var.database_url, "postgres://") || startswith(var.database_url, "postgresql://")
    error_message = "database_url must start with postgres:// or postgresql://."
  }
}

# --- scaling, metrics and alarms -------------------------------------------------------

variable "scaling" {
  description = "Per service: desired task count at creation, autoscaling min and max, and the target value of its own signal (Average over its tasks): gateway connections per task; matchmaker tickets queued per task; server-pool matches pending allocation per task; cache-warmer results in the outbox per task."
  type = map(object({
    desired = number
    min     = number
    max     = number
    target  = number
  }))
  default = {
    gateway        = { desired = 2, min = 2, max = 20, target = 10000 }
    matchmaker     = { desired = 2, min = 2, max = 6, target = 5000 }
    "server-pool"  = { desired = 2, min = 2, max = 10, target = 50 }
    "cache-warmer" = { desired = 2, min = 1, max = 4, target = 1000 }
  }
  validation {
    condition = alltrue([for s in ["gateway", "matchmaker", "server-pool", "cache-warmer"] : contains(keys(var.scaling), s)]) && alltrue([
      for v in values(var.scaling) : v.min >= 1 && v.min <= v.desired && v.desired <= v.max && v.target > 0
    ])
    error_message = "scaling: give gateway, matchmaker, server-pool and cache-warmer, each with 1 <= min <= desired <= max and target > 0."
  }
}

variable "cpu_target_percent" {
  description = "Every service also tracks average CPU at this level (a second target-tracking policy: scale out when either signal asks, in only when both allow)."
  type        = number
  default     = 70
}

variable "cloudwatch_namespace" {
  description = "CloudWatch namespace the metrics sidecars publish to."
  type        = string
  default     = "Rallypoint"
}

variable "log_retention_days" {
  description = "Retention of the services' and sidecars' log groups."
  type        = number
  default     = 30
}

variable "regions" {
  description = "Game regions (the regions of the queues in [matchmaking]); one capacity and one backlog alarm each."
  type        = list(string)
  default     = ["eu", "us"]
}

variable "alarm_actions" {
  description = "ARNs (e.g. an SNS topic) notified when an alarm fires or clears."
  type        = list(string)
  default     = []
}

variable "alarm_oldest_wait_seconds" {
  description = "Alarm when the oldest queued ticket has waited longer than this (rallypoint_matchmaker_oldest_wait_seconds)."
  type        = number
  default     = 60
}

variable "alarm_pool_pending" {
  description = "Alarm when a region has more matches waiting for a game server than this (rallypoint_pool_pending)."
  type        = number
  default     = 50
}

variable "alarm_outbox_depth" {
  description = "Alarm when more results than this wait to be committed to PostgreSQL (rallypoint_results_outbox_depth)."
  type        = number
  default     = 1000
}
