# Load balancers.
#
# Gateway: internet-facing ALB. WebSocket upgrades pass through ALB HTTP/HTTPS listeners
# as they are; clients connect to wss://<domain>/ws. A connection is held until either
# side closes it or it is idle for gateway_alb_idle_timeout_seconds (well above the 10 s
# client heartbeat, so a live client never hits it). Health checks go to the ops port's
# /health/ready, which turns 503 when the instance cannot reach Redis or is draining.
#
# Stopping a gateway task (deploy, scale-in): ECS deregisters it from the target group
# (no new connections), waits the deregistration delay, then sends SIGTERM; the gateway
# tells its clients to reconnect elsewhere (spread over gateway.reconnect_spread_ms),
# closes the rest with 4002 after gateway.drain_grace_ms and exits within
# shutdown.drain_deadline_ms, well before the task definition's stopTimeout. The
# deregistration delay is that same drain deadline, read from the task definition.
#
# Server pool: internal ALB for the game servers' HTTP API (register, heartbeat, long-poll
# for assignments, results), reachable from game_server_cidrs on port 80.

resource "aws_lb" "gateway" {
  name                       = "${var.name}-gateway"
  internal                   = false
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.gateway_alb.id]
  subnets                    = var.public_subnet_ids
  idle_timeout               = var.gateway_alb_idle_timeout_seconds
  drop_invalid_header_fields = true

  lifecycle {
    precondition {
      condition     = var.gateway_alb_idle_timeout_seconds * 1000 > 2 * tonumber(lookup(local.task_env["gateway"], "RALLYPOINT_GATEWAY__HEARTBEAT_MS", "10000"))
      error_message = "gateway_alb_idle_timeout_seconds must be well above the client heartbeat (RALLYPOINT_GATEWAY__HEARTBEAT_MS in the gateway's task definition)."
    }
  }
}

resource "aws_lb_target_group" "gateway" {
  name                 = "${var.name}-gateway"
  port                 = local.ports["gateway"]["client"]
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = local.drain_deadline_s["gateway"]

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
}

resource "aws_lb_listener" "gateway_https" {
  load_balancer_arn = aws_lb.gateway.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.gateway.arn
  }
}

# Port 80: a redirect to HTTPS, or (gateway_http_forward) plain ws:// to the gateways.
resource "aws_lb_listener" "gateway_http" {
  load_balancer_arn = aws_lb.gateway.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = var.gateway_http_forward ? "forward" : "redirect"
    target_group_arn = var.gateway_http_forward ? aws_lb_target_group.gateway.arn : null

    dynamic "redirect" {
      for_each = var.gateway_http_forward ? [] : [1]
      content {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
  }
}

resource "aws_lb" "pool" {
  name               = "${var.name}-pool"
  internal           = true
  load_balancer_type = "application"
  security_groups    = [aws_security_group.pool_alb.id]
  subnets            = var.private_subnet_ids
  # Above the longest assignments long poll (pool.long_poll_max_ms, 30 s by default).
  idle_timeout               = var.pool_alb_idle_timeout_seconds
  drop_invalid_header_fields = true
}

resource "aws_lb_target_group" "pool" {
  name                 = "${var.name}-pool"
  port                 = local.ports["server-pool"]["client"]
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = local.drain_deadline_s["server-pool"]

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
}

resource "aws_lb_listener" "pool" {
  load_balancer_arn = aws_lb.pool.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.pool.arn
  }
}
