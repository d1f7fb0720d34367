# Security groups, each allowing only what its resource needs, in and out:
#
#   in                                              out
#   gateway NLB   <- client_cidrs on 443 (and 80     -> gateway tasks: client and ops
#                    with gateway_http_forward)          ports (traffic, health checks)
#   pool ALB      <- game_server_cidrs (default:     -> pool tasks: client and ops ports
#                    the VPC) on 443
#   API ALB       <- api_cidrs (default: the VPC)    -> gateway tasks: api and ops ports
#                    on 443
#   gateway       <- NLB: client and ops ports;      -> Redis 6379; AWS APIs 443
#                    API ALB: api and ops ports
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

  # Which load balancer's security group reaches which of a service's named ports (the
  # task definitions' port mappings): the public NLB never reaches the server API.
  lb_sources = {
    gateway       = { sg = aws_security_group.gateway_lb.id, service = "gateway", kinds = ["client", "ops"] }
    "server-pool" = { sg = aws_security_group.pool_lb.id, service = "server-pool", kinds = ["client", "ops"] }
    "gateway-api" = { sg = aws_security_group.api_lb.id, service = "gateway", kinds = ["api", "ops"] }
  }

  gateway_lb_ports = var.gateway_http_forward ? [443, 80] : [443]

  # The variables given, or the whole VPC where they are null.
  game_server_cidrs = var.game_server_cidrs != null ? var.game_server_cidrs : local.vpc_cidrs
  api_cidrs         = var.api_cidrs != null ? var.api_cidrs : local.vpc_cidrs
  database_cidrs    = var.database_cidrs != null ? var.database_cidrs : local.vpc_cidrs
}

# --- the security groups --------------------------------------------------------------

resource "aws_security_group" "gateway_lb" {
  name        = "${var.name}-gateway-lb"
  description = "Rallypoint: public network load balancer of the gateways"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "pool_lb" {
  name        = "${var.name}-pool-lb"
  description = "Rallypoint: internal load balancer of the server pools (game-server API)"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "api_lb" {
  name        = "${var.name}-api-lb"
  description = "Rallypoint: internal load balancer of the gateways' server API (studio backends)"
  vpc_id      = var.vpc_id
}

# Attached to the ECS services in ecs.tf (network_configuration).
resource "aws_security_group" "service" {
  for_each    = toset(local.services)
  name        = "${var.name}-${each.key}"
  description = "Rallypoint: ${each.key} tasks"
  vpc_id      = var.vpc_id
  #checkov:skip=CKV2_AWS_5:attached to aws_ecs_service.service[each.key] (network_configuration in ecs.tf); checkov does not follow the for_each key
}

# No egress rule: Redis answers on the connections it accepted and calls nothing.
resource "aws_security_group" "redis" {
  name        = "${var.name}-redis"
  description = "Rallypoint: ElastiCache Redis Cluster"
  vpc_id      = var.vpc_id
}

# --- the rules ------------------------------------------------------------------------
#
# Every rule lets TCP through to one port, from or to a CIDR or another of the security
# groups above. A connection between two of these security groups takes a rule on each
# end, an egress rule on the source and an ingress rule on the destination: both come from
# one entry of local.sg_to_sg.

locals {
  # key => { from, to: the security groups; port; the two rules' descriptions }
  sg_to_sg = merge(
    # The load balancers to their tasks' ports (traffic, health checks).
    merge([
      for lb, src in local.lb_sources : {
        for kind in src.kinds : "lb:${lb}:${kind}" => {
          from                = src.sg
          to                  = aws_security_group.service[src.service].id
          port                = local.ports[src.service][kind]
          ingress_description = "${lb} load balancer to ${src.service}:${kind}"
          egress_description  = "to ${src.service}:${kind} (traffic and health checks)"
        }
      }
    ]...),
    # Every service to Redis.
    { for s in local.services : "redis:${s}" => {
      from                = aws_security_group.service[s].id
      to                  = aws_security_group.redis.id
      port                = 6379
      ingress_description = "${s} to Redis"
      egress_description  = "${s} to Redis"
    } },
  )

  # key => { sg: the security group the rule is on; the other end: cidr, or peer (a
  # security group); port; description }
  ingress_rules = merge(
    { for k, c in local.sg_to_sg : k => { sg = c.to, peer = c.from, port = c.port, description = c.ingress_description } },
    # Game clients to the gateway NLB on 443 (and 80 with gateway_http_forward).
    { for pair in setproduct(var.client_cidrs, local.gateway_lb_ports) : "clients:${pair[0]}:${pair[1]}" => {
      sg          = aws_security_group.gateway_lb.id
      cidr        = pair[0]
      port        = pair[1]
      description = "game clients"
    } },
    # Game servers to the pool ALB (HTTPS).
    { for cidr in toset(local.game_server_cidrs) : "game-servers:${cidr}" => {
      sg          = aws_security_group.pool_lb.id
      cidr        = cidr
      port        = 443
      description = "game servers (HTTPS)"
    } },
    # The studio's backends to the server API's ALB (HTTPS).
    { for cidr in toset(local.api_cidrs) : "api-callers:${cidr}" => {
      sg          = aws_security_group.api_lb.id
      cidr        = cidr
      port        = 443
      description = "studio backends to the server API (HTTPS)"
    } },
    # Operators to every task's ops port (only with ops_cidrs).
    merge([
      for s in local.services : { for cidr in var.ops_cidrs : "ops:${s}:${cidr}" => {
        sg          = aws_security_group.service[s].id
        cidr        = cidr
        port        = local.ports[s]["ops"]
        description = "operators to the ops port"
      } }
    ]...),
  )
  egress_rules = merge(
    { for k, c in local.sg_to_sg : k => { sg = c.from, peer = c.to, port = c.port, description = c.egress_description } },
    # Every task to AWS APIs.
    merge([
      for s in local.services : { for cidr in var.aws_api_cidrs : "aws-apis:${s}:${cidr}" => {
        sg          = aws_security_group.service[s].id
        cidr        = cidr
        port        = 443
        description = "AWS APIs: ECR, S3, Secrets Manager, SSM, CloudWatch, X-Ray"
      } }
    ]...),
    # The cache-warmer to PostgreSQL.
    { for cidr in local.database_cidrs : "database:${cidr}" => {
      sg          = aws_security_group.service["cache-warmer"].id
      cidr        = cidr
      port        = var.database_port
      description = "cache-warmer to PostgreSQL"
    } },
  )
}

resource "aws_vpc_security_group_ingress_rule" "rule" {
  for_each                     = local.ingress_rules
  security_group_id            = each.value.sg
  description                  = each.value.description
  cidr_ipv4                    = lookup(each.value, "cidr", null)
  referenced_security_group_id = lookup(each.value, "peer", null)
  from_port                    = each.value.port
  to_port                      = each.value.port
  ip_protocol                  = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "rule" {
  for_each                     = local.egress_rules
  security_group_id            = each.value.sg
  description                  = each.value.description
  cidr_ipv4                    = lookup(each.value, "cidr", null)
  referenced_security_group_id = lookup(each.value, "peer", null)
  from_port                    = each.value.port
  to_port                      = each.value.port
  ip_protocol                  = "tcp"
}
