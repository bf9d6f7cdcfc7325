# Blue/green (all of green up, then traffic at once) with an alarm gate.
environment   = "prod"
instance_type = "c7g.large"
capacity      = { min = 12, desired = 12, max = 36 }
strategy      = "blue_green"
alarms        = ["shop-5xx"]
