# Small and fast: everything at once, no gates.
environment = "dev"
capacity    = { min = 1, desired = 2, max = 4 }
max_surge   = "100%"
