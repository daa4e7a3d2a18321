"""The window's views: chat, raw notebook, tokens, inspector, sampling, sidebar, charts,
model picker, first-run page and small widgets; each shows core state and emits what the user
does."""
