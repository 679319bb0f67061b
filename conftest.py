"""Root conftest: every member's tests share one service harness (real servers on loopback)."""

pytest_plugins = ["etl_devstack.pytest_plugin"]
