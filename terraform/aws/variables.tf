variable "region" {
  description = "AWS region for the bucket, key, log group and training jobs (anytune setting sagemaker.region)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like an AWS region name, e.g. us-east-1 or eu-central-1."
  }
}

variable "name" {
  description = "Short name used for the bucket (<name>-<account>-<region>), the role, the key alias and the launcher policy."
  type        = string
  default     = "anytune"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "prefix" {
  description = "Key prefix inside the bucket that anytune may use (datasets, checkpoints, models). Every permission is scoped to it."
  type        = string
  default     = "anytune/"

  validation {
    condition     = can(regex("^([a-z0-9][a-z0-9._-]*/)+$", var.prefix))
    error_message = "prefix must be one or more lowercase path segments, each ending in '/', e.g. anytune/ or team-a/anytune/."
  }
}

variable "dataset_retention_days" {
  description = "Days after which uploaded datasets (objects under <prefix>datasets/) expire. anytune re-uploads a dataset when it is needed again."
  type        = number
  default     = 90

  validation {
    condition     = var.dataset_retention_days >= 1 && var.dataset_retention_days <= 3650 && floor(var.dataset_retention_days) == var.dataset_retention_days
    error_message = "dataset_retention_days must be a whole number of days between 1 and 3650."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Days a replaced or deleted object version is kept (the bucket is versioned) before it is removed."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1 && var.noncurrent_version_retention_days <= 3650 && floor(var.noncurrent_version_retention_days) == var.noncurrent_version_retention_days
    error_message = "noncurrent_version_retention_days must be a whole number of days between 1 and 3650."
  }
}

variable "log_retention_days" {
  description = "Retention of the SageMaker training log group, in days (one of the values CloudWatch Logs accepts, at least 365)."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value of at least one year: 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "create_log_group" {
  description = "Create the /aws/sagemaker/TrainingJobs log group (KMS-encrypted, with retention). Set to false if it already exists in this account and region."
  type        = bool
  default     = true
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the KMS key is deleted after terraform destroy, in days."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30 && floor(var.kms_deletion_window_days) == var.kms_deletion_window_days
    error_message = "kms_deletion_window_days must be a whole number between 7 and 30."
  }
}

variable "training_image_repositories" {
  description = "ECR repository ARNs the training role may pull images from. Defaults to the AWS Deep Learning Containers used by anytune (account 763104351884 serves most regions)."
  type        = list(string)
  default = [
    "arn:aws:ecr:*:763104351884:repository/huggingface-pytorch-training",
    "arn:aws:ecr:*:763104351884:repository/pytorch-training",
  ]

  validation {
    condition     = length(var.training_image_repositories) > 0 && alltrue([for arn in var.training_image_repositories : can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-*]+:[0-9]{12}:repository/.+$", arn))])
    error_message = "training_image_repositories must be a non-empty list of ECR repository ARNs (arn:aws:ecr:<region>:<account>:repository/<name>)."
  }
}

variable "access_log_bucket" {
  description = "Existing bucket that receives S3 server access logs for the anytune bucket (under s3-access/<bucket>/). null = no access logs."
  type        = string
  default     = null

  validation {
    condition     = var.access_log_bucket == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.access_log_bucket))
    error_message = "access_log_bucket must be an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens) or null."
  }
}

variable "force_destroy" {
  description = "Let terraform destroy delete the bucket even when it still holds objects. Keep false unless you mean to lose the data."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
