"""Helpers the test suites share: servers on free ports, AWS resources, sample images."""
