# Two roles per service (the task definitions' executionRoleArn and taskRoleArn), so that
# no service holds another's permissions:
#   <name>-<service>-execution  what ECS itself does to start the task: pull the image,
#                               write the containers' logs, read *this service's* secrets
#                               and sidecar config (only the cache-warmer can read
#                               database-url, only the gateway the JWT secret, ...)
#   <name>-<service>-task       what the containers may do: only the metrics sidecar calls
#                               AWS (CloudWatch Logs for embedded metrics, X-Ray). The
#                               services themselves need no AWS API at all.

# Only ECS tasks of this account may assume the roles (no confused deputy).
data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.this.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  for_each           = toset(local.services)
  name               = "${var.name}-${each.key}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# ECR pull and awslogs writes (AWS's managed policy; it grants no secrets).
resource "aws_iam_role_policy_attachment" "execution" {
  for_each   = toset(local.services)
  role       = aws_iam_role.execution[each.key].name
  policy_arn = "arn:${data.aws_partition.this.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution" {
  for_each = toset(local.services)
  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [for env in local.secret_names_of[each.key] : aws_secretsmanager_secret.app[env].arn]
  }
  statement {
    sid       = "ReadOwnSidecarConfig"
    actions   = ["ssm:GetParameters"]
    resources = [aws_ssm_parameter.otel_collector[each.key].arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  for_each = toset(local.services)
  name     = "own-secrets-and-config"
  role     = aws_iam_role.execution[each.key].id
  policy   = data.aws_iam_policy_document.execution[each.key].json
}

resource "aws_iam_role" "task" {
  for_each           = toset(local.services)
  name               = "${var.name}-${each.key}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "task" {
  for_each = toset(local.services)
  statement {
    # The sidecar writes embedded-metric records to its own stream (the service's name)
    # in the metrics log group (it would create the group if it were missing).
    sid = "EmbeddedMetrics"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
      "logs:PutRetentionPolicy",
    ]
    resources = [aws_cloudwatch_log_group.metrics.arn, "${aws_cloudwatch_log_group.metrics.arn}:*"]
  }
  statement {
    # The awsemf exporter looks its log group up before writing.
    sid       = "FindLogGroups"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["arn:${data.aws_partition.this.partition}:logs:${var.region}:${data.aws_caller_identity.this.account_id}:log-group:*"]
  }
  statement {
    # The sidecar forwards the service's OTLP traces to X-Ray. These two actions have no
    # resource-level permissions: "*" is the only resource IAM accepts for them.
    sid = "Traces"
    actions = [
      "xray:PutTraceSegments",
      "xray:PutTelemetryRecords",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "task" {
  for_each = toset(local.services)
  name     = "metrics-sidecar"
  role     = aws_iam_role.task[each.key].id
  policy   = data.aws_iam_policy_document.task[each.key].json
}
