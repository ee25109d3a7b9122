; Inno Setup 6 script: Windows installer for the frozen one-folder build.
;
; NOT TRIED: only the Linux build has been built and tested. This script follows the layout the
; spec produces on Windows (dist\retina-screen\retina-screen.exe, retina-screen-gui.exe,
; _internal\...) and should need at most small fixes on first use.
;
; On Windows, `python packaging\build.py` runs it when iscc.exe is on PATH, as:
;   iscc /DAppVersion=0.1.0 /DSourceDir=<repo>\dist\retina-screen /DOutputDir=<repo>\dist
;        /DIconFile=<repo>\build\pyinstaller\retina-screen.ico packaging\windows\retina-screen.iss
; Output: dist\retina-screen-<version>-windows-x64-setup.exe
;
; Installs per machine (Program Files) or, without admin rights, per user. User data (settings,
; audit trail, logs in %LOCALAPPDATA%\retina-screen, results in the chosen output folder) is
; never removed by the uninstaller: the audit trail must be kept.

#ifndef AppVersion
  #error Define the version: iscc /DAppVersion=<version from pyproject.toml> ...
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\retina-screen"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif

#define AppName "Retina Screen"
#define GuiExe "retina-screen-gui.exe"

[Setup]
; Keep this AppId for every version: it is how upgrades find the installed copy.
AppId={{BE9F6557-AF90-41AB-9906-1C5430C066D0}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=retina-screen
AppComments=Offline diabetic retinopathy screening of colour fundus photographs. Research use; not cleared for clinical use.
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir={#OutputDir}
OutputBaseFilename=retina-screen-{#AppVersion}-windows-x64-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\{#GuiExe}
UninstallDisplayName={#AppName} {#AppVersion}
CloseApplications=yes
#ifdef IconFile
SetupIconFile={#IconFile}
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; An upgrade replaces the whole program folder (stale libraries from an older version would be
; picked up by the new executables otherwise).
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Comment: "Diabetic retinopathy screening"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#GuiExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
