; Inno Setup script for Duet: installs dist\duet into Program Files, with a Start menu entry.
[Setup]
AppName=Duet
AppVersion=0.1.0
AppPublisher=Duet developers
DefaultDirName={autopf}\Duet
DefaultGroupName=Duet
OutputDir=..\..\dist
OutputBaseFilename=DuetSetup
Compression=lzma2
SolidCompression=yes
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequiredOverridesAllowed=dialog

[Files]
Source: "..\..\dist\duet\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\Duet"; Filename: "{app}\duet.exe"
Name: "{autodesktop}\Duet"; Filename: "{app}\duet.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Run]
Filename: "{app}\duet.exe"; Description: "Start Duet"; Flags: nowait postinstall skipifsilent
