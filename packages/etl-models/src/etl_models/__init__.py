"""Pydantic contracts: manifest protocol, identity, routing, ledger records, settings. No I/O."""
