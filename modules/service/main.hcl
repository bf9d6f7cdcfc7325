# A service: a target group and a server group behind it.
# Inputs: name, image, network, port; optional instance_type and instances.

variable "name" {
  description = "Short name of the service; prefixes its resources"
}

variable "image" {
  description = "An image lookup, e.g. image.app"
}

variable "network" {
  description = "A network lookup, e.g. network.main"
}

variable "port" {
  type    = number
  default = 8080
}

variable "instance_type" {
  default = "t3.micro"
}

variable "instances" {
  type    = number
  default = 2
}

target_group "main" {
  vpc_id               = var.network.vpc_id
  port                 = var.port
  deregistration_delay = "15s"
  health_check {
    path              = "/healthz"
    interval          = "10s"
    healthy_threshold = 2
  }
}

server_group "main" {
  image           = var.image
  instance_type   = var.instance_type
  capacity        = { min = 1, desired = var.instances, max = var.instances * 2 }
  subnets         = var.network.subnet_ids
  security_groups = var.network.security_group_ids
  target_groups   = [target_group.main]
  tags            = { service = var.name }
}

output "server_group" {
  value = server_group.main
}

output "target_group" {
  description = "The service's target group, for a load balancer listener to forward to"
  value       = target_group.main
}

output "target_group_name" {
  value = target_group.main.name
}
