"""Payment links (docs/links.md): a link the merchant shares, and a payment of its own for every
buyer who opens it, made by the same service as the API's create-payment."""
