# Disaster recovery: the same web service restored into another region. The image is baked in
# us-east-1 only; applied with `--region us-west-2`, reroll plans a copy of it (source AMI, name,
# snapshot sizes, estimated copy time), copies it first, then creates everything else from
# nothing, with the network looked up by tags in the target region.
# Works against the local emulator (see "Restore into another region" in the README):
#   reroll plan  stacks/dr --region us-west-2
#   reroll apply stacks/dr --region us-west-2 --auto-approve

stack "dr" {
  region = var.region
  tags   = { team = "demo", managed-by = "reroll" }
}

variable "region" {
  default = "us-east-1"
}

variable "app_version" {
  description = "Version of the baked image (demo-app-<version>)"
  default     = "1.0.0"
}

variable "web_instances" {
  type    = number
  default = 3
}

variable "copy_kms_key" {
  description = "KMS key in the target region, needed when the image's snapshots are encrypted"
  default     = null
}

image "app" {
  owners       = ["self"]
  name         = "demo-app-${var.app_version}"
  most_recent  = true
  copy_from    = "us-east-1"
  copy_kms_key = var.copy_kms_key
}

network "main" {
  vpc_tags             = { Name = "demo" }
  subnet_tags          = { tier = "private" }
  security_group_names = ["demo-web"]
}

target_group "web" {
  vpc_id               = network.main.vpc_id
  port                 = 8080
  deregistration_delay = "30s"

  health_check {
    path              = "/healthz"
    interval          = "10s"
    healthy_threshold = 2
  }
}

load_balancer "public" {
  subnets         = network.main.subnet_ids
  security_groups = network.main.security_group_ids

  listener "http" {
    port    = 80
    forward = target_group.web
  }
}

server_group "web" {
  image           = image.app
  instance_type   = "t3.micro"
  capacity        = { min = 1, desired = var.web_instances, max = min(var.web_instances * 2, 10000) }
  subnets         = network.main.subnet_ids
  security_groups = network.main.security_group_ids
  target_groups   = [target_group.web]

  rollout {
    max_surge       = "50%"
    max_unavailable = 0
    health {
      grace   = "30s"
      timeout = "10m"
    }
  }
}

output "url" {
  value = "http://${load_balancer.public.dns_name}/"
}
