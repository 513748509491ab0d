"""Events and their delivery to merchants."""
