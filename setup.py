"""Package discovery, plus one mapping pyproject.toml cannot express next to automatic discovery.

The repository's ``config/`` (the default configuration, edited and tested where it is) goes
into the wheel as the data-only package ``bots._defaults`` (its folders as subpackages), so
``bots init`` can copy it on a machine without a checkout. Everything else is in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

DEFAULTS = ["bots._defaults", *(f"bots._defaults.{p}" for p in find_namespace_packages(where="config"))]

setup(
    packages=[*find_namespace_packages(include=["bots", "bots.*", "mock_portals", "mock_portals.*"]), *DEFAULTS],
    package_dir={"bots._defaults": "config"},
)
