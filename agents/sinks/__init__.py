"""Channel adapters (Shopify, Amazon, EDI 846, webhook) that push availability deltas."""
