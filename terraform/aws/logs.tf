# SageMaker writes every training job's logs to this fixed log group. Created here so it is
# encrypted with the module's key and has a retention; skip it (create_log_group = false) when the
# account already has one, or terraform apply fails with ResourceAlreadyExistsException.
resource "aws_cloudwatch_log_group" "training" {
  count             = var.create_log_group ? 1 : 0
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}
