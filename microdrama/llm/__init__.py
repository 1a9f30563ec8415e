"""OpenAI-compatible chat clients for LLM writers and agents (DashScope, DeepSeek, Ark, OpenAI, vLLM, Ollama)."""
