"""The example shop: accounts, orders, order lines and the audit trail triggers write."""
