"""What can be run: the catalog, installed files (library), GGUF metadata, the starter pair,
checksums and a server's models."""
