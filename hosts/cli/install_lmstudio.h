/* `g4 install lmstudio [--home DIR] [--from DIR]`: copies the LM Studio engine pack that a
 * release archive carries (the archive's own folder: backend-manifest.json, display-data.json,
 * engine-protocol-server-artifacts.json, g4-server as the llama-server runtime, the library and
 * its bundled libraries) into DIR/extensions/backends/<name>-<version>/, where DIR is --home, else
 * $LMSTUDIO_HOME, else ~/.lmstudio (%USERPROFILE%\.lmstudio on Windows). */
#ifndef G4_INSTALL_LMSTUDIO_H
#define G4_INSTALL_LMSTUDIO_H

/* argv[0] is "install"; returns the process exit status (0 installed, 1 failed, 2 usage). */
int g4_install_main(int argc, char **argv);

#endif
