# Inputs of the Rallypoint deployment. Required: vpc_id, private_subnet_ids,
# public_subnet_ids, image, certificate_arn, database_url. The rest have defaults.
# Cross-variable rules (e.g. the matchmaker's maximum) are preconditions on the
# resources they concern, so that they work on every Terraform version.

variable "name" {
  description = "Name of the deployment: every resource name derives from it (ECS cluster, task families <name>-<service>, log groups /ecs/<name>/<service>, roles, load balancers, target group prefixes, alarms, secrets <name>/..., SSM parameters /<name>/..., the ElastiCache replication group), so two deployments with different names can share an account and region. The task definitions' placeholders assume \"rallypoint\"; Terraform replaces them."
  type        = string
  default     = "rallypoint"
  validation {
    # 21 characters: "<name>-gateway" must fit a load balancer's 32, and the ElastiCache
    # node ids "<name>-0001-001" its 40. No trailing or double '-' (ElastiCache refuses them).
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name: 2-21 characters of lower-case letters, digits and '-', starting with a letter, not ending with '-', no '--'."
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
  description = "Where game clients connect from (the gateway NLB's listeners)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
  validation {
    condition     = length(var.client_cidrs) > 0 && alltrue([for c in var.client_cidrs : can(cidrhost(c, 0))])
    error_message = "client_cidrs: one or more IPv4 CIDRs, e.g. [\"0.0.0.0/0\"]."
  }
}

variable "game_server_cidrs" {
  description = "Where dedicated game servers call the server pool's internal load balancer from (HTTPS 443). null: the whole VPC."
  type        = list(string)
  default     = null
  validation {
    condition     = var.game_server_cidrs == null || alltrue([for c in (var.game_server_cidrs == null ? [] : var.game_server_cidrs) : can(cidrhost(c, 0))])
    error_message = "game_server_cidrs: IPv4 CIDRs, or null for the VPC's."
  }
}

variable "api_cidrs" {
  description = "Where the studio's backends call the gateways' server API from (its internal load balancer, HTTPS 443; PROTOCOL.md section 4). null: the whole VPC. The API token is still required on every call."
  type        = list(string)
  default     = null
  validation {
    condition     = var.api_cidrs == null || alltrue([for c in (var.api_cidrs == null ? [] : var.api_cidrs) : can(cidrhost(c, 0)) && !endswith(c, "/0")])
    error_message = "api_cidrs: IPv4 CIDRs of your backends (not a /0: the server API is never for the internet), or null for the VPC's."
  }
}

variable "ops_cidrs" {
  description = "Networks allowed to reach every task's ops port directly (/health, /metrics, /v1/stats with the admin token), e.g. a bastion or VPN range. Empty: only the load balancers' health checks and the in-task metrics sidecar. The ops port is plain HTTP: never the internet."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for c in var.ops_cidrs : can(cidrhost(c, 0)) && !endswith(c, "/0")])
    error_message = "ops_cidrs: IPv4 CIDRs of your VPN or bastion; not a /0 (the ops port is plain HTTP carrying the admin token)."
  }
}

variable "aws_api_cidrs" {
  description = "Where the tasks reach AWS APIs on 443 (ECR and its S3 layers, Secrets Manager, SSM, CloudWatch Logs, X-Ray), through a NAT gateway or VPC endpoints. The default allows 443 anywhere; with interface endpoints only, narrow it to their subnets."
  type        = list(string)
  default     = ["0.0.0.0/0"]
  validation {
    condition     = length(var.aws_api_cidrs) > 0 && alltrue([for c in var.aws_api_cidrs : can(cidrhost(c, 0))])
    error_message = "aws_api_cidrs: one or more IPv4 CIDRs (the tasks cannot start without ECR and Secrets Manager)."
  }
}

variable "database_cidrs" {
  description = "Where the cache-warmer reaches PostgreSQL (RDS) on database_port. null: the whole VPC."
  type        = list(string)
  default     = null
  validation {
    condition     = var.database_cidrs == null || alltrue([for c in (var.database_cidrs == null ? [] : var.database_cidrs) : can(cidrhost(c, 0))])
    error_message = "database_cidrs: IPv4 CIDRs, or null for the VPC's."
  }
}

variable "database_port" {
  description = "PostgreSQL's port, the only one the cache-warmer may call out to besides Redis and AWS APIs."
  type        = number
  default     = 5432
}

# --- image and TLS ---------------------------------------------------------------------

variable "image" {
  description = "The Rallypoint image (deploy/docker/Dockerfile) with a tag or digest, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/rallypoint:1.2.3. Replaces the placeholder image of every service container."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate of the gateway NLB's TLS listener (clients connect to wss://<your domain>/ws)."
  type        = string
  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", var.certificate_arn))
    error_message = "certificate_arn: an ACM certificate ARN, arn:aws:acm:<region>:<account>:certificate/<id>."
  }
}

variable "pool_certificate_arn" {
  description = "ACM certificate (public, or from ACM Private CA) of the internal pool ALB's HTTPS listener; it must cover the name your game servers use for the pool (a record in a private hosted zone pointing at output pool_lb_dns_name). null: certificate_arn (works when it is a wildcard covering that name)."
  type        = string
  default     = null
  validation {
    condition     = var.pool_certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", coalesce(var.pool_certificate_arn, "-")))
    error_message = "pool_certificate_arn: an ACM certificate ARN, or null to use certificate_arn."
  }
}

variable "api_certificate_arn" {
  description = "ACM certificate of the server API's internal ALB (HTTPS 443); it must cover the name your backends use for it (a private record pointing at output api_lb_dns_name). null: pool_certificate_arn, else certificate_arn."
  type        = string
  default     = null
  validation {
    condition     = var.api_certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", coalesce(var.api_certificate_arn, "-")))
    error_message = "api_certificate_arn: an ACM certificate ARN, or null to use pool_certificate_arn or certificate_arn."
  }
}

variable "gateway_http_forward" {
  description = "Also forward plain TCP port 80 (ws://) to the gateways, for clients that speak ws:// only (the Rust SDK and the load generator, so far). An NLB cannot redirect, so false means no port 80 at all. Leave false in production."
  type        = bool
  default     = false
}

variable "pool_alb_idle_timeout_seconds" {
  description = "The internal pool ALB's idle timeout; above the longest assignments long poll (pool.long_poll_max_ms, 30 s; a precondition in lb.tf checks it)."
  type        = number
  default     = 120
}

variable "deletion_protection" {
  description = "Deletion protection of the load balancers (turn it off before a deliberate terraform destroy). The Redis replication group is protected by lifecycle.prevent_destroy in redis.tf instead, which no variable can switch."
  type        = bool
  default     = true
}

variable "lb_access_logs_bucket" {
  description = "An existing S3 bucket for the load balancers' access logs (its policy must allow Elastic Load Balancing log delivery). null: no access logs."
  type        = string
  default     = null
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
  validation {
    # ElastiCache's rules: 16-128 printable ASCII characters except space, @, " and /.
    condition     = var.redis_auth_token == null || can(regex("^[!#-.0-?A-~]{16,128}$", coalesce(var.redis_auth_token, "-")))
    error_message = "redis_auth_token: 16-128 printable ASCII characters without spaces, @, \" or / (or null to generate one)."
  }
}

variable "redis_snapshot_retention_days" {
  description = "Days of automatic Redis snapshots (1-35). Redis holds live state (queues, matches, results not yet in PostgreSQL)."
  type        = number
  default     = 3
  validation {
    condition     = var.redis_snapshot_retention_days >= 1 && var.redis_snapshot_retention_days <= 35
    error_message = "redis_snapshot_retention_days: 1-35 (Redis holds the results outbox and the queues: keep snapshots)."
  }
}

variable "redis_snapshot_window" {
  description = "Daily snapshot window (UTC, hh24:mi-hh24:mi, at least 60 minutes, not overlapping the maintenance window). Snapshots are taken from a replica, but pick a quiet hour."
  type        = string
  default     = "03:00-04:00"
  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", var.redis_snapshot_window))
    error_message = "redis_snapshot_window: hh24:mi-hh24:mi in UTC, e.g. 03:00-04:00."
  }
}

variable "redis_maintenance_window" {
  description = "Weekly maintenance window (UTC, ddd:hh24:mi-ddd:hh24:mi, at least 60 minutes). ElastiCache patches nodes one at a time with failovers in it (deploy/OPERATIONS.md section 6); changes made with apply_immediately = false wait for it too."
  type        = string
  default     = "tue:05:00-tue:06:00"
  validation {
    condition     = can(regex("^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$", var.redis_maintenance_window))
    error_message = "redis_maintenance_window: ddd:hh24:mi-ddd:hh24:mi in UTC, e.g. tue:05:00-tue:06:00."
  }
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

variable "secret_recovery_window_days" {
  description = "Days a deleted Secrets Manager secret can still be restored (0: deleted at once, so the same name can be created again right away, e.g. for a short-lived test deployment; else 7-30)."
  type        = number
  default     = 7
  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days: 0, or 7-30."
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
  description = "Per service: desired task count at creation, autoscaling min and max. target: the gateway's WebSocket connections per task (Average over its tasks); the other services scale on CPU (cpu_target_percent) and ignore it. The matchmaker's max may not exceed its units of work, queues x regions (a precondition in autoscaling.tf)."
  type = map(object({
    desired = number
    min     = number
    max     = number
    target  = optional(number)
  }))
  default = {
    gateway        = { desired = 2, min = 2, max = 20, target = 10000 }
    matchmaker     = { desired = 2, min = 2, max = 4 }
    "server-pool"  = { desired = 2, min = 2, max = 10 }
    "cache-warmer" = { desired = 2, min = 1, max = 4 }
  }
  validation {
    condition = alltrue([for s in ["gateway", "matchmaker", "server-pool", "cache-warmer"] : contains(keys(var.scaling), s)]) && alltrue([
      for v in values(var.scaling) : v.min >= 1 && v.min <= v.desired && v.desired <= v.max
    ]) && try(var.scaling["gateway"].target > 0, false)
    error_message = "scaling: give gateway, matchmaker, server-pool and cache-warmer, each with 1 <= min <= desired <= max, and the gateway a target > 0 (connections per task)."
  }
}

variable "cpu_target_percent" {
  description = "The matchmaker, server-pool and cache-warmer track average CPU at this level; the gateway also scales out (never in) on it."
  type        = number
  default     = 70
  validation {
    condition     = var.cpu_target_percent >= 20 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent: 20-90."
  }
}

variable "gateway_scale_in_cooldown_seconds" {
  description = "Seconds after a gateway scale-in (or scale-out) before the next scale-in. Every scale-in is a reconnect wave for the stopped task's clients, so it is slow on purpose."
  type        = number
  default     = 900
  validation {
    condition     = var.gateway_scale_in_cooldown_seconds >= 300
    error_message = "gateway_scale_in_cooldown_seconds: at least 300."
  }
}

variable "queues" {
  description = "The matchmaking queues ([matchmaking] in the services' config). With regions, they give the matchmaker's units of work (queues x regions), the cap on its task count."
  type        = list(string)
  default     = ["duel", "squad"]
}

variable "cloudwatch_namespace" {
  description = "CloudWatch namespace the metrics sidecars publish to."
  type        = string
  default     = "Rallypoint"
}

variable "log_retention_days" {
  description = "Retention of the services', sidecars' and ElastiCache's log groups (a value CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  type        = number
  default     = 30
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days: one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "regions" {
  description = "Game regions (the regions of the queues in [matchmaking]); one capacity and one backlog alarm each."
  type        = list(string)
  default     = ["eu", "us"]
}

variable "alarm_actions" {
  description = "More ARNs notified when an alarm fires or clears, besides this deployment's SNS topic <name>-alarms (output alarm_topic_arn), which every alarm notifies."
  type        = list(string)
  default     = []
}

variable "alarm_email" {
  description = "An e-mail address subscribed to the alarm topic (AWS sends a confirmation mail first). null: none; subscribe your pager or chat integration to output alarm_topic_arn."
  type        = string
  default     = null
  validation {
    condition     = var.alarm_email == null || can(regex("^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$", coalesce(var.alarm_email, "-")))
    error_message = "alarm_email: an e-mail address, or null."
  }
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

variable "alarm_redis_memory_percent" {
  description = "Alarm when a Redis node's DatabaseMemoryUsagePercentage (of maxmemory) exceeds this. With noeviction a full node refuses writes: act well before 100."
  type        = number
  default     = 75
}

variable "alarm_redis_engine_cpu_percent" {
  description = "Alarm when a Redis node's EngineCPUUtilization (the single Redis thread) exceeds this for 5 minutes."
  type        = number
  default     = 80
}

variable "alarm_pool_5xx_per_minute" {
  description = "Alarm when the pool's internal load balancer sees more 5xx a minute than this for 3 minutes (from the ALB itself, or from the pool: results answer 503 while Redis replicas do not acknowledge)."
  type        = number
  default     = 20
}
