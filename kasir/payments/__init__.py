"""Payments: creation with unique codes, cancellation, expiry, listing, statistics."""
