# The metrics sidecar's collector config, one per service, rendered from
# deploy/ecs/otel-collector.yaml.tpl into the SSM parameter the task definitions name
# (/<name>/otel-collector/<service>, read by the sidecar as AOT_CONFIG_CONTENT; the task
# definitions' /rallypoint/... ARN is a placeholder that main.tf replaces).
# Comment lines are dropped so the parameter fits the standard tier (4 KB).

resource "aws_ssm_parameter" "otel_collector" {
  for_each = toset(local.services)
  name     = "/${var.name}/otel-collector/${each.key}"
  type     = "String"
  tier     = "Standard"
  value = join("\n", [
    for line in split("\n", templatefile("${path.module}/../ecs/otel-collector.yaml.tpl", {
      service      = each.key
      ops_port     = local.ports[each.key]["ops"]
      cluster      = var.name
      region       = var.region
      cw_namespace = var.cloudwatch_namespace
      log_group    = aws_cloudwatch_log_group.metrics.name
    })) : line if !startswith(trimspace(line), "#") && trimspace(line) != ""
  ])
  #checkov:skip=CKV2_AWS_34:the collector's configuration is not a secret (scrape target, metric names, log group); only the service's own execution role reads it
}
