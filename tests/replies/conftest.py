"""Print the reply corpus per class at the end of a run that collected it."""

import sys


def pytest_terminal_summary(terminalreporter):
    corpus = sys.modules.get("tests.replies.test_corpus")
    if corpus is None:
        return
    write = terminalreporter.write_line
    terminalreporter.section("reply corpus by class")
    write(f"{'class':<16}{'cases':>7}{'intent':>8}{'question':>10}{'error':>7}")
    for cls, counts in corpus.class_summary():
        write(
            f"{cls:<16}{counts['total']:>7}{counts['intent']:>8}"
            f"{counts['question']:>10}{counts['error']:>7}"
        )
