# One stack, three environments: the same shape everywhere, sizes and strategies from a var
# file per environment. Each environment lives in its own AWS account (or region): the stack's
# name is the same, and its lock and everything it owns are kept apart by account and region.
# The var files are in env/, outside the stack's directory (its .hcl files are the stack):
#   reroll plan  stacks/environments -var-file stacks/environments/env/dev.hcl
#   reroll apply stacks/environments -var-file stacks/environments/env/prod.hcl --profile prod

stack "shop" {
  region = var.region
  tags   = { team = "shop", environment = var.environment }
}

variable "environment" {
  description = "dev, staging or prod"
}

variable "region" {
  default = "us-east-1"
}

variable "app_version" {
  description = "Version of the baked image (demo-app-<version>), set by CI"
  default     = "1.0.0"
}

variable "instance_type" {
  default = "t3.micro"
}

variable "capacity" {
  type = object({ min = number, desired = number, max = number })
}

variable "strategy" {
  description = "rolling, canary or blue_green"
  default     = "rolling"
}

variable "max_surge" {
  default = "25%"
}

variable "alarms" {
  type    = list(string)
  default = []
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
  instance_type   = var.instance_type
  capacity        = var.capacity
  subnets         = network.main.subnet_ids
  security_groups = network.main.security_group_ids
  target_groups   = [target_group.web]
  tags            = { environment = var.environment }

  rollout {
    strategy        = var.strategy
    max_surge       = var.max_surge
    max_unavailable = 0
    # A setting of another strategy (`canary { … }`, `traffic_steps`) is an error, so the
    # strategies run with their defaults: a canary of one instance baked 10m; blue/green
    # switching at once and keeping blue 10m.
    health {
      grace   = "30s"
      timeout = "10m"
      alarms  = var.alarms
    }
  }
}

output "url" {
  value = "http://${load_balancer.public.dns_name}/"
}
