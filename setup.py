"""Package discovery, plus one mapping pyproject.toml cannot express next to automatic discovery.

The repository's ``config/`` (the default configuration, edited and tested where it is) goes
into the wheel as the data-only package ``bots._defaults``, so ``bots init`` can copy it on a
machine without a checkout. Everything else about the project is in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["bots", "bots.*", "mock_portals", "mock_portals.*"]),
              "bots._defaults"],
    package_dir={"bots._defaults": "config"},
)
