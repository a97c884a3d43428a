import sys

if "pytest" in sys.modules:  # under pytest: a failed assert in tests/support/ reports its values, as a test's own does
    sys.modules["pytest"].register_assert_rewrite("tests.support")
