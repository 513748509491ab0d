"""The HTTP API: bayar.gg-compatible paths and Kasir's own /v1 resources."""
