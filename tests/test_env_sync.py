"""environment.yml (conda / Binder) must list exactly the pip requirements of requirements.txt."""

import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_environment_yml_pip_list_equals_requirements():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    requirements = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml needs exactly one `pip:` list"
    assert sorted(pip_lists[0]) == sorted(requirements), "environment.yml pip list differs from requirements.txt"
