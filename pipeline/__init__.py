"""Shared code of the sales pipeline: the order contract, settings, store clients, the load generator, the launcher."""
