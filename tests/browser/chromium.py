"""Debian's Chromium and the flags every browser run of the project uses (tests and bench/)."""

CHROMIUM = "/usr/bin/chromium"
# No sandbox (containers), no GPU, nothing in the background that would compete with the page.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
