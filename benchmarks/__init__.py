"""Latency and quality measurement, device profiles and reports.

Uses ``runtime``, never TensorFlow.
"""
