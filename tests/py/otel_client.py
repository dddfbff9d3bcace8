"""A client instrumented with the OpenTelemetry Python SDK: starts a span, propagates it
with the SDK's default (W3C trace-context and baggage) propagator, calls the URL given as
the first argument, and prints one JSON object describing the call."""

import json
import sys
import urllib.request

from opentelemetry import baggage, context, propagate, trace
from opentelemetry.sdk.trace import TracerProvider

trace.set_tracer_provider(TracerProvider())
tracer = trace.get_tracer("obs-e2e-client")

with tracer.start_as_current_span("client-call", kind=trace.SpanKind.CLIENT) as span:
    token = context.attach(baggage.set_baggage("tenant", "acme"))
    headers = {}
    propagate.inject(headers)
    context.detach(token)
    request = urllib.request.Request(sys.argv[1], headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        status = response.status
        request_id = response.headers.get("x-request-id")
        body = response.read().decode()
    ctx = span.get_span_context()
    print(json.dumps({
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
        "status": status,
        "request_id": request_id,
        "traceparent": headers.get("traceparent"),
        "baggage": headers.get("baggage"),
        "body": body,
    }))
