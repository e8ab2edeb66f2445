# Copy to terraform.tfvars (or pass with -var-file) and adjust.
region = "us-east-1"

# Everything below is optional; these are the defaults unless noted.
name                   = "anytune"
prefix                 = "anytune/"
dataset_retention_days = 90
log_retention_days     = 365

# The account may already have SageMaker's training log group; then let SageMaker keep using it.
create_log_group = true

# access_log_bucket = "my-org-s3-access-logs"   # not a default: turn on S3 server access logs

tags = {
  team = "ml"
}
