"""fit's study storage: a journal file (a shared file system, no database) holds one study that
a second process opens with what the first stored."""

import subprocess
import sys

from edgeres.fit.config import FitConfig
from edgeres.fit.study import open_studies

SECOND = """
import sys
from edgeres.fit.config import FitConfig
from edgeres.fit.study import open_studies
main, proxy = open_studies(FitConfig(latency_ms=1, out=sys.argv[2], study=sys.argv[1]))
print(main.user_attrs["latency:x"]["p50_ms"], main.directions[1].name, proxy.direction.name)
"""


def test_a_journal_file_study_is_shared_between_processes(tmp_path):
    journal = tmp_path / "fit.log"
    cfg = FitConfig(latency_ms=1, out=tmp_path / "a", study=str(journal))
    assert cfg.is_journal
    main, _ = open_studies(cfg)
    main.set_user_attr("latency:x", {"p50_ms": 1.5})
    out = subprocess.run(
        [sys.executable, "-c", SECOND, str(journal), str(tmp_path / "b")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.split() == ["1.5", "MINIMIZE", "MAXIMIZE"]
    assert not (tmp_path / "a").exists()  # a --study elsewhere writes nothing into --out yet
