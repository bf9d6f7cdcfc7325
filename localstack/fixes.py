"""Fixes to the pinned emulator where it breaks behaviour AWS has. Idempotent.

Each fix names the moto file, the text it replaces, and why. install.sh runs this after
pip; the install stamp covers this file, so editing it reinstalls.
"""
import pathlib
import sys

import moto

ROOT = pathlib.Path(moto.__file__).parent

FIXES = [
    (
        # CreateLaunchTemplateVersion stores UserData as a plain string, and launching from
        # that version then fails an assertion (HTTP 500). AWS launches it normally.
        "ec2/responses/launch_templates.py",
        '        template_data = self._get_param("LaunchTemplateData", {})\n\n'
        "        self.error_on_dryrun()\n\n"
        "        version = template.create_version(template_data, version_description)",
        '        template_data = self._get_param("LaunchTemplateData", {})\n'
        '        template_data["UserData"] = parse_user_data(template_data.get("UserData"))\n\n'
        "        self.error_on_dryrun()\n\n"
        "        version = template.create_version(template_data, version_description)",
    ),
]


def main() -> int:
    for rel, old, new in FIXES:
        path = ROOT / rel
        text = path.read_text()
        if new in text:
            continue
        if old not in text:
            print(f"fixes.py: {rel} does not hold the expected text; moto changed?", file=sys.stderr)
            return 1
        path.write_text(text.replace(old, new, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
