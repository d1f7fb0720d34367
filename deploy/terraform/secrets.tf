# Secrets Manager: every secret a task reads, by the environment variable it becomes
# (the `secrets` of the task definitions). The four tokens and, unless given, the join
# secret and the Redis AUTH token are generated here (they are then also in the Terraform
# state: keep the state encrypted and access-controlled). Rotating one: put a new value in
# the secret and redeploy the services (ECS reads secrets when a task starts); for the
# Redis AUTH token, change redis_auth_token (ElastiCache ROTATE keeps the old one valid
# meanwhile); for the join secret, set pool_join_secret once the game servers accept the
# new value (deploy/OPERATIONS.md section 5).

locals {
  secret_names = {
    RALLYPOINT_REDIS__PASSWORD     = "redis-auth-token"
    RALLYPOINT_GATEWAY__JWT_SECRET = "gateway-jwt-secret"
    RALLYPOINT_GATEWAY__API_TOKEN  = "gateway-api-token"
    RALLYPOINT_POOL__TOKEN         = "pool-token"
    RALLYPOINT_POOL__JOIN_SECRET   = "pool-join-secret"
    RALLYPOINT_OPS__ADMIN_TOKEN    = "ops-admin-token"
    RALLYPOINT_DATABASE__URL       = "database-url"
  }
  secret_values = {
    RALLYPOINT_REDIS__PASSWORD     = coalesce(var.redis_auth_token, random_password.generated["redis-auth-token"].result)
    RALLYPOINT_GATEWAY__JWT_SECRET = random_password.generated["gateway-jwt-secret"].result
    RALLYPOINT_GATEWAY__API_TOKEN  = random_password.generated["gateway-api-token"].result
    RALLYPOINT_POOL__TOKEN         = random_password.generated["pool-token"].result
    RALLYPOINT_POOL__JOIN_SECRET   = coalesce(var.pool_join_secret, random_password.generated["pool-join-secret"].result)
    RALLYPOINT_OPS__ADMIN_TOKEN    = random_password.generated["ops-admin-token"].result
    RALLYPOINT_DATABASE__URL       = var.database_url
  }
}

# Letters and digits only: valid as an ElastiCache AUTH token, and safe in headers. 48
# characters: over the join secret's minimum of 32.
resource "random_password" "generated" {
  for_each = toset(["redis-auth-token", "gateway-jwt-secret", "gateway-api-token", "pool-token", "pool-join-secret", "ops-admin-token"])
  length   = 48
  special  = false
}

# Named <name>/<secret>. The recovery window (var.secret_recovery_window_days, 7 by
# default) keeps a deleted secret restorable; 0 frees the name at once, for a short-lived
# test deployment that will be created again under the same name.
resource "aws_secretsmanager_secret" "app" {
  for_each                = local.secret_names
  name                    = "${var.name}/${each.value}"
  description             = "Rallypoint: ${each.key}"
  recovery_window_in_days = var.secret_recovery_window_days
  #checkov:skip=CKV_AWS_149:encrypted with Secrets Manager's AWS-managed key; each service's execution role reads only its own secrets (iam.tf), which is the access control that matters here
  #checkov:skip=CKV2_AWS_57:no rotation Lambda: every rotation must be staged with the services and the game-server fleet (old and new value accepted side by side), deploy/OPERATIONS.md section 5
}

resource "aws_secretsmanager_secret_version" "app" {
  for_each      = local.secret_names
  secret_id     = aws_secretsmanager_secret.app[each.key].id
  secret_string = local.secret_values[each.key]
}
