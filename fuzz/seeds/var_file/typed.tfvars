name = "web"
count = 3
enabled = false
zones = ["a", "b"]
tags = { team = "x", "with space" = "y" }
shape = { size = 2, name = "b" }
password = "hunter2"
anything = [1, "two", { three = 3 }]
