#!/usr/bin/env bash
# The .rpm (Fedora, openSUSE), from the same PyInstaller folder as the .deb: /opt/duet, a
# `duet` command, a desktop entry and an icon.
# Requires are rpm's own, computed from the ELF files (elfdeps: soname capabilities such as
# libxcb-icccm.so.4()(64bit), which every rpm distribution's packages provide), less the
# libraries Duet bundles. It provides nothing: the bundled Qt and Python must never satisfy
# another package's dependency.
# Usage: build-rpm.sh VERSION BUNDLE_DIR BUNDLED_SONAMES_FILE   (writes dist/duet-VERSION-1.x86_64.rpm)
set -euo pipefail
VERSION=${1:?version}
BUNDLE=$(realpath "${2:?bundle folder}")
BUNDLED=${3:?file listing the bundled sonames}
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(realpath -m build/rpm)
command -v rpmbuild >/dev/null || { echo "rpmbuild is missing: apt-get install rpm" >&2; exit 1; }
rm -rf "$TOP"
mkdir -p "$TOP"/{BUILD,RPMS,SPECS,SOURCES,BUILDROOT} dist

# ^(libQt6Core\.so\.6|...)(\(.*)?$ : a bundled soname, with or without its symbol versions.
exclude=$(sed -E '/^$/d; s/[.+]/\\\\&/g' "$BUNDLED" | paste -sd'|')
cat >"$TOP/SPECS/duet.spec" <<EOF
Name:           duet
Version:        $VERSION
Release:        1
Summary:        Talk to GGUF language models offline, base and instruct side by side
License:        Apache-2.0
ExclusiveArch:  x86_64
AutoReqProv:    yes
# A PyInstaller folder is shipped as built: no stripping, no byte-compiling, no debug package.
%global debug_package %{nil}
%global __os_install_post %{nil}
%global _build_id_links none
%global __requires_exclude ^(${exclude})(\\\\(.*)?\$
%global __provides_exclude_from ^/opt/duet/.*\$
%define _binary_payload w6T.xzdio

%description
Duet runs quantized GGUF models on this machine through llama.cpp. It shows
how a base model and an instruct model behave on the same input, in raw
continuation and chat modes, with the exact prompt each model receives.

%install
mkdir -p %{buildroot}/opt %{buildroot}%{_bindir} %{buildroot}%{_datadir}/applications \\
  %{buildroot}%{_datadir}/icons/hicolor/256x256/apps
cp -a "$BUNDLE" %{buildroot}/opt/duet
ln -s /opt/duet/duet %{buildroot}%{_bindir}/duet
install -m 644 "$HERE/../../resources/duet.desktop" %{buildroot}%{_datadir}/applications/duet.desktop
install -m 644 "$HERE/../../resources/duet.png" %{buildroot}%{_datadir}/icons/hicolor/256x256/apps/duet.png

%files
/opt/duet
%{_bindir}/duet
%{_datadir}/applications/duet.desktop
%{_datadir}/icons/hicolor/256x256/apps/duet.png
EOF
# --nodeps: this is not an rpm system, so rpm's own database knows no build dependencies.
rpmbuild -bb --nodeps --quiet --define "_topdir $TOP" "$TOP/SPECS/duet.spec"
cp "$TOP"/RPMS/x86_64/duet-"$VERSION"-1.x86_64.rpm dist/
