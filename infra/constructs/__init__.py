"""One construct per capability; each owns its functions, role, grants and alarms."""
