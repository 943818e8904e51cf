"""`python -m gardenlinux_ocm` is `gl-ocm`."""

from .cli import main

main()
