"""Duet's window: the only package that imports Qt. A thin layer over `desktop.core`."""
