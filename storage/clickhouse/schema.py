"""Column order of the tables the writer fills (must match the migrations)."""

SPAN_COLUMNS = [
    "project_id", "start_time", "end_time", "duration_ns", "trace_id", "span_id", "parent_span_id",
    "name", "kind", "status_code", "status_message", "error_type", "service_name", "scope_name",
    "scope_version", "dialect", "span_type", "operation", "provider", "request_model",
    "response_model", "model", "counts_usage",
    "sent_input_tokens", "sent_output_tokens", "sent_cache_read_tokens", "sent_cache_write_tokens",
    "sent_reasoning_tokens", "sent_total_tokens",
    "uncached_input_tokens", "cache_read_tokens", "cache_write_tokens", "output_text_tokens",
    "reasoning_tokens", "ttft_ns", "temperature", "max_tokens", "top_p", "seed", "stream",
    "finish_reasons", "response_id", "session_id", "user_id", "tool_name", "agent_name",
    "input_messages", "output_messages", "system_instructions", "tool_definitions", "documents",
    "provider_cost", "cost_input", "cost_cache_read", "cost_cache_write", "cost_output",
    "cost_reasoning", "cost_total", "price_status", "price_source", "price_version",
    "resource_attributes", "span_attributes", "events", "links", "retention_days",
    "ingested_at", "version",
]  # fmt: skip

COST_COLUMNS = ["cost_input", "cost_cache_read", "cost_cache_write", "cost_output", "cost_reasoning", "cost_total",
                "price_status", "price_source", "price_version"]
