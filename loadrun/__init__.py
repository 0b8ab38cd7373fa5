"""loadrun: load, run, measure and auto-fit deep-learning inference on real devices."""

__version__ = "0.1.0"
