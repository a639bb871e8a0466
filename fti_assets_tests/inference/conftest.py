"""The served home, registered once for the folder: a session fixture imported into each test
module would be a fixture of that module, built again for each (about 20 s apiece)."""

from fti_assets_tests.inference.served import home, service  # noqa: F401  (fixtures, by name)
