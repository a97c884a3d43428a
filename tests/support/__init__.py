"""What the tests share that is not a fixture: paths, seed documents, file generators, the CLI, servers.

Test modules, conftest files and bench/ scripts import these; nothing imports from a conftest.py
or from another test module (tests/README.md, "Shared helpers").
"""
