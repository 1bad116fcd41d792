"""Shared by every suite: pytest puts the directory of a conftest that is not in a package on
``sys.path``, so the tests import the helpers kept here (``ports``) by name."""
