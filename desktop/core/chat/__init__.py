"""A chat and a raw document as data: prompts, conversation, the chat session, history and
its store, sampling, tokens and hints."""
