# Security groups, each allowing only what its resource needs, in and out:
#
#   in                                              out
#   gateway NLB   <- client_cidrs on 443 (and 80     -> gateway tasks: client and ops
#                    with gateway_http_forward)          ports (traffic, health checks)
#   pool ALB      <- game_server_cidrs (default:     -> pool tasks: client and ops ports
#                    the VPC) on 443
#   gateway       <- NLB: client and ops ports       -> Redis 6379; AWS APIs 443
#   server-pool   <- ALB: client and ops ports       -> Redis 6379; AWS APIs 443
#   matchmaker    (nothing)                          -> Redis 6379; AWS APIs 443
#   cache-warmer  (nothing)                          -> Redis 6379; AWS APIs 443;
#                                                       PostgreSQL (database_cidrs)
#   every task    <- ops_cidrs on its ops port (optional)
#   Redis         <- the four services on 6379       (nothing)
#
# "AWS APIs" is ECR (and S3 for its layers), Secrets Manager, SSM, CloudWatch Logs and
# X-Ray, through a NAT gateway or VPC endpoints (aws_api_cidrs). DNS, the task metadata
# endpoint and time sync are not filtered by security groups. The metrics sidecar talks
# to its service over localhost.

locals {
  vpc_cidrs = [data.aws_vpc.this.cidr_block]

  # Which load balancer's security group reaches which service's ports.
  lb_sources = {
    gateway       = aws_security_group.gateway_lb.id
    "server-pool" = aws_security_group.pool_lb.id
  }
  lb_ingress = merge([
    for s, sg in local.lb_sources : {
      for kind, port in local.ports[s] : "${s}:${kind}" => { service = s, source = sg, port = port }
    }
  ]...)
  ops_ingress = merge([
    for s in local.services : {
      for cidr in var.ops_cidrs : "${s}:${cidr}" => { service = s, cidr = cidr, port = local.ports[s]["ops"] }
    }
  ]...)

  gateway_lb_ports = var.gateway_http_forward ? [443, 80] : [443]

  # Outbound of the tasks: AWS APIs and Redis for all, PostgreSQL for the cache-warmer.
  api_egress = merge([
    for s in local.services : { for cidr in var.aws_api_cidrs : "${s}:${cidr}" => { service = s, cidr = cidr } }
  ]...)
  database_egress = { for cidr in (var.database_cidrs != null ? var.database_cidrs : local.vpc_cidrs) : cidr => cidr }
}

# --- gateway NLB ----------------------------------------------------------------------

resource "aws_security_group" "gateway_lb" {
  name        = "${var.name}-gateway-lb"
  description = "Rallypoint: public network load balancer of the gateways"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "gateway_lb" {
  for_each          = { for pair in setproduct(var.client_cidrs, local.gateway_lb_ports) : "${pair[0]}:${pair[1]}" => pair }
  security_group_id = aws_security_group.gateway_lb.id
  description       = "game clients"
  cidr_ipv4         = each.value[0]
  from_port         = each.value[1]
  to_port           = each.value[1]
  ip_protocol       = "tcp"
}

# --- pool ALB -------------------------------------------------------------------------

resource "aws_security_group" "pool_lb" {
  name        = "${var.name}-pool-lb"
  description = "Rallypoint: internal load balancer of the server pools (game-server API)"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "pool_lb" {
  for_each          = toset(var.game_server_cidrs != null ? var.game_server_cidrs : local.vpc_cidrs)
  security_group_id = aws_security_group.pool_lb.id
  description       = "game servers (HTTPS)"
  cidr_ipv4         = each.value
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
}

# --- load balancers to their tasks ----------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "service_from_lb" {
  for_each                     = local.lb_ingress
  security_group_id            = aws_security_group.service[each.value.service].id
  description                  = "load balancer to ${each.key}"
  referenced_security_group_id = each.value.source
  from_port                    = each.value.port
  to_port                      = each.value.port
  ip_protocol                  = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "lb_to_service" {
  for_each                     = local.lb_ingress
  security_group_id            = each.value.source
  description                  = "to ${each.key} (traffic and health checks)"
  referenced_security_group_id = aws_security_group.service[each.value.service].id
  from_port                    = each.value.port
  to_port                      = each.value.port
  ip_protocol                  = "tcp"
}

# --- the tasks ------------------------------------------------------------------------

# Attached to the ECS services in ecs.tf (network_configuration).
resource "aws_security_group" "service" {
  for_each    = toset(local.services)
  name        = "${var.name}-${each.key}"
  description = "Rallypoint: ${each.key} tasks"
  vpc_id      = var.vpc_id
  #checkov:skip=CKV2_AWS_5:attached to aws_ecs_service.service[each.key] (network_configuration in ecs.tf); checkov does not follow the for_each key
}

resource "aws_vpc_security_group_ingress_rule" "service_ops" {
  for_each          = local.ops_ingress
  security_group_id = aws_security_group.service[each.value.service].id
  description       = "operators to the ops port"
  cidr_ipv4         = each.value.cidr
  from_port         = each.value.port
  to_port           = each.value.port
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "service_to_redis" {
  for_each                     = toset(local.services)
  security_group_id            = aws_security_group.service[each.key].id
  description                  = "${each.key} to Redis"
  referenced_security_group_id = aws_security_group.redis.id
  from_port                    = 6379
  to_port                      = 6379
  ip_protocol                  = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "service_to_aws_apis" {
  for_each          = local.api_egress
  security_group_id = aws_security_group.service[each.value.service].id
  description       = "AWS APIs: ECR, S3, Secrets Manager, SSM, CloudWatch, X-Ray"
  cidr_ipv4         = each.value.cidr
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "cache_warmer_to_database" {
  for_each          = local.database_egress
  security_group_id = aws_security_group.service["cache-warmer"].id
  description       = "cache-warmer to PostgreSQL"
  cidr_ipv4         = each.value
  from_port         = var.database_port
  to_port           = var.database_port
  ip_protocol       = "tcp"
}

# --- Redis ----------------------------------------------------------------------------

# No egress rule: Redis answers on the connections it accepted and calls nothing.
resource "aws_security_group" "redis" {
  name        = "${var.name}-redis"
  description = "Rallypoint: ElastiCache Redis Cluster"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "redis" {
  for_each                     = toset(local.services)
  security_group_id            = aws_security_group.redis.id
  description                  = "${each.key} to Redis"
  referenced_security_group_id = aws_security_group.service[each.key].id
  from_port                    = 6379
  to_port                      = 6379
  ip_protocol                  = "tcp"
}
