"""Storage resources: object store (MinIO/S3) and ledger (MongoDB) with migrations."""
