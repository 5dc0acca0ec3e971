"""Idle resource sweep: find what bills for nothing, price it, tag it, report it."""
