# Rallypoint on AWS: ECS Fargate + ElastiCache (Redis cluster mode), with Terraform.
#
# What this creates, by file:
#   redis.tf        ElastiCache replication group in cluster mode (3 shards x 1 replica,
#                   TLS, encryption at rest, AUTH token, Multi-AZ automatic failover),
#                   its parameter group (cluster-enabled yes, maxmemory-policy
#                   noeviction) and subnet group
#   network.tf      security groups: public ALB, internal ALB, one per service, Redis
#   secrets.tf      Secrets Manager: Redis AUTH token, gateway JWT secret, game-server
#                   registration token, join secret, ops admin token (generated),
#                   database URL (given)
#   iam.tf          the task execution role (pull, logs, read the secrets) and the task
#                   role (the metrics sidecar writes CloudWatch embedded metrics)
#   ecs.tf          the cluster, log groups, the four task definitions and services
#   otel.tf         the metrics sidecar's config per service (SSM parameter)
#   alb.tf          internet-facing ALB for the gateway (WebSocket over HTTPS), internal
#                   ALB for the server pool's game-server API
#   autoscaling.tf  Application Auto Scaling: each service tracks its own signal
#   alarms.tf       CloudWatch alarms: queue wait, game-server capacity, allocation
#                   backlog, results outbox, Redis reachability
#   variables.tf, outputs.tf
#
# One source of truth for the tasks: the ECS task definitions are the JSON files in
# deploy/ecs/task-definitions/<service>.json (the exact RegisterTaskDefinition input,
# with placeholder account, ARNs, image and Redis endpoint). This configuration reads
# them and fills in only what belongs to this deployment: the image, the role ARNs, the
# secrets' ARNs, the ElastiCache configuration endpoint, the region. Everything else
# (command, ports, environment, health check, stop timeout, ulimits, log groups, sizes)
# is taken as written there, and the load balancers' ports and deregistration delays are
# derived from the same files. Change a task in its JSON file, then run deploy/check.sh.
#
# Not created here: the VPC and subnets, the ACM certificate, the container image (build
# deploy/docker/Dockerfile and push it to ECR), PostgreSQL (RDS: allow the cache-warmer's
# security group, output `cache_warmer_security_group_id`, on 5432), DNS records (alias
# to output `gateway_alb_dns_name`), the game servers (they call `pool_internal_url`).
#
#   cd deploy/terraform
#   terraform init
#   terraform apply -var-file=prod.tfvars   # see variables.tf; README in deploy/README.md

terraform {
  required_version = ">= 1.5.0"
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
  # gateway (WebSocket) and the server pool (game-server API).
  ports = {
    for s in local.services : s => { for p in local.main_container[s].portMappings : p.name => p.containerPort }
  }

  # The service container's environment as a map, to read settings from.
  task_env = {
    for s in local.services : s => { for e in local.main_container[s].environment : e.name => e.value }
  }

  # shutdown.drain_deadline_ms in whole seconds: the load balancers' deregistration delay.
  drain_deadline_s = {
    for s in local.services : s => ceil(tonumber(local.task_env[s]["RALLYPOINT_SHUTDOWN__DRAIN_DEADLINE_MS"]) / 1000)
  }

  # Every awslogs group the task definitions name.
  log_groups = toset(flatten([
    for s in local.services : [for c in local.task_json[s].containerDefinitions : c.logConfiguration.options["awslogs-group"]]
  ]))

  redis_url = "rediss://${aws_elasticache_replication_group.redis.configuration_endpoint_address}:${aws_elasticache_replication_group.redis.port}"

  # Environment values that belong to this deployment, replacing the placeholders.
  env_overrides = {
    RALLYPOINT_REDIS__URLS = local.redis_url
    AWS_REGION             = var.region
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
        environment = [for e in c.environment : { name = e.name, value = lookup(local.env_overrides, e.name, e.value) }]
        secrets     = [for x in c.secrets : { name = x.name, valueFrom = lookup(local.secret_arns[s], x.name, x.valueFrom) }]
        logConfiguration = merge(c.logConfiguration, {
          options = merge(c.logConfiguration.options, { "awslogs-region" = var.region })
        })
      })
    ]
  }
}
