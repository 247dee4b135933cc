"""The clinical domain: pure functions and frozen values, no database, no HTTP, no printing."""
