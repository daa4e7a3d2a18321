"""The engine: one worker process per loaded model, driven through `EngineClient`."""
