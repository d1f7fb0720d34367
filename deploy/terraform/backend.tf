# Remote state: S3, encrypted, locked. The state holds every generated secret (Redis
# AUTH token, JWT secret, pool tokens, admin token) and the database URL, so it must
# never sit on a laptop or in git: keep it in a versioned, encrypted, access-controlled
# bucket. The settings are left to `terraform init -backend-config=backend.hcl` (see
# backend.hcl.example; backend.hcl itself is git-ignored), so one configuration serves
# several deployments, each with its own state key.
#
# Locking: use_lockfile = true (S3's conditional writes, Terraform >= 1.10) keeps two
# applies from running at once; older setups used a DynamoDB table (dynamodb_table).
terraform {
  backend "s3" {}
}
