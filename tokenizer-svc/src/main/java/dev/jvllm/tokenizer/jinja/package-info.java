/**
 * A compact Jinja2 engine for chat templates: lexer (whitespace control, trim_blocks, lstrip_blocks),
 * recursive-descent parser (Jinja2's precedence) and a tree-walking renderer with Python value semantics.
 * It covers what Hugging Face chat templates use — if/for (loop.*, else, filters, break/continue), set
 * (namespace attributes, block set), macro/call, filters and tests, Python str/list/dict methods, slicing,
 * HF's tojson — and is checked against real Jinja2 output in the tests. Not supported: template
 * inheritance/includes, recursive loops, autoescaping.
 */
package dev.jvllm.tokenizer.jinja;
