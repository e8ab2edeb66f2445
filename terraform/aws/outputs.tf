# Output names are anytune settings: `anytune profile import NAME` maps them to provider options
# (see the table in src/anytune/profiles.py).

output "bucket" {
  description = "S3 bucket for datasets, checkpoints and trained models (sagemaker.bucket)."
  value       = aws_s3_bucket.this.id
}

output "prefix" {
  description = "Key prefix anytune writes under; the role's permissions are scoped to it (sagemaker.prefix)."
  value       = var.prefix
}

output "role_arn" {
  description = "Execution role SageMaker training jobs run as (sagemaker.role_arn)."
  value       = aws_iam_role.training.arn
}

output "kms_key_arn" {
  description = "KMS key for the bucket and the job output (sagemaker.kms_key_arn)."
  value       = aws_kms_key.this.arn
}

output "region" {
  description = "Region of the bucket and the training jobs (sagemaker.region)."
  value       = var.region
}

output "launcher_policy_arn" {
  description = "IAM policy to attach to whoever runs anytune (not an anytune setting; ignored by profile import)."
  value       = aws_iam_policy.launcher.arn
}
