data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id     = data.aws_caller_identity.current.account_id
  partition      = data.aws_partition.current.partition
  bucket_name    = "${var.name}-${local.account_id}-${var.region}"
  log_group_name = "/aws/sagemaker/TrainingJobs"
  log_group_arn  = "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${local.log_group_name}"
}

# One customer-managed key encrypts the bucket (datasets, code, checkpoints, job output) and the
# training log group. GPU instances' local NVMe volumes are hardware-encrypted (SageMaker refuses a
# VolumeKmsKeyId for them).
resource "aws_kms_key" "this" {
  description             = "anytune: datasets, checkpoints, models and training logs (${var.name})"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

# Key policy: the account administers the key through IAM (so the role and launcher policies below
# can grant use of it), and CloudWatch Logs may use it for the training log group only.
data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109:Key policy, not an identity policy: "*" is this key, and kms:* for the account root is AWS's default key policy that keeps the key manageable through IAM.
  # checkov:skip=CKV_AWS_111:Key policy, not an identity policy: "*" is this key; write access is granted to the account root only, and to CloudWatch Logs only for the training log group (encryption-context condition).
  # checkov:skip=CKV_AWS_356:Key policy, not an identity policy: a key policy's Resource "*" can only mean the key it is attached to.
  statement {
    sid       = "AccountAdministersKeyThroughIAM"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy "*" means this key

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsForTrainingLogGroup"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"] # in a key policy "*" means this key

    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = [local.log_group_arn]
    }
  }
}
