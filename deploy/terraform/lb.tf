# Load balancers.
#
# Gateway: an internet-facing Network Load Balancer, not an ALB, so that a gateway's
# drain happens while its clients are still connected to it.
#
#   When ECS stops a task behind a load balancer (deploy, scale-in), it first deregisters
#   the task, waits the target group's deregistration delay, and only then sends SIGTERM.
#   An ALB closes every connection still open when that delay ends, so with an ALB the
#   gateway's drain (tell each client to reconnect, spread over 2 s; close the rest with
#   4002) would start after its sockets were already cut (1006 for every client). An NLB
#   target group with connection_termination = false stops sending *new* connections to
#   a deregistered target but keeps forwarding the established ones, past the end of the
#   delay, until either side closes them: SIGTERM then reaches a gateway whose clients are
#   all still there, and the drain moves them in order.
#
#   The deregistration delay is longer than the drain deadline as well, so the drain also
#   fits inside the delay if a task gets SIGTERM at the start of it (a stop outside the
#   service scheduler's usual order): either way no connection is cut before the gateway
#   has drained it. Verified on paper only (AWS documentation): deploy/OPERATIONS.md 4.1.
#
#   TLS ends at the NLB (listener 443, certificate_arn); the NLB sends each connection to
#   the gateway's client port as plain TCP, beginning with a PROXY protocol v2 header
#   that carries the client's address (the gateway's per-address connect limits use it).
#   The gateways believe that header only from the NLB's subnets
#   (RALLYPOINT_GATEWAY__TRUSTED_PROXIES, filled in by main.tf). The NLB's TLS idle
#   timeout is a fixed 350 s, far above the 10 s client heartbeat.
#
#   Health checks: HTTP on the ops port's /health/ready. It stays 200 ("degraded")
#   through a Redis outage shorter than ops.redis_outage_grace_ms (90 s in the task
#   definitions), so a failover takes no gateway out of rotation; and a target that does
#   turn unhealthy keeps its established connections (enable_unhealthy_connection_
#   termination = false): the NLB only stops giving it new ones.
#
# Server pool: internal ALB with HTTPS (the game servers send bearer tokens) for the
# game-server API (register, heartbeat, the 30 s assignments long poll, results),
# reachable from game_server_cidrs on 443. Its deregistration delay covers a whole long
# poll plus the drain deadline, so no request in flight is cut when a pool task stops.
#
# Server API: a second internal ALB with HTTPS, in front of the gateways' server API port
# ("api", gateway.api_listen), for the studio's own backend (publish, send, broadcast,
# kick, mute, presence; PROTOCOL.md section 4), reachable from api_cidrs on 443. Its
# own load balancer and security group, never the public NLB: the API token is a strong
# credential and the port must not be reachable from the internet. Any gateway answers
# any call, so plain round robin is right; calls are short, so the deregistration delay
# is the gateway's drain deadline.

locals {
  # Seconds a stopping task stays "draining" in its target group. deploy/check.sh (g)
  # checks these numbers against the task definitions, and the preconditions below
  # check them again at plan time:
  #   gateway      > shutdown.drain_deadline_ms (10 s): the drain fits inside the delay
  #   server-pool >= pool.long_poll_max_ms (30 s) + shutdown.drain_deadline_ms (10 s)
  deregistration_delay_s = {
    gateway       = 20
    "server-pool" = 40
    "gateway-api" = 10
  }

  # Target group name prefixes: at most 6 characters (AWS adds a unique suffix, which
  # also lets a changed target group be created before the old one is destroyed).
  tg_prefix = substr(var.name, 0, 4)
}

resource "aws_lb" "gateway" {
  name                             = "${var.name}-gateway"
  internal                         = false
  load_balancer_type               = "network"
  security_groups                  = [aws_security_group.gateway_lb.id]
  subnets                          = var.public_subnet_ids
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.deletion_protection

  dynamic "access_logs" {
    for_each = var.lb_access_logs_bucket == null ? [] : [var.lb_access_logs_bucket]
    content {
      bucket  = access_logs.value
      prefix  = "${var.name}/gateway"
      enabled = true
    }
  }
  #checkov:skip=CKV2_AWS_20:a network load balancer cannot redirect; its only listener is TLS 443 (plain port 80 exists only with var.gateway_http_forward, for test clients)
}

resource "aws_lb_target_group" "gateway" {
  name_prefix          = "${local.tg_prefix}gw"
  port                 = local.ports["gateway"]["client"]
  protocol             = "TCP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = local.deregistration_delay_s["gateway"]
  # Established connections outlive the deregistration delay: the gateway closes them
  # itself, in order, when it drains (see the top of this file).
  connection_termination = false
  # The client's address reaches the gateway in a PROXY protocol v2 header
  # (RALLYPOINT_GATEWAY__PROXY_PROTOCOL=true); the TCP peer is the NLB.
  proxy_protocol_v2  = true
  preserve_client_ip = false

  # A gateway that fails its health checks keeps its sockets; it only gets no new ones.
  target_health_state {
    enable_unhealthy_connection_termination = false
  }

  health_check {
    protocol            = "HTTP"
    path                = "/health/ready"
    port                = tostring(local.ports["gateway"]["ops"])
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  lifecycle {
    create_before_destroy = true
    precondition {
      condition     = local.deregistration_delay_s["gateway"] > local.drain_deadline_s["gateway"]
      error_message = "The gateway's deregistration delay (lb.tf) must exceed RALLYPOINT_SHUTDOWN__DRAIN_DEADLINE_MS in deploy/ecs/task-definitions/gateway.json."
    }
    precondition {
      # The NLB's TLS idle timeout (350 s, fixed) must be far above the client heartbeat.
      condition     = tonumber(lookup(local.task_env["gateway"], "RALLYPOINT_GATEWAY__HEARTBEAT_MS", "10000")) * 2 < 350000
      error_message = "RALLYPOINT_GATEWAY__HEARTBEAT_MS in the gateway's task definition must stay well under the NLB's 350 s idle timeout."
    }
  }
}

resource "aws_lb_listener" "gateway_tls" {
  load_balancer_arn = aws_lb.gateway.arn
  port              = 443
  protocol          = "TLS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn
  # WebSocket upgrades are HTTP/1.1.
  alpn_policy = "HTTP1Only"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.gateway.arn
  }
}

# Plain ws:// on port 80, only when gateway_http_forward is set (an NLB cannot redirect
# to 443: without it port 80 is simply closed).
resource "aws_lb_listener" "gateway_plain" {
  count             = var.gateway_http_forward ? 1 : 0
  load_balancer_arn = aws_lb.gateway.arn
  port              = 80
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.gateway.arn
  }
}

resource "aws_lb" "pool" {
  name                       = "${var.name}-pool"
  internal                   = true
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.pool_lb.id]
  subnets                    = var.private_subnet_ids
  idle_timeout               = var.pool_alb_idle_timeout_seconds
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection

  dynamic "access_logs" {
    for_each = var.lb_access_logs_bucket == null ? [] : [var.lb_access_logs_bucket]
    content {
      bucket  = access_logs.value
      prefix  = "${var.name}/pool"
      enabled = true
    }
  }

  lifecycle {
    precondition {
      condition     = var.pool_alb_idle_timeout_seconds > local.pool_long_poll_s
      error_message = "pool_alb_idle_timeout_seconds must exceed the assignments long poll (RALLYPOINT_POOL__LONG_POLL_MAX_MS, 30 s by default)."
    }
  }
}

resource "aws_lb_target_group" "pool" {
  name_prefix          = "${local.tg_prefix}pl"
  port                 = local.ports["server-pool"]["client"]
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = local.deregistration_delay_s["server-pool"]

  health_check {
    path                = "/health/ready"
    port                = tostring(local.ports["server-pool"]["ops"])
    protocol            = "HTTP"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  lifecycle {
    create_before_destroy = true
    precondition {
      condition     = local.deregistration_delay_s["server-pool"] >= local.pool_long_poll_s + local.drain_deadline_s["server-pool"]
      error_message = "The pool's deregistration delay (lb.tf) must cover RALLYPOINT_POOL__LONG_POLL_MAX_MS plus RALLYPOINT_SHUTDOWN__DRAIN_DEADLINE_MS of deploy/ecs/task-definitions/server-pool.json."
    }
  }
}

# HTTPS only. There is deliberately no port 80 with a redirect: a misconfigured game
# server would send its bearer token in clear before being redirected.
resource "aws_lb_listener" "pool" {
  load_balancer_arn = aws_lb.pool.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = coalesce(var.pool_certificate_arn, var.certificate_arn)

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.pool.arn
  }
}

resource "aws_lb" "api" {
  name                       = "${var.name}-api"
  internal                   = true
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.api_lb.id]
  subnets                    = var.private_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection

  dynamic "access_logs" {
    for_each = var.lb_access_logs_bucket == null ? [] : [var.lb_access_logs_bucket]
    content {
      bucket  = access_logs.value
      prefix  = "${var.name}/api"
      enabled = true
    }
  }
}

resource "aws_lb_target_group" "api" {
  name_prefix          = "${local.tg_prefix}ap"
  port                 = local.ports["gateway"]["api"]
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = local.deregistration_delay_s["gateway-api"]

  health_check {
    path                = "/health/ready"
    port                = tostring(local.ports["gateway"]["ops"])
    protocol            = "HTTP"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  lifecycle {
    create_before_destroy = true
    precondition {
      condition     = local.deregistration_delay_s["gateway-api"] >= local.drain_deadline_s["gateway"]
      error_message = "The server API's deregistration delay (lb.tf) must cover RALLYPOINT_SHUTDOWN__DRAIN_DEADLINE_MS of deploy/ecs/task-definitions/gateway.json."
    }
  }
}

# HTTPS only, like the pool's: the backend sends the API token on every call.
resource "aws_lb_listener" "api" {
  load_balancer_arn = aws_lb.api.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = coalesce(var.api_certificate_arn, var.pool_certificate_arn, var.certificate_arn)

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }
}
