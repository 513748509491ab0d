"""What buyers see: the hosted pay page, its live status, downloads and product photos."""
