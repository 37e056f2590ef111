"""osbundle: reproducible OS-deployment bundles from declarative profiles."""

__version__ = "0.1.0"
