"""Developer tools for the receiving side: ``kasir trigger`` and ``kasir listen``."""
