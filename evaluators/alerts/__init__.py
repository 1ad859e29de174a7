"""Alert rules, budgets and the hooks that announce them."""
