"""Test helpers shared by tests/unit and tests/server."""
