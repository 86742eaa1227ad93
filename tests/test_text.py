"""``edgeres.text``: outside text is escaped before a terminal and credentials are cut."""

from __future__ import annotations

from pathlib import Path

from edgeres.text import redact, shown, shown_lines


def test_shown_escapes_what_a_terminal_acts_on_and_keeps_the_rest():
    assert shown("café/猫.png") == "café/猫.png"
    assert shown("a\nb\r\t\x1b[31mred") == "a\\nb\\r\\t\\x1b[31mred"
    assert shown("evil\u202egnp.exe") == "evil\\u202egnp.exe"
    assert shown(Path("x\x07.onnx")) == "x\\x07.onnx"


def test_shown_lines_keeps_line_breaks_only():
    assert shown_lines("one\x1b]0;t\x07\ntwo\tthree") == "one\\x1b]0;t\\x07\ntwo\tthree"


def test_redact_cuts_userinfo_and_secret_parameters():
    assert redact("rtsp://admin:p@ss@cam.local:554/s") == "rtsp://***@cam.local:554/s"
    text = redact("gst:rtspsrc location=rtsp://u:pw@h/x?token=abc&fps=5 ! fakesink")
    assert "pw" not in text and "abc" not in text and "fps=5" in text
    assert redact("0") == "0" and redact("clip\n.mp4") == "clip\\n.mp4"
