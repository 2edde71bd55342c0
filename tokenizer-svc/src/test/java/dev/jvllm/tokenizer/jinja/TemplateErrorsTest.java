package dev.jvllm.tokenizer.jinja;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Template errors surface as TemplateException with a message, at compile time when they are syntax. */
class TemplateErrorsTest {
    private static String render(String source, Map<String, ?> vars) {
        return Template.compile(source).render(vars);
    }

    @Test
    void syntaxErrorsFailAtCompile() {
        for (String bad : List.of("{% for m in messages %}", "{% if x %}{% endfor %}", "{{ x | no_such_filter }}",
                "{{ x is no_such_test }}", "{% unknowntag %}", "{{ 'unterminated }}", "{{ (1 }}", "{% endif %}")) {
            assertThrows(TemplateException.class, () -> Template.compile(bad), bad);
        }
    }

    @Test
    void runtimeErrorsCarryAMessage() {
        TemplateException raised = assertThrows(TemplateException.class,
                () -> render("{{ raise_exception('roles must alternate') }}", Map.of()));
        assertEquals("roles must alternate", raised.getMessage());
        TemplateException undefined = assertThrows(TemplateException.class, () -> render("{{ m.content.x }}", Map.of()));
        assertTrue(undefined.getMessage().contains("'m' is undefined"), undefined.getMessage());
        assertThrows(TemplateException.class, () -> render("{% set d = {} %}{% set d.x = 1 %}", Map.of()));
        assertThrows(TemplateException.class, () -> render("{{ messages.append(1) }}", Map.of("messages", List.of())));
        assertThrows(TemplateException.class, () -> render("{% break %}", Map.of()));
        assertThrows(TemplateException.class, () -> render("{{ 1 // 0 }}", Map.of()));
    }

    @Test
    void runawayTemplatesAreStopped() {
        TemplateException loops = assertThrows(TemplateException.class, () ->
                render("{% for i in range(2000) %}{% for j in range(2000) %}{% endfor %}{% endfor %}", Map.of()));
        assertTrue(loops.getMessage().contains("loop iterations"), loops.getMessage());
        assertThrows(TemplateException.class, () -> render("{{ 'x' * 1000000000 }}", Map.of()));
        assertThrows(TemplateException.class, () -> render("{{ 3 ** 1000 }}", Map.of()));
        assertEquals("1", render("{{ 1 ** 1000000000000 }}", Map.of()));
    }

    @Test
    void undefinedIsLenientWhereJinjaIs() {
        assertEquals("|0|x|", render("{{ nope }}|{{ nope | length }}|{{ nope | default('x') }}|"
                + "{% for a in nope %}{{ a }}{% endfor %}{% if nope %}y{% endif %}", Map.of()));
    }
}
