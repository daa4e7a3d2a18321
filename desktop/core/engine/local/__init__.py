"""The local engine: llama.cpp in a worker process (worker), the app's handle on it (client),
the requests between them (protocol) and stop-string matching (stopper)."""
