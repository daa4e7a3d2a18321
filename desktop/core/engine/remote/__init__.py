"""The remote engine: a model on an OpenAI-compatible server (openai)."""
