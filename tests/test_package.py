"""gpuhealth as a package: the wheel holds what the commands read at run time, and installed into a fresh
virtual environment outside the checkout it migrates a real TimescaleDB, generates and checks the rules,
generates the Alertmanager configuration and runs a short demo."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import psycopg
import pytest

from gpuhealth.resources import DATA_DIRS
from gpuhealth.sink.migrate import migrate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(out)], capture_output=True, text=True, timeout=600, cwd=out)
    assert build.returncode == 0, build.stdout + build.stderr
    (found,) = out.glob("gpuhealth-*.whl")
    return found


def test_the_wheel_carries_every_folder_the_commands_read(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in DATA_DIRS:  # byte for byte the checkout's files, one source in git
        files = [p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        assert files, folder
        for p in files:
            inside = f"gpuhealth/_data/{p.relative_to(ROOT).as_posix()}"
            assert inside in names, inside
            assert zipfile.ZipFile(wheel).read(inside) == p.read_bytes(), inside
    # and every file of the package that git holds: the rule spec, the pricing, the dashboards' config, the
    # packaged models, the templates
    tracked = subprocess.run(["git", "ls-files", "gpuhealth"], capture_output=True, text=True, cwd=ROOT,
                             check=True).stdout.split()
    assert len(tracked) > 100
    missing = [name for name in tracked if name not in names]
    assert not missing, missing
    assert "gpuhealth/analyzers/predict/trained/default/xgboost/model.json" in names


def test_migrate_without_migration_files_is_an_error_naming_the_folder(postgres, tmp_path):
    with pytest.raises(RuntimeError, match=f"{tmp_path}: no migration files"):
        migrate(postgres, tmp_path)
    with psycopg.connect(postgres) as conn:  # nothing was applied, nothing half-made
        assert conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None


@pytest.mark.integration
def test_installed_outside_the_checkout_every_command_runs(wheel, tmp_path, postgres):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    # the dependencies come from this environment's site-packages (a line in a .pth file: its own .pth files,
    # this checkout's editable install among them, are not read), the package itself only from the wheel
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "outer-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"

    def run(*args: str, timeout: float = 300) -> str:
        out = subprocess.run([str(venv / "bin" / "gpuhealth"), *args], capture_output=True, text=True, cwd=work,
                             env=env, timeout=timeout)
        assert out.returncode == 0, f"gpuhealth {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
        return out.stdout + out.stderr

    where = subprocess.run([str(py), "-c", "import gpuhealth; print(gpuhealth.__file__)"], capture_output=True,
                           text=True, cwd=work, env=env, check=True).stdout.strip()
    assert where.startswith(site) and str(ROOT) not in where, where
    assert "schema at version 6" in run("db", "migrate", "--db", postgres)
    with psycopg.connect(postgres) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == 6
    run("rules", "generate", "--out", "rules")
    assert (work / "rules" / "alert_rules" / "tests" / "gpuhealth_test.yml").exists()
    checked = run("rules", "check", "rules")
    assert "promtool check rules: ok" in checked and "promtool test rules: ok" in checked
    run("alertmanager", "generate", "--out", "am")
    assert (work / "am" / "alertmanager" / "alertmanager.yml").exists()
    demo = run("demo", "--gpus", "4", "--history-days", "0", "--speedup", "60", "--duration", "5", timeout=600)
    assert "gpuhealth demo is running" in demo and f"{site}/gpuhealth/_data/grafana" in demo, demo[-3000:]
