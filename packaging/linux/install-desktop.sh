#!/bin/sh
# Add Retina Screen to the desktop menu and the command line, from this unpacked folder.
#
#   ./install-desktop.sh             for the current user (~/.local)
#   sudo ./install-desktop.sh --system   for everyone (/usr/local); unpack to /opt first
#   ./install-desktop.sh --uninstall [--system]
#
# Nothing is copied except the menu entry and the icon: the application runs from this folder.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
system=no
uninstall=no
for arg in "$@"; do
    case "$arg" in
        --system) system=yes ;;
        --uninstall) uninstall=yes ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "unknown option: $arg" >&2; exit 2 ;;
    esac
done

if [ "$system" = yes ]; then
    share=/usr/local/share
    bin=/usr/local/bin
else
    share=${XDG_DATA_HOME:-$HOME/.local/share}
    bin=$HOME/.local/bin
fi
apps=$share/applications
icons=$share/icons/hicolor/256x256/apps

if [ "$uninstall" = yes ]; then
    rm -f "$apps/retina-screen.desktop" "$icons/retina-screen.png"
    for name in retina-screen retina-screen-gui; do
        # only links to this copy (another version may be installed beside it)
        if [ "$(readlink "$bin/$name" 2>/dev/null)" = "$here/$name" ]; then rm -f "$bin/$name"; fi
    done
    echo "Removed the menu entry and command links (results and the audit trail are kept)."
    exit 0
fi

mkdir -p "$apps" "$icons" "$bin"
# Absolute, quoted path of the windowed executable (the folder may contain spaces).
sed -e "s|^Exec=retina-screen-gui|Exec=\"$here/retina-screen-gui\"|" \
    -e "s|^TryExec=retina-screen-gui|TryExec=$here/retina-screen-gui|" \
    "$here/retina-screen.desktop" > "$apps/retina-screen.desktop"
chmod 644 "$apps/retina-screen.desktop"
cp "$here/retina-screen.png" "$icons/retina-screen.png"
chmod 644 "$icons/retina-screen.png"
ln -sf "$here/retina-screen" "$bin/retina-screen"
ln -sf "$here/retina-screen-gui" "$bin/retina-screen-gui"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$apps" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && \
    gtk-update-icon-cache -q -t "$share/icons/hicolor" 2>/dev/null || true
echo "Installed: menu entry $apps/retina-screen.desktop, commands in $bin"
case ":$PATH:" in *":$bin:"*) ;; *) echo "Note: $bin is not on PATH." ;; esac
