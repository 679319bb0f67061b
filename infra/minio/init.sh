#!/bin/sh
# One-shot MinIO setup (compose service minio-init): buckets, then least-privilege users.
#   etl-app      read/write on landing-zone and data-lake only (the code locations' runs)
#   dagster-logs read/write on dagster-logs/compute-logs/ only (run logs, every Dagster process)
# Idempotent: re-running it changes nothing. The root credentials reach mc through MC_HOST_*
# (environment, not argv). `mc admin user add` takes the new users' secrets as arguments; this
# container has its own process namespace, so they are visible to nothing outside it.
set -eu

mc ready platform
mc mb --ignore-existing platform/landing-zone platform/data-lake platform/dagster-logs

mc admin policy create platform etl-app /policies/etl-app-policy.json
mc admin policy create platform dagster-logs /policies/dagster-logs-policy.json

mc admin user add platform "$MINIO_APP_USER" "$MINIO_APP_PASSWORD"
mc admin user add platform "$MINIO_LOGS_USER" "$MINIO_LOGS_PASSWORD"

attach() {  # policy user: attach, or confirm it is attached already (a re-run)
  mc admin policy attach platform "$1" --user "$2" >/dev/null 2>&1 \
    || mc admin user info platform "$2" | grep -q "$1"
}
attach etl-app "$MINIO_APP_USER"
attach dagster-logs "$MINIO_LOGS_USER"
echo "minio-init: buckets and application users ready"
