"""Merchants, their API keys and webhook secrets."""

from kasir.merchants.keys import MODES, Mode
from kasir.merchants.service import NewMerchant, Principal, authenticate, create_merchant

__all__ = ["MODES", "Mode", "NewMerchant", "Principal", "authenticate", "create_merchant"]
