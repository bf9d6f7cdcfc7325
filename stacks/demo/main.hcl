# A small web service behind a load balancer, rolled out from baked images.
# Works against the local emulator seeded by localstack/seed.sh:
#   reroll apply stacks/demo -var app_version=1.0.0 --auto-approve

stack "demo" {
  region = var.region
  tags   = { team = "demo", managed-by = "reroll" }
}

variable "region" {
  default = "us-east-1"
}

variable "app_version" {
  description = "Version of the baked image (demo-app-<version>), set by CI after the bake"
  default     = "1.0.0"
}

variable "web_instances" {
  type    = number
  default = 3
}

locals {
  image_name = "demo-app-${var.app_version}"
}

image "app" {
  owners      = ["self"]
  name        = local.image_name
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
  protocol             = "HTTP"
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

  # AWS health-checks only target groups a listener forwards to.
  listener "api" {
    port    = 9090
    forward = module.api.target_group
  }
}

server_group "web" {
  image           = image.app
  instance_type   = "t3.micro"
  capacity        = { min = 2, desired = var.web_instances, max = 6 }
  subnets         = network.main.subnet_ids
  security_groups = network.main.security_group_ids
  user_data       = templatefile("cloud-init/web.yaml", { version = var.app_version })
  target_groups   = [target_group.web]
  depends_on      = [module.api.server_group]

  rollout {
    strategy        = "rolling"
    max_surge       = "25%"
    max_unavailable = 0
    health {
      grace   = "30s"
      timeout = "10m"
    }
    on_failure    = "rollback"
    keep_previous = 1
  }
}

module "api" {
  source  = "../../modules/service"
  name    = "api"
  image   = image.app
  network = network.main
  port    = 9090
}

output "url" {
  value = "http://${load_balancer.public.dns_name}/"
}

output "api_target_group" {
  value = module.api.target_group_name
}
