# The metrics sidecar of every Rallypoint ECS task (container "metrics" in
# deploy/ecs/task-definitions/*.json): the AWS Distro for OpenTelemetry collector scrapes
# the service's Prometheus /metrics on localhost (the task's shared network namespace)
# and publishes the autoscaling and alarm signals to CloudWatch (namespace Rallypoint)
# as embedded-metric-format logs; it also receives the service's OTLP traces and sends
# them to X-Ray.
#
# A Terraform template (deploy/terraform/otel.tf renders one per service into the SSM
# parameter /rallypoint/otel-collector/<service>, which the sidecar reads as
# AOT_CONFIG_CONTENT). Variables: service, ops_port, cluster, region, cw_namespace,
# log_group. deploy/check.sh renders it for each service and parses the result.
#
# CloudWatch metrics published (dimensions Cluster, Service[, queue][, region]):
#   per task, labels summed (or maxed) away; what autoscaling tracks (Average over tasks):
#     rallypoint_gateway_connections                     connections this task holds
#     rallypoint_matchmaker_queued_by_task               tickets in the queue-regions it holds
#     rallypoint_matchmaker_oldest_wait_seconds_by_task  the oldest of them (max)
#     rallypoint_pool_pending_by_task                    matches waiting for a server, regions it holds
#     rallypoint_pool_free_capacity_by_task              free game slots, regions it holds
#     rallypoint_results_outbox_depth_by_task            results not yet in PostgreSQL, regions it holds
#     rallypoint_redis_up                                1 while Redis answers (alarm)
#   per region (alarms): rallypoint_pool_free_capacity, rallypoint_pool_pending,
#     rallypoint_results_outbox_depth, rallypoint_results_dead_letters (cluster-wide, the
#     same on every cache-warmer); per queue and region: rallypoint_matchmaker_queued,
#     rallypoint_matchmaker_oldest_wait_seconds.
# Only the instance holding a unit (queue-region, region) sets its gauges, so a region's
# value is read with Maximum across tasks.

receivers:
  # The service's spans (OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 in the task
  # definition), forwarded to X-Ray: one trace per player journey across the services.
  otlp:
    protocols:
      http:
        endpoint: localhost:4318
  prometheus:
    config:
      scrape_configs:
        - job_name: rallypoint-${service}
          scrape_interval: 15s
          scrape_timeout: 5s
          metrics_path: /metrics
          static_configs:
            - targets: ["localhost:${ops_port}"]
              labels:
                Cluster: ${cluster}
                Service: ${service}

processors:
  # Per-task sums of the per-unit gauges: one value per task, so that the Average over
  # the service's tasks is the load per task that target tracking wants.
  metricstransform:
    transforms:
      - include: rallypoint_matchmaker_queued
        action: insert
        new_name: rallypoint_matchmaker_queued_by_task
        operations:
          - action: aggregate_labels
            label_set: [Cluster, Service]
            aggregation_type: sum
      - include: rallypoint_matchmaker_oldest_wait_seconds
        action: insert
        new_name: rallypoint_matchmaker_oldest_wait_seconds_by_task
        operations:
          - action: aggregate_labels
            label_set: [Cluster, Service]
            aggregation_type: max
      - include: rallypoint_pool_pending
        action: insert
        new_name: rallypoint_pool_pending_by_task
        operations:
          - action: aggregate_labels
            label_set: [Cluster, Service]
            aggregation_type: sum
      - include: rallypoint_pool_free_capacity
        action: insert
        new_name: rallypoint_pool_free_capacity_by_task
        operations:
          - action: aggregate_labels
            label_set: [Cluster, Service]
            aggregation_type: sum
      - include: rallypoint_results_outbox_depth
        action: insert
        new_name: rallypoint_results_outbox_depth_by_task
        operations:
          - action: aggregate_labels
            label_set: [Cluster, Service]
            aggregation_type: sum
  batch:
    timeout: 30s

exporters:
  awsxray:
    region: ${region}
  awsemf:
    region: ${region}
    namespace: ${cw_namespace}
    log_group_name: ${log_group}
    log_stream_name: ${service}
    dimension_rollup_option: NoDimensionRollup
    # Only what is declared here becomes a CloudWatch metric (the rest is not paid for).
    metric_declarations:
      - dimensions: [[Cluster, Service]]
        metric_name_selectors:
          - "^rallypoint_gateway_connections$"
          - "^rallypoint_redis_up$"
          - "^rallypoint_.*_by_task$"
      - dimensions: [[Cluster, Service, region]]
        metric_name_selectors:
          - "^rallypoint_pool_free_capacity$"
          - "^rallypoint_pool_pending$"
          - "^rallypoint_results_outbox_depth$"
          - "^rallypoint_results_dead_letters$"
      - dimensions: [[Cluster, Service, queue, region]]
        metric_name_selectors:
          - "^rallypoint_matchmaker_queued$"
          - "^rallypoint_matchmaker_oldest_wait_seconds$"

service:
  pipelines:
    metrics:
      receivers: [prometheus]
      processors: [metricstransform, batch]
      exporters: [awsemf]
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [awsxray]
