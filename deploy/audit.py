"""`make audit`: pip-audit over the installed virtualenv, then bandit over the code.

pip-audit asks PyPI's vulnerability service about every installed distribution (the project's
own editable install aside). A known vulnerability fails the run. When the service cannot be
reached (on a machine whose only way to PyPI is a package mirror, every distribution comes back
"not found" and nothing is checked), the run says so loudly and lists how many went unchecked;
it fails then only with AUDIT_REQUIRED=1, which a CI that reaches PyPI should set. bandit's
accepted findings are listed with their reasons in pyproject.toml ([tool.bandit])."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BANDIT_TARGETS = ["trust", "licensing", "payouts", "federation", "config", "guildtrust"]


def pip_audit() -> int:
    result = subprocess.run(
        [str(BIN / "pip-audit"), "--skip-editable", "--progress-spinner", "off", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        print(result.stdout, result.stderr, sep="\n", file=sys.stderr)
        print("pip-audit: no report", file=sys.stderr)
        return result.returncode or 1
    dependencies = report["dependencies"]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    unchecked = [d for d in dependencies if "skip_reason" in d]
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            print(f"pip-audit: {dependency['name']} {dependency['version']}: {vuln['id']} (fixed in {fixed})")
    checked = len(dependencies) - len(unchecked)
    print(f"pip-audit: {checked} checked, {len(vulnerable)} vulnerable, {len(unchecked)} unchecked")
    if vulnerable:
        return 1
    if unchecked and not checked:
        print(
            "pip-audit: NOT AUDITED: PyPI's vulnerability service could not be reached from here "
            f"({unchecked[0]['skip_reason']})",
            file=sys.stderr,
        )
        return 1 if os.environ.get("AUDIT_REQUIRED") == "1" else 0
    return 0


def bandit() -> int:
    command = [str(BIN / "bandit"), "-c", "pyproject.toml", "-r", *BANDIT_TARGETS, "-q"]
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(max(pip_audit(), bandit()))
