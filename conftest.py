"""Root conftest: every member's tests share one service harness (real servers on loopback)
and one set of resource fixtures bound to it."""

pytest_plugins = ["etl_devstack.pytest_plugin", "etl_devstack.resource_fixtures"]
