"""Test support shipped with anytune: the provider contract suite, a fake provider, fixtures.

Third-party provider authors subclass :class:`anytune.testing.contract.ProviderContract` in their own tests.
"""
