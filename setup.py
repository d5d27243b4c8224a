"""Build hook: the wheel carries the top-level folders the commands read at run time (the migrations, the
generated rules and their tests, the Alertmanager configuration, the Grafana dashboards and provisioning),
copied into gpuhealth/_data/ at build time so that git keeps one source of each."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA_DIRS = ("sql", "recording_rules", "alert_rules", "alertmanager", "grafana")


class BuildPyWithData(build_py):
    """build_py, then the data folders into the built package (an editable install reads the checkout's)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for name in DATA_DIRS:
            target = Path(self.build_lib) / "gpuhealth" / "_data" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithData})
