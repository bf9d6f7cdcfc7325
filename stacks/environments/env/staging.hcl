# A canary (one instance first, baked) at a third of production's size.
environment   = "staging"
instance_type = "c7g.large"
capacity      = { min = 2, desired = 4, max = 8 }
strategy      = "canary"
