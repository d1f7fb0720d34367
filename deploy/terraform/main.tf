# Rallypoint on AWS: ECS Fargate + ElastiCache (Redis cluster mode), with Terraform.
#
# What this creates, by file:
#   backend.tf      the S3 state backend (partial: give it backend.hcl, see backend.hcl.example)
#   redis.tf        ElastiCache replication group in cluster mode (3 shards x 1 replica,
#                   TLS, encryption at rest, AUTH token, Multi-AZ automatic failover,
#                   snapshot and maintenance windows, slow and engine logs, a final
#                   snapshot, prevent_destroy), its parameter group (cluster-enabled yes,
#                   maxmemory-policy noeviction) and subnet group
#   network.tf      security groups: gateway NLB, pool ALB, one per service, Redis; each
#                   with the egress it needs and no more
#   secrets.tf      Secrets Manager: Redis AUTH token, gateway JWT secret and server API
#                   token, game-server
#                   registration token, join secret, ops admin token (generated),
#                   database URL (given)
#   iam.tf          per service: an execution role (pull, logs, its own secrets and
#                   sidecar config only) and a task role (the metrics sidecar's writes)
#   ecs.tf          the cluster, log groups, the four task definitions and services
#   otel.tf         the metrics sidecar's config per service (SSM parameter)
#   lb.tf           internet-facing NLB for the gateway (TLS 443, PROXY protocol v2 to
#                   the tasks, connections kept through a drain), internal ALB with
#                   HTTPS for the server pool's game-server API, internal ALB with
#                   HTTPS for the gateways' server API (the studio's backends)
#   autoscaling.tf  Application Auto Scaling: the gateway on connections, the others on CPU
#   alarms.tf       SNS topic and CloudWatch alarms: queue wait, game-server capacity,
#                   allocation backlog, results outbox, Redis reachability, Redis nodes'
#                   memory, CPU and evictions, load balancers, tasks below desired
#   variables.tf, outputs.tf
#
# One source of truth for the tasks: the ECS task definitions are the JSON files in
# deploy/ecs/task-definitions/<service>.json (the exact RegisterTaskDefinition input,
# with placeholder account, ARNs, image, names and Redis endpoint, written for a
# deployment named "rallypoint"). This configuration reads them and fills in only what
# belongs to this deployment: the family (<name>-<service>), the image, the role ARNs,
# the secrets' ARNs, the log groups (/ecs/<name>/<service>), the ElastiCache
# configuration endpoint, the region, the gateway's trusted proxies (the NLB's subnets).
# Everything else (command, ports, environment, health check, stop timeout, ulimits, log
# mode, sizes) is taken as written there, and the load balancers' ports are derived from
# the same files. Change a task in its JSON file, then run deploy/check.sh.
#
# Not created here: the VPC and subnets, the ACM certificates, the container image (build
# deploy/docker/Dockerfile and push it to ECR), PostgreSQL (RDS: allow the cache-warmer's
# security group, output `cache_warmer_security_group_id`, on 5432), DNS records (alias
# to output `gateway_lb_dns_name`; a private record for the pool's name at
# `pool_lb_dns_name`), the game servers (they call `pool_internal_url`), the state bucket.
#
#   cd deploy/terraform
#   terraform init -backend-config=backend.hcl
#   terraform apply -var-file=prod.tfvars   # see variables.tf; README in deploy/README.md

terraform {
  # 1.10: the S3 backend's own state locking (use_lockfile, backend.hcl.example).
  required_version = ">= 1.10.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = merge({ project = "rallypoint", deployment = var.name }, var.tags)
  }
}

data "aws_vpc" "this" {
  id = var.vpc_id
}

data "aws_caller_identity" "this" {}

data "aws_partition" "this" {}

# The gateway NLB's nodes take addresses in the public subnets; with PROXY protocol the
# gateways believe a client address only from these (gateway.trusted_proxies).
data "aws_subnet" "public" {
  for_each = toset(var.public_subnet_ids)
  id       = each.value
}

locals {
  services = ["gateway", "matchmaker", "server-pool", "cache-warmer"]

  # The task definitions, as written in deploy/ecs/task-definitions/.
  task_json = {
    for s in local.services : s => jsondecode(file("${path.module}/../ecs/task-definitions/${s}.json"))
  }

  # Each task's service container is the one named after the service; the other is the
  # metrics sidecar.
  main_container = {
    for s in local.services : s => one([for c in local.task_json[s].containerDefinitions : c if c.name == s])
  }

  # Named port mappings of the service container: "ops" everywhere, "client" for the
  # gateway (WebSocket) and the server pool (game-server API), "api" for the gateway's
  # server API.
  ports = {
    for s in local.services : s => { for p in local.main_container[s].portMappings : p.name => p.containerPort }
  }

  # The service container's environment as a map, to read settings from.
  task_env = {
    for s in local.services : s => { for e in local.main_container[s].environment : e.name => e.value }
  }

  # shutdown.drain_deadline_ms in whole seconds (lb.tf compares the target groups'
  # deregistration delays with it).
  drain_deadline_s = {
    for s in local.services : s => ceil(tonumber(local.task_env[s]["RALLYPOINT_SHUTDOWN__DRAIN_DEADLINE_MS"]) / 1000)
  }

  # pool.long_poll_max_ms in whole seconds: the longest a game server's request is held.
  pool_long_poll_s = ceil(tonumber(lookup(local.task_env["server-pool"], "RALLYPOINT_POOL__LONG_POLL_MAX_MS", "30000")) / 1000)

  # Each service's log group (its JSON logs and its sidecar's), named after the
  # deployment: the task definitions' "/ecs/rallypoint/<service>" is a placeholder.
  log_group = { for s in local.services : s => "/ecs/${var.name}/${s}" }

  redis_url = "rediss://${aws_elasticache_replication_group.redis.configuration_endpoint_address}:${aws_elasticache_replication_group.redis.port}"

  # Environment values that belong to this deployment, replacing the placeholders.
  env_overrides = {
    for s in local.services : s => merge(
      {
        RALLYPOINT_REDIS__URLS = local.redis_url
        AWS_REGION             = var.region
      },
      # Only the NLB's addresses may send a PROXY header (any other peer is closed).
      { for k, v in { RALLYPOINT_GATEWAY__TRUSTED_PROXIES = join(",", sort([for sn in data.aws_subnet.public : sn.cidr_block])) } : k => v if s == "gateway" },
    )
  }

  # The secrets each service's containers read (its execution role may read only these).
  secret_names_of = {
    for s in local.services : s => distinct(flatten([
      for c in local.task_json[s].containerDefinitions : [for x in c.secrets : x.name if contains(keys(local.secret_names), x.name)]
    ]))
  }

  # `secrets` names -> the ARN that replaces the placeholder `valueFrom`, per service.
  secret_arns = {
    for s in local.services : s => merge(
      { for env, secret in aws_secretsmanager_secret.app : env => secret.arn },
      { AOT_CONFIG_CONTENT = aws_ssm_parameter.otel_collector[s].arn },
    )
  }

  container_definitions = {
    for s in local.services : s => [
      for c in local.task_json[s].containerDefinitions : merge(c, {
        image       = c.name == s ? var.image : c.image
        environment = [for e in c.environment : { name = e.name, value = lookup(local.env_overrides[s], e.name, e.value) }]
        secrets     = [for x in c.secrets : { name = x.name, valueFrom = lookup(local.secret_arns[s], x.name, x.valueFrom) }]
        logConfiguration = merge(c.logConfiguration, {
          options = merge(c.logConfiguration.options, {
            "awslogs-region" = var.region
            "awslogs-group"  = local.log_group[s]
          })
        })
      })
    ]
  }
}
