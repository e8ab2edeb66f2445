locals {
  prefix_arn       = "${aws_s3_bucket.this.arn}/${var.prefix}*"
  training_job_arn = "arn:${local.partition}:sagemaker:${var.region}:${local.account_id}:training-job/*"
}

# --- The execution role SageMaker training jobs run as -------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }

    # Confused-deputy protection: only training jobs of this account and region may assume the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.training_job_arn]
    }
  }
}

resource "aws_iam_role" "training" {
  name                 = "${var.name}-sagemaker-training"
  description          = "anytune: SageMaker training jobs; reads and writes ${local.bucket_name}/${var.prefix} only"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "training" {
  statement {
    sid       = "ListOwnPrefix"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.prefix, "${var.prefix}*"]
    }
  }

  statement {
    sid = "ReadWriteOwnPrefix"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = [local.prefix_arn]
  }

  statement {
    sid       = "UseKeyForBucketAndOutput"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"] # Encrypt: OutputDataConfig.KmsKeyId
    resources = [aws_kms_key.this.arn]
  }

  statement {
    sid       = "WriteTrainingLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [local.log_group_arn, "${local.log_group_arn}:log-stream:*"]
  }

  statement {
    sid       = "CreateTrainingLogGroupIfMissing"
    actions   = ["logs:CreateLogGroup"]
    resources = [local.log_group_arn]
  }

  statement {
    sid       = "PublishTrainingMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource type; the namespace condition scopes it

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/TrainingJobs"]
    }
  }

  statement {
    sid       = "PullTrainingImages"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = var.training_image_repositories
  }

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource type; pulls stay limited by PullTrainingImages
  }
}

resource "aws_iam_role_policy" "training" {
  name   = "anytune-training"
  role   = aws_iam_role.training.id
  policy = data.aws_iam_policy_document.training.json
}

# --- A policy for the people or CI identities that run `anytune` ---------------------------------
# Not attached to anyone: attach it to your user, group or CI role (see README).

data "aws_iam_policy_document" "launcher" {
  statement {
    sid = "ManageTrainingJobs"
    actions = [
      "sagemaker:CreateTrainingJob",
      "sagemaker:DescribeTrainingJob",
      "sagemaker:StopTrainingJob",
      "sagemaker:AddTags",
    ]
    resources = [local.training_job_arn]
  }

  statement {
    sid       = "ListTrainingJobs"
    actions   = ["sagemaker:ListTrainingJobs"]
    resources = ["*"] # List actions have no resource type
  }

  statement {
    sid       = "CheckTheTrainingRole"
    actions   = ["iam:GetRole"]
    resources = [aws_iam_role.training.arn]
  }

  statement {
    sid       = "CheckTrainingQuotas"
    actions   = ["servicequotas:ListServiceQuotas"]
    resources = ["*"] # List actions have no resource type
  }

  statement {
    sid       = "PassOnlyTheTrainingRoleToSageMaker"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.training.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }

  statement {
    sid       = "ListOwnPrefix"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.prefix, "${var.prefix}*"]
    }
  }

  # HeadBucket (anytune's readiness check) is authorized as s3:ListBucket without a prefix.
  statement {
    sid       = "CheckBucketExists"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this.arn]

    condition {
      test     = "Null"
      variable = "s3:prefix"
      values   = ["true"]
    }
  }

  statement {
    sid = "ReadWriteOwnPrefix"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = [local.prefix_arn]
  }

  statement {
    sid       = "UseKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.this.arn]
  }

  statement {
    sid       = "ReadTrainingLogs"
    actions   = ["logs:GetLogEvents", "logs:FilterLogEvents", "logs:DescribeLogStreams"]
    resources = [local.log_group_arn, "${local.log_group_arn}:log-stream:*"]
  }
}

resource "aws_iam_policy" "launcher" {
  name        = "${var.name}-launcher"
  description = "anytune: launch and follow SageMaker training jobs that use ${aws_iam_role.training.name}"
  policy      = data.aws_iam_policy_document.launcher.json
}
