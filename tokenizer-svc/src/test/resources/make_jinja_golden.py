# Regenerates jinja_golden.json: each template rendered by real Jinja2 configured as transformers does
# (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, HF tojson/raise_exception).
# Usage: python3 make_jinja_golden.py > jinja_golden.json
import json
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.exceptions import TemplateError

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

def raise_exception(message):
    raise TemplateError(message)

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

VARS = {
    "messages": [
        {"role": "system", "content": "  Be nice.\n"},
        {"role": "user", "content": "Hi 😀 <tool_response>x</tool_response>"},
        {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello!", "tool_calls": [
            {"type": "function", "function": {"name": "f", "arguments": {"a": 1, "b": [1.5, None, True], "c": "é\"\n"}}}]},
        {"role": "user", "content": "Bye"},
    ],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"x": 1e-07, "y": 1e20, "z": 0.1}}}],
    "schema": {"type": "array", "items": {"type": "string"}, "update": 1}, "n": 7, "s": "  Hello, World  ", "empty": [], "d": {"b": 2, "a": 1}, "none": None,
}

TEMPLATES = [
    "{% for m in messages %}{{ m.role }}:{{ m['content'] | trim }}|{% endfor %}",
    "{%- for m in messages -%}\n  {{- m.role -}}\n{%- endfor -%}",
    "{% for m in messages %}\n  {% if m.role == 'user' %}\n    U{{ loop.index }}\n  {% else %}\n    O{{ loop.index0 }}\n  {% endif %}\n{% endfor %}\nend\n",
    "{% set ns = namespace(found=false, idx=-1) %}{% for m in messages[::-1] %}{% if not ns.found and m.role == 'user' %}{% set ns.found = true %}{% set ns.idx = messages|length - 1 - loop.index0 %}{% endif %}{% endfor %}{{ ns.idx }} {{ ns.found }}",
    "{{ messages[1:3] | map(attribute='role') | join(',') }} {{ messages[-1].content }} {{ 'abcdef'[1:5:2] }} {{ 'abc'[::-1] }} {{ [1,2,3,4][-2:] }}",
    "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ s.split(',') }}|{{ s.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ s.upper() }}|{{ s.lower() }}|{{ 'xxhixx'.strip('x') }}",
    "{{ messages[2].content.split('</think>')[-1].lstrip('\\n') }}|{{ messages[2].content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}",
    "{{ messages[1].content.startswith('Hi') }} {{ messages[1].content.endswith(('</tool_response>', 'zz')) }} {{ '</think>' in messages[2].content }} {{ 'q' not in 'abc' }}",
    "{% for t in tools %}{{ t | tojson }}\n{{ t | tojson(indent=2) }}{% endfor %}",
    "{{ messages[2].tool_calls[0].function.arguments | tojson }} {{ messages[2].tool_calls[0].function.arguments }}",
    "{% for i in range(10) %}{% if i is odd %}{% continue %}{% endif %}{% if i > 6 %}{% break %}{% endif %}{{ i }}{% endfor %}",
    "{% for x in empty %}{{ x }}{% else %}nothing{% endfor %} {% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {{ d | dictsort }}",
    "{{ none is none }} {{ undefined_thing is defined }} {{ n is number }} {{ s is string }} {{ d is mapping }} {{ empty is iterable }} {{ n is divisibleby 7 }} {{ 3 is even }}",
    "{{ undefined_thing | default('dflt') }} {{ '' | default('x', true) }} {{ none }} {{ n ~ '!' ~ none }} {{ n // 2 }} {{ n / 2 }} {{ n % 4 }} {{ 2 ** 10 }} {{ -n }}",
    "{{ 'yes' if n > 5 else 'no' }} {{ [1, 'a', none, true, 2.5] }} {{ {'k': 'v', 'n': [1]} }} {{ (1, 2) | list }}",
    "{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('Bob') }} {{ greet('Al', punct='?') }}",
    "{% set x = 1 %}{% for i in [1,2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}",
    "{%- if true %}\n    a\n{%- endif %}\n  {% if true %}\n  b\n  {% endif %}\n{# comment #}\nc {#- c2 -#}   d\n",
    "{{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ messages | rejectattr('role', 'equalto', 'user') | map(attribute='role') | list }} {{ [3,1,2] | sort }} {{ [1,2,2,3] | unique | list }} {{ ['a','b'] | first }}{{ ['a','b'] | last }}",
    "{{ 'hello world' | title }} {{ 'hello' | capitalize }} {{ 'a-b-c' | replace('-', '+') }} {{ '%s and %d' % ('x', 3) }} {{ 'x={}'.format(5) }} {{ 'abc' | upper }} {{ '  x ' | trim }}|",
    "{% set content %}inner {{ n }}{% endset %}[{{ content }}] {{ 'ab' * 3 }} {{ [1] + [2] }} {{ 1 < 2 < 3 }} {{ 1 == 1.0 }} {{ 'b' > 'a' }}",
    "{{ messages[0]['role'] }} {{ messages[0].get('missing', 'fallback') }} {{ d.keys() | list }} {{ d.values() | list }} {{ messages[0].missing is defined }}",
    "{% for m in messages %}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{% if not loop.last %},{% endif %}{% endfor %}",
    "{{ 1e-07 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 100.0 }} {{ 1.5e16 }} {{ 3 / 4 }} {{ 12345678.9 }}",
    "{{ raise_exception('Conversation roles must alternate') }}",
    "{{ undefined_thing.attr }}",
    "{{ 'a' + 1 }}",
    "  {%- for i in [1,2] %}\n    {{ i }}\n  {%- endfor %}\n",
    "{% for m in messages %}{% if m.role == 'system' %}{% set sys = m.content %}{% endif %}{% endfor %}[{{ sys }}]",
    "{{ messages | length }} {{ 'héllo😀' | length }} {{ 'héllo😀'[-1] }} {{ s | wordcount }} {{ [1,2,3] | sum }} {{ [4,2,8] | max }} {{ 'abc' | reverse }} {{ 'a\\tb' }}",
    "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}{%- endif %}{{ system_message | trim }}|{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}[{{ message['role'] }}]{% endfor %}",
    "{% for m in messages %}{% if m.content is string %}S{% endif %}{% if m.tool_calls is defined and m.tool_calls is not none %}T{% endif %}{% if m.missing is not defined %}U{% endif %}{% endfor %}",
    "{% for tc in messages[2].tool_calls %}{% for k, v in tc.function.arguments | items %}{{ k }}={{ v | tojson }};{% endfor %}{% endfor %}",
    "{{ tools | tojson(indent=4) }}",
    "{% for a in [1, 2] %}{% for b in ['x', 'y'] %}{{ a }}{{ b }}{{ loop.index }}{% endfor %}{{ loop.index }}{% endfor %}",
    "{% for m in messages %}{{ loop.previtem.role if loop.previtem is defined else '-' }}>{{ loop.nextitem.role if loop.nextitem is defined else '-' }} {% endfor %}",
    "a\n  {%+ if true %}x{% endif %}\n  {% if true +%}\ny{% endif %}\n",
    "{{ 'x' ~ 1.0 ~ true ~ [1] }} {{ 'line1\\nline2' }} {{ \"dq'\" }} {{ 'it\\'s' }} {{ [1, 2] | join }}",
    "{% set a, b = [1, 2] %}{{ b }}{{ a }} {% set t = (1,) %}{{ t }} {{ (1, 2) }} {{ d.items() | list }}",
    "{% if messages|length > 3 and messages[-1].role == 'user' or false %}ok{% endif %} {{ not none }} {{ none or 'dflt' }} {{ 0 and 1 }}",
    "{%- macro render(m) -%}\n<{{ m.role }}>{{ caller() if caller is defined else '' }}\n{%- endmacro -%}\n{% for m in messages[:2] %}{{ render(m) }}{% endfor %}",
    "{{ messages[99] is defined }} {{ messages[1]['nope'] | default('none!') }} {{ (messages | last).role }} {{ messages[0].content[2:6] }}",
    "{% for m in messages if m.role != 'system' %}{{ loop.index }}{{ m.role[0] }}{% endfor %}",
    "{{ strftime_now('%d %b %Y') if strftime_now is defined else 'nodate' }}",
    "{{ schema.items is callable }} {{ schema['items'] }} {{ schema.type }} {{ schema.update is defined }} {{ schema.get('type') }} {{ schema.copy() | length }}",
    "{{ messages[1] | tojson(ensure_ascii=True) }} {{ d | tojson(sort_keys=true) }} {{ d | tojson(separators=[',', ':']) }} {{ {'k': [1, {'z': none}]} | tojson(indent=2, sort_keys=true) }}",
    "{{ 'a\\nb\\r\\nc\\n'.splitlines() }} {{ 'a.b.c'.rsplit('.', 1) }} {{ 'héllo'.find('l') }} {{ 'banana'.count('an') }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'hello wORLD'.title() }} {{ '  '.isspace() }} {{ '12'.isdigit() }}",
]

cases = []
for t in TEMPLATES:
    try:
        out = {"template": t, "rendered": env.from_string(t).render(**VARS)}
    except Exception as e:
        out = {"template": t, "error": type(e).__name__}
    cases.append(out)
print(json.dumps({"vars": VARS, "cases": cases}, ensure_ascii=False, indent=1))
