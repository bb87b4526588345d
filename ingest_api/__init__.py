"""The ingest API: validates orders against the contract and produces them to Kafka."""
