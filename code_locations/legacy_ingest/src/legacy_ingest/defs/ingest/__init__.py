"""Legacy ingest lane: every intent the routing table gives to no other lane."""
