"""The volume scheduler: filters and weighers over the pools' columns, in the compute scheduler's style."""
