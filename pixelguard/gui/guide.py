"""The in-app guide (Help → PixelGuard Guide, F1): what protection means, what is checked,
what it cannot do, and the README's own "What protection can and cannot do", read from the
installed package's metadata (the README is its long description), so it works offline."""

from __future__ import annotations

import html
import importlib.metadata

from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

GUIDE_HTML = """
<h2>Protecting a photo</h2>
<p>Platforms run image classifiers on what you upload. They guess what a photo shows, and from
that where you live, what your home looks like, who you are with. PixelGuard changes each
pixel's colour a little, too little for people to notice, so that classifiers read something
else. Your original file is never changed: a protected copy is written to the output folder.</p>

<h3>Steps</h3>
<ol>
<li>Open photos (Ctrl+O) or a folder (Ctrl+Shift+O), or drop them on the window.</li>
<li>Pick a preset. <b>Balanced</b> suits most photos; <b>Strong</b> tries harder (two models,
a larger change); <b>Fast</b> is quick but rarely survives an upload.</li>
<li>Press <b>Protect All</b> (Ctrl+Shift+Enter). Esc stops after the photo in progress.</li>
<li>Select a photo to compare it with its protected copy (drag the divider, zoom to 100% with
Ctrl+1) and to see what the classifier reads before and after.</li>
</ol>

<h3>What "Protected" means</h3>
<p>A photo is marked <b>Protected</b> only when the file written to disk, read back as another
program would read it, meets the rule under <i>Protected when</i>, for example "nothing related
in the top 5": no label related to what the photo shows (another cat breed for a cat) is among
the classifier's five best guesses. It is checked on the model's own pipeline and on
<b>held-out checks</b>: the same model behind other resizers (Pillow, OpenCV) and after an
upload-like shrink to 1080 px and JPEG compression, code the protection never optimised
against. The list under the predictions shows each check and what the model read there.
A photo that fails any check is <b>Not protected</b> and is not written.</p>
<p>An amber verdict means the chosen rule held, yet the photo still reads as the same kind of
thing (a related label took the top place). Choose "Nothing related in the top 5" to hide
those too.</p>

<h3>What it cannot do</h3>
<ul>
<li>It works against the classifiers it was made against. Other models, which a platform
may run, still recognise many protected photos.</li>
<li>Retrained models or new defences may see through an old protection; a photo cannot be
re-protected after it is uploaded.</li>
<li>A platform that shrinks to thumbnails, crops hard or compresses harder than the checks
may undo it.</li>
<li>It hides from classifiers, not from people: faces, text and landmarks stay recognisable.</li>
<li>Metadata can give away more than pixels: keep <i>Metadata: Remove</i> unless you need it.</li>
</ul>
<p>The full, measured account follows: the README's section "What protection can and cannot
do".</p>

<h3>Methods</h3>
<p>{methods}</p>
<hr>
{limits}
"""

LIMITS_HEADING = "## What protection can and cannot do"


def readme_limits() -> str:
    """The README's limits section as HTML, from the installed package's metadata ("" if absent)."""
    try:
        description = importlib.metadata.metadata("pixelguard").get_payload() or ""
    except importlib.metadata.PackageNotFoundError:
        return ""
    start = description.find(LIMITS_HEADING)
    if start < 0:
        return ""
    end = description.find("\n## ", start + len(LIMITS_HEADING))
    document = QTextDocument()
    document.setMarkdown(description[start: end if end > 0 else None])
    page = document.toHtml()  # a whole document: only its body goes into the guide
    return page[page.find(">", page.find("<body")) + 1: page.rfind("</body>")]


def guide_html() -> str:
    from pixelguard.attacks import METHODS

    methods = "<br>".join(f"<b>{html.escape(method.title)}</b>: {html.escape(method.summary)} "
                          f"({html.escape(method.paper)})" for method in METHODS.values())
    # One line: Qt joins the source's line breaks inside a paragraph without a space.
    return " ".join(GUIDE_HTML.split()).format(methods=methods, limits=readme_limits())


class GuideDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("PixelGuard Guide")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(guide_html())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(640, 620)
