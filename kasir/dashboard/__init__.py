"""The merchant dashboard (docs/dashboard.md): server-rendered pages over the same service
functions as the API, for the shop owner, the developer and the cashier."""
