"""The version of gardenlinux-ocm: one place, read by the build (pyproject.toml) and by `gl-ocm --version`."""

__version__ = "0.1.0"
