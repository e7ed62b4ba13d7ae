"""Evaluation harnesses: quality of the built hierarchy against planted or human truth."""
