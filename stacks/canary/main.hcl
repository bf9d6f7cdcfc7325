# A canary release: one new instance first, baked while its health checks and a CloudWatch
# alarm stay quiet, then a checkpoint at half the fleet, then the rest in rolling waves.
# Works against the local emulator seeded by localstack/seed.sh (which also creates the alarm):
#   reroll apply stacks/canary --auto-approve
#   reroll apply stacks/canary -var app_version=1.1.0 --auto-approve

stack "canary" {
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

variable "instances" {
  type    = number
  default = 6
}

variable "bake" {
  description = "How long the canary and each checkpoint must stay healthy"
  default     = "10s"
}

variable "alarm" {
  description = "A CloudWatch alarm that must stay out of ALARM while the rollout runs"
  default     = "demo-5xx"
}

image "app" {
  owners      = ["self"]
  name        = "demo-app-${var.app_version}"
  most_recent = true
}

network "main" {
  vpc_tags             = { Name = "demo" }
  subnet_tags          = { tier = "private" }
  security_group_names = ["demo-web"]
}

target_group "web" {
  vpc_id               = network.main.vpc_id
  port                 = 8080
  deregistration_delay = "5s"
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
  capacity        = { min = 2, desired = var.instances, max = var.instances * 2 }
  subnets         = network.main.subnet_ids
  security_groups = network.main.security_group_ids
  target_groups   = [target_group.web]

  rollout {
    strategy  = "canary"
    max_surge = "50%" # the rest rolls with these settings
    canary {
      instances = 1
      bake      = var.bake
      steps     = ["50%"]
    }
    health {
      grace   = "30s"
      timeout = "10m"
      alarms  = [var.alarm]
    }
    # Runs with REROLL_WAVE, REROLL_NEW_INSTANCE_IDS, REROLL_NEW_PRIVATE_IPS, … set.
    hook "after_wave" {
      command = ["sh", "-c", "echo wave $REROLL_WAVE healthy: $REROLL_NEW_INSTANCE_IDS"]
      timeout = "1m"
    }
    on_failure    = "rollback"
    keep_previous = 1
  }
}
