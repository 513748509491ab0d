"""Payment sources: the merchant's phone and bank-mutation services reporting credits (docs/sources.md)."""
