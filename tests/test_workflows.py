"""The GitHub workflows run the README's two commands and nothing else (no second recipe)."""

import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def readme_commands() -> set[str]:
    """The commands of the README's "The two commands" code block (without their comments)."""
    section = (ROOT / "README.md").read_text().split("## The two commands", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return {line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()}


def run_steps(name: str) -> list[str]:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    return [step["run"].strip() for job in workflow["jobs"].values() for step in job.get("steps", []) if "run" in step]


def test_workflows_call_the_readme_commands():
    assert readme_commands() == {"bash scripts/book.sh", "bash scripts/test.sh"}
    assert run_steps("tests.yml") == ["bash scripts/test.sh"]
    assert run_steps("pages.yml") == ["bash scripts/book.sh"]


def test_pages_publishes_the_html_and_tests_run_on_pull_requests():
    pages = yaml.safe_load((WORKFLOWS / "pages.yml").read_text())
    uses = [step.get("uses", "") for job in pages["jobs"].values() for step in job["steps"]]
    upload = next(step for step in pages["jobs"]["build"]["steps"] if "upload-pages-artifact" in step.get("uses", ""))
    assert upload["with"]["path"] == "_build/html" and any(u.startswith("actions/deploy-pages") for u in uses)
    tests = yaml.safe_load((WORKFLOWS / "tests.yml").read_text())
    assert "pull_request" in tests[True]  # YAML 1.1 reads the key `on` as True
