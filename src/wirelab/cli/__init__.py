"""The ``wirelab`` command line: thin wrappers over the library."""
