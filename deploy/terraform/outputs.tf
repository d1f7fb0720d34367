output "gateway_url" {
  description = "Where game clients connect, with the NLB's own name (point your domain at gateway_lb_dns_name and use wss://<your domain>/ws: the certificate's name must match)."
  value       = "wss://${aws_lb.gateway.dns_name}/ws"
}

output "gateway_lb_dns_name" {
  description = "DNS name of the gateway NLB (an alias record target)."
  value       = aws_lb.gateway.dns_name
}

output "gateway_lb_zone_id" {
  description = "Hosted zone id of the gateway NLB (for a Route 53 alias record)."
  value       = aws_lb.gateway.zone_id
}

output "pool_lb_dns_name" {
  description = "DNS name of the pool's internal ALB: point the name your pool certificate covers at it (a private hosted zone record)."
  value       = aws_lb.pool.dns_name
}

output "pool_internal_url" {
  description = "The server pool's API for dedicated game servers (inside the VPC, HTTPS), with the ALB's own name: the game servers use https://<the certificate's name> instead. They register with the pool-token secret (then use the per-server token the registration answers) and check players' join tokens with the pool-join-secret secret (secret_arns)."
  value       = "https://${aws_lb.pool.dns_name}"
}

output "api_lb_dns_name" {
  description = "DNS name of the server API's internal ALB: point the name your API certificate covers at it (a private hosted zone record)."
  value       = aws_lb.api.dns_name
}

output "api_internal_url" {
  description = "The gateways' server API for the studio's backends (inside the VPC, HTTPS), with the ALB's own name: use https://<the certificate's name> instead. Every call carries Authorization: Bearer <the gateway-api-token secret> (secret_arns)."
  value       = "https://${aws_lb.api.dns_name}"
}

output "alarm_topic_arn" {
  description = "The SNS topic every alarm (and ElastiCache's events) notifies: subscribe your pager or chat to it."
  value       = aws_sns_topic.alarms.arn
}

output "task_role_arns" {
  description = "Per service: the task role (what its containers may call) and the execution role (what ECS does to start it, including reading its secrets)."
  value       = { for s in local.services : s => { task = aws_iam_role.task[s].arn, execution = aws_iam_role.execution[s].arn } }
}

output "log_groups" {
  description = "The CloudWatch log group of each service (its JSON logs and its sidecar's)."
  value       = local.log_group
}

output "redis_configuration_endpoint" {
  description = "ElastiCache configuration endpoint, as the services' RALLYPOINT_REDIS__URLS."
  value       = local.redis_url
}

output "ecs_cluster_name" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.main.name
}

output "task_definition_arns" {
  description = "Task definition ARN (with revision) per service."
  value       = { for s, td in aws_ecs_task_definition.service : s => td.arn }
}

output "secret_arns" {
  description = "Secrets Manager ARNs by the environment variable they become."
  value       = { for env, secret in aws_secretsmanager_secret.app : env => secret.arn }
}

output "cache_warmer_security_group_id" {
  description = "Security group of the cache-warmer tasks: allow it on PostgreSQL's port in the RDS security group."
  value       = aws_security_group.service["cache-warmer"].id
}

output "service_security_group_ids" {
  description = "Security group of each service's tasks."
  value       = { for s, sg in aws_security_group.service : s => sg.id }
}
