# Regenerates templates_golden.json from the *.jinja files here with real Jinja2 configured as transformers does.
# Usage: python3 make_templates_golden.py > templates_golden.json
import json, sys, glob, os
from datetime import datetime
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.exceptions import TemplateError

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
def raise_exception(message):
    raise TemplateError(message)
def strftime_now(fmt):
    return datetime(2026, 11, 22, 12, 0, 0).strftime(fmt)

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now

tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
convs = {
  "chat": dict(messages=[{"role": "system", "content": " Be terse. "}, {"role": "user", "content": "Hi 😀"},
                {"role": "assistant", "content": "<think>\nhm\n</think>\n\nHello! "}, {"role": "user", "content": "Bye café"}],
               add_generation_prompt=True),
  "nosystem": dict(messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}], add_generation_prompt=False),
  "tools": dict(messages=[{"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "abc123xyz", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
                {"role": "tool", "tool_call_id": "abc123xyz", "content": "{\"temp\": 18}"}], tools=tools, add_generation_prompt=True),
  "parts": dict(messages=[{"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image"}, {"type": "text", "text": "here"}]}], add_generation_prompt=True),
  "reasoning": dict(messages=[{"role": "user", "content": "Q1"},
                {"role": "assistant", "content": "A1", "reasoning_content": "thought one\n"},
                {"role": "user", "content": "Q2"},
                {"role": "assistant", "content": "<think>\nthought two\n</think>\n\nA2"},
                {"role": "user", "content": "<tool_response>r</tool_response>"},
                {"role": "assistant", "content": "\n\nA3 with <think>\nlate\n</think>\n\ntail"}],
               add_generation_prompt=False, enable_thinking=False),
  "multitool": dict(messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": "go"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "call00001", "type": "function", "function": {"name": "a", "arguments": "{\"x\": 1}"}},
                    {"id": "call00002", "type": "function", "function": {"name": "b", "arguments": {"y": [1, 2]}}}]},
                {"role": "tool", "tool_call_id": "call00001", "content": "one"},
                {"role": "tool", "tool_call_id": "call00002", "content": "two"},
                {"role": "assistant", "content": "done"}], tools=tools, add_generation_prompt=True),
  "badorder": dict(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], add_generation_prompt=True),
}
out = []
for path in sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "*.jinja"))):
    src = open(path).read()
    name = os.path.basename(path)[:-6]
    for cname, conv in convs.items():
        v = dict(conv, bos_token="<s>", eos_token="</s>")
        try:
            r = {"rendered": env.from_string(src).render(**v)}
        except Exception as e:
            r = {"error": type(e).__name__ + ": " + str(e)}
        out.append(dict(template=name, conversation=cname, vars=v, **r))
json.dump({"templates": {os.path.basename(p)[:-6]: open(p).read() for p in sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "*.jinja")))}, "cases": out}, sys.stdout, ensure_ascii=False, indent=1)
