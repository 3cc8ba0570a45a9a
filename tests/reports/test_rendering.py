"""Section Markdown becomes safe HTML (raw HTML shown as text, dangerous links dropped), and the
diff marks what was added and removed, escaping both."""

from __future__ import annotations

from clinic_app.reports.rendering import diff, markdown_to_html


def test_markdown_is_rendered_and_sanitised():
    html = str(
        markdown_to_html(
            "**Low** mood\n\n- one\n- two\n\n<script>alert(1)</script> [x](javascript:alert(1)) [ok](https://example.org)"
        )
    )
    assert "<strong>Low</strong>" in html and "<li>one</li>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html  # left as plain text, never a link
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">ok</a>' in html
    assert "<img" not in str(markdown_to_html("![x](https://example.org/a.png)"))
    assert str(markdown_to_html("")) == ""


def test_the_diff_marks_insertions_and_deletions_and_escapes_them():
    result = diff("The pain is in the left knee.", "The pain is in the right knee, worse <b>on</b> stairs.")
    assert str(result.html) == (
        'The pain is in the <del class="diff-del">left</del><ins class="diff-ins">right</ins> knee'
        '<ins class="diff-ins">, worse &lt;b&gt;on&lt;/b&gt; stairs</ins>.'
    )
    assert (result.inserted_words, result.deleted_words, result.changed) == (6, 1, True)
    assert not diff("same text", "same text").changed
    replaced = diff("Not recorded.", "Calm and settled.")
    assert str(replaced.html) == '<del class="diff-del">Not recorded</del><ins class="diff-ins">Calm and settled</ins>.'
