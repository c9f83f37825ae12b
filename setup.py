"""What pyproject.toml cannot hold as text: the Project-URLs and the long description, both built from the
one home URL in pyproject.toml ([tool.cnn-backprop] home).

On a package index the README's relative links (``docs/figures/overview.png``, ``docs/explorer.md``) would
point nowhere, so the long description is the README with each relative link made absolute: an image to the
file itself in the repository (``HOME/raw/main/...``), a page to its view (``HOME/blob/main/...``).
"""

import re
import sys
from pathlib import Path

from setuptools import setup

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: tomli is a build requirement there (pyproject.toml)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent
HOME = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["cnn-backprop"]["home"]
# a Markdown link or image whose target is a path in the repository: not a URL, not an anchor
RELATIVE = re.compile(r"(!?)\[([^\]]*)\]\((?![a-z]+://|#|mailto:)([^)\s]+)\)")


# code, fenced or inline, whose brackets are not links
CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)


def absolute_links(text, home=HOME):
    """``text`` with each relative Markdown link outside code made absolute under ``home``: images raw, pages
    as the repository shows them."""
    parts = CODE.split(text)
    parts[::2] = [
        RELATIVE.sub(lambda m: f"{m[1]}[{m[2]}]({home}/{'raw' if m[1] else 'blob'}/main/{m[3]})", part)
        for part in parts[::2]
    ]
    return "".join(parts)


if __name__ == "__main__":
    setup(
        long_description=absolute_links((ROOT / "README.md").read_text(encoding="utf-8")),
        long_description_content_type="text/markdown",
        project_urls={
            "Documentation": f"{HOME}/tree/main/docs",
            "Source": HOME,
            "Issues": f"{HOME}/issues",
            "Changelog": f"{HOME}/blob/main/CHANGELOG.md",
        },
    )
