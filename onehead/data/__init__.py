"""Data of the three tasks: download and validation (fetch, validate), datasets, transforms.

Kept empty on purpose: importing `onehead.data.fetch` must not load the dataset classes.
"""
