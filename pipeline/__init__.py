"""Shared code of the sales pipeline: settings and the local stack launcher."""
