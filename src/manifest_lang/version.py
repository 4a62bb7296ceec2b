"""The package version, in a module of its own: importing it never imports the package's exports."""

__version__ = "0.1.0"
