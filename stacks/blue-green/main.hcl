# A blue/green release: the new generation comes up at full size behind its own copy of the
# target group, then the listener moves traffic to it in weighted steps. The old generation
# stays at capacity for `keep_blue`, the instant-rollback window, and is then retired.
# Works against the local emulator seeded by localstack/seed.sh:
#   reroll apply stacks/blue-green --auto-approve
#   reroll apply stacks/blue-green -var app_version=1.1.0 --auto-approve

stack "bluegreen" {
  region = var.region
  tags   = { team = "demo", managed-by = "reroll" }

  # Stack-level hooks run for every server group's rollout.
  hook "before_traffic_shift" {
    command = ["sh", "-c", "echo moving $REROLL_TRAFFIC_PERCENT% of $REROLL_GROUP to $REROLL_NEW_GENERATION"]
    timeout = "30s"
  }
}

variable "region" {
  default = "us-east-1"
}

variable "app_version" {
  default = "1.0.0"
}

variable "instances" {
  type    = number
  default = 4
}

variable "step_bake" {
  default = "5s"
}

variable "keep_blue" {
  default = "10s"
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
    strategy      = "blue_green"
    traffic_steps = [10, 50, 100]
    step_bake     = var.step_bake
    keep_blue     = var.keep_blue
    health {
      timeout = "10m"
    }
    on_failure    = "rollback"
    keep_previous = 1
  }
}
