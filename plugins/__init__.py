"""stackvault's protection plugins, one module per resource type."""
