"""Asset-key naming for this location: every key starts with ``asset_lanes`` then a domain.

Asset keys must be unique across the deployment (both code locations share one instance), so
each location owns a top-level prefix and each domain folder under ``defs/`` a second level.
"""

from __future__ import annotations

LOCATION_KEY_PREFIX = "asset_lanes"
"""First component of every asset key defined in this location."""


def domain_key_prefix(domain: str) -> list[str]:
    """Key prefix for assets of ``domain`` (the ``defs/<domain>/`` folder they live in).

    >>> domain_key_prefix("platform")
    ['asset_lanes', 'platform']
    """
    if not domain.isidentifier() or not domain.islower():
        raise ValueError(
            f"asset key domain must be a lower-case Python identifier, got {domain!r}; "
            "use the name of the defs/<domain>/ folder, e.g. 'spatial'"
        )
    return [LOCATION_KEY_PREFIX, domain]
