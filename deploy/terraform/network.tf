# Security groups. Traffic allowed in:
#   public ALB   <- client_cidrs on 443 (and 80: redirect, or forward if gateway_http_forward)
#   gateway      <- public ALB on its client port and ops port (health checks)
#   internal ALB <- game_server_cidrs (default: the VPC) on 80
#   server-pool  <- internal ALB on its client port and ops port
#   every task   <- ops_cidrs on its ops port (optional)
#   Redis        <- every service on 6379
# Everything may go out (ECR, Secrets Manager, SSM, CloudWatch, Redis, PostgreSQL).

resource "aws_security_group" "gateway_alb" {
  name        = "${var.name}-gateway-alb"
  description = "Rallypoint: public load balancer of the gateways"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "gateway_alb" {
  for_each          = { for pair in setproduct(var.client_cidrs, [80, 443]) : "${pair[0]}:${pair[1]}" => pair }
  security_group_id = aws_security_group.gateway_alb.id
  description       = "game clients"
  cidr_ipv4         = each.value[0]
  from_port         = each.value[1]
  to_port           = each.value[1]
  ip_protocol       = "tcp"
}

resource "aws_security_group" "pool_alb" {
  name        = "${var.name}-pool-alb"
  description = "Rallypoint: internal load balancer of the server pools (game-server API)"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "pool_alb" {
  for_each          = toset(var.game_server_cidrs != null ? var.game_server_cidrs : [data.aws_vpc.this.cidr_block])
  security_group_id = aws_security_group.pool_alb.id
  description       = "game servers"
  cidr_ipv4         = each.value
  from_port         = 80
  to_port           = 80
  ip_protocol       = "tcp"
}

resource "aws_security_group" "service" {
  for_each    = toset(local.services)
  name        = "${var.name}-${each.key}"
  description = "Rallypoint: ${each.key} tasks"
  vpc_id      = var.vpc_id
}

locals {
  # Which load balancer's security group reaches which service's ports.
  lb_sources = {
    gateway       = aws_security_group.gateway_alb.id
    "server-pool" = aws_security_group.pool_alb.id
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
}

resource "aws_vpc_security_group_ingress_rule" "service_from_lb" {
  for_each                     = local.lb_ingress
  security_group_id            = aws_security_group.service[each.value.service].id
  description                  = "load balancer to ${each.key}"
  referenced_security_group_id = each.value.source
  from_port                    = each.value.port
  to_port                      = each.value.port
  ip_protocol                  = "tcp"
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

# Outbound: everything, from the load balancers and the tasks (Redis does not call out).
resource "aws_vpc_security_group_egress_rule" "all" {
  for_each = merge(
    { for s in local.services : s => aws_security_group.service[s].id },
    { "gateway-alb" = aws_security_group.gateway_alb.id, "pool-alb" = aws_security_group.pool_alb.id },
  )
  security_group_id = each.value
  description       = "all outbound"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}
