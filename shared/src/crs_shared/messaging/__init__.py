"""Events between services: envelope, contracts, topology, publisher, consumer, outbox and inbox."""
