"""Digital goods (seed 004): files given after payment, hidden contents revealed after payment,
product photos shown on the pay page, and the download links that deliver the files."""
