"""QRIS (EMVCo merchant-presented QR) strings."""
